"""What the UI shows about configured backends: a table by capability and a load check."""
from __future__ import annotations

from backends.base import BackendError, Capability
from backends.registry import BackendRegistry

COLUMNS = ["backend", "label", "engine", "capabilities", "state"]


def backend_table(registry: BackendRegistry) -> list[list[str]]:
    """One row per configured backend, grouped by its first capability in Capability order."""
    order = {c: i for i, c in enumerate(Capability)}
    entries = sorted(
        registry.entries(),
        key=lambda e: (min((order[c] for c in e.capabilities), default=99), e.name),
    )
    return [
        [e.name, e.label, e.engine, ", ".join(sorted(c.value for c in e.capabilities)), registry.state(e.name)]
        for e in entries
    ]


def check_backend(registry: BackendRegistry, name: str) -> str:
    """Load a backend now and say whether it is ready, or why not and what to do."""
    if not name:
        return "Pick a backend to check."
    try:
        backend = registry.get(name)
    except BackendError as exc:
        msg = f"**{exc.backend}** cannot load: {exc.reason}."
        return msg + (f" **What to do:** {exc.fix}." if exc.fix else "")
    # what the studio offers it for: the entry's capabilities (the class's, unless the config narrows them)
    caps = ", ".join(sorted(c.value for c in registry.entry(name).capabilities))
    return f"**{backend.name}** is ready ({caps})."
