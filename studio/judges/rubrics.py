"""Scoring rubrics from the papers, each with its prompt and its aggregate, and the pairwise prompts.

- ``omnicontext`` (OmniGen2's OmniContext): Prompt Following and Subject Consistency, 0–10 each;
  overall = √(PF·SC).
- ``edit`` (VIEScore, as GEdit-Bench uses it): semantic consistency = min(instruction following,
  preservation of what should not change); perceptual quality = min(naturalness, absence of artifacts);
  overall = √(SC·PQ). All 0–10.
- ``t2i`` (VIEScore for text-to-image): SC = prompt fidelity; PQ = min(naturalness, artifacts); overall
  = √(SC·PQ).
- ``imgedit`` (ImgEdit-Bench): instruction adherence, editing quality, detail preservation, 1–5 each;
  overall = their mean.
- ``geneval``: pass or fail against the prompt's objects, counts, colours and positions (1 or 0).

Images reach the judge in the order: source / reference images, then the output (A, then B for a pair).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

_JSON_SCORES = ('Answer with one JSON object and nothing else: {{"score": [{slots}], "reasoning": "<one or '
                'two sentences>"}}.')


@dataclass(frozen=True)
class Rubric:
    name: str
    title: str
    #: names of the numbers the judge returns, in order
    criteria: tuple[str, ...]
    low: float
    high: float
    #: text-to-image | edit | in-context (what the item must carry: source images for edit/in-context)
    task: str
    template: str
    combine: Callable[[Sequence[float]], dict[str, float]]

    def prompt(self, text: str, n_sources: int) -> str:
        slots = ", ".join(f"<{c} {self.low:g}-{self.high:g}>" for c in self.criteria)
        sources = (f"The first {n_sources} image(s) are the input; the last image is the output to judge."
                   if n_sources else "The image is the output to judge.")
        return self.template.format(text=text, sources=sources) + "\n\n" + _JSON_SCORES.format(slots=slots)


def geometric_mean(values: Sequence[float]) -> float:
    values = [max(0.0, float(v)) for v in values]
    return math.prod(values) ** (1.0 / len(values)) if values else float("nan")


def _omnicontext(s: Sequence[float]) -> dict[str, float]:
    pf, sc = s
    return {"prompt_following": pf, "subject_consistency": sc, "overall": geometric_mean([pf, sc])}


def _viescore_edit(s: Sequence[float]) -> dict[str, float]:
    sc, pq = min(s[0], s[1]), min(s[2], s[3])
    return {"semantic_consistency": sc, "perceptual_quality": pq, "overall": geometric_mean([sc, pq])}


def _viescore_t2i(s: Sequence[float]) -> dict[str, float]:
    sc, pq = s[0], min(s[1], s[2])
    return {"semantic_consistency": sc, "perceptual_quality": pq, "overall": geometric_mean([sc, pq])}


def _mean(s: Sequence[float]) -> dict[str, float]:
    return {"overall": sum(s) / len(s)}


def _pass(s: Sequence[float]) -> dict[str, float]:
    return {"overall": 1.0 if s[0] >= 0.5 else 0.0}


RUBRICS: dict[str, Rubric] = {r.name: r for r in (
    Rubric("omnicontext", "OmniContext (PF, SC; overall √(PF·SC))", ("prompt_following", "subject_consistency"),
           0, 10, "in-context",
           "You rate an image generated from reference images and an instruction. {sources}\n"
           "Instruction: {text}\n"
           "Rate Prompt Following: does the output do what the instruction asks (0 = not at all, 10 = fully)? "
           "Rate Subject Consistency: do the people or objects taken from the references keep their identity "
           "and appearance (0 = unrecognisable, 10 = identical)?", _omnicontext),
    Rubric("edit", "Edit (VIEScore: √(min(IF, preservation)·min(naturalness, artifacts)))",
           ("instruction_following", "preservation", "naturalness", "artifacts"), 0, 10, "edit",
           "You rate an edited image. {sources}\nEdit instruction: {text}\n"
           "Rate, each from 0 to 10: instruction following (is the requested change made?), preservation "
           "(is everything the instruction did not ask to change left as it was? 0 = over-edited), "
           "naturalness (does it look real and coherent?), artifacts (10 = no distortion, blur or "
           "glitches, 0 = heavily damaged).", _viescore_edit),
    Rubric("t2i", "Text-to-image fidelity and quality (VIEScore)", ("prompt_fidelity", "naturalness", "artifacts"),
           0, 10, "text-to-image",
           "You rate an image generated from a text prompt. {sources}\nPrompt: {text}\n"
           "Rate, each from 0 to 10: prompt fidelity (are every object, count, colour, relation and text of the "
           "prompt present and right?), naturalness (does it look real and coherent?), artifacts (10 = no "
           "distortion, 0 = heavily damaged).", _viescore_t2i),
    Rubric("imgedit", "ImgEdit (1–5 each; overall = mean)",
           ("instruction_adherence", "editing_quality", "detail_preservation"), 1, 5, "edit",
           "You rate an edited image. {sources}\nEdit instruction: {text}\n"
           "Rate, each from 1 (poor) to 5 (excellent): instruction adherence (the requested change, and only "
           "it), editing quality (the edited region looks seamless and natural), detail preservation (what was "
           "not to change keeps its details).", _mean),
    Rubric("geneval", "GenEval pass/fail", ("pass",), 0, 1, "text-to-image",
           "You check an image generated from a text prompt. {sources}\nPrompt: {text}\n"
           "Answer 1 when every object of the prompt is present with the right count, colour and relative "
           "position and nothing contradicts it; otherwise 0.", _pass),
)}

PAIR_CRITERIA = {
    "overall": "Which output is better overall, following the request and looking good?",
    "instruction_fidelity": "Which output follows the prompt or instruction more faithfully?",
    "visual_quality": "Which output has the better visual quality (natural, free of artifacts)?",
}


def pair_prompt(text: str, criterion: str, n_sources: int) -> str:
    question = PAIR_CRITERIA.get(criterion, f"Which output is better for: {criterion.replace('_', ' ')}?")
    first = (f"The first {n_sources} image(s) are the input. Then come output A and output B."
             if n_sources else "The first image is output A, the second is output B.")
    return (f"You compare two images made for the same request. {first}\nRequest: {text}\n{question} "
            "Answer tie when neither is better.\n\n"
            'Answer with one JSON object and nothing else: {"winner": "A" | "B" | "tie", '
            '"reasoning": "<one or two sentences>"}.')


def get_rubric(name: str) -> Rubric:
    try:
        return RUBRICS[name]
    except KeyError:
        raise KeyError(f"unknown rubric {name!r}; known: {', '.join(RUBRICS)}") from None
