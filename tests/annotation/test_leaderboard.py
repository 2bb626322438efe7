"""The citable leaderboard: sandwich intervals against an independent scipy fit, interval ranks,
provisional rows, reweighting, per-node/task/criterion boards and personal boards."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime, minimize
from scipy.stats import norm

from studio.annotation import AnnotationError
from studio.annotation.battles import build_battles
from studio.annotation.boards import leaderboard_json, select_judges
from studio.annotation.ranking import SCALE, bradley_terry, interval_ranks


def simulated_rows(seed=11, n=1200, models=5, skew=False):
    rng = np.random.default_rng(seed)
    true = np.linspace(-1.0, 1.0, models)
    rows = []
    for _ in range(n):
        if skew and rng.random() < 0.6:
            i, j = 0, 1  # one pair shown far more often than the rest
        else:
            i, j = rng.choice(models, 2, replace=False)
        p = 1 / (1 + math.exp(-(true[i] - true[j])))
        u = rng.random()
        w = "tie" if u < 0.1 else "model_a" if rng.random() < p else "model_b"
        rows.append({"model_a": f"m{i}", "model_b": f"m{j}", "winner": w,
                     "judge": f"j{rng.integers(3)}", "task": "edit" if i % 2 else "text-to-image",
                     "taxonomy_id": "gen/objects/x" if j % 2 else "gen/text/y"})
    return rows


def scipy_sandwich(rows, models, weighted=False, min_pair=50):
    """Independent MLE and robust covariance: one row per battle, model 0 fixed at zero, BFGS fit,
    numerical Hessian, then mapped to strengths that sum to zero."""
    idx = {m: k for k, m in enumerate(models)}
    m = len(models)
    X = np.zeros((len(rows), m))
    y = np.empty(len(rows))
    for t, r in enumerate(rows):
        X[t, idx[r["model_a"]]] += 1
        X[t, idx[r["model_b"]]] -= 1
        y[t] = {"model_a": 1.0, "model_b": 0.0}.get(r["winner"], 0.5)
    w = np.ones(len(rows))
    if weighted:
        keys = [frozenset((r["model_a"], r["model_b"])) for r in rows]
        n_pair = {k: keys.count(k) for k in set(keys)}
        w = np.array([1.0 / max(n_pair[k], min_pair) for k in keys])
    Xr = X[:, 1:]

    def nll(theta):
        d = Xr @ theta
        return -np.sum(w * (y * d - np.logaddexp(0.0, d)))

    def grad(theta):
        p = 1 / (1 + np.exp(-(Xr @ theta)))
        return -Xr.T @ (w * (y - p))

    theta = minimize(nll, np.zeros(m - 1), jac=grad, method="BFGS", options={"gtol": 1e-10}).x
    hess = np.array([approx_fprime(theta, lambda t, k=k: grad(t)[k], 1e-6) for k in range(m - 1)])
    p = 1 / (1 + np.exp(-(Xr @ theta)))
    scores = Xr * (w * (y - p))[:, None]
    h_inv = np.linalg.inv(hess)
    v = h_inv @ (scores.T @ scores) @ h_inv
    embed = np.vstack([np.zeros(m - 1), np.eye(m - 1)])
    centre = np.eye(m) - 1.0 / m
    beta = centre @ embed @ theta
    cov = centre @ embed @ v @ embed.T @ centre
    return beta, np.sqrt(np.diag(cov))


@pytest.mark.parametrize("weighted", [False, True])
def test_sandwich_intervals_match_an_independent_scipy_fit(weighted):
    rows = simulated_rows(skew=weighted)
    battles = build_battles(rows)
    board = {r["model"]: r for r in bradley_terry(battles, bootstrap=0, ci_method="sandwich",
                                                  reweight=weighted).rows()}
    beta, sd = scipy_sandwich(rows, battles.models, weighted)
    z = norm.ppf(0.975)
    for k, name in enumerate(battles.models):
        r = board[name]
        assert r["rating"] == pytest.approx(SCALE * beta[k] + 1000, abs=0.05)
        assert r["ci_upper"] - r["rating"] == pytest.approx(z * SCALE * sd[k], rel=2e-3, abs=0.02)
        assert r["rating"] - r["ci_lower"] == pytest.approx(z * SCALE * sd[k], rel=2e-3, abs=0.02)


def test_reweighting_moves_the_fit_when_one_pair_dominates():
    rows = simulated_rows(skew=True)
    battles = build_battles(rows)
    plain = {r["model"]: r["rating"] for r in bradley_terry(battles, bootstrap=0).rows()}
    heavy = {r["model"]: r["rating"] for r in bradley_terry(battles, bootstrap=0, reweight=True).rows()}
    assert any(abs(plain[m] - heavy[m]) > 0.5 for m in plain)
    # with every pair met equally often, reweighting changes nothing
    rng = np.random.default_rng(2)
    even = [{"model_a": f"m{i}", "model_b": f"m{j}", "winner": ("model_a", "model_b", "tie")[rng.integers(3)]}
            for i in range(4) for j in range(i + 1, 4) for _ in range(20)]
    eb = build_battles(even)
    a = bradley_terry(eb, bootstrap=0).rows()
    b = bradley_terry(eb, bootstrap=0, reweight=True).rows()
    assert [r["rating"] for r in a] == pytest.approx([r["rating"] for r in b], abs=1e-3)
    assert [r["ci_upper"] for r in a] == pytest.approx([r["ci_upper"] for r in b], abs=1e-3)


def test_ranks_respect_the_intervals():
    lower = np.array([10.0, 8.0, 2.0, -5.0])
    upper = np.array([14.0, 12.0, 9.0, 1.0])
    # model 1 overlaps model 0; model 2 sits below model 0 only; model 3 below all three
    assert interval_ranks(lower, upper).tolist() == [1, 1, 2, 4]


def test_board_rows_carry_rank_provisional_and_null_bounds_for_unidentified_models():
    rows = simulated_rows(n=600, models=4)
    rows += [{"model_a": "newcomer", "model_b": "m0", "winner": "model_a"}] * 5
    out = leaderboard_json(build_battles(rows), bootstrap=0, min_battles=100)
    by = {r["model"]: r for r in out["models"]}
    assert by["newcomer"]["provisional"] and by["newcomer"]["ci_lower"] is None and by["newcomer"]["rank"] == 1
    assert not by["m3"]["provisional"] and by["m3"]["ci_lower"] < by["m3"]["rating"] < by["m3"]["ci_upper"]
    ranked = [r for r in out["models"] if r["ci_lower"] is not None]
    for r in ranked:
        above = sum(1 for o in out["models"] if o["ci_lower"] is not None and o["ci_lower"] > r["ci_upper"])
        assert r["rank"] == 1 + above
    assert by["m0"]["rank"] > by["m3"]["rank"]  # m3 is truly strongest by a wide margin


def test_boards_per_task_and_node_and_matrices_add_up():
    rows = simulated_rows(n=400, models=4)
    battles = build_battles(rows)
    out = leaderboard_json(battles, bootstrap=0)
    tasks = out["boards"]["task"]
    assert set(tasks) == {"edit", "text-to-image"}
    assert sum(b["votes"] for b in tasks.values()) == len(rows)
    edit_votes = sum(1 for r in rows if r["task"] == "edit")
    assert tasks["edit"]["votes"] == edit_votes
    assert sum(r["battles"] for r in tasks["edit"]["models"]) == 2 * edit_votes
    assert set(out["boards"]["taxonomy"]) == {"gen/objects", "gen/text"}
    mat = out["matrices"]
    assert mat["models"] == [r["model"] for r in out["models"]]
    counts = np.array(mat["battle_counts"])
    assert (counts == counts.T).all() and counts.sum() == 2 * len(rows)
    frac = mat["win_fraction"]
    for i in range(4):
        for j in range(4):
            if i != j and frac[i][j] is not None:
                assert frac[i][j] + frac[j][i] == pytest.approx(1.0, abs=2e-4)


def test_bootstrap_option_drives_the_interval_and_bad_options_say_what_to_do():
    battles = build_battles(simulated_rows(n=300, models=3))
    out = leaderboard_json(battles, ci="bootstrap", bootstrap=100, seed=3)
    for r in out["models"]:
        assert (r["ci_lower"], r["ci_upper"]) == (r["lower"], r["upper"])
    with pytest.raises(AnnotationError, match="at least 1 bootstrap round"):
        leaderboard_json(battles, ci="bootstrap", bootstrap=0)
    with pytest.raises(AnnotationError, match="interval method"):
        leaderboard_json(battles, ci="wald")
    with pytest.raises(AnnotationError, match="provisional threshold"):
        leaderboard_json(battles, min_battles=-1)


def test_personal_board_and_excluded_annotators():
    rows = simulated_rows(n=300, models=3)
    battles = build_battles(rows)
    mine = select_judges(battles, only="j1")
    assert len(mine) == sum(1 for r in rows if r["judge"] == "j1") and set(mine.judge) == {"j1"}
    rest = select_judges(battles, exclude=["j1", "j2"])
    assert set(rest.judge) == {"j0"}
    assert len(battles) == 300  # the facts themselves are untouched


def test_studio_leaderboard_has_criterion_boards_and_the_cli_prints_it(studio, capsys, monkeypatch):
    from tests.annotation import helpers
    from studio.annotation.results import studio_leaderboard
    from studio.cli import main
    from tests.annotation.helpers import make_batch

    batch_id, items = make_batch(studio, n_items=6, overlap=2,
                                 criteria=("overall", "instruction_fidelity", "visual_clarity"))
    for who, choice in (("ann", "left"), ("bob", "right")):
        while (view := helpers.next_item(studio, batch_id, who)) is not None:
            helpers.vote(studio, view.assignment_id, who, choice,
                        criteria_choices={"instruction_fidelity": choice, "visual_clarity": "tie"})
    out = studio_leaderboard(studio, batch_id, bootstrap=0)
    assert set(out["criteria"]) == {"overall", "instruction_fidelity", "visual_clarity"}
    assert out["criteria"]["visual_clarity"]["votes"] == 12
    assert out["criteria"]["visual_clarity"]["task"]["text-to-image"]["votes"] == 12
    clarity = {r["model"]: r["rating"] for r in out["criteria"]["visual_clarity"]["models"]}
    assert clarity["model-alpha-zq"] == pytest.approx(clarity["model-beta-kx"])
    ann = studio_leaderboard(studio, batch_id, annotator="ann", bootstrap=0)
    assert ann["selection"]["votes"] == 6 and ann["models"][0]["battles"] == 6
    without_bob = studio_leaderboard(studio, batch_id, exclude=("bob",), bootstrap=0)
    assert without_bob["selection"]["votes"] == 6
    with pytest.raises(AnnotationError, match="no votes by annotator"):
        studio_leaderboard(studio, batch_id, annotator="nobody")

    monkeypatch.setattr("studio.cli.make_studio", lambda: studio)
    assert main(["leaderboard", "--batch", batch_id, "--bootstrap", "0", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(out))
    assert main(["leaderboard", "--annotator", "nobody"]) == 2
    assert "no votes by annotator 'nobody'" in capsys.readouterr().err


def test_no_votes_give_an_empty_board_not_an_error(studio, capsys, monkeypatch):
    from studio.cli import main

    out = leaderboard_json(build_battles([]), bootstrap=50)
    assert out["models"] == [] and out["pairs"] == [] and out["matrices"]["battle_counts"] == []
    monkeypatch.setattr("studio.cli.make_studio", lambda: studio)
    assert main(["leaderboard"]) == 0
    assert "No votes yet." in capsys.readouterr().out
