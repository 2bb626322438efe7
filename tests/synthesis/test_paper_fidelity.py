"""What claims to be the papers' matches the papers; what is the studio's own says so."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from studio.synthesis.planner import Planner, SynthesisRequest


def _default(demo, elem_id):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id).value


def test_default_tab_path_keeps_the_papers_k_distribution(studio):
    """Attributes method with the Synthesis tab's default mix and λ: k follows exp(-λ(k-1)) (chi-square)."""
    from scipy.stats import chisquare

    from studio.synthesis import service
    from studio.synthesis.ksampler import k_distribution
    from studio.ui.app import build_app

    demo = build_app(studio)
    mix, lam = _default(demo, "synth-mix"), _default(demo, "synth-lambda")
    near, thr = "off", 0.9
    req = service.build_request(["sharegpt4o/t2i"], 1000, 7, "attributes", mix, lam, near, thr)
    res = service.preview(studio, req)
    ks = Counter(r.attributes["k"] for r in res["rows"])
    n = sum(ks.values())
    assert n == 1000
    probs = k_distribution(float(lam))
    # bins k = 1..7 and k >= 8 (expected counts all >= 5)
    observed = [ks.get(k, 0) for k in range(1, 8)] + [sum(v for k, v in ks.items() if k >= 8)]
    expected = [n * p for p in probs[:7]] + [n * sum(probs[7:])]
    assert min(expected) >= 5
    assert chisquare(observed, expected).pvalue > 0.01, (observed, [round(e) for e in expected])
    # and P(k = 1) is close to its closed form 1 - exp(-λ) (large k_max)
    assert abs(ks[1] / n - (1 - math.exp(-float(lam)))) < 0.05


def test_the_studios_mixes_and_lambda_say_they_are_the_studios(studio):
    from studio.ui.app import build_app

    demo = build_app(studio)
    mix = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "synth-mix")
    labels = {value: label for label, value in mix.choices}
    assert "as in the paper" in labels["default"]
    assert all("studio" in label for value, label in labels.items() if value != "default")
    lam = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "synth-lambda")
    assert "Studio default" in lam.info and "no value" in lam.info
    image_first = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "synth-image-first")
    assert "studio" in image_first.label and "real photographs" in image_first.info
