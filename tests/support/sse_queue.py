"""Call a launched app's Gradio queue over raw HTTP, as a browser does, and walk away mid-run.

``join`` + ``/queue/data`` is the path every browser event takes; closing the stream is what a
closed tab does to the server. Used by the abandoned-preview test and bench.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import httpx


def fn_index(url: str, api_name: str, client: httpx.Client | None = None) -> int:
    """The dependency id of the event with ``api_name`` (from the app's /config; ``client``: a signed-in one)."""
    config = (client.get(f"{url}/config") if client is not None else httpx.get(f"{url}/config", timeout=30)).json()
    for dep in config["dependencies"]:
        if dep.get("api_name") == api_name.lstrip("/"):
            return int(dep["id"])
    raise KeyError(f"no endpoint {api_name!r}")


class QueueCall:
    """One queued event with its open event stream; ``close()`` is the browser going away."""

    def __init__(self, url: str, index: int, data: list[Any], client: httpx.Client | None = None,
                 session: str | None = None) -> None:
        """``client`` and ``session``: reuse a connection and a session, as one browser tab does."""
        self.session = session or uuid.uuid4().hex[:12]
        self._own = client is None
        self.client = client or httpx.Client(timeout=httpx.Timeout(60, read=60))
        r = self.client.post(f"{url}/gradio_api/queue/join",
                             json={"data": data, "fn_index": index, "session_hash": self.session,
                                   "event_data": None, "trigger_id": None})
        r.raise_for_status()
        self.event_id = r.json()["event_id"]
        self._cm = self.client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": self.session})
        self._resp = self._cm.__enter__()
        self._lines = self._resp.iter_lines()

    def next_message(self) -> dict[str, Any]:
        for line in self._lines:
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") not in ("heartbeat", "estimation", "process_starts", "send_hash"):
                    return msg
        raise EOFError("the event stream ended")

    def result(self) -> dict[str, Any]:
        """Messages until the event completes; returns the completion message."""
        while True:
            msg = self.next_message()
            if msg.get("msg") == "process_completed":
                self.close()
                return msg

    def close(self) -> None:
        try:
            self._cm.__exit__(None, None, None)
        finally:
            if self._own:
                self.client.close()
