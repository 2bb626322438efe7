"""Annotate tab, admin part: results (win/tie/loss chart, leaderboard, matrices, quality) and exports.

Handlers: :class:`studio.ui.controllers.annotate_results.ResultsController`.
"""
from dataclasses import dataclass
from functools import partial

import gradio as gr

from studio.annotation.report import ANNOTATOR_COLUMNS, BOARD_COLUMNS, NODE_BOARD_COLUMNS, PAIR_COLUMNS
from studio.ui import judge_trust
from studio.ui.context import UIContext
from studio.ui.controllers.annotate_results import ALL, EXPORTS, JudgeTrustController, ResultsController

BY = [("Opponent", "opponent"), ("Task (T2I vs edit)", "task"), ("Taxonomy node", "taxonomy")]


@dataclass
class ResultsUI:
    source: gr.Radio
    batch: gr.Dropdown
    criterion: gr.Textbox
    bootstrap: gr.Number
    ci: gr.Radio
    reweight: gr.Checkbox
    annotator: gr.Textbox
    exclude: gr.Textbox
    file: gr.File
    go: gr.Button
    battles: gr.State
    summary: gr.Textbox
    model: gr.Dropdown
    by: gr.Radio
    depth: gr.Slider
    chart: gr.BarPlot
    wtl: gr.Dataframe
    board: gr.Dataframe
    nodes: gr.Dataframe
    pairs: gr.Dataframe
    winfrac: gr.Dataframe
    counts: gr.Dataframe
    kappa: gr.Dataframe
    annotators: gr.Dataframe
    ex_name: gr.Textbox
    ex_reason: gr.Textbox
    ex_go: gr.Button
    in_go: gr.Button
    ex_status: gr.Textbox
    json: gr.JSON
    exports: dict[str, gr.Button]  # by kind (see controllers.annotate_results.EXPORTS)
    exp_file: gr.File
    judges: judge_trust.JudgeTrustUI


def build(ctx: UIContext) -> ResultsUI:
    with gr.Accordion("Results", open=True, elem_id="annotate-results"):
        with gr.Row():
            source = gr.Radio([("This studio's votes", "studio"), ("Uploaded battles JSONL", "file")],
                              value="studio", label="Votes from")
            batch = gr.Dropdown([("All batches", ALL)], value=ALL, label="Batch", elem_id="annotate-res-batch",
                                allow_custom_value=True)
            criterion = gr.Textbox(label="Criterion (empty: the batch's first)", max_lines=1)
            bootstrap = gr.Number(200, label="Bootstrap rounds", precision=0, minimum=0, maximum=5000)
        with gr.Row():
            ci = gr.Radio([("Sandwich (closed form)", "sandwich"), ("Bootstrap", "bootstrap")],
                          value="sandwich", label="95% interval behind the rank")
            reweight = gr.Checkbox(False, label="Down-weight over-sampled pairs")
            annotator = gr.Textbox(label="Personal board: only this annotator's votes", max_lines=1)
            exclude = gr.Textbox(label="Leave out these annotators' votes (comma-separated)", max_lines=1)
        file = gr.File(label="Battles JSONL (model_a, model_b, winner[, judge, question_id, tstamp])",
                       file_types=[".jsonl", ".json"], type="filepath")
        go = gr.Button("Compute results", variant="primary", elem_id="annotate-res-go")
        battles = gr.State(None)
        summary = gr.Textbox(label="Summary and quality checks", interactive=False, lines=3,
                             elem_id="annotate-res-summary")
        with gr.Row():
            model = gr.Dropdown([], label="Win/tie/loss from the side of", elem_id="annotate-res-model",
                                allow_custom_value=True)
            by = gr.Radio(BY, value="opponent", label="Bars per")
            depth = gr.Slider(1, 5, value=2, step=1, label="Taxonomy depth")
        chart = gr.BarPlot(x="bar", y="percent", color="outcome", label="Win / tie / loss (%)",
                           elem_id="annotate-res-chart", y_lim=[0, 100], height=360, x_title="",
                           y_title="% of battles", color_title="outcome",
                           color_map={"Win": "#2f9e44", "Tie": "#adb5bd", "Loss": "#e03131"})
        wtl = gr.Dataframe(headers=PAIR_COLUMNS, label="Win / tie / loss with 95% Wilson intervals",
                           interactive=False, elem_id="annotate-res-wtl")
        board = gr.Dataframe(headers=BOARD_COLUMNS, label="Leaderboard: Bradley–Terry with 95% intervals "
                             "(rank = 1 + models whose interval lies wholly above; shared ranks are "
                             "statistical ties) and online Elo", interactive=False, elem_id="annotate-res-board")
        nodes = gr.Dataframe(headers=NODE_BOARD_COLUMNS, label="Boards per task, taxonomy node and criterion",
                             interactive=False, elem_id="annotate-res-nodes")
        pairs = gr.Dataframe(headers=PAIR_COLUMNS, label="All pairs", interactive=False)
        with gr.Row():
            # hidden until computed: their columns are the models, unknown before
            winfrac = gr.Dataframe(label="Win fraction of row over column (non-tied battles)", interactive=False,
                                   visible=False, elem_id="annotate-res-winfrac")
            counts = gr.Dataframe(label="Battle counts", interactive=False, visible=False,
                                  elem_id="annotate-res-counts")
        kappa = gr.Dataframe(headers=["annotator 1", "annotator 2", "shared items", "Cohen's kappa"],
                             label="Agreement per annotator pair", interactive=False)
        annotators = gr.Dataframe(headers=ANNOTATOR_COLUMNS, label="Annotators: speed, side bias, outliers",
                                  interactive=False)
        with gr.Row():
            ex_name = gr.Textbox(label="Annotator", max_lines=1, elem_id="annotate-res-ex-name")
            ex_reason = gr.Textbox(label="Reason (kept with the decision)", max_lines=1)
            ex_go = gr.Button("Leave their votes out of the boards", elem_id="annotate-res-ex-go")
            in_go = gr.Button("Count their votes again", elem_id="annotate-res-in-go")
        ex_status = gr.Textbox(label="Left out of the boards (their votes stay stored)", interactive=False,
                               elem_id="annotate-res-ex-status")
        with gr.Accordion("Leaderboard JSON (what `python -m studio leaderboard --json` prints)", open=False):
            board_json = gr.JSON(label="Leaderboard JSON", elem_id="annotate-res-json")
    with gr.Accordion("Export", open=False):
        with gr.Row():
            exports = {kind: gr.Button(label) for kind, label in EXPORTS.items()}
        exp_file = gr.File(label="Download", interactive=False, elem_id="annotate-export-file")
    judges = judge_trust.build(ctx)
    return ResultsUI(source=source, batch=batch, criterion=criterion, bootstrap=bootstrap, ci=ci, reweight=reweight,
                     annotator=annotator, exclude=exclude, file=file, go=go, battles=battles, summary=summary,
                     model=model, by=by, depth=depth, chart=chart, wtl=wtl, board=board, nodes=nodes, pairs=pairs,
                     winfrac=winfrac, counts=counts, kappa=kappa, annotators=annotators, ex_name=ex_name,
                     ex_reason=ex_reason, ex_go=ex_go, in_go=in_go, ex_status=ex_status, json=board_json,
                     exports=exports, exp_file=exp_file, judges=judges)


def wire(ctx: UIContext, ui: ResultsUI, ctrl: ResultsController, judges: JudgeTrustController,
         name: gr.Textbox) -> None:
    """Connects the panel; ``name`` is the signed-in name field."""
    ui.go.click(
        ctx.guard("results", ctrl.compute),
        [name, ui.source, ui.batch, ui.criterion, ui.bootstrap, ui.file, ui.by, ui.depth, ui.ci, ui.reweight,
         ui.annotator, ui.exclude],
        [ui.battles, ui.summary, ui.model, ui.chart, ui.wtl, ui.board, ui.pairs, ui.winfrac, ui.counts, ui.kappa,
         ui.annotators, ui.nodes, ui.json],
        api_name="annotate_results",
    )
    gr.on([ui.model.input, ui.by.input, ui.depth.release], ctx.guard("results", ctrl.rechart),
          [name, ui.battles, ui.model, ui.by, ui.depth], [ui.chart, ui.wtl], api_visibility="private")
    decision = [name, ui.ex_name, ui.ex_reason]
    ui.ex_go.click(ctx.guard("results", ctrl.exclude_annotator), decision, [ui.ex_status],
                   api_name="annotate_exclude_annotator")
    ui.in_go.click(ctx.guard("results", ctrl.include_annotator), decision, [ui.ex_status],
                   api_name="annotate_include_annotator")
    for kind, button in ui.exports.items():
        button.click(ctx.guard("results", partial(ctrl.export, kind)), [name, ui.batch], [ui.exp_file],
                     api_name=f"annotate_export_{kind}")
    judge_trust.wire(ctx, ui.judges, judges, name, ui.batch)
