"""Blind pairwise preference annotation: comparison batches, assignment, votes and statistics.

Entry points: :mod:`studio.annotation.service` (batches and items), :mod:`studio.annotation.voting`
(what an annotator sees and votes), :mod:`studio.annotation.stats` (win/tie/loss, Bradley–Terry, Elo).
"""


class AnnotationError(ValueError):
    """A user-caused problem (bad name, unknown batch, missing image); the message says what to fix."""
