"""Import comparisons that already exist: a JSONL/CSV manifest of pairs, or two output folders.

Manifest rows: ``prompt`` (or ``instruction`` / ``input_prompt``), optional ``source_image``,
``output_a`` + ``model_a``, ``output_b`` + ``model_b`` (GenAI-Bench-style ``left_image`` /
``left_model`` / ``right_image`` / ``right_model`` are accepted), optional ``taxonomy_id``, ``task`` and
``gold`` (``a`` or ``b``: the output that must win, making the row a gold item that measures annotators).
Image paths are relative to the manifest. Folders: files with the same name in both folders are a pair;
prompts come from a ``prompts`` file (file name -> prompt) or a ``<name>.txt`` beside the image.
Every image goes through the safe loader; a file with any bad row (or gold answers that contradict
each other) imports nothing and lists the rows. A batch whose rows share one task asks that task's
criteria (:mod:`studio.annotation.criteria`) unless the import names its own.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from studio.annotation import AnnotationError
from studio.annotation.criteria import criteria_for
from studio.annotation.quality import check_gold
from studio.annotation.service import add_comparison, create_batch
from studio.images import ImageLoadError, load_image
from studio.serverpaths import inside

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
ALIASES = {
    "prompt": ("prompt", "instruction", "input_prompt", "caption"),
    "source_image": ("source_image", "input_image", "source"),
    "output_a": ("output_a", "image_a", "left_image"),
    "model_a": ("model_a", "left_model"),
    "output_b": ("output_b", "image_b", "right_image"),
    "model_b": ("model_b", "right_model"),
}
MAX_ZIP_BYTES = 2 << 30
GOLD_FIELD = {"a": "model_a", "model_a": "model_a", "b": "model_b", "model_b": "model_b"}


def _pick(rec: dict[str, Any], field: str) -> Any:
    for key in ALIASES.get(field, (field,)):
        value = rec.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            return value
    return None


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path.name}: cannot read as UTF-8 text ({exc})") from None
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            return json.loads(stripped)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise AnnotationError(f"{path.name}: not valid JSON lines ({exc})") from None


class _Loader:
    """Loads each referenced image once through the safe loader and stores it."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self.cache: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        path = path.resolve()
        if path not in self.cache:
            s = self.studio.settings
            img = load_image(path, max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels)
            self.cache[path] = self.studio.samples.store_image(img)
        return self.cache[path]


def _stage(rows: list[dict[str, Any]], studio) -> list[dict[str, Any]]:
    """Load every image of every row; raise one error listing all bad rows (nothing is stored in the batch)."""
    load, staged, problems = _Loader(studio), [], []
    for n, rec in rows:
        try:
            if isinstance(rec, AnnotationError):
                raise rec
            if not isinstance(rec, dict):
                raise AnnotationError("not an object")
            values = {f: _pick(rec, f) for f in ALIASES}
            missing = [f for f in ("prompt", "output_a", "model_a", "output_b", "model_b") if not values[f]]
            if missing:
                raise AnnotationError(f"missing {', '.join(missing)}")
            task = rec.get("task") or ("edit" if values["source_image"] else "text-to-image")
            if task not in ("text-to-image", "edit"):
                raise AnnotationError(f"task must be text-to-image or edit, got {task!r}")
            if task == "edit" and not values["source_image"]:
                raise AnnotationError("an edit row needs source_image")
            gold = rec.get("gold")
            if gold not in (None, "") and str(gold).strip().lower() not in GOLD_FIELD:
                raise AnnotationError(f"gold names the output that must win, a or b; got {gold!r}")
            staged.append({
                "prompt": str(values["prompt"]), "task": task, "model_a": str(values["model_a"]),
                "model_b": str(values["model_b"]), "taxonomy_id": rec.get("taxonomy_id") or None,
                "output_a": load(Path(values["output_a"])), "output_b": load(Path(values["output_b"])),
                "source_image": load(Path(values["source_image"])) if values["source_image"] else None,
                "provenance": {"source": "import", "row": n,
                               **({"gold": GOLD_FIELD[str(gold).strip().lower()]} if gold not in (None, "") else {})},
            })
        except (AnnotationError, ImageLoadError) as exc:
            problems.append(f"row {n}: {exc}")
    if problems:
        more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        raise AnnotationError("nothing imported; fix these rows: " + "; ".join(problems[:10]) + more)
    if not staged:
        raise AnnotationError("the file has no rows")
    check_gold(staged)
    return staged


def _commit(studio, name: str, staged: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """Create the batch and its items (every row was validated and its images stored already)."""
    tasks = {row["task"] for row in staged}
    added = settings.pop("added_criteria", ()) or ()
    if settings.get("criteria") is None and len(tasks) == 1:
        settings = {**settings, "criteria": criteria_for(tasks.pop(), added)}
    elif added:
        settings = {**settings, "criteria": [*(settings.get("criteria") or ["overall"]), *added]}
    batch_id = create_batch(studio, name, **{k: v for k, v in settings.items() if v is not None})
    for k, row in enumerate(staged):
        add_comparison(studio, batch_id, item_key=f"import:{k}", **row)
    return batch_id


def _within(base: Path, rec: Any) -> Any:
    """The row with its image paths resolved inside ``base``, or the error for a path that is absolute
    or escapes it (by ``..`` or a symlink)."""
    if not isinstance(rec, dict):
        return rec
    rec = dict(rec)
    for f in ("source_image", "output_a", "output_b"):
        for key in ALIASES[f]:
            if isinstance(rec.get(key), str) and rec[key]:
                full = inside(base, rec[key])
                if full is None:
                    return AnnotationError(f"{key} {rec[key]!r} must be relative and stay inside the file's folder")
                rec[key] = str(full)
    return rec


def import_manifest(studio, name: str, manifest: str | Path, *, base: str | Path | None = None,
                    **settings: Any) -> str:
    """A new batch from a JSONL/CSV manifest of pairs; returns the batch id. Image paths are relative
    to ``base`` (the manifest's folder, or the root of the archive it came in) and must stay inside it."""
    manifest = Path(manifest)
    base = Path(base) if base is not None else manifest.parent
    rows = [(n, _within(base, rec)) for n, rec in enumerate(_read_manifest(manifest), 1)]
    return _commit(studio, name, _stage(rows, studio), settings)


def import_folders(studio, name: str, folder_a: str | Path, model_a: str, folder_b: str | Path, model_b: str,
                   *, prompts_file: str | Path | None = None, task: str = "text-to-image", **settings: Any) -> str:
    """A new batch pairing same-named images of two folders; files in only one folder are an error."""
    fa, fb = Path(folder_a), Path(folder_b)
    for f in (fa, fb):
        if not f.is_dir():
            raise AnnotationError(f"{f}: not a folder")
    names_a = {p.name: p for p in fa.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    names_b = {p.name: p for p in fb.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    only = sorted(set(names_a) ^ set(names_b))
    if only:
        raise AnnotationError(f"{len(only)} file(s) are in only one folder: {', '.join(only[:8])}")
    if not names_a:
        raise AnnotationError("the folders hold no images")
    prompts: dict[str, str] = {}
    if prompts_file:
        for rec in _read_manifest(Path(prompts_file)):
            key = rec.get("file") or rec.get("file_name") or rec.get("image")
            if key and _pick(rec, "prompt"):
                prompts[Path(str(key)).name] = str(_pick(rec, "prompt"))
                prompts[Path(str(key)).stem] = str(_pick(rec, "prompt"))
    rows = []
    for n, fname in enumerate(sorted(names_a), 1):
        prompt = prompts.get(fname) or prompts.get(Path(fname).stem)
        sidecar = names_a[fname].with_suffix(".txt")
        if prompt is None and sidecar.exists():
            prompt = sidecar.read_text(encoding="utf-8", errors="replace").strip()
        rows.append((n, {"prompt": prompt, "output_a": str(names_a[fname]), "model_a": model_a,
                         "output_b": str(names_b[fname]), "model_b": model_b, "task": task,
                         "file": fname}))
    return _commit(studio, name, _stage(rows, studio), settings)


def extract_upload(zip_path: str | Path, dest: str | Path) -> Path:
    """Unpack an uploaded zip safely (no paths outside ``dest``, bounded size); returns ``dest``."""
    dest = Path(dest).resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            total = sum(i.file_size for i in zf.infolist())
            if total > MAX_ZIP_BYTES:
                raise AnnotationError("the zip unpacks to more than 2 GB")
            for info in zf.infolist():
                target = (dest / info.filename).resolve()
                if not str(target).startswith(str(dest) + "/") and target != dest:
                    raise AnnotationError(f"the zip holds an unsafe path: {info.filename}")
            zf.extractall(dest)
    except zipfile.BadZipFile:
        raise AnnotationError("the upload is not a valid zip file") from None
    return dest


def import_upload(studio, name: str, upload: str | Path, work_dir: str | Path, **settings: Any) -> str:
    """A manifest (.jsonl/.csv, paths relative to it) or a zip holding a manifest, or exactly two folders."""
    upload = Path(upload)
    if upload.suffix.lower() in (".jsonl", ".json", ".csv"):
        return import_manifest(studio, name, upload, **settings)
    if upload.suffix.lower() != ".zip":
        raise AnnotationError("upload a .jsonl/.csv manifest or a .zip (manifest + images, or two folders)")
    root = extract_upload(upload, work_dir)
    manifests = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jsonl", ".csv") and "__MACOSX" not in p.parts)
    pair_files = [p for p in manifests if p.stem.lower() not in ("prompts",)]
    if pair_files:
        return import_manifest(studio, name, pair_files[0], base=root, **settings)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name != "__MACOSX")
    if len(folders) == 1 and not any(p.is_file() for p in root.iterdir()):
        folders = sorted(p for p in folders[0].iterdir() if p.is_dir())
    if len(folders) != 2:
        raise AnnotationError("the zip needs a pairs manifest (.jsonl/.csv) or exactly two folders of outputs")
    prompts = next((p for p in manifests if p.stem.lower() == "prompts"), None)
    return import_folders(studio, name, folders[0], folders[0].name, folders[1], folders[1].name,
                          prompts_file=prompts, **settings)
