"""Refusals before a DPO run on Janus image tokens starts: each names what is wrong and what to do instead.

Kept apart from :mod:`finetune.janus_dpo_task` so the launcher checks a run without importing torch.
The base model itself (a transformers Janus folder, not DeepSeek's format) is checked by
``finetune.launcher.check_base_model`` for every Janus task; the pairs (images present, decisive, edit
pairs only for the edit variant) by ``finetune.preference_data.validate_pairs``.
"""
from __future__ import annotations

from finetune.config import JANUS_DPO_BETA as DEFAULT_BETA
from finetune.config import TrainConfig
from finetune.datasets import ValidationReport
from finetune.preference_data import too_few_pairs

#: below, the reference hardly constrains the policy; above, a few hundred image tokens' log-ratio
#: saturates the sigmoid at the first step. Published LLM-DPO runs use 0.01–0.5.
BETA_RANGE = (0.01, 1.0)
#: highest learning rates accepted: the DPO paper trains full models at 1e-6; an adapter takes more
MAX_LR = {"lora": 1e-3, "full": 1e-5}


def janus_dpo_refusal(config: TrainConfig, report: ValidationReport) -> str | None:
    """Why β, the learning rate or the number of pairs cannot make a useful run (None: they can)."""
    if not (BETA_RANGE[0] <= config.beta_dpo <= BETA_RANGE[1]):
        return (f"beta_dpo {config.beta_dpo:g} is outside {BETA_RANGE[0]:g}–{BETA_RANGE[1]:g} for DPO on image "
                f"tokens (β scales log-probabilities here, not Diffusion-DPO's denoising errors); the DPO "
                f"recipe uses {DEFAULT_BETA:g}")
    top = MAX_LR[config.method]
    if config.learning_rate > top:
        return (f"learning rate {config.learning_rate:g} is above {top:g} for a {config.method} DPO run on "
                "Janus; it would undo the base model in a few steps. Lower it (the DPO recipe trains full "
                "models at 1e-6; the Janus DPO LoRA preset uses 5e-6)")
    return too_few_pairs(report)
