"""The OmniGen2 diffusion transformer, assembled from diffusers' Lumina 2 parts.

OmniGen2 is a Lumina-2-style DiT whose joint sequence is ``[text | reference images | noisy image]``.
Parameter names follow the published ``transformer/`` checkpoint so its safetensors load as they are:

    x_embedder, ref_image_patch_embedder        patch projections of the noisy and reference latents
    time_caption_embed.{timestep_embedder,caption_embedder}
    context_refiner.N    (text only, no modulation)
    noise_refiner.N      (noisy image, timestep-modulated)
    ref_image_refiner.N  (each reference image on its own, timestep-modulated)
    layers.N             the joint blocks;  norm_out  the final adaptive norm and projection
    image_index_embedding  one learned vector per reference slot (5 rows in the release)

Positions are 3-axis RoPE ids: text token k gets (k, k, k); the j-th image's patches get
(offset_j, row, col), where offset starts at the text length and grows by the previous image's longer
side in patches. This module runs one sample at a time inside ``forward`` (the studio makes one image
per call), so no padding masks are needed; right-padded text is cut to its attention-mask length.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps, get_1d_rotary_pos_embed
from diffusers.models.normalization import LuminaLayerNormContinuous, RMSNorm
from diffusers.models.transformers.transformer_lumina2 import Lumina2TransformerBlock
from torch import nn

#: reference slots the released checkpoint has embeddings for; the studio offers up to three references
INDEX_SLOTS = 5
ROPE_THETA = 10000


class TooManyPositions(ValueError):
    """The text or an image has more positions than the RoPE tables (``axes_lens``) cover."""


class WeightsMismatch(ValueError):
    """The checkpoint's tensor names or shapes are not those of an OmniGen2 transformer with this config."""


class TimeCaptionEmbed(nn.Module):
    """Sinusoidal timestep -> MLP (width min(hidden, 1024)); caption features -> RMSNorm + Linear."""

    def __init__(self, hidden_size: int, text_feat_dim: int, norm_eps: float, timestep_scale: float) -> None:
        super().__init__()
        self.time_proj = Timesteps(num_channels=256, flip_sin_to_cos=True, downscale_freq_shift=0.0,
                                   scale=timestep_scale)
        self.timestep_embedder = TimestepEmbedding(in_channels=256, time_embed_dim=min(hidden_size, 1024))
        self.caption_embedder = nn.Sequential(RMSNorm(text_feat_dim, eps=norm_eps),
                                              nn.Linear(text_feat_dim, hidden_size, bias=True))

    def forward(self, timestep: torch.Tensor, text: torch.Tensor, dtype: torch.dtype):
        temb = self.timestep_embedder(self.time_proj(timestep).to(dtype))
        return temb, self.caption_embedder(text)


class OmniGen2Transformer(nn.Module):
    """Velocity prediction for one noisy latent given text features and up to five reference latents."""

    def __init__(self, patch_size: int = 2, in_channels: int = 16, out_channels: int | None = None,
                 hidden_size: int = 2304, num_layers: int = 26, num_refiner_layers: int = 2,
                 num_attention_heads: int = 24, num_kv_heads: int = 8, multiple_of: int = 256,
                 ffn_dim_multiplier: float | None = None, norm_eps: float = 1e-5,
                 axes_dim_rope: Sequence[int] = (32, 32, 32), axes_lens: Sequence[int] = (300, 512, 512),
                 text_feat_dim: int = 1024, timestep_scale: float = 1.0, **_unused) -> None:
        super().__init__()
        if hidden_size // num_attention_heads != sum(axes_dim_rope):
            raise ValueError(f"head size {hidden_size // num_attention_heads} must equal the RoPE axes' sum "
                             f"{sum(axes_dim_rope)} (transformer config)")
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.hidden_size = hidden_size
        self.axes_dim_rope = tuple(axes_dim_rope)
        self.axes_lens = tuple(axes_lens)
        patch_dim = patch_size * patch_size * in_channels

        def blocks(n: int, modulation: bool) -> nn.ModuleList:
            return nn.ModuleList(Lumina2TransformerBlock(hidden_size, num_attention_heads, num_kv_heads, multiple_of,
                                                         ffn_dim_multiplier, norm_eps, modulation=modulation)
                                 for _ in range(n))

        self.x_embedder = nn.Linear(patch_dim, hidden_size)
        self.ref_image_patch_embedder = nn.Linear(patch_dim, hidden_size)
        self.time_caption_embed = TimeCaptionEmbed(hidden_size, text_feat_dim, norm_eps, timestep_scale)
        self.noise_refiner = blocks(num_refiner_layers, True)
        self.ref_image_refiner = blocks(num_refiner_layers, True)
        self.context_refiner = blocks(num_refiner_layers, False)
        self.layers = blocks(num_layers, True)
        self.norm_out = LuminaLayerNormContinuous(
            embedding_dim=hidden_size, conditioning_embedding_dim=min(hidden_size, 1024), elementwise_affine=False,
            eps=1e-6, bias=True, out_dim=patch_size * patch_size * self.out_channels)
        self.image_index_embedding = nn.Parameter(torch.zeros(INDEX_SLOTS, hidden_size))
        self._freqs: list[torch.Tensor] | None = None

    # -- positions -------------------------------------------------------------------------
    def _axis_freqs(self, device: torch.device) -> list[torch.Tensor]:
        """Complex rotations per axis and position (float64 on the CPU as the release computes them)."""
        if self._freqs is None or self._freqs[0].device != device:
            self._freqs = [get_1d_rotary_pos_embed(d, n, theta=ROPE_THETA, freqs_dtype=torch.float64).to(device)
                           for d, n in zip(self.axes_dim_rope, self.axes_lens)]
        return self._freqs

    def _rope(self, ids: torch.Tensor) -> torch.Tensor:
        """(tokens, 3) integer ids -> (1, tokens, head_dim/2) complex rotations."""
        freqs = self._axis_freqs(ids.device)
        for axis, limit in enumerate(self.axes_lens):
            if int(ids[:, axis].max()) >= limit:
                what = "the prompt plus the input images' offsets" if axis == 0 else "an image side in patches"
                raise TooManyPositions(f"{what} needs position {int(ids[:, axis].max())}, beyond the model's "
                                       f"{limit} (axes_lens[{axis}])")
        return torch.cat([freqs[a][ids[:, a]] for a in range(3)], dim=-1).unsqueeze(0)

    def _patchify(self, latent: torch.Tensor) -> torch.Tensor:
        """(C, H, W) -> (H/p * W/p, p*p*C), rows of patches, each patch row-major then channel."""
        p = self.patch_size
        c, h, w = latent.shape
        return latent.reshape(c, h // p, p, w // p, p).permute(1, 3, 2, 4, 0).reshape((h // p) * (w // p), p * p * c)

    def _unpatchify(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        p = self.patch_size
        return tokens.reshape(h // p, w // p, p, p, self.out_channels).permute(4, 0, 2, 1, 3).reshape(
            self.out_channels, h, w)

    @staticmethod
    def _grid_ids(offset: int, rows: int, cols: int, device: torch.device) -> torch.Tensor:
        r = torch.arange(rows, device=device).repeat_interleave(cols)
        c = torch.arange(cols, device=device).repeat(rows)
        return torch.stack([torch.full_like(r, offset), r, c], dim=-1)

    # -- forward ---------------------------------------------------------------------------
    def forward(self, latents: torch.Tensor, timestep: torch.Tensor, text_states: torch.Tensor,
                text_mask: torch.Tensor, ref_latents: Sequence[Sequence[torch.Tensor]] | None = None) -> torch.Tensor:
        """Steps:

        1. embed the timestep and the caption features;
        2. per sample: cut padded text, refine it; patch-embed and refine the noisy latent and each reference;
        3. run the joint blocks over [text | references | image] with 3-axis RoPE;
        4. project the image tokens back to a latent-shaped velocity.

        ``latents``: (B, C, H, W); ``timestep``: (B,) in [0, 1] (0 = noise); ``text_states``: (B, L, D);
        ``text_mask``: (B, L); ``ref_latents``: per sample a list of (C, h, w) latents (or None).
        """
        dtype = latents.dtype
        temb_all, text_all = self.time_caption_embed(timestep, text_states, dtype)
        out = []
        for i in range(latents.shape[0]):
            refs = list(ref_latents[i]) if ref_latents is not None and ref_latents[i] else []
            out.append(self._one(latents[i], temb_all[i:i + 1], text_all[i:i + 1, : int(text_mask[i].sum())], refs))
        return torch.stack(out)

    def _one(self, latent: torch.Tensor, temb: torch.Tensor, text: torch.Tensor, refs: list[torch.Tensor]):
        if len(refs) > INDEX_SLOTS:
            raise ValueError(f"at most {INDEX_SLOTS} reference images, got {len(refs)}")
        device, p = latent.device, self.patch_size
        n_text = text.shape[1]
        text_ids = torch.arange(n_text, device=device).unsqueeze(-1).expand(n_text, 3)
        text_rope = self._rope(text_ids)
        for block in self.context_refiner:
            text = block(text, None, text_rope)

        offset, ref_tokens, ref_ids = n_text, [], []
        for j, ref in enumerate(refs):
            rows, cols = ref.shape[-2] // p, ref.shape[-1] // p
            ids = self._grid_ids(offset, rows, cols, device)
            tokens = self.ref_image_patch_embedder(self._patchify(ref).unsqueeze(0)) + self.image_index_embedding[j]
            ref_rope = self._rope(ids)
            for block in self.ref_image_refiner:
                tokens = block(tokens, None, ref_rope, temb)
            ref_tokens.append(tokens)
            ref_ids.append(ids)
            offset += max(rows, cols)

        h, w = latent.shape[-2:]
        img_ids = self._grid_ids(offset, h // p, w // p, device)
        img = self.x_embedder(self._patchify(latent).unsqueeze(0))
        img_rope = self._rope(img_ids)
        for block in self.noise_refiner:
            img = block(img, None, img_rope, temb)

        joint = torch.cat([text, *ref_tokens, img], dim=1)
        rope = self._rope(torch.cat([text_ids, *ref_ids, img_ids]))
        for block in self.layers:
            joint = block(joint, None, rope, temb)
        joint = self.norm_out(joint, temb)
        return self._unpatchify(joint[0, -img.shape[1]:], h, w)


# -- loading -------------------------------------------------------------------------------
def load_transformer(folder: str | Path, dtype: torch.dtype = torch.float32) -> OmniGen2Transformer:
    """Build from ``config.json`` on the meta device and assign the safetensors weights (strict names/shapes)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no transformer config at {config_path}")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    with torch.device("meta"):
        model = OmniGen2Transformer(**{k: v for k, v in config.items() if not k.startswith("_")})
    files = _weight_files(folder)
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(load_file(str(file)))
    check_weights(model, state, folder)
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)
    return model.eval()


def _weight_files(folder: Path) -> list[Path]:
    index = sorted(folder.glob("*.safetensors.index.json"))
    if index:
        names = sorted(set(json.loads(index[0].read_text(encoding="utf-8"))["weight_map"].values()))
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: shards listed in {index[0].name} are missing: {', '.join(missing)}")
        return [folder / n for n in names]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors weights in {folder}")
    return files


def check_weights(model: nn.Module, state: dict[str, torch.Tensor], where: Path | str) -> None:
    """Raise WeightsMismatch naming missing, unexpected and wrongly shaped tensors."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(f"{k} {tuple(state[k].shape)} != {expected[k]}" for k in set(expected) & set(state)
                    if tuple(state[k].shape) != expected[k])
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
        raise WeightsMismatch(f"{where}: the weights do not match an OmniGen2 transformer with this config — "
                              + "; ".join(parts))
