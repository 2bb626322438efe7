"""ProceduralBackend: the embedded, weight-free text-to-image and edit engine (deterministic)."""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from PIL import Image

from backends.base import Backend, Capability, EditRequest, GenerationRequest, ImageResult
from backends.procedural.layout import build_scene
from backends.procedural.parser import parse_prompt
from backends.procedural.render import render_scene
from backends.procedural.scene import PNG_KEY, scene_json

MIN_SIDE, MAX_SIDE = 8, 4096  # 8 px: the smallest size the studio lets a tab ask for


def attach_scene(img: Image.Image, scene: dict[str, Any]) -> Image.Image:
    """Put the scene graph JSON into the image's info, so it travels to PNG text chunks and edits."""
    img.info[PNG_KEY] = scene_json(scene)
    return img


def _text_notices(scene: dict[str, Any]) -> tuple[list[str], list[str]]:
    ignored, notices = [], []
    for txt in scene["texts"]:
        if txt.get("missing_glyphs"):
            chars = txt["missing_glyphs"]
            ignored.append(f"characters {chars!r} of '{txt['text']}' (no installed font covers them)")
            notices.append(
                f"no font covers {chars!r}: install a font for that script (e.g. Debian fonts-noto-core / fonts-noto-cjk)"
            )
    return ignored, notices


class ProceduralBackend(Backend):
    """Parses the prompt into a scene graph, lays it out and draws it; edits change the scene graph."""

    engine: ClassVar[str] = "procedural"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})
    default_params: ClassVar[Mapping[str, Any]] = {"seed": 0, "width": 512, "height": 512}

    def _size(self, width: int, height: int, notices: list[str]) -> tuple[int, int]:
        w = min(MAX_SIDE, max(MIN_SIDE, int(width if width is not None else 512)))
        h = min(MAX_SIDE, max(MIN_SIDE, int(height if height is not None else 512)))
        if (w, h) != (width, height):
            notices.append(f"size {width}×{height} is outside {MIN_SIDE}–{MAX_SIDE}px; drew {w}×{h}")
        return w, h

    def generate(self, request: GenerationRequest) -> ImageResult:
        """Text to image: parse, lay out, render; the scene graph rides along in ``image.info``."""
        notices: list[str] = []
        w, h = self._size(request.width, request.height, notices)
        prompt = request.prompt if isinstance(request.prompt, str) else str(request.prompt or "")
        if request.progress:
            request.progress(0, 3)
        parsed = parse_prompt(prompt)
        request.check_cancel()
        if request.progress:
            request.progress(1, 3)
        scene, _honored_rel, ignored_rel = build_scene(parsed, w, h, int(request.seed), prompt)
        request.check_cancel()
        img = render_scene(scene)
        if request.progress:
            request.progress(3, 3)
        text_ignored, text_notices = _text_notices(scene)
        honored = list(parsed.honored)
        for phrase in ignored_rel:
            base = phrase.split(" (")[0]
            if base in honored:
                honored.remove(base)
        notices += parsed.notes + text_notices
        if request.negative_prompt.strip():
            notices.append("the procedural engine does not use negative prompts")
        return ImageResult(
            image=attach_scene(img, scene), backend=self.name, honored=honored,
            ignored=parsed.ignored + ignored_rel + text_ignored, scene_graph=scene, notices=notices,
            metadata={"engine": self.engine, "seed": int(request.seed), "width": w, "height": h},
            procedural=True,
        )

    def edit(self, request: EditRequest) -> ImageResult:
        """Instruction edit: on the image's scene graph if it carries one, else global photo operations."""
        from backends.procedural.edit_apply import edit_image

        return edit_image(self.name, request)
