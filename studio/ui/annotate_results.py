"""Annotate tab, admin part: results (win/tie/loss chart, leaderboard, matrices, quality) and exports."""
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from studio.annotation import AnnotationError, results, service
from studio.annotation.battles import Battles, build_battles, read_battles_jsonl
from studio.annotation.boards import leaderboard_json, select_judges
from studio.annotation.report import (
    ANNOTATOR_COLUMNS, BOARD_COLUMNS, NODE_BOARD_COLUMNS, PAIR_COLUMNS, build_report, chart_for,
)
from studio.arena import exclusions
from studio.ui import judge_trust
from studio.ui.access import current_identity, require
from studio.ui.context import UIContext

ALL = "__all__"
BY = [("Opponent", "opponent"), ("Task (T2I vs edit)", "task"), ("Taxonomy node", "taxonomy")]


def build(ctx: UIContext, c: dict[str, Any]) -> None:
    with gr.Accordion("Results", open=True, elem_id="annotate-results"):
        with gr.Row():
            c["res_source"] = gr.Radio([("This studio's votes", "studio"), ("Uploaded battles JSONL", "file")],
                                       value="studio", label="Votes from")
            c["res_batch"] = gr.Dropdown([("All batches", ALL)], value=ALL, label="Batch", elem_id="annotate-res-batch",
                                       allow_custom_value=True)
            c["res_criterion"] = gr.Textbox(label="Criterion (empty: the batch's first)", max_lines=1)
            c["res_bootstrap"] = gr.Number(200, label="Bootstrap rounds", precision=0, minimum=0, maximum=5000)
        with gr.Row():
            c["res_ci"] = gr.Radio([("Sandwich (closed form)", "sandwich"), ("Bootstrap", "bootstrap")],
                                   value="sandwich", label="95% interval behind the rank")
            c["res_reweight"] = gr.Checkbox(False, label="Down-weight over-sampled pairs")
            c["res_annotator"] = gr.Textbox(label="Personal board: only this annotator's votes", max_lines=1)
            c["res_exclude"] = gr.Textbox(label="Leave out these annotators' votes (comma-separated)", max_lines=1)
        c["res_file"] = gr.File(label="Battles JSONL (model_a, model_b, winner[, judge, question_id, tstamp])",
                                file_types=[".jsonl", ".json"], type="filepath")
        c["res_go"] = gr.Button("Compute results", variant="primary", elem_id="annotate-res-go")
        c["res_battles"] = gr.State(None)
        c["res_summary"] = gr.Textbox(label="Summary and quality checks", interactive=False, lines=3,
                                      elem_id="annotate-res-summary")
        with gr.Row():
            c["res_model"] = gr.Dropdown([], label="Win/tie/loss from the side of", elem_id="annotate-res-model",
                                        allow_custom_value=True)
            c["res_by"] = gr.Radio(BY, value="opponent", label="Bars per")
            c["res_depth"] = gr.Slider(1, 5, value=2, step=1, label="Taxonomy depth")
        c["res_chart"] = gr.BarPlot(x="bar", y="percent", color="outcome", label="Win / tie / loss (%)",
                                    elem_id="annotate-res-chart", y_lim=[0, 100], height=360, x_title="",
                                    y_title="% of battles", color_title="outcome",
                                    color_map={"Win": "#2f9e44", "Tie": "#adb5bd", "Loss": "#e03131"})
        c["res_wtl"] = gr.Dataframe(headers=PAIR_COLUMNS, label="Win / tie / loss with 95% Wilson intervals",
                                    interactive=False, elem_id="annotate-res-wtl")
        c["res_board"] = gr.Dataframe(headers=BOARD_COLUMNS, label="Leaderboard: Bradley–Terry with 95% intervals "
                                      "(rank = 1 + models whose interval lies wholly above; shared ranks are "
                                      "statistical ties) and online Elo", interactive=False,
                                      elem_id="annotate-res-board")
        c["res_nodes"] = gr.Dataframe(headers=NODE_BOARD_COLUMNS, label="Boards per task, taxonomy node and criterion",
                                      interactive=False, elem_id="annotate-res-nodes")
        c["res_pairs"] = gr.Dataframe(headers=PAIR_COLUMNS, label="All pairs", interactive=False)
        with gr.Row():
            # hidden until computed: their columns are the models, unknown before
            c["res_winfrac"] = gr.Dataframe(label="Win fraction of row over column (non-tied battles)", interactive=False,
                                            visible=False, elem_id="annotate-res-winfrac")
            c["res_counts"] = gr.Dataframe(label="Battle counts", interactive=False, visible=False,
                                           elem_id="annotate-res-counts")
        c["res_kappa"] = gr.Dataframe(headers=["annotator 1", "annotator 2", "shared items", "Cohen's kappa"],
                                      label="Agreement per annotator pair", interactive=False)
        c["res_annotators"] = gr.Dataframe(headers=ANNOTATOR_COLUMNS, label="Annotators: speed, side bias, outliers",
                                           interactive=False)
        with gr.Row():
            c["res_ex_name"] = gr.Textbox(label="Annotator", max_lines=1, elem_id="annotate-res-ex-name")
            c["res_ex_reason"] = gr.Textbox(label="Reason (kept with the decision)", max_lines=1)
            c["res_ex_go"] = gr.Button("Leave their votes out of the boards", elem_id="annotate-res-ex-go")
            c["res_in_go"] = gr.Button("Count their votes again", elem_id="annotate-res-in-go")
        c["res_ex_status"] = gr.Textbox(label="Left out of the boards (their votes stay stored)", interactive=False,
                                        elem_id="annotate-res-ex-status")
        with gr.Accordion("Leaderboard JSON (what `python -m studio leaderboard --json` prints)", open=False):
            c["res_json"] = gr.JSON(label="Leaderboard JSON", elem_id="annotate-res-json")
    with gr.Accordion("Export", open=False):
        with gr.Row():
            c["exp_votes_jsonl"] = gr.Button("Votes as JSONL")
            c["exp_votes_csv"] = gr.Button("Votes as CSV")
            c["exp_pairs"] = gr.Button("Revealed pairs with images (zip of the selected batch)")
        c["exp_file"] = gr.File(label="Download", interactive=False, elem_id="annotate-export-file")
    judge_trust.build(ctx, c)


def _batches(studio) -> list[tuple[str, str]]:
    return [("All batches", ALL)] + [(b.name, b.id) for b in service.list_batches(studio)]


def _chart(battles: Battles | None, model: str | None, by: str, depth: float):
    if battles is None or not model or model not in battles.models:
        return pd.DataFrame({"bar": [], "outcome": [], "percent": []}), []
    rows, wtl = chart_for(battles, model, by or "opponent", int(depth or 2))
    from studio.annotation.report import pair_rows

    return pd.DataFrame(rows, columns=["bar", "outcome", "percent"]), pair_rows(wtl)


def wire(ctx: UIContext, c: dict[str, Any]) -> None:
    studio = ctx.studio

    def refresh_batches(name: str, batch: str | None, shown: str | None, request: gr.Request,
                        profile: gr.OAuthProfile | None):
        """The batch list; the results follow the batch being annotated (else the one shown, else the
        newest), so numbers of other batches are mixed in only when "All batches" is chosen."""
        who = current_identity(studio, name, request, profile)
        if who is None or not who.is_admin:
            return gr.update()
        choices = _batches(studio)
        ids = [v for _, v in choices]
        value = next((v for v in (batch, shown if shown != ALL else None) if v in ids),
                     ids[1] if len(ids) > 1 else ALL)
        return gr.update(choices=choices, value=value)

    c["refresh_results"] = refresh_batches

    def compute(name: str, source: str, batch: str, criterion: str, bootstrap, upload: str | None, by: str,
                depth: float, ci: str, reweight: bool, annotator: str, exclude: str,
                request: gr.Request, profile: gr.OAuthProfile | None):
        options = dict(ci=ci or "sandwich", bootstrap=max(0, min(5000, int(bootstrap or 0))),
                       reweight=bool(reweight), depth=int(depth or 2))
        who = (annotator or "").strip() or None
        left_out = tuple(e.strip() for e in (exclude or "").split(",") if e.strip())
        try:
            if source == "file":
                if not upload:
                    raise AnnotationError("upload a battles JSONL first")
                battles = select_judges(build_battles(read_battles_jsonl(upload)), only=who, exclude=left_out)
                board = leaderboard_json(battles, **options)
            else:
                battles, board = results.studio_board(studio, None if batch in (None, "", ALL) else batch,
                                                      criterion=(criterion or "").strip() or None, annotator=who,
                                                      exclude=left_out, **options)
            rep = build_report(battles, board=board)
        except (AnnotationError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        model = rep.leaderboard[0][1] if rep.leaderboard else None
        chart, wtl = _chart(battles, model, by, depth)
        mm = ["model", *rep.matrix_models]
        return (battles, rep.quality, gr.update(choices=rep.models, value=model), chart, wtl, rep.leaderboard,
                rep.pairs, gr.update(value=pd.DataFrame(rep.win_matrix, columns=mm), visible=bool(rep.matrix_models)),
                gr.update(value=pd.DataFrame(rep.count_matrix, columns=mm), visible=bool(rep.matrix_models)),
                [[k["annotator_1"], k["annotator_2"], k["shared_items"], k["kappa"]] for k in rep.kappas],
                rep.annotators, rep.node_boards, rep.board_json or board)

    c["res_go"].click(
        ctx.guard("results", compute),
        [c["name"], c["res_source"], c["res_batch"], c["res_criterion"], c["res_bootstrap"], c["res_file"],
         c["res_by"], c["res_depth"], c["res_ci"], c["res_reweight"], c["res_annotator"], c["res_exclude"]],
        [c["res_battles"], c["res_summary"], c["res_model"], c["res_chart"], c["res_wtl"], c["res_board"],
         c["res_pairs"], c["res_winfrac"], c["res_counts"], c["res_kappa"], c["res_annotators"], c["res_nodes"],
         c["res_json"]],
        api_name="annotate_results",
    )

    def rechart(name: str, battles: Battles | None, model: str | None, by: str, depth: float,
                request: gr.Request, profile: gr.OAuthProfile | None):
        return _chart(battles, model, by, depth)

    gr.on([c["res_model"].input, c["res_by"].input, c["res_depth"].release], ctx.guard("results", rechart),
          [c["name"], c["res_battles"], c["res_model"], c["res_by"], c["res_depth"]],
          [c["res_chart"], c["res_wtl"]], api_visibility="private")

    def decide(exclude: bool):
        def run(name: str, annotator: str, reason: str, request: gr.Request, profile: gr.OAuthProfile | None):
            who = require(studio, name, request, profile)
            try:
                if exclude:
                    exclusions.exclude_annotator(studio, annotator, by=who.name, reason=(reason or "").strip())
                else:
                    exclusions.include_annotator(studio, annotator, by=who.name)
            except AnnotationError as exc:
                raise gr.Error(str(exc)) from None
            left_out = sorted(exclusions.excluded_annotators(studio))
            return (", ".join(left_out) or "nobody") + " — press Compute results to see the boards without them"
        return run

    c["res_ex_go"].click(ctx.guard("results", decide(True)), [c["name"], c["res_ex_name"], c["res_ex_reason"]], [c["res_ex_status"]],
                         api_name="annotate_exclude_annotator")
    c["res_in_go"].click(ctx.guard("results", decide(False)), [c["name"], c["res_ex_name"], c["res_ex_reason"]], [c["res_ex_status"]],
                         api_name="annotate_include_annotator")

    def export(kind: str):
        def run(name: str, batch: str, request: gr.Request, profile: gr.OAuthProfile | None):
            chosen = None if batch in (None, "", ALL) else batch
            try:
                if kind == "pairs":
                    if chosen is None:
                        raise AnnotationError("choose one batch (not all) to export its pairs")
                    path = results.export_pairs(studio, chosen)
                else:
                    path = results.export_votes(studio, chosen, kind)
            except (AnnotationError, ValueError) as exc:
                raise gr.Error(str(exc)) from None
            # a copy in a temp folder: the web server serves temp files wherever the data folder lives
            copy = Path(tempfile.mkdtemp(prefix="studio-export-")) / path.name
            shutil.copyfile(path, copy)
            return str(copy)
        return run

    for kind, button in (("jsonl", "exp_votes_jsonl"), ("csv", "exp_votes_csv"), ("pairs", "exp_pairs")):
        c[button].click(ctx.guard("results", export(kind)), [c["name"], c["res_batch"]], [c["exp_file"]], api_name=f"annotate_export_{kind}")
    judge_trust.wire(ctx, c)
