"""A scriptable OpenAI-compatible HTTP server on loopback, for tests and benches.

Usage::

    with OpenAIStub() as srv:
        srv.base_url                      # "http://127.0.0.1:PORT/v1"
        srv.latency = 0.1                 # seconds added to every response
        srv.default_chat = lambda body: "text"   # answer when the queue is empty
        srv.enqueue(text="hello", usage=(12, 3))
        srv.enqueue(status=429, headers={"Retry-After": "1"})
        srv.enqueue(garbage=True)         # 200 whose body is not the expected JSON
        srv.enqueue(hang=5.0)             # sleep before answering (client timeouts)
        srv.requests                      # [(path, json_body), ...] in arrival order

Scripted replies form ONE first-in-first-out queue consumed by every POST to an API endpoint
(chat completions, image generations, image edits), so errors can be scripted for image calls
too; ``text`` only matters to chat and ``image`` only to image endpoints. When the queue is
empty, chat echoes the last user message (or ``default_chat(body)``) and image endpoints return
a small PNG of the requested size. Multipart bodies (image edits) are recorded as a dict of form
fields; uploaded files appear as ``{"filename", "content_type", "size", "bytes"}``.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from PIL import Image

_STATUS_ERRORS = {
    400: ("invalid_request_error", "bad request"),
    401: ("invalid_request_error", "Incorrect API key provided."),
    403: ("permission_denied", "You are not allowed to use this model."),
    404: ("invalid_request_error", "The model does not exist."),
    429: ("rate_limit_exceeded", "Rate limit reached, please retry later."),
    500: ("server_error", "The server had an error while processing your request."),
    503: ("server_error", "The engine is currently overloaded."),
}


@dataclass
class ScriptedReply:
    """One queued reply; see ``OpenAIStub.enqueue``."""

    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    garbage: bool = False
    hang: float = 0.0
    delay: float = 0.0
    usage: tuple[int, int] | None = None
    error_code: str | None = None
    error_type: str | None = None
    message: str | None = None
    finish_reason: str = "stop"
    image: Image.Image | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class OpenAIStub:
    """Loopback OpenAI-compatible server driven by a queue of scripted replies."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.latency: float = 0.0
        self.default_chat: Callable[[dict[str, Any]], str] | None = None
        self.models: list[str] = ["stub-chat", "stub-image"]
        self.requests: list[tuple[str, Any]] = []
        self._queue: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "OpenAIStub":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "OpenAIStub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------
    def enqueue(
        self,
        text: str | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        garbage: bool = False,
        hang: float = 0.0,
        delay: float = 0.0,
        usage: tuple[int, int] | None = None,
        error_code: str | None = None,
        error_type: str | None = None,
        message: str | None = None,
        finish_reason: str = "stop",
        image: Image.Image | None = None,
    ) -> None:
        """Queue the next reply; ``error_code``/``message`` shape the error body of a non-200."""
        with self._lock:
            self._queue.append(
                ScriptedReply(
                    text=text, status=status, headers=dict(headers or {}), garbage=garbage,
                    hang=hang, delay=delay, usage=usage, error_code=error_code,
                    error_type=error_type, message=message, finish_reason=finish_reason,
                    image=image,
                )
            )

    def pending(self) -> int:
        """How many scripted replies are still queued."""
        with self._lock:
            return len(self._queue)

    def paths(self) -> list[str]:
        """Paths of the requests received so far."""
        with self._lock:
            return [p for p, _ in self.requests]

    def _next(self) -> ScriptedReply | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _record(self, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append((path, body))

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- handler ---------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out as separate small writes; without TCP_NODELAY each response
            # can stall ~40 ms on Nagle + delayed ACK, which would dwarf the scripted latency
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                stub._record(path, None)
                stub._sleep(stub.latency)
                if path.rstrip("/") == "/v1/models":
                    data = [{"id": m, "object": "model", "created": 0, "owned_by": "stub"}
                            for m in stub.models]
                    self._json(200, {"object": "list", "data": data})
                else:
                    self._json(404, _error_body(404, None, None, f"no route {path}"))

            def do_POST(self) -> None:  # noqa: N802
                path = self.path.split("?")[0].rstrip("/")
                body = self._read_body()
                stub._record(path, body)
                routes = {
                    "/v1/chat/completions": self._chat,
                    "/v1/images/generations": self._image,
                    "/v1/images/edits": self._image,
                }
                handler = routes.get(path)
                if handler is None:
                    stub._sleep(stub.latency)
                    self._json(404, _error_body(404, None, None, f"no route {path}"))
                    return
                reply = stub._next() or ScriptedReply()
                stub._sleep(reply.hang)
                stub._sleep(stub.latency + reply.delay)
                if reply.status != 200:
                    self._json(
                        reply.status,
                        _error_body(reply.status, reply.error_code, reply.error_type, reply.message),
                        reply.headers,
                    )
                    return
                if reply.garbage:
                    self._raw(200, b"<html>upstream proxy says hello</html>", "application/json",
                              reply.headers)
                    return
                handler(body if isinstance(body, dict) else {}, reply)

            # -- endpoints -------------------------------------------------------------------
            def _chat(self, body: dict[str, Any], reply: ScriptedReply) -> None:
                if reply.text is not None:
                    text = reply.text
                elif stub.default_chat is not None:
                    text = stub.default_chat(body)
                else:
                    text = _last_user_text(body)
                prompt_toks, completion_toks = reply.usage or (
                    _count_words(json.dumps(body.get("messages", []))), _count_words(text)
                )
                model = body.get("model", "stub-chat")
                created = int(time.time())
                if body.get("stream"):
                    self._stream_chat(model, created, text, reply, (prompt_toks, completion_toks))
                    return
                self._json(200, {
                    "id": f"chatcmpl-{created}",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": reply.finish_reason,
                    }],
                    "usage": {
                        "prompt_tokens": prompt_toks,
                        "completion_tokens": completion_toks,
                        "total_tokens": prompt_toks + completion_toks,
                    },
                }, reply.headers)

            def _stream_chat(self, model: str, created: int, text: str, reply: ScriptedReply,
                             usage: tuple[int, int]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                base = {"id": f"chatcmpl-{created}", "object": "chat.completion.chunk",
                        "created": created, "model": model}
                pieces = text.split(" ")
                for i, piece in enumerate(pieces):
                    delta = {"content": piece + (" " if i < len(pieces) - 1 else "")}
                    if i == 0:
                        delta["role"] = "assistant"
                    chunk = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}])
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                last = dict(base, choices=[{"index": 0, "delta": {},
                                            "finish_reason": reply.finish_reason}],
                            usage={"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                   "total_tokens": sum(usage)})
                self.wfile.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

            def _image(self, body: dict[str, Any], reply: ScriptedReply) -> None:
                width, height = _parse_size(body.get("size"))
                n = max(1, min(int(body.get("n") or 1), 4))
                prompt = str(body.get("prompt", ""))
                data = []
                for i in range(n):
                    img = reply.image or _solid_image(prompt, i, width, height)
                    buf = io.BytesIO()
                    img.save(buf, format="PNG")
                    data.append({"b64_json": base64.b64encode(buf.getvalue()).decode("ascii"),
                                 "revised_prompt": prompt})
                in_toks, out_toks = reply.usage or (_count_words(prompt), 0)
                self._json(200, {
                    "created": int(time.time()),
                    "data": data,
                    "usage": {"input_tokens": in_toks, "output_tokens": out_toks,
                              "total_tokens": in_toks + out_toks},
                }, reply.headers)

            # -- plumbing --------------------------------------------------------------------
            def _read_body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("multipart/form-data"):
                    return _parse_multipart(ctype, raw)
                try:
                    return json.loads(raw) if raw else {}
                except ValueError:
                    return {"_raw": raw.decode("utf-8", "replace")}

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                self._raw(status, json.dumps(payload).encode(), "application/json", headers)

            def _raw(self, status: int, data: bytes, ctype: str,
                     headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout)
                    self.close_connection = True

        return Handler


def _error_body(status: int, code: str | None, etype: str | None, message: str | None) -> dict:
    default_type, default_msg = _STATUS_ERRORS.get(status, ("api_error", f"HTTP {status}"))
    return {"error": {"message": message or default_msg, "type": etype or default_type,
                      "param": None, "code": code}}


def _last_user_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def _count_words(text: str) -> int:
    return max(1, len(text.split()))


def _parse_size(size: Any) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in str(size).lower().split("x"))
        if 0 < w <= 2048 and 0 < h <= 2048:
            return w, h
    except ValueError:
        pass
    return 64, 64


def _solid_image(prompt: str, index: int, width: int, height: int) -> Image.Image:
    digest = hashlib.sha256(f"{prompt}|{index}".encode()).digest()
    return Image.new("RGB", (width, height), tuple(digest[:3]))


def _parse_multipart(ctype: str, raw: bytes) -> dict[str, Any]:
    message = BytesParser(policy=default_policy).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is not None:
            value: Any = {"filename": filename, "content_type": part.get_content_type(),
                          "size": len(payload), "bytes": payload}
        else:
            value = payload.decode("utf-8", "replace")
        if name in fields:  # repeated fields (image[] lists) become lists
            prev = fields[name]
            fields[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            fields[name] = value
    return fields


def sent_images(body: dict[str, Any]) -> list[Image.Image]:
    """The images of a chat request's messages, decoded from their data URLs, in the order sent."""
    out = []
    for msg in body.get("messages") or []:
        content = msg.get("content")
        for part in content if isinstance(content, list) else []:
            url = (part.get("image_url") or {}).get("url", "") if part.get("type") == "image_url" else ""
            if url.startswith("data:"):
                out.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    return out
