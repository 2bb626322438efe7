"""Edit sessions: start one, run turns, undo, branch, pick the continuing branch, list, delete.

Every write compares-and-sets ``EditSession.version`` so two browser tabs (or two server
processes) on one session never lose a turn: turns get their ``seq`` in the order they were
accepted, and a turn always applies to the image its sender was looking at. Sessions belong
to their owner: another user's session id behaves exactly like one that does not exist.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any, Callable

from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from backends.base import Capability, GenerationRequest
from studio.db import Database, utcnow
from studio.db.models import Sample
from studio.editing.models import EditSession, EditTurn
from studio.editing.runner import (
    DEFAULT_TIMEOUT_S,
    TurnFailed,
    call_with_timeout,
    clean_params,
    split_params,
)
from studio.editing.views import SessionSummary, SessionView
from studio.editing.viewcache import forget_view, remember_view

log = logging.getLogger(__name__)

_MAX_CAS_TRIES = 50
#: a turn still "running" this long past its time limit was cut off (server stopped)
_STALE_GRACE = timedelta(seconds=120)


class EditingError(ValueError):
    """Something the user asked for cannot be done; the message says why."""


class SessionNotFound(EditingError):
    """No such session for this user (also what another user's session looks like)."""


def _owner(owner: str) -> str:
    owner = (owner or "").strip()
    if not owner:
        raise EditingError("enter your name first: sessions belong to the person who made them")
    return owner[:128]


def _load(s, owner: str, session_id: str) -> EditSession:
    sess = s.get(EditSession, (session_id or "").strip()) if session_id else None
    if sess is None or sess.owner != owner:
        raise SessionNotFound(f"no edit session {session_id!r} for {owner!r}")
    return sess


def _turns(s, session_id: str) -> list[EditTurn]:
    return list(s.scalars(select(EditTurn).where(EditTurn.session_id == session_id).order_by(EditTurn.seq)))


def _with_retries(fn: Callable[[], Any]) -> Any:
    """Run one compare-and-set transaction until it wins (None from ``fn`` means: lost, retry)."""
    for attempt in range(_MAX_CAS_TRIES):
        try:
            result = fn()
        except IntegrityError:  # another writer took the same seq a moment earlier
            result = None
        except OperationalError as exc:  # SQLite busy under heavy contention
            if "locked" not in str(exc).lower():
                raise
            result = None
        if result is not None:
            return result
        time.sleep(0.005 * (attempt + 1))
    raise EditingError("the session is too busy right now; try again")


def _bump(s, sess: EditSession, **values: Any) -> bool:
    """Compare-and-set the session row at the version read; False when another writer won."""
    res = s.execute(
        update(EditSession)
        .where(EditSession.id == sess.id, EditSession.version == sess.version)
        .values(version=sess.version + 1, updated_at=utcnow(), **values)
    )
    return res.rowcount == 1


# -- starting and listing -----------------------------------------------------------------------
def create_session(
    studio, owner: str, image: Image.Image | None, *, origin: str, origin_ref: str = "", title: str = "",
    source_sha: str | None = None,
) -> SessionView:
    """A new session whose source is ``image`` (already loaded safely) or an already stored image."""
    owner = _owner(owner)
    sha = source_sha or studio.edit_images.store(image.convert("RGB"))
    sess = EditSession(owner=owner, title=(title or "untitled")[:200], origin=origin,
                       origin_ref=origin_ref or "", source_image=sha, version=0, turn_count=0)
    with studio.db.session() as s:
        s.add(sess)
    return get_session(studio, owner, sess.id)


def start_from_upload(studio, owner: str, source: Any, name: str = "") -> tuple[SessionView, list[str]]:
    """Start from an uploaded file (path/bytes/PIL); huge images are resized with a notice."""
    image, notices = studio.edit_images.open_upload(source)
    view = create_session(studio, owner, image, origin="upload", origin_ref=name, title=name or "upload")
    return view, notices


def start_from_prompt(
    studio, owner: str, prompt: str, backend: str, *, seed: int = 0, width: int = 512, height: int = 512,
    params: dict[str, Any] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[SessionView, list[str]]:
    """Generate the source image from a prompt with a text-to-image backend."""
    owner = _owner(owner)
    prompt = (prompt or "").strip()
    if not prompt:
        raise EditingError("write a prompt to generate the first image from")
    entry = studio.backends.entry(backend)
    if Capability.TEXT_TO_IMAGE not in entry.capabilities:
        raise EditingError(f"backend '{backend}' cannot make images from text; pick a text-to-image backend")
    fields, extras = split_params(clean_params(params or {}))
    fields.pop("seed", None)
    fields = {k: v for k, v in fields.items() if k in ("steps", "guidance_scale", "negative_prompt")}
    engine = studio.backends.get(backend)
    try:
        result = call_with_timeout(
            lambda cancel: engine.generate(GenerationRequest(
                prompt=prompt, seed=int(seed), width=int(width), height=int(height),
                params=extras, cancel=cancel, **fields)),
            timeout_s, f"backend '{backend}'",
        )
    except TurnFailed as exc:
        raise EditingError(exc.reason) from exc
    image, notices = studio.edit_images.open_upload(result.image)
    notices = list(result.notices) + notices
    view = create_session(studio, owner, image, origin="generated", origin_ref=prompt, title=prompt[:200])
    return view, notices


def start_from_sample(studio, owner: str, sample_id: str) -> tuple[SessionView, list[str]]:
    """Start from a sample in the database: its output image (or its first input)."""
    sample = studio.samples.get((sample_id or "").strip())
    if sample is None:
        raise EditingError(f"no sample {sample_id!r}")
    sha = sample.output_image or (sample.input_images[0] if sample.input_images else None)
    if not sha:
        raise EditingError(f"sample {sample_id} has no image to edit")
    image, notices = studio.edit_images.open_upload(studio.edit_images.open_stored(sha))
    title = (sample.prompt or sample.task)[:200]
    view = create_session(studio, owner, image, origin="sample", origin_ref=sample.id, title=title,
                          source_sha=None if notices else sha)
    return view, notices


def recent_samples(studio, limit: int = 100) -> list[tuple[str, str]]:
    """(label, id) of the newest samples that have an image, for the start-from-sample picker."""
    stmt = (select(Sample.id, Sample.task, Sample.prompt).where(Sample.output_image.is_not(None))
            .order_by(Sample.created_at.desc()).limit(limit))
    with studio.db.session() as s:
        rows = s.execute(stmt).all()
    return [(f"{task}: {(prompt or '')[:60]} ({sid[:8]})", sid) for sid, task, prompt in rows]


def list_sessions(studio, owner: str) -> list[SessionSummary]:
    """The owner's sessions, most recently changed first."""
    owner = _owner(owner)
    with studio.db.session() as s:
        rows = s.scalars(select(EditSession).where(EditSession.owner == owner)
                         .order_by(EditSession.updated_at.desc())).all()
        return [SessionSummary(r.id, r.title, r.turn_count, r.updated_at) for r in rows]


def get_session(studio, owner: str, session_id: str) -> SessionView:
    """The whole session; turns cut off by a server stop are marked failed on the way."""
    return load_session(studio.db, owner, session_id)


def load_session(db: Database, owner: str, session_id: str) -> SessionView:
    """:func:`get_session` on the database alone (what running a turn has at hand)."""
    owner = _owner(owner)
    with db.session() as s:
        sess = _load(s, owner, session_id)
        turns = _turns(s, sess.id)
        now = utcnow()
        stale = False
        for t in turns:
            if t.status != "running":
                continue
            limit = timedelta(seconds=float((t.params or {}).get("timeout_s", DEFAULT_TIMEOUT_S))) + _STALE_GRACE
            started = t.started_at if t.started_at.tzinfo else t.started_at.replace(tzinfo=now.tzinfo)
            if now - started > limit:
                t.status, t.error = "failed", "interrupted: the server stopped while this turn ran"
                t.finished_at = now
                stale = True
        if stale:  # a change like any other: snapshots of the old version must not be reused
            sess.version += 1
            s.flush()
        view = SessionView.of(sess, turns)
    remember_view(db, view)
    return view


def mark_server_stopped(studio) -> int:
    """At start-up: turns left 'running' by a stopped server become failed (retryable at once); returns
    how many. Call it before this process starts any turn."""
    with studio.db.session() as s:
        stale = s.scalars(select(EditTurn).where(EditTurn.status == "running")).all()
        for t in stale:
            t.status, t.error, t.finished_at = "failed", "failed: the server stopped", utcnow()
        for sid in {t.session_id for t in stale}:  # a change like any other: cached views are stale
            s.execute(update(EditSession).where(EditSession.id == sid).values(version=EditSession.version + 1))
            forget_view(studio.db, sid)
    return len(stale)


def delete_session(studio, owner: str, session_id: str) -> None:
    """Delete a session and its turns (stored images stay: samples may use them)."""
    owner = _owner(owner)
    with studio.db.session() as s:
        sess = _load(s, owner, session_id)
        for t in _turns(s, sess.id):
            s.delete(t)
        s.flush()
        s.delete(sess)
    forget_view(studio.db, session_id)


# -- moving the head --------------------------------------------------------------------------
def set_head(studio, owner: str, session_id: str, turn_id: str | None) -> SessionView:
    """Make ``turn_id`` (None: the source image) the tip that continues; other branches stay."""
    owner = _owner(owner)

    def attempt() -> bool | None:
        with studio.db.session() as s:
            sess = _load(s, owner, session_id)
            if turn_id is not None:
                turn = s.get(EditTurn, turn_id)
                if turn is None or turn.session_id != sess.id:
                    raise EditingError(f"turn {turn_id!r} is not part of this session")
            if not _bump(s, sess, head_turn_id=turn_id):
                s.rollback()
                return None
            return True

    _with_retries(attempt)
    return get_session(studio, owner, session_id)


def undo(studio, owner: str, session_id: str, shown: str | None) -> SessionView:
    """Step back from the turn the user is looking at; the undone turn stays in the tree (redo)."""
    view = get_session(studio, owner, session_id)
    if shown is None:
        raise EditingError("nothing to undo: this is the source image")
    if shown not in view.turns:
        raise EditingError(f"turn {shown!r} is not part of this session")
    return set_head(studio, owner, session_id, view.turns[shown].parent_id)
