"""Runs one reasoning request end to end and yields its state after every change.

Text appears as soon as the rationale is in; image parts render at the same time and each slot
fills the moment its image is ready; the final answer comes last. Every run is stored, whatever
its outcome, so nothing the user asked for is lost.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Iterator

from PIL import Image

from backends.base import Backend, BackendError, Capability, ChatMessage, EditRequest, GenerationRequest
from studio.reasoning import ReasoningInputError
from studio.reasoning.calls import ReasonerError, ask, describe_error, llm_record, run_image_jobs
from studio.reasoning.correction import run_correction
from studio.reasoning.crops import cut, parse_box
from studio.reasoning.interleaved import extract_final_answer, looks_like_refusal, parse_rationale, strip_final_answer
from studio.reasoning.modes import MAX_IMAGES_LIMIT, MAX_ROUNDS_LIMIT, Mode, get_mode
from studio.reasoning.state import RunRequest, RunState, ViewItem
from studio.reasoning.store import RunStore
from studio.reasoning.templates import TO_IMAGE_PROMPT, system_prompt

log = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "add a chat backend to the backends config (the file named by STUDIO_BACKENDS_CONFIG, default "
    "assets/backends.yaml), e.g. `reasoner: {engine: openai-chat, options: {base_url: ..., model: ...}}` "
    "for any OpenAI-compatible server, or `engine: transformers-chat` for a local model"
)


class ReasoningRunner:
    """Turns a RunRequest into a stream of RunStates, then stores the run."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self.store = RunStore(studio)

    # -- checks ----------------------------------------------------------------------------
    def _names(self, cap: Capability) -> list[str]:
        return [e.name for e in self.studio.backends.by_capability(cap)]

    def _require(self, name: str | None, cap: Capability, role: str) -> None:
        known = self._names(cap)
        if not name:
            hint = f"configured: {', '.join(known)}" if known else f"none is configured; {HOW_TO_CONFIGURE}"
            raise ReasoningInputError(f"pick a {role} ({cap.value} backend); {hint}")
        if name not in self.studio.backends.names():
            raise ReasoningInputError(f"{role} '{name}' is not configured; configured {cap.value}: {', '.join(known) or 'none'}")
        if name not in known:
            raise ReasoningInputError(f"{role} '{name}' cannot do {cap.value}; pick one of: {', '.join(known) or 'none configured'}")

    def validate(self, req: RunRequest) -> Mode:
        """Check the request before anything runs or is stored; ReasoningInputError says what to fix."""
        mode = get_mode(req.mode)
        if not (req.question or "").strip():
            raise ReasoningInputError("write the question or request first (or load an example)")
        if mode.needs_input_image and req.input_image is None:
            raise ReasoningInputError(f"{mode.title} needs an input image; upload one")
        if not 1 <= req.max_images <= MAX_IMAGES_LIMIT:
            raise ReasoningInputError(f"at most 1–{MAX_IMAGES_LIMIT} image parts, got {req.max_images}")
        if not 1 <= req.max_rounds <= MAX_ROUNDS_LIMIT:
            raise ReasoningInputError(f"correction rounds must be 1–{MAX_ROUNDS_LIMIT}, got {req.max_rounds}")
        if mode.critic_loop:
            self._require(req.image_backend, Capability.TEXT_TO_IMAGE, "image backend")
            self._require(req.critic or req.reasoner, Capability.VISION_LANGUAGE, "critic")
            return mode
        pasted = bool((req.rationale or "").strip())
        if not pasted:
            if not req.reasoner:
                known = self._names(Capability.CHAT)
                hint = (f"configured reasoners: {', '.join(known)}" if known
                        else f"no reasoner is configured — {HOW_TO_CONFIGURE}")
                raise ReasoningInputError(f"pick a reasoner or paste a rationale with [image: …] parts; {hint}")
            needs_vision = mode.needs_input_image
            self._require(req.reasoner, Capability.VISION_LANGUAGE if needs_vision else Capability.CHAT, "reasoner")
        if mode.renders_with is not None:
            self._require(req.image_backend, mode.renders_with, "image backend")
        return mode

    # -- the run -------------------------------------------------------------------------
    def run(self, req: RunRequest) -> Iterator[RunState]:
        """Validate, then yield the state after each change; the last state is stored (run_id set)."""
        mode = self.validate(req)
        pasted = not mode.critic_loop and bool((req.rationale or "").strip())
        state = RunState(
            mode=mode.id, question=req.question.strip(),
            reasoner=None if pasted or mode.critic_loop else req.reasoner,
            image_backend=req.image_backend if mode.renders_with is not None else None,
            critic=(req.critic or req.reasoner) if mode.critic_loop else None,
        )
        t0 = time.perf_counter()
        if req.input_image is not None:
            state.input_image = self.studio.samples.store_image(req.input_image)
        try:
            if mode.critic_loop:
                body = run_correction(self.backend, self.studio.samples, req, state, t0)
            else:
                body = self._run_rationale(req, mode, state, t0, pasted)
            yield from body
        except GeneratorExit:
            if state.status == "running":
                state.status = "partial" if any(i.image for i in state.items) else "failed"
                state.notices.append("the run was stopped before it finished")
            self._finish(state, t0)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug of ours: a failed run, logged, not a crash
            log.exception("reasoning run failed (mode=%s)", mode.id)
            state.status = "failed"
            state.note(f"the run failed: {describe_error(exc)}")
        self._finish(state, t0)
        yield state

    def _finish(self, state: RunState, t0: float) -> None:
        if state.status == "running":
            failed = any(i.status == "failed" for i in state.items if i.kind in ("image", "crop"))
            state.status = "partial" if failed else "done"
        state.timings["total_s"] = round(time.perf_counter() - t0, 4)
        state.run_id = self.store.save(state)

    def backend(self, name: str) -> Backend:
        """The backend called ``name``; BackendError (a visible outcome) when it cannot load."""
        return self.studio.backends.get(name)

    def _rationale_text(self, req: RunRequest, mode: Mode, state: RunState, pasted: bool) -> str | None:
        if pasted:
            return req.rationale or ""
        limit = mode.image_limit(req.max_images)
        content = req.question.strip()
        images = [req.input_image] if mode.needs_input_image and req.input_image is not None else []
        messages = [
            ChatMessage("system", system_prompt(mode.id, max_images=limit)),
            ChatMessage("user", content, images),
        ]
        started = time.perf_counter()
        try:
            result = ask(self.backend(req.reasoner or ""), messages, timeout_s=req.reasoner_timeout_s, what="reasoner",
                         stop=req.stop)
        except (ReasonerError, BackendError) as exc:
            state.status = "failed"
            state.note(str(exc))
            return None
        finally:
            state.timings["reasoner_s"] = round(time.perf_counter() - started, 4)
        state.llm.append(llm_record(result, "reasoner"))
        return result.text

    def _run_rationale(self, req: RunRequest, mode: Mode, state: RunState, t0: float, pasted: bool) -> Iterator[RunState]:
        yield state
        text = self._rationale_text(req, mode, state, pasted)
        if text is None:
            return
        state.rationale = text
        if looks_like_refusal(text):
            state.items.append(ViewItem("text", text))
            state.status = "refused"
            state.note("the reasoner declined to answer; nothing was rendered (rephrase the question or pick another reasoner)")
            return
        limit = mode.image_limit(req.max_images)
        parsed = parse_rationale(text, max_images=limit, max_crops=limit)
        slots: list[ViewItem] = []
        for seg in parsed.segments:
            if seg.kind == "text":
                prose = strip_final_answer(seg.raw)
                if prose:
                    state.items.append(ViewItem("text", prose))
            elif seg.kind == "malformed":
                state.items.append(ViewItem("text", seg.raw.strip(), status="skipped", error=seg.problem))
            elif seg.kind == "crop":
                state.items.append(self._crop_item(req, mode, seg.body, seg.problem))
            elif mode.shows_regions:
                state.items.append(ViewItem("image", seg.body, status="skipped",
                                            error="MM Reasoning (O) shows regions of the input image; image parts are not rendered"))
            elif seg.problem:
                state.items.append(ViewItem("image", seg.body, status="skipped", error=seg.problem))
            else:
                item = ViewItem("image", seg.body, status="pending")
                state.items.append(item)
                slots.append(item)
        shown = any(i.kind == "crop" for i in state.items) if mode.shows_regions else bool(slots)
        if not shown and mode.prompt_from_thought:
            prompt = self._image_prompt_from_thought(req, state, text, pasted)
            if prompt:
                item = ViewItem("image", prompt, status="pending")
                state.items.append(item)
                slots.append(item)
        elif not shown and mode.nothing_to_show:
            state.note(mode.nothing_to_show)
        if parsed.problems:
            state.notices.extend(parsed.problems)
        state.final_answer = extract_final_answer(text)
        if any(i.kind == "crop" and i.image for i in state.items):
            state.timings.setdefault("first_image_s", round(time.perf_counter() - t0, 4))
        yield state
        yield from self._render(req, mode, state, slots, t0)
        ready = [i.image for i in state.items if i.kind in ("image", "crop") and i.image]
        state.final_image = ready[-1] if ready else None

    def _image_prompt_from_thought(self, req: RunRequest, state: RunState, text: str, pasted: bool) -> str | None:
        """Implicit mode without an image part: the Table 7 step turns the thought into a prompt."""
        if pasted or not req.reasoner:
            state.note("the rationale has no [image: …] part; its text is used as the image prompt")
            return " ".join(text.split())[:1000]
        messages = [ChatMessage("user", TO_IMAGE_PROMPT.substitute(thought=text))]
        try:
            result = ask(self.backend(req.reasoner), messages, timeout_s=req.reasoner_timeout_s, what="reasoner",
                         stop=req.stop)
        except (ReasonerError, BackendError) as exc:
            state.note(f"the rationale has no [image: …] part and turning it into a prompt failed: {exc}")
            return None
        state.llm.append(llm_record(result, "image-prompt"))
        state.note("the rationale has no [image: …] part; the reasoner turned it into an image prompt")
        return " ".join(result.text.split())

    def _crop_item(self, req: RunRequest, mode: Mode, body: str, problem: str) -> ViewItem:
        if not mode.shows_regions:
            return ViewItem("crop", body, status="skipped", error="[crop: …] parts only apply in MM Reasoning (O); ignored")
        if problem:
            return ViewItem("crop", body, status="skipped", error=problem)
        image: Image.Image = req.input_image  # validated: this mode needs one
        box = parse_box(body, image.width, image.height)
        if not box.ok:
            return ViewItem("crop", body, status="failed", error=box.error)
        sha = self.studio.samples.store_image(cut(image, box))
        label = box.label or f"region {box.as_list()}"
        return ViewItem("crop", label, image=sha, box=box.as_list(), error="; ".join(box.notes))

    def _render(self, req: RunRequest, mode: Mode, state: RunState, slots: list[ViewItem], t0: float) -> Iterator[RunState]:
        if not slots:
            return
        try:
            backend = self.backend(req.image_backend or "")
        except BackendError as exc:
            for item in slots:
                item.status, item.error = "failed", str(exc)
            state.notices.append(str(exc))
            return
        jobs = [self._job(req, mode, backend, item.text, k) for k, item in enumerate(slots)]
        render_start = time.perf_counter()
        per_image: list[float | None] = [None] * len(slots)
        for k, image, error, secs in run_image_jobs(jobs, concurrent=req.concurrent, timeout_s=req.image_timeout_s,
                                                    stop=req.stop):
            item = slots[k]
            item.seconds = round(secs, 4)
            per_image[k] = item.seconds
            if image is None:
                item.status, item.error = "failed", error
                state.notices.append(f"image {k + 1} ({item.text[:60]}): {error}")
            else:
                item.image = self.studio.samples.store_image(image)
                item.status = "ready"
                state.timings.setdefault("first_image_s", round(time.perf_counter() - t0, 4))
            yield state
        state.timings["render_s"] = round(time.perf_counter() - render_start, 4)
        state.timings["images_s"] = per_image

    def _job(self, req: RunRequest, mode: Mode, backend: Backend, description: str, k: int):
        if mode.renders_with is Capability.EDIT:
            source = req.input_image

            def edit(cancel: threading.Event) -> Image.Image:
                return backend.edit(EditRequest(image=source, instruction=description, seed=req.seed + k, cancel=cancel)).image

            return edit

        def generate(cancel: threading.Event) -> Image.Image:
            request = GenerationRequest(prompt=description, seed=req.seed + k, width=req.width, height=req.height, cancel=cancel)
            return backend.generate(request).image

        return generate
