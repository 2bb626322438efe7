"""Render a small gallery of the procedural engine's output to docs/gallery/ (PNGs + index.md).

    .venv/bin/python scripts/render_gallery.py [--size 320] [--out docs/gallery]

Each entry is a prompt (or a prompt followed by edits); the index lists prompt, honored and ignored parts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends.base import EditRequest, GenerationRequest  # noqa: E402
from backends.procedural import ProceduralBackend  # noqa: E402
from studio.images import encode_png  # noqa: E402

ENTRIES: list[tuple[str, str, list[str]]] = [
    ("geneval_position", "a photo of a dog right of a teddy bear", []),
    ("geneval_counting", "a photo of four donuts", []),
    ("geneval_color_attr", "a photo of a purple bicycle and a yellow umbrella", []),
    ("relations", "a cat on top of a car, an apple inside a bowl, in a city at night", []),
    ("text_sign", "a sign that says 'OPEN 24/7' in bold letters on a beach at sunset", []),
    ("multiscript", 'a poster with the words "Hello\\nПривет\\n你好"', []),
    ("shapes_symmetric", "five red hearts in a row above three blue stars, symmetric", []),
    ("style_pixel", "a big elephant and a small giraffe in a forest, pixel art", []),
    ("style_watercolor", "a sailboat on the ocean, watercolor", []),
    ("vector_icons", "a fire hydrant, a bench, a toaster, an oven and a refrigerator in a room", []),
    ("edit_chain", "a red car, a dog and a bench in a park", [
        "make the car blue and replace the dog with a horse", "add the text 'PARK' at the top then make it night"]),
    ("edit_extract", "a red car, a dog and a bench in a park", ["extract the dog on a transparent background"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description="render the procedural engine gallery")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    engine = ProceduralBackend(name="procedural")
    lines = ["# Procedural engine gallery", "",
             "Rendered by `scripts/render_gallery.py` (seed 0). The engine is a deterministic scene renderer, "
             "not a neural model; object glyphs come from Noto Color Emoji (see assets/glyphs).", ""]
    for name, prompt, edits in ENTRIES:
        res = engine.generate(GenerationRequest(prompt=prompt, seed=0, width=args.size, height=args.size))
        files = [(f"{name}.png", res, prompt)]
        image = res.image
        for k, instruction in enumerate(edits, 1):
            res = engine.edit(EditRequest(image=image, instruction=instruction, seed=0))
            image = res.image
            files.append((f"{name}_edit{k}.png", res, instruction))
        lines.append(f"## {name}")
        for fname, result, text in files:
            (args.out / fname).write_bytes(encode_png(result.image.convert("RGBA") if result.image.mode == "RGBA" else result.image))
            kind = "prompt" if fname.endswith(f"{name}.png") else "edit"
            flat = lambda items: ", ".join(items).replace("\n", "\\n") or "—"  # noqa: E731
            lines += [f"- {kind}: `{text}`", f"  - honored: {flat(result.honored)}",
                      f"  - ignored: {flat(result.ignored)}", f"  ![{fname}]({fname})"]
        lines.append("")
    (args.out / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in args.out.glob("*.png"))
    print(f"wrote {len(list(args.out.glob('*.png')))} images ({total / 1024:.0f} KiB) and index.md to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
