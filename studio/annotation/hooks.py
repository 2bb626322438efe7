"""What the annotation engine asks of the areas built on it, handed in rather than imported.

The arena (matchmaking, board exclusions) sits above annotation and imports it; annotation must not
import the arena back. The Studio object (the composition root) builds one :class:`AnnotationHooks`
from the arena and the vote path and the boards call through it; a Studio without an arena gets the
defaults: fixed batches offered in their stored order and nobody left out of the boards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

#: ``(models, score, battles, pending) -> model pairs, most worth a vote first``. ``score[i, j]``: points
#: model i took from model j (a win 1, a tie ½ each); ``battles`` and ``pending`` (votes being cast now)
#: are symmetric counts, all in the order of ``models``.
PairOrder = Callable[[Sequence[str], np.ndarray, np.ndarray, Optional[np.ndarray]], list[tuple[str, str]]]


def _nobody(studio: Any) -> set[str]:
    return set()


@dataclass(frozen=True)
class AnnotationHooks:
    """``pair_order`` orders the model pairs of a batch created with active ordering (None: stored
    order); ``excluded_annotators(studio)`` names the annotators whose votes the boards leave out."""

    pair_order: PairOrder | None = None
    excluded_annotators: Callable[[Any], set[str]] = _nobody


def hooks_of(studio: Any) -> AnnotationHooks:
    """The studio's hooks (the defaults for an object that does not provide any)."""
    return getattr(studio, "annotation_hooks", None) or AnnotationHooks()
