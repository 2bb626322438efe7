"""LoRA target-module presets per architecture and the peft config built from a LoraSpec."""
from __future__ import annotations

from finetune.config import LoraSpec

#: preset name -> module names peft wraps (names as they appear in the diffusers/transformers models)
TARGET_PRESETS: dict[str, list[str]] = {
    # the diffusers text-to-image LoRA example's choice: the attention projections of the UNet
    "unet-attention": ["to_q", "to_k", "to_v", "to_out.0"],
    "unet-attention-ff": ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out",
                          "ff.net.0.proj", "ff.net.2"],
    # the cross-attention key/value projections only (the Custom Diffusion recipe, Kumari et al. 2023):
    # the prompt's path into the image, so a new word is learnt with little drift elsewhere
    "unet-cross-attention-kv": ["attn2.to_k", "attn2.to_v"],
    # attention, feed-forward and the ResNet convolutions: more capacity for small UNets (colours, styles)
    "unet-attention-conv": ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj",
                            "ff.net.2", "conv1", "conv2", "conv_shortcut", "time_emb_proj"],
    # DiT-style transformers (SD3, Flux): joint attention has extra context projections
    "transformer-attention": ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj",
                              "add_v_proj", "to_add_out"],
    # Janus: the language model's attention (and MLP) projections
    "janus-llm": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "janus-llm-mlp": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}

#: what "auto" means per architecture family
AUTO_PRESET = {"unet": "unet-attention", "transformer": "transformer-attention", "janus": "janus-llm"}


def resolve_targets(spec: LoraSpec, family: str) -> list[str]:
    """Module names for ``spec.target_modules`` (a preset name, "auto" or an explicit list)."""
    targets = spec.target_modules
    if isinstance(targets, list):
        if not targets:
            raise ValueError("lora.target_modules: the list is empty")
        return list(targets)
    name = AUTO_PRESET[family] if targets == "auto" else targets
    if name not in TARGET_PRESETS:
        raise ValueError(f"lora.target_modules: unknown preset {targets!r}; presets: "
                         f"{', '.join(['auto', *TARGET_PRESETS])} (or a list of module names)")
    return list(TARGET_PRESETS[name])


def lora_config(spec: LoraSpec, family: str):
    """The peft LoraConfig the diffusers training examples use (gaussian init)."""
    from peft import LoraConfig

    return LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                      init_lora_weights="gaussian", target_modules=resolve_targets(spec, family))
