"""The edit entry point: scene-graph edits when the image carries one, global photo operations otherwise."""
from __future__ import annotations

from typing import Any

from PIL import Image

from backends.base import BackendError, EditRequest, ImageResult, UnsupportedOperation
from backends.procedural import lexicon as lx, photo_ops
from backends.procedural.edit_plan import plan_edit
from backends.procedural.render import render_scene
from backends.procedural.scene import PNG_KEY, SceneGraphError, scale_scene, scene_from_image_info, scene_json, validate_scene
from backends.procedural.scene_edit import SceneEditor

MAX_HISTORY = 20
MAX_PHOTO_SIDE = 4096
OTHER_BACKENDS = "an edit- or inpaint-capable model backend (diffusers-edit, janus or openai-image)"


def _scene_of(request: EditRequest) -> tuple[dict[str, Any] | None, list[str]]:
    notices = []
    given = request.params.get("scene_graph") if isinstance(request.params, dict) else None
    if given is not None:
        try:
            scene = validate_scene(given)
        except SceneGraphError as exc:
            raise BackendError("procedural", f"the scene graph passed in is invalid: {exc}", "pass the scene graph this engine returned") from None
    else:
        scene = scene_from_image_info(dict(request.image.info)) if request.image is not None else None
        if scene is None and isinstance(request.image.info.get(PNG_KEY), str):
            notices.append("the image's scene_graph chunk is not a valid procedural scene; treated it as a photo")
    if scene is not None and request.image is not None and request.image.size != (scene["width"], scene["height"]):
        notices.append(f"image is {request.image.width}×{request.image.height}, its scene graph {scene['width']}×{scene['height']}; scaled the scene to the image")
        scene = scale_scene(scene, *request.image.size)
    return scene, notices


def edit_image(name: str, request: EditRequest) -> ImageResult:
    """Apply an instruction; raises BackendError/UnsupportedOperation when nothing could be applied."""
    instruction = request.instruction if isinstance(request.instruction, str) else str(request.instruction or "")
    if not instruction.strip():
        raise BackendError(name, "the instruction is empty", "type what to change, e.g. 'make the car blue'")
    if request.image is None:
        raise BackendError(name, "no image to edit", "upload or generate an image first")
    scene, notices = _scene_of(request)
    if request.mask is not None:
        notices.append("the procedural engine does not use masks; it edits the objects the instruction names")
    if request.reference_images:
        notices.append("the procedural engine does not use reference images")
    ops = plan_edit(instruction)
    request.check_cancel()
    if scene is None:
        return _edit_photo(name, request, ops, notices)
    editor = SceneEditor(scene, int(request.seed))
    for op in ops:
        editor.apply(op)
        request.check_cancel()
    if not editor.honored:
        raise BackendError(name, "nothing in the instruction could be applied: " + "; ".join(editor.ignored),
                           "name objects that are in the image, or use add/remove/replace/make/move")
    new = editor.scene
    new["history"] = (new.get("history", []) + [{"instruction": instruction[:500], "applied": editor.honored}])[-MAX_HISTORY:]
    img = render_scene(new)
    img.info[PNG_KEY] = scene_json(new)
    missing = [f"characters {t['missing_glyphs']!r} of '{t['text']}' (no installed font covers them)" for t in new["texts"] if t.get("missing_glyphs")]
    return ImageResult(image=img, backend=name, honored=editor.honored, ignored=editor.ignored + missing,
                       scene_graph=new, notices=notices + editor.notes, procedural=True,
                       metadata={"engine": "procedural", "seed": int(request.seed), "operations": [o.kind for o in ops]})


def _edit_photo(name: str, request: EditRequest, ops: list, notices: list[str]) -> ImageResult:
    img = request.image.convert("RGB")
    if max(img.size) > MAX_PHOTO_SIDE:
        scale = MAX_PHOTO_SIDE / max(img.size)
        old = img.size
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
        notices.append(f"image was {old[0]}×{old[1]}; edited a {img.width}×{img.height} copy")
    honored, ignored = [], []
    from backends.procedural.styles import apply_styles

    for op in ops:
        try:
            if op.kind == "style":
                img = apply_styles(img, op.args["styles"])[0] if op.args["styles"] else img
                if not op.args["styles"]:
                    raise ValueError("a photo has no engine style to remove")
            elif op.kind == "adjust":
                img = photo_ops.adjust(img, op.args["what"], op.args["value"])
            elif op.kind == "crop":
                img = img.crop(photo_ops.crop_box(img.size, op.args))
            elif op.kind == "extend":
                img = photo_ops.extend(img, photo_ops.extend_margins(img.size, op.args))
            elif op.kind == "flip":
                img = photo_ops.flip(img, op.args["axis"])
            elif op.kind == "rotate":
                img = photo_ops.rotate(img, op.args["degrees"])
            elif op.kind == "text_add":
                if not op.args.get("texts"):
                    raise ValueError("put the text to write in quotes")
                color = op.args.get("color")
                for text in op.args["texts"]:
                    img, _ = photo_ops.overlay_text(img, text, op.args.get("position"), lx.COLORS.get(color) if color else None,
                                                    op.args.get("weight"), op.args.get("style"))
            elif op.kind == "background" and op.args.get("time") in ("night", "sunset") and not op.args.get("setting"):
                img = photo_ops.adjust(img, "brightness", 0.55) if op.args["time"] == "night" else photo_ops.adjust(img, "tone", "warm")
            elif op.kind == "unknown":
                ignored.append(f"{op.phrase} ({op.args.get('reason')})")
                continue
            else:
                ignored.append(f"{op.phrase} (this image has no procedural scene graph; {op.kind.replace('_', ' ')} needs {OTHER_BACKENDS})")
                continue
        except (ValueError, OSError) as exc:
            ignored.append(f"{op.phrase} ({exc})")
            continue
        honored.append(op.phrase)
        if max(img.size) > 8192:
            raise BackendError(name, "the result would be over 8192 pixels on a side", "crop or scale the image first")
    if not honored:
        raise UnsupportedOperation(
            name, "cannot apply this to an image without a procedural scene graph: " + "; ".join(ignored),
            f"use {OTHER_BACKENDS}; this engine edits such images only globally (style, tone, brightness, text overlay, crop/extend, flip/rotate)",
        )
    return ImageResult(image=img, backend=name, honored=honored, ignored=ignored, scene_graph=None,
                       notices=notices + ["edited as a photo: only global operations apply"], procedural=True,
                       metadata={"engine": "procedural", "seed": int(request.seed), "operations": [o.kind for o in ops]})
