"""Making comparison batches: generated from prompts and backends (with resume), or imported pairs."""
from __future__ import annotations

import json
import zipfile

import pytest
from PIL import Image

from studio.annotation import AnnotationError, generation, importer, service
from tests.support.fake_backends import SolidColor, write_backends


@pytest.fixture
def gen_studio(tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    d = tmp_path / "data"
    s = Studio(load_settings(data_dir=d, backends_config=write_backends(tmp_path)))
    yield s
    s.close()


def test_generate_all_pairs_then_resume_only_makes_what_is_missing(gen_studio):
    prompts = generation.prompts_from_text("a red cube\n\na blue ball\nFAIL on purpose\n")
    assert len(prompts) == 3
    batch_id = generation.plan_batch(gen_studio, "gen", prompts=prompts, overlap=2,
                                     backends=["model-alpha-zq", "model-beta-kx", "model-gamma-fragile"])
    seen = []
    result = generation.run_plan(gen_studio, batch_id, progress=lambda d, t: seen.append((d, t)))
    # 3 prompts x 3 pairs = 9; the fragile backend fails on one prompt -> its 2 pairs are missing
    assert (result["done"], result["total"]) == (7, 9)
    assert len(result["errors"]) == 1 and "prompt 3 on model-gamma-fragile" in result["errors"][0]
    assert seen[0] == (0, 9) and seen[-1] == (7, 9)
    items = service.batch_items(gen_studio, batch_id)
    assert {(r["model_a"], r["model_b"]) for r in items} == {
        ("model-alpha-zq", "model-beta-kx"), ("model-alpha-zq", "model-gamma-fragile"),
        ("model-beta-kx", "model-gamma-fragile")}
    assert all(r["output_a"] != r["output_b"] for r in items)
    SolidColor.calls.clear()
    again = generation.run_plan(gen_studio, batch_id)
    assert (again["done"], again["total"]) == (7, 9)
    assert {c[1] for c in SolidColor.calls} == {"FAIL on purpose"}  # only the missing prompt is retried
    assert service.get_batch(gen_studio, batch_id).items == 7


def test_background_job_reports_progress(gen_studio):
    batch_id = generation.plan_batch(gen_studio, "job", prompts=[{"prompt": "x"}, {"prompt": "y"}],
                                     backends=["model-alpha-zq", "model-beta-kx"])
    job = generation.start_job(gen_studio, batch_id)
    for _ in range(200):
        if not job.running:
            break
        import time

        time.sleep(0.05)
    assert not job.running and (job.done, job.total) == (2, 2) and "finished" in job.text()


def test_edit_plan_uses_the_source_image(gen_studio):
    src = gen_studio.samples.store_image(Image.new("RGB", (32, 32), (9, 9, 9)))
    batch_id = generation.plan_batch(gen_studio, "edits", prompts=[{"prompt": "make it red"}], task="edit",
                                     source_image=src, backends=["model-alpha-zq", "model-beta-kx"])
    generation.run_plan(gen_studio, batch_id)
    (item,) = service.batch_items(gen_studio, batch_id)
    assert item["task"] == "edit" and item["source_image"] == src


def test_plan_validation_errors(gen_studio):
    p = [{"prompt": "x"}]
    with pytest.raises(AnnotationError, match="at least two"):
        generation.plan_batch(gen_studio, "a", prompts=p, backends=["model-alpha-zq"])
    with pytest.raises(AnnotationError, match="not configured"):
        generation.plan_batch(gen_studio, "a", prompts=p, backends=["model-alpha-zq", "nope"])
    with pytest.raises(AnnotationError, match="cannot do edit"):
        generation.plan_batch(gen_studio, "a", prompts=p, task="edit", source_image="0" * 64,
                              backends=["model-alpha-zq", "model-gamma-fragile"])
    with pytest.raises(AnnotationError, match="source image"):
        generation.plan_batch(gen_studio, "a", prompts=p, task="edit", backends=["model-alpha-zq", "model-beta-kx"])
    with pytest.raises(AnnotationError, match="empty"):
        generation.plan_batch(gen_studio, "a", prompts=[], backends=["model-alpha-zq", "model-beta-kx"])
    assert service.list_batches(gen_studio) == []


def test_prompt_files(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"input_prompt": "a"}\n{"prompt": "b", "taxonomy_id": "gen/x"}\n')
    assert generation.prompts_from_file(tmp_path / "p.jsonl") == [
        {"prompt": "a", "taxonomy_id": None}, {"prompt": "b", "taxonomy_id": "gen/x"}]
    (tmp_path / "p.csv").write_text("prompt,taxonomy_id\nc,\n")
    assert generation.prompts_from_file(tmp_path / "p.csv")[0]["prompt"] == "c"
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(AnnotationError, match="entry 1 has no prompt"):
        generation.prompts_from_file(tmp_path / "bad.jsonl")


def _png(path, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), color).save(path)


def test_import_manifest_jsonl_and_csv_with_genai_bench_names(studio, tmp_path):
    _png(tmp_path / "imgs/a1.png", (1, 0, 0))
    _png(tmp_path / "imgs/b1.png", (2, 0, 0))
    _png(tmp_path / "imgs/src.png", (3, 0, 0))
    rows = [{"prompt": "<script>alert(1)</script>", "output_a": "imgs/a1.png", "model_a": "m1",
             "output_b": "imgs/b1.png", "model_b": "m2"},
            {"instruction": "make it blue", "source_image": "imgs/src.png", "left_image": "imgs/b1.png",
             "left_model": "m2", "right_image": "imgs/a1.png", "right_model": "m1", "taxonomy_id": "edit/color"}]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    batch_id = importer.import_manifest(studio, "imp", tmp_path / "pairs.jsonl", overlap=2)
    items = service.batch_items(studio, batch_id)
    assert [i["task"] for i in items] == ["text-to-image", "edit"]
    assert items[1]["model_a"] == "m2" and items[1]["taxonomy_id"] == "edit/color"
    assert service.get_batch(studio, batch_id).overlap == 2
    (tmp_path / "pairs.csv").write_text("prompt,output_a,model_a,output_b,model_b\np,imgs/a1.png,x,imgs/b1.png,y\n")
    assert service.get_batch(studio, importer.import_manifest(studio, "csv", tmp_path / "pairs.csv")).items == 1


def test_import_with_a_bad_row_imports_nothing_and_names_the_rows(studio, tmp_path):
    _png(tmp_path / "a.png", (1, 1, 1))
    (tmp_path / "not-image.png").write_bytes(b"hello")
    rows = [{"prompt": "ok", "output_a": "a.png", "model_a": "x", "output_b": "a.png", "model_b": "y"},
            {"prompt": "bad", "output_a": "not-image.png", "model_a": "x", "output_b": "a.png", "model_b": "y"},
            {"prompt": "no b", "output_a": "a.png", "model_a": "x"}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(AnnotationError) as err:
        importer.import_manifest(studio, "bad", tmp_path / "m.jsonl")
    assert "row 2" in str(err.value) and "not a supported image" in str(err.value)
    assert "row 3: missing output_b, model_b" in str(err.value)
    assert service.list_batches(studio) == []


def test_import_two_folders_and_zip_upload(studio, tmp_path):
    for name, c in (("one.png", 1), ("two.png", 2)):
        _png(tmp_path / "zip/sdxl/" / name, (c, 0, 0))
        _png(tmp_path / "zip/mine/" / name, (0, c, 0))
    (tmp_path / "zip/prompts.csv").write_text("file,prompt\none.png,first prompt\ntwo,second prompt\n")
    batch_id = importer.import_folders(studio, "folders", tmp_path / "zip/mine", "mine", tmp_path / "zip/sdxl",
                                       "sdxl", prompts_file=tmp_path / "zip/prompts.csv")
    items = service.batch_items(studio, batch_id)
    assert [(i["prompt"], i["model_a"], i["model_b"]) for i in items] == [
        ("first prompt", "mine", "sdxl"), ("second prompt", "mine", "sdxl")]
    zpath = tmp_path / "up.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in (tmp_path / "zip").rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path / "zip"))
    zipped = importer.import_upload(studio, "zipped", zpath, tmp_path / "unzipped")
    assert service.get_batch(studio, zipped).items == 2
    _png(tmp_path / "zip/mine/three.png", (3, 3, 3))
    with pytest.raises(AnnotationError, match="only one folder: three.png"):
        importer.import_folders(studio, "uneven", tmp_path / "zip/mine", "a", tmp_path / "zip/sdxl", "b")


def test_zip_with_unsafe_paths_is_refused(tmp_path):
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(AnnotationError, match="unsafe path"):
        importer.extract_upload(zpath, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_a_batch_without_a_size_takes_the_backends_own_and_small_sizes_are_allowed(gen_studio):
    from backends.registry import BackendEntry

    gen_studio.backends.add(BackendEntry("tiny-32", "tests.support.fake_backends:SolidColor", "tiny",
                                         capabilities=gen_studio.backends.entry("model-alpha-zq").capabilities,
                                         defaults={"width": 32, "height": 32, "steps": 4}))
    batch_id = generation.plan_batch(gen_studio, "own-size", prompts=[{"prompt": "a red cube"}],
                                     backends=["tiny-32", "model-alpha-zq"])
    generation.run_plan(gen_studio, batch_id)
    item = service.batch_items(gen_studio, batch_id)[0]
    assert gen_studio.images.open(item["output_a"]).size == (32, 32)
    small = generation.plan_batch(gen_studio, "small", prompts=[{"prompt": "x"}], width=16, height=24,
                                  backends=["model-alpha-zq", "model-beta-kx"])
    generation.run_plan(gen_studio, small)
    assert gen_studio.images.open(service.batch_items(gen_studio, small)[0]["output_b"]).size == (16, 24)


def test_a_cancelled_job_stops_at_once_and_a_resume_makes_only_the_rest(gen_studio):
    import time

    from backends.registry import BackendEntry

    gen_studio.backends.add(BackendEntry("holding", "tests.support.fake_backends:SolidColor", "holding",
                                         options={"hold_on": "second"},
                                         capabilities=gen_studio.backends.entry("model-alpha-zq").capabilities))
    batch_id = generation.plan_batch(gen_studio, "cancel-me", prompts=[{"prompt": "first"}, {"prompt": "second"}],
                                     backends=["model-alpha-zq", "holding"], width=16, height=16)
    SolidColor.holding.clear()
    job = generation.start_job(gen_studio, batch_id)
    assert SolidColor.holding.wait(30)
    assert generation.cancel_job(gen_studio, batch_id) is job
    for _ in range(600):
        if not job.running:
            break
        time.sleep(0.05)
    assert not job.running and (job.done, job.total) == (1, 2) and "cancelled" in job.text()
    gen_studio.backends.add(BackendEntry("holding", "tests.support.fake_backends:SolidColor", "holding",
                                         capabilities=gen_studio.backends.entry("model-alpha-zq").capabilities))
    again = generation.run_plan(gen_studio, batch_id)
    assert (again["done"], again["total"]) == (2, 2)
