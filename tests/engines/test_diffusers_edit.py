"""diffusers editing on tiny pipelines: InstructPix2Pix, FLUX Kontext (+ inpaint), image-to-image."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from backends.base import BackendError, BackendLoadError, EditRequest
from backends.diffusers_edit import FAMILIES, DiffusersEdit, family_for_class
from backends.model_cache import ModelCache


@pytest.fixture(scope="module")
def cache():
    c = ModelCache(budget_bytes=2**30)  # shared by the module's tests: each tiny pipeline loads once
    yield c
    c.clear()


@pytest.fixture
def source():
    img = Image.new("RGB", (70, 50), (240, 120, 20))
    img.paste((20, 40, 200), (10, 10, 30, 30))
    return img


@pytest.fixture
def left_half_mask():
    mask = Image.new("L", (70, 50), 0)
    mask.paste(255, (0, 0, 35, 50))
    return mask


def test_instruct_pix2pix_edits_and_resizes_back(tiny_ip2p, cache, source):
    backend = DiffusersEdit("ip2p", model=str(tiny_ip2p), cache=cache)
    seen = []
    result = backend.edit(EditRequest(image=source, instruction="make the square green", steps=2,
                                      image_guidance_scale=1.2, reference_images=[source],
                                      progress=lambda s, n: seen.append(s)))
    assert backend.family.key == "instruct-pix2pix"
    assert result.image.size == (70, 50)
    assert result.metadata["working_size"] == [64, 48]
    assert any("reference image(s) ignored" in n for n in result.notices)
    assert seen[-1] == 2
    stronger = backend.edit(EditRequest(image=source, instruction="make the square green", steps=2,
                                        image_guidance_scale=3.0))
    assert not np.array_equal(np.asarray(result.image), np.asarray(stronger.image))


def test_instruct_pix2pix_mask_keeps_the_outside(tiny_ip2p, cache, source, left_half_mask):
    backend = DiffusersEdit("ip2p", model=str(tiny_ip2p), cache=cache)
    result = backend.edit(EditRequest(image=source, instruction="paint it", steps=2, mask=left_half_mask))
    out, src = np.asarray(result.image), np.asarray(source)
    assert np.array_equal(out[:, 45:], src[:, 45:])  # untouched right half (blur radius clear)
    assert not np.array_equal(out[:, :30], src[:, :30])
    assert any("blended into the original through the mask" in n for n in result.notices)


def test_keep_working_size_when_asked(tiny_ip2p, cache, source):
    backend = DiffusersEdit("ip2p", model=str(tiny_ip2p), cache=cache, resize_to_input=False)
    assert backend.edit(EditRequest(image=source, instruction="x", steps=2)).image.size == (64, 48)


def test_flux_kontext_edit_and_inpaint_by_path(tiny_kontext, cache, source, left_half_mask):
    backend = DiffusersEdit("kontext", model=str(tiny_kontext), cache=cache, max_area=64 * 48,
                            kontext_auto_resize=False)
    result = backend.edit(EditRequest(image=source, instruction="make it night", steps=2,
                                      params={"max_sequence_length": 32}))
    assert backend.family.key == "flux-kontext"
    loads = cache.loads
    assert result.image.size == (70, 50) and result.metadata["pipeline"] == "FluxKontextPipeline"
    masked = backend.edit(EditRequest(image=source, instruction="make it night", steps=2,
                                      mask=left_half_mask, strength=1.0, params={"max_sequence_length": 32}))
    assert masked.metadata["pipeline"] == "FluxKontextInpaintPipeline" and masked.image.size == (70, 50)
    assert cache.loads == loads  # the inpaint variant shares the loaded components


def test_plain_text_to_image_base_edits_by_image_to_image(tiny_sd, cache, source):
    backend = DiffusersEdit("sd-img2img", model=str(tiny_sd), cache=cache)
    result = backend.edit(EditRequest(image=source, instruction="a watercolor", steps=2, strength=0.5))
    assert backend.family.key == "img2img"
    assert result.metadata["pipeline"] == "StableDiffusionImg2ImgPipeline" and result.image.size == (70, 50)


def test_family_detection_and_bad_options(tiny_sd):
    assert family_for_class("QwenImageEditPlusPipeline").multi_image
    assert family_for_class("OmniGenPipeline").image_arg == "input_images"
    assert family_for_class("FluxFillPipeline") is FAMILIES["inpaint"]
    assert family_for_class("StableDiffusionXLPipeline") is FAMILIES["img2img"]
    with pytest.raises(BackendLoadError, match="unknown edit pipeline"):
        DiffusersEdit("x", model=str(tiny_sd), pipeline="magic")
    with pytest.raises(BackendError, match="needs a mask"):
        DiffusersEdit("x", model=str(tiny_sd), pipeline="inpaint").edit(
            EditRequest(image=Image.new("RGB", (8, 8)), instruction="x"))
