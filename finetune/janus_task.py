"""Janus image-generation fine-tuning with the Janus-4o recipe (ShareGPT-4o-Image paper, §3).

Text-to-image: prompt tokens, then ``<begin_of_image>``, then the target's VQ tokens predicted one by
one by the generation head (cross-entropy). Text-and-image-to-image: the input image enters twice,
as semantic embeddings (vision encoder + aligner, at ``<image_placeholder>`` positions) and as its
VQ tokens (generation embeddings), before the prompt. Recipe: a fraction of prompts (10%) is replaced
by padding, with the input image masked too (the unconditional branch of CFG), and a fraction of
the input image's VQ tokens (50%) is masked (replaced by the pad embedding) so the model does not
copy the input. Rows with and without an input image train jointly (task "janus-ti2i").
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from finetune.config import TrainConfig
from finetune.diffusion_task import image_to_tensor
from finetune.lora import lora_config

BEGIN_IMAGE, END_IMAGE, PLACEHOLDER = "<begin_of_image>", "<end_of_image>", "<image_placeholder>"


class JanusTask:
    family = "janus"

    def __init__(self, config: TrainConfig, device: torch.device, weight_dtype: torch.dtype) -> None:
        from transformers import AutoTokenizer, JanusForConditionalGeneration

        self.config = config
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(config.base_model)
        self.model = JanusForConditionalGeneration.from_pretrained(config.base_model)
        mcfg = self.model.config
        self.image_size = mcfg.vision_config.image_size
        self.n_semantic = mcfg.vision_config.num_image_tokens
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = self.tokenizer.convert_tokens_to_ids([BEGIN_IMAGE, END_IMAGE])
        self.begin_id, self.end_id = ids
        self.placeholder_id = mcfg.image_token_id
        inner = self.model.model
        inner.vqmodel.requires_grad_(False)
        inner.vision_model.requires_grad_(False)
        if config.method == "lora":
            self.model.requires_grad_(False)
            self.model.to(device, dtype=weight_dtype)
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

    # -- data ------------------------------------------------------------------------------
    def _prompt_ids(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                           add_generation_prompt=True)
            return tok(text, add_special_tokens=False).input_ids
        return tok(prompt).input_ids

    def make_example(self, row: dict[str, Any]) -> dict[str, Any]:
        flip = self.config.random_flip and random.random() < 0.5
        ex: dict[str, Any] = {
            "pixel_values": image_to_tensor(row["output_image"], self.image_size, True, flip),
            "prompt_ids": torch.tensor(self._prompt_ids(row["prompt"]), dtype=torch.long),
        }
        if self.config.task == "janus-ti2i" and row.get("input_images"):
            ex["source_pixel_values"] = image_to_tensor(row["input_images"][0], self.image_size, True, flip)
        return ex

    def collate(self, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return examples  # sequences differ per row; loss() builds the padded batch

    # -- training --------------------------------------------------------------------------
    def trainable_module(self) -> torch.nn.Module:
        return self.model

    def adapter_module(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module that carries the LoRA adapter (the language model)."""
        return model.model.language_model

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _embed_ids(self, model, ids: list[int] | torch.Tensor) -> torch.Tensor:
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        return model.get_input_embeddings()(ids)

    def _sequence(self, model, ex: dict[str, Any], target_tokens: torch.Tensor) -> torch.Tensor:
        """The input embeddings of one example, ending just before the last target token."""
        c = self.config
        inner = model.model
        pad = self._embed_ids(model, [self.pad_id])
        prompt_ids = ex["prompt_ids"].tolist()
        masked_prompt = random.random() < c.prompt_mask_prob
        if masked_prompt:  # the unconditional branch: every input token becomes padding
            prompt_ids = prompt_ids[:1] + [self.pad_id] * (len(prompt_ids) - 1)
        parts = []
        if "source_pixel_values" in ex:
            src = ex["source_pixel_values"].unsqueeze(0).to(self.device)
            with torch.no_grad():
                src_tokens = inner.vqmodel.encode(src.to(inner.vqmodel.dtype)).image_tokens.view(-1)
            if masked_prompt:
                semantic = pad.expand(self.n_semantic, -1)
                vq_embeds = pad.expand(src_tokens.numel(), -1)
            else:
                semantic = inner.aligner(inner.vision_model(src.to(inner.vision_model.dtype))
                                         .last_hidden_state)[0].to(pad.dtype)
                vq_embeds = model.prepare_embeddings_for_image_generation(src_tokens).to(pad.dtype)
                keep = (torch.rand(src_tokens.numel(), 1, device=self.device) >= c.image_token_mask_prob)
                vq_embeds = torch.where(keep, vq_embeds, pad.expand_as(vq_embeds))
            parts += [self._embed_ids(model, [self.begin_id]), semantic, vq_embeds,
                      self._embed_ids(model, [self.end_id])]
        parts.append(self._embed_ids(model, prompt_ids + [self.begin_id]))
        parts.append(model.prepare_embeddings_for_image_generation(target_tokens[:-1]).to(pad.dtype))
        return torch.cat(parts, dim=0)

    def loss(self, model: torch.nn.Module, batch: list[dict[str, Any]]) -> torch.Tensor:
        inner = model.model
        pixels = torch.stack([ex["pixel_values"] for ex in batch]).to(self.device)
        with torch.no_grad():
            targets = inner.vqmodel.encode(pixels.to(inner.vqmodel.dtype)).image_tokens.view(len(batch), -1)
        seqs = [self._sequence(model, ex, targets[i]) for i, ex in enumerate(batch)]
        longest = max(s.shape[0] for s in seqs)
        pad = self._embed_ids(model, [self.pad_id])
        embeds = torch.stack([torch.cat([pad.expand(longest - s.shape[0], -1), s]) for s in seqs])
        mask = torch.stack([torch.cat([torch.zeros(longest - s.shape[0]), torch.ones(s.shape[0])])
                            for s in seqs]).to(self.device, dtype=torch.long)
        hidden = inner.language_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        n = targets.shape[1]
        logits = inner.generation_head(hidden[:, -n:])  # position of <begin_of_image> predicts token 0
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))

    # -- results ---------------------------------------------------------------------------
    def save_result(self, model, out_dir: Path) -> Path:
        """LoRA: the language model's adapter (peft format); full: a transformers Janus folder."""
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.config.method == "lora":
            model.model.language_model.save_pretrained(out_dir)
        else:
            model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        return out_dir

    def sample(self, model, prompts: list[str], sources: list[str], seed: int) -> list:
        """Janus sample images are drawn by the Janus backend, not during training (returns none)."""
        return []
