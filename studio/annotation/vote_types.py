"""What an annotator asks the vote path for (Start, Vote, Undo) and what comes back (Turn and its parts).

Plain data, kept apart from the transaction in :mod:`studio.annotation.voting` that acts on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

CHOICES = ("left", "right", "tie", "tie_bad", "skip")


# ---- what an annotator asks for -------------------------------------------------------------------

@dataclass(frozen=True)
class Start:
    """Show the annotator's current item in ``batch`` (after a reload), or give them a new one."""

    batch: str


@dataclass(frozen=True)
class Vote:
    """A button on the item of ``assignment_id``: ``choice`` (one of :data:`CHOICES`) answers the
    batch's first criterion; ``criteria`` the others (left/right/tie/tie_bad, all required), as a
    dict by criterion name or a list in the batch's order of criteria after the first."""

    assignment_id: str
    choice: str
    criteria: Mapping[str, str] | Sequence[str | None] = ()


@dataclass(frozen=True)
class Undo:
    """Withdraw the annotator's latest vote (or skip) in ``batch``."""

    batch: str


Action = Union[Start, Vote, Undo]


# ---- what comes back ------------------------------------------------------------------------------

@dataclass
class ItemView:
    """One blind item for one annotator: no model names, sides as the annotator sees them.
    ``canvas`` is the pixel size both sides are served at."""

    assignment_id: str
    batch_id: str
    prompt: str
    task: str
    left_image: str
    right_image: str
    source_image: str | None
    criteria: list[str]
    guidelines: str
    canvas: tuple[int, int]


@dataclass
class Progress:
    """An annotator's position in a batch and the batch's overall coverage (withdrawn votes left out)."""

    done: int
    available: int
    batch_votes: int
    batch_target: int

    def text(self) -> str:
        return (f"You: {self.done} done of {self.available} · "
                f"batch: {self.batch_votes} / {self.batch_target} votes")


@dataclass
class VoteReceipt:
    """What the annotator learns after voting: the reveal, and whether the vote was a resend."""

    item_id: str
    winner: str
    shown_choice: str
    left_model: str
    right_model: str
    duplicate: bool = False
    criteria: dict[str, str] = field(default_factory=dict)
    #: the voted item showed a source image (an edit): the page knows what it shows without asking
    had_source: bool = False

    def text(self) -> str:
        if self.shown_choice == "skip":
            return "Skipped."
        label = {"left": "A better", "right": "B better", "tie": "Tie (both good)",
                 "tie_bad": "Tie (both bad)"}[self.shown_choice]
        again = " (already recorded)" if self.duplicate else ""
        return f"Recorded{again}: {label}. A was {self.left_model}, B was {self.right_model}."


@dataclass
class Turn:
    """The answer to one action: the receipt of a vote, a note about an undo, the item now in front
    of the annotator (None when nothing is left for them) and their progress."""

    item: ItemView | None
    progress: Progress
    receipt: VoteReceipt | None = None
    note: str = ""
