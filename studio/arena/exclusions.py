"""Leaving an annotator's votes out of the boards, and taking them back in: recorded as facts.

- ``exclude_annotator(studio, annotator, *, by, reason="")`` and ``include_annotator(studio, annotator, *, by)``
  record a decision; ``excluded_annotators(studio)`` is the set whose latest decision excludes them.
  The leaderboard derivation (:func:`studio.annotation.results.studio_board`) leaves them out.
"""
from __future__ import annotations

from sqlalchemy import select

from studio.annotation import AnnotationError
from studio.arena.models import BoardExclusion

MAX_REASON = 500


def _record(studio, annotator: str, excluded: bool, by: str, reason: str) -> None:
    annotator = (annotator or "").strip()
    if not annotator:
        raise AnnotationError("name the annotator whose votes to leave out or take back in")
    if len(annotator) > 128:
        raise AnnotationError("an annotator name has at most 128 characters")
    if len(reason or "") > MAX_REASON:
        raise AnnotationError(f"keep the reason under {MAX_REASON} characters")
    with studio.db.session() as s:
        s.add(BoardExclusion(annotator=annotator, excluded=excluded, reason=reason or "", decided_by=by))


def exclude_annotator(studio, annotator: str, *, by: str, reason: str = "") -> None:
    """Leave ``annotator``'s votes out of every board from now on (the votes stay stored)."""
    _record(studio, annotator, True, by, reason)


def include_annotator(studio, annotator: str, *, by: str) -> None:
    """Count ``annotator``'s votes in the boards again."""
    if annotator.strip() not in excluded_annotators(studio):
        raise AnnotationError(f"{annotator.strip()!r} is not left out of the boards")
    _record(studio, annotator, False, by, "")


def excluded_annotators(studio) -> set[str]:
    """Annotators whose latest decision leaves their votes out."""
    latest: dict[str, bool] = {}
    with studio.db.session() as s:
        for who, excluded in s.execute(select(BoardExclusion.annotator, BoardExclusion.excluded)
                                       .order_by(BoardExclusion.created_at, BoardExclusion.id)):
            latest[who] = excluded
    return {who for who, excluded in latest.items() if excluded}
