"""Keeping a session as data: multi-turn samples, single-turn triplets, annotation pairs."""
from __future__ import annotations

from typing import Literal

from studio.editing.sessions import EditingError, get_session
from studio.editing.views import SessionView, TurnView

ExportForm = Literal["multi-turn", "triplets"]


def branch_turns(view: SessionView, tip: str | None = None) -> list[TurnView]:
    """The finished turns from the source down to ``tip`` (the head by default)."""
    node = view.base_of(view.head if tip is None else tip)
    if tip is not None and tip not in view.turns:
        raise EditingError(f"turn {tip!r} is not part of this session")
    return [t for t in view.path(node) if t.done]


def _provenance(view: SessionView, turns: list[TurnView]) -> dict:
    return {
        "edit_session": view.id,
        "origin": view.origin,
        "origin_ref": view.origin_ref,
        "turn_ids": [t.id for t in turns],
    }


def export_branch(
    studio, owner: str, session_id: str, *, tip: str | None = None, form: ExportForm = "multi-turn",
    dataset: str = "default",
) -> list[str]:
    """Store one branch as samples; returns their ids.

    ``multi-turn``: one ``multi-turn-edit`` sample (source image, per-turn instruction and output,
    as OpenGPT-4o-Image's multi-turn editing). ``triplets``: one ``edit`` sample per turn
    (input image, instruction, output).
    """
    view = get_session(studio, owner, session_id)
    turns = branch_turns(view, tip)
    if not turns:
        raise EditingError("this branch has no finished turn to export yet")
    dataset = (dataset or "default").strip()[:128] or "default"
    common = {"source": "edit-chat", "method": "edit-chat", "dataset": dataset}
    if form == "multi-turn":
        backends = sorted({t.backend for t in turns})
        sid = studio.samples.add(
            task="multi-turn-edit",
            prompt=turns[0].instruction,
            input_images=[view.source_image],
            output_image=turns[-1].output_image,
            turns=[
                {"instruction": t.instruction, "output_image": t.output_image, "backend": t.backend,
                 "seed": t.params.get("seed"), "mask_image": t.mask_image,
                 "reference_images": t.reference_images, "drift": t.drift}
                for t in turns
            ],
            seed=turns[0].params.get("seed"),
            backend=backends[0] if len(backends) == 1 else "mixed",
            attributes={"turns": len(turns), "backends": backends, "final_drift": turns[-1].drift},
            provenance=_provenance(view, turns),
            **common,
        )
        return [sid]
    if form != "triplets":
        raise EditingError(f"unknown export form {form!r}; use multi-turn or triplets")
    ids = []
    for t in turns:
        ids.append(studio.samples.add(
            task="edit",
            prompt=t.instruction,
            input_images=[t.input_image, *t.reference_images],
            output_image=t.output_image,
            seed=t.params.get("seed"),
            backend=t.backend,
            attributes={"turn": t.seq, "drift": t.drift, "mask_image": t.mask_image,
                        "params": {k: v for k, v in t.params.items() if k != "timeout_s"}},
            provenance=_provenance(view, [t]),
            **common,
        ))
    return ids


def send_pair_to_annotation(
    studio, owner: str, session_id: str, turn_a: str, turn_b: str, *, batch: str = "edit-chat",
) -> str:
    """Put two outputs of the same instruction on the same image (e.g. two backends) up for a
    blind A/B vote; returns the comparison item id (sending the same pair twice adds it once)."""
    from studio.annotation import AnnotationError
    from studio.annotation.service import add_comparison, ensure_batch

    view = get_session(studio, owner, session_id)
    a, b = view.turns.get(turn_a), view.turns.get(turn_b)
    if a is None or b is None:
        raise EditingError("pick two turns of this session")
    if a.id == b.id:
        raise EditingError("pick two different turns to compare")
    if not (a.done and b.done):
        raise EditingError("both turns must have finished with an image")
    if a.input_image != b.input_image:
        raise EditingError("the two turns must edit the same image: branch from the same turn "
                           "and send the same instruction to another backend")
    if a.instruction.strip().lower() != b.instruction.strip().lower():
        raise EditingError("the two turns must carry the same instruction to be comparable")
    try:
        batch_id = ensure_batch(studio, (batch or "edit-chat").strip() or "edit-chat")
        return add_comparison(
            studio, batch_id, prompt=a.instruction, task="edit", source_image=a.input_image,
            output_a=a.output_image, model_a=a.backend, output_b=b.output_image, model_b=b.backend,
            provenance={"edit_session": view.id, "turns": [a.id, b.id]},
            item_key=f"edit-chat:{':'.join(sorted([a.id, b.id]))}",
        )
    except AnnotationError as exc:
        raise EditingError(str(exc)) from None
