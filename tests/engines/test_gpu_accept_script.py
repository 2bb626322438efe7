"""bench/gpu_accept.py as a person meets it on a machine without a GPU: its options and a clean refusal."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_accept.py"


@pytest.fixture(scope="module")
def accept():
    spec = importlib.util.spec_from_file_location("gpu_accept", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_cover_every_family(accept):
    args = accept.parse_args([])
    assert args.models == ["sd15", "sdxl", "flux", "janus"]
    assert (args.steps, args.lora_steps, args.flux_blocks, args.tiny) == (20, 200, (2, 4), False)


def test_options_are_read_and_checked(accept, capsys):
    args = accept.parse_args(["--models", "sdxl, janus", "--lora-steps", "300", "--flux-blocks", "3,6"])
    assert args.models == ["sdxl", "janus"] and args.lora_steps == 300 and args.flux_blocks == (3, 6)
    for bad, message in ((["--models", "sd3"], "unknown model"), (["--flux-blocks", "1,4"], "at least 2"),
                         (["--steps", "0"], "--steps must be at least 1")):
        with pytest.raises(SystemExit) as info:
            accept.parse_args(bad)
        assert info.value.code == 2 and message in capsys.readouterr().err


def test_without_cuda_it_refuses_cleanly(accept, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert accept.main(["--models", "sd15"]) == 2
    out = capsys.readouterr()
    assert "no CUDA GPU is visible" in out.err and "--tiny" in out.err and out.out == ""
