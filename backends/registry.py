"""Named backends built lazily from a YAML config.

Config shape (``assets/backends.yaml`` is the default; ``STUDIO_BACKENDS_CONFIG`` points elsewhere)::

    backends:
      procedural:            # the name users pick
        engine: procedural   # a key of ENGINES
        label: Procedural (no weights)
        options: {}          # passed to the engine's constructor
      sd15:
        engine: diffusers-text2image
        options: {model: runwayml/stable-diffusion-v1-5}

Nothing is loaded until a backend is first asked for, so the app starts fast and a broken entry
only affects itself: the error names the backend, the reason and what to do.

Where an engine is declared: its class says everything about it, once — ``engine`` (its name),
``capabilities``, ``default_params`` and ``uses_gpu`` (see ``backends.base.Backend``). ``ENGINES`` below
only says where each built-in class lives ("module:Class"), so the config can name an engine without
the studio importing every engine up front. Reading a configured entry's capabilities imports its
engine module (once, cached); that is cheap because engine modules import no torch, transformers or
diffusers at import time — they load those in their methods (``tests/engines/test_registry_declared.py``
keeps every built-in engine to that rule, and checks that each class's ``engine`` matches its key here).
"""
from __future__ import annotations

import functools
import importlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from backends.base import Backend, BackendLoadError, Capability

log = logging.getLogger(__name__)

#: engine name -> "module:Class" of its class, the one place that declares the engine
ENGINES: dict[str, str] = {
    "procedural": "backends.procedural:ProceduralBackend",
    "diffusers-text2image": "backends.diffusers_engine:DiffusersText2Image",
    "diffusers-edit": "backends.diffusers_edit:DiffusersEdit",
    "janus": "backends.janus:JanusBackend",
    "omnigen2": "backends.omnigen2.engine:OmniGen2Backend",
    "openai-image": "backends.openai_api:OpenAIImageBackend",
    "openai-chat": "backends.openai_api:OpenAIChatBackend",
    "transformers-chat": "backends.transformers_chat:TransformersChatBackend",
    "transformers-detector": "backends.transformers_detect:TransformersDetector",
}


class BackendConfigError(ValueError):
    """The backends config file is malformed; the message names the file and the entry."""


@functools.cache
def engine_class(engine: str) -> type[Backend]:
    """The class of a built-in engine name or of a "package.module:Class" (imported once, on first use)."""
    target = ENGINES.get(engine, engine)
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def engine_capabilities(engine: str) -> frozenset[Capability]:
    """What the engine's class declares; empty when the class cannot be imported (loading it says why)."""
    try:
        return frozenset(engine_class(engine).capabilities)
    except (ImportError, AttributeError) as exc:
        log.info("capabilities of engine %s unknown: %s", engine, exc)
        return frozenset()


def engine_uses_gpu(engine: str) -> bool:
    """Whether the engine's class says its models want a GPU."""
    try:
        return bool(engine_class(engine).uses_gpu)
    except (ImportError, AttributeError):
        return False


@dataclass(frozen=True)
class BackendEntry:
    """One configured backend. ``capabilities`` left out means the engine class's declaration; give it only
    to narrow or (for a custom engine) state what the entry offers."""

    name: str
    engine: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    capabilities: frozenset[Capability] | None = None
    #: what it renders best at (width, height, steps, guidance_scale); see backends/defaults.py
    defaults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.capabilities is None:
            object.__setattr__(self, "capabilities", engine_capabilities(self.engine))


def parse_backends_config(data: Any, source: str = "<config>") -> dict[str, BackendEntry]:
    """Validate a loaded YAML document and return its entries by name."""
    if not isinstance(data, dict) or not isinstance(data.get("backends"), dict):
        raise BackendConfigError(f"{source}: expected a mapping with a 'backends' mapping at the top")
    entries: dict[str, BackendEntry] = {}
    for name, raw in data["backends"].items():
        where = f"{source}: backends.{name}"
        if not isinstance(raw, dict):
            raise BackendConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
        engine = raw.get("engine")
        custom = isinstance(engine, str) and ":" in engine  # "package.module:Class" of the user's own
        if not custom and engine not in ENGINES:
            raise BackendConfigError(
                f"{where}.engine: unknown engine {engine!r}; known engines: {', '.join(sorted(ENGINES))}"
                " (or 'package.module:Class' for your own engine)"
            )
        if custom and "capabilities" not in raw:
            raise BackendConfigError(f"{where}.capabilities: required for a custom engine ({engine})")
        options = raw.get("options", {}) or {}
        if not isinstance(options, dict):
            raise BackendConfigError(f"{where}.options: expected a mapping")
        caps = None
        if "capabilities" in raw:
            try:
                caps = frozenset(Capability(c) for c in raw["capabilities"])
            except (ValueError, TypeError) as exc:
                raise BackendConfigError(
                    f"{where}.capabilities: {exc}; allowed: {', '.join(c.value for c in Capability)}"
                ) from None
        defaults = raw.get("defaults", {}) or {}
        if not isinstance(defaults, dict):
            raise BackendConfigError(f"{where}.defaults: expected a mapping (width, height, steps, guidance_scale)")
        entries[str(name)] = BackendEntry(
            name=str(name),
            engine=engine,
            label=str(raw.get("label") or name),
            options=options,
            capabilities=caps,
            defaults=defaults,
        )
    return entries


def load_backends_config(path: str | Path) -> dict[str, BackendEntry]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackendConfigError(f"{path}: cannot read backends config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)  # a few lines: the C parser would not matter
    except yaml.YAMLError as exc:
        raise BackendConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_backends_config(data, str(path))


class BackendRegistry:
    """Builds each configured backend once, on first use, one build at a time per name."""

    def __init__(self, entries: dict[str, BackendEntry]) -> None:
        self._entries = dict(entries)
        self._instances: dict[str, Backend] = {}
        self._locks: dict[str, threading.Lock] = {n: threading.Lock() for n in entries}
        self._guard = threading.Lock()
        self._failures: dict[str, BackendLoadError] = {}
        #: goes up whenever the set of backends changes, so open pages can tell their lists are stale
        self.version = 0
        self._runtime: set[str] = set()  # added with add(), kept across reloads of the config

    @classmethod
    def from_file(cls, path: str | Path) -> "BackendRegistry":
        return cls(load_backends_config(path))

    # -- listing ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: str) -> BackendEntry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise BackendLoadError(
                name, "is not configured", f"configured backends: {known}; add it to the backends config"
            ) from None

    def by_capability(self, cap: Capability | str) -> list[BackendEntry]:
        cap = Capability(cap)
        return [e for e in self._entries.values() if cap in e.capabilities]

    def add(self, entry: BackendEntry) -> None:
        """Register a backend at run time (e.g. a fine-tuned adapter as a variant of a base)."""
        with self._guard:
            self._entries[entry.name] = entry
            self._runtime.add(entry.name)
            self._locks.setdefault(entry.name, threading.Lock())
            old = self._instances.pop(entry.name, None)
            self.version += 1
        if old is not None:
            old.close()

    def reload(self, entries: dict[str, BackendEntry]) -> list[str]:
        """Take a re-read config: changed entries are rebuilt on next use, dropped ones closed; backends
        added at run time (finished runs) stay. Returns the names that are new or changed."""
        with self._guard:
            runtime = {n: e for n, e in self._entries.items() if n in self._runtime}
            changed = [n for n, e in entries.items() if self._entries.get(n) != e]
            gone = [n for n in self._entries if n not in entries and n not in runtime]
            old = [self._instances.pop(n) for n in changed + gone if n in self._instances]
            self._entries = {**entries, **runtime}
            for n in entries:
                self._locks.setdefault(n, threading.Lock())
            for n in changed + gone:
                self._failures.pop(n, None)
            self.version += 1
        for inst in old:
            inst.close()
        return changed

    def defaults(self, name: str) -> dict[str, Any]:
        """The backend's own size/steps/guidance as far as known (see backends/defaults.py)."""
        from backends.defaults import backend_defaults

        return backend_defaults(self.entry(name))

    # -- building --------------------------------------------------------------------------
    def get(self, name: str) -> Backend:
        entry = self.entry(name)
        inst = self._instances.get(name)
        if inst is not None:
            return inst
        with self._locks[name]:
            inst = self._instances.get(name)
            if inst is not None:
                return inst
            try:
                inst = self._build(entry)
            except BackendLoadError as exc:
                self._failures[name] = exc
                raise
            self._failures.pop(name, None)
            self._instances[name] = inst
            return inst

    def state(self, name: str) -> str:
        """'loaded', 'not loaded' or 'failed: <reason>' (the last attempt's)."""
        if name in self._instances:
            return "loaded"
        if name in self._failures:
            return f"failed: {self._failures[name].reason}"
        return "not loaded"

    def _build(self, entry: BackendEntry) -> Backend:
        try:
            cls = engine_class(entry.engine)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            raise BackendLoadError(
                entry.name,
                f"engine '{entry.engine}' needs a Python package that is not installed ({missing})",
                "run `pip install -r requirements.txt` in the studio's environment",
            ) from exc
        try:
            return cls(name=entry.name, **entry.options)
        except BackendLoadError:
            raise
        except TypeError as exc:
            raise BackendLoadError(
                entry.name, f"bad options in the backends config: {exc}", "fix the entry's options"
            ) from exc
        except Exception as exc:  # an engine failing to load must not take the studio down
            raise BackendLoadError(
                entry.name,
                f"failed to load: {type(exc).__name__}: {exc}",
                "check the model id/path and the device, then reload",
            ) from exc

    def entries(self) -> list[BackendEntry]:
        return list(self._entries.values())

    def loaded(self) -> Iterable[str]:
        return list(self._instances)

    def close(self) -> None:
        for inst in list(self._instances.values()):
            inst.close()
        self._instances.clear()
