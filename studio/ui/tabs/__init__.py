"""Tab modules. Each module defining ``TAB`` (a studio.ui.context.TabSpec) becomes a tab.

A tab module that fails to import does not take the studio down: it is reported (logged and shown
as a banner) and the other tabs still load. The test suite asserts that none fail.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import traceback

from studio.ui.context import TabSpec

log = logging.getLogger(__name__)


def discover_tabs() -> tuple[list[TabSpec], dict[str, str]]:
    """Returns the tab specs sorted by order, and {module: error} for modules that failed."""
    specs: list[TabSpec] = []
    failed: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        name = f"{__name__}.{info.name}"
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - one broken tab must not hide the others
            log.error("tab module %s failed to import:\n%s", name, traceback.format_exc())
            failed[info.name] = f"{type(exc).__name__}: {exc}"
            continue
        spec = getattr(module, "TAB", None)
        if isinstance(spec, TabSpec):
            specs.append(spec)
    specs.sort(key=lambda s: (s.order, s.id))
    return specs, failed
