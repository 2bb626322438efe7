"""How the Reason tab shows a run: one interleaved chat stream of text, images, snapshots and notes."""
from __future__ import annotations

import html
from typing import Any

from backends.base import Capability
from studio.markup import md_text, path_free
from studio.reasoning.runner import HOW_TO_CONFIGURE
from studio.reasoning.state import RunState, ViewItem

STATUS_TEXT = {
    "running": "⏳ running…",
    "done": "✅ done",
    "partial": "⚠️ finished with some parts missing",
    "failed": "❌ failed",
    "refused": "🚫 the reasoner declined",
    "not-converged": "⚠️ the correction loop did not converge within its bound",
}


def _escape(text: str) -> str:
    """Reasoner text is shown as Markdown but never as HTML."""
    return html.escape(text, quote=False)


def _image_path(studio, sha: str | None) -> str | None:
    path = studio.images.find(sha) if sha else None
    return str(path) if path else None


def _item_message(studio, item: ViewItem, n: int) -> dict[str, Any]:
    desc = _escape(item.text)
    rnd = f"round {item.round}: " if item.round else ""
    if item.kind == "text":
        body = _escape(item.text)
        if item.status == "skipped":
            body = f"{body}\n\n⚠️ *{_escape(path_free(item.error))}*"
        return {"role": "assistant", "content": body}
    if item.kind == "critique":
        return {"role": "assistant", "content": f"**Critique, round {item.round}**\n\n{_escape(item.text)}"}
    if item.kind == "note":
        return {"role": "assistant", "content": f"ℹ️ *{_escape(item.text)}*"}
    what = "snapshot" if item.kind == "crop" else "image"
    if item.status == "pending":
        return {"role": "assistant", "content": f"⏳ *{rnd}rendering {what} {n}: {desc}…*"}
    if item.status in ("failed", "skipped"):
        verb = "not rendered" if item.status == "skipped" else "failed"
        return {"role": "assistant", "content": f"⚠️ *{rnd}{what} {n} {verb}: {desc}* — {_escape(path_free(item.error))}"}
    caption = f"*{rnd}{what} {n}: {desc}*"
    if item.box:
        caption += f" — box {item.box}"
    if item.error:  # notes about clamping or swapped corners
        caption += f" ({_escape(path_free(item.error))})"
    if item.seconds is not None:
        caption += f" · {item.seconds:.2f} s"
    path = _image_path(studio, item.image)
    if path is None:
        return {"role": "assistant", "content": caption + " (image file missing)"}
    return {"role": "assistant", "content": [{"path": path, "alt_text": item.text[:200]}, caption]}


def chat_messages(studio, state: RunState) -> list[dict[str, Any]]:
    """The run as chat messages: the question (and image), then the interleaved answer, then the answer."""
    user: list[Any] = [md_text(state.question)]  # what the person typed: text, not Markdown
    input_path = _image_path(studio, state.input_image)
    if input_path:
        user.insert(0, {"path": input_path, "alt_text": "input image"})
    messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
    if not state.items and state.status == "running":
        who = state.reasoner or state.critic
        messages.append({"role": "assistant", "content": f"⏳ *asking {_escape(who)}…*" if who else "⏳ …"})
    n = 0
    for item in state.items:
        if item.kind in ("image", "crop"):
            n += 1
        messages.append(_item_message(studio, item, n))
    if state.final_answer:
        messages.append({"role": "assistant", "content": f"**Final answer:** {_escape(state.final_answer)}"})
    return messages


def status_markdown(state: RunState) -> str:
    """One status line with timings, then every notice."""
    parts = [f"**{STATUS_TEXT.get(state.status, state.status)}**"]
    t = state.timings
    if "reasoner_s" in t:
        parts.append(f"reasoner {t['reasoner_s']:.2f} s")
    if "first_image_s" in t:
        parts.append(f"first image {t['first_image_s']:.2f} s")
    if "total_s" in t:
        parts.append(f"total {t['total_s']:.2f} s")
    if state.run_id:
        parts.append(f"run `{state.run_id[:8]}`")
    lines = [" · ".join(parts)]
    lines += [f"- {_escape(path_free(n))}" for n in state.notices]
    return "\n".join(lines)


def backends_help(registry) -> str:
    """Which backends can reason, critique and draw here, and how to add a reasoner."""
    def names(cap: Capability) -> str:
        found = [e.name for e in registry.by_capability(cap)]
        return ", ".join(f"`{n}`" for n in found) or "none"

    text = (
        f"**Reasoners** (chat): {names(Capability.CHAT)} · **critics / image-reading reasoners** "
        f"(vision-language): {names(Capability.VISION_LANGUAGE)} · **image backends**: "
        f"{names(Capability.TEXT_TO_IMAGE)} (edit: {names(Capability.EDIT)})."
    )
    if not registry.by_capability(Capability.CHAT):
        text += (
            "\n\nNo reasoner is configured, so **write or paste a rationale** (or load an example) and press "
            "*Render this rationale*."
        )
    text += (
        "\n\nA reasoner is any chat backend: `openai-chat` (OpenAI or any OpenAI-compatible server such as "
        "vLLM, Ollama or a llama.cpp server) or `transformers-chat` (a local model). Modes 3, 4 and 6 and the "
        f"critic need one that reads images (vision-language). To add one, {HOW_TO_CONFIGURE}; then restart."
    )
    return text
