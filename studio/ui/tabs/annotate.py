"""Annotate tab: blind A/B voting for annotators; batches, results and exports for admins.

The handlers are methods of :class:`studio.ui.controllers.annotate.AnnotateController` (and of the
admin panels' controllers). What an annotator receives before a vote is the prompt, the images
(metadata stripped) and an opaque assignment token — never a model name.
"""
import json
import os
from dataclasses import dataclass
from functools import partial

import gradio as gr

from studio.ui import annotate_admin, annotate_results
from studio.ui.context import TabSpec, UIContext
from studio.ui.controllers.annotate import EXTRA_CRITERIA, AnnotateController
from studio.ui.controllers.annotate_admin import BatchAdminController
from studio.ui.controllers.annotate_results import JudgeTrustController, ResultsController

#: what the annotator can press, in page order: action -> (label, keys). The buttons' labels, the
#: page's key bindings and the help line are all made from this table.
KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "left": ("A better", ("1", "a")),
    "right": ("B better", ("2", "b")),
    "tie": ("Tie – both good", ("3", "t")),
    "tie_bad": ("Tie – both bad", ("4", "n")),
    "skip": ("Skip", ("s", "0")),
    "undo": ("Undo last vote", ("u", "backspace")),
}
SIDE_CHOICES = [("A better", "left"), ("B better", "right"), ("Tie (both good)", "tie"), ("Tie (both bad)", "tie_bad")]
# a key presses the button of its action while the vote panel shows and no text field has the focus
KEYS_JS = """() => {
  if (window.__studioAnnotateKeys) return [];
  window.__studioAnnotateKeys = true;
  const map = %s;
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
}""" % json.dumps({key: action for action, (_, keys) in KEYS.items() for key in keys})
CLEAR_CRITERIA_JS = "() => [" + ", ".join(["null"] * EXTRA_CRITERIA) + "]"  # next item: nothing chosen yet
SCROLL_TO_ITEM_JS = "() => { document.getElementById('annotate-vote-panel')?.scrollIntoView({block: 'start'}); }"


def _button_label(action: str) -> str:
    label, keys = KEYS[action]
    return f"{label}  [{keys[0].upper()}]"


@dataclass
class AnnotateUI:
    name: gr.Textbox
    batch: gr.Dropdown
    start: gr.Button
    whoami: gr.Textbox
    remember: gr.BrowserState
    guidelines: gr.Textbox
    prompt: gr.Textbox
    source: gr.Image
    left: gr.Image
    right: gr.Image
    criteria: list[gr.Radio]
    first_criterion: gr.Textbox
    votes: dict[str, gr.Button]  # by choice
    undo: gr.Button
    token: gr.Textbox
    progress: gr.Textbox
    status: gr.Textbox
    admin_col: gr.Column
    admin: annotate_admin.BatchAdminUI
    results: annotate_results.ResultsUI

    @property
    def item(self) -> list:
        """The components that show one item, in the order AnnotateController.item_values fills."""
        return [self.guidelines, self.prompt, self.source, self.left, self.right, self.token, self.progress,
                self.first_criterion, *self.criteria]


def build(ctx: UIContext) -> AnnotateUI:
    mode = ctx.studio.settings.auth_mode
    gr.Markdown(
        "Blind pairwise comparison: judge two outputs for the same prompt (and source image for edits). "
        "Sides are shuffled for every person and model names are revealed only after your vote. Keys: "
        + " · ".join(f"**{keys[0].upper()}** {label}" for label, keys in KEYS.values()) + "."
    )
    if mode == "hf-oauth" and not os.environ.get("OAUTH_CLIENT_ID"):
        gr.Markdown("**Hugging Face sign-in is only available when the studio runs as a Space with "
                    "`hf_oauth: true`** (no OAuth client here), so nobody can sign in to annotate. "
                    "Run with STUDIO_AUTH_MODE=password or open instead.", elem_classes=["studio-error"])
    with gr.Row():
        if mode == "hf-oauth" and os.environ.get("OAUTH_CLIENT_ID"):
            gr.LoginButton()
        name = gr.Textbox(label="Your name", elem_id="annotate-name", scale=2, visible=mode == "open",
                          max_length=64, info="Open mode: votes are stored under this name.")
        batch = gr.Dropdown([], label="Comparison batch", elem_id="annotate-batch", scale=3,
                            allow_custom_value=True, interactive=True)
        start = gr.Button("Start / continue", variant="primary", elem_id="annotate-start", scale=1)
    whoami = gr.Textbox(label="Signed in as", interactive=False, elem_id="annotate-whoami")
    remember = gr.BrowserState({"name": "", "batch": ""}, storage_key="studio-annotate")
    with gr.Column(elem_id="annotate-vote-panel"):
        # the item, its images, its questions and the vote buttons fit one 1366×768 window together
        with gr.Row(equal_height=True):
            prompt = gr.Textbox(label="Prompt / instruction", interactive=False, lines=2, elem_id="annotate-prompt",
                                scale=3)
            guidelines = gr.Textbox(label="Guidelines", interactive=False, lines=2, max_lines=3,
                                    elem_id="annotate-guidelines", scale=2)
        with gr.Row():
            source = gr.Image(label="Source image", type="pil", format="png", interactive=False, visible=False,
                              elem_id="annotate-source", height=300)
            left = gr.Image(label="A", type="pil", format="png", interactive=False, elem_id="annotate-a", height=380)
            right = gr.Image(label="B", type="pil", format="png", interactive=False, elem_id="annotate-b", height=380)
        with gr.Row(equal_height=True):
            first_criterion = gr.Textbox(label="Buttons answer", interactive=False, visible=False,
                                         elem_id="annotate-first-criterion")
            criteria = [gr.Radio(SIDE_CHOICES, label="", visible=False, elem_id=f"annotate-criterion-{k}")
                        for k in range(EXTRA_CRITERIA)]
        with gr.Row():
            votes = {choice: gr.Button(_button_label(choice), elem_id=f"annotate-{choice}",
                                       variant="primary" if choice in ("left", "right") else "secondary")
                     for choice in KEYS if choice != "undo"}
            undo = gr.Button(_button_label("undo"), elem_id="annotate-undo", variant="stop")
        token = gr.Textbox(visible=False, elem_id="annotate-token")
        with gr.Row():
            progress = gr.Textbox(label="Progress", interactive=False, elem_id="annotate-progress")
            status = gr.Textbox(label="Last vote", interactive=False, elem_id="annotate-status")
    with gr.Column(visible=False, elem_id="annotate-admin") as admin_col:
        admin = annotate_admin.build(ctx)
        results = annotate_results.build(ctx)
    ctx.register("annotate.batch", batch)
    return AnnotateUI(name=name, batch=batch, start=start, whoami=whoami, remember=remember, guidelines=guidelines,
                      prompt=prompt, source=source, left=left, right=right, criteria=criteria,
                      first_criterion=first_criterion, votes=votes, undo=undo, token=token, progress=progress,
                      status=status, admin_col=admin_col, admin=admin, results=results)


def wire(ctx: UIContext, ui: AnnotateUI) -> None:
    studio = ctx.studio
    ctrl = AnnotateController(studio)
    admin = BatchAdminController(studio)
    results = ResultsController(studio)
    # everything that records through the vote path waits for the database's writers (one at a time
    # on SQLite, see Database.writers): votes, undos, Start and the resume on page load
    writes = {"concurrency_limit": studio.db.writers or "default", "concurrency_id": "annotate-write"}

    # on page load, and again when the browser's remembered name and batch arrive (the stored state is
    # read when the tab first opens, maybe while a name is being typed: open_page never blanks one); when
    # they arrive while the page-load call is still running, it runs once more with them ("once", the
    # default for a load, would drop that call, and a reload would lose the annotator's place)
    loaded = gr.on([ctx.demo.load, ui.remember.change], ctx.guard("open_page", ctrl.open_page), inputs=[ui.remember],
                   outputs=[ui.name, ui.batch, ui.whoami, ui.admin_col, *ui.item], api_visibility="private",
                   trigger_mode="always_last", **writes)
    ctx.demo.load(None, js=KEYS_JS)
    started = ui.start.click(ctx.guard("annotate", ctrl.start), [ui.name, ui.batch],
                             [ui.batch, ui.whoami, ui.admin_col, ui.remember, *ui.item], api_name="annotate_start",
                             **writes)
    # the item, its images and the vote buttons fill the window together (1366×768 included)
    started.then(None, js=SCROLL_TO_ITEM_JS)

    # a vote changes what changes from one item of the batch to the next (the guidelines and the
    # criteria labels stay as Start set them); the criteria radios are cleared in the page, and are
    # no outputs, so a refused vote leaves them answerable
    vote_inputs = [ui.name, ui.batch, ui.token, *ui.criteria]
    vote_outputs = [ui.status, ui.prompt, ui.source, ui.left, ui.right, ui.token, ui.progress]
    for choice, button in ui.votes.items():
        button.click(ctx.guard("annotate", partial(ctrl.vote, choice)), vote_inputs, vote_outputs,
                     api_name=f"vote_{choice}", **writes).success(None, None, ui.criteria, js=CLEAR_CRITERIA_JS)
    ui.undo.click(ctx.guard("annotate", ctrl.undo), [ui.name, ui.batch], [ui.status, *ui.item], api_name="undo_vote",
                  **writes)

    batch_changes = annotate_admin.wire(ctx, ui.admin, admin, ui.name, ui.batch)
    annotate_results.wire(ctx, ui.results, results, JudgeTrustController(studio), ui.name)
    results_lists = [ui.name, ui.batch, ui.results.batch]
    for event in (loaded, started):  # admins get the backend and batch lists only once signed in
        event.then(ctx.guard("annotate_admin", admin.backend_choices), [ui.name], [ui.admin.gen_backends],
                   api_visibility="private")
        event.then(ctx.guard("results", results.batch_choices), results_lists, [ui.results.batch],
                   api_visibility="private")
    for done in batch_changes:
        done.then(ctx.guard("annotate_admin", ctrl.batch_list), [ui.name, ui.batch], [ui.batch],
                  api_visibility="private").then(
            ctx.guard("results", results.batch_choices), results_lists, [ui.results.batch], api_visibility="private")


TAB = TabSpec(id="annotate", title="Annotate", order=30, build=build, wire=wire,
              render_children=True)  # the item resumed on page load lands even before the tab is opened
