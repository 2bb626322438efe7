"""The questions a comparison batch asks by default, from its task.

Text-to-image batches ask instruction fidelity and visual clarity (ShareGPT-4o-Image's human
evaluation); edit batches ask instruction following, preservation of what should not change, and
quality. An admin adds their own after these (up to the batch's limit of criteria). Every criterion a
batch asks gets its own board (:func:`studio.annotation.results.studio_board`); the first is the one
the vote buttons answer, the others one choice each.
"""
from __future__ import annotations

from typing import Iterable

from studio.annotation import AnnotationError
from studio.annotation.service import MAX_CRITERIA, TASKS, _clean_criteria

TASK_CRITERIA = {
    "text-to-image": ("instruction_fidelity", "visual_clarity"),
    "edit": ("instruction_following", "preservation", "quality"),
}


def criteria_for(task: str, added: Iterable[str] | str = ()) -> list[str]:
    """The task's default criteria followed by ``added`` (names as an admin types them, e.g.
    "text rendering"), duplicates dropped; raises when a name is malformed or there are too many."""
    if task not in TASKS:
        raise AnnotationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    names = [str(a) for a in (added.split(",") if isinstance(added, str) else added) if str(a).strip()]
    extra = _clean_criteria(names) if names else []
    out = list(dict.fromkeys([*TASK_CRITERIA[task], *extra]))
    if len(out) > MAX_CRITERIA:
        raise AnnotationError(f"{task} batches ask {', '.join(TASK_CRITERIA[task])} already; add at most "
                              f"{MAX_CRITERIA - len(TASK_CRITERIA[task])} more (at most {MAX_CRITERIA} per batch)")
    return out
