"""The Arena tab's handlers: an admin opens, watches, closes and reopens open arenas.

Each method turns component values into one call of :mod:`studio.arena.open_arena` and its answer
into component values. Annotators vote in an arena from the Annotate tab (it lists arenas among the
batches); the keeper thread (:mod:`studio.arena.open_keeper`) makes the comparisons.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from backends.base import Capability
from studio.annotation import AnnotationError
from studio.annotation.results import studio_leaderboard
from studio.arena.open_arena import ArenaSpec, arena_status, list_arenas, open_arena, set_open
from studio.arena.open_fill import upcoming_pairs
from studio.arena.open_keeper import keeper
from studio.markup import path_free
from studio.ui.access import current_identity

BOARD_COLUMNS = ["rank", "model", "rating", "95% CI", "battles", "provisional"]


def image_backends(studio) -> list[str]:
    """The backends that can make images (either task), for the backend picker."""
    return sorted({e.name for cap in (Capability.TEXT_TO_IMAGE, Capability.EDIT)
                   for e in studio.backends.by_capability(cap)})


class ArenaController:
    def __init__(self, studio) -> None:
        self.studio = studio
        self.keeper = keeper(studio)

    # ---- lists the page shows ----------------------------------------------------------------

    def backend_choices(self) -> Any:
        """The backend picker's choices, again (after the backends config changed)."""
        return gr.update(choices=image_backends(self.studio))

    def _arena_choices(self, value: str | None = None) -> Any:
        arenas = list_arenas(self.studio)
        ids = [a.id for a in arenas]
        return gr.update(choices=[(f"{a.name} ({a.status})", a.id) for a in arenas],
                         value=value if value in ids else (ids[0] if ids else None))

    def refresh(self, arena: str | None):
        """The arenas' list (keeping the chosen one) and the chosen arena's status and board."""
        choices = self._arena_choices(arena)
        return [choices, *self._view(choices["value"])]

    # ---- what the admin does -------------------------------------------------------------------

    def open(self, name: str, task: str, backends: list[str] | None, source: str, nodes: list[str] | None,
             count: float | None, dataset: str, text: str, file: str | None, criteria: list[str] | None,
             seeds: float | None, buffer: float | None, overlap: float | None, policy: str,
             time_limit: float | None, guidelines: str, request: gr.Request):
        """Open an arena from the form; the keeper starts making its comparisons at once."""
        who = current_identity(self.studio.settings, None, request)
        spec = ArenaSpec(name=name or "", backends=backends or [], source=source, nodes=nodes or [],
                         count=_number(count, 50), dataset=dataset or "", text=text or "", path=file or "",
                         task=task, seeds=_number(seeds, 1), buffer=_number(buffer, 4), overlap=_number(overlap, 1),
                         policy=policy, criteria=criteria or None, guidelines=guidelines or "",
                         time_limit_s=_number(time_limit, 300))
        try:
            arena_id = open_arena(self.studio, spec, by=who.name if who else "")
        except AnnotationError as exc:
            raise gr.Error(path_free(exc)) from None
        self.keeper.wake()
        message = (f"Arena {spec.name.strip()!r} is open. Its first comparisons are being made now; annotators "
                   "find it in the Annotate tab's batch list.")
        return [message, self._arena_choices(arena_id), *self._view(arena_id)]

    def close(self, arena: str | None):
        return self._set_open(arena, False)

    def reopen(self, arena: str | None):
        return self._set_open(arena, True)

    def _set_open(self, arena: str | None, is_open: bool):
        if not arena:
            raise gr.Error("Choose an arena first.")
        try:
            set_open(self.studio, arena, is_open)
        except AnnotationError as exc:
            raise gr.Error(str(exc)) from None
        if is_open:
            self.keeper.wake()
        return [self._arena_choices(arena), *self._view(arena)]

    def _view(self, arena: str | None) -> list[Any]:
        """[status text, board rows] of one arena."""
        if not arena:
            return ["No arena yet: open one above.", []]
        try:
            status = arena_status(self.studio, arena)
            board = studio_leaderboard(self.studio, arena, bootstrap=0) if status.votes else {"models": []}
            upcoming = upcoming_pairs(self.studio, arena)[:3] if status.status == "open" else []
        except AnnotationError as exc:
            return [str(exc), []]
        rows = [[m["rank"], m["model"], round(m["rating"], 1), _interval(m), m["battles"],
                 "yes" if m["provisional"] else ""] for m in board["models"]]
        text = status.text()
        if upcoming:
            text += "\nNext pairs by matchmaking: " + "; ".join(f"{a} vs {b}" for a, b in upcoming)
        return [text, rows]


def _interval(model: dict) -> str:
    lo, hi = model.get("ci_lower"), model.get("ci_upper")
    return f"{'-inf' if lo is None else round(lo, 1)} – {'+inf' if hi is None else round(hi, 1)}"


def _number(value: float | None, default: int) -> Any:
    """A number field's value as the engine checks it (an emptied field means the default)."""
    if value is None or value == "":
        return default
    return int(value) if float(value).is_integer() else value
