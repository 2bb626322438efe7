"""Imports every module that defines tables, so Base.metadata is complete (metadata checks, tooling).

Each area appends one import line for its models module.
"""
import studio.db.models  # noqa: F401
import finetune.models  # noqa: F401
import studio.editing.models  # noqa: F401
import studio.annotation.models  # noqa: F401
import studio.synthesis.models  # noqa: F401
import studio.reasoning.models  # noqa: F401
import studio.judges.models  # noqa: F401
import studio.arena.models  # noqa: F401
