"""What claims to be the papers' matches the papers; what is the studio's own says so."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from studio.synthesis.dedup import DedupSettings
from studio.synthesis.planner import Planner, SynthesisRequest

EXACT = DedupSettings(near="off")  # exact duplicates only: no embedding model in these tests


#: the 99th percentile of the chi-square distribution with 7 degrees of freedom (8 bins - 1)
CHI2_99_DF7 = 18.475


def _default(demo, elem_id):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id).value


def test_default_tab_path_keeps_the_papers_k_distribution(studio):
    """Attributes method with the Synthesis tab's default mix and λ: k follows exp(-λ(k-1)) (chi-square)."""
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
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    assert chi2 < CHI2_99_DF7, (chi2, observed, [round(e) for e in expected])
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


COMPLEX = ["opengpt4o/edit/complex_instruction"]


def test_complex_instructions_use_only_subject_and_text_operations(studio):
    """001 §3.2: sub-operations come from Subject Manipulation (not Object Extraction) and Text Editing."""
    allowed = {"add", "remove", "replace", "alter", "text_add", "text_replace", "text_alter", "text_remove"}
    plan = Planner(studio.taxonomy).plan(SynthesisRequest(nodes=COMPLEX, count=300, seed=3, dedup=EXACT))
    ops = Counter(op for r in plan.rows for op in r.attributes["operations"])
    assert set(ops) <= allowed, ops
    assert "move" not in ops and ops["text_add"] > 0
    assert not any(" move " in f" {r.text.lower()} " for r in plan.rows)


def test_difficulty_grading_counts_background_knowledge(studio):
    """001 §3.3 grades by instruction complexity, required background knowledge and reasoning length."""
    from studio.synthesis.resources import resources
    from studio.synthesis.templates import spec_bands

    node = "opengpt4o/gen/scientific/physics"
    plan = Planner(studio.taxonomy).plan(SynthesisRequest(nodes=[node], count=30, seed=1, dedup=EXACT))
    bands = spec_bands(resources().specs[resources().node_specs[node]])
    for r in plan.rows:
        assert r.knowledge == 1 and "background knowledge 1" in r.difficulty_reason
        assert r.difficulty == bands.level(len(r.constraints) + r.knowledge + r.reasoning_steps)
    # a prompt that needs no domain knowledge scores none for it
    plain = Planner(studio.taxonomy).plan(SynthesisRequest(nodes=["opengpt4o/gen/spatial/object_counting"], count=5, dedup=EXACT))
    assert all(r.knowledge == 0 and "background knowledge 0" in r.difficulty_reason for r in plain.rows)


_LOCATOR = r"(§\s?\d|\bTables?\s\d|\bAppendix\s[A-H]\b|\bFigures?\s\d|\bAbstract\b)"


def _sources(node, path=""):
    """(where, value) for every `source` / `*_source` key in a parsed YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if (key == "source" or str(key).endswith("_source")) and not isinstance(value, (dict, list)):
                yield where, value
            else:
                yield from _sources(value, where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _sources(item, f"{path}[{i}]")


def test_every_source_in_assets_names_a_paper_place_or_says_studio():
    import re
    from pathlib import Path

    import yaml

    from studio.settings import ASSETS_DIR

    checked = 0
    bad = []
    for f in sorted(Path(ASSETS_DIR).rglob("*.yaml")):
        for where, value in _sources(yaml.safe_load(f.read_text(encoding="utf-8")) or {}):
            if f.name == "templates.yaml" and "{" in str(value):
                continue  # an edit template's `source` is the prompt of its source image, not a citation
            checked += 1
            text = str(value).strip()
            if not (text.startswith("studio") or re.search(_LOCATOR, text)):
                bad.append(f"{f.relative_to(ASSETS_DIR)}: {where}: {text!r}")
    assert checked > 100 and not bad, "\n".join(bad)
    attrs = yaml.safe_load((Path(ASSETS_DIR) / "synthesis" / "attributes.yaml").read_text(encoding="utf-8"))
    assert "Table 4" in attrs["source"] and attrs["values_source"].startswith("studio")
    assert attrs["person"]["source"].startswith("studio") and "Appendix E" in attrs["person"]["source"]


def test_person_descriptors_of_appendix_e_reach_the_prompt(studio):
    plan = Planner(studio.taxonomy).plan(
        SynthesisRequest(nodes=["sharegpt4o/t2i"], count=1500, seed=11, method="attributes", dedup=EXACT))
    with_people = [r for r in plan.rows if r.attributes.get("person")]
    assert with_people
    for r in with_people:
        for p in r.attributes["person"]:
            assert p["object"] in r.attributes["objects"] and p["age"] in r.text and p["ethnicity"] in r.text


def test_document_pipeline_sends_the_sampled_font_and_the_nodes_category(studio):
    """The font C.2 hands the LLM is the row's sampled font; the category is the taxonomy node's."""
    plan = Planner(studio.taxonomy).plan(
        SynthesisRequest(nodes=["sharegpt4o/document"], count=40, seed=0, method="llm", dedup=EXACT))
    fonts = set()
    for r in plan.rows:
        step2 = [m for m in r.meta_prompt if m["step"].startswith("2")][-1]["content"]
        font = r.attributes["font"]
        fonts.add(font)
        assert f'Use this font style: "{font}"' in step2
        title = studio.taxonomy.find(r.taxonomy_id).title
        assert f"Core document category (fixed, do not change it): {title}" in step2
        assert "Choose ONE core document category" not in step2
    assert len(fonts) > 1  # not always the same font


def test_style_injection_is_content_aligned_and_relative_position_is_planar(studio):
    """001 §3.3: content-aligned styles in a subset of prompts; Relative Position keeps to planar relations."""
    from studio.synthesis.resources import resources

    res = resources()
    assert "on top of" not in res.pool("relations.planar")
    for key, spec in res.specs.items():
        if "stylistic_injection" in (spec.get("modifiers") or []):
            assert spec["injection_styles"].startswith("styles.injection."), key
    node = "opengpt4o/gen/complex_instruction/action_trajectory"
    aligned = set(res.pool(res.specs[res.node_specs[node]]["injection_styles"]))
    plan = Planner(studio.taxonomy).plan(
        SynthesisRequest(nodes=[node], count=60, seed=2, dedup=EXACT, style_injection=1.0))
    injected = [r for r in plan.rows if "stylistic_injection" in r.attributes.get("modifiers", [])]
    assert injected and all(r.attributes["sty"] in aligned for r in injected)


RUN = 15  # words in a row shared with a paper that count as copied wording


def _seed_dir():
    import os
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    candidates = [os.environ.get("STUDIO_SEEDS_DIR", ""), repo.parent / "shared" / "seeds",
                  repo.parent.parent / "shared" / "seeds"]
    for c in candidates:
        if c and Path(c).is_dir() and any(Path(c).glob("0*.txt")):
            return Path(c)
    pytest.skip("the source papers are not next to the repository (set STUDIO_SEEDS_DIR)")


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z0-9]+", text.lower())


def _texts(path):
    """The prose of a file as separate pieces; a YAML list of short names (e.g. style names) is not prose."""
    import yaml

    raw = path.read_text(encoding="utf-8", errors="ignore")
    if path.suffix not in (".yaml", ".yml"):
        return [raw]
    out = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            if node and all(isinstance(v, str) and len(v.split()) <= 4 for v in node):
                return  # a list of names
            for value in node:
                walk(value)
        elif isinstance(node, str):
            out.append(node)

    walk(yaml.safe_load(raw))
    out += [ln.split("#", 1)[1] for ln in raw.splitlines() if "#" in ln]  # comments are prose too
    return out


def test_no_asset_or_prompt_copies_fifteen_words_in_a_row_from_the_papers():
    from pathlib import Path

    from studio.settings import ASSETS_DIR

    grams = set()
    for f in _seed_dir().glob("0*.txt"):
        w = _words(f.read_text(encoding="utf-8"))
        grams.update(tuple(w[i:i + RUN]) for i in range(len(w) - RUN + 1))
    repo = Path(ASSETS_DIR).parent
    copied = []
    for folder in (repo / "assets", repo / "studio"):
        for f in sorted(folder.rglob("*")):
            if not f.is_file() or f.suffix not in (".py", ".yaml", ".yml", ".md", ".txt"):
                continue
            for text in _texts(f):
                w = _words(text)
                copied += [f"{f.relative_to(repo)}: {' '.join(w[i:i + RUN])}"
                           for i in range(len(w) - RUN + 1) if tuple(w[i:i + RUN]) in grams]
    assert not copied, "\n".join(copied[:20])


def test_meta_prompts_name_the_paper_text_or_the_studios_reading(studio):
    from studio.synthesis import service

    req = service.build_request(["sharegpt4o/edit", "opengpt4o/edit/subject", "sharegpt4o/document"],
                                24, 0, "llm", "default", 0.5, "off", 0.9)
    res = service.preview(studio, req)
    by_node = {}
    for m, row in zip(res["meta_prompts"], res["rows"]):
        by_node.setdefault(row.taxonomy_id.split("/")[0] + ":" + m["kind"], m["source"])
    assert by_node["sharegpt4o:edit-instruction"].startswith("studio reading") and "C.3" in by_node["sharegpt4o:edit-instruction"]
    assert "§3.4" in by_node["opengpt4o:edit-instruction"]
    assert "C.2" in by_node["sharegpt4o:document"] and "studio" in by_node["sharegpt4o:document"]
