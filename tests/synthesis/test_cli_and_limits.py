"""Headless commands, mid-run cancel, and the requests-per-minute limiter."""
from __future__ import annotations

import json
import threading

import pytest

from studio.synthesis import llm as llm_mod
from studio.synthesis.batches import BatchOptions, batch_status, cancel_batch, create_batch, run_batch
from studio.synthesis.dedup import DedupSettings
from studio.synthesis.planner import SynthesisRequest


@pytest.fixture
def cli(monkeypatch, data_dir, backends_yaml):
    from studio.cli import main, synth
    from studio.core import Studio
    from studio.settings import load_settings

    monkeypatch.setattr(synth, "make_studio",
                        lambda: Studio(load_settings(data_dir=data_dir, backends_config=backends_yaml)))
    return main


def test_synth_cli_same_seed_same_output_then_export_and_import(cli, tmp_path, capsys):
    args = ["synth", "--node", "opengpt4o/gen/spatial", "--node", "opengpt4o/edit/text", "--count", "6",
            "--seed", "9", "--images", "tiny", "--near-dup", "minhash"]
    assert cli(args + ["--out", str(tmp_path / "a.jsonl")]) == 0
    assert cli(args + ["--keep-existing", "--out", str(tmp_path / "b.jsonl")]) == 0
    a = (tmp_path / "a.jsonl").read_text()
    assert a == (tmp_path / "b.jsonl").read_text()  # same seed, same rows
    rows = [json.loads(line) for line in a.splitlines()]
    assert len(rows) == 6 and all(r["output_image"] and r["state"] == "done" for r in rows)
    assert cli(args + ["--out", str(tmp_path / "c.jsonl"), "--dataset", "more"]) == 0
    assert cli(args + ["--out", str(tmp_path / "d.jsonl"), "--dataset", "more"]) == 0
    c, d = ([json.loads(line)["prompt"] for line in (tmp_path / n).read_text().splitlines()] for n in ("c.jsonl", "d.jsonl"))
    assert len(d) == 6 and not set(c) & set(d)  # by default a dataset's prompts are not made again
    assert cli(["export", "--format", "opengpt4o", "--dataset", "synthesis", str(tmp_path / "exp")]) == 0
    assert "gen.json" in capsys.readouterr().out
    assert cli(["import", str(tmp_path / "exp")]) == 0  # same ids: skipped, nothing duplicated
    assert "already in the database" in capsys.readouterr().out
    assert cli(["synth", "--node", "nope/node", "--count", "2"]) == 2
    assert "unknown taxonomy node" in capsys.readouterr().err
    assert cli(["synth", "--node", "opengpt4o/gen", "--method", "llm", "--count", "2"]) == 2
    assert "no chat backend" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('[{"input_prompt": "x", "output_image": "../../etc/passwd"}]')
    assert cli(["import", str(tmp_path / "bad.json")]) == 1
    assert "escapes the dataset folder" in capsys.readouterr().err


def test_cancel_while_running_keeps_done_items_and_resume_finishes(synth_studio, monkeypatch):
    monkeypatch.setenv("TINY_PAINTER_DELAY", "0.05")
    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial"], count=40, seed=4, dedup=DedupSettings(near="off"))
    bid = create_batch(synth_studio, req, BatchOptions(images_backend="tiny", dataset="c", concurrency=1))
    seen = threading.Event()

    def progress(st):
        if st.done >= 1 and not seen.is_set():
            seen.set()
            cancel_batch(synth_studio, bid)

    st = run_batch(synth_studio, bid, progress=progress)
    assert st.status == "cancelled" and 0 < st.done < 40
    st2 = run_batch(synth_studio, bid)
    assert (st2.status, st2.done) == ("done", 40)
    assert batch_status(synth_studio, bid).failed == 0


def test_rate_limiter_spaces_call_starts(monkeypatch):
    """With 120 requests/minute, starts are 0.5 s apart (a fake clock: no real waiting)."""
    now = [100.0]
    monkeypatch.setattr(llm_mod.time, "monotonic", lambda: now[0])
    starts = []

    def fake_sleep(d):
        now[0] += d

    monkeypatch.setattr(llm_mod.time, "sleep", fake_sleep)
    limiter = llm_mod.RateLimiter(120)
    for _ in range(5):
        limiter.wait()
        starts.append(now[0])
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:])] == [0.5] * 4
    assert llm_mod.RateLimiter(None).interval == 0.0
