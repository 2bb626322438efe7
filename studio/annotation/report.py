"""Everything the Results panel shows, computed from battles as plain tables (lists of rows)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.annotation.agreement import agreement, annotator_report, position_bias
from studio.annotation.battles import Battles
from studio.annotation.ranking import bradley_terry, online_elo, pairwise_matrices
from studio.annotation.stats import WinTieLoss, all_pairs, breakdown, chart_rows, win_tie_loss

PAIR_COLUMNS = ["model", "opponent", "wins", "ties (good)", "ties (bad)", "losses", "n",
                "win %", "win 95% CI", "tie %", "tie 95% CI", "loss %", "loss 95% CI"]
BOARD_COLUMNS = ["rank", "model", "rating (BT)", "95% CI", "Elo (online)", "battles"]
ANNOTATOR_COLUMNS = ["annotator", "votes", "median s/vote", "left share", "majority agreement", "flags"]


def _pct(x: float) -> float:
    return round(100.0 * x, 1)


def _ci(row: WinTieLoss, what: str) -> str:
    lo, hi = row.interval(what)
    return f"{_pct(lo)}–{_pct(hi)}"


def pair_rows(rows: list[WinTieLoss]) -> list[list[Any]]:
    """Win/tie/loss rows with ratios and Wilson intervals, as a table."""
    out = []
    for r in rows:
        out.append([r.model, r.opponent if not r.group else f"{r.opponent} [{r.group}]", r.wins, r.ties_good,
                    r.ties_bad, r.losses, r.total, _pct(r.ratio("wins")), _ci(r, "wins"), _pct(r.ratio("ties")),
                    _ci(r, "ties"), _pct(r.ratio("losses")), _ci(r, "losses")])
    return out


def chart_for(battles: Battles, model: str, by: str = "opponent", depth: int = 2) -> tuple[list[dict], list[WinTieLoss]]:
    """Stacked-bar rows (Figure 5 style) of ``model`` against each opponent, or by task / taxonomy node."""
    opponents = [m for m in battles.models if m != model]
    rows: list[WinTieLoss] = []
    for opp in opponents:
        if by == "opponent":
            r = win_tie_loss(battles, model, opp)
            rows += [r] if r.total else []
        else:
            for g in breakdown(battles, model, opp, "task" if by == "task" else "taxonomy", depth):
                g.group = f"{g.group} vs {opp}" if len(opponents) > 1 else g.group
                rows.append(g)
    return chart_rows(rows), rows


@dataclass
class ResultsReport:
    """The whole Results view: leaderboard, pairs, matrices, agreement, bias and annotators."""

    votes: int
    models: list[str]
    leaderboard: list[list[Any]] = field(default_factory=list)
    pairs: list[list[Any]] = field(default_factory=list)
    matrix_models: list[str] = field(default_factory=list)
    win_matrix: list[list[Any]] = field(default_factory=list)
    count_matrix: list[list[Any]] = field(default_factory=list)
    quality: str = ""
    annotators: list[list[Any]] = field(default_factory=list)
    kappas: list[dict] = field(default_factory=list)


def build_report(battles: Battles, *, bootstrap: int = 200, seed: int = 0) -> ResultsReport:
    """Compute every table of the Results view from ``battles``."""
    rep = ResultsReport(votes=len(battles), models=list(battles.models))
    if len(battles) == 0:
        rep.quality = "No votes yet."
        return rep
    board = bradley_terry(battles, bootstrap=bootstrap, seed=seed).rows()
    elo = online_elo(battles)
    for k, r in enumerate(board, 1):
        rep.leaderboard.append([k, r["model"], round(r["rating"], 1), f"{r['lower']:.1f} – {r['upper']:.1f}",
                                round(elo[r["model"]], 1), r["battles"]])
    order = [r["model"] for r in board]
    rep.pairs = pair_rows(all_pairs(battles, order))
    models, frac, counts = pairwise_matrices(battles)
    idx = [models.index(m) for m in order]
    rep.matrix_models = order
    rep.win_matrix = [[order[a]] + ["" if math.isnan(frac[i, j]) else round(float(frac[i, j]), 3) for j in idx]
                      for a, i in enumerate(idx)]
    rep.count_matrix = [[order[a]] + [int(counts[i, j]) for j in idx] for a, i in enumerate(idx)]
    ag = agreement(battles)
    pb = position_bias(battles)
    alpha = "n/a (no item judged twice)" if np.isnan(ag.alpha) else f"{ag.alpha:.3f}"
    left = "n/a" if pb["left_share"] is None else f"{100 * pb['left_share']:.1f}% (95% CI {100 * pb['ci'][0]:.1f}–{100 * pb['ci'][1]:.1f}%)"
    rep.quality = (f"{len(battles)} votes on {len(models)} models. Krippendorff's alpha over "
                   f"{ag.overlapping_items} items judged by 2+ annotators: {alpha}. "
                   f"Position bias — share of decisive votes for the left side (A): {left} "
                   f"of {pb['decisive_votes']}.")
    rep.kappas = ag.pairs
    for r in annotator_report(battles):
        rep.annotators.append([r["annotator"], r["votes"], r["median_seconds"],
                               None if r["left_share"] is None else round(r["left_share"], 3),
                               r["majority_agreement"], ", ".join(r["flags"])])
    return rep
