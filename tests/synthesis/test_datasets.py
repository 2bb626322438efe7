"""Dataset export/import: round trips in every layout, JSON Lines, bad rows, path escapes, 100k rows."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from studio.db.models import Sample
from studio.synthesis.batches import BatchOptions, create_batch, run_batch
from studio.synthesis.dedup import DedupSettings
from studio.synthesis.export import ExportError, export_dataset
from studio.synthesis.importer import ImportFailed, import_dataset
from studio.synthesis.planner import SynthesisRequest


def _snapshot(studio):
    with studio.db.session() as s:
        rows = s.execute(select(Sample)).scalars().all()
    keys = ("id", "task", "taxonomy_id", "prompt", "input_images", "output_image", "turns", "attributes", "seed",
            "backend", "method", "difficulty", "source", "dataset", "provenance", "llm")
    return sorted(json.dumps({k: getattr(r, k) for k in keys}, sort_keys=True) for r in rows)


def _fill(studio):
    req = SynthesisRequest(nodes=["opengpt4o/gen/text_rendering", "opengpt4o/edit/other_challenging",
                                  "opengpt4o/edit/multi_turn/turns_3"], count=6, seed=2, dedup=DedupSettings(near="off"))
    run_batch(studio, create_batch(studio, req, BatchOptions(images_backend="tiny", dataset="rt")))
    a = studio.samples.store_image(Image.new("RGB", (16, 16), "red"))
    b = studio.samples.store_image(Image.new("RGB", (16, 16), "blue"))
    m = studio.samples.store_image(Image.new("L", (16, 16), 255))
    # what the edit chat tab and the reasoning tab write
    studio.samples.add(task="multi-turn-edit", prompt="make it blue", input_images=[a], output_image=b,
                       turns=[{"instruction": "make it blue", "output_image": b, "mask_image": m,
                               "reference_images": [a], "backend": "tiny", "drift": 0.1}],
                       source="edit-chat", method="edit-chat", dataset="rt", attributes={"turns": 1})
    studio.samples.add(task="reasoning", prompt="what if the ball is red?", input_images=[], output_image=a,
                       turns=[{"type": "text", "text": "think"}, {"type": "image", "image": a, "description": "red ball"}],
                       source="reasoning", method="reasoning", dataset="rt", llm={"rationale": "r"})


@pytest.mark.parametrize("fmt", ["sharegpt4o", "opengpt4o", "studio"])
def test_round_trip_into_an_empty_database_preserves_everything(synth_studio, tmp_path, fmt):
    from studio.core import Studio
    from studio.settings import load_settings

    _fill(synth_studio)
    report = export_dataset(synth_studio, tmp_path / "out", fmt, dataset="rt")
    assert sum(report.files.values()) == 8 and not report.missing_images
    fresh = Studio(load_settings(data_dir=tmp_path / "fresh"))
    try:
        imp = import_dataset(fresh, tmp_path / "out")
        assert imp.applied and imp.imported == 8 and not imp.issues
        assert _snapshot(fresh) == _snapshot(synth_studio)
        for sample_json in _snapshot(fresh):
            out = json.loads(sample_json)["output_image"]
            assert out is None or fresh.images.find(out) is not None
    finally:
        fresh.close()


def test_released_layout_rows_and_json_lines(studio, tmp_path):
    d = tmp_path / "ds"
    (d / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "green").save(d / "images" / "0.png")
    Image.new("RGB", (8, 8), "white").save(d / "images" / "1.jpg")
    (d / "text_to_image.json").write_text(json.dumps([{"input_prompt": "a green square", "output_image": "images/0.png"}]))
    (d / "text_and_image_to_image.json").write_text(
        json.dumps({"input_prompt": "make it white", "input_image": ["images/0.png"], "output_image": "images/1.jpg"}) + "\n")
    rep = import_dataset(studio, d, dataset="released")
    assert rep.imported == 2 and rep.images == 2
    with studio.db.session() as s:
        tasks = sorted(x.task for x in s.execute(select(Sample)).scalars())
    assert tasks == ["edit", "text-to-image"]


def test_bad_rows_are_reported_and_only_imported_on_request(studio, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    Image.new("RGB", (8, 8)).save(d / "ok.png")
    (d / "not_image.png").write_text("hello")
    lines = [
        {"input_prompt": "good", "output_image": "ok.png"},
        {"input_prompt": "escape", "output_image": "../secret.png"},
        {"input_prompt": "absolute", "output_image": str(d / "ok.png")},
        {"output_image": "ok.png"},
        {"input_prompt": "missing", "output_image": "nope.png"},
        {"input_prompt": "fake", "output_image": "not_image.png"},
        {"input_prompt": "inputs", "input_image": "ok.png", "seed": "seven"},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{not json\n"
    (d / "data.jsonl").write_text(text)
    rep = import_dataset(studio, d / "data.jsonl")
    assert not rep.applied and rep.imported == 0
    msgs = [str(i) for i in rep.issues]
    assert any("row 2, field 'output_image'" in m and "escapes the dataset folder" in m for m in msgs)
    assert any("row 3" in m and "absolute path" in m for m in msgs)
    assert any("row 4, field 'input_prompt'" in m for m in msgs)
    assert any("row 5" in m and "missing" in m for m in msgs)
    assert any("row 6" in m and "not a supported image" in m for m in msgs)
    assert any("row 7, field 'seed'" in m for m in msgs)
    assert any("row 8" in m and "not valid JSON" in m for m in msgs)
    assert studio.samples.count_by_taxonomy() == {}
    rep2 = import_dataset(studio, d / "data.jsonl", good_rows_only=True)
    assert rep2.applied and rep2.imported == 1 and len(rep2.issues) == 7
    with pytest.raises(ImportFailed, match="not valid JSON"):
        (d / "broken.json").write_text("[{\"input_prompt\": 1,,]")
        import_dataset(studio, d / "broken.json")
    with pytest.raises(ExportError, match="not empty"):
        export_dataset(studio, d, "studio")


@pytest.mark.slow
def test_import_of_100000_rows_with_progress(studio, tmp_path):
    d = tmp_path / "big"
    (d / "img").mkdir(parents=True)
    for i in range(50):
        Image.new("RGB", (8, 8), (i * 5, 0, 0)).save(d / "img" / f"{i}.png")
    rows = [{"input_prompt": f"prompt number {i}", "output_image": f"img/{i % 50}.png"} for i in range(100_000)]
    (d / "text_to_image.json").write_text(json.dumps(rows))
    seen = []
    rep = import_dataset(studio, d, progress=lambda done, total: seen.append((done, total)))
    assert rep.imported == 100_000 and rep.images == 50
    assert seen[-1] == (100_000, 100_000) and len(seen) >= 100
    assert sum(studio.samples.count_by_taxonomy().values()) == 0  # no taxonomy in the released layout
