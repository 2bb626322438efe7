"""The Backends panel's handlers: check that a backend loads, re-read the backends config."""
from __future__ import annotations

import gradio as gr

from backends.registry import BackendConfigError, BackendRegistry, load_backends_config
from studio.backend_status import backend_table, check_backend
from studio.markup import path_free
from studio.settings import Settings


class BackendsController:
    """What a person does in the Backends panel, one method each."""

    def __init__(self, registry: BackendRegistry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings

    def table(self) -> list[list]:
        """Every configured backend and its state (a failed load's message without server paths)."""
        return [[*row[:-1], path_free(row[-1])] for row in backend_table(self.registry)]

    def check(self, name: str | None):
        """Load the picked backend now and say whether it works, or what to fix."""
        message = path_free(check_backend(self.registry, name or ""))
        return message, self.table()

    def reload(self):
        """Re-read the backends config; a broken file keeps the backends in use and says what to fix."""
        try:
            changed = self.registry.reload(load_backends_config(self.settings.backends_config))
        except BackendConfigError as exc:
            return (f"⚠️ {path_free(str(exc))} — fix the file and reload again; the backends in use are kept.",
                    gr.update(), gr.update())
        what = ", ".join(f"`{n}`" for n in changed) or "nothing changed"
        return (f"✅ Reloaded ({what}); every tab's backend list has it on the next tab change.",
                backend_table(self.registry), gr.update(choices=self.registry.names()))
