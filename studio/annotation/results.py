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
from studio.annotation.ranking import bradley_terry
from studio.annotation.service import live_votes, resolve_batch
from studio.annotation.stats import all_pairs

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
            })
    return out


def studio_battles(studio, batch: str | None = None, criterion: str | None = None) -> Battles:
    """Non-skip votes as battles (judge = annotator, question_id = item) for one criterion."""
    rows, asked = [], False
    for r in vote_records(studio, batch):
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


def leaderboard_json(battles: Battles, *, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The leaderboard as ``{"models": [...], "pairs": [...]}`` (pairs oriented best-rated first)."""
    board = bradley_terry(battles, bootstrap=bootstrap, seed=seed)
    models = board.rows()
    order = [m["model"] for m in models]
    pairs = []
    for p in all_pairs(battles, order):
        pairs.append({"model_a": p.model, "model_b": p.opponent, "wins": p.wins, "ties": p.ties,
                      "losses": p.losses, "win_ratio": round(p.ratio("wins"), 4),
                      "tie_ratio": round(p.ratio("ties"), 4), "loss_ratio": round(p.ratio("losses"), 4)})
    return {"models": models, "pairs": pairs}


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


