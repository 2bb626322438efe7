"""Annotate tab: blind A/B voting for annotators; batches, results and exports for admins.

Handlers are thin calls into :mod:`studio.annotation`. What an annotator receives before a vote is
the prompt, the images (metadata stripped) and an opaque assignment token — never a model name.
"""
import os
from typing import Any

import gradio as gr

from studio.annotation import AnnotationError, service, views, voting
from studio.annotation.service import KNOWN_CRITERIA
from studio.images import ImageLoadError
from studio.ui import annotate_admin, annotate_results
from studio.markup import path_free
from studio.ui.access import current_identity, require
from studio.ui.context import TabSpec, UIContext

EXTRA_CRITERIA = 3  # radios for criteria after the first (the buttons answer the first)
SIDE_CHOICES = [("A better", "left"), ("B better", "right"), ("Tie (both good)", "tie"), ("Tie (both bad)", "tie_bad")]
BUTTONS = (("left", "A better  [1]"), ("right", "B better  [2]"), ("tie", "Tie – both good  [3]"),
           ("tie_bad", "Tie – both bad  [4]"), ("skip", "Skip  [S]"))
KEYS_JS = """() => {
  if (window.__studioAnnotateKeys) return [];
  window.__studioAnnotateKeys = true;
  const map = {"1": "left", "a": "left", "2": "right", "b": "right", "3": "tie", "t": "tie",
               "4": "tie_bad", "n": "tie_bad", "s": "skip", "0": "skip", "u": "undo", "backspace": "undo"};
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const t = ev.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    const action = map[(ev.key || "").toLowerCase()];
    if (!action) return;
    const panel = document.getElementById("annotate-vote-panel");
    if (!panel || panel.offsetParent === null) return;
    let el = document.getElementById("annotate-" + action);
    if (el && el.tagName !== "BUTTON") el = el.querySelector("button");
    if (el && !el.disabled) { ev.preventDefault(); el.click(); }
  });
  return [];
}"""


CLEAR_CRITERIA_JS = "() => [" + ", ".join(["null"] * EXTRA_CRITERIA) + "]"  # next item: nothing chosen yet


def _warn(exc: Exception) -> None:
    gr.Warning(path_free(exc))


def build(ctx: UIContext) -> None:
    studio = ctx.studio
    # the view files (pixels only, see studio.annotation.views) are served from their folder
    views.VIEW_DIR.mkdir(parents=True, exist_ok=True)
    gr.set_static_paths([views.VIEW_DIR])
    mode = studio.settings.auth_mode
    c: dict[str, Any] = {}
    gr.Markdown(
        "Blind pairwise comparison: judge two outputs for the same prompt (and source image for edits). "
        "Sides are shuffled for every person and model names are revealed only after your vote. "
        "Keys: **1**/A better · **2**/B better · **3** tie (both good) · **4** tie (both bad) · **S** skip · **U** undo."
    )
    if mode == "hf-oauth" and not os.environ.get("OAUTH_CLIENT_ID"):
        gr.Markdown("**Hugging Face sign-in is only available when the studio runs as a Space with "
                    "`hf_oauth: true`** (no OAuth client here), so nobody can sign in to annotate. "
                    "Run with STUDIO_AUTH_MODE=password or open instead.", elem_classes=["studio-error"])
    with gr.Row():
        if mode == "hf-oauth" and os.environ.get("OAUTH_CLIENT_ID"):
            gr.LoginButton()
        c["name"] = gr.Textbox(label="Your name", elem_id="annotate-name", scale=2,
                               visible=mode == "open", max_length=64,
                               info="Open mode: votes are stored under this name.")
        c["batch"] = gr.Dropdown([], label="Comparison batch", elem_id="annotate-batch", scale=3,
                                 allow_custom_value=True, interactive=True)
        c["start"] = gr.Button("Start / continue", variant="primary", elem_id="annotate-start", scale=1)
    c["whoami"] = gr.Textbox(label="Signed in as", interactive=False, elem_id="annotate-whoami")
    c["remember"] = gr.BrowserState({"name": "", "batch": ""}, storage_key="studio-annotate")
    with gr.Column(elem_id="annotate-vote-panel"):
        c["guidelines"] = gr.Textbox(label="Guidelines", interactive=False, lines=1, max_lines=3,
                                     elem_id="annotate-guidelines")
        c["prompt"] = gr.Textbox(label="Prompt / instruction", interactive=False, lines=2, elem_id="annotate-prompt")
        with gr.Row():
            c["source"] = gr.Image(label="Source image", type="pil", format="png", interactive=False,
                                   visible=False, elem_id="annotate-source", height=320)
            c["left"] = gr.Image(label="A", type="pil", format="png", interactive=False, elem_id="annotate-a", height=420)
            c["right"] = gr.Image(label="B", type="pil", format="png", interactive=False, elem_id="annotate-b", height=420)
        c["criteria"] = [gr.Radio(SIDE_CHOICES, label="", visible=False, elem_id=f"annotate-criterion-{k}")
                         for k in range(EXTRA_CRITERIA)]
        c["first_criterion"] = gr.Textbox(label="Buttons answer", interactive=False, visible=False,
                                          elem_id="annotate-first-criterion")
        with gr.Row():
            c["buttons"] = {choice: gr.Button(label, elem_id=f"annotate-{choice}",
                                              variant="primary" if choice in ("left", "right") else "secondary")
                            for choice, label in BUTTONS}
            c["undo"] = gr.Button("Undo last vote  [U]", elem_id="annotate-undo", variant="stop")
        c["token"] = gr.Textbox(visible=False, elem_id="annotate-token")
        with gr.Row():
            c["progress"] = gr.Textbox(label="Progress", interactive=False, elem_id="annotate-progress")
            c["status"] = gr.Textbox(label="Last vote", interactive=False, elem_id="annotate-status")
    with gr.Column(visible=False, elem_id="annotate-admin") as admin_col:
        c["admin_col"] = admin_col
        annotate_admin.build(ctx, c)
        annotate_results.build(ctx, c)
    ctx.register("annotate.batch", c["batch"])
    ctx._annotate = c  # type: ignore[attr-defined]  # handed to wire()


def _item_outputs(studio, view: voting.ItemView | None, progress_text: str) -> list[Any]:
    """Values for [guidelines, prompt, source, left, right, token, progress, first_criterion, *criteria]."""
    if view is None:
        empty_crit = [gr.update(visible=False, value=None)] * EXTRA_CRITERIA
        return ["", "No items left for you in this batch. Thank you!", gr.update(value=None, visible=False),
                None, None, "", progress_text, gr.update(visible=False), *empty_crit]
    left, right, source_file = views.item_files(studio.images, view)
    source = gr.update(value=source_file, visible=True) if source_file else gr.update(value=None, visible=False)
    first, extra = view.criteria[0], view.criteria[1:]
    crit = [gr.update(visible=True, value=None, label=_criterion_label(extra[k])) if k < len(extra)
            else gr.update(visible=False, value=None) for k in range(EXTRA_CRITERIA)]
    first_label = gr.update(visible=bool(extra), value=_criterion_label(first))
    return [view.guidelines, view.prompt, source, left, right, view.assignment_id, progress_text, first_label, *crit]


def _next_item_outputs(studio, view: voting.ItemView | None, progress_text: str, had_source: bool) -> list[Any]:
    """Values for [prompt, source, left, right, token, progress] after a vote: what changes from one
    item of a batch to the next (the guidelines and criteria labels stay as Start set them).

    Plain values where the page's layout stays: Gradio rebuilds a component's whole configuration
    for every update it is sent, so the source image gets one only when it appears or goes.
    """
    if view is None:
        return ["No items left for you in this batch. Thank you!", gr.update(value=None, visible=False),
                None, None, "", progress_text]
    left, right, source_file = views.item_files(studio.images, view)
    if source_file:
        source = source_file if had_source else gr.update(value=source_file, visible=True)
    else:
        source = gr.update(value=None, visible=False) if had_source else None
    return [view.prompt, source, left, right, view.assignment_id, progress_text]


def _criterion_label(criterion: str) -> str:
    return KNOWN_CRITERIA.get(criterion, criterion.replace("_", " "))


def wire(ctx: UIContext, ui: Any = None) -> None:
    studio = ctx.studio
    c = ctx._annotate  # type: ignore[attr-defined]
    item_out = [c["guidelines"], c["prompt"], c["source"], c["left"], c["right"], c["token"], c["progress"],
                c["first_criterion"], *c["criteria"]]

    def batch_choices(role_admin: bool) -> list[tuple[str, str]]:
        return [(b.name, b.id) for b in service.list_batches(studio) if b.status == "open" or role_admin]

    def on_load(remember: dict, request: gr.Request, profile: gr.OAuthProfile | None):
        remember = remember or {}
        who = current_identity(studio, remember.get("name", ""), request, profile)
        name_value = remember.get("name", "") if studio.settings.auth_mode == "open" else ""
        if who is None:
            return [name_value, gr.update(choices=batch_choices(False)), "not signed in",
                    gr.update(visible=False), *[gr.update()] * len(item_out)]
        choices = batch_choices(who.is_admin)
        batch = remember.get("batch") if remember.get("batch") in [v for _, v in choices] else None
        items = [gr.update()] * len(item_out)
        if batch:
            try:
                turn = voting.annotate(studio.db, studio.settings, who.name, voting.Start(batch))
                items = _item_outputs(studio, turn.item, turn.progress.text())
            except (AnnotationError, ImageLoadError) as exc:
                _warn(exc)
        return [name_value, gr.update(choices=choices, value=batch), f"{who.name} ({who.role})",
                gr.update(visible=who.is_admin), *items]

    loaded = gr.on(triggers=None, fn=ctx.guard("open_page", on_load), inputs=[c["remember"]],
                   outputs=[c["name"], c["batch"], c["whoami"], c["admin_col"], *item_out], api_visibility="private")
    gr.on(triggers=None, fn=None, js=KEYS_JS)

    def on_start(name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        who = require(studio, name, request, profile)
        choices = batch_choices(who.is_admin)
        if not batch:
            gr.Warning("Choose a comparison batch first." if choices else "No comparison batch is open yet.")
            return [gr.update(choices=choices), f"{who.name} ({who.role})", gr.update(visible=who.is_admin),
                    {"name": name or "", "batch": ""}, *[gr.update()] * len(item_out)]
        try:
            turn = voting.annotate(studio.db, studio.settings, who.name, voting.Start(batch))
            items = _item_outputs(studio, turn.item, turn.progress.text())
        except (AnnotationError, ImageLoadError) as exc:
            raise gr.Error(str(exc)) from None
        return [gr.update(choices=choices, value=batch), f"{who.name} ({who.role})",
                gr.update(visible=who.is_admin), {"name": name or "", "batch": batch}, *items]

    started = c["start"].click(ctx.guard("annotate", on_start), [c["name"], c["batch"]],
                               [c["batch"], c["whoami"], c["admin_col"], c["remember"], *item_out],
                               api_name="annotate_start")
    # the item, its images and the vote buttons fill the window together (1366×768 included)
    started.then(None, js="() => { document.getElementById('annotate-vote-panel')?.scrollIntoView({block: 'start'}); }")

    def make_vote(choice: str):
        def on_vote(name, batch, token, c1, c2, c3, request: gr.Request, profile: gr.OAuthProfile | None):
            who = require(studio, name, request, profile)
            if not token:
                raise gr.Error("Nothing to vote on: press Start to get an item.")
            try:
                turn = voting.annotate(studio.db, studio.settings, who.name, voting.Vote(token, choice, [c1, c2, c3]))
                items = _next_item_outputs(studio, turn.item, turn.progress.text(), turn.receipt.had_source)
            except (AnnotationError, ImageLoadError) as exc:
                raise gr.Error(str(exc)) from None
            return [turn.receipt.text(), *items]
        on_vote.__name__ = f"vote_{choice}"
        return on_vote

    # a vote changes what changes from one item of the batch to the next (the guidelines and the
    # criteria labels stay as Start set them); the criteria radios are cleared in the page, and are
    # no outputs, so a refused vote leaves them answerable
    vote_inputs = [c["name"], c["batch"], c["token"], *c["criteria"]]
    vote_out = [c["status"], c["prompt"], c["source"], c["left"], c["right"], c["token"], c["progress"]]
    # votes and undos share the database's writers (one at a time on SQLite, see Database.writers)
    writes = {"concurrency_limit": studio.db.writers or "default", "concurrency_id": "annotate-write"}
    for choice, button in c["buttons"].items():
        button.click(ctx.guard("annotate", make_vote(choice)), vote_inputs, vote_out, api_name=f"vote_{choice}",
                     **writes).success(None, None, c["criteria"], js=CLEAR_CRITERIA_JS)  # in the page only

    def on_undo(name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        who = require(studio, name, request, profile)
        if not batch:
            raise gr.Error("Choose a comparison batch first.")
        try:
            turn = voting.annotate(studio.db, studio.settings, who.name, voting.Undo(batch))
            items = _item_outputs(studio, turn.item, turn.progress.text())
        except (AnnotationError, ImageLoadError) as exc:
            raise gr.Error(str(exc)) from None
        return [turn.note, *items]

    c["undo"].click(ctx.guard("annotate", on_undo), [c["name"], c["batch"]], [c["status"], *item_out], api_name="undo_vote",
                    **writes)
    annotate_admin.wire(ctx, c)
    annotate_results.wire(ctx, c)

    def refresh_batch_list(name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        who = current_identity(studio, name, request, profile)
        if who is None:
            return gr.update()
        return gr.update(choices=batch_choices(who.is_admin), value=batch)

    for event in (loaded, started):  # admins get the backend and batch lists only once signed in
        event.then(ctx.guard("annotate_admin", c["refresh_admin"]), [c["name"]], [c["gen_backends"]],
                   api_visibility="private")
        event.then(ctx.guard("results", c["refresh_results"]), [c["name"], c["batch"], c["res_batch"]], [c["res_batch"]],
                   api_visibility="private")
    for done in c["admin_events"]:
        done.then(ctx.guard("annotate_admin", refresh_batch_list), [c["name"], c["batch"]], [c["batch"]],
                  api_visibility="private").then(
            ctx.guard("results", c["refresh_results"]), [c["name"], c["batch"], c["res_batch"]], [c["res_batch"]],
            api_visibility="private")


TAB = TabSpec(id="annotate", title="Annotate", order=30, build=build, wire=wire)
