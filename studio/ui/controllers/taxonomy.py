"""The Taxonomy tab's handlers: the loaded taxonomies and the sample counts of the database, shown.

Counts are read from the database on every search, selection, refresh and opening of the tab, so
samples other tabs add show up.
"""
from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.core import Studio
from studio.taxonomy import TaxonomyError, TaxonomyForest
from studio.taxonomy.coverage import coverage_from_store
from studio.ui.taxonomy_view import (chart_frame, chart_module, error_html, node_card, node_choices, status_html,
                                     tree_rows)

ALL_DATASETS = "(all datasets)"
PICK_HINT = "<p>Pick a node in the tree, in the node list, or search for one.</p>"


def loaded_forest(studio: Studio) -> tuple[TaxonomyForest | None, str]:
    """The loaded taxonomies, or None and the loader's message naming file, path and problem."""
    try:
        return studio.taxonomy, ""
    except TaxonomyError as exc:
        return None, str(exc)


def first_node(studio: Studio) -> str | None:
    forest, _ = loaded_forest(studio)
    return forest.roots[0].id if forest is not None and forest.roots else None


def _dataset_filter(dataset: str | None) -> str | None:
    return None if not dataset or dataset == ALL_DATASETS else dataset


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


class TaxonomyController:
    """What a person does in the Taxonomy tab, one method each.

    ``synthesis_takes_many``: the Synthesis tab's node picker takes a list (multiselect) rather than one id.
    """

    def __init__(self, studio: Studio, synthesis_takes_many: bool = False) -> None:
        self.studio = studio
        self.synthesis_takes_many = synthesis_takes_many

    def _details(self, node_id: str | None, dataset: str | None) -> tuple:
        """(card HTML, chart heading, chart data) for the selected node, counted from the database now."""
        forest, error = loaded_forest(self.studio)
        if forest is None:
            return (error_html(error), *_chart(None, None, {}))
        if not node_id:
            return (PICK_HINT, *_chart(None, None, {}))
        node = forest.find(node_id)
        if node is None:
            return (f"<p class='studio-error'>{html.escape(f'No taxonomy node {node_id!r}.')}</p>",
                    *_chart(None, None, {}))
        coverage, _ = coverage_from_store(forest, self.studio.samples, _dataset_filter(dataset))
        return (node_card(node, coverage.get(node.id)), *_chart(forest, node.id, coverage))

    def search(self, query: str, dataset: str | None):
        """Tree rows (all, or the matches and their ancestors), the best match selected, a status line."""
        forest, error = loaded_forest(self.studio)
        if forest is None:
            return [], gr.skip(), error_html(error)
        coverage, unknown = coverage_from_store(forest, self.studio.samples, _dataset_filter(dataset))
        if not (query or "").strip():
            return tree_rows(forest, coverage), gr.skip(), status_html(forest, unknown)
        hits = forest.search(query)
        if not hits:
            return [], gr.skip(), status_html(forest, unknown, f"No node matches “{query.strip()}”.")
        matches = "1 node matches" if len(hits) == 1 else f"{len(hits)} nodes match"
        extra = f"{matches} “{query.strip()}”; the best match is selected."
        return tree_rows(forest, coverage, hits), hits[0].id, status_html(forest, unknown, extra)

    def select(self, node_id: str | None, dataset: str | None):
        return self._details(node_id, dataset)

    def pick_row(self, evt: gr.SelectData):
        """A click on a tree row selects its node."""
        row = evt.row_value or []
        return row[1] if len(row) > 1 and row[1] else gr.skip()

    def recount(self, query: str, node_id: str | None, dataset: str | None):
        """Everything counted again; the dataset list follows the datasets the database holds."""
        datasets = [ALL_DATASETS, *self.studio.samples.datasets()]
        dataset = dataset if dataset in datasets else ALL_DATASETS
        rows, _, status = self.search(query, dataset)
        card, heading, bars = self._details(node_id, dataset)
        return rows, gr.Dropdown(choices=datasets, value=dataset), card, heading, bars, status

    def reload(self, query: str, node_id: str | None, dataset: str | None):
        """Re-read the taxonomy files; with errors the previous taxonomy stays and the message says where."""
        forest, _ = loaded_forest(self.studio)
        try:
            forest = forest.reload() if forest is not None else self.studio.taxonomy
        except TaxonomyError as exc:
            kept = "the previous taxonomy stays in use" if forest is not None else "no taxonomy is loaded"
            gr.Warning(f"The taxonomy files have errors; {kept}. The message above the tree names file and line.")
            return gr.skip(), gr.skip(), error_html(str(exc)), gr.skip(), gr.skip(), gr.skip()
        keep = node_id if node_id in forest else (forest.roots[0].id if forest.roots else None)
        rows, _, status = self.search(query, dataset)
        card, heading, bars = self._details(keep, dataset)
        return rows, gr.Dropdown(choices=node_choices(forest), value=keep), status, card, heading, bars

    def synthesize(self, node_id: str | None):
        """Open the Synthesis tab with the selected node picked."""
        if not node_id:
            gr.Warning("Select a taxonomy node first.")
            return gr.skip(), gr.skip()
        return ([node_id] if self.synthesis_takes_many else node_id), gr.Tabs(selected="synthesis")
