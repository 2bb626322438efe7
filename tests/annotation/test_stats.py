"""Statistics against hand-computed cases and independent implementations written here."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from studio.annotation.agreement import (
    agreement, annotator_report, cohen_kappa, krippendorff_alpha_nominal, position_bias,
)
from studio.annotation.battles import build_battles
from studio.annotation.ranking import RIDGE, bradley_terry, online_elo, pairwise_matrices
from studio.annotation.stats import all_pairs, breakdown, chart_rows, wilson_interval, win_tie_loss


def battles_of(*triples, **extra):
    return build_battles({"model_a": a, "model_b": b, "winner": w, **extra} for a, b, w in triples)


# -- Wilson -------------------------------------------------------------------------------------
def test_wilson_matches_textbook_values():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and round(hi, 4) == 0.1611


@pytest.mark.parametrize("k,n", [(1, 3), (17, 40), (250, 1000), (40, 40)])
def test_wilson_matches_formula(k, n):
    z = 1.959963984540054
    p = k / n
    centre = (2 * n * p + z * z) / (2 * (n + z * z))
    half = z * math.sqrt(z * z + 4 * n * p * (1 - p)) / (2 * (n + z * z))
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert hi == pytest.approx(min(1.0, centre + half), abs=1e-12)


# -- win / tie / loss ---------------------------------------------------------------------------
def test_win_tie_loss_counts_from_the_chosen_side_in_both_orientations():
    b = battles_of(("x", "y", "model_a"), ("y", "x", "model_a"), ("y", "x", "model_b"),
                   ("x", "y", "tie"), ("y", "x", "tie (bothbad)"), ("x", "z", "model_a"))
    r = win_tie_loss(b, "x", "y")
    assert (r.wins, r.ties, r.losses, r.ties_good, r.ties_bad) == (2, 2, 1, 1, 1)
    assert r.ratio("wins") == pytest.approx(0.4)
    flipped = win_tie_loss(b, "y", "x")
    assert (flipped.wins, flipped.losses) == (1, 2)
    d = r.as_dict()
    assert d["win_ratio"] == 0.4 and d["tie_ratio"] == 0.4 and d["loss_ratio"] == 0.2
    assert d["wins_ci"] == [round(v, 4) for v in wilson_interval(2, 5)]
    pairs = all_pairs(b, ["x", "y", "z"])
    assert [(p.model, p.opponent) for p in pairs] == [("x", "y"), ("x", "z")]


def test_breakdown_by_task_and_taxonomy_and_chart_rows():
    rows = [
        {"model_a": "x", "model_b": "y", "winner": "model_a", "task": "text-to-image", "taxonomy_id": "gen/a/1"},
        {"model_a": "x", "model_b": "y", "winner": "tie", "task": "text-to-image", "taxonomy_id": "gen/a/2"},
        {"model_a": "y", "model_b": "x", "winner": "model_a", "task": "edit", "taxonomy_id": "edit/b/1"},
    ]
    b = build_battles(rows)
    by_task = {r.group: (r.wins, r.ties, r.losses) for r in breakdown(b, "x", "y", "task")}
    assert by_task == {"edit": (0, 0, 1), "text-to-image": (1, 1, 0)}
    by_node = {r.group: r.total for r in breakdown(b, "x", "y", "taxonomy", depth=2)}
    assert by_node == {"gen/a": 2, "edit/b": 1}
    chart = chart_rows(breakdown(b, "x", "y", "task"))
    t2i = [c for c in chart if c["bar"].startswith("text-to-image")]
    assert [(c["outcome"], c["percent"]) for c in t2i] == [("Win", 50.0), ("Tie", 50.0), ("Loss", 0.0)]


# -- Bradley–Terry ------------------------------------------------------------------------------
def test_bradley_terry_hand_computed_two_models():
    # 3 wins to 1: the odds are 3:1, so the gap is 400*log10(3) on the arena scale, centred on 1000
    b = battles_of(("x", "y", "model_a"), ("x", "y", "model_a"), ("y", "x", "model_b"), ("x", "y", "model_b"))
    board = {r["model"]: r for r in bradley_terry(b, bootstrap=0).rows()}
    gap = 400 * math.log10(3)
    assert board["x"]["rating"] == pytest.approx(1000 + gap / 2, abs=0.01)
    assert board["y"]["rating"] == pytest.approx(1000 - gap / 2, abs=0.01)
    # a tie is half a win: 1 win + 2 ties = 2 of 3 -> odds 2:1
    b = battles_of(("x", "y", "model_a"), ("x", "y", "tie"), ("y", "x", "tie (bothbad)"))
    board = {r["model"]: r for r in bradley_terry(b, bootstrap=0).rows()}
    assert board["x"]["rating"] - board["y"]["rating"] == pytest.approx(400 * math.log10(2), abs=0.01)


def _logistic_regression_on_duplicated_battles(rows, models, ridge):
    """Independent BT: duplicate every battle; ties get y=1 in one copy and y=0 in the other."""
    idx = {m: k for k, m in enumerate(models)}
    X, y = [], []
    for a, b, w in rows:
        x = np.zeros(len(models))
        x[idx[a]], x[idx[b]] = 1.0, -1.0
        labels = {"model_a": (1, 1), "model_b": (0, 0)}.get(w, (1, 0))
        for lab in labels:
            X.append(x)
            y.append(lab)
    X, y = np.array(X), np.array(y, dtype=float)
    beta = np.zeros(len(models))
    lam = 2 * ridge  # the duplicated likelihood is twice the original, so is its penalty
    for _ in range(200):  # IRLS
        p = 1 / (1 + np.exp(-X @ beta))
        grad = X.T @ (y - p) - lam * beta
        H = X.T @ (X * (p * (1 - p))[:, None]) + lam * np.eye(len(models))
        step = np.linalg.solve(H, grad)
        beta += step
        if np.abs(step).max() < 1e-12:
            break
    return 400 * beta / math.log(10) + 1000


def test_bradley_terry_matches_logistic_regression_on_random_battles():
    rng = np.random.default_rng(7)
    models = [f"m{k}" for k in range(6)]
    true = rng.normal(0, 1, len(models))
    rows = []
    for _ in range(1500):
        i, j = rng.choice(len(models), 2, replace=False)
        p = 1 / (1 + math.exp(-(true[i] - true[j])))
        u = rng.random()
        w = "tie" if u < 0.1 else "tie (bothbad)" if u < 0.15 else ("model_a" if rng.random() < p else "model_b")
        rows.append((models[i], models[j], w))
    b = battles_of(*rows)
    ours = {r["model"]: r["rating"] for r in bradley_terry(b, bootstrap=0).rows()}
    ref = _logistic_regression_on_duplicated_battles(rows, b.models, RIDGE)
    for k, m in enumerate(b.models):
        assert ours[m] == pytest.approx(ref[k], abs=0.01)


def test_bootstrap_intervals_are_reproducible_and_bracket_the_estimate():
    rng = np.random.default_rng(3)
    rows = [("a", "b", "model_a" if rng.random() < 0.7 else "model_b") for _ in range(300)]
    rows += [("b", "c", "model_a" if rng.random() < 0.6 else "tie") for _ in range(300)]
    b = battles_of(*rows)
    first = bradley_terry(b, bootstrap=200, seed=5).rows()
    assert first == bradley_terry(b, bootstrap=200, seed=5).rows()
    assert first != bradley_terry(b, bootstrap=200, seed=6).rows()
    for r in first:
        assert r["lower"] <= r["rating"] <= r["upper"]
        assert r["upper"] - r["lower"] > 1
    assert [r["model"] for r in first] == ["a", "b", "c"]
    assert {r["model"]: r["battles"] for r in first} == {"a": 300, "b": 600, "c": 300}


def test_a_model_that_never_lost_still_gets_a_finite_rating():
    b = battles_of(*([("x", "y", "model_a")] * 20))
    rows = bradley_terry(b, bootstrap=20, seed=0).rows()
    assert all(math.isfinite(r["rating"]) for r in rows)
    assert rows[0]["model"] == "x"


# -- Elo, matrices ------------------------------------------------------------------------------
def test_online_elo_hand_computed():
    b = battles_of(("x", "y", "model_a"), ("y", "x", "model_a"), ("x", "y", "tie"))
    elo = online_elo(b, k=4)
    x, y = 1002.0, 998.0  # first battle: expected 0.5, K=4
    e_y = 1 / (1 + 10 ** ((x - y) / 400))
    y, x = y + 4 * (1 - e_y), x - 4 * (1 - e_y)
    e_x = 1 / (1 + 10 ** ((y - x) / 400))
    x, y = x + 4 * (0.5 - e_x), y - 4 * (0.5 - e_x)
    assert elo["x"] == pytest.approx(x) and elo["y"] == pytest.approx(y)


def test_win_fraction_and_count_matrices():
    b = battles_of(("x", "y", "model_a"), ("y", "x", "model_a"), ("x", "y", "model_a"), ("x", "y", "tie"),
                   ("x", "z", "tie"))
    models, frac, counts = pairwise_matrices(b)
    ix = {m: k for k, m in enumerate(models)}
    assert frac[ix["x"], ix["y"]] == pytest.approx(2 / 3)
    assert frac[ix["y"], ix["x"]] == pytest.approx(1 / 3)
    assert np.isnan(frac[ix["x"], ix["z"]])
    assert counts[ix["x"], ix["y"]] == counts[ix["y"], ix["x"]] == 4
    assert counts[ix["x"], ix["z"]] == 1


# -- agreement and quality ----------------------------------------------------------------------
def test_cohen_kappa_textbook_example():
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    x = ["y"] * 25 + ["n"] * 25
    y = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(x, y) == pytest.approx(0.4)
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)


def test_krippendorff_alpha_reference_example():
    # Krippendorff's 4 coders x 12 units example with missing values; nominal alpha = 0.743
    na = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, na, na, na],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, na, 3],
        [na, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, na],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, na],
    ]
    units = [[c[u] for c in coders] for u in range(12)]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def test_agreement_position_bias_and_annotator_report():
    rows = []
    for item in range(10):
        for judge in ("ann", "bob", "cy"):
            winner = "model_a" if item % 2 else "model_b"
            if judge == "cy" and item < 5:
                winner = "tie"
            rows.append({"model_a": "x", "model_b": "y", "winner": winner, "judge": judge,
                         "question_id": f"i{item}", "a_on_left": True, "latency_ms": 4000.0 if judge != "cy" else 500.0})
    b = build_battles(rows)
    ag = agreement(b, min_shared=5)
    assert ag.overlapping_items == 10
    pair = {(p["annotator_1"], p["annotator_2"]): p["kappa"] for p in ag.pairs}
    assert pair[("ann", "bob")] == 1.0 and pair[("ann", "cy")] < 1.0
    pb = position_bias(b)  # A always on the left: left wins = model_a wins
    n_a = sum(1 for r in rows if r["winner"] == "model_a")
    n_dec = sum(1 for r in rows if r["winner"] in ("model_a", "model_b"))
    assert pb["left_votes"] == n_a and pb["decisive_votes"] == n_dec
    report = {r["annotator"]: r for r in annotator_report(b)}
    assert report["cy"]["median_seconds"] == 0.5 and "fast" in report["cy"]["flags"]
    assert report["ann"]["majority_agreement"] == 1.0 and report["cy"]["majority_agreement"] == 0.5


# -- CLI ----------------------------------------------------------------------------------------
def test_leaderboard_cli_prints_the_documented_json(tmp_path, capsys):
    from studio.cli import main

    path = tmp_path / "votes.jsonl"
    lines = [{"model_a": "x", "model_b": "y", "winner": "model_a", "judge": "j1", "tstamp": 1.0},
             {"model_a": "y", "model_b": "x", "winner": "tie (bothbad)", "question_id": "q"},
             {"model_a": "x", "model_b": "y", "winner": "model_b"},
             {"model_a": "x", "model_b": "y", "winner": "model_a"}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert main(["leaderboard", str(path), "--bootstrap", "50", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"models", "pairs", "ci", "matrices", "boards"}
    assert [set(m) for m in out["models"]] == [{"model", "rating", "lower", "upper", "battles", "ci_lower",
                                                "ci_upper", "rank", "provisional"}] * 2
    assert out["ci"]["method"] == "sandwich" and out["ci"]["bootstrap"] == 50
    assert [m["model"] for m in out["models"]] == ["x", "y"]
    assert out["pairs"] == [{"model_a": "x", "model_b": "y", "wins": 2, "ties": 1, "losses": 1,
                             "win_ratio": 0.5, "tie_ratio": 0.25, "loss_ratio": 0.25}]
    x = out["models"][0]
    assert x["rating"] == pytest.approx(1000 + 200 * math.log10(2.5 / 1.5), abs=0.01)


def test_leaderboard_cli_reports_bad_files_in_one_line(tmp_path, capsys):
    from studio.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": "x", "winner": "model_b"}\n')
    assert main(["leaderboard", str(bad)]) == 2
    assert "bad.jsonl:2: missing model_b" in capsys.readouterr().err
    bad.write_text('{"model_a": "x", "model_b": "y", "winner": "draw"}\n')
    assert main(["leaderboard", str(bad)]) == 2
    assert "winner must be one of" in capsys.readouterr().err
    assert main(["leaderboard", str(tmp_path / "missing.jsonl")]) == 2
