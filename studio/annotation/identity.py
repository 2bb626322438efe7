"""Who is annotating and with which role (admin or annotator), for each of the three auth modes.

- ``password``: users from ``settings.users`` ("name:password[:role],..."); the web server checks the
  password (see :func:`password_checker`) and the handlers receive the signed-in name.
- ``hf-oauth``: the Hugging Face username from the OAuth profile; admins are listed in ``settings.admins``.
- ``open``: a typed name, unverified; everyone gets ``settings.open_mode_role``.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Callable

from studio.annotation import AnnotationError

ROLES = ("admin", "annotator")
_NAME_RE = re.compile(r"^[\w.@+\- ]{1,64}$")


@dataclass(frozen=True)
class Identity:
    """A signed-in (or, in open mode, self-declared) person."""

    name: str
    role: str
    via: str  # password | hf-oauth | open

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def parse_users(spec: str) -> dict[str, tuple[str, str]]:
    """``"alice:pw:admin,bob:pw2"`` -> {name: (password, role)}; the role defaults to annotator."""
    users: dict[str, tuple[str, str]] = {}
    for raw in (spec or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        parts = raw.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise AnnotationError(f"STUDIO_USERS: expected name:password[:role], got {parts[0]!r}…")
        role = parts[2].strip() if len(parts) == 3 else "annotator"
        if role not in ROLES:
            raise AnnotationError(f"STUDIO_USERS: role of {parts[0]!r} must be admin or annotator")
        users[parts[0].strip()] = (parts[1], role)
    return users


def _admins(settings) -> set[str]:
    return {a.strip() for a in (settings.admins or "").split(",") if a.strip()}


def password_checker(settings) -> Callable[[str, str], bool] | None:
    """The web server's login check in password mode (None in other modes)."""
    if settings.auth_mode != "password":
        return None
    users = parse_users(settings.users)
    if not users:
        raise AnnotationError("STUDIO_AUTH_MODE=password needs STUDIO_USERS (name:password[:role],...)")

    def check(name: str, password: str) -> bool:
        entry = users.get((name or "").strip())
        expected = entry[0] if entry else "\0invalid"
        ok = hmac.compare_digest(expected.encode(), (password or "").encode())
        return bool(entry) and ok

    return check


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
        raise AnnotationError("names use letters, digits, spaces and . _ - @ + (at most 64 characters)")
    return Identity(name, settings.open_mode_role, "open")
