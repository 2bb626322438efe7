"""Prompt-first attribute sampling (ShareGPT-4o-Image §2.1, Appendix B).

Six dimensions: objects (ImageNet classes, k of them with k ~ exp(-λ(k-1)) over 1..100), background,
style, lighting, camera viewpoint and composition (one sub-dimension and one value each). Without an
LLM the attributes are composed by a fixed sentence pattern; with one, the composition meta-prompt
turns them into natural language.
"""
from __future__ import annotations

import math
import random
from typing import Any

from studio.synthesis.ksampler import K_MAX, k_distribution
from studio.synthesis.resources import Resources, with_article
from studio.synthesis.rows import DIFFICULTY_LABELS, PlannedRow
from studio.synthesis.templates import Bands

DIMENSIONS = ("background", "style", "lighting", "camera", "composition")
#: score = k objects + one constraint per other dimension; bands on that score. The studio's own:
#: ShareGPT-4o-Image grades no difficulty, so a difficulty mix other than the default reshapes k.
ATTRIBUTE_BANDS = Bands(easy_max=7, medium_max=10)


def pinned_dimension(node_id: str, root: str) -> tuple[str | None, str | None]:
    """(dimension, sub-dimension) a taxonomy node under ``root`` fixes, e.g. background/interior_spaces."""
    rest = node_id[len(root):].strip("/").split("/") if node_id != root else []
    dim = rest[0] if rest else None
    sub = rest[1] if len(rest) > 1 else None
    return dim, sub


def _k_for_level(rng: random.Random, lam: float, level: int | None) -> int:
    """k from the exp-decay distribution, restricted to the k range of the requested difficulty."""
    probs = k_distribution(lam)
    others = len(DIMENSIONS)
    if level is None:
        allowed = range(1, K_MAX + 1)
    else:
        lo, hi = ATTRIBUTE_BANDS.bounds(level)
        allowed = range(max(1, lo - others), min(K_MAX, hi - others) + 1)
    weights = [probs[k - 1] for k in allowed]
    total = sum(weights)
    if total <= 0 or not math.isfinite(total):  # far tail underflows for large λ: take the smallest k
        return allowed[0]
    u = rng.random() * total
    acc = 0.0
    for k, w in zip(allowed, weights):
        acc += w
        if u < acc:
            return k
    return allowed[-1]


def join_list(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


class AttributeSynthesizer:
    """Rows for the ShareGPT-4o-Image text-to-image dimensions."""

    def __init__(self, res: Resources, lam: float) -> None:
        self.res = res
        self.lam = lam

    def sample(self, rng: random.Random, level: int | None, pin: tuple[str | None, str | None]) -> dict[str, Any]:
        """The sampled attributes: objects (k of them) and one value per other dimension."""
        k = _k_for_level(rng, self.lam, level)
        names = list(self.res.imagenet) or self.res.pool("objects.coco")
        objects = rng.sample(names, min(k, len(names)))
        attrs: dict[str, Any] = {"k": k, "objects": objects}
        people = [o for o in objects if o in set(self.res.person.get("classes") or ())]
        if people:  # Appendix E's Person descriptors (the values are the studio's)
            ages, kin = self.res.person["age"], self.res.person["ethnicity"]
            attrs["person"] = [{"object": o, "age": ages[rng.randrange(len(ages))],
                                "ethnicity": kin[rng.randrange(len(kin))]} for o in people]
        for dim in DIMENSIONS:
            subs = self.res.dimensions[dim]
            sub = pin[1] if pin[0] == dim and pin[1] in subs else sorted(subs)[rng.randrange(len(subs))]
            values = subs[sub]
            attrs[dim] = {"sub_dimension": sub, "value": values[rng.randrange(len(values))]}
        return attrs

    def row(self, *, index: int, node_id: str, root: str, level: int | None, seed: int,
            rng: random.Random) -> PlannedRow:
        attrs = self.sample(rng, level, pinned_dimension(node_id, root))
        text = compose_attributes(attrs)
        score = attrs["k"] + len(DIMENSIONS)
        got = ATTRIBUTE_BANDS.level(score)
        constraints = [f"{attrs['k']} object{'s' if attrs['k'] != 1 else ''}"] + list(DIMENSIONS)
        reason = (
            f"k = {attrs['k']} objects (drawn from exp(-{self.lam:g}(k-1))) + {len(DIMENSIONS)} attribute "
            f"dimensions = score {score}; {DIFFICULTY_LABELS[got]} is {ATTRIBUTE_BANDS.range_text(got)} "
            "(studio bands: ShareGPT-4o-Image grades no difficulty)"
        )
        return PlannedRow(
            index=index, taxonomy_id=node_id, method="attributes", kind="generation", text=text,
            seed=seed, attributes=attrs, template="sharegpt4o:six-dimension composition",
            difficulty=got, difficulty_reason=reason, constraints=constraints,
        )


def describe_person(desc: dict[str, str]) -> str:
    return f"{desc['age']}, {desc['ethnicity']}"


def compose_attributes(attrs: dict[str, Any]) -> str:
    """A fixed-pattern prompt from the six dimensions (the no-LLM composition)."""
    people = {p["object"]: describe_person(p) for p in attrs.get("person") or ()}
    objs = join_list([with_article(o) + (f" ({people[o]})" if o in people else "") for o in attrs["objects"]])
    return (
        f"{_cap(with_article(attrs['style']['value']))} image of {objs}, set in {attrs['background']['value']}, "
        f"with {attrs['lighting']['value']}, seen in {attrs['camera']['value']}, "
        f"composed with {attrs['composition']['value']}."
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
