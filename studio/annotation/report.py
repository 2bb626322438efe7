"""Everything the Results panel shows, computed from battles as plain tables (lists of rows)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.annotation.agreement import agreement, annotator_report, position_bias
from studio.annotation.battles import Battles
from studio.annotation.boards import leaderboard_json
from studio.annotation.ranking import online_elo
from studio.annotation.stats import WinTieLoss, all_pairs, breakdown, chart_rows, win_tie_loss

PAIR_COLUMNS = ["model", "opponent", "wins", "ties (good)", "ties (bad)", "losses", "n",
                "win %", "win 95% CI", "tie %", "tie 95% CI", "loss %", "loss 95% CI"]
BOARD_COLUMNS = ["rank", "model", "rating (BT)", "95% CI", "bootstrap 95% CI", "Elo (online)", "battles", "status"]
NODE_BOARD_COLUMNS = ["board", "rank", "model", "rating (BT)", "95% CI", "battles", "status"]
ANNOTATOR_COLUMNS = ["annotator", "votes", "median s/vote", "left share", "majority agreement", "gold accuracy",
                     "competence (MACE)", "very fast votes", "flags"]


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
    #: per task, taxonomy node and criterion: the same columns, one block of rows per board
    node_boards: list[list[Any]] = field(default_factory=list)
    #: the leaderboard JSON the rows come from (what ``python -m studio leaderboard --json`` prints)
    board_json: dict = field(default_factory=dict)


def _interval(row: dict) -> str:
    lo = "−∞" if row["ci_lower"] is None else f"{row['ci_lower']:.1f}"
    hi = "+∞" if row["ci_upper"] is None else f"{row['ci_upper']:.1f}"
    return f"{lo} – {hi}"


def _status(row: dict) -> str:
    return "provisional" if row["provisional"] else ""


def node_board_rows(board: dict) -> list[list[Any]]:
    """Rows of every per-task, per-node and per-criterion board of a leaderboard JSON."""
    out = []
    groups = [("task", board.get("boards", {}).get("task", {})),
              ("node", board.get("boards", {}).get("taxonomy", {})), ("criterion", board.get("criteria", {}))]
    for kind, boards in groups:
        for name, sub in boards.items():
            for r in sub["models"]:
                out.append([f"{kind}: {name}", r["rank"], r["model"], round(r["rating"], 1), _interval(r),
                            r["battles"], _status(r)])
    return out


def build_report(battles: Battles, *, bootstrap: int = 200, seed: int = 0, board: dict | None = None,
                 **options) -> ResultsReport:
    """Compute every table of the Results view from ``battles``.

    ``board`` is their leaderboard JSON when the caller already derived it (the studio's votes with
    criterion boards); otherwise it is derived here with ``bootstrap``, ``seed`` and ``options``.
    """
    rep = ResultsReport(votes=len(battles), models=list(battles.models))
    if len(battles) == 0:
        rep.quality = "No votes yet."
        return rep
    if board is None:
        board = leaderboard_json(battles, bootstrap=bootstrap, seed=seed, **options)
    rep.board_json = board
    elo = online_elo(battles)
    for r in board["models"]:
        boot = f"{r['lower']:.1f} – {r['upper']:.1f}" if board["ci"]["bootstrap"] else "–"
        rep.leaderboard.append([r["rank"], r["model"], round(r["rating"], 1), _interval(r), boot,
                                round(elo[r["model"]], 1), r["battles"], _status(r)])
    order = [r["model"] for r in board["models"]]
    rep.pairs = pair_rows(all_pairs(battles, order))
    mats = board["matrices"]
    rep.matrix_models = mats["models"]
    rep.win_matrix = [[name] + ["" if v is None else round(v, 3) for v in row]
                      for name, row in zip(mats["models"], mats["win_fraction"])]
    rep.count_matrix = [[name] + row for name, row in zip(mats["models"], mats["battle_counts"])]
    rep.node_boards = node_board_rows(board)
    ag = agreement(battles)
    pb = position_bias(battles)
    alpha = "n/a (no item judged twice)" if np.isnan(ag.alpha) else f"{ag.alpha:.3f}"
    left = "n/a" if pb["left_share"] is None else f"{100 * pb['left_share']:.1f}% (95% CI {100 * pb['ci'][0]:.1f}–{100 * pb['ci'][1]:.1f}%)"
    rep.quality = (f"{len(battles)} votes on {len(order)} models. Krippendorff's alpha over "
                   f"{ag.overlapping_items} items judged by 2+ annotators: {alpha}. "
                   f"Position bias — share of decisive votes for the left side (A): {left} "
                   f"of {pb['decisive_votes']}.")
    rep.kappas = ag.pairs
    quality = {q["annotator"]: q for q in board.get("annotators", [])}
    excluded = set(board.get("selection", {}).get("excluded", []))
    seen = set()
    for r in annotator_report(battles):
        seen.add(r["annotator"])
        rep.annotators.append([r["annotator"], r["votes"], r["median_seconds"],
                               None if r["left_share"] is None else round(r["left_share"], 3),
                               r["majority_agreement"], *_quality_cells(quality.get(r["annotator"]), r["flags"])])
    for who, q in quality.items():
        if who not in seen:  # left out of the boards, or only gold votes
            flags = ["excluded from boards"] if who in excluded else []
            rep.annotators.append([who, q["votes"], None, None, None, *_quality_cells(q, flags)])
    return rep


def _quality_cells(q: dict | None, flags: list[str]) -> list[Any]:
    if q is None:
        return [None, None, None, ", ".join(flags)]
    flags = list(flags) + ([f"{q['fast_votes']} very fast votes"] if q["fast_votes"] else [])
    gold = None if q["gold_accuracy"] is None else f"{100 * q['gold_accuracy']:.0f}% of {q['gold_votes']}"
    return [gold, q["competence"], q["fast_votes"], ", ".join(flags)]
