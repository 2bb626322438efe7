"""Janus image-generation fine-tuning with the Janus-4o recipe (ShareGPT-4o-Image paper §3, and the
released ``train_janus.py``).

Every row is laid out exactly as inference lays it out, by the same functions
(``backends.janus_sampling.generation_prompt_ids`` / ``condition_embeddings``):
``<BOS><|User|>: [image blocks]prompt\\n\\n<|Assistant|>:<begin_of_image>`` followed by the target's VQ
tokens, which the generation head predicts one by one (cross-entropy). Each input image is two blocks
inside the user turn: its semantic features (vision encoder + aligner) and its VQ token embeddings.

Recipe, as upstream: each input image's VQ block is masked whole (left as padding) with probability
``image_token_mask_prob`` (0.5) — one draw per image, the condition inference's l_o branch uses; the
prompt of a text-only row is masked to padding with probability ``prompt_mask_prob`` (0.1) — the l_u
branch. Images go through the checkpoint's own image processor (padded to square, as at inference).
Rows with and without input images train jointly (task "janus-ti2i"). The loss is computed in
:class:`JanusLoss`'s ``forward``, so DDP / FSDP / DeepSpeed wrappers see the call.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from finetune.config import TrainConfig
from finetune.lora import lora_config


def _draw() -> float:
    """A uniform draw from torch's generator (seeded per run and per data-loader worker by accelerate,
    and fixed while the validation loss is computed)."""
    return float(torch.rand(()))


class JanusLoss(torch.nn.Module):
    """The Janus model with the image-token loss as its forward: ``loss = module(batch)``."""

    def __init__(self, janus: torch.nn.Module, tokens: Any, tokenizer: Any) -> None:
        super().__init__()
        self.janus = janus
        self.tokens = tokens
        self.tokenizer = tokenizer
        self.pad_id = tokens.ids(tokenizer)["pad"]

    def forward(self, batch: list[dict[str, Any]]) -> torch.Tensor:
        from backends.janus_sampling import condition_embeddings

        janus = self.janus
        vq = janus.model.vqmodel
        device = janus.device
        pixels = torch.stack([ex["pixel_values"] for ex in batch]).to(device, vq.dtype)
        with torch.no_grad():
            targets = vq.encode(pixels).image_tokens.view(len(batch), -1)
        prompts = [condition_embeddings(janus, ex["input_ids"], ex.get("source_pixel_values"), self.tokens,
                                        self.tokenizer, keep_vq=ex.get("keep_vq", ())) for ex in batch]
        logits = image_token_logits(janus, prompts, targets, self.pad_id)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


def image_token_logits(janus: torch.nn.Module, prompts: list[torch.Tensor], targets: torch.Tensor,
                       pad_id: int) -> torch.Tensor:
    """Generation-head logits ``[B, n, codebook]`` for ``targets`` ``[B, n]`` after each row's prompt
    embeddings ``[L_i, H]`` (the prompt ends with ``<begin_of_image>``, whose position predicts token 0).

    Rows are left-padded with the pad token's embedding, each row's positions starting at 0, so a row's
    logits do not depend on the other rows of the batch.
    """
    device = janus.device
    seqs = []
    for i, prompt in enumerate(prompts):
        image = janus.prepare_embeddings_for_image_generation(targets[i, :-1]).to(prompt.dtype)
        seqs.append(torch.cat([prompt, image]))
    longest = max(s.shape[0] for s in seqs)
    pad = janus.get_input_embeddings()(torch.tensor([pad_id], device=device))
    embeds = torch.stack([torch.cat([pad.expand(longest - s.shape[0], -1).to(s.dtype), s]) for s in seqs])
    mask = torch.stack([torch.cat([torch.zeros(longest - s.shape[0]), torch.ones(s.shape[0])])
                        for s in seqs]).to(device, dtype=torch.long)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: each row's positions start at 0
    hidden = janus.model.language_model(inputs_embeds=embeds, attention_mask=mask,
                                        position_ids=positions).last_hidden_state
    return janus.model.generation_head(hidden[:, -targets.shape[1]:])


class JanusTask:
    family = "janus"

    def __init__(self, config: TrainConfig, device: torch.device, weight_dtype: torch.dtype) -> None:
        from transformers import AutoImageProcessor, AutoTokenizer, JanusForConditionalGeneration

        from backends.janus import check_janus_checkpoint
        from backends.janus_sampling import JanusTokens

        self.config = config
        self.device = device
        check_janus_checkpoint("training", config.base_model, offline=False)
        self.tokenizer = AutoTokenizer.from_pretrained(config.base_model)
        self.image_processor = AutoImageProcessor.from_pretrained(config.base_model)
        # full fine-tuning keeps fp32 master weights (mixed precision computes in bf16); LoRA keeps the
        # frozen base in the compute dtype and only the adapter in fp32
        load_dtype = weight_dtype if config.method == "lora" else torch.float32
        self.model = JanusForConditionalGeneration.from_pretrained(config.base_model, dtype=load_dtype)
        mcfg = self.model.config
        self.n_image_tokens = int(mcfg.vision_config.num_image_tokens)
        self.tokens = JanusTokens.of(self.tokenizer, None, self.model.generation_config)
        self.pad_id = self.tokens.ids(self.tokenizer)["pad"]
        inner = self.model.model
        # the image-token loss reaches neither the VQ model (its tokens are discrete) nor the text head:
        # upstream trains "all parameters" and these two stay unchanged, so they are frozen here
        inner.vqmodel.requires_grad_(False)
        if self.model.lm_head.weight is not self.model.get_input_embeddings().weight:  # tied: it is trained
            self.model.lm_head.requires_grad_(False)
        if config.method == "lora":
            self.model.requires_grad_(False)
            self.model.to(device)
            inner.language_model.add_adapter(lora_config(config.lora, self.family))
            for p in self.model.parameters():
                if p.requires_grad:
                    p.data = p.data.float()
        else:
            self.model.to(device)
            inner.vqmodel.to(dtype=weight_dtype)
        if config.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.model.train()
        inner.vqmodel.eval()
        self.module = JanusLoss(self.model, self.tokens, self.tokenizer)

    # -- data ------------------------------------------------------------------------------
    def _pixels(self, paths: list[str], flip: bool) -> torch.Tensor:
        """``[n, 3, H, W]`` through the checkpoint's image processor (pad to square, as inference)."""
        images = []
        for path in paths:
            with Image.open(path) as img:
                img = img.convert("RGB")
            images.append(img.transpose(Image.FLIP_LEFT_RIGHT) if flip else img)
        return self.image_processor(images, return_tensors="pt")["pixel_values"]

    def make_example(self, row: dict[str, Any]) -> dict[str, Any]:
        """Token ids and pixels of one row, with the recipe's random draws made here (one per image)."""
        from backends.janus_sampling import generation_prompt_ids, unconditional_ids

        c = self.config
        flip = c.random_flip and _draw() < 0.5
        sources = list(row.get("input_images") or []) if c.task == "janus-ti2i" else []
        ids = generation_prompt_ids(self.tokenizer, row["prompt"], self.tokens, n_images=len(sources),
                                    n_image_tokens=self.n_image_tokens)
        ex: dict[str, Any] = {"pixel_values": self._pixels([row["output_image"]], flip)[0]}
        if sources:
            ex["source_pixel_values"] = self._pixels(sources, flip)
            ex["keep_vq"] = [_draw() >= c.image_token_mask_prob for _ in sources]
        elif _draw() < c.prompt_mask_prob:  # upstream masks prompts of text-only rows only
            ids = unconditional_ids(ids, self.pad_id)
        ex["input_ids"] = ids
        return ex

    def collate(self, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return examples  # sequences differ per row; JanusLoss builds the padded batch

    # -- training --------------------------------------------------------------------------
    def trainable_module(self) -> torch.nn.Module:
        return self.module

    def adapter_module(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module that carries the LoRA adapter (the language model)."""
        return module.janus.model.language_model

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Weight decay on every trainable weight but biases (as upstream's optimizer groups)."""
        named = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        return [{"params": [p for n, p in named if not n.endswith(".bias")], "weight_decay": weight_decay},
                {"params": [p for n, p in named if n.endswith(".bias")], "weight_decay": 0.0}]

    def loss(self, module: torch.nn.Module, batch: list[dict[str, Any]]) -> torch.Tensor:
        """Calls the (possibly wrapped) module, so distributed wrappers run their forward hooks."""
        return module(batch)

    # -- results ---------------------------------------------------------------------------
    def save_result(self, module, out_dir: Path, state_dict: dict[str, Any] | None = None) -> Path:
        """LoRA: the language model's adapter (peft format); full: a transformers Janus folder in the
        compute dtype (bf16 under bf16 mixed precision, like the released checkpoints) with the base's
        processor. ``state_dict``: the full weights gathered from sharded training (FSDP / ZeRO)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        janus = module.janus
        if self.config.method == "lora":
            janus.model.language_model.save_pretrained(out_dir)
        else:
            dtype = {"bf16": torch.bfloat16}.get(self.config.mixed_precision, torch.float32)
            if state_dict is None:
                state_dict = janus.state_dict()
            else:  # the wrapper's names carry JanusLoss's "janus." prefix
                state_dict = {k.removeprefix("janus."): v for k, v in state_dict.items()}
            state_dict = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
            janus.config.dtype = dtype
            janus.save_pretrained(out_dir, state_dict=state_dict)
        try:
            from transformers import AutoProcessor

            AutoProcessor.from_pretrained(self.config.base_model).save_pretrained(out_dir)
        except (OSError, ValueError, TypeError):  # a base without a processor: keep its parts
            self.tokenizer.save_pretrained(out_dir)
            self.image_processor.save_pretrained(out_dir)
        return out_dir

    def sample(self, model, prompts: list[str], sources: list[str], seed: int) -> list:
        """Janus sample images are drawn by the Janus backend, not during training (returns none)."""
        return []
