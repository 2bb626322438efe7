"""Batches: samples stored with provenance, failures recorded and retried, cancel, kill and resume."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from studio.db.models import Sample
from studio.synthesis.batches import (BatchOptions, batch_items, batch_status, cancel_batch, create_batch,
                                      retry_failed, run_batch)
from studio.synthesis.dedup import DedupSettings
from studio.synthesis.models import SynthesisItem
from studio.synthesis.planner import SynthesisRequest
from studio.synthesis.templates import SynthesisError

ROOT = Path(__file__).resolve().parents[2]
OFF = DedupSettings(near="off")


def _samples(studio, dataset):
    with studio.db.session() as s:
        return s.execute(select(Sample).where(Sample.dataset == dataset)).scalars().all()


def test_batch_stores_every_task_with_provenance(synth_studio):
    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial/object_counting", "opengpt4o/edit/subject/replace",
                                  "opengpt4o/edit/multi_turn/turns_2", "opengpt4o/edit/other_challenging/reference_image"],
                           count=8, seed=3, dedup=OFF)
    bid = create_batch(synth_studio, req, BatchOptions(images_backend="tiny", dataset="b1"))
    st = run_batch(synth_studio, bid)
    assert (st.status, st.done, st.failed) == ("done", 8, 0)
    samples = _samples(synth_studio, "b1")
    assert {s.task for s in samples} == {"text-to-image", "edit", "multi-turn-edit"}
    for s in samples:
        assert s.output_image and synth_studio.images.find(s.output_image)
        assert s.provenance["batch_id"] == bid and s.source == "synthesis" and s.method == "template"
        assert s.attributes["difficulty_reason"] and s.difficulty in (1, 2, 3)
        if s.task == "multi-turn-edit":
            assert len(s.turns) == 2 and all(t["output_image"] for t in s.turns)
        if s.taxonomy_id.endswith("reference_image"):
            assert len(s.input_images) == 2  # source + reference


def test_failures_are_recorded_and_retryable(synth_studio, backends_yaml):
    req = SynthesisRequest(nodes=["opengpt4o/edit/subject/add"], count=12, seed=1, dedup=OFF)
    bid = create_batch(synth_studio, req, BatchOptions(images_backend="flaky", dataset="b2"))
    st = run_batch(synth_studio, bid)
    assert st.failed > 0 and st.done + st.failed == 12
    assert "failed" in (st.error or "")
    failed = batch_items(synth_studio, bid, "failed")
    assert all("balloon" in f["error"] and f["sample_id"] is None for f in failed)
    assert len(_samples(synth_studio, "b2")) == st.done  # failures never stored as samples
    # fix the backend (no failing word) and retry: only the failed items run again
    backends_yaml.write_text(backends_yaml.read_text().replace('fail_word: "balloon"', 'fail_word: ""'))
    synth_studio.backends.close()
    del synth_studio.__dict__["backends"]
    assert retry_failed(synth_studio, bid) == st.failed
    st2 = run_batch(synth_studio, bid)
    assert (st2.done, st2.failed, st2.status) == (12, 0, "done")
    assert len(_samples(synth_studio, "b2")) == 12


def test_cancel_before_run_and_bad_options(synth_studio):
    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial"], count=3, seed=1, dedup=OFF)
    bid = create_batch(synth_studio, req, BatchOptions(dataset="b3"))
    assert cancel_batch(synth_studio, bid) == "cancelled"
    with pytest.raises(Exception, match="not configured"):
        create_batch(synth_studio, req, BatchOptions(images_backend="nope"))
    with pytest.raises(SynthesisError, match="no chat backend"):
        create_batch(synth_studio, SynthesisRequest(nodes=["opengpt4o/gen"], count=2, method="llm"), BatchOptions())


def test_a_batch_asks_its_image_backend_for_the_chosen_steps(synth_studio):
    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial/object_counting", "opengpt4o/edit/subject/replace"],
                           count=4, seed=1, dedup=OFF)
    bid = create_batch(synth_studio, req, BatchOptions(images_backend="tiny", dataset="b5", steps=3))
    assert run_batch(synth_studio, bid).done == 4
    asked = synth_studio.backends.get("tiny").steps_asked
    assert len(asked) >= 4 and set(asked) == {3}  # generations and edits alike
    with pytest.raises(SynthesisError, match="steps must be between 1 and 1000"):
        create_batch(synth_studio, req, BatchOptions(images_backend="tiny", steps=0))


def test_prompts_only_batch_without_images(synth_studio):
    bid = create_batch(synth_studio, SynthesisRequest(nodes=["sharegpt4o/t2i/object"], count=5, seed=2,
                                                      method="attributes", dedup=OFF), BatchOptions(dataset="b4"))
    st = run_batch(synth_studio, bid)
    assert st.done == 5
    assert all(s.output_image is None and s.attributes["k"] >= 1 for s in _samples(synth_studio, "b4"))


@pytest.mark.slow
def test_killed_batch_process_resumes_without_duplicates_or_losses(synth_studio, data_dir, backends_yaml):
    """A `python -m studio synth` process is SIGKILLed mid-batch; resuming finishes it exactly once."""
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir), STUDIO_BACKENDS_CONFIG=str(backends_yaml),
               TINY_PAINTER_DELAY="0.15", PYTHONPATH=str(ROOT))
    count = 24
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio", "synth", "--node", "opengpt4o/gen/spatial", "--node",
         "opengpt4o/edit/subject", "--count", str(count), "--seed", "5", "--images", "tiny", "--dataset", "killed",
         "--near-dup", "off", "--concurrency", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline:
            with synth_studio.db.session() as s:
                done = s.execute(select(func.count()).select_from(SynthesisItem).where(
                    SynthesisItem.state == "done")).scalar_one()
            if done >= 4 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read().decode()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with synth_studio.db.session() as s:
        bid = s.execute(select(SynthesisItem.batch_id)).scalars().first()
    before = batch_status(synth_studio, bid)
    assert before.status == "interrupted" and 0 < before.done < count
    st = run_batch(synth_studio, bid)
    assert (st.status, st.done, st.failed) == ("done", count, 0)
    samples = _samples(synth_studio, "killed")
    assert len(samples) == count
    positions = sorted(s.provenance["position"] for s in samples)
    assert positions == list(range(count))  # nothing lost, nothing twice
    with synth_studio.db.session() as s:
        ids = s.execute(select(SynthesisItem.sample_id).where(SynthesisItem.batch_id == bid)).scalars().all()
    assert sorted(ids) == sorted(x.id for x in samples)


@pytest.mark.postgres
def test_batch_export_import_on_sqlite_and_postgresql(db_url, tmp_path, backends_yaml):
    """The same batch, export and import work on both database engines."""
    from studio.core import Studio
    from studio.settings import load_settings
    from studio.synthesis.export import export_dataset
    from studio.synthesis.importer import import_dataset

    studio = Studio(load_settings(data_dir=tmp_path / "d", database_url=db_url, backends_config=backends_yaml))
    try:
        req = SynthesisRequest(nodes=["opengpt4o/edit/multi_turn/turns_2", "opengpt4o/gen/spatial/containment"],
                               count=4, seed=6, dedup=OFF)
        bid = create_batch(studio, req, BatchOptions(images_backend="tiny", dataset="pg", concurrency=2))
        st = run_batch(studio, bid)
        assert (st.done, st.failed, st.status) == (4, 0, "done")
        export_dataset(studio, tmp_path / "x", "studio", "pg")
        rep = import_dataset(studio, tmp_path / "x", dataset="pg-copy")
        assert rep.skipped_existing == 4 and rep.imported == 0  # same ids: nothing duplicated
        assert retry_failed(studio, bid) == 0
    finally:
        studio.close()
