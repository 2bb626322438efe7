"""Calling an OpenAI-compatible API: client setup, retries with backoff, and error translation.

The ``openai`` client's own retries are switched off (``max_retries=0``) so that the studio decides:
429 and 5xx and connection failures are retried with exponential backoff, honouring the server's
``Retry-After`` / ``retry-after-ms`` headers; everything else becomes a ``BackendError`` that says
what went wrong (auth, quota, content policy, timeout, malformed answer) and what to do.
"""
from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from backends.base import BackendError, BackendLoadError, Cancelled

T = TypeVar("T")

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
_POLICY_CODES = {"content_policy_violation", "moderation_blocked", "content_filter"}
_POLICY_WORDS = ("safety system", "content policy", "content_policy", "moderation")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    #: a Retry-After longer than this is not waited for: the call fails at once and says so
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter for the ``attempt``-th retry (0-based)."""
        delay = self.backoff_base * (2 ** attempt)
        return min(self.backoff_max, delay * (0.75 + 0.5 * random.random()))


def resolve_endpoint(name: str, base_url: str | None, api_key: str | None) -> tuple[str, str]:
    """Option > STUDIO_OPENAI_* settings > OPENAI_* environment; a key is required for api.openai.com."""
    s_url, s_key = "", ""
    if not base_url or not api_key:
        try:
            from studio.settings import load_settings

            settings = load_settings()
            s_url, s_key = settings.openai_base_url, settings.openai_api_key
        except Exception:  # noqa: BLE001 - broken settings must not hide the env fallback
            pass
    url = base_url or s_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL
    key = api_key or s_key or os.environ.get("OPENAI_API_KEY") or ""
    if not key:
        if url.rstrip("/") == OPENAI_DEFAULT_URL:
            raise BackendLoadError(
                name,
                "no API key configured for api.openai.com",
                "set STUDIO_OPENAI_API_KEY (or OPENAI_API_KEY), or options.api_key in the backends config",
            )
        key = "not-needed"  # local OpenAI-compatible servers (vLLM, llama.cpp) accept any key
    return url.rstrip("/"), key


def make_client(name: str, base_url: str, api_key: str, timeout: float) -> Any:
    """An ``openai.OpenAI`` client with its own retries off (the studio retries)."""
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - openai is a runtime requirement
        raise BackendLoadError(name, "the 'openai' package is not installed",
                               "run `pip install -r requirements.txt`") from exc
    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``Retry-After`` seconds or date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def _error_fields(exc: Any) -> tuple[str, str, str]:
    """(code, type, message) of an API error body, all lower-cased where matching matters."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or getattr(exc, "code", "") or "")
    etype = str(body.get("type") or getattr(exc, "type", "") or "")
    message = str(body.get("message") or getattr(exc, "message", "") or exc)
    return code, etype, message


def is_policy_refusal(code: str, etype: str, message: str) -> bool:
    """True when the provider refused the content (moderation / safety system)."""
    low = message.lower()
    return code in _POLICY_CODES or etype in _POLICY_CODES or any(w in low for w in _POLICY_WORDS)


def call_with_retries(
    name: str,
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    model: str,
    base_url: str,
    timeout: float,
    cancel: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[int, float, str], None] | None = None,
) -> tuple[T, int]:
    """Run ``fn`` with retries; returns (result, attempts) or raises BackendError / Cancelled."""
    import openai

    attempt = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        try:
            return fn(), attempt + 1
        except openai.APITimeoutError:
            reason = f"no answer from {base_url} within {timeout:g} s"
            fix = "raise options.timeout or check that the server is up"
            delay = None
        except openai.APIConnectionError as exc:
            reason = f"cannot reach {base_url} ({exc.__cause__ or exc})"
            fix = "check the base URL and the network"
            delay = None
        except openai.RateLimitError as exc:
            code, etype, message = _error_fields(exc)
            # only the error code/type says the quota is gone: throttles mention "quota increase" too
            if "insufficient_quota" in (code, etype):
                raise BackendError(name, f"API quota exhausted: {message}",
                                   "check the account's plan and billing, or use another backend") from exc
            reason = f"rate limited by {base_url}: {message}"
            fix = "wait a minute or lower the concurrency"
            delay = retry_after_seconds(exc.response.headers)
        except openai.InternalServerError as exc:
            _, _, message = _error_fields(exc)
            reason = f"server error {exc.status_code} from {base_url}: {message}"
            fix = "retry later; the provider is having trouble"
            delay = retry_after_seconds(exc.response.headers)
        except openai.APIStatusError as exc:
            raise translate_status_error(name, exc, model=model, base_url=base_url) from exc
        except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
            raise malformed(name, base_url, exc) from exc
        if attempt >= policy.max_retries:
            tries = attempt + 1
            raise BackendError(name, f"{reason} (gave up after {tries} attempt{'s' * (tries > 1)})", fix)
        wait = policy.backoff(attempt) if delay is None else delay
        if wait > policy.max_retry_after:
            raise BackendError(name, f"{reason}; the server asks to wait {wait:.0f} s", fix)
        if on_retry is not None:
            on_retry(attempt + 1, wait, reason)
        if sleep is not None:
            sleep(wait)
        elif cancel is not None:
            if cancel.wait(wait):
                raise Cancelled()
        else:
            time.sleep(wait)
        attempt += 1


def translate_status_error(name: str, exc: Any, *, model: str, base_url: str) -> BackendError:
    """A non-retryable HTTP error as a BackendError with a fix."""
    code, etype, message = _error_fields(exc)
    status = getattr(exc, "status_code", 0)
    if status == 401:
        return BackendError(name, f"the API rejected the key (401): {message}",
                            "set a valid STUDIO_OPENAI_API_KEY / options.api_key")
    if is_policy_refusal(code, etype, message):
        return BackendError(name, f"refused by the provider's content policy: {message}",
                            "rephrase the prompt or instruction")
    if status == 403:
        return BackendError(name, f"no access to model '{model}' (403): {message}",
                            "check the key's organisation/project permissions")
    if status == 404:
        return BackendError(name, f"model '{model}' or endpoint not found at {base_url} (404): {message}",
                            "check options.model and options.base_url")
    if status in (400, 422):
        return BackendError(name, f"the API refused the request ({status}): {message}",
                            "check the parameters (size, model, image format)")
    return BackendError(name, f"HTTP {status} from {base_url}: {message}", "retry later or check the server")


def malformed(name: str, base_url: str, detail: Any) -> BackendError:
    """The server answered 200 with something that is not the expected JSON."""
    return BackendError(name, f"malformed response from {base_url} ({detail})",
                        "check that base_url points at an OpenAI-compatible API (ends in /v1)")
