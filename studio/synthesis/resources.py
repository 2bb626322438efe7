"""The data synthesis draws from: resource pools, templates, attribute dimensions and the node map.

All of it lives in ``assets/synthesis/*.yaml`` so a user can add words, templates or a subtask by
editing a file. Loading checks the shape and names the file and key of anything wrong.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from studio.yamlio import load_yaml

from studio.settings import ASSETS_DIR

SYNTHESIS_ASSETS = ASSETS_DIR / "synthesis"
IMAGENET_FILE = ASSETS_DIR / "taxonomy" / "imagenet_classes.txt"

_SLOT = re.compile(r"\{(?:(a|pl|cap):)?([A-Za-z_][A-Za-z_0-9]*)(?:\.(\d))?\}")


class SynthesisConfigError(ValueError):
    """A synthesis asset file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Resources:
    """Everything loaded from the asset folder, validated."""

    pools: dict[str, Any]
    modifiers: dict[str, dict[str, Any]]
    specs: dict[str, dict[str, Any]]
    composite: dict[str, Any]
    dimensions: dict[str, dict[str, list[str]]]
    node_specs: dict[str, str]
    attribute_roots: tuple[str, ...]
    reasoning_roots: tuple[str, ...]
    imagenet: tuple[str, ...] = field(default=())
    #: descriptors for ImageNet classes that are people (attributes.yaml `person`; the studio's values)
    person: dict[str, Any] = field(default_factory=dict)

    def pool(self, path: str) -> list[str]:
        """Values of a pool path such as ``objects.coco``; a branch means the union of its lists."""
        node: Any = self.pools
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SynthesisConfigError(f"pools.yaml: no pool {path!r}")
            node = node[part]
        return _flatten(node)


def _flatten(node: Any) -> list[str]:
    if isinstance(node, list):
        return [str(v) for v in node]
    if isinstance(node, dict):
        out: list[str] = []
        for v in node.values():
            out.extend(v for v in _flatten(v) if v not in out)
        return out
    return [str(node)]


def _class_name(line: str) -> str:
    """'n01440764<TAB>tench, Tinca tinca' -> 'tench' (plain names pass through)."""
    name = line.split("\t", 1)[-1].strip()
    return name.split(", ")[0].strip()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SynthesisConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SynthesisConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise SynthesisConfigError(f"{path}: expected a mapping at the top")
    return data


def _check_slots(where: str, text: str, slots: dict[str, str], res_pool) -> None:
    for m in _SLOT.finditer(text):
        if m.group(2) not in slots:
            raise SynthesisConfigError(f"{where}: text uses {{{m.group(2)}}} but slots do not define it")
    for name, pool in slots.items():
        values = res_pool(pool)
        if len(values) < 1:
            raise SynthesisConfigError(f"{where}.slots.{name}: pool {pool!r} is empty")


def load_resources(folder: Path = SYNTHESIS_ASSETS) -> Resources:
    """Read and validate pools.yaml, templates.yaml, attributes.yaml and node_map.yaml."""
    pools = _read_yaml(folder / "pools.yaml")
    tpl = _read_yaml(folder / "templates.yaml")
    attrs = _read_yaml(folder / "attributes.yaml")
    nmap = _read_yaml(folder / "node_map.yaml")
    imagenet: tuple[str, ...] = ()
    if IMAGENET_FILE.exists():
        imagenet = tuple(
            _class_name(ln) for ln in IMAGENET_FILE.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")
        )
    res = Resources(
        pools=pools,
        modifiers=tpl.get("modifiers") or {},
        specs=tpl.get("specs") or {},
        composite=tpl.get("composite") or {},
        dimensions=attrs.get("dimensions") or {},
        node_specs=dict(nmap.get("template") or {}),
        attribute_roots=tuple(nmap.get("attributes") or ()),
        reasoning_roots=tuple(nmap.get("reasoning") or ()),
        imagenet=imagenet,
        person=attrs.get("person") or {},
    )
    tfile = folder / "templates.yaml"
    for name, mod in res.modifiers.items():
        _check_slots(f"{tfile}: modifiers.{name}", mod.get("text", ""), mod.get("slots") or {}, res.pool)
    for key, spec in res.specs.items():
        where = f"{tfile}: specs.{key}"
        kind = spec.get("kind")
        if kind not in ("generation", "edit", "complex_edit", "multi_turn"):
            raise SynthesisConfigError(f"{where}.kind: {kind!r} is not generation|edit|complex_edit|multi_turn")
        for m in spec.get("modifiers") or []:
            if m not in res.modifiers:
                raise SynthesisConfigError(f"{where}.modifiers: unknown modifier {m!r}")
        if "stylistic_injection" in (spec.get("modifiers") or []):
            _check_slots(f"{where}.injection_styles", "{sty}", {"sty": spec.get("injection_styles") or "(missing)"},
                         res.pool)
        if kind in ("complex_edit", "multi_turn"):
            if not isinstance(spec.get("ops"), int) or not 2 <= spec["ops"] <= 4:
                raise SynthesisConfigError(f"{where}.ops: expected 2, 3 or 4 sub-operations")
            continue
        templates = spec.get("templates") or []
        if not templates:
            raise SynthesisConfigError(f"{where}.templates: at least one template is needed")
        for i, t in enumerate(templates):
            slots = t.get("slots") or {}
            for part in ("text", "source", "reference"):
                if part in t:
                    _check_slots(f"{where}.templates[{i}].{part}", t[part], slots, res.pool)
            if kind == "edit" and "source" not in t:
                raise SynthesisConfigError(f"{where}.templates[{i}]: an edit template needs a source prompt")
    for node_id, key in res.node_specs.items():
        if key not in res.specs:
            raise SynthesisConfigError(f"{folder / 'node_map.yaml'}: {node_id} -> unknown spec {key!r}")
    return res


@lru_cache(maxsize=4)
def resources(folder: str | None = None) -> Resources:
    """Cached resources of the shipped (or given) asset folder."""
    return load_resources(Path(folder) if folder else SYNTHESIS_ASSETS)


# -- text helpers ------------------------------------------------------------------------------
_CONSONANT_SOUND = ("uni", "use", "usu", "eu", "one", "uro")
_IRREGULAR = {"person": "people", "mouse": "mice", "sheep": "sheep", "fish": "fish", "knife": "knives",
              "child": "children", "man": "men", "woman": "women", "deer": "deer", "tv": "TVs",
              "skis": "skis", "scissors": "pairs of scissors", "leaf": "leaves", "shelf": "shelves"}


def with_article(phrase: str) -> str:
    """'a car' / 'an apple' (phrases that already start with a determiner are left alone)."""
    low = phrase.lower()
    if re.match(r"^(a|an|the|this|that|some|two|three|four|five|six|seven|eight|nine|ten)\b", low):
        return phrase
    vowel = low[:1] in "aeiou" and not low.startswith(_CONSONANT_SOUND)
    return ("an " if vowel or low.startswith("hour") else "a ") + phrase


def plural(phrase: str) -> str:
    """Plural of a noun phrase (last word inflected)."""
    words = phrase.split(" ")
    last = words[-1]
    low = last.lower()
    if low in _IRREGULAR:
        new = _IRREGULAR[low]
    elif low.endswith(("s", "x", "ch", "sh", "z")):
        new = last + "es"
    elif low.endswith("y") and low[-2:-1] not in tuple("aeiou"):
        new = last[:-1] + "ies"
    else:
        new = last + "s"
    return " ".join(words[:-1] + [new])


def fill(text: str, values: dict[str, str]) -> str:
    """Replace {slot}, {a:slot}, {pl:slot}, {cap:slot} and {slot.N} in ``text``."""

    def sub(m: re.Match[str]) -> str:
        fn, name, part = m.group(1), m.group(2), m.group(3)
        value = values[name]
        if part is not None:
            pieces = value.split("|")
            value = pieces[int(part)] if int(part) < len(pieces) else pieces[-1]
        if fn == "a":
            value = with_article(value)
        elif fn == "pl":
            value = plural(value)
        elif fn == "cap":
            value = value[:1].upper() + value[1:]
        return value

    return _SLOT.sub(sub, text)


def display(value: str) -> str:
    """A pool entry as shown to the user ('Chinese|欢迎光临' -> 'Chinese: 欢迎光临')."""
    return value.replace("|", ": ") if value.count("|") == 1 else value.replace("|", " → ")


def draw_slots(
    slots: dict[str, str], rng: random.Random, res: Resources, used: dict[str, set[str]] | None = None
) -> dict[str, str]:
    """One value per slot; slots drawing from the same pool get distinct values when possible."""
    used = used if used is not None else {}
    out: dict[str, str] = {}
    for name in sorted(slots):
        pool_path = slots[name]
        values = res.pool(pool_path)
        taken = used.setdefault(pool_path, set())
        free = [v for v in values if v not in taken] or values
        choice = free[rng.randrange(len(free))]
        taken.add(choice)
        out[name] = choice
    return out
