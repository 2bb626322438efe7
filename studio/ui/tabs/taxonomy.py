"""Taxonomy tab: browse and search the paper taxonomies, see a node's definition, target and coverage.

Counts come from the database on every search, selection, refresh and on switching to this tab, so
samples added by other tabs show up. The taxonomy files can be reloaded after editing them.
"""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

import gradio as gr

from studio.core import Studio
from studio.taxonomy import TaxonomyError, TaxonomyForest
from studio.taxonomy.coverage import coverage_from_store
from studio.ui.context import TabSpec, UIContext
from studio.ui.taxonomy_view import (
    CHART_COLORS,
    TREE_HEADERS,
    chart_frame,
    chart_module,
    node_card,
    node_choices,
    tree_rows,
    unknown_ids_note,
)

ALL_DATASETS = "(all datasets)"
PICK_HINT = "<p>Pick a node in the tree, in the node list, or search for one.</p>"


def _forest(studio: Studio) -> tuple[TaxonomyForest | None, str]:
    """The loaded taxonomies, or None and the loader's message naming file, path and problem."""
    try:
        return studio.taxonomy, ""
    except TaxonomyError as exc:
        return None, str(exc)


def _dataset_filter(dataset: str | None) -> str | None:
    return None if not dataset or dataset == ALL_DATASETS else dataset


def _error_html(message: str) -> str:
    return (
        "<div class='studio-error'><b>The taxonomy files could not be loaded.</b> Fix the file and press "
        f"“Reload taxonomy files”.<pre style='white-space:pre-wrap'>{html.escape(message)}</pre></div>"
    )


def _status_html(forest: TaxonomyForest, unknown: dict[str, int], extra: str = "") -> str:
    parts = [html.escape(f"{len(forest):,} nodes in {len(forest.roots)} taxonomies from {len(forest.files)} files ({forest.source}).")]
    if extra:
        parts.append(html.escape(extra))
    note = unknown_ids_note(unknown)
    if note:
        parts.append(f"<span class='studio-error'>{note}</span>")
    return "<p>" + " ".join(parts) + "</p>"


def _chart(forest: TaxonomyForest | None, node_id: str | None, coverage) -> tuple[str, Any]:
    """(heading HTML, bar data) for the module of the selection.

    The heading is a separate component: Gradio's BarPlot does not redraw its data when an update
    also changes its title, so the plot only ever receives data.
    """
    if forest is None or not node_id or node_id not in forest:
        return "", gr.update(value=None, visible=False)
    module = chart_module(forest, node_id)
    frame = chart_frame(forest, node_id, coverage)
    if not frame["samples"].sum():  # nothing held and no target: an empty frame says nothing
        hint = (f"No samples under {module.title} ({module.id}) yet. Synthesize prompts for one of its nodes "
                "(the button on the left) and this chart shows samples held against the paper's target.")
        return f"<p>{html.escape(hint)}</p>", gr.update(value=None, visible=False)
    heading = f"Coverage of {module.title} ({module.id}): samples held vs the paper's target, per child"
    return f"<h4 style='margin:0'>{html.escape(heading)}</h4>", gr.update(value=frame, visible=True)


def _details(studio: Studio, node_id: str | None, dataset: str | None):
    """(card HTML, chart heading, chart data) for the selected node, counted from the database now."""
    forest, error = _forest(studio)
    if forest is None:
        return (_error_html(error), *_chart(None, None, {}))
    if not node_id:
        return (PICK_HINT, *_chart(None, None, {}))
    node = forest.find(node_id)
    if node is None:
        return (f"<p class='studio-error'>{html.escape(f'No taxonomy node {node_id!r}.')}</p>", *_chart(None, None, {}))
    coverage, _ = coverage_from_store(forest, studio.samples, _dataset_filter(dataset))
    return (node_card(node, coverage.get(node.id)), *_chart(forest, node.id, coverage))


def _initial_node(studio: Studio) -> str | None:
    forest, _ = _forest(studio)
    return forest.roots[0].id if forest is not None and forest.roots else None


def build(ctx: UIContext) -> None:
    studio = ctx.studio
    forest, error = _forest(studio)
    first = _initial_node(studio)

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
    status = gr.HTML(_error_html(error) if forest is None else "", elem_id="taxonomy-status")
    tree = gr.Dataframe(
        headers=TREE_HEADERS, datatype="str", interactive=False, elem_id="taxonomy-tree",
        max_height=420, column_widths=["38%", "38%", "8%", "8%", "8%"],
        label="Tree (click a row to select it)",
    )
    with gr.Row():
        with gr.Column(scale=2):
            selected = gr.Dropdown(
                node_choices(forest), value=first, label="Selected node", elem_id="taxonomy-selected",
                filterable=True,
            )
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

    def on_search(query: str, ds: str | None):
        forest, error = _forest(studio)
        if forest is None:
            return [], gr.skip(), _error_html(error)
        coverage, unknown = coverage_from_store(forest, studio.samples, _dataset_filter(ds))
        if not (query or "").strip():
            return tree_rows(forest, coverage), gr.skip(), _status_html(forest, unknown)
        hits = forest.search(query)
        if not hits:
            return [], gr.skip(), _status_html(forest, unknown, f"No node matches “{query.strip()}”.")
        matches = "1 node matches" if len(hits) == 1 else f"{len(hits)} nodes match"
        extra = f"{matches} “{query.strip()}”; the best match is selected."
        return tree_rows(forest, coverage, hits), hits[0].id, _status_html(forest, unknown, extra)

    def on_select(node_id: str | None, ds: str | None):
        return _details(studio, node_id, ds)

    def on_row(evt: gr.SelectData):
        row = evt.row_value or []
        return row[1] if len(row) > 1 and row[1] else gr.skip()

    def on_refresh(query: str, node_id: str | None, ds: str | None):
        datasets = [ALL_DATASETS, *studio.samples.datasets()]
        ds = ds if ds in datasets else ALL_DATASETS
        rows, _, status_html = on_search(query, ds)
        card, heading, bars = _details(studio, node_id, ds)
        return rows, gr.Dropdown(choices=datasets, value=ds), card, heading, bars, status_html

    def on_reload(query: str, node_id: str | None, ds: str | None):
        forest, _ = _forest(studio)
        try:
            forest = forest.reload() if forest is not None else studio.taxonomy
        except TaxonomyError as exc:
            kept = "the previous taxonomy stays in use" if forest is not None else "no taxonomy is loaded"
            gr.Warning(f"The taxonomy files have errors; {kept}. The message above the tree names file and line.")
            return gr.skip(), gr.skip(), _error_html(str(exc)), gr.skip(), gr.skip(), gr.skip()
        keep = node_id if node_id in forest else (forest.roots[0].id if forest.roots else None)
        rows, _, status_html = on_search(query, ds)
        card, heading, bars = _details(studio, keep, ds)
        return rows, gr.Dropdown(choices=node_choices(forest), value=keep), status_html, card, heading, bars

    # guarded under new names: the handlers above call each other unguarded
    search_fn, select_fn, row_fn = (ctx.guard("browse", f) for f in (on_search, on_select, on_row))
    refresh_fn, reload_fn = ctx.guard("browse", on_refresh), ctx.guard("taxonomy_reload", on_reload)
    search.change(search_fn, [search, dataset], [tree, selected, status], api_name="taxonomy_search",
                  trigger_mode="always_last", show_progress="hidden")
    selected.change(select_fn, [selected, dataset], [details, chart_heading, chart], api_name="taxonomy_select",
                    show_progress="hidden")
    dataset.change(refresh_fn, [search, selected, dataset], [tree, dataset, details, chart_heading, chart, status],
                   api_visibility="private", show_progress="hidden")
    tree.select(row_fn, None, [selected], api_visibility="private")
    refresh.click(refresh_fn, [search, selected, dataset], [tree, dataset, details, chart_heading, chart, status],
                  api_name="taxonomy_refresh")
    reload_files.click(reload_fn, [search, selected, dataset], [tree, selected, status, details, chart_heading, chart],
                       api_name="taxonomy_reload")

    # counts are read when the page opens and whenever this tab is opened again
    refresh_io = ([search, selected, dataset], [tree, dataset, details, chart_heading, chart, status])
    page = _enclosing(search, gr.Tab)
    if page is not None:
        page.select(refresh_fn, *refresh_io, api_visibility="private", show_progress="hidden")
    app = _enclosing(search, gr.Blocks)
    if app is not None:
        app.load(refresh_fn, *refresh_io, api_visibility="private", show_progress="hidden")

    ctx.register("taxonomy.selected", selected)
    ctx.register("taxonomy.synthesize_button", synthesize)


def _enclosing(component, kind: type):
    """The nearest enclosing layout of this kind (the tab this module builds in, or the app)."""
    block = getattr(component, "parent", None)
    while block is not None and not isinstance(block, kind):
        block = getattr(block, "parent", None)
    return block


def wire(ctx: UIContext, ui: Any = None) -> None:
    """Link to the Synthesis tab when it registered its node picker; otherwise the button stays hidden."""
    target = ctx.get("synthesis.nodes")
    selected = ctx.get("taxonomy.selected")
    synthesize = ctx.get("taxonomy.synthesize_button")
    if target is None or ctx.tabs is None:
        return  # no Synthesis tab: the button stays hidden
    synthesize.visible = True
    multiselect = bool(getattr(target, "multiselect", False))

    def on_synthesize(node_id: str | None):
        if not node_id:
            gr.Warning("Select a taxonomy node first.")
            return gr.skip(), gr.skip()
        return ([node_id] if multiselect else node_id), gr.Tabs(selected="synthesis")

    synthesize.click(ctx.guard("browse", on_synthesize), [selected], [target, ctx.tabs], api_name="taxonomy_synthesize")


TAB = TabSpec(id="taxonomy", title="Taxonomy", order=10, build=build, wire=wire)
