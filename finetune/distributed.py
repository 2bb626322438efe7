"""Several processes for one run: the accelerate launch command (DDP, FSDP, DeepSpeed ZeRO-2) and the
GPU memory a run needs per process, estimated from the model's size before anything is launched.

A 7B model does not fit one 80 GB GPU for full fine-tuning with fp32 master weights and AdamW
(16 bytes per parameter); sharded over 8 GPUs it does. The estimate tells the user which before a
multi-hour job runs out of memory at its first step.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from finetune.config import TrainConfig

ACCELERATE_CONFIGS = Path(__file__).resolve().parent / "accelerate_configs"
#: config.sharding -> accelerate config file
SHARDING_FILES = {"fsdp": "fsdp.yaml", "zero2": "deepspeed_zero2.yaml"}
GB = 1024 ** 3


def train_command(config_path: str | Path, config: TrainConfig | None = None) -> list[str]:
    """The command that trains ``config_path``: plain Python for one process, else ``accelerate launch``
    with the config's process count and sharding file."""
    n = config.num_processes if config else 1
    sharding = config.sharding if config else "none"
    if n == 1 and sharding == "none":
        return [sys.executable, "-m", "finetune.train", str(config_path)]
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if sharding != "none":
        command += ["--config_file", str(ACCELERATE_CONFIGS / SHARDING_FILES[sharding])]
    elif n > 1:
        command += ["--multi_gpu"]
    return command + ["--num_processes", str(n), "-m", "finetune.train", str(config_path)]


@dataclass
class MemoryEstimate:
    """Bytes per process: model states (weights, gradients, optimizer) and activations."""

    parameters: int
    trainable: int
    model_states: float
    activations: float
    processes: int
    sharding: str

    @property
    def total(self) -> float:
        return self.model_states + self.activations

    def text(self) -> str:
        how = {"none": "no sharding", "fsdp": "FSDP full shard", "zero2": "DeepSpeed ZeRO-2"}[self.sharding]
        return (f"Estimated GPU memory per process: **{self.total / GB:.1f} GB** "
                f"({self.model_states / GB:.1f} GB weights, gradients and optimizer state + "
                f"{self.activations / GB:.1f} GB activations) for {self.parameters / 1e9:.2f} B parameters "
                f"({self.trainable / 1e9:.2f} B trained) on {self.processes} process(es), {how}. "
                "A rough lower bound: allocator overhead and temporary buffers come on top.")


def _janus_counts(base_model: str) -> dict[str, int] | None:
    """Parameter counts of a Janus checkpoint, from its config on the meta device (no weights read)."""
    import torch
    from transformers import JanusConfig, JanusForConditionalGeneration

    folder = Path(base_model).expanduser()
    try:
        if folder.is_dir():
            data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            if data.get("model_type") != "janus":
                return None
            config = JanusConfig(**{k: v for k, v in data.items() if k != "model_type"})
        else:
            config = JanusConfig.from_pretrained(base_model, local_files_only=True)
    except (OSError, ValueError, TypeError):
        return None
    with torch.device("meta"):
        model = JanusForConditionalGeneration(config)
    text = config.get_text_config()
    total = sum(p.numel() for p in model.parameters())
    frozen = sum(p.numel() for p in model.model.vqmodel.parameters())
    if model.lm_head.weight is not model.get_input_embeddings().weight:
        frozen += model.lm_head.weight.numel()
    return {"total": total, "frozen": frozen, "layers": text.num_hidden_layers, "hidden": text.hidden_size,
            "intermediate": text.intermediate_size, "image_tokens": config.vision_config.num_image_tokens,
            "codebook": config.vq_config.num_embeddings}


def estimate_memory(config: TrainConfig) -> MemoryEstimate | None:
    """Per-process GPU memory of a Janus run (None for other tasks or an unreadable base model).

    Model states per parameter: full fine-tuning keeps fp32 weights, fp32 gradients and two fp32 AdamW
    moments (16 bytes; DDP adds a 4-byte gradient bucket); FSDP shards all of it over the processes;
    ZeRO-2 keeps bf16 weights whole and shards the rest (bf16 gradients, fp32 master weights and
    moments). LoRA keeps the frozen base in the compute dtype. Activations: the sequence of one row with
    one input image, per layer when gradient checkpointing is on, all layers' intermediates when off.
    DPO on image tokens (janus-dpo*) runs two sequences per pair and, for full fine-tuning, holds a frozen
    reference copy in the compute dtype (LoRA's reference is the same weights with the adapter off).
    """
    if not config.task.startswith("janus"):
        return None
    counts = _janus_counts(config.base_model)
    if counts is None:
        return None
    n = config.num_processes
    total, frozen = counts["total"], counts["frozen"]
    compute = 2 if config.mixed_precision == "bf16" else 4
    if config.method == "lora":
        trainable = 0
        states = compute * total
    else:
        trainable = total - frozen
        if config.sharding == "fsdp":
            states = (16 * trainable + 4 * frozen) / n
        elif config.sharding == "zero2":
            states = 2 * total + (2 + 4 + 8) * trainable / n
        else:
            states = 16 * trainable + 4 * frozen + (4 * trainable if n > 1 else 0)
        if config.task.startswith("janus-dpo"):
            states += compute * total
    n_img = counts["image_tokens"]
    images = 1 if config.task in ("janus-ti2i", "janus-dpo-edit") else 0
    seq = 64 + images * (2 * n_img + 4) + n_img
    rows = config.batch_size * (2 if config.task.startswith("janus-dpo") else 1)
    per_token = rows * seq * compute
    layer = per_token * (16 * counts["hidden"] + 3 * counts["intermediate"])  # one layer's saved intermediates
    if config.gradient_checkpointing:
        acts = per_token * counts["hidden"] * counts["layers"] + layer
    else:
        acts = layer * counts["layers"]
    acts += rows * n_img * counts["codebook"] * 4 * 3  # fp32 logits, softmax and gradient
    return MemoryEstimate(parameters=total, trainable=trainable, model_states=float(states),
                          activations=float(acts), processes=n, sharding=config.sharding)
