"""Backend lists that follow the registry: a finished run or a config reload shows up without a restart.

A backend dropdown redraws its choices from the registry whenever it gets the focus, so the list a
person opens is always current. Other views of the registry (the Backends table, help texts, button
emphasis) remember per tab the registry version they last drew, and redraw when their tab is selected
(the shell's on page load and on every tab change) if it moved.

An event only ever updates components the browser shows: updates pushed to a tab or an accordion the
browser has not mounted yet are lost, and left that tab's text boxes refusing input.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

import gradio as gr

from studio.ui.context import UIContext


def wire(ctx: UIContext, demo: gr.Blocks) -> None:
    by_tab: dict[str | None, list[tuple[Any, Callable[[], Any]]]] = defaultdict(list)
    for tab_id, component, update in ctx.backend_views:
        if isinstance(component, gr.Dropdown):
            component.focus(ctx.guard("open_page", update), None, [component], show_progress="hidden",
                            api_visibility="private")
        else:
            by_tab[tab_id].append((component, update))
    for tab_id, views in by_tab.items():
        # the shell (the Backends panel) is always shown: page load and any tab change; a tab: its selection
        triggers = [demo.load, *([ctx.tabs.select] if ctx.tabs is not None else [])] if tab_id is None \
            else [ctx.tab_blocks[tab_id].select]
        seen = gr.State(-1)
        # a tab change while the page-load redraw still runs (a backend added meanwhile) runs again after
        # it: "once", the default, would drop it and leave the table as the page load read the registry
        gr.on(triggers, ctx.guard("open_page", _redraw(ctx.studio.backends, views)), [seen],
              [seen, *(component for component, _ in views)], show_progress="hidden", api_visibility="private",
              trigger_mode="always_last")


def _redraw(registry, views: list[tuple[Any, Callable[[], Any]]]) -> Callable[[int], list[Any]]:
    def redraw(version: int) -> list[Any]:
        now = registry.version
        if version == now:
            return [version, *(gr.update() for _ in views)]
        return [now, *(update() for _, update in views)]

    return redraw
