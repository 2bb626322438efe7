"""Backend lists that follow the registry: a finished run or a config reload shows up without a restart.

Each page remembers the registry version it last drew; on page load and on every tab change the shell
compares it with ``studio.backends.version`` and, only when it moved, redraws every component a tab
registered with ``ctx.follow_backends``.
"""
from __future__ import annotations

import gradio as gr

from studio.ui.context import UIContext


def wire(ctx: UIContext, demo: gr.Blocks) -> None:
    registry = ctx.studio.backends
    views = list(ctx.backend_views)
    if not views:
        return
    seen = gr.State(-1)
    outputs = [seen, *(component for component, _ in views)]

    def redraw(version: int):
        now = registry.version
        if version == now:
            return [version, *(gr.update() for _ in views)]
        return [now, *(update() for _, update in views)]

    redraw = ctx.guard("open_page", redraw)
    demo.load(redraw, [seen], outputs, show_progress="hidden", api_visibility="private")
    if ctx.tabs is not None:
        ctx.tabs.select(redraw, [seen], outputs, show_progress="hidden", api_visibility="private")
