"""The interleaved rationale format: lossless parsing, malformed markup, limits, final answers."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.reasoning.interleaved import (
    extract_final_answer,
    looks_like_refusal,
    parse_rationale,
    render_parts,
)

# text that leans towards the markup's own characters so the parser meets its edge cases often
markupish = st.text(
    alphabet=st.sampled_from(list("[]:imagecropIMAGE ,.0123456789\n\tx-é漢")) | st.characters(),
    max_size=200,
)
prose = st.text(alphabet=st.characters(blacklist_characters="[]"), max_size=40)
description = st.text(alphabet=st.characters(blacklist_characters="[]", blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda s: s.strip() != ""
)


@settings(max_examples=300, deadline=None)
@given(markupish, st.integers(min_value=0, max_value=3))
def test_any_text_parses_and_renders_back_to_the_original(text, limit):
    parsed = parse_rationale(text, max_images=limit, max_crops=limit)
    assert parsed.render() == text
    assert "".join(s.raw for s in parsed.segments) == text
    assert len(parsed.image_parts) <= limit
    for seg in parsed.segments:
        assert seg.raw  # no empty segments
        if seg.kind == "malformed":
            assert seg.problem


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(prose, description), max_size=4), prose)
def test_text_and_image_parts_survive_a_render_parse_round_trip(pairs, tail):
    parts = []
    for text, desc in pairs:
        parts += [("text", text), ("image", desc)]
    parts.append(("text", tail))
    markup = render_parts(parts)
    parsed = parse_rationale(markup)
    assert parsed.render() == markup
    assert [s.body for s in parsed.image_parts] == [" ".join(d.split()) for _, d in pairs]
    text_back = "".join(s.raw for s in parsed.segments if s.kind == "text")
    assert text_back == "".join(t for k, t in parts if k == "text")


def test_interleaved_order_and_case_insensitive_opener():
    parsed = parse_rationale("Look: [image: an oak leaf] then [ IMAGE :  a  maple leaf ] done.")
    kinds = [(s.kind, s.body) for s in parsed.segments]
    assert kinds == [
        ("text", "Look: "), ("image", "an oak leaf"), ("text", " then "), ("image", "a maple leaf"), ("text", " done."),
    ]


def test_unclosed_part_becomes_text_with_a_reason():
    parsed = parse_rationale("First [image: a cat] and then [image: a dog sitting")
    assert [s.body for s in parsed.image_parts] == ["a cat"]
    last = parsed.segments[-1]
    assert last.kind == "malformed" and last.raw == "[image: a dog sitting"
    assert "unclosed" in last.problem


def test_nested_brackets_are_not_rendered():
    parsed = parse_rationale("x [image: a sign reading [OPEN]] y [image: ok]")
    bad = [s for s in parsed.segments if s.kind == "malformed"]
    assert len(bad) == 1 and "nested" in bad[0].problem
    assert bad[0].raw == "[image: a sign reading [OPEN]]"
    assert [s.body for s in parsed.image_parts] == ["ok"]


def test_empty_description_is_skipped_with_a_reason():
    parsed = parse_rationale("a [image:   ] b")
    assert parsed.image_parts == []
    assert "empty description" in parsed.problems[0]


def test_parts_over_the_limit_are_kept_but_flagged():
    text = "".join(f"step {i} [image: picture {i}] " for i in range(1, 6))
    parsed = parse_rationale(text, max_images=3)
    assert [s.body for s in parsed.image_parts] == ["picture 1", "picture 2", "picture 3"]
    over = [s for s in parsed.segments if s.kind == "image" and s.problem]
    assert [s.body for s in over] == ["picture 4", "picture 5"]
    assert "over the limit of 3" in over[0].problem


def test_crop_parts_are_their_own_kind():
    parsed = parse_rationale("see [crop: 0.1, 0.2, 0.5, 0.6] here", max_crops=1)
    assert [(s.kind, s.body) for s in parsed.crop_parts] == [("crop", "0.1, 0.2, 0.5, 0.6")]


def test_final_answer_line_and_correct_answer_phrase():
    assert extract_final_answer("reasons\n**Final answer:** B. Oak leaf\n") == "B. Oak leaf"
    assert extract_final_answer("...\nTherefore, the correct answer is B. Oak leaf.") == "B. Oak leaf"
    assert extract_final_answer("no conclusion here") is None
    assert extract_final_answer("Final answer: A\nmore\nFinal answer: C") == "C"


def test_refusals_are_recognised_only_without_image_parts():
    assert looks_like_refusal("I'm sorry, but I can't help with that.")
    assert looks_like_refusal("I cannot answer this question.")
    assert not looks_like_refusal("I cannot see a cat, so [image: a cat]")
    assert not looks_like_refusal("The answer is B.")
