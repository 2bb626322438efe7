"""DPO on image tokens for Janus / Janus-4o (Rafailov et al. 2023, applied to the generation head).

A pair is (prompt, chosen image, rejected image[, source image for Janus-4o edits]). Both images are
encoded to VQ token ids by the model's own VQ encoder; each is laid out as the supervised Janus task
lays out a row (``generation_prompt_ids`` + ``condition_embeddings`` + the image tokens, through
:func:`finetune.janus_task.image_token_logits`), with the condition kept whole (no prompt or image-token
masking: DPO compares the two images under the same condition inference uses). The summed
log-probability of each image's tokens under the policy and the frozen reference gives

    loss = -log σ(β · ((log π(c) - log π_ref(c)) - (log π(r) - log π_ref(r))))

with β from ``beta_dpo`` (0.1 by default for these tasks, see :mod:`finetune.janus_dpo_checks`).
The reference is the same model with the LoRA adapter disabled (no second copy in memory), or a frozen
copy of the base for full fine-tuning. Both passes run in the module's ``forward`` (the reference's
without gradients), so distributed wrappers see the call and mixed precision treats them alike.
"""
from __future__ import annotations

import copy
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable

import torch

from finetune.config import TrainConfig
from finetune.dpo import dpo_loss
from finetune.janus_task import JanusTask, _draw, image_token_logits


def sequence_logps(janus: torch.nn.Module, prompts: list[torch.Tensor], targets: torch.Tensor,
                   pad_id: int) -> torch.Tensor:
    """Summed log-probability ``[B]`` of each row's image tokens ``targets[i]`` after ``prompts[i]``."""
    logits = image_token_logits(janus, prompts, targets, pad_id).float()
    token_logps = torch.gather(logits.log_softmax(-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    return token_logps.sum(-1)


class JanusDPOLoss(torch.nn.Module):
    """The Janus model with the DPO loss as its forward: ``loss = module(batch, targets)``.

    ``reference()`` enters the frozen reference model (a plain callable, not a submodule: the reference
    is never wrapped, optimized or saved with the policy).
    """

    def __init__(self, janus: torch.nn.Module, tokens: Any, tokenizer: Any, beta: float,
                 reference: Callable[[], AbstractContextManager[torch.nn.Module]]) -> None:
        super().__init__()
        self.janus = janus
        self.reference = reference
        self.tokens = tokens
        self.tokenizer = tokenizer
        self.beta = beta
        self.pad_id = tokens.ids(tokenizer)["pad"]
        self.figures: dict[str, float] = {}

    def logps(self, janus: torch.nn.Module, batch: list[dict[str, Any]], targets: torch.Tensor) -> torch.Tensor:
        """Summed log-probabilities ``[2B]`` under ``janus``: chosen images first, then rejected."""
        from backends.janus_sampling import condition_embeddings

        prompts = []
        for ex in batch:
            sources = ex.get("source_pixel_values")
            keep = [True] * (0 if sources is None else sources.shape[0])
            prompts.append(condition_embeddings(janus, ex["input_ids"], sources, self.tokens, self.tokenizer,
                                                keep_vq=keep))
        return sequence_logps(janus, prompts + prompts, targets, self.pad_id)

    def forward(self, batch: list[dict[str, Any]], targets: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self.reference() as ref:
            reference = self.logps(ref, batch, targets)
        return self.pair_loss(batch, self.logps(self.janus, batch, targets), reference)

    def pair_loss(self, batch: list[dict[str, Any]], policy: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """The weighted DPO loss from log-probabilities ``[2B]`` (chosen first); keeps the logged figures."""
        n = len(batch)
        weights = torch.tensor([float(ex["weight"]) for ex in batch], device=policy.device)
        loss, figures = dpo_loss(policy[:n], policy[n:], reference[:n], reference[n:], self.beta, weights)
        self.figures = {"dpo_loss": float(loss.detach()), **figures,
                        "chosen_logp": float(policy[:n].detach().mean()),
                        "rejected_logp": float(policy[n:].detach().mean())}
        return loss


class JanusDPOTask(JanusTask):
    """DPO on (prompt, chosen, rejected[, source]) rows: ``janus-dpo`` (text-to-image) and
    ``janus-dpo-edit`` (Janus-4o edits, the source image in the user turn)."""

    def __init__(self, config: TrainConfig, device: torch.device, weight_dtype: torch.dtype) -> None:
        super().__init__(config, device, weight_dtype)
        self.edit = config.task.endswith("-edit")
        self.ref_model = None
        if config.method == "full":
            self.ref_model = copy.deepcopy(self.model).requires_grad_(False).eval().to(device, weight_dtype)
        self.module = JanusDPOLoss(self.model, self.tokens, self.tokenizer, config.beta_dpo, self.reference)
        self.last_metrics: dict[str, float] = {}

    # -- data ------------------------------------------------------------------------------
    def make_example(self, row: dict[str, Any]) -> dict[str, Any]:
        """Prompt ids (the supervised task's layout) and the pixels of both images of a pair."""
        from backends.janus_sampling import generation_prompt_ids

        flip = self.config.random_flip and _draw() < 0.5  # one flip for every image of a pair
        sources = list(row.get("input_images") or []) if self.edit else []
        ex: dict[str, Any] = {
            "input_ids": generation_prompt_ids(self.tokenizer, row["prompt"], self.tokens, n_images=len(sources),
                                               n_image_tokens=self.n_image_tokens),
            "chosen_pixel_values": self._pixels([row["chosen_image"]], flip)[0],
            "rejected_pixel_values": self._pixels([row["rejected_image"]], flip)[0],
            "weight": float(row.get("weight", 1.0)),
        }
        if sources:
            ex["source_pixel_values"] = self._pixels(sources, flip)
        return ex

    # -- the reference model ---------------------------------------------------------------
    @contextmanager
    def reference(self):
        """The frozen reference Janus: the base with the adapter off (LoRA) or the frozen copy (full)."""
        if self.ref_model is not None:
            yield self.ref_model
            return
        lm = self.model.model.language_model
        lm.disable_adapters()
        try:
            yield self.model
        finally:
            lm.enable_adapters()

    def image_tokens(self, batch: list[dict[str, Any]]) -> torch.Tensor:
        """VQ token ids ``[2B, n]`` of the chosen images, then the rejected ones (the VQ model is frozen)."""
        vq = self.model.model.vqmodel
        pixels = torch.stack([ex["chosen_pixel_values"] for ex in batch]
                             + [ex["rejected_pixel_values"] for ex in batch]).to(self.device, vq.dtype)
        with torch.no_grad():
            return vq.encode(pixels).image_tokens.view(pixels.shape[0], -1)

    # -- training --------------------------------------------------------------------------
    def loss(self, module: torch.nn.Module, batch: list[dict[str, Any]]) -> torch.Tensor:
        """Calls the (possibly wrapped) module, so distributed wrappers run their forward hooks."""
        loss = module(batch, self.image_tokens(batch))
        self.last_metrics = dict(self.module.figures)
        return loss

    @torch.no_grad()
    def held_out_metrics(self, model: torch.nn.Module, rows: list[dict[str, Any]], seed: int) -> dict[str, float]:
        """DPO loss, reward margin and accuracy on held-out pairs (a fixed seed, so steps compare)."""
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        totals = {"val_dpo_loss": 0.0, "val_reward_margin": 0.0, "val_reward_accuracy": 0.0}
        for i in range(0, len(rows), self.config.batch_size):
            chunk = rows[i:i + self.config.batch_size]
            loss = self.loss(model, self.collate([self.make_example(r) for r in chunk]))
            totals["val_dpo_loss"] += float(loss) * len(chunk)
            totals["val_reward_margin"] += self.last_metrics["reward_margin"] * len(chunk)
            totals["val_reward_accuracy"] += self.last_metrics["reward_accuracy"] * len(chunk)
        torch.random.set_rng_state(state)
        self.last_metrics = {}
        return {k: v / max(1, len(rows)) for k, v in totals.items()}
