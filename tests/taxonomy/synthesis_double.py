"""A stand-in Synthesis tab that registers ``synthesis.nodes`` the way the real one does."""
from __future__ import annotations

import gradio as gr

from studio.ui.context import TabSpec, UIContext


def _build(ctx: UIContext) -> None:
    ids = ctx.studio.taxonomy.ids()
    nodes = gr.Dropdown(ids, value=[], multiselect=True, label="Taxonomy nodes", elem_id="double-synthesis-nodes")
    ctx.register("synthesis.nodes", nodes)


DOUBLE = TabSpec(id="synthesis", title="Synthesis", order=20, build=_build)


def with_synthesis_double(monkeypatch, only_taxonomy: bool = False) -> None:
    """Make build_app see the taxonomy tab (and other real tabs unless only_taxonomy) plus the double."""
    import studio.ui.app as app_module
    from studio.ui.tabs import discover_tabs

    def tabs():
        specs, failed = discover_tabs()
        keep = [s for s in specs if s.id != "synthesis" and (s.id == "taxonomy" or not only_taxonomy)]
        return sorted([*keep, DOUBLE], key=lambda s: s.order), failed

    monkeypatch.setattr(app_module, "discover_tabs", tabs)
