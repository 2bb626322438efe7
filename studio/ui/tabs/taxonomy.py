"""Taxonomy tab: browse and search the paper taxonomies, see a node's definition, target and coverage.

The layout is built here; the handlers are :class:`studio.ui.controllers.taxonomy.TaxonomyController`'s
methods. The taxonomy files can be reloaded after editing them.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.ui.context import TabSpec, UIContext
from studio.ui.controllers.taxonomy import (ALL_DATASETS, PICK_HINT, TaxonomyController, first_node,
                                            loaded_forest)
from studio.ui.taxonomy_view import CHART_COLORS, TREE_HEADERS, error_html, node_choices


@dataclass
class TaxonomyUI:
    search: gr.Textbox
    dataset: gr.Dropdown
    refresh: gr.Button
    reload_files: gr.Button
    status: gr.HTML
    tree: gr.Dataframe
    selected: gr.Dropdown
    details: gr.HTML
    synthesize: gr.Button
    chart_heading: gr.HTML
    chart: gr.BarPlot

    def counted(self) -> list:
        """What a refresh of the counts redraws, in the order of ``TaxonomyController.recount``."""
        return [self.tree, self.dataset, self.details, self.chart_heading, self.chart, self.status]


def build(ctx: UIContext) -> TaxonomyUI:
    studio = ctx.studio
    forest, error = loaded_forest(studio)
    gr.Markdown(
        "Task taxonomies from the papers, loaded from the YAML files in the taxonomy folder "
        "(add a subtask or a whole taxonomy by adding a file there, then reload). "
        "Sample counts are read from the studio's database."
    )
    with gr.Row():
        search = gr.Textbox(label="Search", placeholder="title, id or words of a definition, e.g. relative position",
                            elem_id="taxonomy-search", scale=4)
        dataset = gr.Dropdown([ALL_DATASETS], value=ALL_DATASETS, label="Count samples of", scale=2,
                              elem_id="taxonomy-dataset")
        refresh = gr.Button("Refresh counts", scale=1, elem_id="taxonomy-refresh")
        reload_files = gr.Button("Reload taxonomy files", scale=1, elem_id="taxonomy-reload")
    status = gr.HTML(error_html(error) if forest is None else "", elem_id="taxonomy-status")
    tree = gr.Dataframe(
        headers=TREE_HEADERS, datatype="str", interactive=False, elem_id="taxonomy-tree",
        max_height=420, column_widths=["38%", "38%", "8%", "8%", "8%"],
        label="Tree (click a row to select it)",
    )
    with gr.Row():
        with gr.Column(scale=2):
            selected = gr.Dropdown(node_choices(forest), value=first_node(studio), label="Selected node",
                                   elem_id="taxonomy-selected", filterable=True)
            details = gr.HTML(PICK_HINT, elem_id="taxonomy-details")
            synthesize = gr.Button("Synthesize prompts for this node", variant="primary", visible=False,
                                   elem_id="taxonomy-synthesize")
        with gr.Column(scale=3):
            chart_heading = gr.HTML("", elem_id="taxonomy-chart-heading")
            chart = gr.BarPlot(
                x="subtask", y="samples", color="series", color_map=CHART_COLORS, tooltip="all",
                x_label_angle=-25, y_title="samples", x_title="", show_label=False,
                elem_id="taxonomy-chart", height=360,
            )
    ctx.register("taxonomy.selected", selected)
    ctx.register("taxonomy.synthesize_button", synthesize)
    return TaxonomyUI(search=search, dataset=dataset, refresh=refresh, reload_files=reload_files, status=status,
                      tree=tree, selected=selected, details=details, synthesize=synthesize,
                      chart_heading=chart_heading, chart=chart)


def _enclosing(component, kind: type):
    """The nearest enclosing layout of this kind (the tab this module builds in, or the app)."""
    block = getattr(component, "parent", None)
    while block is not None and not isinstance(block, kind):
        block = getattr(block, "parent", None)
    return block


def wire(ctx: UIContext, ui: TaxonomyUI) -> None:
    # the Synthesis tab's node picker, when that tab is there: the Synthesize button opens it
    target = ctx.get("synthesis.nodes")
    ctrl = TaxonomyController(ctx.studio, synthesis_takes_many=bool(getattr(target, "multiselect", False)))
    form = [ui.search, ui.selected, ui.dataset]
    ui.search.change(ctx.guard("browse", ctrl.search), [ui.search, ui.dataset], [ui.tree, ui.selected, ui.status],
                     api_name="taxonomy_search", trigger_mode="always_last", show_progress="hidden")
    ui.selected.change(ctx.guard("browse", ctrl.select), [ui.selected, ui.dataset],
                       [ui.details, ui.chart_heading, ui.chart], api_name="taxonomy_select", show_progress="hidden")
    ui.dataset.change(ctx.guard("browse", ctrl.recount), form, ui.counted(), api_visibility="private",
                      show_progress="hidden")
    ui.tree.select(ctx.guard("browse", ctrl.pick_row), None, [ui.selected], api_visibility="private")
    ui.refresh.click(ctx.guard("browse", ctrl.recount), form, ui.counted(), api_name="taxonomy_refresh")
    ui.reload_files.click(ctx.guard("taxonomy_reload", ctrl.reload), form,
                          [ui.tree, ui.selected, ui.status, ui.details, ui.chart_heading, ui.chart],
                          api_name="taxonomy_reload")
    # counts are read when the page opens and whenever this tab is opened again
    page = _enclosing(ui.search, gr.Tab)
    if page is not None:
        page.select(ctx.guard("browse", ctrl.recount), form, ui.counted(), api_visibility="private",
                    show_progress="hidden")
    app = _enclosing(ui.search, gr.Blocks)
    if app is not None:
        app.load(ctx.guard("browse", ctrl.recount), form, ui.counted(), api_visibility="private",
                 show_progress="hidden")
    if target is None or ctx.tabs is None:
        return  # no Synthesis tab: the button stays hidden
    ui.synthesize.visible = True
    ui.synthesize.click(ctx.guard("browse", ctrl.synthesize), [ui.selected], [target, ctx.tabs],
                        api_name="taxonomy_synthesize")


TAB = TabSpec(id="taxonomy", title="Taxonomy", order=10, build=build, wire=wire)
