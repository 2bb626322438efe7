"""A batch's results as JSON Lines with only deterministic fields (same seed, same file)."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from studio.db.models import Sample
from studio.synthesis.models import SynthesisItem
from studio.synthesis.rows import PlannedRow


def batch_rows(studio, batch_id: str) -> list[dict]:
    """One dict per item in batch order: planned row, result text, images, state and error."""
    with studio.db.session() as s:
        items = s.execute(select(SynthesisItem).where(SynthesisItem.batch_id == batch_id)
                          .order_by(SynthesisItem.position)).scalars().all()
        ids = [it.sample_id for it in items if it.sample_id]
        samples = {x.id: x for x in s.execute(select(Sample).where(Sample.id.in_(ids))).scalars()} if ids else {}
    out = []
    for it in items:
        row = PlannedRow.from_dict(it.spec)
        smp = samples.get(it.sample_id or "")
        rec = {
            "position": it.position, "taxonomy_id": row.taxonomy_id, "task": row.task, "method": row.method,
            "prompt": smp.prompt if smp else row.text, "turns": [t.get("instruction") for t in (smp.turns or [])] if smp and smp.turns else row.turns,
            "source_prompt": row.source_prompt, "reference_prompt": row.reference_prompt,
            "template": row.template, "difficulty": row.difficulty, "difficulty_reason": row.difficulty_reason,
            "attributes": row.attributes, "seed": row.seed, "state": it.state,
        }
        if smp:
            rec["input_images"] = smp.input_images
            rec["output_image"] = smp.output_image
            if smp.llm:
                rec["llm_raw"] = smp.llm.get("raw")
        if it.error:
            rec["error"] = it.error
        out.append(rec)
    return out


def write_batch_jsonl(studio, batch_id: str, path: str | Path) -> int:
    rows = batch_rows(studio, batch_id)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    return len(rows)
