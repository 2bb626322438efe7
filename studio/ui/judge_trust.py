"""Annotate tab, admin part: let an AI judge vote on a batch, and see how far it agrees with people.

The chart sets, per taxonomy node, the judge's agreement with the human majority, its mean Cohen's κ
with each annotator, the annotators' κ with each other and its position consistency side by side; the
table carries the counts and 95% intervals. Uses the batch chosen under Results. Handlers:
:class:`studio.ui.controllers.annotate_results.JudgeTrustController`.
"""
from dataclasses import dataclass

import gradio as gr

from studio.ui.context import UIContext
from studio.ui.controllers.annotate_results import JudgeTrustController

COLUMNS = ["criterion", "node", "pairs", "judged", "agreement", "agreement 95% CI", "pairs with majority",
           "judge κ", "judge κ 95% CI", "human κ", "human κ 95% CI", "position consistency",
           "position-inconsistent", "as good as people"]
BOARD_COLUMNS = ["board", "model", "rating", "lower", "upper", "battles"]


@dataclass
class JudgeTrustUI:
    name: gr.Dropdown
    criterion: gr.Textbox
    vote: gr.Button
    show: gr.Button
    summary: gr.Textbox
    chart: gr.BarPlot
    table: gr.Dataframe
    board_kind: gr.Radio
    board_go: gr.Button
    board: gr.Dataframe


def build(ctx: UIContext) -> JudgeTrustUI:
    with gr.Accordion("AI judges: verdicts beside the human votes", open=False, elem_id="annotate-judges"):
        with gr.Row():
            name = gr.Dropdown([], label="Judge", allow_custom_value=True, elem_id="annotate-judge-name")
            criterion = gr.Textbox(label="Criterion for the chart (empty: the batch's first)", max_lines=1)
        with gr.Row():
            vote = gr.Button("Let the judge vote on the batch", elem_id="annotate-judge-vote")
            show = gr.Button("Show agreement", variant="primary", elem_id="annotate-judge-show")
        summary = gr.Textbox(label="Judge", interactive=False, lines=2, elem_id="annotate-judge-summary")
        chart = gr.BarPlot(x="node", y="value", color="measure", label="Judge vs people per taxonomy node",
                           elem_id="annotate-judge-chart", y_lim=[-1, 1], height=340, x_title="",
                           y_title="value", color_title="measure")
        table = gr.Dataframe(headers=COLUMNS, label="Agreement, κ and position consistency with counts",
                             interactive=False, elem_id="annotate-judge-table")
        with gr.Row():
            board_kind = gr.Radio([("The judge's verdicts only", "judge"),
                                   ("Combined: human votes + the judge", "combined")], value="judge",
                                  label="Leaderboard from")
            board_go = gr.Button("Show leaderboard", elem_id="annotate-judge-board-go")
        board = gr.Dataframe(headers=BOARD_COLUMNS, label="Leaderboard (Bradley–Terry, bootstrap 95% CI)",
                             interactive=False, elem_id="annotate-judge-board")
    return JudgeTrustUI(name=name, criterion=criterion, vote=vote, show=show, summary=summary, chart=chart,
                        table=table, board_kind=board_kind, board_go=board_go, board=board)


def wire(ctx: UIContext, ui: JudgeTrustUI, ctrl: JudgeTrustController, name: gr.Textbox, batch: gr.Dropdown) -> None:
    """Connects the panel; ``name`` is the signed-in name field, ``batch`` the Results batch list."""
    ui.name.focus(ctx.guard("results", ctrl.judges), [name], [ui.name], api_visibility="private")
    ui.vote.click(ctx.guard("judge_vote", ctrl.vote), [name, batch, ui.name], [ui.summary],
                  api_name="annotate_judge_vote")
    ui.show.click(ctx.guard("results", ctrl.show), [name, batch, ui.name, ui.criterion],
                  [ui.summary, ui.chart, ui.table], api_name="annotate_judge_trust")
    ui.board_go.click(ctx.guard("results", ctrl.board), [name, batch, ui.name, ui.criterion, ui.board_kind],
                      [ui.board], api_name="annotate_judge_board")
