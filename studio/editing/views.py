"""Plain snapshots of a session and its turn tree, and the tree operations the chat needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio.editing.models import EditSession, EditTurn


@dataclass(frozen=True)
class TurnView:
    """One turn as the UI and exporters see it (no database objects leak out)."""

    id: str
    seq: int
    parent_id: str | None
    instruction: str
    backend: str
    params: dict[str, Any]
    input_image: str
    output_image: str | None
    mask_image: str | None
    reference_images: list[str]
    status: str
    error: str
    attempts: int
    honored: list[str]
    ignored: list[str]
    notices: list[str]
    drift: dict[str, Any] | None
    duration_s: float | None
    edited_region_sha: str | None = None

    @classmethod
    def of(cls, t: EditTurn) -> "TurnView":
        return cls(
            id=t.id, seq=t.seq, parent_id=t.parent_id, instruction=t.instruction, backend=t.backend,
            params=dict(t.params or {}), input_image=t.input_image, output_image=t.output_image,
            mask_image=t.mask_image, reference_images=list(t.reference_images or []),
            status=t.status, error=t.error or "", attempts=t.attempts,
            honored=list(t.honored or []), ignored=list(t.ignored or []),
            notices=list(t.notices or []), drift=dict(t.drift) if t.drift else None,
            duration_s=t.duration_s, edited_region_sha=t.edited_region,
        )

    @classmethod
    def of_row(cls, r: dict[str, Any]) -> "TurnView":
        """From the column values of an ``edit_turns`` row (as inserted or selected)."""
        return cls(
            id=r["id"], seq=r["seq"], parent_id=r["parent_id"], instruction=r["instruction"],
            backend=r["backend"], params=dict(r["params"] or {}), input_image=r["input_image"],
            output_image=r["output_image"], mask_image=r["mask_image"],
            reference_images=list(r["reference_images"] or []), status=r["status"], error=r["error"] or "",
            attempts=r["attempts"], honored=list(r["honored"] or []), ignored=list(r["ignored"] or []),
            notices=list(r["notices"] or []), drift=dict(r["drift"]) if r["drift"] else None,
            duration_s=r["duration_s"], edited_region_sha=r["edited_region"],
        )

    @property
    def done(self) -> bool:
        return self.status == "done"


@dataclass(frozen=True)
class SessionSummary:
    """A row of the session picker."""

    id: str
    title: str
    turns: int
    updated_at: datetime

    @property
    def label(self) -> str:
        return f"{self.title or 'untitled'} · {self.turns} turn(s) · {self.updated_at:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class SessionView:
    """A session with every turn; ``head`` is the tip of the branch that continues."""

    id: str
    owner: str
    title: str
    origin: str
    origin_ref: str
    source_image: str
    head: str | None
    version: int
    turns: dict[str, TurnView] = field(default_factory=dict)

    @classmethod
    def of(cls, s: EditSession, turns: list[EditTurn]) -> "SessionView":
        return cls(
            id=s.id, owner=s.owner, title=s.title, origin=s.origin, origin_ref=s.origin_ref,
            source_image=s.source_image, head=s.head_turn_id, version=s.version,
            turns={t.id: TurnView.of(t) for t in turns},
        )

    def path(self, tip: str | None = "head") -> list[TurnView]:
        """Turns from the source image down to ``tip`` (the head by default), in order."""
        node = self.head if tip == "head" else tip
        out: list[TurnView] = []
        while node is not None:
            turn = self.turns[node]
            out.append(turn)
            node = turn.parent_id
        return out[::-1]

    def children(self, parent: str | None) -> list[TurnView]:
        return sorted((t for t in self.turns.values() if t.parent_id == parent), key=lambda t: t.seq)

    def image_of(self, node: str | None) -> str:
        """The image a turn shows: its output, or for an unfinished turn its nearest done ancestor's."""
        while node is not None:
            turn = self.turns[node]
            if turn.done and turn.output_image:
                return turn.output_image
            node = turn.parent_id
        return self.source_image

    def base_of(self, node: str | None) -> str | None:
        """The nearest done turn at or above ``node`` (None: the source image)."""
        while node is not None and not self.turns[node].done:
            node = self.turns[node].parent_id
        return node

    def leaves(self) -> list[TurnView]:
        parents = {t.parent_id for t in self.turns.values()}
        return sorted((t for t in self.turns.values() if t.id not in parents), key=lambda t: t.seq)

    def tree_lines(self, shown: str | None = "head") -> list[str]:
        """A compact text tree: one line per turn, indented by depth; ● marks the branch shown
        (the head's by default), ◀ the head."""
        on_path = {t.id for t in self.path(shown)}
        lines = ["◉ source image" + ("  ◀ head" if self.head is None else "")]

        def walk(parent: str | None, depth: int) -> None:
            for t in self.children(parent):
                mark = {"done": "", "failed": " ✗ failed", "running": " … running"}.get(t.status, "")
                head = "  ◀ head" if t.id == self.head else ""
                bullet = "●" if t.id in on_path else "○"
                text = t.instruction if len(t.instruction) <= 48 else t.instruction[:47] + "…"
                lines.append(f"{'  ' * depth}{bullet} #{t.seq} {text} [{t.backend}]{mark}{head}")
                walk(t.id, depth + 1)

        walk(None, 1)
        return lines

    def turn_label(self, t: TurnView) -> str:
        text = t.instruction if len(t.instruction) <= 40 else t.instruction[:39] + "…"
        return f"#{t.seq} {text} ({t.status})"
