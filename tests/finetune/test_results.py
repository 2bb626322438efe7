"""Which backend entry a completed run becomes: adapters load on their base, full weights alone."""
from datetime import datetime, timezone

import pytest

from finetune.results import ResultError, result_entry
from finetune.tracker import RunInfo


def run(tmp_path, task, method, status="completed"):
    out = tmp_path / "result"
    out.mkdir(exist_ok=True)
    return RunInfo(
        id="abcdef123456", name="My Run", status=status, task=task, method=method, base_model="base/model",
        config={}, created_at=datetime.now(timezone.utc), started_at=None, finished_at=None,
        heartbeat_at=None, pid=None, host=None, device="cpu", command="", output_dir=str(tmp_path),
        log_path="", step=1, total_steps=1, error=None, stop_requested=False, result_path=str(out),
    )


@pytest.mark.parametrize("task, engine", [("janus-t2i", "janus"), ("text-to-image", "diffusers-text2image")])
def test_lora_results_load_on_their_base(tmp_path, task, engine):
    entry = result_entry(run(tmp_path, task, "lora"))
    assert entry.engine == engine
    assert entry.options == {"model": "base/model", "loras": [{"path": str(tmp_path / "result"), "scale": 1.0}]}


def test_full_results_stand_alone(tmp_path):
    entry = result_entry(run(tmp_path, "janus-t2i", "full"))
    assert entry.options == {"model": str(tmp_path / "result")}
    assert result_entry(run(tmp_path, "edit", "full")).engine == "diffusers-edit"


def test_unfinished_run_has_no_result(tmp_path):
    with pytest.raises(ResultError, match="only a completed run"):
        result_entry(run(tmp_path, "text-to-image", "lora", status="running"))


def test_a_tiny_run_renders_at_its_training_size_and_steps(tmp_path):
    tiny = run(tmp_path, "text-to-image", "lora")
    tiny.config.update({"resolution": 32, "sample_steps": 6, "sample_guidance_scale": 4.0})
    entry = result_entry(tiny)
    from backends.defaults import backend_defaults

    assert backend_defaults(entry) == {"width": 32, "height": 32, "steps": 6, "guidance_scale": 4.0}
    assert entry.options["steps"] == 6  # what the engine samples with when a tab leaves steps empty


def test_a_model_folder_tells_its_own_size():
    from backends.defaults import model_folder_size
    from backends.registry import BackendEntry, BackendRegistry
    from finetune.presets import CPU_BASE_MODEL

    assert model_folder_size(CPU_BASE_MODEL) == 32
    reg = BackendRegistry({"tiny": BackendEntry("tiny", "diffusers-text2image", "tiny",
                                                options={"model": str(CPU_BASE_MODEL)})})
    assert reg.defaults("tiny") == {"width": 32, "height": 32}
