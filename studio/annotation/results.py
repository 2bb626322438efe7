"""The studio's votes as battles, the leaderboard JSON, and exports (votes JSONL/CSV, revealed pairs)."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio.annotation import AnnotationError
from studio.annotation.battles import Battles, build_battles
from studio.annotation.models import ComparisonBatch, ComparisonItem, PairwiseVote
from studio.annotation.boards import leaderboard_json, select_judges
from studio.annotation.hooks import hooks_of
from studio.annotation.quality import GOLD_ANSWERS, annotator_quality
from studio.annotation.service import live_votes, resolve_batch

VOTE_FIELDS = ("vote_id", "batch", "item_id", "annotator", "created_at", "task", "taxonomy_id", "prompt",
               "model_a", "model_b", "shown_left", "shown_right", "shown_choice", "winner", "criteria",
               "latency_ms")


def vote_records(studio, batch: str | None = None) -> list[dict[str, Any]]:
    """Every standing vote (skips included, withdrawn ones left out) joined with its item; one dict
    per vote, oldest first. Everything the results show is derived from these."""
    stmt = (select(PairwiseVote, ComparisonItem, ComparisonBatch.name)
            .join(ComparisonItem, ComparisonItem.id == PairwiseVote.item_id)
            .join(ComparisonBatch, ComparisonBatch.id == PairwiseVote.batch_id)
            .where(live_votes())
            .order_by(PairwiseVote.created_at, PairwiseVote.id))
    if batch:
        stmt = stmt.where(PairwiseVote.batch_id == resolve_batch(studio, batch))
    out = []
    with studio.db.session() as s:
        for v, item, batch_name in s.execute(stmt):
            created = v.created_at if v.created_at.tzinfo else v.created_at.replace(tzinfo=timezone.utc)
            out.append({
                "vote_id": v.id, "batch": batch_name, "item_id": item.id, "annotator": v.annotator,
                "created_at": created.isoformat(), "tstamp": created.timestamp(), "task": item.task,
                "taxonomy_id": item.taxonomy_id or "", "prompt": item.prompt,
                "model_a": item.model_a, "model_b": item.model_b,
                "shown_left": "model_a" if v.a_on_left else "model_b",
                "shown_right": "model_b" if v.a_on_left else "model_a",
                "a_on_left": bool(v.a_on_left), "shown_choice": v.shown_choice, "winner": v.winner,
                "criteria": dict(v.criteria or {}), "latency_ms": v.latency_ms,
                "gold": _gold(item.provenance),
            })
    return out


def _gold(provenance: dict[str, Any] | None) -> str | None:
    """The known winner of a gold item (malformed answers are ignored: gold items are checked when made)."""
    gold = (provenance or {}).get("gold")
    return gold if gold in GOLD_ANSWERS else None


def battles_from_records(records: list[dict[str, Any]], criterion: str | None = None) -> Battles:
    """Non-skip votes on ordinary items as battles (judge = annotator, question_id = item) for one
    criterion; gold items measure annotators, not models, and are left out."""
    rows, asked = [], False
    for r in records:
        if r.get("gold"):
            continue
        if criterion:
            if criterion not in r["criteria"]:
                continue  # a batch that did not ask this criterion
            asked, winner = True, r["criteria"][criterion]
        else:
            winner = r["winner"]
        if winner == "skip":
            continue
        rows.append({**r, "winner": winner, "judge": r["annotator"], "question_id": r["item_id"]})
    if criterion and not asked:
        raise AnnotationError(f"no votes answer the criterion {criterion!r}")
    return build_battles(rows)


def studio_battles(studio, batch: str | None = None, criterion: str | None = None) -> Battles:
    """Non-skip votes of the studio (or one batch) as battles for one criterion."""
    return battles_from_records(vote_records(studio, batch), criterion)


def studio_leaderboard(studio, batch: str | None = None, *, criterion: str | None = None,
                       annotator: str | None = None, exclude: tuple[str, ...] = (), **options) -> dict[str, Any]:
    """The leaderboard JSON of the studio's votes, with one board per criterion the votes answer
    (see :func:`studio_board`, which also returns the battles behind the main board)."""
    return studio_board(studio, batch, criterion=criterion, annotator=annotator, exclude=exclude, **options)[1]


def studio_board(studio, batch: str | None = None, *, criterion: str | None = None, annotator: str | None = None,
                 exclude: tuple[str, ...] = (), **options) -> tuple[Battles, dict[str, Any]]:
    """(battles of the main board, its leaderboard JSON with one board per criterion the votes answer).

    1. Read the vote facts (one batch or all). 2. Keep one annotator's votes for a personal board
    and drop excluded annotators: those in ``exclude`` and those an admin left out
    (``studio.annotation_hooks.excluded_annotators``). 3. Derive the main board (``criterion`` or the overall winner) with
    :func:`leaderboard_json` (``options`` go there). 4. Add ``"criteria": {name: board}`` over every
    criterion asked (each with its per-task boards under ``"task"``: criteria differ by task), ``"selection"`` saying which votes went in, and ``"annotators"``: every
    annotator's gold accuracy, competence and very fast votes (excluded ones too, so an admin sees why).
    """
    exclude = tuple(sorted(set(exclude) | hooks_of(studio).excluded_annotators(studio)))
    records = vote_records(studio, batch)
    if annotator and not any(r["annotator"] == annotator for r in records):
        raise AnnotationError(f"no votes by annotator {annotator!r}; check the name on the Annotate tab")
    main = select_judges(battles_from_records(records, criterion), only=annotator, exclude=exclude)
    out = leaderboard_json(main, **options)
    names = sorted({c for r in records for c in r["criteria"]})
    per_criterion = {}
    for name in names:
        sub = select_judges(battles_from_records(records, name), only=annotator, exclude=exclude)
        board = leaderboard_json(sub, **options)
        per_criterion[name] = {"votes": len(sub), "models": board["models"],
                               "task": board.get("boards", {}).get("task", {})}
    out["criteria"] = per_criterion
    out["annotators"] = annotator_quality(records)
    out["selection"] = {"batch": batch, "criterion": criterion, "annotator": annotator,
                        "excluded": sorted(set(exclude)), "votes": len(main)}
    return main, out


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "batch"


def export_votes(studio, batch: str | None, fmt: str = "jsonl") -> Path:
    """Write the votes (one row per vote) as JSONL or CSV under the exports folder; returns the path."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError("export format is jsonl or csv")
    records = vote_records(studio, batch)
    label = _safe(batch or "all")
    path = studio.settings.exports_dir / f"votes-{label}-{_stamp()}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps({k: r[k] for k in VOTE_FIELDS}, ensure_ascii=False) + "\n")
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=VOTE_FIELDS)
        w.writeheader()
        for r in records:
            w.writerow({**{k: r[k] for k in VOTE_FIELDS}, "criteria": json.dumps(r["criteria"])})
        path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def export_pairs(studio, batch: str) -> Path:
    """A zip of the batch's revealed pairs (pairs.jsonl with model names and vote tallies + images)."""
    batch_id = resolve_batch(studio, batch)
    tallies: dict[str, dict[str, int]] = {}
    for r in vote_records(studio, batch_id):
        t = tallies.setdefault(r["item_id"], {})
        t[r["winner"]] = t.get(r["winner"], 0) + 1
    with studio.db.session() as s:
        name = s.get(ComparisonBatch, batch_id).name
        items = s.scalars(select(ComparisonItem).where(ComparisonItem.batch_id == batch_id)
                          .order_by(ComparisonItem.position)).all()
    path = studio.settings.exports_dir / f"pairs-{_safe(name)}-{_stamp()}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        written: set[str] = set()
        for it in items:
            rel = {}
            for key in ("source_image", "output_a", "output_b"):
                sha = getattr(it, key)
                if not sha:
                    continue
                src = studio.images.find(sha)
                if src is None:
                    continue
                arc = f"images/{sha}{src.suffix}"
                if arc not in written:
                    zf.write(src, arc)
                    written.add(arc)
                rel[key] = arc
            lines.append(json.dumps({
                "item_id": it.id, "task": it.task, "prompt": it.prompt, "taxonomy_id": it.taxonomy_id,
                "model_a": it.model_a, "model_b": it.model_b, "output_a": rel.get("output_a"),
                "output_b": rel.get("output_b"), "source_image": rel.get("source_image"),
                "votes": tallies.get(it.id, {}), "provenance": it.provenance,
            }, ensure_ascii=False))
        zf.writestr("pairs.jsonl", "\n".join(lines) + ("\n" if lines else ""))
    return path


