"""Training tasks on preference pairs for diffusers UNet models: Diffusion-DPO and winner SFT.

A manifest row is ``{"prompt", "chosen_image", "rejected_image", "input_images", "weight", "ref"}``
(written by :mod:`finetune.preference_data`). Both tasks reuse :class:`DiffusionTask` for loading,
LoRA, saving and sampling, so an adapter from either loads like any other text-to-image/edit adapter.

- Diffusion-DPO: winner and loser latents get the same noise and timestep; the reference is the
  same UNet with the LoRA adapter disabled (no second copy in memory), or a frozen copy of the base
  for full fine-tuning. As in supervised training, some prompts are left empty (text-to-image,
  ``proportion_empty_prompts``) or some conditioning dropped (edits, ``conditioning_dropout``), the
  same for both images of a pair, so guidance's unconditional predictions learn too.
- Winner SFT: the ordinary denoising loss on the chosen images only (rejection-sampling
  fine-tuning), the baseline a preference method has to beat.
"""
from __future__ import annotations

import copy
import random
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from finetune.config import TrainConfig
from finetune.diffusion_task import DiffusionTask, image_to_tensor
from finetune.dpo import diffusion_dpo_loss

#: preference task -> the supervised task whose model setup it shares
INNER_TASK = {"diffusion-dpo": "text-to-image", "diffusion-dpo-edit": "edit",
              "winner-sft": "text-to-image", "winner-sft-edit": "edit"}


def _inner(config: TrainConfig) -> TrainConfig:
    return config.model_copy(update={"task": INNER_TASK[config.task]})


class WinnerSFTTask(DiffusionTask):
    """Supervised fine-tuning on the preferred image of each pair."""

    def __init__(self, config: TrainConfig, device: torch.device, weight_dtype: torch.dtype) -> None:
        super().__init__(_inner(config), device, weight_dtype)

    def make_example(self, row: dict[str, Any]) -> dict[str, torch.Tensor]:
        return super().make_example({**row, "output_image": row["chosen_image"]})


class DiffusionDPOTask(DiffusionTask):
    """Diffusion-DPO on (prompt, winner, loser[, source]) rows."""

    #: noise/timestep draws per held-out pair in the validation figures
    VALIDATION_DRAWS = 4

    def __init__(self, config: TrainConfig, device: torch.device, weight_dtype: torch.dtype) -> None:
        super().__init__(_inner(config), device, weight_dtype)
        self.beta = config.beta_dpo
        self.ref_unet = None
        if config.method == "full":
            self.ref_unet = copy.deepcopy(self.unet).requires_grad_(False).eval()
            self.ref_unet.to(device, dtype=weight_dtype)
        self.last_metrics: dict[str, float] = {}

    # -- data ------------------------------------------------------------------------------
    def make_example(self, row: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        flip = c.random_flip and random.random() < 0.5  # the same flip for both images of a pair
        ex = {"pixel_values_w": image_to_tensor(row["chosen_image"], c.resolution, c.center_crop, flip),
              "pixel_values_l": image_to_tensor(row["rejected_image"], c.resolution, c.center_crop, flip),
              "input_ids": self.tokenize([self.training_prompt(row["prompt"])])[0],
              "weight": torch.tensor(float(row.get("weight", 1.0)))}
        if self.edit:
            ex["source_pixel_values"] = image_to_tensor(row["input_images"][0], c.resolution, c.center_crop, flip)
        return ex

    # -- the reference model ---------------------------------------------------------------
    @contextmanager
    def reference(self):
        """The frozen reference UNet: the base with the adapter off (LoRA) or the frozen copy (full)."""
        if self.ref_unet is not None:
            yield self.ref_unet
            return
        self.unet.disable_adapters()
        try:
            yield self.unet
        finally:
            self.unet.enable_adapters()

    # -- training --------------------------------------------------------------------------
    def _inputs(self, batch: dict[str, torch.Tensor]):
        """Noisy latents of winners then losers (shared noise and timestep), timesteps, text, target."""
        dt = self.weight_dtype
        pixels = torch.cat([batch["pixel_values_w"], batch["pixel_values_l"]]).to(self.device, dtype=dt)
        with torch.no_grad():
            latents = self.vae.encode(pixels).latent_dist.sample() * self.vae.config.scaling_factor
            hidden = self.text_encoder(batch["input_ids"].to(self.device), return_dict=False)[0]
        pairs = latents.shape[0] // 2
        noise = torch.randn_like(latents[:pairs]).repeat(2, 1, 1, 1)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (pairs,),
                                  device=latents.device).long().repeat(2)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        hidden = hidden.repeat(2, 1, 1)
        if self.edit:
            with torch.no_grad():
                src = self.vae.encode(batch["source_pixel_values"].to(self.device, dtype=dt)).latent_dist.mode()
            # one draw per pair: winner and loser lose the same conditioning, as they share noise and step
            draws = torch.rand(pairs, device=latents.device).repeat(2)
            hidden, _, src = self.drop_conditioning(draws, hidden, None, src.repeat(2, 1, 1, 1))
            noisy = torch.cat([noisy, src], dim=1)
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return noisy, timesteps, hidden, target

    @staticmethod
    def _errors(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        err = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        return err.chunk(2)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        noisy, timesteps, hidden, target = self._inputs(batch)
        err_w, err_l = self._errors(model(noisy, timesteps, hidden, return_dict=False)[0], target)
        with torch.no_grad(), self.reference() as ref:
            ref_w, ref_l = self._errors(ref(noisy, timesteps, hidden, return_dict=False)[0], target)
        loss, figures = diffusion_dpo_loss(err_w, err_l, ref_w, ref_l, self.beta,
                                           batch["weight"].to(err_w.device))
        self.last_metrics = {"dpo_loss": float(loss.detach()), **figures,
                             "policy_error_gap": float((err_w - err_l).detach().mean())}
        return loss

    @torch.no_grad()
    def held_out_metrics(self, model: torch.nn.Module, rows: list[dict[str, Any]], seed: int) -> dict[str, float]:
        """DPO loss, reward margin and accuracy on held-out pairs (fixed noise, so steps compare).

        Each pair is scored at ``VALIDATION_DRAWS`` noise/timestep draws: one draw per pair decides
        the sign of its logit nearly by chance on a small split, so settings could not be told apart.
        """
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        totals = {"val_dpo_loss": 0.0, "val_reward_margin": 0.0, "val_reward_accuracy": 0.0}
        n = 0
        for _ in range(self.VALIDATION_DRAWS):
            for i in range(0, len(rows), self.config.batch_size):
                chunk = rows[i:i + self.config.batch_size]
                batch = torch.utils.data.default_collate([self.make_example(r) for r in chunk])
                loss = self.loss(model, batch)
                totals["val_dpo_loss"] += float(loss) * len(chunk)
                totals["val_reward_margin"] += self.last_metrics["reward_margin"] * len(chunk)
                totals["val_reward_accuracy"] += self.last_metrics["reward_accuracy"] * len(chunk)
                n += len(chunk)
        torch.random.set_rng_state(state)
        self.last_metrics = {}
        return {k: v / max(1, n) for k, v in totals.items()}
