"""Convert a Janus / Janus-Pro / Janus-4o checkpoint in DeepSeek's format to transformers' Janus format.

DeepSeek's releases (``MultiModalityCausalLM``, loaded with ``trust_remote_code``) keep the vision tower,
the aligners, the VQ model, the generation head and the language model under their own names; the
transformers port (``JanusForConditionalGeneration``) renames them and splits the fused ``qkv``
projections. Sizes are read from the weights themselves, so fine-tuned variants (Janus-4o-7B) and
small test models convert the same way.

    python -m backends.janus_convert SRC_FOLDER DST_FOLDER [--dtype bfloat16]

See docs/janus4o_conversion.md.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Callable

SPECIAL_IMAGE_TOKENS = {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>",
                        "eoi_token": "<end_of_image>"}
#: the chat template transformers' conversion gives Janus processors: typed content parts (text / image)
#: in ``<|User|>: …\n\n<|Assistant|>:`` turns
JANUS_CHAT_TEMPLATE = (
    "{%set seps=['\\n\\n','<\uff5cend\u2581of\u2581sentence\uff5c>']%}"
    "{%set i=0%}"
    "{%for message in messages%}"
    "{%if message['role']|lower=='user'%}<|User|>: "
    "{%elif message['role']|lower=='assistant'%}<|Assistant|>:"
    "{%if not (loop.last and not add_generation_prompt and message['content'][0]['type']=='text' "
    "and message['content'][0]['text']=='')%} {%endif%}"
    "{%else%}{{message['role'].capitalize()}}: {%endif%}"
    "{%for content in message['content']%}"
    "{%if content['type']=='image'%}"
    "{%if not loop.first%}{{'\\n'}}{%endif%}<image_placeholder>{%if not loop.last%}{{'\\n'}}{%endif%}"
    "{%elif content['type']=='text'%}"
    "{%set text=content['text']%}"
    "{%if loop.first%}{%set text=text.lstrip()%}{%endif%}"
    "{%if loop.last%}{%set text=text.rstrip()%}{%endif%}"
    "{%if not loop.first and message['content'][loop.index0-1]['type']=='text'%}{{' '+text}}"
    "{%else%}{{text}}{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if not loop.last or add_generation_prompt%}"
    "{%if message['role']|lower=='user'%}{{seps[0]}}{%else%}{{seps[1]}}{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if add_generation_prompt%}<|Assistant|>:{%endif%}"
)
PAD_TOKEN = "<\uff5c\u2581pad\u2581\uff5c>"
_VISION = r"^vision_model\.vision_tower\."
_LAYER = "model.vision_model.encoder.layers."


def _aligner(prefix: str) -> Callable[[re.Match], str]:
    """DeepSeek's MlpProjector Sequential (Linear at 0, 2, 4 ...) -> fc1 + hidden_layers."""
    def rename(m: re.Match) -> str:
        idx = int(m.group(1))
        part = "fc1" if idx == 0 else f"hidden_layers.{idx // 2 - 1}"
        return f"{prefix}.{part}.{m.group(2)}"
    return rename


#: (pattern, replacement) applied in order to each DeepSeek key; None drops the tensor
RULES: list[tuple[str, Any]] = [
    (r"^language_model\.model\.(.*)$", r"model.language_model.\1"),
    (r"^language_model\.lm_head\.weight$", "lm_head.weight"),
    (_VISION + r"attn_pool\..*$", None),
    (_VISION + r"pos_embed$", "model.vision_model.embeddings.position_embedding.weight"),
    (_VISION + r"patch_embed\.proj\.(.*)$", r"model.vision_model.embeddings.patch_embedding.\1"),
    (_VISION + r"norm\.(.*)$", r"model.vision_model.post_layernorm.\1"),
    (_VISION + r"blocks\.(\d+)\.attn\.qkv\.(.*)$", _LAYER + r"\1.self_attn.qkv.\2"),
    (_VISION + r"blocks\.(\d+)\.attn\.proj\.(.*)$", _LAYER + r"\1.self_attn.projection_layer.\2"),
    (_VISION + r"blocks\.(\d+)\.norm([12])\.(.*)$", _LAYER + r"\1.layer_norm\2.\3"),
    (_VISION + r"blocks\.(\d+)\.mlp\.(.*)$", _LAYER + r"\1.mlp.\2"),
    (r"^aligner\.layers\.(\d+)\.(.*)$", _aligner("model.aligner")),
    (r"^gen_aligner\.layers\.(\d+)\.(.*)$", _aligner("model.generation_aligner")),
    (r"^gen_head\.output_mlp_projector\.(.*)$", r"model.generation_head.proj_out.\1"),
    (r"^gen_head\.vision_head\.(.*)$", r"model.generation_head.vision_head.\1"),
    (r"^gen_embed\.(.*)$", r"model.generation_embeddings.\1"),
    (r"^gen_vision_model\.quantize\.codebook_used$", None),
    (r"^gen_vision_model\.(.*)$", r"model.vqmodel.\1"),
]


def rename_key(key: str) -> str | None:
    """The transformers name of one DeepSeek key (None: not needed by transformers)."""
    for pattern, repl in RULES:
        m = re.match(pattern, key)
        if m is None:
            continue
        if repl is None:
            return None
        new = repl(m) if callable(repl) else m.expand(repl)
        if new.startswith("model.vqmodel."):
            new = new.replace("encoder.conv_blocks.", "encoder.down.").replace("decoder.conv_blocks.", "decoder.up.")
            new = re.sub(r"\.res\.", ".block.", new)
            new = new.replace(".mid.0.", ".mid.block_1.").replace(".mid.1.", ".mid.attn_1.")
            new = new.replace(".mid.2.", ".mid.block_2.")
        return new
    raise KeyError(f"unknown tensor in a DeepSeek Janus checkpoint: {key}")


def convert_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """Rename every tensor, split fused qkv projections, drop unused ones."""
    out: dict[str, Any] = {}
    for key, tensor in state.items():
        new = rename_key(key)
        if new is None:
            continue
        if ".self_attn.qkv." in new:
            for name, part in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                out[new.replace(".qkv.", f".{name}.")] = part.clone()
        elif new.endswith("position_embedding.weight"):
            out[new] = tensor.reshape(-1, tensor.shape[-1])
        else:
            out[new] = tensor
    return out


def load_deepseek_weights(src: Path) -> dict[str, Any]:
    """All tensors of a DeepSeek checkpoint folder (.bin or .safetensors, sharded or not)."""
    import torch
    from safetensors.torch import load_file

    files = sorted(src.glob("*.safetensors")) or sorted(src.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors or pytorch_model*.bin in {src}")
    state: dict[str, Any] = {}
    for f in files:
        state.update(load_file(str(f)) if f.suffix == ".safetensors"
                     else torch.load(str(f), map_location="cpu", weights_only=True))
    return state


def build_config(ds_config: dict[str, Any], weights: dict[str, Any], image_token_id: int, tok: Any) -> Any:
    """A JanusConfig whose sizes come from the converted weights (and DeepSeek's config where needed)."""
    from transformers import JanusConfig, JanusVisionConfig, JanusVQVAEConfig, LlamaConfig

    lang = dict(ds_config.get("language_config") or {})
    embed = weights["model.language_model.embed_tokens.weight"]
    n_layers = 1 + max(int(k.split(".")[3]) for k in weights if k.startswith("model.language_model.layers."))
    text = LlamaConfig(
        vocab_size=embed.shape[0], hidden_size=embed.shape[1],
        intermediate_size=weights["model.language_model.layers.0.mlp.gate_proj.weight"].shape[0],
        num_hidden_layers=n_layers, num_attention_heads=lang.get("num_attention_heads", 32),
        num_key_value_heads=lang.get("num_key_value_heads", lang.get("num_attention_heads", 32)),
        max_position_embeddings=lang.get("max_position_embeddings", 16384),
        rms_norm_eps=lang.get("rms_norm_eps", 1e-6), rope_theta=lang.get("rope_theta", 10000.0),
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    vparams = dict((ds_config.get("vision_config") or {}).get("params") or {})
    patch = weights["model.vision_model.embeddings.patch_embedding.weight"]
    pos = weights["model.vision_model.embeddings.position_embedding.weight"]
    v_layers = 1 + max(int(k.split(".")[4]) for k in weights if k.startswith(_LAYER))
    aparams = dict((ds_config.get("aligner_config") or {}).get("params") or {})
    vision = JanusVisionConfig(
        hidden_size=patch.shape[0], patch_size=patch.shape[-1], image_size=vparams.get("image_size", 384),
        num_hidden_layers=v_layers, num_attention_heads=vparams.get("num_heads", 16),
        mlp_ratio=weights[_LAYER + "0.mlp.fc1.weight"].shape[0] / patch.shape[0],
        projection_dim=weights["model.aligner.fc1.weight"].shape[0], depth=aparams.get("depth", 2),
        num_image_tokens=pos.shape[0],
    )
    downs = sorted({int(k.split(".")[4]) for k in weights if k.startswith("model.vqmodel.encoder.down.")})
    base = weights["model.vqmodel.encoder.conv_in.weight"].shape[0]
    mult = [weights[f"model.vqmodel.encoder.down.{i}.block.0.conv2.weight"].shape[0] // base for i in downs]
    res_blocks = 1 + max(int(k.split(".")[6]) for k in weights if k.startswith("model.vqmodel.encoder.down.0.block."))
    codebook = weights["model.vqmodel.quantize.embedding.weight"]
    gparams = dict((ds_config.get("gen_aligner_config") or {}).get("params") or {})
    vq = JanusVQVAEConfig(
        embed_dim=codebook.shape[1], num_embeddings=codebook.shape[0], base_channels=base,
        channel_multiplier=mult, num_res_blocks=res_blocks,
        latent_channels=weights["model.vqmodel.encoder.conv_out.weight"].shape[0],
        projection_dim=weights["model.generation_aligner.fc1.weight"].shape[0],
        num_hidden_layers=gparams.get("depth", 2), image_token_embed_dim=embed.shape[1],
    )
    return JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=image_token_id)


def janus_generation_config(config: Any, tokenizer: Any) -> Any:
    """The generation defaults transformers' conversion writes: temperature 1, CFG 5, the pad and
    ``<begin_of_image>`` ids (DeepSeek's tokenizers declare no pad token; id 0 is not padding)."""
    from transformers import GenerationConfig

    gen = GenerationConfig.from_model_config(config)
    gen._from_model_config = False
    gen.temperature = 1.0
    gen.guidance_scale = 5.0
    gen.pad_token_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    gen.boi_token_id = tokenizer.convert_tokens_to_ids(SPECIAL_IMAGE_TOKENS["boi_token"])
    return gen


def convert(src: str | Path, dst: str | Path, dtype: str | None = None) -> Path:
    """Convert the DeepSeek-format folder ``src`` into a transformers Janus folder ``dst``.

    Steps: 1. read the tokenizer (with the image-token attributes transformers expects) and the weights;
    2. rename them and read the sizes from them; 3. build the model on the meta device and assign the
    loaded tensors (no second full-size copy, dtype as stored unless ``dtype`` is given); 4. write the
    model, the generation config, and the processor (image processor, tokenizer, chat template).
    """
    import torch
    from transformers import AutoTokenizer, JanusForConditionalGeneration, JanusImageProcessorPil, JanusProcessor

    src, dst = Path(src), Path(dst)
    ds_config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(str(src), extra_special_tokens=SPECIAL_IMAGE_TOKENS)
    for token in (SPECIAL_IMAGE_TOKENS["image_token"], PAD_TOKEN):
        tid = tokenizer.convert_tokens_to_ids(token)
        if tid is None or tid == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer in {src} has no {token} token")
    image_token_id = tokenizer.convert_tokens_to_ids(SPECIAL_IMAGE_TOKENS["image_token"])
    weights = convert_state_dict(load_deepseek_weights(src))
    if dtype:
        weights = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in weights.items()}
    config = build_config(ds_config, weights, image_token_id, tokenizer)
    stored = next(v.dtype for v in weights.values() if v.is_floating_point())
    config.dtype = stored
    with torch.device("meta"):
        model = JanusForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(weights, strict=False, assign=True)
    if "lm_head.weight" not in weights:
        model.tie_weights()
        missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise ValueError(f"conversion mismatch: missing {missing[:8]} unexpected {unexpected[:8]}")
    model.generation_config = janus_generation_config(config, tokenizer)
    model.save_pretrained(str(dst))
    pre = {}
    pre_path = src / "preprocessor_config.json"
    if pre_path.exists():
        pre = json.loads(pre_path.read_text(encoding="utf-8"))
    size = int(pre.get("image_size", config.vision_config.image_size))
    image_processor = JanusImageProcessorPil(size={"height": size, "width": size},
                                             image_mean=pre.get("image_mean", [0.5] * 3),
                                             image_std=pre.get("image_std", [0.5] * 3))
    JanusProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=JANUS_CHAT_TEMPLATE,
                   use_default_system_prompt=True).save_pretrained(str(dst))
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description="Convert a DeepSeek-format Janus checkpoint for transformers")
    parser.add_argument("src", help="folder with config.json, tokenizer files and DeepSeek weights")
    parser.add_argument("dst", help="output folder (transformers JanusForConditionalGeneration)")
    parser.add_argument("--dtype", default=None, help="float16 / bfloat16 / float32 (default: as loaded)")
    args = parser.parse_args()
    print(f"converted to {convert(args.src, args.dst, args.dtype)}")


if __name__ == "__main__":
    main()
