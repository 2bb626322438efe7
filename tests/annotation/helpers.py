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


def differing_pair_manifest(folder, models: tuple[str, str] = ("model-alpha-zq", "model-beta-kx"),
                            rows: int = 2) -> str:
    """A comparison manifest whose two outputs differ the way two real models' files do: a 300x200
    PNG with a text chunk naming model A against a 320x240 JPEG with EXIF naming model B."""
    import json
    from pathlib import Path

    from PIL import Image, PngImagePlugin

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(rows):
        a, b = folder / f"{models[0]}-{k}.png", folder / f"{models[1]}-{k}.jpg"
        info = PngImagePlugin.PngInfo()
        info.add_text("backend", models[0])
        Image.new("RGB", (300, 200), (200, 40 + k, 40)).save(a, pnginfo=info)
        exif = Image.Exif()
        exif[0x010F] = models[1]  # Make
        exif[0x0110] = models[1]  # Model
        Image.new("RGB", (320, 240), (40, 40 + k, 200)).save(b, format="JPEG", exif=exif.tobytes())
        lines.append(json.dumps({"prompt": f"pair {k}", "output_a": a.name, "model_a": models[0],
                                 "output_b": b.name, "model_b": models[1]}))
    manifest = folder / "pairs.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return str(manifest)


def png_layout(data: bytes) -> tuple[tuple[int, int], bytes, list[str]]:
    """(pixel size, IHDR bit depth/colour type/..., chunk types) of PNG bytes."""
    import struct

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, ihdr = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8].decode("ascii")
        if kind == "IHDR":
            ihdr = data[pos + 8:pos + 8 + length]
        chunks.append(kind)
        pos += 12 + length
    width, height = struct.unpack(">II", ihdr[:8])
    return (width, height), ihdr[8:], sorted(set(chunks))


def annotate(studio, who: str, action):
    """``voting.annotate`` as the Annotate tab calls it, with the studio's services and pair order."""
    from studio.annotation import voting

    return voting.annotate(studio.db, studio.settings, who, action, pair_order=studio.annotation_hooks.pair_order)


def next_item(studio, batch_id: str, who: str):
    """The item in front of ``who`` (resumed or newly claimed), or None when nothing is left."""
    from studio.annotation import voting

    return annotate(studio, who, voting.Start(batch_id)).item


def vote(studio, assignment_id: str, who: str, choice: str, criteria_choices=()):
    """``who`` presses ``choice`` (and answers the other criteria) on the item of ``assignment_id``."""
    from studio.annotation import voting

    return annotate(studio, who, voting.Vote(assignment_id, choice, criteria_choices or ()))
