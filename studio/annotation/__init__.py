"""Blind pairwise preference annotation: comparison batches, assignment, votes and statistics.

Entry points: :mod:`studio.annotation.service` (batches and items), ``voting.annotate`` (start,
vote, skip and undo: one transaction that records the fact and finds the next item),
:mod:`studio.annotation.results` and :mod:`studio.annotation.stats` (derived from the standing votes).
"""


class AnnotationError(ValueError):
    """A user-caused problem (bad name, unknown batch, missing image); the message says what to fix."""
