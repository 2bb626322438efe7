"""Helpers for talking to a launched app over its HTTP API, exactly as a browser's client would."""
from __future__ import annotations

import contextlib
import json
import re
from typing import Any, Iterator

import httpx

from studio.core import Studio
from tests.support.live_app import launched_app


@contextlib.contextmanager
def annotate_app(data_dir, **settings) -> Iterator[tuple[str, Studio]]:
    """The real app on loopback (with the password login when the settings ask for it)."""
    with launched_app(data_dir, **settings) as (url, studio):
        yield url, studio


class ApiError(Exception):
    """The endpoint answered with an error event."""


def call(client: httpx.Client, url: str, api_name: str, data: list[Any], raw: list[str] | None = None) -> list[Any]:
    """POST then read the event stream; returns the output values. ``raw`` collects every byte received."""
    r = client.post(f"{url}/gradio_api/call/{api_name}", json={"data": data})
    if raw is not None:
        raw.append(r.text)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    with client.stream("GET", f"{url}/gradio_api/call/{api_name}/{event_id}") as resp:
        body = "".join(resp.iter_text())
    if raw is not None:
        raw.append(body)
    event, payload = None, None
    for line in body.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            payload = line.split(":", 1)[1].strip()
            if event == "error":
                raise ApiError(payload)
            if event == "complete":
                return json.loads(payload)
    raise ApiError(f"no result: {body[:300]}")


def file_urls(text: str) -> list[str]:
    """Every served file URL mentioned in a response."""
    return sorted(set(re.findall(r'https?://[^"\s]+/gradio_api/file=[^"\s]+', text)))


def login(client: httpx.Client, url: str, username: str, password: str) -> None:
    """Sign in like the login page does; the client keeps the session cookie."""
    r = client.post(f"{url}/login", data={"username": username, "password": password})
    r.raise_for_status()
    assert r.json().get("success"), r.text
