"""A judge voting on a comparison batch, its verdicts kept apart from the human votes, and how far its
verdicts can be trusted on that batch.

Items and human votes are read only through the annotation area's public functions
(``service.batch_items``, ``results.vote_records``); the judge's verdicts live in ``judge_verdicts``
and reach a leaderboard only on request (``judge_board``), the combined board labelled so.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from sqlalchemy import delete, select

from studio.annotation import AnnotationError
from studio.judges import JudgeError
from studio.judges.judges import resolve_judge
from studio.judges.models import JudgeVerdict
from studio.judges.pairwise import PairTask, judge_pairs
from studio.judges.trust import PairLabels, human_label, report_by_group

AI_PREFIX = "ai:"
#: items judged per round; a killed run loses at most the round in flight
CHUNK = 32


def ai_annotator(judge: str) -> str:
    return AI_PREFIX + judge


def _batch(studio, batch: str):
    from studio.annotation.service import get_batch

    try:
        return get_batch(studio, batch)
    except AnnotationError as exc:
        raise JudgeError(str(exc)) from None


def judge_batch(studio, batch: str, judge_name: str, *, criteria: Iterable[str] | None = None,
                concurrency: int = 8, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Let a judge vote on every item of a batch, for each of the batch's criteria (or ``criteria``).

    1. The batch and judge are resolved and the judge checked for pairs — refused before any call.
    2. Items that already have a final verdict of this judge for the criterion are skipped (a rerun
       resumes a killed run and retries failed items: "Retry failed").
    3. Each remaining item is asked in both orders; verdicts are written per round of ``CHUNK`` items.
    Returns counts by status, per criterion, and the judge's usage.
    """
    from studio.annotation.service import batch_items

    info = _batch(studio, batch)
    judge = resolve_judge(studio.backends, judge_name)
    judge.check(pairwise=True)
    wanted = list(criteria or info.criteria or ["overall"])
    unknown = [c for c in wanted if c not in info.criteria]
    if unknown:
        raise JudgeError(f"batch '{info.name}' does not ask {', '.join(unknown)}; it asks {', '.join(info.criteria)}")
    items = batch_items(studio, info.id)
    counts: dict[str, dict[str, int]] = {}
    for criterion in wanted:
        with studio.db.session() as s:
            final = set(s.scalars(select(JudgeVerdict.item_id).where(
                JudgeVerdict.batch_id == info.id, JudgeVerdict.judge == judge.name,
                JudgeVerdict.criterion == criterion, JudgeVerdict.status != "failed")))
        todo = [it for it in items if it["id"] not in final]
        c = counts.setdefault(criterion, {"already": len(items) - len(todo)})
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            tasks = [_task(studio, it) for it in chunk]
            results = judge_pairs(judge, tasks, criterion, concurrency)
            with studio.db.session() as s:
                s.execute(delete(JudgeVerdict).where(
                    JudgeVerdict.item_id.in_([it["id"] for it in chunk]), JudgeVerdict.judge == judge.name,
                    JudgeVerdict.criterion == criterion))
                for it, r in zip(chunk, results):
                    s.add(JudgeVerdict(batch_id=info.id, item_id=it["id"], judge=judge.name, criterion=criterion,
                                       status=r.status, winner=r.item_winner, consistent=r.consistent,
                                       detail={"forward": r.forward.as_dict(), "backward": r.backward.as_dict(),
                                               "notices": r.notices}))
                    c[r.status] = c.get(r.status, 0) + 1
                    if r.notices:  # images over the API's size limit were sent downscaled
                        c["downscaled"] = c.get("downscaled", 0) + 1
            if progress is not None:
                progress(min(start + CHUNK, len(todo)), len(todo))
    return {"batch": info.name, "judge": judge.name, "annotator": ai_annotator(judge.name), "counts": counts,
            "usage": judge.usage()}


def _task(studio, item: dict[str, Any]) -> PairTask:
    img = studio.images.open
    sources = [img(item["source_image"])] if item.get("source_image") else []
    meta = (item.get("provenance") or {}).get("geneval")
    return PairTask(item["id"], item["prompt"], img(item["output_a"]), img(item["output_b"]), sources,
                    meta if isinstance(meta, dict) else None)


def verdict_records(studio, batch: str, judge: str | None = None) -> list[dict[str, Any]]:
    """The AI verdicts of a batch (every status), oldest first."""
    info = _batch(studio, batch)
    stmt = select(JudgeVerdict).where(JudgeVerdict.batch_id == info.id).order_by(JudgeVerdict.created_at, JudgeVerdict.id)
    if judge:
        stmt = stmt.where(JudgeVerdict.judge == judge)
    with studio.db.session() as s:
        return [{"item_id": v.item_id, "judge": v.judge, "annotator": ai_annotator(v.judge), "criterion": v.criterion,
                 "status": v.status, "winner": v.winner, "position_consistent": v.consistent, "detail": v.detail}
                for v in s.scalars(stmt)]


def judges_of(studio, batch: str) -> list[str]:
    """Names of the judges that voted on a batch."""
    return sorted({r["judge"] for r in verdict_records(studio, batch)})


def _human_votes(studio, batch_id: str) -> list[dict[str, Any]]:
    from studio.annotation.results import vote_records

    return [v for v in vote_records(studio, batch_id) if v["winner"] != "skip"]


def batch_trust(studio, batch: str, judge: str, *, bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """Per criterion, for all items and per taxonomy node: the judge's agreement with the human votes
    (see :mod:`studio.judges.trust`), with the human and judged counts."""
    info = _batch(studio, batch)
    votes = _human_votes(studio, info.id)
    verdicts = verdict_records(studio, info.id, judge)
    if not verdicts:
        raise JudgeError(f"judge '{judge}' has not voted on batch '{info.name}'; let it vote first")
    out: dict[str, Any] = {"batch": info.name, "judge": judge, "human_votes": len(votes), "criteria": {}}
    first = info.criteria[0] if info.criteria else "overall"
    for criterion in sorted({v["criterion"] for v in verdicts}):
        humans: dict[str, dict[str, str]] = {}
        groups: dict[str, str] = {}
        for v in votes:
            winner = v["criteria"].get(criterion) or (v["winner"] if criterion == first else None)
            label = human_label(winner) if winner else None
            if label:
                humans.setdefault(v["item_id"], {})[v["annotator"]] = label
                groups[v["item_id"]] = v["taxonomy_id"]
        rows = [PairLabels(r["item_id"], r["winner"] if r["status"] == "ok" else None, r["position_consistent"],
                           humans.get(r["item_id"], {}), groups.get(r["item_id"], ""))
                for r in verdicts if r["criterion"] == criterion]
        out["criteria"][criterion] = report_by_group(rows, bootstrap=bootstrap, seed=seed)
    return out


def judge_board(studio, batch: str, judge: str, *, criterion: str | None = None, combined: bool = False,
                bootstrap: int = 200) -> dict[str, Any]:
    """The judge's own leaderboard on a batch, or (``combined``) humans and judge together, labelled so."""
    from studio.annotation.battles import build_battles
    from studio.annotation.results import leaderboard_json
    from studio.annotation.service import batch_items

    info = _batch(studio, batch)
    criterion = criterion or (info.criteria[0] if info.criteria else "overall")
    rows = []
    items = {it["id"]: it for it in batch_items(studio, info.id)}
    for r in verdict_records(studio, info.id, judge):
        if r["criterion"] == criterion and r["status"] == "ok":
            it = items[r["item_id"]]
            rows.append({"model_a": it["model_a"], "model_b": it["model_b"], "winner": r["winner"],
                         "judge": r["annotator"], "question_id": r["item_id"]})
    label = f"AI judge {judge} only"
    if combined:
        first = info.criteria[0] if info.criteria else "overall"
        for v in _human_votes(studio, info.id):
            w = v["criteria"].get(criterion) or (v["winner"] if criterion == first else None)
            if w and w != "skip":
                rows.append({**v, "winner": w, "judge": v["annotator"], "question_id": v["item_id"]})
        label = f"combined: human votes + AI judge {judge}"
    if not rows:
        raise JudgeError(f"no verdicts of '{judge}' on '{info.name}' for {criterion}")
    return {"label": label, "criterion": criterion, **leaderboard_json(build_battles(rows), bootstrap=bootstrap)}
