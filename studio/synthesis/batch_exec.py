"""What one batch item does: optional LLM composition, then images, then one atomic store.

Text-to-image rows render their prompt; edit rows render their source (and reference) image, then
apply the instruction; multi-turn rows apply their rounds one after another. The sample, its image
records and the item's "done" mark are written in a single transaction (a group of items at a time,
by the batch's writer thread: see batch_writer).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, update

from backends.base import EditRequest, GenerationRequest
from backends.registry import BackendRegistry
from studio.db import utcnow
from studio.images import StoredFile
from studio.samples import SampleStore
from studio.synthesis.llm import LLMComposer
from studio.synthesis.models import SynthesisBatch, SynthesisItem
from studio.synthesis.rows import PlannedRow

PLANNER_VERSION = 1

_items = SynthesisItem.__table__
_MARK_DONE = (update(_items).where(_items.c.id == bindparam("b_id"))
              .values(state="done", sample_id=bindparam("b_sample"), error=None, raw_output=None,
                      updated_at=bindparam("b_now")))


@dataclass
class ItemResult:
    sample: dict[str, Any]
    files: list[StoredFile] = field(default_factory=list)
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class ImageSink(Protocol):
    """Where an item's images go: the image store, or (on a Ray worker) bytes kept for the driver."""

    def put(self, img, text: dict[str, Any] | None = None) -> StoredFile: ...


class ItemExecutor:
    """Turns a planned row into a stored sample with the batch's backends.

    ``samples`` is None where items are only executed (a Ray worker); the process that stores them has one.
    """

    def __init__(self, backends: BackendRegistry, images: ImageSink, samples: SampleStore | None, options,
                 composer: LLMComposer | None, batch_id: str) -> None:
        self.backends = backends
        self.images = images
        self.samples = samples
        self.options = options
        self.composer = composer
        self.batch_id = batch_id

    def _backend(self):
        return self.backends.get(self.options.images_backend) if self.options.images_backend else None

    def _generate(self, backend, prompt: str, seed: int, cancel, files: list[StoredFile]):
        res = backend.generate(GenerationRequest(prompt=prompt, seed=seed, width=self.options.width,
                                                 height=self.options.height, steps=self.options.steps,
                                                 cancel=cancel))
        text = {"scene_graph": res.scene_graph} if res.scene_graph else None
        f = self.images.put(res.image, text)
        files.append(f)
        return res, f

    def _edit(self, backend, image, instruction: str, seed: int, refs, cancel, files: list[StoredFile]):
        res = backend.edit(EditRequest(image=image, instruction=instruction, reference_images=refs,
                                       seed=seed, steps=self.options.steps, cancel=cancel))
        text = {"scene_graph": res.scene_graph} if res.scene_graph else None
        f = self.images.put(res.image, text)
        files.append(f)
        return res, f

    def execute(self, row: PlannedRow, item_id: str, position: int, cancel: threading.Event) -> ItemResult:
        files: list[StoredFile] = []
        backend = self._backend()
        llm: dict[str, Any] | None = None
        calls = ptoks = ctoks = 0
        cost = 0.0
        text, turns = row.text, list(row.turns)
        notes: list[str] = []
        output_sha: str | None = None
        input_shas: list[str] = []
        turn_records: list[dict[str, Any]] | None = None
        source_img = None
        refs = []
        if backend is not None and row.kind != "generation":
            res, f = self._generate(backend, row.source_prompt or row.text, row.seed, cancel, files)
            source_img, input_shas = res.image, [f.sha256]
            notes += res.notices
            if row.reference_prompt:
                rres, rf = self._generate(backend, row.reference_prompt, row.seed + 1, cancel, files)
                refs, input_shas = [rres.image], input_shas + [rf.sha256]
        if row.method == "llm" and self.composer is not None:
            images = []
            if row.meta_prompt_kind == "image-first" and backend is not None:
                res, f = self._generate(backend, row.draft or "", row.seed, cancel, files)
                images, output_sha = [res.image], f.sha256
            elif source_img is not None:
                images = [source_img]
            outcome = self.composer.compose(row, images=images, cancel=cancel)
            text = outcome.text
            turns = outcome.turns or turns
            llm = {**outcome.stats(), "meta_prompt_kind": row.meta_prompt_kind}
            calls, ptoks, ctoks, cost = len(outcome.calls), outcome.prompt_tokens, outcome.completion_tokens, outcome.cost_usd
        if backend is not None:
            if row.kind == "generation" and output_sha is None:
                res, f = self._generate(backend, text, row.seed, cancel, files)
                output_sha = f.sha256
                notes += res.notices
            elif row.kind == "edit":
                res, f = self._edit(backend, source_img, text, row.seed, refs, cancel, files)
                output_sha = f.sha256
                notes += res.notices
            elif row.kind == "multi_turn":
                current, turn_records = source_img, []
                for k, instruction in enumerate(turns):
                    res, f = self._edit(backend, current, instruction, row.seed + k, [], cancel, files)
                    current = res.image
                    turn_records.append({"instruction": instruction, "output_image": f.sha256,
                                         "honored": res.honored, "ignored": res.ignored})
                    notes += res.notices
                output_sha = turn_records[-1]["output_image"] if turn_records else None
        if row.kind == "multi_turn" and turn_records is None:
            turn_records = [{"instruction": t, "output_image": None} for t in turns]
        attributes = dict(row.attributes)
        attributes.update({
            "template": row.template, "constraints": row.constraints,
            "reasoning_steps": row.reasoning_steps, "knowledge": row.knowledge, "difficulty_reason": row.difficulty_reason,
        })
        if row.source_prompt:
            attributes["source_prompt"] = row.source_prompt
        if row.reference_prompt:
            attributes["reference_prompt"] = row.reference_prompt
        if row.draft:
            attributes["draft"] = row.draft
        if notes:
            attributes["backend_notices"] = notes
        sample = {
            "task": row.task, "taxonomy_id": row.taxonomy_id,
            "prompt": turns[0] if row.kind == "multi_turn" and turns else text,
            "input_images": input_shas, "output_image": output_sha, "turns": turn_records,
            "attributes": attributes, "seed": row.seed, "backend": self.options.images_backend,
            "method": row.method, "difficulty": row.difficulty, "source": "synthesis",
            "dataset": self.options.dataset,
            "provenance": {"batch_id": self.batch_id, "item_id": item_id, "position": position,
                           "row_index": row.index, "planner_version": PLANNER_VERSION,
                           "images_backend": self.options.images_backend,
                           "chat_backend": self.options.chat_backend},
            "llm": llm,
        }
        return ItemResult(sample=sample, files=files, llm_calls=calls, prompt_tokens=ptoks,
                          completion_tokens=ctoks, cost_usd=cost)

    def store_many(self, done: "list[tuple[ItemResult, str]]", batch_id: str) -> list[str]:
        """Several finished items (result, item id) in one transaction: their image records and samples
        (through the sample store), their "done" marks and the batch counters."""
        if not done:
            return []
        samples = self.samples
        if samples is None:
            raise RuntimeError("this executor only runs items; the process holding the sample store stores them")
        now = utcnow()
        with samples.db.engine.begin() as c:
            samples.record_files({f.sha256: f for result, _ in done for f in result.files}.values(), conn=c)
            sample_ids = samples.add_many([result.sample for result, _ in done], conn=c)
            c.execute(_MARK_DONE, [{"b_id": item_id, "b_sample": sid, "b_now": now}
                                   for (_, item_id), sid in zip(done, sample_ids)])
            c.execute(update(SynthesisBatch.__table__).where(SynthesisBatch.id == batch_id).values(
                llm_calls=SynthesisBatch.llm_calls + sum(r.llm_calls for r, _ in done),
                prompt_tokens=SynthesisBatch.prompt_tokens + sum(r.prompt_tokens for r, _ in done),
                completion_tokens=SynthesisBatch.completion_tokens + sum(r.completion_tokens for r, _ in done),
                cost_usd=SynthesisBatch.cost_usd + sum(r.cost_usd for r, _ in done),
                heartbeat_at=now, updated_at=now))
        return sample_ids
