"""The shell's Backends panel: configured backends by capability, and a load check with the fix.

The layout is built here; the handlers are :class:`studio.ui.controllers.backends.BackendsController`'s methods.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.backend_status import COLUMNS, backend_table
from studio.ui.context import UIContext
from studio.ui.controllers.backends import BackendsController


@dataclass
class BackendsPanelUI:
    table: gr.Dataframe
    pick: gr.Dropdown
    check: gr.Button
    result: gr.Markdown
    reload: gr.Button
    reloaded: gr.Markdown


def build(ctx: UIContext) -> BackendsPanelUI:
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
    ctx.follow_backends(table, lambda: gr.update(value=backend_table(registry)))
    ctx.follow_backends(pick, lambda: gr.update(choices=registry.names()))
    ctx.register("shell.backends_table", table)
    return BackendsPanelUI(table=table, pick=pick, check=check, result=result, reload=reload, reloaded=reloaded)


def wire(ctx: UIContext, ui: BackendsPanelUI) -> None:
    ctrl = BackendsController(ctx.studio.backends, ctx.studio.settings)
    ui.check.click(ctx.guard("backend_check", ctrl.check), [ui.pick], [ui.result, ui.table], api_name="check_backend")
    ui.reload.click(ctx.guard("backend_reload", ctrl.reload), None, [ui.reloaded, ui.table, ui.pick],
                    api_name="reload_backends")
