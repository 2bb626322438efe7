"""`python -m studio judge pairs` on a manifest with human winners: figures equal hand computations."""
from __future__ import annotations

import json
from collections import Counter
from itertools import combinations

import pytest
from PIL import Image

# (red of output A, red of output B, {annotator: winner}) — equal reds make the rule judge answer "A"
# in both orders, i.e. flip with the order.
PAIRS = [
    (200, 100, {"ann": "model_a", "bob": "model_a", "cy": "model_a"}),
    (50, 150, {"ann": "model_b", "bob": "model_b", "cy": "tie"}),
    (90, 90, {"ann": "tie", "bob": "tie (bothbad)", "cy": "model_a"}),
    (10, 250, {"ann": "model_b", "bob": "model_a", "cy": "model_b"}),
    (240, 30, {"ann": "model_b", "bob": "model_a", "cy": "tie"}),
    (70, 70, {"ann": "model_a", "bob": "model_a"}),
    (120, 60, {"ann": "model_a", "cy": "model_a"}),
    (20, 40, {"bob": "model_b", "cy": "model_a"}),
    (180, 181, {"ann": "model_b", "bob": "model_b", "cy": "model_b"}),
    (33, 33, {"ann": "tie", "cy": "tie"}),
]


def kappa(x, y):
    n = len(x)
    po = sum(a == b for a, b in zip(x, y)) / n
    cx, cy = Counter(x), Counter(y)
    pe = sum(cx[k] * cy[k] for k in set(x) | set(y)) / n / n
    return (po - pe) / (1 - pe)


def fold(w):
    return "tie" if w.startswith("tie") else w


@pytest.fixture
def manifest(tmp_path):
    rows = []
    for k, (ra, rb, humans) in enumerate(PAIRS):
        Image.new("RGB", (16, 16), (ra, 0, 0)).save(tmp_path / f"a{k}.png")
        Image.new("RGB", (16, 16), (rb, 0, 0)).save(tmp_path / f"b{k}.png")
        for ann, winner in humans.items():
            rows.append({"prompt": f"prompt {k}", "output_a": f"a{k}.png", "model_a": "m1", "output_b": f"b{k}.png",
                         "model_b": "m2", "winner": winner, "judge": ann,
                         "taxonomy_id": "t2i/color" if k % 2 else "t2i/count"})
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pairs_verdicts_and_trust_figures(cli, manifest, stub, tmp_path, capsys):
    assert cli(["judge", "pairs", str(manifest), "--judge", "vlm", "--json", "--out", str(tmp_path / "v.jsonl")]) == 0
    out = json.loads(capsys.readouterr().out)
    judge = ["model_a" if ra > rb else "model_b" if ra < rb else "tie" for ra, rb, _ in PAIRS]
    consistent = [ra != rb for ra, rb, _ in PAIRS]
    assert [v["winner"] for v in out["verdicts"]] == judge
    assert [v["position_consistent"] for v in out["verdicts"]] == consistent
    assert len(stub.requests) == 2 * len(PAIRS)  # every pair asked in both orders
    assert len((tmp_path / "v.jsonl").read_text().splitlines()) == len(PAIRS)

    humans = [{a: fold(w) for a, w in h.items()} for _, _, h in PAIRS]
    hits = total = 0
    for j, h in zip(judge, humans):
        top = Counter(h.values()).most_common()
        if len(top) == 1 or top[0][1] > top[1][1]:
            total += 1
            hits += j == top[0][0]
    per_ann = {}
    for ann in ("ann", "bob", "cy"):
        xs = [(j, h[ann]) for j, h in zip(judge, humans) if ann in h]
        per_ann[ann] = kappa([a for a, _ in xs], [b for _, b in xs])
    human = []
    for p, q in combinations(("ann", "bob", "cy"), 2):
        xs = [(h[p], h[q]) for h in humans if p in h and q in h]
        human.append(kappa([a for a, _ in xs], [b for _, b in xs]))
    assert out["pairs"] == len(PAIRS)
    assert out["agreement_with_humans"] == pytest.approx(hits / total, abs=1e-4)
    assert out["pairs_with_majority"] == total
    assert out["cohen_kappa"] == pytest.approx(sum(per_ann.values()) / 3, abs=1e-4)
    assert {r["annotator"]: r["kappa"] for r in out["per_annotator"]} == pytest.approx(per_ann, abs=1e-4)
    assert out["human_kappa"] == pytest.approx(sum(human) / 3, abs=1e-4)
    assert out["position_consistency"] == pytest.approx(sum(consistent) / len(consistent), abs=1e-4)
    assert out["position_inconsistent"] == len(consistent) - sum(consistent)
    lo, hi = out["agreement_ci"]
    assert lo <= out["agreement_with_humans"] <= hi
    assert set(out["by_taxonomy"]) == {"t2i", "t2i/color", "t2i/count"}
    assert out["by_taxonomy"]["t2i/count"]["pairs"] == 5


def test_bad_rows_are_named_and_nothing_is_judged(cli, tmp_path, stub, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    rows = [{"prompt": "p", "output_a": "a.png", "model_a": "x", "output_b": "a.png", "model_b": "y"},
            {"prompt": "p", "output_a": "missing.png", "model_a": "x", "output_b": "a.png", "model_b": "y"},
            {"prompt": "p", "output_a": "a.png", "model_a": "x", "output_b": "a.png", "model_b": "y",
             "winner": "left"},
            {"prompt": "p", "output_a": "a.png", "output_b": "a.png", "model_b": "y"}]
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli(["judge", "pairs", str(tmp_path / "bad.jsonl"), "--judge", "vlm", "--json"]) == 2
    err = capsys.readouterr().err
    assert "row 2:" in err and "row 3:" in err and "row 4: missing model_a" in err and "row 1:" not in err
    assert stub.requests == []


def test_scene_graph_judge_on_pairs_and_scores(cli, tmp_path, capsys):
    from backends.base import GenerationRequest
    from backends.procedural import ProceduralBackend
    from studio.images import encode_png

    engine = ProceduralBackend(name="procedural")

    def save(name, prompt):
        r = engine.generate(GenerationRequest(prompt=prompt, width=128, height=128))
        (tmp_path / name).write_bytes(encode_png(r.image, {"scene_graph": r.scene_graph}))

    save("two.png", "a photo of two cats")
    save("three.png", "a photo of three cats")
    save("left.png", "a photo of a dog left of a cup")
    save("right.png", "a photo of a dog right of a cup")
    rows = [{"prompt": "a photo of two cats", "output_a": "three.png", "model_a": "m1", "output_b": "two.png",
             "model_b": "m2"},
            {"prompt": "a photo of a dog right of a cup", "output_a": "right.png", "model_a": "m1",
             "output_b": "left.png", "model_b": "m2"}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli(["judge", "pairs", str(tmp_path / "p.jsonl"), "--judge", "scene-graph", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [v["winner"] for v in out["verdicts"]] == ["model_b", "model_a"]
    assert out["position_consistency"] == 1.0
    assert cli(["judge", "score", str(tmp_path / "p.jsonl"), "--judge", "scene-graph", "--rubric", "geneval",
                "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [i["aggregate"]["overall"] for i in out["items"]] == [0.0, 1.0, 1.0, 0.0]
    assert out["aggregates"]["by_model"]["m1"]["overall"]["mean"] == 0.5
    assert cli(["judge", "score", str(tmp_path / "p.jsonl"), "--judge", "scene-graph", "--rubric", "edit"]) == 2
    assert "cannot score the rubric 'edit'" in capsys.readouterr().err
