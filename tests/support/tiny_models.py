"""Tiny random-weight models built from configs and saved to a folder, for tests and benches.

Nothing is downloaded: tokenizers are built from a character vocabulary. Each ``build_*`` writes a
folder that loads through the same ``from_pretrained(path)`` a user's model id or path takes.
"""
from __future__ import annotations

from pathlib import Path

_CHARS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,!?-'<>|_:")


def clip_tokenizer(max_length: int = 16):
    """A character-level CLIP BPE tokenizer (no merges)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _CHARS:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def t5_tokenizer(max_length: int = 32):
    """A character-level T5 (unigram) tokenizer."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + c, -1.0) for c in _CHARS] + [(c, -2.0) for c in _CHARS] + [("▁", -3.0)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def _clip_text_encoder(vocab_size: int, with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
        projection_dim=32, num_attention_heads=4, num_hidden_layers=2, vocab_size=vocab_size,
        max_position_embeddings=77, layer_norm_eps=1e-5,
    )
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def build_tiny_sd(path: str | Path, *, unet_in_channels: int = 4, seed: int = 0) -> Path:
    """Stable Diffusion 1.x layout (in_channels=8 gives an InstructPix2Pix UNet)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionInstructPix2PixPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=unet_in_channels,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=4,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4, norm_num_groups=4, sample_size=64,
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    tokenizer = clip_tokenizer()
    text_encoder = _clip_text_encoder(len(tokenizer))
    cls = StableDiffusionInstructPix2PixPipeline if unet_in_channels == 8 else StableDiffusionPipeline
    pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(path))
    return Path(path)


def build_tiny_flux(path: str | Path, *, kontext: bool = False, guidance_embeds: bool = False, seed: int = 0) -> Path:
    """FLUX.1 layout (flow matching); ``kontext`` saves it as a FluxKontextPipeline; ``guidance_embeds``
    makes it guidance-distilled like FLUX.1-dev (without it, it is timestep-distilled like schnell)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
        guidance_embeds=guidance_embeds,
    )
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
        latent_channels=1, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.0609, scaling_factor=1.5035,
    )
    tokenizer = clip_tokenizer(77)
    text_encoder = _clip_text_encoder(len(tokenizer))
    tokenizer_2 = t5_tokenizer()
    text_encoder_2 = T5EncoderModel(T5Config(d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=2,
                                             vocab_size=len(tokenizer_2), decoder_start_token_id=0))
    cls = FluxKontextPipeline if kontext else FluxPipeline
    pipe = cls(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
               tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
               transformer=transformer)
    pipe.save_pretrained(str(path))
    return Path(path)


def build_tiny_sd_lora(pipe_path: str | Path, out_dir: str | Path, *, rank: int = 4, seed: int = 1) -> Path:
    """A random LoRA adapter on the tiny SD UNet's attention, saved in diffusers' format."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(str(pipe_path), local_files_only=True)
    pipe.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in pipe.unet.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn_like(param) * 0.5)
    state = get_peft_model_state_dict(pipe.unet)
    StableDiffusionPipeline.save_lora_weights(str(out_dir), unet_lora_layers=state)
    return Path(out_dir)


def byte_level_tokenizer(extra_special: dict[str, str] | None = None, added: list[str] | None = None, *,
                         pad: bool = True, add_bos: bool = False):
    """A byte-level BPE tokenizer without merges (one token per byte) plus special tokens.

    ``pad=False`` declares no pad token (the padding token stays in the vocabulary, as in DeepSeek's
    tokenizers); ``add_bos`` prepends BOS in the post-processor, as Llama tokenizers do.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for ch in bytes_to_unicode().values():
        vocab.setdefault(ch, len(vocab))
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    if add_bos:
        core.post_processor = processors.TemplateProcessing(single=f"{specials[0]} $A", pair=f"{specials[0]} $A $B",
                                                            special_tokens=[(specials[0], 0)])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=specials[0], eos_token=specials[1], pad_token=specials[2] if pad else None,
        extra_special_tokens=dict(extra_special or {}),
    )
    extra = [] if pad else [specials[2]]
    tok.add_special_tokens({"additional_special_tokens": list((extra_special or {}).values()) + list(added or [])
                            + extra})
    return tok


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_chat_lm(path: str | Path, *, seed: int = 0) -> Path:
    """A Llama-layout causal LM with a byte-level tokenizer and a chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = byte_level_tokenizer(added=["<|system|>", "<|user|>", "<|assistant|>"])
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).eval().save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return Path(path)


VLM_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_llava(path: str | Path, *, seed: int = 0) -> Path:
    """A LLaVA-layout vision-language model (CLIP tower + Llama) with a processor and chat template.

    (Qwen2.5-VL's processor needs torchvision for its video part, which CPU-only machines lack.)
    """
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = byte_level_tokenizer({"image_token": "<image>"}, added=["<|system|>", "<|user|>", "<|assistant|>"])
    tok.chat_template = VLM_TEMPLATE
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                                       image_size=32, patch_size=8, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        image_token_id=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(config).eval().save_pretrained(str(path))
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok, patch_size=8, vision_feature_select_strategy="default", chat_template=VLM_TEMPLATE,
        num_additional_image_tokens=1,
    )
    processor.save_pretrained(str(path))
    return Path(path)


def build_tiny_owlv2(path: str | Path, *, seed: int = 0) -> Path:
    """An open-vocabulary detector (OWLv2 layout) with random weights and a character tokenizer.

    OWL marks a text query as present when its first token id is above 0, so the start token is id 1.
    """
    import torch
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2Processor

    try:
        from transformers import Owlv2ImageProcessorPil as ImageProcessor  # no torchvision needed
    except ImportError:  # pragma: no cover - older transformers
        from transformers import Owlv2ImageProcessor as ImageProcessor

    vocab = {"<pad>": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}
    for c in _CHARS:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16, pad_token="<pad>")
    text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_attention_heads=4,
                num_hidden_layers=2, max_position_embeddings=16, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    vision = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, image_size=32,
                  patch_size=8)
    torch.manual_seed(seed)
    model = Owlv2ForObjectDetection(Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)).eval()
    processor = Owlv2Processor(image_processor=ImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_tiny_detr(path: str | Path, *, labels: tuple[str, ...] = ("cat", "dog", "remote"), seed: int = 0) -> Path:
    """A closed-set detector (DETR layout, small ResNet backbone built from its config) with random weights."""
    import torch
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    try:
        from transformers import DetrImageProcessorPil as ImageProcessor  # no torchvision needed
    except ImportError:  # pragma: no cover - older transformers
        from transformers import DetrImageProcessor as ImageProcessor

    backbone = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                            out_features=["stage2"])
    config = DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=backbone, d_model=32,
                        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    torch.manual_seed(seed)
    path = Path(path)
    DetrForObjectDetection(config).eval().save_pretrained(path)
    ImageProcessor(size={"shortest_edge": 32, "longest_edge": 64}).save_pretrained(path)
    return path
