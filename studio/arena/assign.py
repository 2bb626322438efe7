"""What the arena hands the annotation engine (through ``Studio.annotation_hooks``): the order in
which a batch with active ordering offers its model pairs, and the annotators an admin left out of
the boards. Annotation calls these without importing the arena."""
from __future__ import annotations

from studio.annotation.hooks import AnnotationHooks
from studio.arena.exclusions import excluded_annotators
from studio.arena.matchmaking import ranked_pairs


def annotation_hooks() -> AnnotationHooks:
    """The arena's hooks for one Studio."""
    return AnnotationHooks(pair_order=lambda models, score, battles, pending=None:
                           ranked_pairs(list(models), score, battles, pending=pending),
                           excluded_annotators=excluded_annotators)
