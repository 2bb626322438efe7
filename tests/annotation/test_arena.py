"""Active matchmaking and the arena simulation: pairs chosen for what they teach, every model in
play, newcomers brought up, and fewer votes than uniform pairing on a seeded small case."""
from __future__ import annotations

import json

import numpy as np
import pytest

from studio.arena.matchmaking import next_pair
from studio.arena.simulate import SimulationError, run_once, simulate, strengths_from


def counts(models, results):
    """score/battles matrices from {(winner, loser): n} (a tie as ("=", a, b))."""
    idx = {m: k for k, m in enumerate(models)}
    score = np.zeros((len(models), len(models)))
    for key, n in results.items():
        if key[0] == "=":
            a, b = idx[key[1]], idx[key[2]]
            score[a, b] += n / 2
            score[b, a] += n / 2
        else:
            score[idx[key[0]], idx[key[1]]] += n
    return score, score + score.T


def test_next_pair_goes_where_the_order_is_in_doubt():
    models = ["top", "mid-1", "mid-2"]
    score, battles = counts(models, {("top", "mid-1"): 40, ("mid-1", "top"): 2, ("top", "mid-2"): 40,
                                     ("mid-2", "top"): 2, ("mid-1", "mid-2"): 3, ("mid-2", "mid-1"): 3})
    assert set(next_pair(models, score, battles, seed=0)) == {"mid-1", "mid-2"}


def test_a_new_model_is_brought_up_first():
    models = ["a", "b", "c", "d", "fresh-adapter"]
    results = {}
    for i, x in enumerate(models[:4]):
        for y in models[i + 1:4]:
            results[(x, y)] = 12
            results[(y, x)] = 8
    score, battles = counts(models, results)
    for seed in range(5):
        assert "fresh-adapter" in next_pair(models, score, battles, seed=seed)


def test_next_pair_rejects_what_it_cannot_use():
    with pytest.raises(ValueError, match="at least two models"):
        next_pair(["solo"], np.zeros((1, 1)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="policy"):
        next_pair(["a", "b"], np.zeros((2, 2)), np.zeros((2, 2)), policy="greedy")
    with pytest.raises(ValueError, match="2×2"):
        next_pair(["a", "b"], np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="one point"):
        next_pair(["a", "b"], np.array([[0, 3], [0, 0]]), np.array([[0, 2], [2, 0]]))
    assert set(next_pair(["a", "b"], np.zeros((2, 2)), np.zeros((2, 2)), policy="uniform", seed=1)) == {"a", "b"}


def test_active_needs_fewer_votes_than_uniform_on_a_small_seeded_case():
    truth = strengths_from({f"m{k}": 0.45 * k for k in range(6)} | {"tie_rate": 0.1})
    uniform = simulate(truth, 500, "uniform", 6)
    active = simulate(truth, 500, "active", 6)
    assert set(active) == {"policy", "seeds", "median_votes_to_tau90", "tau_at_end"}
    assert active["median_votes_to_tau90"] is not None and uniform["median_votes_to_tau90"] is not None
    assert active["median_votes_to_tau90"] < uniform["median_votes_to_tau90"]
    assert active["tau_at_end"] >= 0.9


def test_every_model_stays_in_play_under_active_pairing(monkeypatch):
    from studio.arena import simulate as sim

    seen = []
    real_choose = sim.choose

    def spy(posterior, battles, policy, rng):
        seen.append(battles.sum(axis=1).copy())
        return real_choose(posterior, battles, policy, rng)

    monkeypatch.setattr(sim, "choose", spy)
    truth = strengths_from({f"m{k}": 0.6 * k for k in range(8)})
    run_once(truth, 600, "active", seed=3)
    final = seen[-1]
    assert final.min() >= 0.1 * final.mean() - 2  # the floor: nobody falls far behind


def test_strengths_are_checked_before_anything_runs(tmp_path):
    with pytest.raises(SimulationError, match="tie_rate"):
        strengths_from({"a": 1, "b": 0, "tie_rate": 1.5})
    with pytest.raises(SimulationError, match="at least two models"):
        strengths_from({"a": 1})
    with pytest.raises(SimulationError, match="finite numbers"):
        strengths_from({"a": 1, "b": "strong"})
    truth = strengths_from({"a": 1, "b": 0})
    with pytest.raises(SimulationError, match="votes"):
        simulate(truth, 0, "active", 1)
    with pytest.raises(SimulationError, match="policy"):
        simulate(truth, 10, "greedy", 1)


def test_simulate_cli_prints_the_documented_json(tmp_path, capsys):
    from studio.cli import main

    path = tmp_path / "strengths.json"
    path.write_text(json.dumps({"a": 1.2, "b": 0.0, "c": -1.2, "tie_rate": 0.05}))
    assert main(["arena", "simulate", "--strengths", str(path), "--votes", "200", "--policy", "uniform",
                 "--seeds", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["policy"] == "uniform" and out["seeds"] == 3
    assert set(out) == {"policy", "seeds", "median_votes_to_tau90", "tau_at_end"}
    path.write_text("[1, 2]")
    assert main(["arena", "simulate", "--strengths", str(path), "--votes", "10"]) == 2
    assert "expected a JSON object" in capsys.readouterr().err


def test_votes_being_cast_send_the_next_annotator_to_another_doubtful_pair():
    from studio.arena.matchmaking import ranked_pairs

    models = ["a", "b", "c", "d"]
    score, battles = counts(models, {("a", "b"): 6, ("b", "a"): 5, ("b", "c"): 6, ("c", "b"): 5,
                                     ("c", "d"): 6, ("d", "c"): 5})
    first = ranked_pairs(models, score, battles, seed=0)[0]
    pending = np.zeros((4, 4))
    i, j = models.index(first[0]), models.index(first[1])
    pending[i, j] = pending[j, i] = 30  # thirty annotators are looking at that pair now
    after = ranked_pairs(models, score, battles, pending=pending, seed=0)
    assert after[0] != first and set(after[0]) in ({"a", "b"}, {"b", "c"}, {"c", "d"})
