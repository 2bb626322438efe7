"""The validation report users see before launch: each kind of problem is found and counted."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from finetune.config import ConfigError, parse_config
from finetune.datasets import DatasetError, read_released_file, read_rows, validate_rows
from tests.finetune.conftest import write_color_dataset


def test_every_problem_is_reported(tmp_path):
    folder = tmp_path / "d"
    (folder).mkdir()
    (folder / "garbage.png").write_bytes(b"not an image at all")
    Image.new("RGB", (8, 8)).save(folder / "small.png")
    extra = [
        {"input_prompt": "missing output", "input_image": ["in0.png"], "output_image": "nope.png"},
        {"input_prompt": "broken output", "input_image": ["in0.png"], "output_image": "garbage.png"},
        {"input_prompt": "   ", "input_image": ["in0.png"], "output_image": "out0.png"},
        {"input_prompt": "no source", "output_image": "out0.png"},
        {"input_prompt": "tiny", "input_image": ["in0.png"], "output_image": "small.png"},
        "not an object",
    ]
    path = write_color_dataset(folder, edit=True, extra=extra)
    report = validate_rows(read_released_file(path), "edit", 16)
    assert report.total == 10
    assert report.usable == 5  # four good rows + the small image (a warning, not an error)
    assert report.error_counts == {"missing image": 1, "unreadable image": 1, "empty prompt": 1,
                                   "task mismatch": 1, "malformed row": 1}
    assert report.warning_counts == {"smaller than resolution": 1}
    assert not report.launchable(skip_invalid=False)
    assert report.launchable(skip_invalid=True)
    text = report.to_markdown()
    assert "5 of 10 rows usable" in text and "nope.png: missing" in text and "row 9" in text


def test_json_lines_and_text_to_image_rows(tmp_path):
    path = write_color_dataset(tmp_path / "t", edit=False)
    rows = json.loads(path.read_text())
    lines = tmp_path / "t" / "gen.json"
    lines.write_text("\n".join(json.dumps(r) for r in rows))
    report = validate_rows(read_released_file(lines), "text-to-image", 16)
    assert report.usable == 4 and not report.error_counts
    mismatch = validate_rows(read_released_file(lines), "edit", 16)
    assert mismatch.usable == 0 and mismatch.error_counts == {"task mismatch": 4}


def test_unreadable_dataset_files(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        read_released_file(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="neither a JSON array nor JSON lines"):
        read_released_file(bad)


def test_studio_dataset_rows(studio):
    sha = studio.samples.store_image(Image.new("RGB", (32, 32), (200, 0, 0)))
    studio.samples.add(task="text-to-image", prompt="a red square", output_image=sha, dataset="mine")
    studio.samples.add(task="reasoning", prompt="why", output_image=sha, dataset="mine")
    config = parse_config({"base_model": "x", "resolution": 16, "dataset": {"source": "studio", "name": "mine"}})
    report = validate_rows(read_rows(config.dataset, studio), "text-to-image", 16)
    assert report.usable == 1 and report.error_counts == {"task mismatch": 1}
    with pytest.raises(DatasetError, match="has no samples"):
        read_rows(parse_config({"base_model": "x", "dataset": {"name": "other"}}).dataset, studio)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"lora\.rank: .*greater than or equal to 1"):
        parse_config({"base_model": "x", "lora": {"rank": 0}})
    with pytest.raises(ConfigError, match="sample_prompts is empty"):
        parse_config({"base_model": "x", "sample_every": 10})
    with pytest.raises(ConfigError, match="task: "):
        parse_config({"base_model": "x", "task": "video"})


def test_the_device_field_takes_only_device_names():
    for ok in ("auto", "cpu", "cuda", "cuda:3", "0,1", " 2 "):
        assert parse_config({"base_model": "x", "device": ok}).device == ok.strip()
    for bad in ("cuda:99; rm -rf /", "gpu", "1,", "cuda:", "$(reboot)", ""):
        with pytest.raises(ConfigError, match="device: .*auto, cpu, cuda, cuda:N or a list of GPU ids"):
            parse_config({"base_model": "x", "device": bad})


def test_a_typed_dataset_path_must_lie_in_a_readable_folder(studio, tmp_path):
    from finetune.datasets import confine_source
    from studio.serverpaths import ServerPathRefused

    inside = write_color_dataset(studio.settings.data_dir / "d", edit=False)
    outside = write_color_dataset(tmp_path / "elsewhere", edit=False)
    data = confine_source(studio.settings, {"dataset": {"source": "file", "name": str(inside)}})
    assert data["dataset"]["name"] == str(inside.resolve())
    with pytest.raises(ServerPathRefused, match="STUDIO_SERVER_READ_DIRS"):
        confine_source(studio.settings, {"dataset": {"source": "file", "name": str(outside)}})
    with pytest.raises(ServerPathRefused):
        confine_source(studio.settings, {"dataset": {"source": "preferences", "name": ""}})
    studio_named = {"dataset": {"source": "studio", "name": "default"}}
    assert confine_source(studio.settings, studio_named) == studio_named  # a dataset name is no path
