"""Who is calling, with which role, and what each role may do: the studio's one access policy.

Identity, for each of the three auth modes:

- ``password``: users from ``settings.users`` ("name:password[:role],..."); the web server checks the
  password (see :func:`password_checker`) and every handler receives the signed-in name.
- ``hf-oauth``: the Hugging Face username from the OAuth profile; admins are listed in ``settings.admins``.
- ``open``: nobody signs in; everyone gets ``settings.open_mode_role``, and a typed name (unverified)
  says whose votes and sessions these are.

The policy: every event the UI wires names one action of :data:`POLICY`; the UI's guard
(``studio.ui.access.guard``) checks the caller's role against it before the handler runs, and holds
the per-user slot of actions with a concurrency limit. The table is the one place to read what a role
may do; a test fails when an event of the app has no entry.
"""
from __future__ import annotations

import functools
import hmac
import re
import threading
from dataclasses import dataclass
from typing import Callable

ROLES = ("admin", "annotator")
#: "anyone": whoever can open the page (in hf-oauth mode, also before signing in)
RANKS = {"anyone": 0, "annotator": 1, "admin": 2}
_NAME_RE = re.compile(r"^[\w.@+\- ]{1,64}$")


class AuthError(ValueError):
    """A setting or a typed name cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Action:
    """What an action needs: a role, and for long work a limit of running calls per user and seconds.

    ``quiet``: a refusal shows no pop-up (page refreshes chained after other events, timers); the
    caller still receives the role message over the API.
    """

    role: str
    per_user: int | None = None
    time_limit_s: float | None = None
    quiet: bool = False


# The access policy. anyone < annotator < admin; admins may do everything.
POLICY: dict[str, Action] = {
    "page_script":        Action("anyone"),     # runs in the browser only (key bindings, saving a name)
    "open_page":          Action("anyone", quiet=True),  # page load: who am I, my open batches, my sessions
    "browse":             Action("anyone"),     # taxonomy tree, k distribution, examples, backend defaults
    "annotate":           Action("annotator"),  # start, vote, skip, undo in the batches one is assigned
    "own_work":           Action("annotator"),  # one's own edit sessions (start, open, undo, branch); stop a run
    "edit_turn":          Action("annotator", per_user=2, time_limit_s=900),  # send or retry a turn (two tabs)
    "reason_run":         Action("annotator", per_user=1, time_limit_s=900),  # ask the reasoner, render a rationale
    "synthesis_preview":  Action("annotator", per_user=1, time_limit_s=300),
    "backend_check":      Action("annotator", per_user=1, time_limit_s=600),
    "backend_reload":     Action("admin"),      # re-read the backends config (changes every user's lists)
    "annotate_admin":     Action("admin", quiet=True),  # import batches, their settings, admin lists
    "annotate_generate":  Action("admin", per_user=1, time_limit_s=3600),  # generate or resume a batch
    "results":            Action("admin", quiet=True),  # leaderboards, revealed pairs, vote exports
    "datasets":           Action("admin"),      # import/export datasets and samples; send to batches
    "synthesis_batches":  Action("admin", quiet=True),  # run, watch, cancel, resume, retry; coverage
    "taxonomy_reload":    Action("admin"),
    "finetune":           Action("admin", quiet=True),  # runs: launch, stop, resume, delete; presets
    "evaluations":        Action("admin"),      # evaluation runs: create, resume, retry failed, stop
    "judge_vote":         Action("admin", per_user=1, time_limit_s=3600),  # an AI judge votes on a batch
    "arena_admin":        Action("admin"),      # open arenas: open one, close it, open it again
    "arena_status":       Action("admin", quiet=True),  # the arenas' list, status and board (tab refreshes)
}


def refusal(action: str, role: str | None) -> str | None:
    """None when ``role`` may do ``action``; otherwise the message saying which role it needs."""
    need = POLICY[action].role
    if RANKS[need] <= RANKS.get(role or "anyone", 0):
        return None
    if role is None:
        return f"This needs the {need} role: sign in first."
    return f"This needs the {need} role (you are signed in as {role}); nothing was changed."


class Slots:
    """Running calls per (action, user), for the actions with a ``per_user`` limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], int] = {}

    def take(self, action: str, user: str) -> str | None:
        """Take a slot; None on success, else the message for a user over the limit."""
        limit = POLICY[action].per_user
        if limit is None:
            return None
        with self._lock:
            n = self._running.get((action, user), 0)
            if n >= limit:
                return (f"You already have {n} running ({action.replace('_', ' ')}); "
                        "wait for it to finish or stop it.")
            self._running[(action, user)] = n + 1
        return None

    def give(self, action: str, user: str) -> None:
        if POLICY[action].per_user is None:
            return
        with self._lock:
            n = self._running.get((action, user), 0) - 1
            if n <= 0:
                self._running.pop((action, user), None)
            else:
                self._running[(action, user)] = n


@dataclass(frozen=True)
class Identity:
    """A signed-in (or, in open mode, self-declared) person."""

    name: str
    role: str
    via: str  # password | hf-oauth | open

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@functools.lru_cache(maxsize=8)
def parse_users(spec: str) -> dict[str, tuple[str, str]]:
    """``"alice:pw:admin,bob:pw2"`` -> {name: (password, role)}; the role defaults to annotator.

    Parsed once per spec: every guarded event asks for the caller's role. Callers must not change
    the dict returned."""
    users: dict[str, tuple[str, str]] = {}
    for raw in (spec or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        parts = raw.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise AuthError(f"STUDIO_USERS: expected name:password[:role], got {parts[0]!r}…")
        role = parts[2].strip() if len(parts) == 3 else "annotator"
        if role not in ROLES:
            raise AuthError(f"STUDIO_USERS: role of {parts[0]!r} must be admin or annotator")
        users[parts[0].strip()] = (parts[1], role)
    return users


def _admins(settings) -> frozenset[str]:
    return _parse_admins(settings.admins or "")


@functools.lru_cache(maxsize=8)
def _parse_admins(spec: str) -> frozenset[str]:
    return frozenset(a.strip() for a in spec.split(",") if a.strip())


def password_checker(settings) -> Callable[[str, str], bool] | None:
    """The web server's login check in password mode (None in other modes)."""
    if settings.auth_mode != "password":
        return None
    users = parse_users(settings.users)
    if not users:
        raise AuthError("STUDIO_AUTH_MODE=password needs STUDIO_USERS (name:password[:role],...)")

    def check(name: str, password: str) -> bool:
        entry = users.get((name or "").strip())
        expected = entry[0] if entry else "\0invalid"
        ok = hmac.compare_digest(expected.encode(), (password or "").encode())
        return bool(entry) and ok

    return check


def role_of(settings, *, username: str | None = None, oauth_username: str | None = None) -> str | None:
    """The caller's role from what the web server knows (no typed name needed); None: not signed in."""
    mode = settings.auth_mode
    if mode == "open":
        return settings.open_mode_role
    who = identify(settings, username=username, oauth_username=oauth_username)
    return who.role if who else None


def identify(settings, *, username: str | None = None, oauth_username: str | None = None,
             typed_name: str | None = None) -> Identity | None:
    """The identity for the current request under the configured auth mode (None: not signed in)."""
    mode = settings.auth_mode
    if mode == "password":
        if not username:
            return None
        users = parse_users(settings.users)
        if username not in users:
            return None
        role = "admin" if users[username][1] == "admin" or username in _admins(settings) else "annotator"
        return Identity(username, role, "password")
    if mode == "hf-oauth":
        if not oauth_username:
            return None
        return Identity(oauth_username, "admin" if oauth_username in _admins(settings) else "annotator", "hf-oauth")
    name = (typed_name or "").strip()
    if not name:
        return None
    if not _NAME_RE.match(name):
        raise AuthError("names use letters, digits, spaces and . _ - @ + (at most 64 characters)")
    return Identity(name, settings.open_mode_role, "open")
