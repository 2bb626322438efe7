"""Start-up check: is the database already at every migration head?

Loading Alembic and its revision scripts costs more at start-up than the rest of opening the database,
and almost every start finds the database current. The heads are read from the revision files' own
``revision``/``down_revision`` lines and compared with the version table; Alembic runs only when they
differ (a new install, a new migration, a database another version left behind).
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default; migrations/env.py does not rename it


def _revision_ids(path: Path) -> tuple[str, tuple[str, ...]]:
    """(revision, its down revisions) from a revision script's module-level assignments."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    down = found.get("down_revision") or ()
    return str(found["revision"]), (down,) if isinstance(down, str) else tuple(down)


@functools.cache
def script_heads(versions_dir: Path = VERSIONS_DIR) -> frozenset[str]:
    """Revisions no other revision names as its ``down_revision`` (what ``alembic heads`` lists)."""
    revisions = [_revision_ids(p) for p in sorted(versions_dir.glob("*.py"))]
    parents = {d for _, downs in revisions for d in downs}
    return frozenset(rev for rev, _ in revisions if rev not in parents)


def at_heads(engine: Engine) -> bool:
    """True when the version table lists exactly the scripts' heads (False: run the migrations)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return False
        stored = {row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}
    return stored == script_heads()
