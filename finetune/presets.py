"""Training presets: the papers' recipes, the diffusers example defaults, and the user's own.

A preset is a partial config (the form fills the rest). Built-in presets are read-only; user
presets and a run's config saved "as preset" are YAML files under ``<data_dir>/finetune_presets``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from studio.yamlio import load_yaml

from studio.settings import ASSETS_DIR

#: the small CPU base model the studio trains itself (scripts/train_cpu_base_model.py)
CPU_BASE_MODEL = ASSETS_DIR / "models" / "tiny-shapes"
#: teal shapes from the procedural engine (a colour the tiny model never saw) and known-colour keep rows
CPU_NEW_COLOUR_DATASET = ASSETS_DIR / "datasets" / "teal-shapes" / "text_to_image.json"

JANUS4O_PRESET = "Janus-4o (paper: full, 8×80 GB GPUs, lr 5e-6, batch 128, 3 epochs)"

#: what a user should know before running a built-in preset: the hardware it needs and its choices
PRESET_NOTES: dict[str, str] = {
    JANUS4O_PRESET: (
        "Needs 8 GPUs of 80 GB (the paper used 8×A800): it runs as 8 processes with FSDP full sharding "
        "(DeepSpeed ZeRO-2, as upstream, is the other choice); Validate shows the memory estimate per GPU "
        "before launch. Choices, as the released training code: all parameters train except the VQ "
        "tokenizer and the text head, which the image-token loss does not reach; prompt masking (10%) only "
        "on text-only rows; each input image's VQ tokens masked whole with probability 0.5; images padded "
        "to square by the checkpoint's image processor, as at inference; every input image used; no "
        "flips. One difference: the first image token is also trained (upstream's shifted loss skips it)."
    ),
}

BUILTIN_PRESETS: dict[str, dict[str, Any]] = {
    # diffusers examples/text_to_image/train_text_to_image_lora.py, README command
    "diffusers LoRA (text-to-image)": {
        "task": "text-to-image", "method": "lora",
        "lora": {"rank": 4, "alpha": 4.0, "dropout": 0.0, "target_modules": "unet-attention"},
        "learning_rate": 1e-4, "lr_scheduler": "cosine", "lr_warmup_steps": 0, "max_steps": 15000,
        "batch_size": 1, "gradient_accumulation_steps": 4, "resolution": 512, "random_flip": True,
        "center_crop": True, "mixed_precision": "fp16", "seed": 1337, "checkpointing_steps": 500,
        "checkpoints_total_limit": 2, "max_grad_norm": 1.0,
    },
    # diffusers examples/instruct_pix2pix/train_instruct_pix2pix.py, README command
    "InstructPix2Pix (full, diffusers example)": {
        "task": "edit", "method": "full", "learning_rate": 5e-5, "lr_scheduler": "constant",
        "lr_warmup_steps": 0, "max_steps": 15000, "batch_size": 4, "gradient_accumulation_steps": 4,
        "resolution": 256, "random_flip": True, "gradient_checkpointing": True, "mixed_precision": "fp16",
        "conditioning_dropout": 0.05, "seed": 42, "max_grad_norm": 1.0, "checkpointing_steps": 5000,
    },
    # ShareGPT-4o-Image paper §3.3 and its released train_janus.py / sft.yaml: full fine-tune of
    # Janus-Pro-7B on 8 GPUs (8×A800 80 GB), lr 5e-6, batch 128, 3 epochs, T2I and TI2I jointly.
    JANUS4O_PRESET: {
        "task": "janus-ti2i", "method": "full", "learning_rate": 5e-6, "num_epochs": 3, "max_steps": 0,
        # batch 128 = 8 processes × batch_size 1 × accumulation 16
        "batch_size": 1, "gradient_accumulation_steps": 16,
        # upstream's schedule and optimizer: cosine, 5% warm-up, down to 15% of the peak; weight decay 0.1
        "lr_scheduler": "cosine", "lr_warmup_ratio": 0.05, "lr_min_ratio": 0.15, "weight_decay": 0.1,
        "max_grad_norm": 1.0, "seed": 42,
        # bf16 compute over fp32 master weights, sharded across the 8 GPUs (finetune/accelerate_configs)
        "mixed_precision": "bf16", "gradient_checkpointing": True, "num_processes": 8, "sharding": "fsdp",
        "prompt_mask_prob": 0.1, "image_token_mask_prob": 0.5, "random_flip": False,
        "resolution": 384, "checkpointing_steps": 200,
    },
    "Janus LoRA (text-to-image)": {
        "task": "janus-t2i", "method": "lora",
        "lora": {"rank": 16, "alpha": 32.0, "dropout": 0.05, "target_modules": "janus-llm"},
        "learning_rate": 1e-4, "num_epochs": 1, "batch_size": 4, "resolution": 384,
        "mixed_precision": "bf16", "prompt_mask_prob": 0.1,
    },
    # minutes on 2 CPU cores: teach the tiny shapes model a colour it has never seen. The dataset has
    # teal shapes plus known-colour "keep" rows (prior preservation, never red), so "a red circle"
    # (the control) stays red while the teal prompts turn teal.
    "CPU: teach the tiny model a new colour (LoRA)": {
        "base_model": str(CPU_BASE_MODEL), "task": "text-to-image", "method": "lora",
        "dataset": {"source": "file", "name": str(CPU_NEW_COLOUR_DATASET)},
        "lora": {"rank": 8, "alpha": 8.0, "dropout": 0.0, "target_modules": "unet-attention"},
        "learning_rate": 2e-3, "lr_scheduler": "constant", "max_steps": 600, "batch_size": 4,
        "resolution": 32, "device": "cpu", "checkpointing_steps": 200, "sample_every": 200,
        "sample_steps": 20, "sample_guidance_scale": 4.0, "seed": 0,
        "sample_prompts": ["a teal circle", "a teal square", "a red circle"],
    },
}

#: the preference loop a newcomer runs on a laptop (bench/preference_loop.py); the dataset is
#: chosen at launch (a folder built by `python -m studio prefs build`)
CPU_PREFERENCE_PRESET = "CPU: Diffusion-DPO on the tiny model (LoRA)"
BUILTIN_PRESETS.update({
    # Wallace et al. 2023 (Diffusion-DPO) in the diffusers research example's LoRA setup: rank 8 on
    # the UNet attention, β 5000 in the paper's convention (the example's 2500), lr 1e-5, batch 1 ×
    # accumulation 64 per device; SD 1.5 at 512 px in fp16. A fifth of the prompts are left empty, as
    # in the authors' training code, so guidance's unconditional branch is trained too.
    "Diffusion-DPO (SD 1.5 LoRA, paper β)": {
        "task": "diffusion-dpo", "method": "lora",
        "lora": {"rank": 8, "alpha": 8.0, "dropout": 0.0, "target_modules": "unet-attention"},
        "beta_dpo": 5000.0, "learning_rate": 1e-5, "lr_scheduler": "constant", "lr_warmup_steps": 0,
        "max_steps": 2000, "batch_size": 1, "gradient_accumulation_steps": 64, "resolution": 512,
        "mixed_precision": "fp16", "checkpointing_steps": 500, "seed": 0, "proportion_empty_prompts": 0.2,
        "dataset": {"source": "preferences", "name": "", "validation_split": 0.05},
    },
    # the baseline every preference method must beat: the same adapter trained on the winners only
    "Winner SFT (SD 1.5 LoRA)": {
        "task": "winner-sft", "method": "lora",
        "lora": {"rank": 8, "alpha": 8.0, "dropout": 0.0, "target_modules": "unet-attention"},
        "learning_rate": 1e-5, "lr_scheduler": "constant", "max_steps": 2000, "batch_size": 1,
        "gradient_accumulation_steps": 64, "resolution": 512, "mixed_precision": "fp16",
        "checkpointing_steps": 500, "seed": 0, "proportion_empty_prompts": 0.2,
        "dataset": {"source": "preferences", "name": ""},
    },
    CPU_PREFERENCE_PRESET: {
        "base_model": str(CPU_BASE_MODEL), "task": "diffusion-dpo", "method": "lora",
        "lora": {"rank": 8, "alpha": 8.0, "dropout": 0.0, "target_modules": "unet-attention"},
        "beta_dpo": 5000.0, "learning_rate": 1e-3, "lr_scheduler": "cosine", "max_steps": 150,
        "batch_size": 4, "resolution": 32, "device": "cpu", "checkpointing_steps": 150, "seed": 0,
        "proportion_empty_prompts": 0.2, "dataset": {"source": "preferences", "name": ""},
        "sample_every": 150, "sample_steps": 10, "sample_guidance_scale": 4.0,
        "sample_prompts": ["a red star", "a yellow heart", "a pink diamond"],
    },
})

_NAME = re.compile(r"^[\w .()+,-]{1,80}$")


class PresetError(ValueError):
    """The preset name or file is unusable; the message says why."""


def presets_dir(studio) -> Path:
    d = Path(studio.settings.data_dir) / "finetune_presets"
    d.mkdir(parents=True, exist_ok=True)
    return d


def list_presets(studio) -> list[str]:
    user = sorted(p.stem for p in presets_dir(studio).glob("*.yaml"))
    return list(BUILTIN_PRESETS) + [u for u in user if u not in BUILTIN_PRESETS]


def load_preset(studio, name: str) -> dict[str, Any]:
    if name in BUILTIN_PRESETS:
        return dict(BUILTIN_PRESETS[name])
    path = presets_dir(studio) / f"{name}.yaml"
    if not _NAME.match(name) or not path.exists():
        raise PresetError(f"no preset named {name!r}")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PresetError(f"preset {name!r} is not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise PresetError(f"preset {name!r} is not a mapping of settings")
    return data


#: fields that belong to one run, never to a reusable preset
RUN_ONLY = ("output_dir", "run_id", "database_url", "manifest")


def save_preset(studio, name: str, config: dict[str, Any]) -> Path:
    """Save a (partial) config under ``name``; built-in names cannot be overwritten."""
    name = name.strip()
    if not _NAME.match(name):
        raise PresetError("a preset name is 1-80 letters, digits, spaces or . ( ) + , - _")
    if name in BUILTIN_PRESETS:
        raise PresetError(f"{name!r} is a built-in preset; choose another name")
    data = {k: v for k, v in config.items() if k not in RUN_ONLY}
    path = presets_dir(studio) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path

#: DPO on Janus image tokens (finetune/janus_dpo_task.py); the pairs folder is chosen at launch
JANUS_DPO_PRESET = "Janus: DPO on image tokens (LoRA)"
PRESET_NOTES[JANUS_DPO_PRESET] = (
    "DPO (Rafailov et al. 2023) on the image tokens of a Janus / Janus-Pro text-to-image model; pick "
    "janus-dpo-edit for Janus-4o edit pairs. β 0.1 is the DPO paper's default (and TRL's); the reference "
    "is the base with the adapter off, so no second copy is loaded. LoRA dropout is 0 so that policy and "
    "reference agree exactly at the first step (the loss starts at log 2). The learning rate and batch "
    "(16 pairs per step) are a starting point, not a published Janus DPO recipe. Validate shows the "
    "memory estimate before launch."
)
BUILTIN_PRESETS[JANUS_DPO_PRESET] = {
    "task": "janus-dpo", "method": "lora",
    "lora": {"rank": 16, "alpha": 32.0, "dropout": 0.0, "target_modules": "janus-llm"},
    "beta_dpo": 0.1, "learning_rate": 5e-6, "lr_scheduler": "cosine", "lr_warmup_ratio": 0.1,
    "num_epochs": 1, "max_steps": 0, "batch_size": 2, "gradient_accumulation_steps": 8,
    "resolution": 384, "mixed_precision": "bf16", "gradient_checkpointing": True,
    "checkpointing_steps": 100, "seed": 0, "random_flip": False,
    "dataset": {"source": "preferences", "name": "", "validation_split": 0.05},
}
