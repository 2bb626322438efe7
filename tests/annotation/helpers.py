"""Shared helpers for the annotation tests: stored images and ready-made batches."""
from __future__ import annotations

from PIL import Image


def stored_image(studio, seed: int) -> str:
    """A small distinct image in the studio's store; returns its SHA-256."""
    img = Image.new("RGB", (24, 24), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    img.putpixel((seed % 24, (seed // 24) % 24), (255, 255, 255))
    return studio.samples.store_image(img)


def make_batch(studio, name: str = "b1", n_items: int = 4, *, overlap: int = 1,
               models: tuple[str, str] = ("model-alpha-zq", "model-beta-kx"), criteria=("overall",)) -> tuple[str, list[str]]:
    """A batch with ``n_items`` text-to-image comparisons of two models; returns (batch id, item ids)."""
    from studio.annotation import service

    batch_id = service.create_batch(studio, name, overlap=overlap, criteria=criteria)
    items = []
    for i in range(n_items):
        items.append(
            service.add_comparison(
                studio, batch_id, prompt=f"prompt {i}", task="text-to-image",
                output_a=stored_image(studio, 2 * i + 1), model_a=models[0],
                output_b=stored_image(studio, 2 * i + 2), model_b=models[1],
                taxonomy_id="gen/objects" if i % 2 else "gen/text",
            )
        )
    return batch_id, items
