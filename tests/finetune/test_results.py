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
