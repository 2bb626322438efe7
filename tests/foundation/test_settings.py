from pathlib import Path

import pytest

from studio.settings import SettingsError, load_settings


def test_defaults_need_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in list(__import__("os").environ):
        if k.startswith("STUDIO_"):
            monkeypatch.delenv(k)
    s = load_settings()
    assert s.data_dir == tmp_path / "studio_data"
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'studio_data' / 'studio.db').resolve()}"
    assert s.auth_mode == "open"
    assert s.backends_config.name == "backends.yaml" and s.backends_config.exists()


def test_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("STUDIO_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("STUDIO_MAX_UPLOAD_BYTES", "1000")
    s = load_settings()
    assert s.data_dir == tmp_path / "d"
    assert s.resolved_database_url == "postgresql://u@h/db"
    assert s.max_upload_bytes == 1000


def test_config_file_below_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "studio.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'from_file'}\nauth_mode: password\nmax_image_pixels: 99\n")
    monkeypatch.setenv("STUDIO_CONFIG", str(cfg))
    monkeypatch.setenv("STUDIO_MAX_IMAGE_PIXELS", "1234")
    s = load_settings()
    assert s.data_dir == tmp_path / "from_file"
    assert s.auth_mode == "password"
    assert s.max_image_pixels == 1234  # the environment wins over the file


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"STUDIO_AUTH_MODE": "sometimes"}, "STUDIO_AUTH_MODE"),
        ({"STUDIO_MAX_UPLOAD_BYTES": "-5"}, "STUDIO_MAX_UPLOAD_BYTES"),
        ({"STUDIO_MAX_IMAGE_PIXELS": "lots"}, "STUDIO_MAX_IMAGE_PIXELS"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch, env, fragment):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=fragment):
        load_settings()


def test_bad_config_file_is_named(tmp_path, monkeypatch):
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("data_dir: [unclosed\n")
    monkeypatch.setenv("STUDIO_CONFIG", str(cfg))
    with pytest.raises(SettingsError, match="broken.yaml"):
        load_settings()
    monkeypatch.setenv("STUDIO_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(SettingsError, match="missing.yaml"):
        load_settings()
