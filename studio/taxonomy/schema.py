"""The schema of a taxonomy file: one node mapping at the top, nested through ``children``.

A file without ``parent`` defines a whole taxonomy (its ``key`` is the root id). A file with
``parent: <node id>`` adds its node, with any children, under a node defined by another file, so a
user can add a subtask by dropping a small file next to the shipped ones.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEY_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
_KEY_RE = re.compile(KEY_PATTERN)


class NodeSpec(BaseModel):
    """One node as written in a file; ids are built from the keys on the path from the root."""

    model_config = ConfigDict(extra="forbid", strict=True)

    key: str = Field(description="the node's own id segment: lower-case letters, digits, _ or -")
    title: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    #: who wrote the definition: the paper, or the studio where the paper only names the node
    definition_source: Literal["paper", "studio"] = "paper"
    #: a label for the level: taxonomy, module, subtask, dimension, category ...
    kind: str | None = None
    #: how many samples the paper targets (or holds) for this node
    target_count: int | None = Field(default=None, ge=0)
    #: how many leaf subtasks the paper says this node has (compared with the listed ones)
    claimed_subtasks: int | None = Field(default=None, ge=0)
    #: how many direct categories/modules the paper says this node has
    claimed_categories: int | None = Field(default=None, ge=0)
    #: where in the paper the node comes from (table, section)
    source: str | None = None
    #: the raw data the paper built this node's samples from
    built_from: str | None = None
    notes: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    #: a text file (relative to this file) with one vocabulary entry per line, e.g. ImageNet classes
    vocabulary_file: str | None = None
    children: list["NodeSpec"] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key_is_slug(cls, v: str) -> str:
        if not _KEY_RE.match(v):
            raise ValueError(
                f"{v!r} is not a valid key: use lower-case letters, digits, '_' or '-' (no '/' or spaces)"
            )
        return v

    @field_validator("title", "definition")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class TaxonomyFileSpec(NodeSpec):
    """The top-level mapping of a file: a node, plus ``parent`` when it extends another taxonomy."""

    #: id of an existing node this file's node is attached under (absent: a new taxonomy)
    parent: str | None = None


NodeSpec.model_rebuild()
TaxonomyFileSpec.model_rebuild()
