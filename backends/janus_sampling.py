"""Janus image-token sampling with classifier-free guidance, including Janus-4o's dual guidance.

Text-to-image (Janus-Pro): two conditions per token, the prompt (l_c) and the prompt masked to padding
(l_u), combined as l_g = l_u + s·(l_c − l_u).

Text-and-image-to-image (Janus-4o): the input image enters twice, as semantic features from the vision
encoder (at ``<image_placeholder>`` positions) and as its VQ image tokens (in a second image block).
Three conditions per token — full input (l_c), VQ tokens masked (l_o), everything masked (l_u) — are
combined as l'_c = (l_c + s'·l_o)/(1 + s') and l_g = l_u + s·(l'_c − l_u).

The conditions are stacked as rows of ONE batch, so each step is one forward pass over a shared KV cache;
``batched=False`` runs one forward per condition instead (same tokens, used for parity tests and benches).
This module imports torch/transformers at import time: import it lazily.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from transformers import LogitsProcessor

DEFAULT_TEMPLATE = "<|User|>: {prompt}\n\n<|Assistant|>:"


class JanusGuidanceProcessor(LogitsProcessor):
    """Combines stacked condition logits into one row per sample.

    ``scores`` rows are blocks ``[c; u]`` (``image_scale`` None) or ``[c; o; u]``; returns ``[batch, vocab]``.
    """

    def __init__(self, scale: float = 5.0, image_scale: float | None = None) -> None:
        if image_scale is not None and image_scale <= -1:
            raise ValueError("image_scale must be > -1 (it divides by 1 + image_scale)")
        self.scale = float(scale)
        self.image_scale = None if image_scale is None else float(image_scale)

    @property
    def n_conditions(self) -> int:
        return 2 if self.image_scale is None else 3

    def __call__(self, input_ids: Any, scores: torch.Tensor) -> torch.Tensor:
        n = self.n_conditions
        if scores.shape[0] % n:
            raise ValueError(f"expected a multiple of {n} rows of logits, got {scores.shape[0]}")
        blocks = scores.split(scores.shape[0] // n)
        if n == 2:
            cond, uncond = blocks
        else:
            full, part, uncond = blocks
            cond = (full + self.image_scale * part) / (1.0 + self.image_scale)
        return uncond + self.scale * (cond - uncond)


@dataclass
class JanusTokens:
    """Special tokens of a Janus tokenizer."""

    image: str = "<image_placeholder>"
    boi: str = "<begin_of_image>"
    eoi: str = "<end_of_image>"
    pad: str = "<｜▁pad▁｜>"

    @classmethod
    def of(cls, tokenizer: Any, overrides: dict[str, str] | None = None,
           generation_config: Any = None) -> "JanusTokens":
        """Read them from the tokenizer (the pad token from the generation config first), falling back
        to DeepSeek's names.

        DeepSeek's tokenizers declare no pad token and id 0 is not padding; the converted checkpoints
        name ``<｜▁pad▁｜>`` in ``generation_config.pad_token_id``.
        """
        pad = getattr(tokenizer, "pad_token", None)
        gen_pad = getattr(generation_config, "pad_token_id", None)
        if gen_pad is not None:
            pad = tokenizer.convert_ids_to_tokens(int(gen_pad))
        found = cls(
            image=getattr(tokenizer, "image_token", None) or cls.image,
            boi=getattr(tokenizer, "boi_token", None) or cls.boi,
            eoi=getattr(tokenizer, "eoi_token", None) or cls.eoi,
            pad=pad or cls.pad,
        )
        for key, value in (overrides or {}).items():
            setattr(found, key, value)
        return found

    def ids(self, tokenizer: Any) -> dict[str, int]:
        """Token ids of image / boi / eoi / pad; a name the vocabulary lacks is an error."""
        out = {}
        for key in ("image", "boi", "eoi", "pad"):
            token = getattr(self, key)
            tid = tokenizer.convert_tokens_to_ids(token)
            if tid is None or (tid == tokenizer.unk_token_id and token != tokenizer.unk_token):
                raise ValueError(f"the tokenizer has no {token!r} token ({key})")
            out[key] = int(tid)
        return out


def encode(tokenizer: Any, text: str) -> torch.Tensor:
    """Token ids of ``text`` with exactly one leading BOS."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return torch.tensor(ids, dtype=torch.long)


def generation_prompt_ids(tokenizer: Any, text: str, tokens: JanusTokens, *, n_images: int = 0,
                          n_image_tokens: int = 0, template: str = DEFAULT_TEMPLATE) -> torch.Tensor:
    """The ids an image is generated after — the one layout training and inference share.

    ``<BOS><|User|>: [image blocks]text\n\n<|Assistant|>:<begin_of_image>``. Each input image is two
    blocks inside the user turn, as Janus-4o's released code lays them out: ``<boi>`` + placeholders
    (its semantic features) + ``<eoi>``, then ``<boi>`` + padding (its VQ token embeddings) + ``<eoi>``.
    This is what transformers' Janus chat template renders for a user turn of typed content parts.
    """
    block = (tokens.boi + tokens.image * n_image_tokens + tokens.eoi
             + tokens.boi + tokens.pad * n_image_tokens + tokens.eoi)
    return encode(tokenizer, template.format(prompt=block * n_images + text) + tokens.boi)


def unconditional_ids(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Every input token but BOS and the final ``<begin_of_image>`` replaced by padding (l_u)."""
    out = ids.clone()
    out[..., 1:-1] = pad_id
    return out


def condition_embeddings(model: Any, ids: torch.Tensor, pixel_values: torch.Tensor | None, tokens: JanusTokens,
                         tokenizer: Any, keep_vq: Sequence[bool] = ()) -> torch.Tensor:
    """Input embeddings ``[L, H]`` of ``ids`` with each input image's features put in place.

    Placeholders get the vision encoder's semantic features; image ``i``'s padding block gets its VQ
    token embeddings when ``keep_vq[i]``, else stays padding (the image-masked condition). Not under
    inference mode: training calls it with gradients.
    """
    device = model.device
    ids = ids.to(device)
    embeds = model.get_input_embeddings()(ids)
    if pixel_values is None or pixel_values.shape[0] == 0:
        return embeds
    n_images = pixel_values.shape[0]
    n_tok = int(model.config.vision_config.num_image_tokens)
    tid = tokens.ids(tokenizer)
    semantic_pos = (ids == tid["image"]).nonzero().squeeze(-1)
    vq_pos = (ids == tid["pad"]).nonzero().squeeze(-1)
    if len(semantic_pos) != n_tok * n_images or len(vq_pos) != n_tok * n_images:
        raise ValueError(f"the prompt template broke the image blocks ({len(semantic_pos)} placeholders, "
                         f"{len(vq_pos)} padding tokens for {n_images} image(s) of {n_tok} tokens)")
    vision_dtype = model.model.vision_model.dtype
    semantic = model.model.get_image_features(pixel_values.to(device, vision_dtype)).pooler_output
    embeds = embeds.index_put((semantic_pos,), semantic.reshape(-1, embeds.shape[-1]).to(embeds.dtype))
    keep = [i for i in range(n_images) if i < len(keep_vq) and keep_vq[i]]
    if keep:
        vq = model.model.vqmodel
        with torch.no_grad():
            vq_tokens = vq.encode(pixel_values[keep].to(device, vq.dtype)).image_tokens.reshape(len(keep), -1)
        vq_embeds = model.prepare_embeddings_for_image_generation(vq_tokens).reshape(-1, embeds.shape[-1])
        pos = vq_pos.view(n_images, n_tok)[keep].reshape(-1)
        embeds = embeds.index_put((pos,), vq_embeds.to(embeds.dtype))
    return embeds


@torch.inference_mode()
def text_to_image_inputs(model: Any, tokenizer: Any, prompt: str, tokens: JanusTokens,
                         template: str = DEFAULT_TEMPLATE) -> torch.Tensor:
    """Input embeddings ``[2, L, H]``: the prompt, and the prompt masked to padding (BOS and BOI kept)."""
    ids = generation_prompt_ids(tokenizer, prompt, tokens, template=template)
    rows = torch.stack([ids, unconditional_ids(ids, tokens.ids(tokenizer)["pad"])])
    return model.get_input_embeddings()(rows.to(model.device))


@torch.inference_mode()
def image_edit_inputs(model: Any, tokenizer: Any, instruction: str, pixel_values: torch.Tensor,
                      tokens: JanusTokens, template: str = DEFAULT_TEMPLATE) -> torch.Tensor:
    """Input embeddings ``[3, L, H]`` for Janus-4o: full input, VQ tokens masked, everything masked."""
    n_images = pixel_values.shape[0]
    n_tok = int(model.config.vision_config.num_image_tokens)
    ids = generation_prompt_ids(tokenizer, instruction, tokens, n_images=n_images, n_image_tokens=n_tok,
                                template=template)
    full = condition_embeddings(model, ids, pixel_values, tokens, tokenizer, keep_vq=[True] * n_images)
    part = condition_embeddings(model, ids, pixel_values, tokens, tokenizer, keep_vq=[False] * n_images)
    uncond = model.get_input_embeddings()(unconditional_ids(ids, tokens.ids(tokenizer)["pad"]).to(model.device))
    return torch.stack([full, part, uncond])


def _new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=model.config.get_text_config())


def _last_hidden(lm: Any, embeds: torch.Tensor, caches: list[Any], batched: bool) -> torch.Tensor:
    """Last-position hidden states for all rows: one forward, or one per row."""
    if batched:
        out = lm(inputs_embeds=embeds, past_key_values=caches[0], use_cache=True)
        return out.last_hidden_state[:, -1, :]
    rows = [lm(inputs_embeds=embeds[i:i + 1], past_key_values=caches[i], use_cache=True).last_hidden_state[:, -1, :]
            for i in range(embeds.shape[0])]
    return torch.cat(rows, dim=0)


@torch.inference_mode()
def sample_image_tokens(
    model: Any,
    inputs_embeds: torch.Tensor,
    guidance: JanusGuidanceProcessor,
    *,
    num_tokens: int | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    batched: bool = True,
    on_token: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Sample ``num_tokens`` image tokens (default: the model's count) for one image; returns ``[1, n]``."""
    n_rows = inputs_embeds.shape[0]
    if n_rows != guidance.n_conditions:
        raise ValueError(f"{n_rows} condition rows for a {guidance.n_conditions}-way guidance")
    total = int(num_tokens or model.config.vision_config.num_image_tokens)
    lm = model.model.language_model
    head = model.model.generation_head
    caches = [_new_cache(model)] if batched else [_new_cache(model) for _ in range(n_rows)]
    out = torch.zeros((1, total), dtype=torch.long, device=inputs_embeds.device)
    embeds = inputs_embeds
    for i in range(total):
        hidden = _last_hidden(lm, embeds, caches, batched)
        logits = guidance(None, head(hidden).float())
        if temperature > 0:
            probs = torch.softmax(logits / temperature, dim=-1)
            token = torch.multinomial(probs, num_samples=1, generator=generator)
        else:
            token = logits.argmax(dim=-1, keepdim=True)
        out[:, i] = token.squeeze(-1)
        if on_token is not None:
            on_token(i + 1, total)  # may raise Cancelled
        if i + 1 < total:
            embeds = model.prepare_embeddings_for_image_generation(token.repeat(n_rows, 1))
    return out


@torch.inference_mode()
def decode_image(model: Any, image_tokens: torch.Tensor) -> Sequence[Any]:
    """PIL images from ``[batch, n]`` image tokens."""
    from PIL import Image

    pixels = model.decode_image_tokens(image_tokens).float().clamp(-1, 1)
    arrays = ((pixels + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return [Image.fromarray(a) for a in arrays]
