"""Janus text-to-image (CFG) and Janus-4o text-and-image-to-image (dual CFG) on a tiny random model."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from backends.base import BackendLoadError, Cancelled, EditRequest, GenerationRequest
from backends.janus import JanusBackend
from backends.janus_sampling import (
    JanusGuidanceProcessor,
    JanusTokens,
    image_edit_inputs,
    sample_image_tokens,
    text_to_image_inputs,
)
from backends.model_cache import ModelCache


# -- the guidance combination on its own -----------------------------------------------------
def test_two_way_guidance_is_classic_cfg():
    cond, uncond = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.5, 0.5, 0.5]])
    out = JanusGuidanceProcessor(scale=5.0)(None, torch.cat([cond, uncond]))
    assert torch.allclose(out, uncond + 5.0 * (cond - uncond))


def test_three_way_guidance_matches_janus4o_formula():
    g = torch.Generator().manual_seed(0)
    full, part, uncond = (torch.randn(2, 7, generator=g) for _ in range(3))
    s, s2 = 5.0, 5.0
    expected_cond = (full + s2 * part) / (1 + s2)
    expected = uncond + s * (expected_cond - uncond)
    out = JanusGuidanceProcessor(scale=s, image_scale=s2)(None, torch.cat([full, part, uncond]))
    assert out.shape == (2, 7) and torch.allclose(out, expected)


def test_three_way_guidance_limits():
    full, part, uncond = torch.tensor([[3.0, 1.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 1.0]])
    rows = torch.cat([full, part, uncond])
    # s' = 0 ignores the image-masked row: plain CFG on the full condition
    assert torch.allclose(JanusGuidanceProcessor(5.0, 0.0)(None, rows), uncond + 5 * (full - uncond))
    # s = 1 returns the blended conditional logits unchanged
    assert torch.allclose(JanusGuidanceProcessor(1.0, 1.0)(None, rows), (full + part) / 2)
    with pytest.raises(ValueError, match="multiple of 3"):
        JanusGuidanceProcessor(5.0, 5.0)(None, torch.zeros(4, 2))
    with pytest.raises(ValueError):
        JanusGuidanceProcessor(5.0, -1.0)


# -- the sampling loop -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def loaded(tiny_janus):
    from transformers import AutoImageProcessor, AutoTokenizer, JanusForConditionalGeneration

    model = JanusForConditionalGeneration.from_pretrained(str(tiny_janus)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_janus))
    processor = AutoImageProcessor.from_pretrained(str(tiny_janus))
    return model, tokenizer, processor


def edit_embeds(model, tokenizer, processor, instruction="make the sky purple"):
    src = Image.new("RGB", (40, 30), (30, 160, 220))
    pixel_values = processor([src], return_tensors="pt")["pixel_values"]
    return image_edit_inputs(model, tokenizer, instruction, pixel_values,
                             JanusTokens.of(tokenizer, None, model.generation_config))


def test_prompt_ids_are_what_transformers_processor_builds(tiny_janus, loaded):
    """``<BOS><|User|>: …\n\n<|Assistant|>:<begin_of_image>``, as JanusProcessor in image mode."""
    from transformers import AutoProcessor

    from backends.janus_sampling import generation_prompt_ids

    model, tokenizer, _ = loaded
    processor = AutoProcessor.from_pretrained(str(tiny_janus))
    turn = [{"role": "user", "content": [{"type": "text", "text": "a red cube"}]}]
    text = processor.apply_chat_template(turn, add_generation_prompt=True)
    expected = processor(text=text, generation_mode="image", return_tensors="pt")["input_ids"][0]
    ids = generation_prompt_ids(tokenizer, "a red cube", JanusTokens.of(tokenizer, None, model.generation_config))
    assert ids.tolist() == expected.tolist()
    assert ids[0] == tokenizer.bos_token_id and (ids == tokenizer.bos_token_id).sum() == 1


def test_edit_conditions_mask_what_the_paper_says(loaded):
    model, tokenizer, processor = loaded
    embeds = edit_embeds(model, tokenizer, processor)
    full, part, uncond = embeds
    differs = (full != part).any(-1)
    assert differs.sum() == model.config.vision_config.num_image_tokens  # only the VQ block differs
    pad_id = model.generation_config.pad_token_id  # DeepSeek's tokenizers declare no pad token
    assert tokenizer.pad_token is None and pad_id != tokenizer.bos_token_id
    pad = model.get_input_embeddings()(torch.tensor(pad_id))
    assert torch.equal(part[differs], pad.expand(int(differs.sum()), -1))  # masked to padding in l_o
    assert torch.equal(uncond[1:-1], pad.expand(uncond.shape[0] - 2, -1))  # all but BOS and BOI in l_u
    assert torch.equal(uncond[0], full[0]) and torch.equal(uncond[-1], full[-1])


def test_batched_three_way_loop_matches_three_separate_forwards(loaded):
    model, tokenizer, processor = loaded
    model64 = model.to(torch.float64)  # exact arithmetic so only the batching could differ
    try:
        embeds = edit_embeds(model64, tokenizer, processor)
        guidance = JanusGuidanceProcessor(5.0, 5.0)
        batched = sample_image_tokens(model64, embeds, guidance, generator=torch.Generator().manual_seed(7))
        separate = sample_image_tokens(model64, embeds, guidance, generator=torch.Generator().manual_seed(7),
                                       batched=False)
        assert torch.equal(batched, separate)
        assert batched.shape == (1, model.config.vision_config.num_image_tokens)
        other_seed = sample_image_tokens(model64, embeds, guidance, generator=torch.Generator().manual_seed(8))
        assert not torch.equal(batched, other_seed)
    finally:
        model.to(torch.float32)


def test_batched_two_way_loop_matches_separate_forwards(loaded):
    model, tokenizer, _ = loaded
    model64 = model.to(torch.float64)
    try:
        embeds = text_to_image_inputs(model64, tokenizer, "a red cube",
                                      JanusTokens.of(tokenizer, None, model.generation_config))
        guidance = JanusGuidanceProcessor(5.0)
        a = sample_image_tokens(model64, embeds, guidance, generator=torch.Generator().manual_seed(1))
        b = sample_image_tokens(model64, embeds, guidance, generator=torch.Generator().manual_seed(1), batched=False)
        assert torch.equal(a, b)
    finally:
        model.to(torch.float32)


# -- the backend -------------------------------------------------------------------------------
@pytest.fixture
def backend(tiny_janus):
    cache = ModelCache(budget_bytes=2**30)
    yield JanusBackend("janus", model=str(tiny_janus), cache=cache)
    cache.clear()


def test_text_to_image(backend):
    seen = []
    result = backend.generate(GenerationRequest("a red cube", seed=3, width=48, height=48,
                                                progress=lambda s, n: seen.append((s, n))))
    assert result.image.size == (48, 48)
    assert seen[0] == (0, 16) and seen[-1] == (16, 16)
    assert result.metadata["cfg_scale"] == 5.0 and result.metadata["temperature"] == 1.0
    same = backend.generate(GenerationRequest("a red cube", seed=3, width=48, height=48))
    assert np.array_equal(np.asarray(result.image), np.asarray(same.image))


def test_janus4o_edit_with_reference_and_mask(backend):
    src = Image.new("RGB", (40, 30), (30, 160, 220))
    mask = Image.new("L", (40, 30), 0)
    mask.paste(255, (0, 0, 20, 30))
    result = backend.edit(EditRequest(image=src, instruction="add a moon", reference_images=[src], mask=mask,
                                      image_guidance_scale=2.0, seed=1))
    assert result.image.size == (40, 30)
    assert result.metadata["mode"] == "text-and-image-to-image"
    assert result.metadata["image_cfg_scale"] == 2.0 and result.metadata["input_images"] == 2
    assert np.array_equal(np.asarray(result.image)[:, 30:], np.asarray(src)[:, 30:])


def test_cancel_between_tokens(backend):
    cancel = threading.Event()

    def progress(done, total):
        if done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        backend.generate(GenerationRequest("x", progress=progress, cancel=cancel, width=32, height=32))


def test_missing_checkpoint_is_a_load_error(tmp_path):
    with pytest.raises(BackendLoadError) as info:
        JanusBackend("janus", model=str(tmp_path / "absent"), cache=ModelCache(2**20)).generate(GenerationRequest("x"))
    assert "not found" in info.value.reason


def test_lora_adapter_of_the_language_model(tiny_janus, tmp_path):
    from tests.support.tiny_janus import build_tiny_janus_lora

    adapter = build_tiny_janus_lora(tiny_janus, tmp_path / "adapter")
    cache = ModelCache(budget_bytes=2**30)
    request = GenerationRequest("a red cube", seed=2, width=32, height=32)

    def draw(**options):
        return np.asarray(JanusBackend("j", cache=cache, **options).generate(request).image)

    base = draw(model=str(tiny_janus))
    tuned = draw(model=str(tiny_janus), loras=[{"path": str(adapter), "scale": 1.0}])
    muted = draw(model=str(tiny_janus), loras=[{"path": str(adapter), "scale": 0.0}])
    assert not np.array_equal(base, tuned)
    assert np.array_equal(base, muted)
    assert np.array_equal(tuned, draw(model=str(adapter), base_model=str(tiny_janus)))
    with pytest.raises(BackendLoadError, match="holds a LoRA adapter") as info:
        JanusBackend("j", model=str(adapter), cache=cache)
    assert "options.loras" in info.value.fix
