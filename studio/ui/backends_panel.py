"""The shell's Backends panel: configured backends by capability, and a load check with the fix."""
from __future__ import annotations

import gradio as gr

from studio.backend_status import COLUMNS, backend_table, check_backend
from studio.markup import path_free
from studio.ui.context import UIContext


def build(ctx: UIContext) -> None:
    registry = ctx.studio.backends
    with gr.Accordion("Backends", open=False, elem_id="backends-panel"):
        gr.Markdown(
            "Backends come from the backends config "
            f"(`{ctx.studio.settings.backends_config.name}`; set `STUDIO_BACKENDS_CONFIG` to use your own). "
            "Outputs of the *procedural* backend are drawn by a deterministic scene renderer, not a neural model."
        )
        table = gr.Dataframe(
            headers=COLUMNS, value=backend_table(registry), interactive=False, elem_id="backends-table"
        )
        with gr.Row():
            pick = gr.Dropdown(registry.names(), label="Backend", value=None, scale=3)
            check = gr.Button("Load and check", scale=1)
        result = gr.Markdown(elem_id="backends-check")
        with gr.Row():
            reload = gr.Button("Reload the backends config", scale=1, elem_id="backends-reload")
            reloaded = gr.Markdown(elem_id="backends-reloaded")

    def on_check(name: str | None):
        message = path_free(check_backend(registry, name or ""))
        rows = [[*row[:-1], path_free(row[-1])] for row in backend_table(registry)]  # state: "failed: …"
        return message, rows

    check.click(ctx.guard("backend_check", on_check), [pick], [result, table], api_name="check_backend")
    def on_reload():
        from backends.registry import BackendConfigError, load_backends_config

        try:
            changed = registry.reload(load_backends_config(ctx.studio.settings.backends_config))
        except BackendConfigError as exc:
            return (f"⚠️ {path_free(str(exc))} — fix the file and reload again; the backends in use are kept.",
                    gr.update(), gr.update())
        what = ", ".join(f"`{n}`" for n in changed) or "nothing changed"
        return (f"✅ Reloaded ({what}); every tab's backend list has it on the next tab change.",
                backend_table(registry), gr.update(choices=registry.names()))

    reload.click(ctx.guard("backend_reload", on_reload), None, [reloaded, table, pick], api_name="reload_backends")
    ctx.follow_backends(table, lambda: gr.update(value=backend_table(registry)))
    ctx.follow_backends(pick, lambda: gr.update(choices=registry.names()))
    ctx.register("shell.backends_table", table)
