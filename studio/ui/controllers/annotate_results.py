"""The Annotate tab's results handlers (admins): boards and charts, exclusions, exports, AI judges."""
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from studio.annotation import AnnotationError, results, service
from studio.annotation.battles import Battles, build_battles, read_battles_jsonl
from studio.annotation.boards import leaderboard_json, select_judges
from studio.annotation.report import build_report, chart_for, pair_rows
from studio.arena import exclusions
from studio.core import Studio
from studio.judges import JudgeError
from studio.ui.access import current_identity, require

ALL = "__all__"  # the batch list's "All batches"
EXPORTS = {"jsonl": "Votes as JSONL", "csv": "Votes as CSV",
           "pairs": "Revealed pairs with images (zip of the selected batch)"}
JUDGE_MEASURES = [("agreement_with_humans", "Agreement with majority"),
                  ("cohen_kappa", "Judge κ (vs each annotator)"), ("human_kappa", "Human κ (annotator pairs)"),
                  ("position_consistency", "Position consistency")]


def _chosen(batch: str | None) -> str | None:
    return None if batch in (None, "", ALL) else batch


class ResultsController:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    def batch_choices(self, name: str, batch: str | None, shown: str | None, request: gr.Request,
                      profile: gr.OAuthProfile | None):
        """The batch list; the results follow the batch being annotated (else the one shown, else the
        newest), so numbers of other batches are mixed in only when "All batches" is chosen."""
        who = current_identity(self.studio.settings, name, request, profile)
        if who is None or not who.is_admin:
            return gr.update()
        choices = [("All batches", ALL)] + [(b.name, b.id) for b in service.list_batches(self.studio)]
        ids = [v for _, v in choices]
        value = next((v for v in (batch, shown if shown != ALL else None) if v in ids),
                     ids[1] if len(ids) > 1 else ALL)
        return gr.update(choices=choices, value=value)

    def compute(self, name: str, source: str, batch: str, criterion: str, bootstrap, upload: str | None, by: str,
                depth: float, ci: str, reweight: bool, annotator: str, exclude: str,
                request: gr.Request, profile: gr.OAuthProfile | None):
        """Battles, summary, model list, chart, win/tie/loss, board, pairs, win and count matrices,
        kappas, annotators, per-node boards and the board's JSON."""
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
                battles, board = results.studio_board(self.studio, _chosen(batch),
                                                      criterion=(criterion or "").strip() or None, annotator=who,
                                                      exclude=left_out, **options)
            rep = build_report(battles, board=board)
        except (AnnotationError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        model = rep.leaderboard[0][1] if rep.leaderboard else None
        chart, wtl = self._chart(battles, model, by, depth)
        mm = ["model", *rep.matrix_models]
        return (battles, rep.quality, gr.update(choices=rep.models, value=model), chart, wtl, rep.leaderboard,
                rep.pairs, gr.update(value=pd.DataFrame(rep.win_matrix, columns=mm), visible=bool(rep.matrix_models)),
                gr.update(value=pd.DataFrame(rep.count_matrix, columns=mm), visible=bool(rep.matrix_models)),
                [[k["annotator_1"], k["annotator_2"], k["shared_items"], k["kappa"]] for k in rep.kappas],
                rep.annotators, rep.node_boards, rep.board_json or board)

    def rechart(self, name: str, battles: Battles | None, model: str | None, by: str, depth: float,
                request: gr.Request, profile: gr.OAuthProfile | None):
        """(chart, win/tie/loss rows) from the side of ``model``."""
        return self._chart(battles, model, by, depth)

    def exclude_annotator(self, name: str, annotator: str, reason: str, request: gr.Request,
                          profile: gr.OAuthProfile | None) -> str:
        who = require(self.studio.settings, name, request, profile)
        try:
            exclusions.exclude_annotator(self.studio, annotator, by=who.name, reason=(reason or "").strip())
        except AnnotationError as exc:
            raise gr.Error(str(exc)) from None
        return self._left_out()

    def include_annotator(self, name: str, annotator: str, reason: str, request: gr.Request,
                          profile: gr.OAuthProfile | None) -> str:
        who = require(self.studio.settings, name, request, profile)
        try:
            exclusions.include_annotator(self.studio, annotator, by=who.name)
        except AnnotationError as exc:
            raise gr.Error(str(exc)) from None
        return self._left_out()

    def export(self, kind: str, name: str, batch: str, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        """A file of the votes (``jsonl``, ``csv``) or of the revealed pairs with images (``pairs``)."""
        chosen = _chosen(batch)
        try:
            if kind == "pairs":
                if chosen is None:
                    raise AnnotationError("choose one batch (not all) to export its pairs")
                path = results.export_pairs(self.studio, chosen)
            else:
                path = results.export_votes(self.studio, chosen, kind)
        except (AnnotationError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        # a copy in a temp folder: the web server serves temp files wherever the data folder lives
        copy = Path(tempfile.mkdtemp(prefix="studio-export-")) / path.name
        shutil.copyfile(path, copy)
        return str(copy)

    def _left_out(self) -> str:
        left_out = sorted(exclusions.excluded_annotators(self.studio))
        return (", ".join(left_out) or "nobody") + " — press Compute results to see the boards without them"

    @staticmethod
    def _chart(battles: Battles | None, model: str | None, by: str, depth: float):
        if battles is None or not model or model not in battles.models:
            return pd.DataFrame({"bar": [], "outcome": [], "percent": []}), []
        rows, wtl = chart_for(battles, model, by or "opponent", int(depth or 2))
        return pd.DataFrame(rows, columns=["bar", "outcome", "percent"]), pair_rows(wtl)


class JudgeTrustController:
    """An AI judge on the batch chosen under Results: its votes, its agreement with people, its board."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    def judges(self, name: str, request: gr.Request, profile: gr.OAuthProfile | None):
        from studio.judges.judges import judge_names

        names = judge_names(self.studio.backends)
        return gr.update(choices=names, value=names[0] if names else None)

    def vote(self, name: str, batch: str, judge: str, request: gr.Request, profile: gr.OAuthProfile | None,
             progress=gr.Progress()) -> str:
        from studio.judges.arena import judge_batch

        if not judge:
            raise gr.Error("Choose a judge first.")
        try:
            out = judge_batch(self.studio, self._batch(batch), judge,
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

    def show(self, name: str, batch: str, judge: str, criterion: str, request: gr.Request,
             profile: gr.OAuthProfile | None):
        """(summary, chart, table) of the judge's agreement with the people who voted."""
        from studio.judges.arena import batch_trust

        if not judge:
            raise gr.Error("Choose a judge first.")
        try:
            trust = batch_trust(self.studio, self._batch(batch), judge)
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

    def board(self, name: str, batch: str, judge: str, criterion: str, kind: str, request: gr.Request,
              profile: gr.OAuthProfile | None):
        from studio.judges.arena import judge_board

        if not judge:
            raise gr.Error("Choose a judge first.")
        try:
            out = judge_board(self.studio, self._batch(batch), judge, criterion=(criterion or "").strip() or None,
                              combined=kind == "combined")
        except JudgeError as exc:
            raise gr.Error(str(exc)) from None
        return [[out["label"], m["model"], m["rating"], m["lower"], m["upper"], m["battles"]] for m in out["models"]]

    @staticmethod
    def _batch(batch: str | None) -> str:
        if _chosen(batch) is None:
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
                chart += [{"node": node, "measure": label, "value": r[key]} for key, label in JUDGE_MEASURES
                          if r[key] is not None]
    return pd.DataFrame(chart, columns=["node", "measure", "value"]), table
