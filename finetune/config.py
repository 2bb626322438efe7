"""The training config: one YAML file per run, validated before anything is launched.

The tab and the CLI write it; ``python -m finetune.train CONFIG`` reads it. Errors name the field
and the allowed values so a user can fix the form or the file.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml

from studio.yamlio import load_yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TASKS = ("text-to-image", "edit", "janus-t2i", "janus-ti2i")
#: tasks that train on preference pairs (finetune.preference_task); their dataset source is "preferences"
PREFERENCE_TASKS = ("diffusion-dpo", "diffusion-dpo-edit", "winner-sft", "winner-sft-edit", "janus-dpo",
                    "janus-dpo-edit")
METHODS = ("lora", "full")
#: β of DPO on sequences (Rafailov et al. 2023) scales the summed log-probability ratios; 0.1 is the
#: paper's default and TRL's ``DPOConfig.beta`` default. Not Diffusion-DPO's β (thousands), which
#: scales denoising errors.
JANUS_DPO_BETA = 0.1
#: which rows a task trains on ("edit" rows carry a source image; "mixed" takes both, as Janus-4o)
TASK_SAMPLE_KIND = {"text-to-image": "text-to-image", "edit": "edit", "janus-t2i": "text-to-image",
                    "janus-ti2i": "mixed", "diffusion-dpo": "text-to-image", "diffusion-dpo-edit": "edit",
                    "winner-sft": "text-to-image", "winner-sft-edit": "edit", "janus-dpo": "text-to-image",
                    "janus-dpo-edit": "edit"}


#: the devices a run may name (anything else never reaches a process)
DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d{1,2})?|\d{1,2}(,\d{1,2}){0,15}")

class ConfigError(ValueError):
    """The config is invalid; the message names each bad field and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSpec(_Strict):
    rank: int = Field(4, ge=1, le=1024)
    alpha: float = Field(4.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    #: a preset name from finetune.lora.TARGET_PRESETS ("auto" picks by architecture) or module names
    target_modules: str | list[str] = "auto"


class DatasetSpec(_Strict):
    #: "studio": samples of a studio dataset; "file": a ShareGPT-4o-Image / OpenGPT-4o-Image JSON file;
    #: "preferences": a preference-pair folder (Pick-a-Pic columns, finetune.preference_data)
    source: Literal["studio", "file", "preferences"] = "studio"
    #: the studio dataset name (source=studio) or the JSON file path (source=file)
    name: str = "default"
    #: rows with problems are dropped instead of refusing to launch
    skip_invalid: bool = False
    #: fraction of rows held out to compute a validation loss (0 = none)
    validation_split: float = Field(0.0, ge=0, lt=0.5)
    #: at most this many rows (0 = all)
    limit: int = Field(0, ge=0)


class TrainConfig(_Strict):
    name: str = ""
    task: Literal["text-to-image", "edit", "janus-t2i", "janus-ti2i", "diffusion-dpo", "diffusion-dpo-edit",
                  "winner-sft", "winner-sft-edit", "janus-dpo", "janus-dpo-edit"] = "text-to-image"
    method: Literal["lora", "full"] = "lora"
    #: a diffusers pipeline folder or hub id (Janus: a transformers Janus folder or id)
    base_model: str
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    lora: LoraSpec = Field(default_factory=LoraSpec)
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    lr_scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = "constant"
    lr_warmup_steps: int = Field(0, ge=0)
    #: warm-up as a fraction of all optimizer steps (used instead of lr_warmup_steps when > 0)
    lr_warmup_ratio: float = Field(0.0, ge=0, lt=1)
    #: cosine: the learning rate decays to this fraction of its peak instead of to 0
    lr_min_ratio: float = Field(0.0, ge=0, le=1)
    #: total optimizer steps; 0 means derive from num_epochs
    max_steps: int = Field(0, ge=0)
    num_epochs: int = Field(1, ge=1)
    batch_size: int = Field(1, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    resolution: int = Field(512, ge=8, le=4096)
    center_crop: bool = True
    random_flip: bool = False
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    seed: int = 0
    max_grad_norm: float = Field(1.0, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    checkpointing_steps: int = Field(500, ge=1)
    checkpoints_total_limit: int = Field(2, ge=1)
    sample_every: int = Field(0, ge=0)
    sample_prompts: list[str] = Field(default_factory=list)
    sample_steps: int = Field(20, ge=1, le=200)
    sample_guidance_scale: float = Field(7.5, ge=1.0, le=30.0)
    #: text-to-image (supervised, Diffusion-DPO, winner SFT): share of training examples whose prompt is
    #: replaced by the empty prompt, so the unconditional prediction that classifier-free guidance
    #: subtracts learns along with the conditional one (the Diffusion-DPO authors' code: 0.2)
    proportion_empty_prompts: float = Field(0.0, ge=0, lt=1)
    #: InstructPix2Pix: probability of dropping the prompt / the source image (classifier-free guidance)
    conditioning_dropout: float = Field(0.05, ge=0, lt=1)
    #: Janus-4o recipe: fraction of prompts replaced by padding, of input-image tokens masked
    prompt_mask_prob: float = Field(0.1, ge=0, le=1)
    image_token_mask_prob: float = Field(0.5, ge=0, le=1)
    #: Diffusion-DPO β (the paper's convention, β/2 inside the sigmoid; SD 1.5 recipe: 5000); for DPO on
    #: Janus image tokens β scales log-probabilities and defaults to JANUS_DPO_BETA when not given
    beta_dpo: float = Field(5000.0, gt=0, le=100_000)
    #: "auto" (cuda when present), "cpu", "cuda", "cuda:N", or GPU ids "0,1" (the GPUs the run may see)
    device: str = "auto"
    #: processes (GPUs) of one run; more than one runs under ``accelerate launch``
    num_processes: int = Field(1, ge=1, le=64)
    #: how the processes share a full fine-tune: none (DDP), fsdp, zero2 (finetune/accelerate_configs/)
    sharding: Literal["none", "fsdp", "zero2"] = "none"
    dataloader_workers: int = Field(0, ge=0)
    #: filled by the launcher: where outputs go, which run row to write, which database
    output_dir: str = ""
    run_id: str = ""
    database_url: str = ""
    #: rows resolved and validated at launch (JSON lines of prompt/output_image/input_images)
    manifest: str = ""

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        v = (v or "").strip()
        if not DEVICE_RE.fullmatch(v):
            raise ValueError("use auto, cpu, cuda, cuda:N or a list of GPU ids such as 0,1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        if self.sample_every and not self.sample_prompts:
            raise ValueError("sample_every is set but sample_prompts is empty")
        if (self.task in PREFERENCE_TASKS) != (self.dataset.source == "preferences"):
            raise ValueError("the preference tasks (diffusion-dpo, winner-sft) train on a preference "
                             "dataset (dataset.source: preferences) and only they do")
        if self.task.startswith("janus-dpo") and "beta_dpo" not in self.model_fields_set:
            self.beta_dpo = JANUS_DPO_BETA
        if self.task.startswith("janus") and self.mixed_precision == "fp16":
            raise ValueError("Janus trains in bf16 or fp32; fp16 is not supported for it")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_config(data: Any, source: str = "config") -> TrainConfig:
    """Validate a mapping; raise ConfigError naming each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "config"
            parts.append(f"{loc}: {err['msg']}")
        raise ConfigError(f"{source}: " + "; ".join(parts)) from None


def load_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_config(data, str(path))


def save_config(config: TrainConfig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    return path
