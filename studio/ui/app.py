"""Builds the Gradio Blocks app: a header, then one tab per discovered tab module."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import gradio as gr

from studio import __version__
from studio.core import Studio
from studio.ui import backends_panel, live_backends
from studio.ui.context import UIContext
from studio.ui.tabs import discover_tabs

log = logging.getLogger(__name__)

CSS = """
.studio-procedural-label { font-size: 0.85em; opacity: 0.8; }
.studio-error { color: var(--error-text-color, #b91c1c); }
/* annotator images fill their boxes (tiny ones arrive enlarged by whole factors, see annotation/views) */
#annotate-a img, #annotate-b img, #annotate-source img { width: 100%; height: 100%; object-fit: contain; }
/* the edit turn tree wraps long lines, so the head marker at a line's end stays inside its box */
#edit-tree pre, #edit-tree pre code { white-space: pre-wrap; overflow-wrap: anywhere; }
"""


def build_app(studio: Studio | None = None) -> gr.Blocks:
    studio = studio or Studio()
    # Gradio's queue rebuilds a pandas summary of up to 10,000 past events after every event (only its
    # optional monitoring page reads it): a cost that grows with the server's age to tens of ms per
    # event. Once every 1000 events instead; read when the Blocks make their queue.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
    # Up to eight events of each kind run at once (Gradio's default is one). Given here, where the Blocks'
    # own queue is made, rather than by calling .queue() later, which builds the whole server app again.
    os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "8")
    _fail_work_of_a_stopped_server(studio)
    _serve_folders_in_place(studio)
    specs, failed = discover_tabs()
    ctx = UIContext(studio=studio, tab_ids=[s.id for s in specs])
    with gr.Blocks(title="Image Alignment Studio", analytics_enabled=False) as demo:
        ctx.demo = demo
        gr.Markdown(
            f"## Image Alignment Studio <small>v{__version__}</small>\n"
            "Taxonomy → synthesis → generation/editing → human preference → fine-tuning. "
            "The default backend is **procedural** (a deterministic scene renderer, not a neural model)."
        )
        if failed:
            gr.Markdown(
                "**Some tabs could not be loaded** (see the server log): "
                + "; ".join(f"`{name}`: {err}" for name, err in sorted(failed.items())),
                elem_classes=["studio-error"],
            )
        backends_panel.wire(ctx, backends_panel.build(ctx))
        built: dict[str, Any] = {}
        with gr.Tabs() as tabs:
            ctx.tabs = tabs
            for spec in specs:
                with gr.Tab(spec.title, id=spec.id, elem_id=f"tab-{spec.id}",
                            render_children=spec.render_children) as tab:
                    ctx.building, ctx.tab_blocks[spec.id] = spec.id, tab
                    built[spec.id] = spec.build(ctx)
            ctx.building = None
        for spec in specs:
            if spec.wire is not None:
                spec.wire(ctx, built[spec.id])
        live_backends.wire(ctx, demo)
    demo.failed_tabs = failed  # type: ignore[attr-defined]
    demo.studio = studio  # type: ignore[attr-defined]  # tests and the CLI reach the services here
    demo.studio_css = CSS  # type: ignore[attr-defined]
    return demo


#: folders already handed to Gradio in this process (its list is per interpreter, and every served file is
#: checked against each entry, so each folder goes in once)
_SERVED: set[Path] = set()


def _serve_folders_in_place(studio: Studio) -> None:
    """The folders whose files the tabs show are served where they are, not copied per message: the image
    store, the annotators' view files and the reasoning examples' images. The one place they are named."""
    from studio.annotation.views import VIEW_DIR
    from studio.reasoning.examples import EXAMPLES_DIR

    VIEW_DIR.mkdir(parents=True, exist_ok=True)
    # Gradio checks every file an event answers with against these folders in this order, twice per
    # image: the view files come first, as each vote answers with two of them
    folders = [Path(p).resolve() for p in (VIEW_DIR, studio.settings.images_dir, EXAMPLES_DIR / "images")]
    new = [p for p in dict.fromkeys(folders) if p not in _SERVED]
    if new:
        gr.set_static_paths(new)
        _SERVED.update(new)


def _fail_work_of_a_stopped_server(studio: Studio) -> None:
    """Edit turns and synthesis items a stopped server left 'running' become failed, so they can be
    retried at once (nothing of this process runs yet)."""
    from studio.editing.sessions import mark_server_stopped
    from studio.synthesis.batches import mark_interrupted

    for mark in (mark_server_stopped, mark_interrupted):
        try:
            mark(studio)
        except Exception:  # a broken table must not keep the studio from starting
            log.exception("could not mark interrupted work as failed")


LAUNCH_TRIES = 3


def serve(demo: gr.Blocks, **launch_kwargs: Any) -> tuple[Any, str, Any]:
    """``demo.launch(**launch_kwargs)``: serve the app (until interrupted, unless ``prevent_thread_lock``).

    Gradio's launch stops a server that is already up when one request for the page takes it over three
    seconds, which a busy two-core machine (a small Space, a CI runner) sometimes does; the server is then
    started again, up to three times in all."""
    for attempt in range(1, LAUNCH_TRIES + 1):
        try:
            return demo.launch(**launch_kwargs)
        except ValueError as exc:
            if "localhost is not accessible" not in str(exc) or attempt == LAUNCH_TRIES:
                raise
            log.warning("the page did not answer in time after start (try %d of %d); starting again",
                        attempt, LAUNCH_TRIES)
            demo.close()
    raise AssertionError("unreachable")
