"""Gold comparisons: a pair where one image breaks the prompt (a wrong colour, count or position),
made by the procedural engine, with the faithful image as the known winner.

The shown prompt is the faithful one; the other image is rendered from the same prompt with one
detail changed, at the same seed, so the two differ only in that detail. The item is an ordinary
comparison (same task, both sides named after the rendering backend) whose ``provenance`` holds the
answer; nothing about it reaches the browser before the vote. Gold votes feed annotator quality
(:mod:`studio.annotation.quality`) and are left out of the model boards.
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
    if not 0.0 < rate < 1.0:
        raise AnnotationError(f"the gold rate is a share between 0 and 1 (for example 0.1), got {rate}")
    return max(1, math.ceil(rate * ordinary_items / (1.0 - rate)))


def add_gold_comparisons(studio, batch: str, *, rate: float = 0.1, backend: str = "procedural", seed: int = 0,
                         kinds: tuple[str, ...] = BREAKS, size: int = 256) -> list[str]:
    """Add gold items to ``batch`` so they make up about ``rate`` of it; returns their item ids.

    1. Check the rate, the kinds and that the batch has ordinary items. 2. For each gold item draw a
    faithful and a broken prompt, render both with ``backend`` at one seed. 3. Put the faithful image
    on a random side and record it as the answer. 4. Check that no two gold items contradict, then
    add them. 5. Spread the gold items evenly through the batch's offering order.
    """
    unknown = [k for k in kinds if k not in BREAKS]
    if unknown or not kinds:
        raise AnnotationError(f"gold pairs break one of {', '.join(BREAKS)}; got {', '.join(unknown) or 'none'}")
    if not 32 <= size <= 1024:
        raise AnnotationError(f"gold image size is between 32 and 1024 pixels, got {size}")
    batch_id = resolve_batch(studio, batch)
    items = batch_items(studio, batch_id)
    ordinary = sum(1 for it in items if not (it["provenance"] or {}).get("gold"))
    if ordinary == 0:
        raise AnnotationError("add the batch's comparisons first: gold items are mixed in at a rate of them")
    n = min(MAX_GOLD, gold_count(ordinary, rate))
    renderer = studio.backends.get(backend)
    rng = random.Random(seed)
    planned = []
    for k in range(n):
        kind = kinds[k % len(kinds)]
        faithful, broken = gold_prompts(kind, rng)
        image_seed = seed * 100_003 + k
        shas = [studio.samples.store_image(renderer.generate(GenerationRequest(
            prompt=p, seed=image_seed, width=size, height=size)).image) for p in (faithful, broken)]
        if shas[0] == shas[1]:
            continue  # the engine drew both alike: no known answer
        faithful_is_a = rng.random() < 0.5
        out_a, out_b = shas if faithful_is_a else shas[::-1]
        planned.append({"prompt": faithful, "source_image": None, "output_a": out_a, "output_b": out_b,
                        "item_key": f"gold:{seed}:{k}",
                        "provenance": {"source": "gold", "gold": "model_a" if faithful_is_a else "model_b",
                                       "break": kind, "broken_prompt": broken}})
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
