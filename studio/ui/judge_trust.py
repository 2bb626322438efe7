"""Annotate tab, admin part: let an AI judge vote on a batch, and see how far it agrees with people.

The chart sets, per taxonomy node, the judge's agreement with the human majority, its mean Cohen's κ
with each annotator, the annotators' κ with each other and its position consistency side by side; the
table carries the counts and 95% intervals. Uses the batch chosen under Results.
"""
from typing import Any

import gradio as gr
import pandas as pd

from studio.judges import JudgeError
from studio.ui.context import UIContext

ALL = "__all__"
MEASURES = [("agreement_with_humans", "Agreement with majority"), ("cohen_kappa", "Judge κ (vs each annotator)"),
            ("human_kappa", "Human κ (annotator pairs)"), ("position_consistency", "Position consistency")]
COLUMNS = ["criterion", "node", "pairs", "judged", "agreement", "agreement 95% CI", "pairs with majority",
           "judge κ", "judge κ 95% CI", "human κ", "human κ 95% CI", "position consistency",
           "position-inconsistent", "as good as people"]


def build(ctx: UIContext, c: dict[str, Any]) -> None:
    with gr.Accordion("AI judges: verdicts beside the human votes", open=False, elem_id="annotate-judges"):
        with gr.Row():
            c["judge_name"] = gr.Dropdown([], label="Judge", allow_custom_value=True, elem_id="annotate-judge-name")
            c["judge_criterion"] = gr.Textbox(label="Criterion for the chart (empty: the batch's first)", max_lines=1)
        with gr.Row():
            c["judge_vote"] = gr.Button("Let the judge vote on the batch", elem_id="annotate-judge-vote")
            c["judge_show"] = gr.Button("Show agreement", variant="primary", elem_id="annotate-judge-show")
        c["judge_summary"] = gr.Textbox(label="Judge", interactive=False, lines=2, elem_id="annotate-judge-summary")
        c["judge_chart"] = gr.BarPlot(x="node", y="value", color="measure", label="Judge vs people per taxonomy node",
                                      elem_id="annotate-judge-chart", y_lim=[-1, 1], height=340, x_title="",
                                      y_title="value", color_title="measure")
        c["judge_table"] = gr.Dataframe(headers=COLUMNS, label="Agreement, κ and position consistency with counts",
                                        interactive=False, elem_id="annotate-judge-table")
        with gr.Row():
            c["judge_board_kind"] = gr.Radio([("The judge's verdicts only", "judge"),
                                              ("Combined: human votes + the judge", "combined")], value="judge",
                                             label="Leaderboard from")
            c["judge_board_go"] = gr.Button("Show leaderboard", elem_id="annotate-judge-board-go")
        c["judge_board"] = gr.Dataframe(headers=BOARD_COLUMNS, label="Leaderboard (Bradley–Terry, bootstrap 95% CI)",
                                        interactive=False, elem_id="annotate-judge-board")


BOARD_COLUMNS = ["board", "model", "rating", "lower", "upper", "battles"]


def _batch(batch: str | None) -> str:
    if batch in (None, "", ALL):
        raise gr.Error("Choose one batch under Results (not all batches).")
    return batch


def trust_view(trust: dict[str, Any], criterion: str | None) -> tuple[pd.DataFrame, list[list[Any]]]:
    """Chart rows (node, measure, value) for one criterion and table rows for every criterion."""
    table, chart = [], []
    chosen = criterion or next(iter(trust["criteria"]), None)
    for crit, groups in trust["criteria"].items():
        for node, r in groups.items():
            table.append([crit, node, r["pairs"], r["judged"], r["agreement_with_humans"], r["agreement_ci"],
                          r["pairs_with_majority"], r["cohen_kappa"], r["cohen_kappa_ci"], r["human_kappa"],
                          r["human_kappa_ci"], r["position_consistency"], r["position_inconsistent"],
                          {True: "yes", False: "no", None: "n/a"}[r["as_good_as_humans"]]])
            if crit == chosen:
                chart += [{"node": node, "measure": label, "value": r[key]} for key, label in MEASURES
                          if r[key] is not None]
    return pd.DataFrame(chart, columns=["node", "measure", "value"]), table


def wire(ctx: UIContext, c: dict[str, Any]) -> None:
    studio = ctx.studio

    def judges(name: str, request: gr.Request, profile: gr.OAuthProfile | None):
        from studio.judges.judges import judge_names

        names = judge_names(studio.backends)
        return gr.update(choices=names, value=names[0] if names else None)

    c["judge_name"].focus(ctx.guard("results", judges), [c["name"]], [c["judge_name"]], api_visibility="private")

    def vote(name: str, batch: str, judge: str, request: gr.Request, profile: gr.OAuthProfile | None,
             progress=gr.Progress()):
        from studio.judges.arena import judge_batch

        if not judge:
            raise gr.Error("Choose a judge first.")
        try:
            out = judge_batch(studio, _batch(batch), judge,
                              progress=lambda done, total: progress((done, total), desc="judging"))
        except JudgeError as exc:
            raise gr.Error(str(exc)) from None
        parts = [f"{crit}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                 for crit, counts in out["counts"].items()]
        usage = out["usage"]
        cost = f"; {usage.get('calls', 0)} calls, {usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} " \
               f"tokens, ${usage.get('cost_usd', 0.0):.4f}" if usage else ""
        return (f"{out['annotator']} voted on {out['batch']} (kept apart from human votes). " + "; ".join(parts)
                + cost + ". Failed items are retried when you press the button again.")

    c["judge_vote"].click(ctx.guard("judge_vote", vote), [c["name"], c["res_batch"], c["judge_name"]], [c["judge_summary"]],
                          api_name="annotate_judge_vote")

    def show(name: str, batch: str, judge: str, criterion: str, request: gr.Request, profile: gr.OAuthProfile | None):
        from studio.judges.arena import batch_trust

        if not judge:
            raise gr.Error("Choose a judge first.")
        try:
            trust = batch_trust(studio, _batch(batch), judge)
        except JudgeError as exc:
            raise gr.Error(str(exc)) from None
        criterion = (criterion or "").strip() or None
        if criterion and criterion not in trust["criteria"]:
            raise gr.Error(f"the judge has no verdicts for {criterion!r}; it has: {', '.join(trust['criteria'])}")
        chart, table = trust_view(trust, criterion)
        first = trust["criteria"][criterion or next(iter(trust["criteria"]))]["(all)"]
        summary = (f"{judge} on {trust['batch']}: {first['pairs']} pairs, {trust['human_votes']} human votes; "
                   f"agreement with the majority {first['agreement_with_humans']}, judge κ {first['cohen_kappa']} "
                   f"vs human κ {first['human_kappa']}, position consistency {first['position_consistency']}.")
        return summary, chart, table

    c["judge_show"].click(ctx.guard("results", show), [c["name"], c["res_batch"], c["judge_name"], c["judge_criterion"]],
                          [c["judge_summary"], c["judge_chart"], c["judge_table"]], api_name="annotate_judge_trust")

    def board(name: str, batch: str, judge: str, criterion: str, kind: str, request: gr.Request,
              profile: gr.OAuthProfile | None):
        from studio.judges.arena import judge_board

        if not judge:
            raise gr.Error("Choose a judge first.")
        try:
            out = judge_board(studio, _batch(batch), judge, criterion=(criterion or "").strip() or None,
                              combined=kind == "combined")
        except JudgeError as exc:
            raise gr.Error(str(exc)) from None
        return [[out["label"], m["model"], m["rating"], m["lower"], m["upper"], m["battles"]] for m in out["models"]]

    c["judge_board_go"].click(ctx.guard("results", board), [c["name"], c["res_batch"], c["judge_name"], c["judge_criterion"],
                                      c["judge_board_kind"]], [c["judge_board"]], api_name="annotate_judge_board")
