"""Running a turn: reserve it (compare-and-set on the session), call the backend under a time
limit, store the output, measure drift, and record the outcome in one transaction.

The entry points take the ``Studio`` and hand its typed pieces down: the database, the backend registry
and the edit chat's images."""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from PIL import Image
from sqlalchemy import insert, select, update

from backends.base import Capability, EditRequest
from backends.registry import BackendEntry, BackendRegistry
from studio.db import Database, new_id, utcnow
from studio.editing import drift as driftlib
from studio.editing import images as imgs
from studio.editing.images import EditImages
from studio.editing.models import EditSession, EditTurn
from studio.editing.runner import DEFAULT_TIMEOUT_S, TurnFailed, call_with_timeout, clean_params, split_params
from studio.editing.sessions import EditingError, SessionNotFound, _load, _owner, _with_retries, load_session
from studio.editing.viewcache import cached_view, remember_view
from studio.editing.views import SessionView, TurnView

_sessions, _turns = EditSession.__table__, EditTurn.__table__
#: what recording a finished (or failed) turn writes
_DONE_COLUMNS = ("status", "error", "output_image", "edited_region", "honored", "ignored", "notices", "drift",
                 "duration_s", "finished_at")
_FAILED_COLUMNS = ("status", "error", "duration_s", "finished_at")


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
    #: the session as it was when the turn was reserved, and the version the reservation made
    prior: SessionView | None = None
    reserved_version: int | None = None


@dataclass(frozen=True)
class _Node:
    """A turn's place in the tree, all a reservation needs of it."""

    parent_id: str | None
    status: str
    output_image: str | None
    edited_region: str | None
    seq: int


def _check_backend(backends: BackendRegistry, backend: str) -> BackendEntry:
    entry = backends.entry(backend)
    if not entry.capabilities & {Capability.EDIT, Capability.INPAINT}:
        raise EditingError(f"backend '{backend}' cannot edit images; pick an edit-capable backend")
    return entry


def submit_turn(
    studio, owner: str, session_id: str, instruction: str, backend: str, *, shown: str | None,
    params: dict[str, Any] | None = None, mask: Image.Image | None = None,
    references: Sequence[Image.Image] = (), timeout_s: float = DEFAULT_TIMEOUT_S,
) -> TurnOutcome:
    """Apply ``instruction`` to the image of ``shown`` (the turn the sender sees; None: source).

    1. Check the request: an instruction, an edit-capable backend, parameters of the right types.
    2. Store the mask and the reference images (the turn refers to them by SHA-256).
    3. Reserve the turn: a compare-and-set on the session makes it the head (:func:`_reserve`).
    4. Run it: the backend under its time limit, then the output, its region and drift stored and
       recorded in one transaction (:func:`_run`).

    If another tab moved the session meanwhile, its turns are kept on their own branch and the notice
    says so. A failing backend fails only this turn.
    """
    db, backends, images = studio.db, studio.backends, studio.edit_images
    owner = _owner(owner)
    session_id = (session_id or "").strip()
    instruction = (instruction or "").strip()
    if not instruction:
        raise EditingError("write an instruction: what should change in the image?")
    entry = _check_backend(backends, backend)
    try:
        params = clean_params(params or {})
    except ValueError as exc:
        raise EditingError(str(exc)) from None
    params["timeout_s"] = float(timeout_s)
    notices: list[str] = []
    if mask is not None and Capability.INPAINT not in entry.capabilities:
        notices.append(f"backend '{backend}' does not declare inpainting; it may ignore the mask")
    mask_sha = images.store(mask.convert("L")) if mask is not None else None
    ref_shas = [images.store(images.open_upload(r)[0]) for r in references]
    job, extra = _reserve(db, owner, session_id, shown, instruction, backend, params, mask_sha, ref_shas)
    return _run(db, backends, images, owner, session_id, job, notices + extra)


def _reserve(db: Database, owner: str, session_id: str, shown: str | None, instruction: str, backend: str,
             params: dict[str, Any], mask_sha: str | None, ref_shas: list[str]) -> tuple[_Job, list[str]]:
    """Insert the turn as running and make it the head, retrying when another writer moved the session."""

    def attempt() -> tuple[_Job, list[str]] | None:
        with db.engine.begin() as c:
            row = c.execute(select(_sessions.c.owner, _sessions.c.version, _sessions.c.turn_count,
                                   _sessions.c.head_turn_id, _sessions.c.source_image)
                            .where(_sessions.c.id == session_id)).first()
            if row is None or row.owner != owner:
                raise SessionNotFound(f"no edit session {session_id!r} for {owner!r}")
            prior = cached_view(db, session_id, row.version)
            if prior is not None:
                tree = {t.id: _Node(t.parent_id, t.status, t.output_image, t.edited_region_sha, t.seq)
                        for t in prior.turns.values()}
            else:  # the tree's shape only: cheap however long the session
                tree = {r.id: _Node(r.parent_id, r.status, r.output_image, r.edited_region, r.seq)
                        for r in c.execute(select(_turns.c.id, _turns.c.parent_id, _turns.c.status,
                                                  _turns.c.output_image, _turns.c.edited_region, _turns.c.seq)
                                           .where(_turns.c.session_id == session_id))}
            if shown is not None and shown not in tree:
                raise EditingError("the turn you are looking at is not part of this session; reload it")
            base = shown
            while base is not None and tree[base].status != "done":
                base = tree[base].parent_id
            extra: list[str] = []
            if row.head_turn_id != shown:
                head = tree.get(row.head_turn_id) if row.head_turn_id else None
                now_at = "the source image" if head is None else f"turn #{head.seq}"
                extra.append(f"this session changed in another tab (it was at {now_at}); your edit starts "
                             "its own branch from the image you saw, and the other branch is kept")
            now = utcnow()
            values = dict(id=new_id(), session_id=session_id, parent_id=base, seq=row.turn_count + 1,
                          instruction=instruction, backend=backend, params=params,
                          input_image=tree[base].output_image if base else row.source_image,
                          mask_image=mask_sha, reference_images=ref_shas, output_image=None,
                          edited_region=None, status="running", error="", attempts=1, honored=[],
                          ignored=[], notices=[], drift=None, duration_s=None, created_at=now,
                          started_at=now, finished_at=None)
            # compare-and-set: move the head to the new turn only if nobody wrote since we read the row
            moved = c.execute(update(_sessions).where(_sessions.c.id == session_id, _sessions.c.version == row.version)
                              .values(version=row.version + 1, head_turn_id=values["id"],
                                      turn_count=row.turn_count + 1, updated_at=now))
            if moved.rowcount != 1:
                c.rollback()
                return None
            c.execute(insert(_turns), values)
            parent_region = tree[base].edited_region if base else None
            turn = TurnView.of_row(values)
            return _Job(turn, row.source_image, parent_region, prior, row.version + 1), extra

    return _with_retries(attempt)


def retry_turn(
    studio, owner: str, session_id: str, turn_id: str, *, backend: str | None = None,
    timeout_s: float | None = None,
) -> TurnOutcome:
    """Run a failed turn again in place (optionally on another backend).

    1. Mark the failed turn running again (only a failed turn can be retried), on ``backend`` if given.
    2. Run it as :func:`submit_turn` does (:func:`_run`).
    """
    db, backends, images = studio.db, studio.backends, studio.edit_images
    owner = _owner(owner)
    with db.session() as s:
        sess = _load(s, owner, session_id)
        turn = s.get(EditTurn, turn_id)
        if turn is None or turn.session_id != sess.id:
            raise EditingError(f"turn {turn_id!r} is not part of this session")
        values: dict[str, Any] = {"status": "running", "attempts": EditTurn.attempts + 1, "error": "",
                                  "started_at": utcnow(), "finished_at": None}
        if backend:
            _check_backend(backends, backend)
            values["backend"] = backend
        if timeout_s is not None:
            values["params"] = {**(turn.params or {}), "timeout_s": float(timeout_s)}
        res = s.execute(update(EditTurn).where(EditTurn.id == turn_id, EditTurn.status == "failed").values(**values))
        if res.rowcount != 1:
            raise EditingError(f"turn #{turn.seq} is {turn.status}; only failed turns can be retried")
        s.execute(update(EditSession).where(EditSession.id == sess.id)
                  .values(version=EditSession.version + 1, updated_at=utcnow()))
        s.refresh(turn)
        parent = s.get(EditTurn, turn.parent_id) if turn.parent_id else None
        job = _Job(TurnView.of(turn), sess.source_image, parent.edited_region if parent else None)
    return _run(db, backends, images, owner, session_id, job, [])


def _run(db: Database, backends: BackendRegistry, images: EditImages, owner: str, session_id: str, job: _Job,
         notices: list[str]) -> TurnOutcome:
    """Call the backend for a reserved turn, then record its output and drift, or its failure."""
    turn = job.turn
    params = dict(turn.params)
    timeout_s = float(params.get("timeout_s", DEFAULT_TIMEOUT_S))
    fields, extras = split_params(params)
    started = time.perf_counter()
    stored = None
    try:
        image = images.open_stored(turn.input_image)
        mask = images.open_stored(turn.mask_image).convert("L") if turn.mask_image else None
        if mask is not None and mask.size != image.size:  # painted on a canvas of another size
            mask = mask.resize(image.size, Image.NEAREST)
        refs = [images.open_stored(r) for r in turn.reference_images]
        try:
            engine = backends.get(turn.backend)
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
        values, stored = _finish(images, job, result, image, mask)
        values["duration_s"] = duration
    except TurnFailed as exc:
        values = {"status": "failed", "error": exc.reason, "duration_s": time.perf_counter() - started}
    values["finished_at"] = utcnow()
    columns = _DONE_COLUMNS if values["status"] == "done" else _FAILED_COLUMNS
    with db.engine.begin() as c:
        if stored is not None:
            images.record([stored], conn=c)
        c.execute(update(_turns).where(_turns.c.id == turn.id).values({k: values.get(k) for k in columns}))
        version = c.execute(update(_sessions).where(_sessions.c.id == session_id)
                            .values(version=_sessions.c.version + 1, updated_at=utcnow())
                            .returning(_sessions.c.version)).scalar_one_or_none()
    if version is None:  # deleted meanwhile (by its owner, in another tab)
        raise SessionNotFound(f"no edit session {session_id!r} for {owner!r}")
    if job.prior is not None and version == job.reserved_version + 1:
        # nobody else wrote in between: the snapshot plus this turn is the session now
        done = dataclasses.replace(turn, **{_VIEW_FIELDS.get(k, k): v for k, v in values.items()
                                            if _VIEW_FIELDS.get(k, k) in _TURN_VIEW_FIELDS})
        view = dataclasses.replace(job.prior, head=turn.id, version=version,
                                   turns={**job.prior.turns, turn.id: done})
        remember_view(db, view)
    else:
        view = load_session(db, owner, session_id)
    return TurnOutcome(view, view.turns[turn.id], notices)


_VIEW_FIELDS = {"edited_region": "edited_region_sha"}
_TURN_VIEW_FIELDS = {f.name for f in dataclasses.fields(TurnView)}


def _finish(images: EditImages, job: _Job, result, image: Image.Image,
            mask: Image.Image | None) -> tuple[dict[str, Any], Any]:
    """Store the output and the cumulative edit region; measure drift against the source.

    All on this thread: the pieces are small, and a worker thread would only add hand-offs
    (bench/README.md, Edit chat).
    """
    out = result.image
    if out.mode != "RGB" or out is image:  # a copy where we would otherwise label the input's own object
        out = out.convert("RGB")
    if result.scene_graph and not isinstance(out.info.get("scene_graph"), str):
        out.info["scene_graph"] = json.dumps(result.scene_graph, sort_keys=True)
    stored = images.write(imgs.encode(out), out)
    src_arr = images.analysis_array(job.source_image)
    size = (src_arr.shape[1], src_arr.shape[0])
    out_arr = driftlib.to_array(out, size)
    in_arr = images.analysis_array(job.turn.input_image, image)
    if in_arr.shape != src_arr.shape:
        in_arr = driftlib.to_array(image, size)
    box = driftlib.changed_box(in_arr, out_arr) if in_arr.shape == out_arr.shape else False
    region = driftlib.mask_region(mask, size) if mask is not None else driftlib.changed_region(in_arr, out_arr, box)
    region_sha = None
    if job.parent_region:
        parent = images.open_region(job.parent_region)
        if not (region & ~parent).any():  # nothing new edited: the cumulative region is the parent's
            region, region_sha = parent, job.parent_region
        else:
            region = region | parent
    if region_sha is None:
        region_sha = images.store_region(region)
    prev = images.drift_maps(job.source_image, job.turn.input_image, src_arr)
    maps = driftlib.drift_maps(src_arr, out_arr, prev, in_arr if prev is not None else None, box)
    drift = driftlib.drift_from_maps(maps, src_arr, out_arr, region)
    if driftlib.analysis_size(out.size) == size:
        images.remember_analysis(stored.sha256, out_arr)
        images.remember_drift_maps(job.source_image, stored.sha256, maps)
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
