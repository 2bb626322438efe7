"""Storing and counting samples: the one place every tab writes its data through."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from PIL import Image
from sqlalchemy import func, select

from studio.db import Database
from studio.db.models import Sample, StoredImage
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
        with self.db.session() as s:
            if s.get(StoredImage, f.sha256) is None:
                s.add(
                    StoredImage(
                        sha256=f.sha256,
                        rel_path=f.rel_path,
                        width=f.width,
                        height=f.height,
                        format=f.format,
                        size_bytes=f.size_bytes,
                    )
                )
                try:
                    s.flush()
                except Exception:  # another writer stored the same bytes first: same content
                    s.rollback()

    def add(self, *, task: str, prompt: str, **fields: Any) -> str:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        sample = Sample(task=task, prompt=prompt, **fields)
        with self.db.session() as s:
            s.add(sample)
        return sample.id

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
