"""Preference losses: Diffusion-DPO (Wallace et al. 2023) and DPO on token sequences (Rafailov et al. 2023).

Both compare how much the policy improved on the chosen sample relative to the rejected one, each
measured against a frozen reference model, and push that difference up through a log-sigmoid.

Diffusion-DPO replaces log-likelihoods with denoising errors (lower error = higher likelihood):

    inside = -β/2 · ((e_w - e_ref_w) - (e_l - e_ref_l))      loss = -log σ(inside)

where ``e`` is the per-sample mean squared error of the noise (or v) prediction at the same noisy
latent and timestep for policy and reference. The paper's code scales β by 1/2 as written here
(its SD 1.5 runs use β = 5000); the diffusers research example folds the 1/2 into β (default 2500),
so β here = 2 × the example's ``--beta_dpo`` for the same update.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return values.mean()
    weights = weights.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1e-12)


def _summary(inside: torch.Tensor) -> dict[str, float]:
    """Implicit reward margin (mean of the logit) and accuracy (logit > 0; a zero counts half)."""
    acc = (inside > 0).float().mean() + 0.5 * (inside == 0).float().mean()
    return {"reward_margin": float(inside.detach().mean()), "reward_accuracy": float(acc)}


def diffusion_dpo_loss(model_err_w: torch.Tensor, model_err_l: torch.Tensor, ref_err_w: torch.Tensor,
                       ref_err_l: torch.Tensor, beta: float, weights: torch.Tensor | None = None,
                       ) -> tuple[torch.Tensor, dict[str, float]]:
    """The Diffusion-DPO loss from per-pair denoising errors (shape ``(pairs,)`` each).

    Returns the (weighted) mean loss and the logged figures: ``reward_margin`` (mean of the
    logit inside the sigmoid, > 0 when the policy favours the winners more than the reference
    does) and ``reward_accuracy`` (share of pairs with a positive logit).
    """
    inside = -0.5 * beta * ((model_err_w - ref_err_w) - (model_err_l - ref_err_l))
    loss = _weighted_mean(-F.logsigmoid(inside), weights)
    return loss, _summary(inside)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float, weights: torch.Tensor | None = None,
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """The DPO loss from summed log-probabilities of chosen and rejected sequences (shape ``(pairs,)``)."""
    inside = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    loss = _weighted_mean(-F.logsigmoid(inside), weights)
    return loss, _summary(inside)
