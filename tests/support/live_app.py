"""Launch the real Gradio app on a loopback port inside the test process."""
from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any, Iterator

import httpx

from studio.core import Studio
from studio.settings import load_settings


@contextlib.contextmanager
def launched_app(data_dir, **settings) -> Iterator[tuple[str, Studio]]:
    """Yields (base_url, studio) for an app serving ``data_dir``; closes it afterwards."""
    with launched_demo(data_dir, **settings) as (url, studio, _):
        yield url, studio


@contextlib.contextmanager
def launched_demo(data_dir, **settings) -> Iterator[tuple[str, Studio, Any]]:
    """Yields (base_url, studio, blocks); in password mode the web server asks for STUDIO_USERS' logins."""
    from studio.auth import password_checker
    from studio.ui.app import CSS, build_app, serve

    studio = Studio(load_settings(data_dir=data_dir, **settings))
    demo = build_app(studio)
    try:
        _, url, _ = serve(demo, server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                          css=CSS, auth=password_checker(studio.settings))
    except Exception:
        studio.close()
        raise
    try:
        yield url.rstrip("/"), studio, demo
    finally:
        demo.close()
        studio.close()


def queue_call(client: httpx.Client, url: str, fn_index: int, data: list[Any]) -> dict[str, Any]:
    """One event by its ``fn_index`` through ``/gradio_api/queue/join``, as the page's own script sends it
    (private events included); returns the final ``process_completed`` message."""
    session = uuid.uuid4().hex[:12]
    r = client.post(f"{url}/gradio_api/queue/join",
                    json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None})
    r.raise_for_status()
    with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("msg") == "process_completed":
                return msg
    raise AssertionError(f"event {fn_index} never completed")
