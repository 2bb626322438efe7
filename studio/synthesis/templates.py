"""Template-based synthesis (OpenGPT-4o-Image §3.3): pools + syntactic templates + difficulty grading.

Difficulty is graded from the three factors §3.3 names: instruction complexity (the number of
constraints a prompt sets), the background knowledge it requires and the length of the reasoning chain
it needs (score = constraints + knowledge + reasoning steps; templates and modifiers declare the last
two). How the factors are weighed (one point each) and the band edges are the studio's choice. Each subtask has its own bands (easy up to
``easy_max``, medium up to ``medium_max``, hard above), by default derived from its simplest template.
To hit a requested difficulty the sampler picks a template whose base score fits and appends
qualifier modifiers (scene, lighting, preservation ...) until the score lands in the band.
The diversity strategy varies the presentation format, the order and joining of the modifiers, and
injects a content-aligned style into a subset of prompts when the band leaves room.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from studio.synthesis.resources import _SLOT, Resources, display, draw_slots, fill
from studio.synthesis.rows import DIFFICULTY_LABELS, PlannedRow

#: modifiers every edit subtask may use besides its own
EDIT_DEFAULT_MODIFIERS = ("preserve", "match_lighting", "seamless", "keep_composition")
GEN_FORMATS = ("plain", "imperative", "descriptive")
_IMPERATIVES = ("Generate an image of", "Create", "Draw", "Produce a picture of")
_DESCRIPTIVE = ("An image showing", "A picture of", "A scene with")
_EXTRA_MODIFIERS: dict[str, dict[str, Any]] = {
    "seamless": {"text": " so that the result looks seamless and photorealistic", "constraints": ["realism"]},
    "keep_composition": {"text": ", without changing the framing or composition", "constraints": ["composition kept"]},
}


class SynthesisError(ValueError):
    """A request that cannot be synthesized (unknown node, bad count ...); the message says why."""


@dataclass(frozen=True)
class Bands:
    easy_max: int
    medium_max: int

    def level(self, score: int) -> int:
        return 1 if score <= self.easy_max else 2 if score <= self.medium_max else 3

    def range_text(self, level: int) -> str:
        if level == 1:
            return f"score ≤ {self.easy_max}"
        if level == 2:
            if self.medium_max == self.easy_max + 1:
                return f"score {self.medium_max}"
            return f"score {self.easy_max + 1}–{self.medium_max}"
        return f"score ≥ {self.medium_max + 1}"

    def bounds(self, level: int) -> tuple[int, int]:
        if level == 1:
            return (0, self.easy_max)
        if level == 2:
            return (self.easy_max + 1, self.medium_max)
        return (self.medium_max + 1, 10**6)


def _template_score(t: dict[str, Any]) -> int:
    return len(t.get("constraints") or []) + int(t.get("knowledge") or 0) + int(t.get("reasoning") or 0)


def spec_bands(spec: dict[str, Any]) -> Bands:
    """The subtask's difficulty bands: explicit ``bands`` or [simplest score, simplest + 2]."""
    if spec.get("bands"):
        lo, hi = spec["bands"]
        return Bands(int(lo), int(hi))
    if spec["kind"] in ("complex_edit", "multi_turn"):
        base = int(spec["ops"])
    else:
        base = min(_template_score(t) for t in spec["templates"])
    return Bands(base, base + 2)


class TemplateSynthesizer:
    """Builds :class:`PlannedRow` s for a subtask spec at a requested difficulty."""

    def __init__(self, res: Resources, style_injection: float = 0.25) -> None:
        self.res = res
        self.style_injection = style_injection

    def modifier(self, name: str) -> dict[str, Any]:
        return self.res.modifiers.get(name) or _EXTRA_MODIFIERS[name]

    def modifier_names(self, spec: dict[str, Any]) -> list[str]:
        names = list(spec.get("modifiers") or [])
        if spec["kind"] != "generation":
            names += [m for m in EDIT_DEFAULT_MODIFIERS if m not in names]
        return names

    def row(self, *, index: int, node_id: str, spec_key: str, difficulty: int, seed: int,
            rng: random.Random) -> PlannedRow:
        spec = self.res.specs[spec_key]
        bands = spec_bands(spec)
        if spec["kind"] in ("complex_edit", "multi_turn"):
            return self._composite(index, node_id, spec_key, spec, bands, difficulty, seed, rng)
        lo, hi = bands.bounds(difficulty)
        templates = [t for t in spec["templates"] if _template_score(t) <= hi]
        if not templates:
            raise SynthesisError(f"{node_id}: no template is simple enough for {DIFFICULTY_LABELS[difficulty]}")
        for _attempt in range(20):
            t = templates[rng.randrange(len(templates))]
            used: dict[str, set[str]] = {}
            values = draw_slots(t.get("slots") or {}, rng, self.res, used)
            constraints = list(t.get("constraints") or [])
            knowledge = int(t.get("knowledge") or 0)
            reasoning = int(t.get("reasoning") or 0)
            mods, extra_c, extra_r, mod_values = self._add_modifiers(
                spec, constraints, knowledge + reasoning, lo, hi, rng, used, allow_injection=True)
            score = len(constraints) + len(extra_c) + knowledge + reasoning + extra_r
            if lo <= score <= hi:
                break
        else:  # pragma: no cover - guarded by the coverage test over every node and level
            raise SynthesisError(f"{node_id}: cannot reach {DIFFICULTY_LABELS[difficulty]} with its templates")
        body = fill(t["text"], values) + "".join(fill(self.modifier(m)["text"], mod_values) for m in mods)
        attributes = {k: display(v) for k, v in {**values, **mod_values}.items()}
        fmt = "plain"
        if spec["kind"] == "generation":
            fmt = GEN_FORMATS[rng.randrange(len(GEN_FORMATS))]
            text, fmt = self._present(body, fmt, rng)
        else:
            text = _sentence(body)
        attributes["presentation_format"] = fmt
        if mods:
            attributes["modifiers"] = list(mods)
        all_c = constraints + extra_c
        row = PlannedRow(
            index=index, taxonomy_id=node_id, method="template",
            kind="generation" if spec["kind"] == "generation" else "edit",
            text=text, seed=seed, attributes=attributes,
            template=f"{spec_key}:{t['id']}" + (f" + {', '.join(mods)}" if mods else ""),
            difficulty=bands.level(score), constraints=all_c, reasoning_steps=reasoning + extra_r,
            knowledge=knowledge,
        )
        row.difficulty_reason = _reason(all_c, reasoning + extra_r, bands, row.difficulty, knowledge=knowledge)
        if spec["kind"] == "edit":
            row.source_prompt = _sentence(fill(t["source"], values))
            if t.get("reference"):
                row.reference_prompt = _sentence(fill(t["reference"], values))
        return row

    def _add_modifiers(self, spec, constraints, reasoning, lo, hi, rng, used, allow_injection):
        names = self.modifier_names(spec)
        rng.shuffle(names)  # combination logic: which qualifiers and in what order varies per prompt
        chosen: list[str] = []
        extra_c: list[str] = []
        extra_r = 0
        values: dict[str, str] = {}
        score = len(constraints) + reasoning
        injection = "stylistic_injection" in names
        if injection:
            names.remove("stylistic_injection")
            if allow_injection and rng.random() < self.style_injection and score + 1 <= hi:
                names.insert(0, "stylistic_injection")  # content-aligned style on a subset of prompts
        for name in names:
            if score >= lo and not (name == "stylistic_injection" and score + 1 <= hi):
                break
            mod = self.modifier(name)
            cost = len(mod.get("constraints") or []) + int(mod.get("reasoning") or 0)
            if score + cost > hi:
                continue
            slots = mod.get("slots") or {}
            if name == "stylistic_injection":  # content-aligned: the subtask's own style group
                slots = {"sty": spec["injection_styles"]}
            values.update(draw_slots(slots, rng, self.res, used))
            chosen.append(name)
            extra_c += list(mod.get("constraints") or [])
            extra_r += int(mod.get("reasoning") or 0)
            score += cost
        return chosen, extra_c, extra_r, values

    def _present(self, body: str, fmt: str, rng: random.Random) -> tuple[str, str]:
        """Presentation format: a bare description, an imperative, or a descriptive lead-in."""
        if body[:1].isupper():  # the template already names its medium ("A photo of ...")
            fmt = "imperative" if fmt == "imperative" else "plain"
            lead = ("Create", "Draw")
        else:
            lead = _IMPERATIVES
        if fmt == "imperative":
            return f"{lead[rng.randrange(len(lead))]} {_lower_first(body)}.", fmt
        if fmt == "descriptive":
            return f"{_DESCRIPTIVE[rng.randrange(len(_DESCRIPTIVE))]} {_lower_first(body)}.", fmt
        return _sentence(body), fmt

    def _composite(self, index, node_id, spec_key, spec, bands, difficulty, seed, rng) -> PlannedRow:
        comp = self.res.composite
        n_ops = int(spec["ops"])
        used: dict[str, set[str]] = {}
        values = draw_slots(comp["slots"], rng, self.res, used)
        ops = dict(comp["ops"])
        if spec["kind"] == "multi_turn":
            ops.update(comp.get("multi_turn_only") or {})
        names = sorted(ops)
        rng.shuffle(names)
        picked: list[str] = []
        targets: set[str] = set()
        for name in names:
            target = ops[name].get("target") or name
            if target in targets:
                continue
            picked.append(name)
            targets.add(target)
            if len(picked) == n_ops:
                break
        lo, hi = bands.bounds(difficulty)
        constraints = [ops[n]["label"] for n in picked]
        mods, extra_c, extra_r, mod_values = self._add_modifiers(
            spec, constraints, 0, lo, hi, rng, used, allow_injection=False)
        suffix = "".join(fill(self.modifier(m)["text"], mod_values) for m in mods)
        steps = [fill(ops[n]["text"], values) for n in picked]
        used_text = comp["source"] + "".join(ops[n]["text"] for n in picked)
        used_names = {m.group(2) for m in _SLOT.finditer(used_text)}
        attributes = {k: display(v) for k, v in values.items() if k in used_names}
        attributes.update({k: display(v) for k, v in mod_values.items()})
        attributes["operations"] = picked
        if mods:
            attributes["modifiers"] = list(mods)
        all_c = constraints + extra_c
        score = len(all_c) + extra_r
        row = PlannedRow(
            index=index, taxonomy_id=node_id, method="template",
            kind="multi_turn" if spec["kind"] == "multi_turn" else "edit",
            text="", seed=seed, attributes=attributes,
            template=f"{spec_key}:{'+'.join(picked)}" + (f" + {', '.join(mods)}" if mods else ""),
            difficulty=bands.level(score), constraints=all_c, reasoning_steps=extra_r,
            source_prompt=_sentence(fill(comp["source"], values)),
        )
        if spec["kind"] == "multi_turn":
            row.turns = [_sentence(s) for s in steps]
            if suffix:
                row.turns[-1] = _sentence(steps[-1] + suffix)
            row.text = row.turns[0]
        else:
            style = rng.randrange(2)
            if style == 0:
                body = ", ".join(steps[:-1]) + " and " + steps[-1]
            else:
                body = "First " + ", then ".join(steps[:-1]) + ", and finally " + steps[-1]
            row.text = _sentence(body + suffix)
            attributes["combination"] = "list" if style == 0 else "sequence"
        row.difficulty_reason = _reason(all_c, extra_r, bands, row.difficulty,
                                        unit="rounds" if row.turns else "sub-operations", n_ops=n_ops)
        return row


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?\"”" else text + "."


def _reason(constraints: list[str], reasoning: int, bands: Bands, level: int,
            unit: str | None = None, n_ops: int = 0, knowledge: int = 0) -> str:
    """Why a row has its difficulty, in words (all three factors of the score)."""
    score = len(constraints) + knowledge + reasoning
    head = f"{n_ops} {unit}; " if unit else ""
    return (
        f"{head}{len(constraints)} constraints ({', '.join(constraints)}) + background knowledge "
        f"{knowledge} + reasoning chain of "
        f"{reasoning} step{'s' if reasoning != 1 else ''} = score {score}; "
        f"{DIFFICULTY_LABELS[level]} for this subtask is {bands.range_text(level)}"
    )
