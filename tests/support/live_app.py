"""Launch the real Gradio app on a loopback port inside the test process."""
from __future__ import annotations

import contextlib
from typing import Iterator

from studio.core import Studio
from studio.settings import load_settings


@contextlib.contextmanager
def launched_app(data_dir, **settings) -> Iterator[tuple[str, Studio]]:
    """Yields (base_url, studio) for an app serving ``data_dir``; closes it afterwards."""
    from studio.ui.app import CSS, build_app

    studio = Studio(load_settings(data_dir=data_dir, **settings))
    demo = build_app(studio)
    demo.queue(default_concurrency_limit=8)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, css=CSS
    )
    try:
        yield url.rstrip("/"), studio
    finally:
        demo.close()
        studio.close()
