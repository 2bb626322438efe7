"""LLM composition: send a row's meta-prompt to a chat backend and check what comes back.

The chat backend (OpenAI-compatible or local) does its own retries with backoff and Retry-After;
this module adds what a batch needs on top: a requests-per-minute limit shared by all workers, the
validation of the answer (empty or non-conforming text fails the item, keeping the raw text), and the
token/latency/cost numbers stored with the sample and summed per batch.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from backends.base import Capability, ChatMessage, ChatRequest, ChatResult
from backends.registry import BackendRegistry
from studio.synthesis.rows import PlannedRow
from studio.synthesis.templates import SynthesisError

_PREAMBLE = re.compile(r"^(sure|certainly|of course|here is|here's|as an ai|i'm sorry|i cannot|i can't)\b", re.I)
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•]|round \d+:|turn \d+:)\s*", re.I)
MAX_ANSWER_CHARS = 2000


class NoChatBackend(SynthesisError):
    """No chat backend is configured (or the named one cannot chat); the message says what to do."""


class LLMOutputError(ValueError):
    """The model answered, but not with usable text; ``raw`` keeps the answer."""

    def __init__(self, reason: str, raw: str) -> None:
        super().__init__(reason)
        self.raw = raw


def chat_backend_names(backends: BackendRegistry) -> list[str]:
    return [e.name for e in backends.by_capability(Capability.CHAT)]


def resolve_chat_backend(backends: BackendRegistry, name: str | None) -> str:
    """The chat backend to use: the named one, or the only/first configured one."""
    names = chat_backend_names(backends)
    if name:
        if name not in backends.names():
            raise NoChatBackend(f"chat backend {name!r} is not configured; configured chat backends: "
                                f"{', '.join(names) or 'none'}")
        if name not in names:
            raise NoChatBackend(f"backend {name!r} cannot chat; pick one of: {', '.join(names) or 'none'}")
        return name
    if not names:
        raise NoChatBackend(
            "no chat backend is configured: the llm method needs one. Add an entry with engine "
            "'openai-chat' (base_url/api_key, or STUDIO_OPENAI_BASE_URL for vLLM, Ollama or OpenAI) to "
            "the backends config (STUDIO_BACKENDS_CONFIG). The template and attributes methods work without one.")
    return names[0]


class RateLimiter:
    """At most ``per_minute`` call starts per minute, evenly spaced, shared by all threads."""

    def __init__(self, per_minute: float | None) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, cancel: threading.Event | None = None) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - time.monotonic()
        if delay > 0:
            if cancel is not None:
                cancel.wait(delay)
            else:
                time.sleep(delay)


@dataclass
class LLMOutcome:
    text: str
    turns: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def prompt_tokens(self) -> int:
        return sum(c["prompt_tokens"] for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c["completion_tokens"] for c in self.calls)

    @property
    def cost_usd(self) -> float:
        return sum(c.get("cost_usd") or 0.0 for c in self.calls)

    def stats(self) -> dict[str, Any]:
        return {
            "raw": self.calls[-1]["raw"] if self.calls else "",
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "latency_s": round(sum(c["latency_s"] for c in self.calls), 4),
            "cost_usd": self.cost_usd, "model": self.calls[-1]["model"] if self.calls else "",
            "backend": self.calls[-1]["backend"] if self.calls else "", "calls": self.calls,
        }


def clean_single(raw: str) -> str:
    """One prompt or instruction from an answer, or LLMOutputError saying what is wrong with it."""
    text = (raw or "").strip()
    if not text:
        raise LLMOutputError("the model returned empty text", raw or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1:
        raise LLMOutputError(f"expected one prompt, got {len(lines)} lines", raw)
    text = lines[0].strip().strip('"“”').strip()
    if _PREAMBLE.match(text):
        raise LLMOutputError("the answer is a preamble or refusal, not a prompt", raw)
    if len(text) > MAX_ANSWER_CHARS:
        raise LLMOutputError(f"the answer is {len(text)} characters (limit {MAX_ANSWER_CHARS})", raw)
    if len(text.split()) < 3:
        raise LLMOutputError("the answer is too short to be a prompt", raw)
    return text


def clean_turns(raw: str, rounds: int) -> list[str]:
    lines = [_NUMBERING.sub("", ln).strip() for ln in (raw or "").splitlines() if ln.strip()]
    if not lines:
        raise LLMOutputError("the model returned empty text", raw or "")
    if len(lines) != rounds:
        raise LLMOutputError(f"expected {rounds} rounds (one per line), got {len(lines)}", raw)
    return [clean_single(ln) for ln in lines]


def visual_template_prompt(raw: str) -> str:
    m = re.search(r"Visual Template Prompt:\s*(.+)", raw or "")
    if not m or not m.group(1).strip():
        raise LLMOutputError("the answer has no 'Visual Template Prompt:' line", raw or "")
    return clean_single(m.group(1))


class LLMComposer:
    """Runs rows' meta-prompts against one chat backend with a shared rate limit."""

    def __init__(self, backends: BackendRegistry, backend_name: str, *, requests_per_minute: float | None = None,
                 temperature: float | None = 0.7, max_tokens: int | None = 512) -> None:
        self.backends = backends
        self.backend_name = backend_name
        self.limiter = RateLimiter(requests_per_minute)
        self.temperature = temperature
        self.max_tokens = max_tokens

    def _call(self, messages: list[dict[str, str]], images=(), cancel=None) -> tuple[str, dict[str, Any]]:
        self.limiter.wait(cancel)
        backend = self.backends.get(self.backend_name)
        msgs = []
        for i, m in enumerate(messages):
            attach = images if (m["role"] == "user" and i == len(messages) - 1) else ()
            msgs.append(ChatMessage(role=m["role"], content=m["content"], images=list(attach)))
        t0 = time.perf_counter()
        result: ChatResult = backend.chat(ChatRequest(
            messages=msgs, temperature=self.temperature, max_tokens=self.max_tokens, cancel=cancel))
        latency = result.latency_s or (time.perf_counter() - t0)
        raw = result.text if isinstance(result.text, str) else ""
        return raw, {
            "raw": raw, "prompt_tokens": int(result.prompt_tokens or 0),
            "completion_tokens": int(result.completion_tokens or 0), "latency_s": round(latency, 4),
            "cost_usd": result.cost_usd, "model": result.model, "backend": result.backend or self.backend_name,
        }

    def compose(self, row: PlannedRow, images=(), cancel=None) -> LLMOutcome:
        """The LLM's text for a row (caption, composition, document prompt or edit instruction)."""
        out = LLMOutcome(text="")
        kind = row.meta_prompt_kind
        try:
            if kind == "document":
                step1 = [m for m in row.meta_prompt if m.get("step", "").startswith("1")]
                step2 = [m for m in row.meta_prompt if m.get("step", "").startswith("2")]
                content, stats = self._call(step1, cancel=cancel)
                out.calls.append(stats)
                if not content.strip():
                    raise LLMOutputError("the model returned empty document content", content)
                step2 = [{**m, "content": m["content"].replace("{content from step 1}", content.strip())}
                         for m in step2]
                raw, stats = self._call(step2, cancel=cancel)
                out.calls.append(stats)
                out.text = visual_template_prompt(raw)
            elif kind == "edit-instruction" and len(row.turns) > 1:
                raw, stats = self._call(row.meta_prompt, images, cancel)
                out.calls.append(stats)
                out.turns = clean_turns(raw, len(row.turns))
                out.text = out.turns[0]
            else:
                raw, stats = self._call(row.meta_prompt, images, cancel)
                out.calls.append(stats)
                out.text = clean_single(raw)
        except LLMOutputError as exc:
            exc.outcome = out  # type: ignore[attr-defined]  # the batch still counts the tokens
            raise
        return out
