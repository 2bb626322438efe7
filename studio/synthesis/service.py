"""What the Synthesis tab calls: preview tables, the k distribution, batch control, coverage, datasets."""
from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from studio.synthesis.batches import (BatchOptions, batch_items, batch_status, cancel_batch, create_batch,
                                      list_batches, mark_interrupted, retry_failed, start_batch)
from studio.synthesis import metaprompts
from studio.synthesis.dedup import DedupSettings
from studio.synthesis.export import export_dataset
from studio.synthesis.importer import ImportFailed, import_dataset
from studio.synthesis.ksampler import DEFAULT_LAMBDA, k_distribution
from studio.synthesis.planner import (DEFAULT_DIFFICULTY_MIX, DIFFICULTY_MIXES, Planner, SynthesisRequest,
                                      describe_row, parse_difficulty_mix)
from studio.synthesis.templates import SynthesisError

__all__ = ["batch_items", "batch_status", "cancel_batch", "create_batch", "list_batches", "retry_failed",
           "start_batch", "mark_interrupted", "export_dataset", "import_dataset", "ImportFailed",
           "DEFAULT_LAMBDA", "DEFAULT_DIFFICULTY_MIX", "DIFFICULTY_MIXES"]

PREVIEW_COLUMNS = ["#", "text", "node", "difficulty", "why", "template", "attributes", "source image"]
#: A preview is for reading rows on screen; more rows than this go to a batch, which plans them in its
#: own thread, stores them and survives a closed page.
MAX_PREVIEW_COUNT = 1_000
#: wall-clock bound on one preview (a slow near-duplicate model or a crowded server), in seconds
PREVIEW_TIME_LIMIT_S = 60.0


def node_choices(studio) -> list[str]:
    return Planner(studio.taxonomy).synthesizable_ids()


def build_request(nodes, count, seed, method, difficulty, lam, near, threshold, image_first=False,
                  skip_existing=True) -> SynthesisRequest:
    """A request from UI values; errors read as the user typed them."""
    try:
        count_i, seed_i = int(count), int(seed)
    except (TypeError, ValueError):
        raise SynthesisError("count and seed must be whole numbers") from None
    if count_i != float(count):
        raise SynthesisError("count must be a whole number")
    return SynthesisRequest(
        nodes=list(nodes or []), count=count_i, seed=seed_i, method=method,
        difficulty_mix=parse_difficulty_mix(difficulty), lam=float(lam),
        image_first=bool(image_first),
        dedup=DedupSettings(near=near, threshold=float(threshold), skip_existing=bool(skip_existing)))


def preview(studio, request: SynthesisRequest, dataset: str | None = None) -> dict[str, Any]:
    """Rows as table cells, dropped rows with reasons, notices, and the rendered meta-prompts.

    With ``dataset``, rows repeating a prompt it already holds are dropped, as the batch will.
    """
    result: dict[str, Any] = {}
    for _done, result in preview_steps(studio, request, dataset):
        pass
    return result


def preview_steps(studio, request: SynthesisRequest, dataset: str | None = None,
                  time_limit_s: float = PREVIEW_TIME_LIMIT_S) -> Iterator[tuple[int, dict[str, Any]]]:
    """The preview, step by step, so that the caller can stop it (a Stop button, a closed page).

    1. Refuse counts over :data:`MAX_PREVIEW_COUNT` (the message points to a batch).
    2. Plan the rows in chunks; after each chunk yield ``(rows so far, {})``. Work happens only
       while the caller asks for the next step, so a caller that stops iterating stops it.
    3. Past ``time_limit_s`` raise :class:`SynthesisError` saying to lower the count or use a batch.
    4. Yield ``(rows, result)`` once, with the result :func:`preview` returns.
    """
    from studio.synthesis.batches import existing_prompts

    if isinstance(request.count, int) and request.count > MAX_PREVIEW_COUNT:
        raise SynthesisError(
            f"Preview shows at most {MAX_PREVIEW_COUNT:,} rows (asked for {request.count:,}): preview a "
            f"smaller count to check the rows, then use Run batch for all {request.count:,}.")
    start = time.monotonic()
    steps = Planner(studio.taxonomy).plan_steps(request, existing_prompts(studio.samples, request, dataset))
    while True:
        try:
            done = next(steps)
        except StopIteration as finished:
            plan = finished.value
            break
        if time.monotonic() - start > time_limit_s:
            steps.close()
            raise SynthesisError(
                f"Preview stopped after {time_limit_s:g} s with {done:,} of {request.count:,} rows: lower the "
                "count, or pick a faster near-duplicate method, or use Run batch.")
        yield done, {}
    yield len(plan.rows), _preview_result(plan)


def _preview_result(plan) -> dict[str, Any]:
    table = []
    for r in plan.rows:
        d = describe_row(r)
        d["attributes"] = "; ".join(f"{k}={_cell(v)}" for k, v in d["attributes"].items())
        table.append([d[c] for c in PREVIEW_COLUMNS])
    meta = [{"row": r.index, "kind": r.meta_prompt_kind, "source": metaprompts.source_of(r.meta_prompt_kind, r.taxonomy_id),
             "messages": r.meta_prompt} for r in plan.rows if r.meta_prompt]
    dropped = [[d["index"], d["text"], d["reason"]] for d in plan.dedup.dropped]
    return {"table": table, "dropped": dropped, "notices": plan.notices + plan.dedup.notices,
            "dedup_method": plan.dedup.method, "meta_prompts": meta, "rows": plan.rows}


def _cell(value: Any) -> str:
    """An attribute value as table text: lists joined, sampled dimensions by their value."""
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return str(value["value"]) if "value" in value else " ".join(str(v) for v in value.values())
    return str(value)


def k_table(lam: float, k_max: int = 30) -> list[dict[str, Any]]:
    """P(k) for k = 1..k_max (the tail beyond is tiny for usual λ) for the plot."""
    probs = k_distribution(float(lam))
    return [{"k": k, "probability": probs[k - 1]} for k in range(1, k_max + 1)]


def coverage_rows(studio, dataset: str | None = None) -> list[dict[str, Any]]:
    """Per synthesizable leaf: samples held vs the paper's target, and both as shares of their family."""
    from studio.taxonomy import compute_coverage

    forest = studio.taxonomy
    cov = compute_coverage(forest, studio.samples.count_by_taxonomy(dataset or None))
    planner = Planner(forest)
    leaves = [n for n in forest if n.is_leaf and planner.synthesizable(n.id)]
    fam_target: dict[str, int] = {}
    fam_samples: dict[str, int] = {}
    for n in leaves:
        fam = "/".join(n.id.split("/")[:2])
        fam_target[fam] = fam_target.get(fam, 0) + (n.target_count or 0)
        fam_samples[fam] = fam_samples.get(fam, 0) + cov[n.id].samples
    rows = []
    for n in leaves:
        fam = "/".join(n.id.split("/")[:2])
        c = cov[n.id]
        rows.append({
            "node": n.id, "samples": c.samples, "target": n.target_count,
            "coverage": c.summary(),
            "share": round(c.samples / fam_samples[fam], 4) if fam_samples[fam] else 0.0,
            "target share": round((n.target_count or 0) / fam_target[fam], 4) if fam_target[fam] else None,
        })
    return rows


def export_zip(studio, fmt: str, dataset: str | None) -> tuple[Path, str]:
    """Export into the exports folder and zip it for download; returns (zip path, summary)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = studio.settings.exports_dir / f"{dataset or 'all'}-{fmt}-{stamp}"
    report = export_dataset(studio, out, fmt, dataset or None)
    archive = shutil.make_archive(str(out), "zip", root_dir=out)
    return Path(archive), report.summary()


def import_upload(studio, upload: str | Path, good_rows_only: bool, dataset: str | None):
    """Import an uploaded .json/.jsonl file, or a .zip holding a dataset folder (members checked)."""
    path = Path(upload)
    if path.suffix.lower() != ".zip":
        return import_dataset(studio, path, good_rows_only=good_rows_only, dataset=dataset or None)
    tmp = Path(tempfile.mkdtemp(prefix="studio-import-"))
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                target = (tmp / member).resolve()
                if tmp.resolve() not in target.parents and target != tmp.resolve():
                    raise ImportFailed(f"{path.name}: member {member!r} escapes the archive folder (refused)")
            zf.extractall(tmp)
        roots = [p for p in tmp.iterdir()]
        base = roots[0] if len(roots) == 1 and roots[0].is_dir() else tmp
        return import_dataset(studio, base, good_rows_only=good_rows_only, dataset=dataset or None)
    except zipfile.BadZipFile:
        raise ImportFailed(f"{path.name}: not a valid zip archive") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def batch_choices(studio) -> list[tuple[str, str]]:
    return [(f"{b.name or b.id[:8]} · {b.status} · {b.done}/{b.total}", b.id) for b in list_batches(studio)]


def progress_markdown(studio, batch_id: str | None) -> str:
    if not batch_id:
        return "No batch selected."
    st = batch_status(studio, batch_id)
    frac = (st.done + st.failed) / st.total if st.total else 1.0
    bar = "█" * int(frac * 30) + "░" * (30 - int(frac * 30))
    from studio.markup import md_text  # names and errors are user text

    return f"`{bar}` {frac:.0%}\n\n{md_text(st.summary())}\n\nbatch id `{st.id}`"


__all__ += ["BatchOptions", "SynthesisError", "build_request", "preview", "preview_steps", "MAX_PREVIEW_COUNT",
            "k_table", "coverage_rows",
            "export_zip", "import_upload", "batch_choices", "progress_markdown", "node_choices"]


def caption_upload(studio, image_path: str, chat_backend: str | None, node_id: str | None = None,
                   dataset: str = "synthesis") -> dict[str, Any]:
    """Image-first (ShareGPT-4o-Image C.1, or C.3 with the node as base task): caption an uploaded
    image with the chat backend and store (caption, image) as a text-to-image sample."""
    from studio.images import load_image
    from studio.synthesis import metaprompts
    from studio.synthesis.llm import LLMComposer, resolve_chat_backend
    from studio.synthesis.rows import PlannedRow

    name = resolve_chat_backend(studio.backends, chat_backend)
    img = load_image(image_path, max_bytes=studio.settings.max_upload_bytes,
                     max_pixels=studio.settings.max_image_pixels)
    base_task = None
    if node_id:
        node = studio.taxonomy.find(node_id)
        if node is None:
            raise SynthesisError(f"unknown taxonomy node {node_id!r}")
        base_task = node.title
    row = PlannedRow(index=0, taxonomy_id=node_id or "", method="llm", kind="generation", text="", seed=0,
                     meta_prompt_kind="image-first", meta_prompt=metaprompts.image_first_caption(base_task))
    outcome = LLMComposer(studio.backends, name).compose(row, images=[img])
    sha = studio.samples.store_image(img)
    sample_id = studio.samples.add(
        task="text-to-image", prompt=outcome.text, taxonomy_id=node_id or None, output_image=sha,
        attributes={"image_first": True, "base_task": base_task}, method="llm", source="synthesis",
        dataset=(dataset or "synthesis").strip()[:128] or "synthesis",
        provenance={"uploaded": True, "chat_backend": name},
        llm={**outcome.stats(), "meta_prompt_kind": "image-first", "meta_prompt": row.meta_prompt})
    return {"caption": outcome.text, "sample_id": sample_id, "meta_prompt": row.meta_prompt}


__all__ += ["caption_upload"]
