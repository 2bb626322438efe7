"""Keeping reasoning runs, exporting them as UnifiedVisual-style samples, sending pairs to annotation."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from studio.reasoning import ReasoningInputError
from studio.reasoning.models import ReasoningRun
from studio.reasoning.modes import get_mode

if TYPE_CHECKING:
    from studio.reasoning.state import RunState


@dataclass(frozen=True)
class RunSummary:
    """One line of the run history."""

    id: str
    created_at: datetime
    mode: str
    question: str
    status: str
    reasoner: str | None
    image_backend: str | None
    images: int

    @property
    def label(self) -> str:
        q = " ".join(self.question.split())
        q = q if len(q) <= 50 else q[:49] + "…"
        who = f"{self.reasoner or 'pasted'} → {self.image_backend or 'crops'}"
        return f"{self.created_at:%m-%d %H:%M:%S} · {self.mode} · {self.status} · {who} · {q}"


def sample_turns(run: ReasoningRun) -> list[dict[str, Any]]:
    """The run as ordered text and image segments (images that failed to render are left out)."""
    turns: list[dict[str, Any]] = []
    for item in run.segments or []:
        kind = item.get("kind")
        if kind in ("text", "critique") and item.get("status", "ready") == "ready":
            turns.append({"type": "text", "text": item.get("text", "")})
        elif kind in ("image", "crop") and item.get("image"):
            turns.append({"type": "image", "image": item["image"], "description": item.get("text", "")})
    if run.final_answer:
        turns.append({"type": "text", "text": f"Final answer: {run.final_answer}"})
    return turns


class RunStore:
    """Reads and writes ``reasoning_runs`` through the studio's database."""

    def __init__(self, studio) -> None:
        self.studio = studio

    def save(self, state: "RunState") -> str:
        """Insert the run (or update it when it already has an id); returns its id."""
        fields = dict(
            mode=state.mode, question=state.question, input_image=state.input_image,
            reasoner=state.reasoner, image_backend=state.image_backend, critic=state.critic,
            status=state.status, rationale=state.rationale,
            segments=[i.to_json() for i in state.items], rounds=list(state.rounds),
            final_answer=state.final_answer, final_image=state.final_image,
            timings=dict(state.timings), notices=list(state.notices), llm=list(state.llm),
        )
        with self.studio.db.session() as s:
            row = s.get(ReasoningRun, state.run_id) if state.run_id else None
            if row is None:
                row = ReasoningRun(**fields)
                s.add(row)
            else:
                for k, v in fields.items():
                    setattr(row, k, v)
            s.flush()
            return row.id

    def get(self, run_id: str) -> ReasoningRun:
        """The run with this id; ReasoningInputError when there is none."""
        with self.studio.db.session() as s:
            row = s.get(ReasoningRun, (run_id or "").strip())
        if row is None:
            raise ReasoningInputError(f"no reasoning run {run_id!r}")
        return row

    def recent(self, limit: int = 50) -> list[RunSummary]:
        """The newest runs first."""
        stmt = select(ReasoningRun).order_by(ReasoningRun.created_at.desc()).limit(limit)
        with self.studio.db.session() as s:
            rows = s.scalars(stmt).all()
        return [
            RunSummary(r.id, r.created_at, r.mode, r.question, r.status, r.reasoner, r.image_backend,
                       sum(1 for i in r.segments or [] if i.get("image")))
            for r in rows
        ]

    def export_sample(self, run_id: str, dataset: str = "default") -> tuple[str, bool]:
        """Write the run into ``samples`` (task "reasoning"); returns (sample id, newly created)."""
        run = self.get(run_id)
        if run.sample_id:
            return run.sample_id, False
        turns = sample_turns(run)
        if not any(t["type"] == "image" for t in turns):
            raise ReasoningInputError(f"run {run.id[:8]} has no rendered image ({run.status}); nothing to export")
        dataset = (dataset or "").strip() or "default"
        if len(dataset) > 128:
            raise ReasoningInputError("dataset names are at most 128 characters")
        mode = get_mode(run.mode)
        sample_id = self.studio.samples.add(
            task="reasoning", prompt=run.question,
            input_images=[run.input_image] if run.input_image else [],
            output_image=run.final_image, turns=turns,
            attributes={"mode": run.mode, "subset": mode.subset, "status": run.status,
                        "final_answer": run.final_answer, "rounds": len(run.rounds or [])},
            backend=run.image_backend, method="reasoning", source="reasoning", dataset=dataset,
            provenance={"reasoning_run": run.id, "reasoner": run.reasoner, "critic": run.critic,
                        "image_backend": run.image_backend, "timings": run.timings},
            llm={"rationale": run.rationale, "calls": run.llm},
        )
        with self.studio.db.session() as s:
            row = s.get(ReasoningRun, run.id)
            row.sample_id = sample_id
        return sample_id, True

    def send_to_annotation(self, run_a: str, run_b: str, batch: str) -> str:
        """Add runs A and B (same question, same mode) as one blind comparison; returns the item id."""
        try:
            from studio.annotation import AnnotationError, service
        except ImportError:
            raise ReasoningInputError("the annotation area is not part of this build") from None
        a, b = self.get(run_a), self.get(run_b)
        if a.id == b.id:
            raise ReasoningInputError("pick two different runs to compare")
        if a.mode != b.mode or " ".join(a.question.split()) != " ".join(b.question.split()):
            raise ReasoningInputError("compare runs of the same mode and question (two reasoners or two image backends)")
        if not a.final_image or not b.final_image:
            missing = a if not a.final_image else b
            raise ReasoningInputError(f"run {missing.id[:8]} has no rendered image to compare")
        model_a, model_b = _model_name(a), _model_name(b)
        if model_a == model_b:
            model_a, model_b = f"{model_a} #{a.id[:6]}", f"{model_b} #{b.id[:6]}"
        task = "edit" if a.mode == "edit" else "text-to-image"
        try:
            batch_id = service.ensure_batch(self.studio, (batch or "").strip() or "reasoning")
            return service.add_comparison(
                self.studio, batch_id, prompt=a.question, task=task,
                output_a=a.final_image, model_a=model_a, output_b=b.final_image, model_b=model_b,
                source_image=a.input_image if task == "edit" else None,
                provenance={"reasoning_runs": [a.id, b.id], "mode": a.mode},
                item_key=f"reasoning:{a.id}:{b.id}",
            )
        except AnnotationError as exc:
            raise ReasoningInputError(str(exc)) from None


def _model_name(run: ReasoningRun) -> str:
    """What produced a run's image: reasoner (or 'pasted') and image backend."""
    return f"{run.reasoner or run.critic or 'pasted'} → {run.image_backend or 'crops'}"[:128]
