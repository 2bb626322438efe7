"""Tiny models built once per test session (random weights, local tokenizers, nothing downloaded)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run far faster on one thread than on threads fighting over a shared machine."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_sd(tiny_root):
    from tests.support.tiny_models import build_tiny_sd

    return build_tiny_sd(tiny_root / "sd")


@pytest.fixture(scope="session")
def tiny_ip2p(tiny_root):
    from tests.support.tiny_models import build_tiny_sd

    return build_tiny_sd(tiny_root / "ip2p", unet_in_channels=8)


@pytest.fixture(scope="session")
def tiny_sd_lora(tiny_root, tiny_sd):
    from tests.support.tiny_models import build_tiny_sd_lora

    return build_tiny_sd_lora(tiny_sd, tiny_root / "sd-lora")


@pytest.fixture(scope="session")
def tiny_flux(tiny_root):
    from tests.support.tiny_models import build_tiny_flux

    return build_tiny_flux(tiny_root / "flux")


@pytest.fixture(scope="session")
def tiny_kontext(tiny_root):
    from tests.support.tiny_models import build_tiny_flux

    return build_tiny_flux(tiny_root / "kontext", kontext=True)


@pytest.fixture(scope="session")
def tiny_flux_dev(tiny_root):
    from tests.support.tiny_models import build_tiny_flux

    return build_tiny_flux(tiny_root / "flux-dev", guidance_embeds=True)


@pytest.fixture(scope="session")
def tiny_sdxl(tiny_root):
    from tests.support.tiny_pipelines import build_tiny_sdxl

    return build_tiny_sdxl(tiny_root / "sdxl", sample_size=32)


@pytest.fixture(scope="session")
def tiny_qwen_image(tiny_root):
    from tests.support.tiny_pipelines import build_tiny_qwen_image

    return build_tiny_qwen_image(tiny_root / "qwen-image")


@pytest.fixture(scope="session")
def tiny_janus(tiny_root):
    from tests.support.tiny_janus import build_tiny_janus

    return build_tiny_janus(tiny_root / "janus", initializer_range=0.2)  # logits far from uniform


@pytest.fixture(scope="session")
def tiny_chat_lm(tiny_root):
    from tests.support.tiny_models import build_tiny_chat_lm

    return build_tiny_chat_lm(tiny_root / "chat-lm")


@pytest.fixture(scope="session")
def tiny_vlm(tiny_root):
    from tests.support.tiny_models import build_tiny_llava

    return build_tiny_llava(tiny_root / "vlm")
