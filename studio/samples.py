"""Storing and counting samples: the one writer of samples and their image records.

Every tab, importer and batch adds samples here — one (``add``) or many (``add_many``) — so every
sample passes the same checks. ``add_many`` and ``record_files`` can join a caller's transaction (a
synthesis batch marks its items done in the transaction that stores their samples).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from PIL import Image
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session

from studio.db import Database
from studio.db.base import new_id, utcnow
from studio.db.models import Sample, StoredImage
from studio.db.upsert import insert_ignoring_duplicates
from studio.images import ImageStore, StoredFile

TASKS = ("text-to-image", "edit", "multi-turn-edit", "reasoning")


@dataclass
class SampleStore:
    db: Database
    images: ImageStore

    def store_image(self, img: Image.Image, text: dict[str, Any] | None = None) -> str:
        """Write the image to disk (content-addressed) and record it; returns its SHA-256."""
        f = self.images.put(img, text)
        self.record_file(f)
        return f.sha256

    def record_file(self, f: StoredFile) -> None:
        self.record_files([f])

    def record_files(self, files: Iterable[StoredFile], conn: Connection | Session | None = None) -> None:
        """Record stored image files (a file recorded before is left as it is)."""
        now = utcnow()
        rows = [dict(sha256=f.sha256, rel_path=f.rel_path, width=f.width, height=f.height, format=f.format,
                     size_bytes=f.size_bytes, created_at=now) for f in files]
        if rows:
            self._run(insert_ignoring_duplicates(self.db.dialect, StoredImage.__table__), rows, conn)

    def add(self, *, task: str, prompt: str, **fields: Any) -> str:
        """Store one sample; returns its id."""
        return self.add_many([{"task": task, "prompt": prompt, **fields}])[0]

    def add_many(self, samples: Iterable[Mapping[str, Any]],
                 conn: Connection | Session | None = None) -> list[str]:
        """Store samples (column -> value each) in one statement; returns their ids in order.

        1. Check every sample first (a known task, text for the prompt); nothing is stored if one fails.
        2. Give each an id and a creation time unless it brings its own (an import keeps them).
        3. Insert them all, in ``conn``'s transaction when given, else in a transaction of their own.
        """
        now = utcnow()
        rows = []
        for sample in samples:
            row = dict(sample)
            check_sample(row)
            row.setdefault("id", new_id())
            if row.get("created_at") is None:
                row["created_at"] = now
            rows.append(row)
        by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row in rows:  # one executemany per set of given columns; left-out ones take their defaults
            by_columns.setdefault(frozenset(row), []).append(row)
        for group in by_columns.values():
            self._run(insert(Sample.__table__), group, conn)
        return [r["id"] for r in rows]

    def _run(self, stmt, rows: list[dict[str, Any]], conn: Connection | Session | None) -> None:
        if conn is not None:
            conn.execute(stmt, rows)
            return
        with self.db.engine.begin() as c:
            c.execute(stmt, rows)

    def get(self, sample_id: str) -> Sample | None:
        with self.db.session() as s:
            return s.get(Sample, sample_id)

    def count_by_taxonomy(self, dataset: str | None = None) -> dict[str, int]:
        """Samples per exact taxonomy id (use :func:`rollup_counts` for subtree totals)."""
        stmt = select(Sample.taxonomy_id, func.count()).where(Sample.taxonomy_id.is_not(None))
        if dataset:
            stmt = stmt.where(Sample.dataset == dataset)
        stmt = stmt.group_by(Sample.taxonomy_id)
        with self.db.session() as s:
            return {tid: n for tid, n in s.execute(stmt)}

    def prompts(self, dataset: str, limit: int = 200_000) -> list[tuple[str, str]]:
        """(sample id, prompt) of the samples in ``dataset`` that have a prompt, newest first."""
        stmt = (select(Sample.id, Sample.prompt).where(Sample.dataset == dataset, Sample.prompt != "")
                .order_by(Sample.created_at.desc()).limit(limit))
        with self.db.session() as s:
            return [(sid, prompt) for sid, prompt in s.execute(stmt)]

    def datasets(self) -> list[str]:
        with self.db.session() as s:
            return sorted(d for (d,) in s.execute(select(Sample.dataset).distinct()))


def check_sample(row: Mapping[str, Any]) -> None:
    """Raise ValueError naming what is wrong with a sample before anything is stored."""
    task = row.get("task")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if not isinstance(row.get("prompt"), str):
        raise ValueError("a sample's prompt must be text")
    unknown = set(row) - set(Sample.__table__.columns.keys())
    if unknown:
        raise ValueError(f"unknown sample fields: {', '.join(sorted(unknown))}")


def rollup_counts(counts: dict[str, int], node_ids: Iterable[str]) -> dict[str, int]:
    """Total per node id including every descendant (ids are '/'-separated paths)."""
    totals: Counter[str] = Counter()
    wanted = set(node_ids)
    for tid, n in counts.items():
        parts = tid.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in wanted:
                totals[prefix] += n
    return {nid: totals.get(nid, 0) for nid in wanted}
