"""Prompt parsing: GenEval's six templates over all 80 COCO classes, relations, text, bad input."""
from __future__ import annotations

import pytest

from backends.procedural.lexicon import COCO_CLASSES, plural_forms
from backends.procedural.parser import parse_prompt

CLASSES = list(COCO_CLASSES)
GENEVAL_COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white"]
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
POSITIONS = {"left of": "left of", "right of": "left of", "above": "above", "below": "above"}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def only(parsed, cls):
    return [o for o in parsed.objects if o.cls == cls]


@pytest.mark.parametrize("cls", CLASSES)
def test_single_object(cls):
    p = parse_prompt(f"a photo of {article(cls)} {cls}")
    assert [(o.cls, o.count, o.color) for o in p.objects] == [(cls, 1, None)]
    assert p.ignored == []


@pytest.mark.parametrize("i", range(len(CLASSES)))
def test_two_objects(i):
    a, b = CLASSES[i], CLASSES[(i * 7 + 3) % len(CLASSES)]
    if a == b:
        b = CLASSES[(i + 1) % len(CLASSES)]
    p = parse_prompt(f"a photo of {article(a)} {a} and {article(b)} {b}")
    assert [o.cls for o in p.objects] == [a, b]
    assert all(o.count == 1 for o in p.objects)


@pytest.mark.parametrize("cls", CLASSES)
def test_counting_with_plurals(cls):
    for k, (word, n) in enumerate(NUMBERS.items()):
        plural = plural_forms(cls)[0]
        number = word if k % 2 == 0 else str(n)
        p = parse_prompt(f"a photo of {number} {plural}")
        assert [(o.cls, o.count) for o in p.objects] == [(cls, n)], (number, plural)


@pytest.mark.parametrize("color", GENEVAL_COLORS)
def test_colors(color):
    for cls in CLASSES:
        p = parse_prompt(f"a photo of {article(color)} {color} {cls}")
        assert [(o.cls, o.color) for o in p.objects] == [(cls, color)]


@pytest.mark.parametrize("surface,canonical", list(POSITIONS.items()))
def test_position(surface, canonical):
    for i in range(0, len(CLASSES), 3):
        a, b = CLASSES[i], CLASSES[(i + 11) % len(CLASSES)]
        p = parse_prompt(f"a photo of {article(a)} {a} {surface} {article(b)} {b}")
        assert [o.cls for o in p.objects] == [a, b]
        (rel,) = p.relations
        assert rel.relation == canonical
        # "A right of B" is stored as "B left of A"; "A below B" as "B above A"
        expected = (0, 1) if surface in ("left of", "above") else (1, 0)
        assert (rel.subject, rel.object) == expected


@pytest.mark.parametrize("i", range(0, len(CLASSES), 2))
def test_color_attribution(i):
    a, b = CLASSES[i], CLASSES[(i + 17) % len(CLASSES)]
    c1, c2 = GENEVAL_COLORS[i % 10], GENEVAL_COLORS[(i + 3) % 10]
    p = parse_prompt(f"a photo of {article(c1)} {c1} {a} and {article(c2)} {c2} {b}")
    assert [(o.cls, o.color) for o in p.objects] == [(a, c1), (b, c2)]


def test_orange_is_a_color_before_a_noun_and_a_fruit_otherwise():
    assert [(o.cls, o.color) for o in parse_prompt("an orange car and an orange").objects] == [("car", "orange"), ("orange", None)]


@pytest.mark.parametrize("prompt,relation", [
    ("a cat next to a dog", "next to"), ("a cat beside a dog", "next to"),
    ("a cat on top of a car", "on top of"), ("an apple inside a bowl", "inside"), ("an apple in a bowl", "inside"),
    ("a dog bigger than a horse", "bigger than"), ("a horse smaller than a dog", "bigger than"),
    ("a cat in front of a tv", "in front of"),
])
def test_relations(prompt, relation):
    p = parse_prompt(prompt)
    assert [r.relation for r in p.relations] == [relation]


def test_smaller_than_is_stored_inverted():
    p = parse_prompt("a horse smaller than a dog")
    (rel,) = p.relations
    assert (p.objects[rel.subject].cls, p.objects[rel.object].cls) == ("dog", "horse")


def test_symmetric_and_row_arrangements():
    p = parse_prompt("four stars in a row, symmetric")
    assert p.objects[0].arrangement == "row"
    assert p.arrangement == "symmetric"


def test_synonyms_and_irregular_plurals():
    p = parse_prompt("two puppies, three kittens, two people and four mice")
    assert [(o.cls, o.count) for o in p.objects] == [("dog", 2), ("cat", 3), ("person", 2), ("mouse", 4)]


def test_quoted_text_with_typography_and_setting():
    p = parse_prompt("a sign that says 'OPEN 24/7' in bold italic serif letters on a beach at sunset, pixel art")
    (t,) = p.texts
    assert (t.text, t.weight, t.style, t.family) == ("OPEN 24/7", "bold", "italic", "serif")
    assert (p.setting, p.time, p.styles) == ("beach", "sunset", ["pixel-art"])
    assert [o.cls for o in p.objects] == ["sign"]


def test_apostrophes_are_not_quotes():
    p = parse_prompt("the dog's bowl and a cat's toy")
    assert p.texts == []


def test_multiline_and_non_latin_text_is_kept_exactly():
    p = parse_prompt('a poster reading "Hello\\nWorld" and the word "Привет" and "你好"')
    assert [t.text for t in p.texts] == ["Hello\nWorld", "Привет", "你好"]


def test_unknown_words_are_reported_as_ignored():
    p = parse_prompt("a majestic purple giraffe")
    assert "majestic" in p.ignored and "purple giraffe" in p.honored


def test_contradictory_counts_keep_the_first_with_a_note():
    p = parse_prompt("three cats and two cats")
    assert [(o.cls, o.count) for o in p.objects] == [("cat", 3)]
    assert any("contradicts" in s for s in p.ignored)


def test_counts_over_ten_are_capped():
    p = parse_prompt("twenty dogs")
    assert p.objects[0].count == 10 and any("more than 10" in s for s in p.ignored)


def test_empty_and_huge_prompts_are_defined():
    assert parse_prompt("").objects == [] and parse_prompt("").notes
    huge = parse_prompt("a red car " * 12_000)
    assert sum(o.count for o in huge.objects) <= 40
    assert any("first 100,000" in n for n in huge.notes) and len(huge.honored) <= 41


def test_relation_without_object_is_ignored():
    p = parse_prompt("a cat left of")
    assert p.relations == [] and any("left of" in s for s in p.ignored)


@pytest.mark.parametrize("prompt,expected", [
    ("a red apple left of a blue cup on a wooden table", [("apple", "left of", "cup"), ("cup", "on top of", "dining table")]),
    ("a dog wearing a hat", [("hat", "on top of", "dog")]),
    ("an astronaut riding a horse", [("person", "on top of", "horse")]),
])
def test_everyday_phrasings(prompt, expected):
    p = parse_prompt(prompt)
    assert [(p.objects[r.subject].cls, r.relation, p.objects[r.object].cls) for r in p.relations] == expected


def test_style_names_do_not_become_objects():
    p = parse_prompt("a dog in the style of van gogh")
    assert [o.cls for o in p.objects] == ["dog"] and p.relations == []
