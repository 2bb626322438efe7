"""Running a turn: reserve it (compare-and-set on the session), call the backend under a time
limit, store the output, measure drift, and record the outcome in one transaction."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from backends.base import Capability, EditRequest
from studio.db import new_id, utcnow
from studio.db.models import StoredImage
from studio.editing import drift as driftlib
from studio.editing import images as imgs
from studio.editing.models import EditSession, EditTurn
from studio.editing.runner import DEFAULT_TIMEOUT_S, TurnFailed, call_with_timeout, clean_params, split_params
from studio.editing.sessions import EditingError, _bump, _load, _owner, _turns, _with_retries
from studio.editing.views import SessionView, TurnView


_ENCODER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="edit-png")


@dataclass(frozen=True)
class TurnOutcome:
    """A session after a turn, the turn itself, and messages for the user."""

    session: SessionView
    turn: TurnView
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """What running a reserved turn needs, read once when it was reserved."""

    turn: TurnView
    source_image: str
    parent_region: str | None


def _check_backend(studio, backend: str) -> Any:
    entry = studio.backends.entry(backend)
    if not entry.capabilities & {Capability.EDIT, Capability.INPAINT}:
        raise EditingError(f"backend '{backend}' cannot edit images; pick an edit-capable backend")
    return entry


def submit_turn(
    studio, owner: str, session_id: str, instruction: str, backend: str, *, shown: str | None,
    params: dict[str, Any] | None = None, mask: Image.Image | None = None,
    references: Sequence[Image.Image] = (), timeout_s: float = DEFAULT_TIMEOUT_S,
) -> TurnOutcome:
    """Apply ``instruction`` to the image of ``shown`` (the turn the sender sees; None: source).

    The new turn becomes the head. If another tab moved the session meanwhile, its turns are
    kept on their own branch and the notice says so. A failing backend fails only this turn.
    """
    owner = _owner(owner)
    instruction = (instruction or "").strip()
    if not instruction:
        raise EditingError("write an instruction: what should change in the image?")
    entry = _check_backend(studio, backend)
    try:
        params = clean_params(params or {})
    except ValueError as exc:
        raise EditingError(str(exc)) from None
    params["timeout_s"] = float(timeout_s)
    notices: list[str] = []
    if mask is not None and Capability.INPAINT not in entry.capabilities:
        notices.append(f"backend '{backend}' does not declare inpainting; it may ignore the mask")
    mask_sha = imgs.store(studio, mask.convert("L")) if mask is not None else None
    ref_shas = [imgs.store(studio, imgs.open_upload(studio, r)[0]) for r in references]

    def attempt() -> tuple[_Job, list[str]] | None:
        with studio.db.session() as s:
            sess = _load(s, owner, session_id)
            tree = {r.id: r for r in s.execute(  # the tree's shape only: cheap however long the session
                select(EditTurn.id, EditTurn.parent_id, EditTurn.status, EditTurn.output_image,
                       EditTurn.edited_region, EditTurn.seq).where(EditTurn.session_id == sess.id))}
            if shown is not None and shown not in tree:
                raise EditingError("the turn you are looking at is not part of this session; reload it")
            base = shown
            while base is not None and tree[base].status != "done":
                base = tree[base].parent_id
            extra: list[str] = []
            if sess.head_turn_id != shown:
                head = tree.get(sess.head_turn_id) if sess.head_turn_id else None
                now_at = "the source image" if head is None else f"turn #{head.seq}"
                extra.append(f"this session changed in another tab (it was at {now_at}); your edit starts "
                             "its own branch from the image you saw, and the other branch is kept")
            turn = EditTurn(id=new_id(), session_id=sess.id, parent_id=base, seq=sess.turn_count + 1,
                            instruction=instruction, backend=backend, params=params,
                            input_image=tree[base].output_image if base else sess.source_image,
                            mask_image=mask_sha, reference_images=ref_shas, status="running", attempts=1,
                            honored=[], ignored=[], notices=[], error="", started_at=utcnow(),
                            created_at=utcnow())
            if not _bump(s, sess, head_turn_id=turn.id, turn_count=sess.turn_count + 1):
                s.rollback()
                return None
            s.add(turn)
            s.flush()
            parent_region = tree[base].edited_region if base else None
            return _Job(TurnView.of(turn), sess.source_image, parent_region), extra

    job, extra = _with_retries(attempt)
    return _execute(studio, owner, session_id, job, notices + extra)


def retry_turn(
    studio, owner: str, session_id: str, turn_id: str, *, backend: str | None = None,
    timeout_s: float | None = None,
) -> TurnOutcome:
    """Run a failed turn again in place (optionally on another backend)."""
    owner = _owner(owner)
    with studio.db.session() as s:
        sess = _load(s, owner, session_id)
        turn = s.get(EditTurn, turn_id)
        if turn is None or turn.session_id != sess.id:
            raise EditingError(f"turn {turn_id!r} is not part of this session")
        values: dict[str, Any] = {"status": "running", "attempts": EditTurn.attempts + 1, "error": "",
                                  "started_at": utcnow(), "finished_at": None}
        if backend:
            _check_backend(studio, backend)
            values["backend"] = backend
        if timeout_s is not None:
            values["params"] = {**(turn.params or {}), "timeout_s": float(timeout_s)}
        res = s.execute(update(EditTurn).where(EditTurn.id == turn_id, EditTurn.status == "failed").values(**values))
        if res.rowcount != 1:
            raise EditingError(f"turn #{turn.seq} is {turn.status}; only failed turns can be retried")
        s.refresh(turn)
        parent = s.get(EditTurn, turn.parent_id) if turn.parent_id else None
        job = _Job(TurnView.of(turn), sess.source_image, parent.edited_region if parent else None)
    return _execute(studio, owner, session_id, job, [])


def _execute(studio, owner: str, session_id: str, job: _Job, notices: list[str]) -> TurnOutcome:
    """Call the backend for a reserved turn, then record its output and drift, or its failure."""
    turn = job.turn
    params = dict(turn.params)
    timeout_s = float(params.get("timeout_s", DEFAULT_TIMEOUT_S))
    fields, extras = split_params(params)
    started = time.perf_counter()
    stored = None
    try:
        image = imgs.open_stored(studio, turn.input_image)
        mask = imgs.open_stored(studio, turn.mask_image).convert("L") if turn.mask_image else None
        if mask is not None and mask.size != image.size:  # painted on a canvas of another size
            mask = mask.resize(image.size, Image.NEAREST)
        refs = [imgs.open_stored(studio, r) for r in turn.reference_images]
        try:
            engine = studio.backends.get(turn.backend)
        except Exception as exc:  # BackendLoadError: name, reason, what to do
            raise TurnFailed(str(exc)) from exc
        result = call_with_timeout(
            lambda cancel: engine.edit(EditRequest(
                image=image, instruction=turn.instruction, mask=mask, reference_images=refs,
                params=extras, cancel=cancel, **fields)),
            timeout_s, f"backend '{turn.backend}'",
        )
        if not isinstance(getattr(result, "image", None), Image.Image):
            raise TurnFailed(f"backend '{turn.backend}' returned no image")
        duration = time.perf_counter() - started
        values, stored = _finish(studio, job, result, image, mask)
        values["duration_s"] = duration
    except TurnFailed as exc:
        values = {"status": "failed", "error": exc.reason, "duration_s": time.perf_counter() - started}
    values["finished_at"] = utcnow()
    with studio.db.session() as s:
        if stored is not None and s.get(StoredImage, stored.sha256) is None:
            try:
                with s.begin_nested():
                    s.add(imgs.image_row(stored))
            except IntegrityError:  # the same bytes were recorded by another writer just now
                pass
        s.execute(update(EditTurn).where(EditTurn.id == turn.id).values(**values))
        s.execute(update(EditSession).where(EditSession.id == session_id)
                  .values(version=EditSession.version + 1, updated_at=utcnow()))
        sess = _load(s, owner, session_id)
        view = SessionView.of(sess, _turns(s, session_id))
    return TurnOutcome(view, view.turns[turn.id], notices)


def _finish(studio, job: _Job, result, image: Image.Image, mask: Image.Image | None) -> tuple[dict[str, Any], Any]:
    """Store the output and the cumulative edit region; measure drift against the source."""
    out = result.image.convert("RGB")
    if result.scene_graph and not isinstance(out.info.get("scene_graph"), str):
        out.info["scene_graph"] = json.dumps(result.scene_graph, sort_keys=True)
    encoding = _ENCODER.submit(imgs.encode, out)  # zlib and numpy both release the GIL: overlap them
    src_arr = imgs.analysis_array(studio, job.source_image)
    size = (src_arr.shape[1], src_arr.shape[0])
    out_arr = driftlib.to_array(out, size)
    if mask is not None:
        region = driftlib.mask_region(mask, size)
    else:
        in_arr = imgs.analysis_array(studio, job.turn.input_image, image)
        if in_arr.shape != src_arr.shape:
            in_arr = driftlib.to_array(image, size)
        region = driftlib.changed_region(in_arr, out_arr)
    if job.parent_region:
        region = region | imgs.open_region(studio, job.parent_region)
    drift = driftlib.measure_drift(src_arr, out_arr, region)
    region_sha = imgs.store_region(studio, region)
    stored = imgs.write(studio, encoding.result(), out)
    if driftlib.analysis_size(out.size) == size:
        imgs.remember_analysis(studio, stored.sha256, out_arr)
    notices = list(result.notices)
    if getattr(result, "procedural", False):
        notices.append("drawn by the procedural scene renderer, not a neural model")
    if out.size != image.size:
        notices.append(f"the backend returned {out.width}×{out.height} from a {image.width}×{image.height} input")
    return {
        "status": "done", "error": "", "output_image": stored.sha256, "edited_region": region_sha,
        "honored": [str(h) for h in result.honored], "ignored": [str(i) for i in result.ignored],
        "notices": [str(n) for n in notices], "drift": drift.as_dict(),
    }, stored
