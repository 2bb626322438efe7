"""Automatic judges beside the human votes.

- :mod:`studio.judges.judges` — the judges (a VLM over any image-reading chat backend, the scene-graph
  judge, a detector judge) and :func:`~studio.judges.judges.resolve_judge`.
- :mod:`studio.judges.rubrics` — the papers' rubrics, prompts and aggregates.
- :mod:`studio.judges.pairwise` — pairs judged in both orders.
- :mod:`studio.judges.trust` — agreement with people, κ, position consistency.
- :mod:`studio.judges.arena` — a judge voting on a comparison batch; :mod:`studio.judges.evalruns` —
  evaluation runs.
"""


class JudgeError(ValueError):
    """A user-caused problem (unknown judge, a judge that cannot see images, bad manifest rows)."""
