"""The Annotate tab's annotator handlers: open the page, start, vote, undo.

Each turns component values into one call of :func:`studio.annotation.voting.annotate` and its
:class:`~studio.annotation.vote_types.Turn` into component values: the item's text, its view files
(:mod:`studio.annotation.views`) and the progress.
"""
from typing import Any

import gradio as gr

from studio.annotation import AnnotationError, service, views, voting
from studio.annotation.service import KNOWN_CRITERIA
from studio.annotation.vote_types import Start, Turn, Undo, Vote
from studio.arena.open_arena import still_filling
from studio.core import Studio
from studio.images import ImageLoadError
from studio.markup import path_free
from studio.ui.access import current_identity, require

EXTRA_CRITERIA = 3  # radios for criteria after the first (the buttons answer the first)
ITEM_VALUES = 8 + EXTRA_CRITERIA  # how many values item_values answers with
NOTHING_LEFT = "No items left for you in this batch. Thank you!"
MORE_COMING = "New comparisons for this arena are being made. Press Start again in a minute."
USER_ERRORS = (AnnotationError, ImageLoadError)


def criterion_label(criterion: str) -> str:
    return KNOWN_CRITERIA.get(criterion, criterion.replace("_", " "))


class AnnotateController:
    """An annotator's handlers; answers are lists in the order of ``AnnotateUI.item`` (after the
    fields named first in each method's docstring)."""

    def __init__(self, studio: Studio) -> None:
        # the vote path uses these four; the batch lists take the studio, as every service call does
        self.settings, self.db, self.images = studio.settings, studio.db, studio.images
        self.pair_order = studio.annotation_hooks.pair_order  # active ordering (the arena's matchmaking)
        self.studio = studio

    # ---- events ---------------------------------------------------------------------------------

    def open_page(self, remember: dict, request: gr.Request, profile: gr.OAuthProfile | None) -> list[Any]:
        """[name, batch, whoami, admin column, *item]: who is signed in, and the item they had open
        in the batch the browser remembers."""
        remember = remember or {}
        who = current_identity(self.settings, remember.get("name", ""), request, profile)
        # only what the browser remembered is filled in: a name or batch being chosen is left alone
        name_value = remember.get("name") if self.settings.auth_mode == "open" and remember.get("name") else gr.update()
        if who is None:
            return [name_value, gr.update(choices=self._batches(False)), "not signed in",
                    gr.update(visible=False), *self._unchanged_item()]
        choices = self._batches(who.is_admin)
        batch = remember.get("batch") if remember.get("batch") in [v for _, v in choices] else None
        items = self._unchanged_item()
        if batch:
            try:  # the page opens anyway: the person can choose another batch
                items = self.item_values(voting.annotate(self.db, self.settings, who.name, Start(batch),
                                                         pair_order=self.pair_order), batch)
            except USER_ERRORS as exc:
                gr.Warning(path_free(exc))  # a warning is not redacted by the guard as an error is
        return [name_value, gr.update(choices=choices, **({"value": batch} if batch else {})), f"{who.name} ({who.role})",
                gr.update(visible=who.is_admin), *items]

    def start(self, name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None) -> list[Any]:
        """[batch, whoami, admin column, remember, *item]: the annotator's current or next item."""
        who = require(self.settings, name, request, profile)
        choices = self._batches(who.is_admin)
        if not batch:
            gr.Warning("Choose a comparison batch first." if choices else "No comparison batch is open yet.")
            return [gr.update(choices=choices), f"{who.name} ({who.role})", gr.update(visible=who.is_admin),
                    {"name": name or "", "batch": ""}, *self._unchanged_item()]
        items = self.item_values(self._annotate(who.name, Start(batch)), batch)
        return [gr.update(choices=choices, value=batch), f"{who.name} ({who.role})",
                gr.update(visible=who.is_admin), {"name": name or "", "batch": batch}, *items]

    def vote(self, choice: str, name: str, batch: str | None, token: str, criterion_1: str | None,
             criterion_2: str | None, criterion_3: str | None, request: gr.Request,
             profile: gr.OAuthProfile | None) -> list[Any]:
        """[status, prompt, source, left, right, token, progress]: the receipt, then what changes from
        one item of the batch to the next (the guidelines and criteria labels stay as Start set them)."""
        who = require(self.settings, name, request, profile)
        if not token:
            raise gr.Error("Nothing to vote on: press Start to get an item.")
        turn = self._annotate(who.name, Vote(token, choice, [criterion_1, criterion_2, criterion_3]))
        return [turn.receipt.text(), *self._next_item_values(turn, batch)]

    def undo(self, name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None) -> list[Any]:
        """[status, *item]: the note on the withdrawn vote, and the item now in front of the annotator."""
        who = require(self.settings, name, request, profile)
        if not batch:
            raise gr.Error("Choose a comparison batch first.")
        turn = self._annotate(who.name, Undo(batch))
        return [turn.note, *self.item_values(turn, batch)]

    def batch_list(self, name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        """The batch dropdown after an admin made or changed a batch."""
        who = current_identity(self.settings, name, request, profile)
        if who is None:
            return gr.update()
        return gr.update(choices=self._batches(who.is_admin), value=batch)

    # ---- component values -----------------------------------------------------------------------

    def item_values(self, turn: Turn, batch: str) -> list[Any]:
        """[guidelines, prompt, source, left, right, token, progress, first criterion, *criteria]."""
        view, progress = turn.item, turn.progress.text()
        if view is None:
            empty_crit = [gr.update(visible=False, value=None)] * EXTRA_CRITERIA
            return ["", self._nothing_left(batch), gr.update(value=None, visible=False), None, None, "", progress,
                    gr.update(visible=False), *empty_crit]
        left, right, source_file = views.item_files(self.images, view)
        source = gr.update(value=source_file, visible=True) if source_file else gr.update(value=None, visible=False)
        first, extra = view.criteria[0], view.criteria[1:]
        crit = [gr.update(visible=True, value=None, label=criterion_label(extra[k])) if k < len(extra)
                else gr.update(visible=False, value=None) for k in range(EXTRA_CRITERIA)]
        first_label = gr.update(visible=bool(extra), value=criterion_label(first))
        return [view.guidelines, view.prompt, source, left, right, view.assignment_id, progress, first_label, *crit]

    def _next_item_values(self, turn: Turn, batch: str | None) -> list[Any]:
        """[prompt, source, left, right, token, progress] after a vote.

        Plain values where the page's layout stays: Gradio rebuilds a component's whole configuration
        for every update it is sent, so the source image gets one only when it appears or goes.
        """
        view, progress, had_source = turn.item, turn.progress.text(), turn.receipt.had_source
        if view is None:
            return [self._nothing_left(batch), gr.update(value=None, visible=False), None, None, "", progress]
        left, right, source_file = views.item_files(self.images, view)
        if source_file:
            source = source_file if had_source else gr.update(value=source_file, visible=True)
        else:
            source = gr.update(value=None, visible=False) if had_source else None
        return [view.prompt, source, left, right, view.assignment_id, progress]

    def _nothing_left(self, batch: str | None) -> str:
        """Why there is no item: the batch is done for this annotator, or an open arena is still making more."""
        return MORE_COMING if batch and still_filling(self.studio, batch) else NOTHING_LEFT

    @staticmethod
    def _unchanged_item() -> list[Any]:
        return [gr.update()] * ITEM_VALUES

    # ---- the engine -----------------------------------------------------------------------------

    def _annotate(self, annotator: str, action: Start | Vote | Undo) -> Turn:
        """:func:`voting.annotate`; what the annotator can mend comes back as the page's error."""
        try:
            return voting.annotate(self.db, self.settings, annotator, action, pair_order=self.pair_order)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None

    def _batches(self, admin: bool) -> list[tuple[str, str]]:
        """The batch dropdown's choices: open batches, and closed ones too for admins."""
        return [(b.name, b.id) for b in service.list_batches(self.studio) if b.status == "open" or admin]
