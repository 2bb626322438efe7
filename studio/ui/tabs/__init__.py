"""Tab modules. Each module defining ``TAB`` (a studio.ui.context.TabSpec) becomes a tab."""
from __future__ import annotations

import importlib
import pkgutil

from studio.ui.context import TabSpec


def discover_tabs() -> list[TabSpec]:
    specs: list[TabSpec] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "TAB", None)
        if isinstance(spec, TabSpec):
            specs.append(spec)
    specs.sort(key=lambda s: (s.order, s.id))
    return specs
