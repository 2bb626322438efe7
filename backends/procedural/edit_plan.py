"""Turn each sub-instruction into an EditOp (or a reason it was not understood)."""
from __future__ import annotations

import re

from backends.procedural import lexicon as lx
from backends.procedural.edit_parse import (
    EditOp, Target, color_in, find_verb, first_of, mentions_text, parse_target, size_factor,
    split_instruction, text_refs,
)
from backends.procedural.parser import ObjectSpec, parse_prompt

_POSITIONS = [("top left", (0.2, 0.2)), ("top right", (0.8, 0.2)), ("bottom left", (0.2, 0.8)),
              ("bottom right", (0.8, 0.8)), ("upper left", (0.2, 0.2)), ("upper right", (0.8, 0.2)),
              ("lower left", (0.2, 0.8)), ("lower right", (0.8, 0.8)), ("left", (0.18, None)),
              ("right", (0.82, None)), ("top", (None, 0.2)), ("bottom", (None, 0.82)),
              ("center", (0.5, 0.5)), ("centre", (0.5, 0.5)), ("middle", (0.5, 0.5))]
_RELATION_RE = re.compile(r"\b(" + "|".join(sorted((re.escape(r) for r in lx.RELATIONS), key=len, reverse=True)) + r")\b")


def position_in(text: str) -> tuple[float | None, float | None] | None:
    """A named canvas position (fractions) such as 'top left corner' or 'on the right'."""
    for name, pos in _POSITIONS:
        if re.search(rf"\b{name}\b", text):
            return pos
    return None


def _adjust(text: str) -> EditOp | None:
    checks = [
        (r"\b(bright(er|en)?|lighter|lighten|more light|increase (the )?brightness)\b", "brightness", 1.3),
        (r"\b(dark(er|en)|dim(mer)?|less light|decrease (the )?brightness|reduce (the )?brightness)\b", "brightness", 0.7),
        (r"\b(more|increase (the )?|higher |boost (the )?)contrast\b", "contrast", 1.4),
        (r"\b(less|decrease (the )?|lower |reduce (the )?)contrast\b", "contrast", 0.7),
        (r"\b(more (saturated|vivid|colou?rful|vibrant)|increase (the )?saturation|saturate)\b", "saturation", 1.6),
        (r"\b(desaturate|less saturated|muted|decrease (the )?saturation|reduce (the )?saturation)\b", "saturation", 0.45),
        (r"\bwarm(er)?\b", "tone", "warm"), (r"\b(cool(er)?|cold(er)?)\b", "tone", "cool"),
    ]
    for rx, what, value in checks:
        if re.search(rx, text):
            return EditOp("adjust", text, args={"what": what, "value": value})
    return None


def _global(verb: str, rest: str, chunk: str) -> EditOp | None:
    if verb in ("brighten", "darken", "desaturate"):
        return _adjust(chunk.lower()) or EditOp("adjust", chunk, args={"what": "brightness", "value": 1.3 if verb == "brighten" else 0.7})
    if verb == "crop":
        aspect = re.search(r"(\d+)\s*[:x/]\s*(\d+)", rest)
        area = next((a for a in ("left half", "right half", "top half", "bottom half") if a in rest), None)
        if aspect:
            return EditOp("crop", chunk, args={"aspect": (int(aspect.group(1)), int(aspect.group(2)))})
        if area:
            return EditOp("crop", chunk, args={"area": area})
        if "square" in rest:
            return EditOp("crop", chunk, args={"aspect": (1, 1)})
        return EditOp("crop", chunk, args={"area": "center"})
    if verb == "extend":
        aspect = re.search(r"(\d+)\s*[:x/]\s*(\d+)", rest)
        side = next((s for s in ("left", "right", "top", "bottom") if re.search(rf"\b{s}\b", rest)), None)
        if aspect:
            return EditOp("extend", chunk, args={"aspect": (int(aspect.group(1)), int(aspect.group(2)))})
        return EditOp("extend", chunk, args={"side": side or "all"})
    if verb == "flip":
        return EditOp("flip", chunk, args={"axis": "vertical" if re.search(r"vertical|upside", rest) else "horizontal"})
    if verb == "rotate":
        deg = re.search(r"(\d+)", rest)
        angle = int(deg.group(1)) if deg else 90
        if "counter" in rest or "anti" in rest:
            angle = -angle
        return EditOp("rotate", chunk, args={"degrees": angle})
    return None


def _text_op(verb: str, rest: str, chunk: str, quoted: list[str]) -> EditOp:
    refs = text_refs(chunk, quoted)
    if verb == "remove":
        return EditOp("text_remove", chunk, args={"texts": refs})
    if verb in ("add", "write"):
        style = {"weight": "bold" if "bold" in rest else None, "style": "italic" if "italic" in rest else None}
        return EditOp("text_add", chunk, args={"texts": refs, "position": position_in(rest), "color": color_in(rest),
                                               "on": parse_target(rest).cls, **style})
    if verb == "replace" or (len(refs) >= 2) or (len(refs) == 1 and re.search(r"\b(to|into|say|says|read|reads)\b", rest)):
        old, new = (refs[0], refs[1]) if len(refs) >= 2 else (None, refs[0] if refs else None)
        if new is None:
            return EditOp("unknown", chunk, args={"reason": "no new text given in quotes"})
        return EditOp("text_replace", chunk, args={"old": old, "new": new})
    changes = {"color": color_in(rest), "factor": size_factor(rest),
               "weight": "bold" if "bold" in rest else ("normal" if "not bold" in rest or "regular" in rest else None),
               "style": "italic" if "italic" in rest else None}
    if not any(v is not None for v in changes.values()):
        return EditOp("unknown", chunk, args={"reason": "say what to change about the text (color, bold, italic, size)"})
    return EditOp("text_alter", chunk, args={"texts": refs, **changes})


def _background(rest: str, chunk: str) -> EditOp | None:
    setting, time = first_of(lx.SETTINGS, rest), first_of(lx.TIMES, rest)
    color = color_in(rest)
    plain = bool(re.search(r"\b(plain|remove|blank|empty|nothing|transparent)\b", rest))
    if setting or time or color or plain:
        return EditOp("background", chunk, args={"setting": setting, "time": time, "color": color, "plain": plain})
    return None


def _object_spec(text: str) -> ObjectSpec | None:
    parsed = parse_prompt(text)
    return parsed.objects[0] if parsed.objects else None


def _add(rest: str, chunk: str, verb_word: str) -> EditOp:
    m = _RELATION_RE.search(rest)
    what, rel, anchor = rest, None, None
    if m:
        target = parse_target(rest[m.end():])
        if target.cls is not None:
            what, rel, anchor = rest[: m.start()], lx.RELATIONS[m.group(1)], target
    specs = parse_prompt(what).objects
    if not specs:
        bg = _background(rest, chunk)
        if bg is not None:
            return bg
        style = first_of(lx.STYLES, rest)
        if style:
            return EditOp("style", chunk, args={"styles": [style]})
        return EditOp("unknown", chunk, args={"reason": "names no object the engine can draw"})
    kind = "add_or_move" if verb_word in ("put", "place") and re.match(r"^(the|that|this)\b", rest) else "add"
    return EditOp(kind, chunk, target=parse_target(what), args={
        "specs": specs, "relation": rel, "anchor": anchor, "position": position_in(rest) if rel is None else None})


def _change(rest: str, chunk: str) -> EditOp:
    sep = re.search(r"\b(?:into|to|as)\b(?!.*\b(?:into|to|as)\b)", rest)
    pre, dest = (rest[: sep.start()], rest[sep.end():]) if sep else (rest, rest)
    target = parse_target(pre)
    if re.search(r"\bbackground\b", pre) or (target.cls is None and not sep and re.search(r"\bbackground\b", rest)):
        return _background(dest, chunk) or EditOp("unknown", chunk, args={"reason": "no background named"})
    style = first_of(lx.STYLES, dest)
    if re.search(r"\b(realistic|normal|original|no style|plain style)\b", dest) and target.cls is None:
        return EditOp("style", chunk, args={"styles": []})
    dest_target = parse_target(dest) if sep else Target()
    if sep and dest_target.cls and target.cls and dest_target.cls != target.cls:
        return EditOp("replace", chunk, target=target, args={"spec": _object_spec(dest)})
    factor = size_factor(dest)
    colors = [lx.COLOR_SYNONYMS.get(w, w) for w in re.findall(r"[a-z]+", rest) if w in lx.COLORS or w in lx.COLOR_SYNONYMS]
    if target.pronoun and not style and not first_of(lx.SETTINGS, dest) and not first_of(lx.TIMES, dest):
        if factor:
            return EditOp("resize", chunk, target=target, args={"factor": factor})
        if colors and not _adjust(dest):
            return EditOp("recolor", chunk, target=target, args={"color": colors[-1]})
    if target.cls and factor:
        return EditOp("resize", chunk, target=target, args={"factor": factor})
    if target.cls and colors and not style:
        if target.cls == "orange" and colors == ["orange"] and len(re.findall(r"\borange\b", rest)) < 2:
            colors = []
        if colors:
            target.color = colors[0] if len(colors) > 1 else None
            return EditOp("recolor", chunk, target=target, args={"color": colors[-1]})
    if style and (target.cls is None or target.pronoun):
        return EditOp("style", chunk, args={"styles": [style]})
    if target.cls is None:
        # "make the sky brighter": a region the engine does not draw apart is adjusted with the whole image
        adj = _adjust(dest)
        if adj is not None and not sep:
            return adj
        bg = _background(dest, chunk) if (first_of(lx.SETTINGS, dest) or first_of(lx.TIMES, dest)) else None
        if bg is not None:
            return bg
        if adj is not None:
            return adj
    if target.cls and style:
        return EditOp("unknown", chunk, args={"reason": "styles apply to the whole image here; say 'make it ...'"})
    return EditOp("unknown", chunk, args={"reason": "no change the engine can make was recognised"})


def plan_edit(instruction: str) -> list[EditOp]:
    """Sub-operations of an instruction in order; unknown chunks come back as kind 'unknown'."""
    chunks, quoted = split_instruction(instruction[:20_000])
    ops: list[EditOp] = []
    last_verb: tuple[str, str] | None = None
    for chunk in chunks[:12]:
        verb, rest = find_verb(chunk)
        verb_word = chunk.lower().split()[0] if chunk.split() else ""
        if verb is None and last_verb and last_verb[0] in ("add", "remove", "write") and (parse_target(rest).cls or text_refs(chunk, quoted)):
            verb, verb_word = last_verb
        if verb is None and ops and (follow := _follow_up(ops[-1], rest, chunk)) is not None:
            op = follow
        elif verb is None:
            op = _verbless(rest, chunk, quoted)
        else:
            last_verb = (verb, verb_word)
            op = _with_verb(verb, verb_word, rest, chunk, quoted)
        ops.append(op)
    for op in ops:
        op.phrase = " ".join(re.sub(r"__text(\d+)__", lambda m: repr(quoted[int(m.group(1))]), op.phrase).split())
    if len(chunks) > 12:
        ops.append(EditOp("unknown", "; ".join(chunks[12:]), args={"reason": "more than 12 steps in one instruction"}))
    return ops


def _follow_up(prev: EditOp, rest: str, chunk: str) -> EditOp | None:
    """'... and bold', '... and bigger': a verbless chunk that continues the previous change."""
    if parse_target(rest).cls is not None:
        return None
    color, factor = color_in(rest), size_factor(rest)
    if prev.kind == "text_alter":
        weight = "bold" if "bold" in rest else None
        style = "italic" if "italic" in rest else None
        if color or factor or weight or style:
            return EditOp("text_alter", chunk, args={"texts": prev.args.get("texts", []), "color": color,
                                                     "factor": factor, "weight": weight, "style": style})
    if prev.kind in ("recolor", "resize") and prev.target is not None:
        if factor:
            return EditOp("resize", chunk, target=prev.target, args={"factor": factor})
        if color:
            return EditOp("recolor", chunk, target=prev.target, args={"color": color})
    return None


def _verbless(rest: str, chunk: str, quoted: list[str]) -> EditOp:
    style = first_of(lx.STYLES, rest)
    if style:
        return EditOp("style", chunk, args={"styles": [style]})
    if re.search(r"\bbackground\b", rest) or first_of(lx.TIMES, rest):
        bg = _background(rest, chunk)
        if bg:
            return bg
    adj = _adjust(rest)
    if adj:
        return adj
    return EditOp("unknown", chunk, args={"reason": "no edit verb (add, remove, replace, make, move ...)"})


def _with_verb(verb: str, verb_word: str, rest: str, chunk: str, quoted: list[str]) -> EditOp:
    glob = _global(verb, rest, chunk)
    if glob is not None:
        return glob
    if mentions_text(rest) and verb in ("remove", "add", "write", "replace", "change", "paint", "enlarge", "shrink"):
        if verb in ("enlarge", "shrink"):
            return EditOp("text_alter", chunk, args={"texts": text_refs(chunk, quoted), "factor": 1.4 if verb == "enlarge" else 0.7,
                                                     "color": None, "weight": None, "style": None})
        return _text_op(verb, rest, chunk, quoted)
    if verb == "write":
        return _text_op("write", rest, chunk, quoted)
    if verb == "remove":
        if re.search(r"\bbackground\b", rest):
            return EditOp("background", chunk, args={"setting": None, "time": None, "color": None, "plain": True})
        if re.search(r"\b(style|filter|effect)\b", rest):
            return EditOp("style", chunk, args={"styles": []})
        return EditOp("remove", chunk, target=parse_target(rest))
    if verb == "replace":
        parts = re.split(r"\b(?:with|by|for)\b", rest, maxsplit=1)
        if re.search(r"\bbackground\b", parts[0]) and len(parts) == 2:
            return _background(parts[1], chunk) or EditOp("unknown", chunk, args={"reason": "no background named"})
        spec = _object_spec(parts[1]) if len(parts) == 2 else None
        if spec is None:
            return EditOp("unknown", chunk, args={"reason": "say 'replace X with Y' with an object the engine can draw"})
        return EditOp("replace", chunk, target=parse_target(parts[0]), args={"spec": spec})
    if verb == "extract":
        bg = "transparent" if "transparent" in rest else (color_in(rest.split("background")[0].split(" on ")[-1]) if "background" in rest else None)
        target_text = re.split(r"\b(?:on|onto|against|with)\b", rest)[0]
        return EditOp("extract", chunk, target=parse_target(target_text), args={"background": bg or "white"})
    if verb == "add":
        return _add(rest, chunk, verb_word)
    if verb == "move":
        m = _RELATION_RE.search(rest)
        anchor = parse_target(rest[m.end():]) if m else None
        if m and anchor and anchor.cls:
            return EditOp("move", chunk, target=parse_target(rest[: m.start()]), args={"relation": lx.RELATIONS[m.group(1)], "anchor": anchor})
        direction = re.search(r"\b(up|down|left|right|upwards|downwards)\b(?!\s+(?:of|side|corner|half))", rest)
        to_pos = re.search(r"\b(to|towards|into|in|at|on)\b", rest)
        pos = position_in(rest[to_pos.end():]) if to_pos else None
        tgt = parse_target(rest[: to_pos.start()] if to_pos else rest)
        if pos:
            return EditOp("move", chunk, target=tgt, args={"position": pos})
        if direction:
            return EditOp("move", chunk, target=parse_target(rest[: direction.start()]), args={"direction": direction.group(1).rstrip("wards")})
        return EditOp("unknown", chunk, args={"reason": "say where to move it (left, right, up, down, to the top left, next to X ...)"})
    if verb in ("enlarge", "shrink"):
        return EditOp("resize", chunk, target=parse_target(rest), args={"factor": size_factor(rest) or (1.5 if verb == "enlarge" else 0.66)})
    if verb == "paint":
        colors = [w for w in re.findall(r"[a-z]+", rest) if w in lx.COLORS or w in lx.COLOR_SYNONYMS]
        tgt = parse_target(rest)
        if not colors:
            return EditOp("unknown", chunk, args={"reason": "no color named"})
        tgt.color = lx.COLOR_SYNONYMS.get(colors[0], colors[0]) if len(colors) > 1 else None
        if tgt.cls is None and re.search(r"\bbackground\b", rest):
            return EditOp("background", chunk, args={"setting": None, "time": None, "color": colors[-1], "plain": False})
        return EditOp("recolor", chunk, target=tgt, args={"color": lx.COLOR_SYNONYMS.get(colors[-1], colors[-1])})
    return _change(rest, chunk)
