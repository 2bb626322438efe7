"""Paths on the server are read only inside allowed folders; paths inside imported files stay inside them."""
from __future__ import annotations

import json
import os
import socket

import pytest
from PIL import Image

from studio.serverpaths import ServerPathRefused, confine, inside
from studio.settings import load_settings


def _refusal(settings, raw) -> str:
    with pytest.raises(ServerPathRefused) as err:
        confine(settings, raw)
    return str(err.value).replace(repr(raw), "<path>")


def test_only_the_data_folder_and_named_folders_are_readable(tmp_path):
    data, shared, other = tmp_path / "data", tmp_path / "shared", tmp_path / "other"
    for d in (data, shared, other):
        d.mkdir()
        (d / "rows.json").write_text("[]")
    s = load_settings(data_dir=data)
    assert confine(s, str(data / "rows.json")) == (data / "rows.json").resolve()
    assert confine(s, "rows.json") == (data / "rows.json").resolve()  # relative: inside the data folder
    outside = _refusal(s, str(shared / "rows.json"))
    allowed = load_settings(data_dir=data, server_read_dirs=f"{shared}, /nonexistent-dir")
    assert confine(allowed, str(shared / "rows.json")) == (shared / "rows.json").resolve()
    assert confine(allowed, str(shared)) == shared.resolve()  # a dataset folder
    assert _refusal(allowed, str(other / "rows.json")) == outside
    assert _refusal(s, "/etc/passwd") == outside
    assert _refusal(s, "../other/rows.json") == outside
    assert _refusal(s, str(data / ".." / "other" / "rows.json")) == outside


def test_symlinks_are_resolved_before_the_check(tmp_path):
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir()
    other.mkdir()
    (other / "secret.json").write_text("[]")
    (data / "link.json").symlink_to(other / "secret.json")
    (data / "dir-link").symlink_to(other)
    s = load_settings(data_dir=data)
    outside = _refusal(s, str(tmp_path / "nowhere"))
    assert _refusal(s, str(data / "link.json")) == outside
    assert _refusal(s, str(data / "dir-link" / "secret.json")) == outside


def test_missing_unreadable_and_outside_give_one_message(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    s = load_settings(data_dir=data)
    sock = socket.socket(socket.AF_UNIX)  # a file that exists but cannot be opened, even by root
    sock.bind(str(data / "socket.json"))
    try:
        messages = {_refusal(s, str(data / "missing.json")), _refusal(s, str(data / "socket.json")),
                    _refusal(s, "/etc/shadow"), _refusal(s, "/no/such/file"), _refusal(s, "../../../etc/shadow")}
    finally:
        sock.close()
    if os.getuid() != 0:
        locked = data / "locked.json"
        locked.write_text("[]")
        locked.chmod(0)
        messages.add(_refusal(s, str(locked)))
    assert len(messages) == 1
    assert str(data) not in messages.pop()  # the message names no server folder


def test_paths_inside_a_file_stay_in_its_folder(tmp_path):
    base = tmp_path / "ds"
    base.mkdir()
    (base / "img.png").write_bytes(b"x")
    (base / "esc").symlink_to(tmp_path)
    assert inside(base, "img.png") == (base / "img.png").resolve()
    for bad in ("/etc/passwd", "../x.png", "sub/../../x.png", "esc/x.png", ""):
        assert inside(base, bad) is None, bad


def test_finetune_dataset_rows_with_escaping_paths_are_refused_by_row(tmp_path):
    from finetune.datasets import read_released_file

    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    rows = [{"input_prompt": "fine", "output_image": "ok.png"},
            {"input_prompt": "abs", "output_image": "/etc/passwd"},
            {"input_prompt": "dots", "output_image": "ok.png", "input_image": ["../../etc/shadow"]}]
    (tmp_path / "data.json").write_text(json.dumps(rows))
    read = read_released_file(tmp_path / "data.json")
    assert "problem" not in read[0] and read[0]["output_image"] == str((tmp_path / "ok.png").resolve())
    assert read[1]["ref"] == "row 1" and "/etc/passwd" in read[1]["problem"] and read[1]["output_image"] is None
    assert read[2]["ref"] == "row 2" and "../../etc/shadow" in read[2]["problem"] and read[2]["input_images"] == []


def test_annotation_import_refuses_paths_outside_the_upload(studio, tmp_path):
    from studio.annotation import AnnotationError, importer, service

    up = tmp_path / "upload"
    up.mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(up / "a.png")
    Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp_path / "x.png")  # outside the upload's folder
    rows = [{"prompt": "ok", "output_a": "a.png", "model_a": "m1", "output_b": "a.png", "model_b": "m2"},
            {"prompt": "dots", "output_a": "../x.png", "model_a": "m1", "output_b": "a.png", "model_b": "m2"},
            {"prompt": "abs", "output_a": "a.png", "model_a": "m1", "output_b": str(tmp_path / "x.png"), "model_b": "m2"}]
    (up / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(AnnotationError) as err:
        importer.import_manifest(studio, "esc", up / "pairs.jsonl")
    assert "row 2: output_a '../x.png' must be relative" in str(err.value)
    assert "row 3: output_b" in str(err.value) and "row 1" not in str(err.value)
    assert service.list_batches(studio) == []
