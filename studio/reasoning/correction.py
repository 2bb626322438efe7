"""Image correction (UnifiedVisual §3.1.1): generate, let a vision-language critic list the mismatches,
regenerate from the corrected description; stop when the critic finds none or the rounds run out."""
from __future__ import annotations

import re
import threading
import time
from typing import Callable, Iterator, Literal

from PIL import Image

from backends.base import Backend, BackendError, ChatMessage, GenerationRequest
from studio.reasoning.calls import ReasonerError, ask, llm_record, run_image_jobs
from studio.reasoning.interleaved import parse_rationale
from studio.reasoning.state import RunRequest, RunState, ViewItem
from studio.reasoning.templates import CRITIQUE
from studio.samples import SampleStore

Verdict = Literal["match", "mismatch", "unclear"]

_VERDICT = re.compile(r"^[\s*_#>]*verdict[\s*_]*:[\s*_]*(no[ -]?mismatch|mismatch|match)\b", re.IGNORECASE | re.MULTILINE)
_NO_MISMATCH = re.compile(
    r"\b(no (?:mismatch|inconsistenc|discrepanc)\w*|fully (?:meets|matches|complies with) the requirement)", re.IGNORECASE
)


def read_critique(text: str) -> tuple[Verdict, str | None]:
    """The critic's verdict and, for a mismatch, its corrected description (the last [image: …] part)."""
    parts = parse_rationale(text).image_parts
    corrected = parts[-1].body if parts else None
    m = _VERDICT.search(text)
    if m:
        word = m.group(1).lower().replace(" ", "").replace("-", "")
        return ("match" if word in ("match", "nomismatch") else "mismatch"), corrected
    if corrected is None and _NO_MISMATCH.search(text):
        return "match", None
    return ("mismatch" if corrected else "unclear"), corrected


def run_correction(backend: Callable[[str], Backend], samples: SampleStore, req: RunRequest, state: RunState,
                   t0: float) -> Iterator[RunState]:
    """Up to ``req.max_rounds`` rounds of generate → critique; each round is shown as it happens.
    ``backend`` builds a backend by name; images are kept in ``samples``."""
    yield state
    requirement = req.question.strip()
    try:
        generator = backend(req.image_backend or "")
        critic = backend(req.critic or req.reasoner or "")
    except BackendError as exc:
        state.status = "failed"
        state.note(str(exc))
        return
    prompt = requirement
    critiques: list[str] = []
    for rnd in range(1, req.max_rounds + 1):
        slot = ViewItem("image", prompt, status="pending", round=rnd)
        state.items.append(slot)
        yield state
        seed = req.seed + rnd - 1

        def job(cancel: threading.Event, p: str = prompt, s: int = seed) -> Image.Image:
            request = GenerationRequest(prompt=p, seed=s, width=req.width, height=req.height, cancel=cancel)
            return generator.generate(request).image

        [(_, image, error, secs)] = list(run_image_jobs([job], concurrent=True, timeout_s=req.image_timeout_s,
                                                       stop=req.stop))
        slot.seconds = round(secs, 4)
        if image is None:
            slot.status, slot.error = "failed", error
            state.status = "partial" if rnd > 1 else "failed"
            state.note(f"round {rnd}: the image could not be generated ({error}); stopped")
            return
        slot.image = state.final_image = samples.store_image(image)
        slot.status = "ready"
        state.timings.setdefault("first_image_s", round(time.perf_counter() - t0, 4))
        yield state
        messages = [
            ChatMessage("system", CRITIQUE.substitute(requirement=requirement)),
            ChatMessage("user", "Here is the image generated from the requirement.", [image]),
        ]
        try:
            result = ask(critic, messages, timeout_s=req.reasoner_timeout_s, what="critic", stop=req.stop)
        except ReasonerError as exc:
            state.status = "partial"
            state.note(f"round {rnd}: {exc}; stopped with the last image")
            return
        state.llm.append(llm_record(result, f"critic-round-{rnd}"))
        critiques.append(result.text)
        state.rationale = "\n\n".join(critiques)
        verdict, corrected = read_critique(result.text)
        state.rounds.append({"round": rnd, "prompt": prompt, "image": slot.image, "critique": result.text,
                             "verdict": verdict, "seconds": slot.seconds})
        state.items.append(ViewItem("critique", result.text.strip(), round=rnd))
        if verdict == "match":
            state.status = "done"
            state.note(f"round {rnd}: the critic found no mismatch; done")
            yield state
            return
        if rnd == req.max_rounds:
            state.status = "not-converged"
            state.note(f"the critic still found mismatches after {rnd} round(s), the limit; the last image is kept")
            yield state
            return
        if verdict == "unclear":
            state.note(f"round {rnd}: the critique has no VERDICT line; treated as a mismatch")
        if corrected:
            prompt = corrected
        else:
            state.note(f"round {rnd}: the critique gave no corrected [image: …] description; "
                       "regenerating from the original description with a new seed")
            prompt = requirement
        yield state
