"""`python -m studio render PROMPT` and `python -m studio edit IMAGE INSTRUCTION`: headless generation
and editing through any configured backend (the embedded procedural engine by default)."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from studio.cli import CLIError


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*(?:[x×]\s*(\d+))?\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"expected N or WxH, got {text!r}")
    w = int(m.group(1))
    h = int(m.group(2) or w)
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise argparse.ArgumentTypeError("each side must be from 16 to 4096 pixels")
    return w, h


def register(subparsers: argparse._SubParsersAction) -> None:
    r = subparsers.add_parser("render", help="text to image (procedural engine by default)",
                              description="Render a prompt to a PNG; the PNG carries the scene graph in a 'scene_graph' text chunk.")
    r.add_argument("prompt")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--size", type=_size, default=(512, 512), help="N or WxH pixels (default 512)")
    r.add_argument("--out", required=True, type=Path, help="PNG file to write")
    r.add_argument("--backend", default="procedural", help="a configured backend name (default: procedural)")
    r.add_argument("--json", action="store_true", help='print {"scene_graph", "honored", "ignored"} as JSON')
    r.set_defaults(func=run_render)
    e = subparsers.add_parser("edit", help="edit an image with an instruction (procedural engine by default)",
                              description="Edit IMAGE; images made by the procedural engine are edited on their scene graph.")
    e.add_argument("image", type=Path)
    e.add_argument("instruction")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True, type=Path, help="PNG file to write")
    e.add_argument("--backend", default="procedural", help="a configured backend name (default: procedural)")
    e.add_argument("--json", action="store_true", help='print {"scene_graph", "honored", "ignored"} as JSON')
    e.set_defaults(func=run_edit)


def _backend(name: str, capability: str) -> Any:
    from backends.base import BackendError
    from studio.cli import make_studio

    studio = make_studio()
    try:
        backend = studio.backends.get(name)
    except BackendError as exc:
        raise CLIError(str(exc)) from None
    caps = {c.value for c in backend.capabilities}
    if capability not in caps:
        raise CLIError(f"backend '{name}' cannot do {capability} (it can: {', '.join(sorted(caps)) or 'nothing'})")
    return backend


def _write(result: Any, out: Path, as_json: bool) -> int:
    from studio.images import encode_png

    if not out.parent.exists():
        raise CLIError(f"{out.parent}: folder does not exist")
    text = {"scene_graph": result.scene_graph} if result.scene_graph is not None else None
    try:
        out.write_bytes(encode_png(result.image, text))
    except OSError as exc:
        raise CLIError(f"{out}: cannot write ({exc.strerror or exc})") from None
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    if as_json:
        print(json.dumps({"scene_graph": result.scene_graph, "honored": result.honored, "ignored": result.ignored},
                         ensure_ascii=False))
    else:
        print(f"wrote {out} ({result.image.width}×{result.image.height}, backend {result.backend})")
        if result.ignored:
            print("ignored: " + "; ".join(result.ignored))
    return 0


def run_render(args: argparse.Namespace) -> int:
    from backends.base import BackendError, GenerationRequest

    backend = _backend(args.backend, "text-to-image")
    w, h = args.size
    try:
        result = backend.generate(GenerationRequest(prompt=args.prompt, seed=args.seed, width=w, height=h))
    except BackendError as exc:
        raise CLIError(str(exc)) from None
    return _write(result, args.out, args.json)


def run_edit(args: argparse.Namespace) -> int:
    from backends.base import BackendError, EditRequest
    from studio.images import ImageLoadError, load_image

    try:
        image = load_image(args.image)
    except ImageLoadError as exc:
        raise CLIError(str(exc)) from None
    backend = _backend(args.backend, "edit")
    try:
        result = backend.edit(EditRequest(image=image, instruction=args.instruction, seed=args.seed))
    except BackendError as exc:
        raise CLIError(str(exc)) from None
    return _write(result, args.out, args.json)
