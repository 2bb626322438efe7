"""Gold comparisons: a pair where one image breaks the prompt (a wrong colour, count or position),
made by the procedural engine, with the faithful image as the known winner.

The shown prompt is the faithful one; the other image is rendered from the same prompt with one
detail changed, at the same seed, so the two differ only in that detail. The item is an ordinary
comparison (same task, both sides named after the rendering backend) whose ``provenance`` holds the
answer; nothing about it reaches the browser before the vote: its images are rendered at the
batch's size and served like every other item's. Gold votes feed annotator quality
(:mod:`studio.annotation.quality`) and are left out of the model boards.

A generated batch mixes them in at its ``gold_rate`` (:func:`studio.annotation.generation.plan_batch`);
:func:`add_gold_comparisons` adds them to any text-to-image batch.
"""
from __future__ import annotations

import math
import random

from sqlalchemy import select

from backends.base import GenerationRequest
from studio.annotation import AnnotationError
from studio.annotation.models import ComparisonItem
from studio.annotation.quality import check_gold
from studio.annotation.service import add_comparison, batch_items, resolve_batch

BREAKS = ("colour", "count", "position")
OBJECTS = ("apple", "cat", "car", "dog", "ball", "house", "tree", "flower", "bird", "cup")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange")
COUNTS = ("one", "two", "three", "four")
MAX_GOLD = 500
#: the largest share of a batch that may be gold: beyond it annotators spend more time being checked
#: than judging models
MAX_GOLD_RATE = 0.5


def check_gold_rate(rate) -> float:
    """The gold rate as a float in [0, MAX_GOLD_RATE] (0: no gold), or a clear error."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= MAX_GOLD_RATE:
        raise AnnotationError(f"the gold rate is the share of gold items in the batch, from 0 (none) to "
                              f"{MAX_GOLD_RATE} (for example 0.1), got {rate!r}")
    return float(rate)


def gold_prompts(kind: str, rng: random.Random) -> tuple[str, str]:
    """(faithful prompt, the same prompt with one detail broken) for ``kind`` in :data:`BREAKS`."""
    obj, other = rng.sample(OBJECTS, 2)
    if kind == "colour":
        right, wrong = rng.sample(COLOURS, 2)
        return f"a {right} {obj}", f"a {wrong} {obj}"
    if kind == "count":
        right, wrong = rng.sample(COUNTS, 2)
        plural = lambda n: obj if n == "one" else obj + "s"  # noqa: E731
        return f"{right} {plural(right)}", f"{wrong} {plural(wrong)}"
    if kind == "position":
        art = lambda w: "an" if w[0] in "aeiou" else "a"  # noqa: E731
        return (f"{art(obj)} {obj} to the left of {art(other)} {other}",
                f"{art(other)} {other} to the left of {art(obj)} {obj}")
    raise AnnotationError(f"a gold pair breaks one of {', '.join(BREAKS)}, not {kind!r}")


def gold_count(ordinary_items: int, rate: float) -> int:
    """How many gold items make up ``rate`` of a batch with ``ordinary_items`` other items."""
    if check_gold_rate(rate) == 0.0:
        raise AnnotationError("a gold rate of 0 adds no gold items; give a share such as 0.1")
    return max(1, math.ceil(rate * ordinary_items / (1.0 - rate)))


def add_gold_comparisons(studio, batch: str, *, rate: float = 0.1, backend: str = "procedural", seed: int = 0,
                         kinds: tuple[str, ...] = BREAKS, width: int = 256, height: int | None = None) -> list[str]:
    """Add gold items to ``batch`` so they make up about ``rate`` of it; returns the ids of those added.

    1. Check the rate, the kinds, the size and that the batch has ordinary text-to-image items.
    2. Count the gold items it needs; those already there (a rerun) count. 3. For each missing one
    draw a faithful and a broken prompt, render both with ``backend`` at one seed and at the batch's
    ``width`` × ``height``. 4. Put the faithful image on a random side and record it as the answer.
    5. Check that no two gold items contradict, then add them. 6. Spread the gold items evenly
    through the batch's offering order.
    """
    unknown = [k for k in kinds if k not in BREAKS]
    if unknown or not kinds:
        raise AnnotationError(f"gold pairs break one of {', '.join(BREAKS)}; got {', '.join(unknown) or 'none'}")
    height = width if height is None else height
    if not (32 <= width <= 2048 and 32 <= height <= 2048):
        raise AnnotationError(f"gold images are 32 to 2048 pixels a side, got {width}×{height}")
    batch_id = resolve_batch(studio, batch)
    items = batch_items(studio, batch_id)
    ordinary = [it for it in items if not (it["provenance"] or {}).get("gold")]
    if not ordinary:
        raise AnnotationError("add the batch's comparisons first: gold items are mixed in at a rate of them")
    if any(it["task"] != "text-to-image" for it in ordinary):
        raise AnnotationError("gold pairs are text-to-image comparisons; an edit batch would show them "
                              "without a source image, so they are not mixed into edits")
    have = len(items) - len(ordinary)
    n = min(MAX_GOLD, gold_count(len(ordinary), rate)) - have
    renderer = studio.backends.get(backend)
    rng = random.Random(f"{seed}:{have}")  # a rerun draws new prompts
    planned = []
    for k in range(have, have + max(0, n)):
        kind = kinds[k % len(kinds)]
        faithful, broken = gold_prompts(kind, rng)
        image_seed = seed * 100_003 + k
        shas = [studio.samples.store_image(renderer.generate(GenerationRequest(
            prompt=p, seed=image_seed, width=width, height=height)).image) for p in (faithful, broken)]
        if shas[0] == shas[1]:
            continue  # the engine drew both alike: no known answer
        faithful_is_a = rng.random() < 0.5
        out_a, out_b = shas if faithful_is_a else shas[::-1]
        planned.append({"prompt": faithful, "source_image": None, "output_a": out_a, "output_b": out_b,
                        "item_key": f"gold:{seed}:{k}",
                        "provenance": {"source": "gold", "gold": "model_a" if faithful_is_a else "model_b",
                                       "break": kind, "broken_prompt": broken}})
    if not planned:
        return []
    check_gold(items + planned)  # before anything is added
    made = [add_comparison(studio, batch_id, prompt=p["prompt"], task="text-to-image", output_a=p["output_a"],
                           model_a=backend, output_b=p["output_b"], model_b=backend, item_key=p["item_key"],
                           provenance=p["provenance"]) for p in planned]
    _spread(studio, batch_id)
    return made


def _spread(studio, batch_id: str) -> None:
    """Renumber the batch's offering order so gold items sit evenly among the others (items are
    offered lowest position first), instead of all at the end where few annotators reach them."""
    with studio.db.session() as s:
        rows = s.scalars(select(ComparisonItem).where(ComparisonItem.batch_id == batch_id)
                         .order_by(ComparisonItem.position, ComparisonItem.created_at)).all()
        gold = [r for r in rows if (r.provenance or {}).get("gold")]
        ordinary = [r for r in rows if not (r.provenance or {}).get("gold")]
        step = len(ordinary) / max(1, len(gold))
        slots = {min(len(ordinary), int((g + 0.5) * step)): [] for g in range(len(gold))}
        for g, row in enumerate(gold):
            slots.setdefault(min(len(ordinary), int((g + 0.5) * step)), []).append(row)
        order = []
        for k in range(len(ordinary) + 1):
            order += slots.get(k, [])
            if k < len(ordinary):
                order.append(ordinary[k])
        for position, row in enumerate(order):
            row.position = position
