"""Prompt sets an evaluation run draws from, each as a list of :class:`PromptSpec`.

- taxonomy nodes through the synthesis planner (template method; edit rows render their source image
  with the procedural engine, so every backend edits the same picture);
- a studio dataset (its samples' prompts and taxonomy nodes; edit samples keep their input image);
- GenEval's ``evaluation_metadata.jsonl`` (one JSON object per line with prompt, tag, include, exclude);
- GenEval-template prompts drawn with a seed;
- a list of prompts or edit instructions (JSONL/CSV/JSON: ``prompt`` or ``instruction``, optional
  ``source_image`` relative to the file, ``taxonomy_id``; a .txt file: one prompt per line).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.images import ImageLoadError, load_image
from studio.judges import JudgeError, geneval
from studio.judges.manifest import _pick, read_rows

MAX_PROMPTS = 5000


@dataclass
class PromptSpec:
    prompt: str
    taxonomy_id: str = ""
    metadata: dict[str, Any] | None = None
    #: SHA-256 of source images in the studio's image store (edits)
    sources: list[str] = field(default_factory=list)


def _bounded(specs: list[PromptSpec], what: str) -> list[PromptSpec]:
    if not specs:
        raise JudgeError(f"{what}: no prompts")
    if len(specs) > MAX_PROMPTS:
        raise JudgeError(f"{what}: {len(specs)} prompts; an evaluation run takes at most {MAX_PROMPTS}")
    return specs


def from_geneval_file(path: str | Path) -> list[PromptSpec]:
    path = Path(path)
    specs, problems = [], []
    for n, rec in enumerate(read_rows(path), 1):
        problem = geneval.check_metadata(rec) if isinstance(rec, dict) and rec.get("prompt") else "missing prompt"
        if problem:
            problems.append(f"line {n}: {problem}")
            continue
        specs.append(PromptSpec(str(rec["prompt"]), f"geneval/{rec.get('tag', 'other')}", dict(rec)))
    if problems:
        raise JudgeError(f"{path.name}: nothing imported; fix these lines: " + "; ".join(problems[:10]))
    return _bounded(specs, path.name)


def from_geneval_templates(count: int | None = None, seed: int = 0) -> list[PromptSpec]:
    items = geneval.template_prompts(seed)
    if count is not None:
        items = items[::max(1, len(items) // max(1, count))][:count]
    return _bounded([PromptSpec(m["prompt"], f"geneval/{m['tag']}", m) for m in items], "GenEval templates")


def from_prompt_list(studio, path: str | Path) -> list[PromptSpec]:
    path = Path(path)
    if path.suffix.lower() == ".txt":
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise JudgeError(f"{path}: cannot read ({exc})") from None
        return _bounded([PromptSpec(line.strip()) for line in lines if line.strip()], path.name)
    specs, problems = [], []
    s = studio.settings
    for n, rec in enumerate(read_rows(path), 1):
        try:
            if not isinstance(rec, dict) or not _pick(rec, "prompt"):
                raise JudgeError("missing prompt (or instruction)")
            src = _pick(rec, "source_image")
            sources = []
            if src:
                img = load_image((path.parent / str(src)).resolve(), max_bytes=s.max_upload_bytes,
                                 max_pixels=s.max_image_pixels)
                scene = img.info.get("scene_graph")  # kept, so engines that edit by scene graph can
                sources.append(studio.samples.store_image(img, {"scene_graph": scene} if scene else None))
            meta = rec if "include" in rec else None
            specs.append(PromptSpec(str(_pick(rec, "prompt")), str(rec.get("taxonomy_id") or ""), meta, sources))
        except (JudgeError, ImageLoadError) as exc:
            problems.append(f"row {n}: {exc}")
    if problems:
        raise JudgeError(f"{path.name}: nothing imported; fix these rows: " + "; ".join(problems[:10]))
    return _bounded(specs, path.name)


def from_dataset(studio, dataset: str, limit: int = 1000) -> list[PromptSpec]:
    from sqlalchemy import select

    from studio.db.models import Sample

    stmt = (select(Sample.prompt, Sample.taxonomy_id, Sample.input_images).where(
        Sample.dataset == dataset, Sample.prompt != "").order_by(Sample.created_at).limit(limit))
    with studio.db.session() as s:
        rows = list(s.execute(stmt))
    if not rows:
        raise JudgeError(f"dataset '{dataset}' has no samples with a prompt; known: {', '.join(studio.samples.datasets())}")
    return _bounded([PromptSpec(p, t or "", None, list(inputs or [])[:1]) for p, t, inputs in rows], dataset)


def from_taxonomy(studio, nodes: list[str], count: int, seed: int = 0) -> list[PromptSpec]:
    """Planner rows of the nodes (template method); edit rows get a procedural source image."""
    from backends.base import GenerationRequest
    from backends.procedural import ProceduralBackend
    from studio.synthesis.planner import Planner, SynthesisRequest

    planner = Planner(studio.taxonomy)
    try:
        plan = planner.plan(SynthesisRequest(nodes=nodes, count=count, seed=seed))
    except ValueError as exc:
        raise JudgeError(str(exc)) from None
    painter = ProceduralBackend(name="procedural")
    specs = []
    for row in plan.rows:
        if row.kind == "generation":
            meta = geneval.parse_prompt(row.text)
            specs.append(PromptSpec(row.text, row.taxonomy_id, meta))
        elif row.kind == "edit" and row.source_prompt:
            src = painter.generate(GenerationRequest(prompt=row.source_prompt, seed=row.seed))
            sha = studio.samples.store_image(src.image, {"scene_graph": src.scene_graph} if src.scene_graph else None)
            specs.append(PromptSpec(row.text, row.taxonomy_id, None, [sha]))
    return _bounded(specs, "taxonomy nodes " + ", ".join(nodes))


#: where an evaluation's prompts come from, as a form offers them
SOURCES = ("geneval", "nodes", "dataset", "file")


def from_source(studio, source: str, *, count: int | None = 24, nodes: str = "", dataset: str = "",
                upload: str | Path | None = None, seed: int = 0) -> tuple[list[PromptSpec], dict[str, Any]]:
    """The prompts of one source and the record of where they came from (stored with the run).

    1. ``geneval``: ``count`` GenEval template prompts; ``nodes``: ``count`` prompts planned from the
       comma-separated taxonomy node ids; ``dataset``: a studio dataset's prompts.
    2. ``file``: an uploaded GenEval ``evaluation_metadata.jsonl``, or a prompt list (.jsonl/.csv/.txt);
       a list whose rows name source images is refused, as their paths are read beside the file (headless).
    Raises JudgeError naming what to supply.
    """
    count = int(count or 24)
    seed = int(seed or 0)
    if source == "geneval":
        return from_geneval_templates(count, seed), {"geneval_templates": count}
    if source == "nodes":
        ids = [n.strip() for n in (nodes or "").split(",") if n.strip()]
        if not ids:
            raise JudgeError("Type one or more taxonomy node ids.")
        return from_taxonomy(studio, ids, count, seed), {"nodes": ids, "count": count}
    if source == "dataset":
        if not (dataset or "").strip():
            raise JudgeError("Type a dataset name.")
        return from_dataset(studio, dataset.strip()), {"dataset": dataset.strip()}
    if source != "file":
        raise JudgeError(f"unknown prompt source {source!r}; choose one of {', '.join(SOURCES)}")
    if not upload:
        raise JudgeError("Upload a GenEval metadata JSONL or a prompt list first.")
    path = Path(upload)
    rows = read_rows(path) if path.suffix.lower() != ".txt" else []
    if rows and isinstance(rows[0], dict) and "include" in rows[0]:
        return from_geneval_file(path), {"file": path.name}
    if any(isinstance(r, dict) and r.get("source_image") for r in rows):
        raise JudgeError("Prompt lists with source images are run headless (python -m studio eval run ... --prompts "
                         "FILE), where the image paths are read beside the file.")
    return from_prompt_list(studio, path), {"file": path.name}
