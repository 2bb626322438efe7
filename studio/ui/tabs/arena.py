"""Arena tab: an admin opens an open-ended arena (backends + a prompt source); the arena makes its own
comparisons, chosen by active matchmaking from the votes so far, and annotators vote in it from the
Annotate tab like in any batch. Handlers: :class:`studio.ui.controllers.arena.ArenaController`."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.annotation.service import KNOWN_CRITERIA
from studio.arena.open_arena import DEFAULT_CRITERIA, LIMITS
from studio.ui.context import TabSpec, UIContext
from studio.ui.controllers.arena import BOARD_COLUMNS, ArenaController, image_backends

SOURCES = [("Taxonomy nodes (synthesis templates)", "nodes"), ("A studio dataset", "dataset"),
           ("Pasted prompts (one per line)", "text"), ("A prompt file (.txt, .jsonl, .json, .csv)", "file")]


@dataclass
class ArenaUI:
    name: gr.Textbox
    task: gr.Radio
    backends: gr.Dropdown
    source: gr.Radio
    nodes: gr.Dropdown
    count: gr.Number
    dataset: gr.Textbox
    text: gr.Textbox
    file: gr.File
    criteria: gr.Dropdown
    seeds: gr.Number
    buffer: gr.Number
    overlap: gr.Number
    policy: gr.Radio
    time_limit: gr.Number
    guidelines: gr.Textbox
    open: gr.Button
    message: gr.Textbox
    arena: gr.Dropdown
    refresh: gr.Button
    close: gr.Button
    reopen: gr.Button
    status: gr.Textbox
    board: gr.Dataframe


def _default_criteria_note() -> str:
    return "; ".join(f"{task}: {', '.join(KNOWN_CRITERIA.get(c, c) for c in crits)}"
                     for task, crits in DEFAULT_CRITERIA.items())


def build(ctx: UIContext) -> ArenaUI:
    gr.Markdown(
        "### Open arenas\nName two or more backends and where the prompts come from; the arena generates "
        "outputs when a comparison needs them (each prompt, backend and seed once) and chooses which pair "
        "to show next from the votes so far. Annotators vote in it from the **Annotate** tab, blind and with "
        "the same keys; its leaderboard is the usual board of its votes "
        "(`python -m studio leaderboard --batch NAME`). Admins only."
    )
    with gr.Row():
        name = gr.Textbox(label="Arena name", max_lines=1, max_length=128, elem_id="arena-name")
        task = gr.Radio(["text-to-image", "edit"], value="text-to-image", label="Task", elem_id="arena-task")
        backends = gr.Dropdown(image_backends(ctx.studio), multiselect=True, label="Backends (two or more)", elem_id="arena-backends")
    with gr.Row():
        source = gr.Radio(SOURCES, value="nodes", label="Prompt source", elem_id="arena-source")
        nodes = gr.Dropdown(_nodes(ctx.studio), multiselect=True, label="Taxonomy nodes", elem_id="arena-nodes")
        count = gr.Number(50, precision=0, minimum=1, maximum=LIMITS["count"][1], label="Prompts from the nodes",
                          elem_id="arena-count")
    with gr.Row():
        dataset = gr.Textbox(label="Dataset name", max_lines=1, elem_id="arena-dataset")
        text = gr.Textbox(label="Prompts, one per line", lines=4, elem_id="arena-text")
        file = gr.File(label="Prompt file", file_types=[".txt", ".jsonl", ".json", ".csv"], type="filepath",
                       elem_id="arena-file")
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            criteria = gr.Dropdown([(label, key) for key, label in KNOWN_CRITERIA.items()], multiselect=True,
                                   allow_custom_value=True, label="Criteria (empty: the task's own)",
                                   info=_default_criteria_note(), elem_id="arena-criteria")
            policy = gr.Radio([("Active (most informative pair)", "active"), ("Uniform", "uniform")],
                              value="active", label="Matchmaking", elem_id="arena-policy")
        with gr.Row():
            seeds = gr.Number(1, precision=0, label=f"Seeds per prompt (1–{LIMITS['seeds'][1]})", elem_id="arena-seeds")
            buffer = gr.Number(4, precision=0, label=f"Comparisons kept ready (1–{LIMITS['buffer'][1]})",
                               elem_id="arena-buffer")
            overlap = gr.Number(1, precision=0, label="Annotators per comparison", elem_id="arena-overlap")
            time_limit = gr.Number(300, precision=0, label="Seconds one image may take", elem_id="arena-time-limit")
        guidelines = gr.Textbox(label="Guidelines for annotators", lines=2, elem_id="arena-guidelines")
    open_ = gr.Button("Open arena", variant="primary", elem_id="arena-open")
    message = gr.Textbox(label="", interactive=False, show_label=False, elem_id="arena-message")
    with gr.Row():
        arena = gr.Dropdown([], label="Arena", elem_id="arena-pick", scale=3, allow_custom_value=True)
        refresh = gr.Button("Refresh", elem_id="arena-refresh", scale=1)
        close = gr.Button("Close", variant="stop", elem_id="arena-close", scale=1)
        reopen = gr.Button("Open again", elem_id="arena-reopen", scale=1)
    status = gr.Textbox(label="Status", interactive=False, lines=2, elem_id="arena-status")
    board = gr.Dataframe(headers=BOARD_COLUMNS, label="Leaderboard (sandwich 95% intervals)", interactive=False,
                         elem_id="arena-board")
    return ArenaUI(name=name, task=task, backends=backends, source=source, nodes=nodes, count=count,
                   dataset=dataset, text=text, file=file, criteria=criteria, seeds=seeds, buffer=buffer,
                   overlap=overlap, policy=policy, time_limit=time_limit, guidelines=guidelines, open=open_,
                   message=message, arena=arena, refresh=refresh, close=close, reopen=reopen, status=status,
                   board=board)


def wire(ctx: UIContext, ui: ArenaUI) -> None:
    ctrl = ArenaController(ctx.studio)
    ctx.follow_backends(ui.backends, ctrl.backend_choices)
    view = [ui.arena, ui.status, ui.board]
    form = [ui.name, ui.task, ui.backends, ui.source, ui.nodes, ui.count, ui.dataset, ui.text, ui.file,
            ui.criteria, ui.seeds, ui.buffer, ui.overlap, ui.policy, ui.time_limit, ui.guidelines]
    ui.open.click(ctx.guard("arena_admin", ctrl.open), form, [ui.message, *view], api_name="arena_open")
    ui.close.click(ctx.guard("arena_admin", ctrl.close), [ui.arena], view, api_name="arena_close")
    ui.reopen.click(ctx.guard("arena_admin", ctrl.reopen), [ui.arena], view, api_name="arena_reopen")
    ui.refresh.click(ctx.guard("arena_status", ctrl.refresh), [ui.arena], view, api_name="arena_status")
    ui.arena.input(ctx.guard("arena_status", ctrl.refresh), [ui.arena], view, api_visibility="private")
    # on page load, for admins (quietly refused to others)
    gr.on(triggers=None, fn=ctx.guard("arena_status", ctrl.refresh), inputs=[ui.arena], outputs=view,
          api_visibility="private", show_progress="hidden")



def _nodes(studio) -> list[str]:
    """The nodes prompts can come from; none while a taxonomy file is broken (the Taxonomy tab says why)."""
    from studio.synthesis.service import node_choices
    from studio.taxonomy.loader import TaxonomyError

    try:
        return node_choices(studio)
    except TaxonomyError:
        return []

TAB = TabSpec(id="arena", title="Arena", order=35, build=build, wire=wire)
