"""Refusals before a preference run starts: each names what is wrong and what to do instead."""
from __future__ import annotations

import json
from pathlib import Path

from finetune.config import TrainConfig
from finetune.datasets import ValidationReport
from finetune.preference_data import too_few_pairs

#: Diffusion-DPO β the method is meaningful for: below, the reference hardly constrains the policy;
#: above, the sigmoid saturates on the first step. The paper's SD 1.5 / SDXL runs use 5000.
BETA_RANGE = (10.0, 50_000.0)
#: highest learning rates a preference run accepts (the published recipes are far lower; the CPU
#: preset uses 1e-3 for a rank-8 adapter on the tiny model)
MAX_LR = {"lora": 1e-2, "full": 1e-4}


def preference_refusal(config: TrainConfig, report: ValidationReport) -> str | None:
    """Why the base model, β, learning rate or the pairs cannot make a useful run (None: they can)."""
    dpo = config.task.startswith("diffusion-dpo")
    base = Path(config.base_model).expanduser()
    if base.exists():
        if (base / "transformer").is_dir() or (base / "config.json").exists() and not (base / "unet").is_dir():
            return (f"{config.task} supports diffusers UNet pipelines (SD 1.x/2.x-shaped text-to-image, "
                    "InstructPix2Pix editing); this base is not one. Pick a UNet pipeline folder.")
        in_ch = json.loads((base / "unet" / "config.json").read_text()).get("in_channels", 4)
        edit = config.task.endswith("-edit")
        if edit and in_ch != 8:
            return (f"{config.task} trains an editing model and needs an InstructPix2Pix base (UNet "
                    f"with 8 input channels); this UNet takes {in_ch}. Use an editing base model, or "
                    "the text-to-image task with a text-to-image batch.")
        if not edit and in_ch != 4:
            return (f"the base UNet takes {in_ch} input channels (an editing model); pick "
                    f"{config.task}-edit with an edit batch, or a text-to-image base model")
    if dpo and not (BETA_RANGE[0] <= config.beta_dpo <= BETA_RANGE[1]):
        return (f"beta_dpo {config.beta_dpo:g} is outside {BETA_RANGE[0]:g}–{BETA_RANGE[1]:g}; "
                "the Diffusion-DPO recipe uses 5000 (2500 in the diffusers example's convention)")
    top = MAX_LR[config.method]
    if config.learning_rate > top:
        return (f"learning rate {config.learning_rate:g} is above {top:g} for a {config.method} "
                "preference run; it would undo the base model in a few steps. Lower it "
                "(the Diffusion-DPO LoRA recipe uses 1e-5 to 5e-4; full fine-tuning about 1e-8 × batch)")
    return too_few_pairs(report)
