"""One settings object for the whole studio.

Values come from, highest priority first: ``STUDIO_*`` environment variables, an optional YAML
config file (``STUDIO_CONFIG``), then defaults that need nothing configured. The database defaults
to a SQLite file inside the data directory; nothing assumes a fixed path such as ``/data``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml

from studio.yamlio import load_yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"


class SettingsError(ValueError):
    """Settings could not be read; the message says which value and why."""


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the file named by STUDIO_CONFIG (if any)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        path = os.environ.get("STUDIO_CONFIG")
        if path:
            try:
                loaded = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
            except OSError as exc:
                raise SettingsError(f"STUDIO_CONFIG={path}: cannot read ({exc.strerror})") from None
            except yaml.YAMLError as exc:
                raise SettingsError(f"STUDIO_CONFIG={path}: not valid YAML ({exc})") from None
            if not isinstance(loaded, dict):
                raise SettingsError(f"STUDIO_CONFIG={path}: expected a mapping of setting names")
            self._data = loaded

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="ignore")

    #: where images, exports, runs and the default SQLite file live
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "studio_data")
    #: any SQLAlchemy URL; empty means sqlite:///<data_dir>/studio.db
    database_url: str = ""
    #: YAML file listing the backends (see assets/backends.yaml)
    backends_config: Path = ASSETS_DIR / "backends.yaml"
    #: folder (or file) of taxonomy YAML documents
    taxonomy_dir: Path = ASSETS_DIR / "taxonomy"
    #: open: anyone types a name; password: users from STUDIO_USERS; hf-oauth: Hugging Face login
    auth_mode: Literal["open", "password", "hf-oauth"] = "open"
    #: "user:password[:role],..." for auth_mode=password (role admin or annotator)
    users: str = ""
    #: names (or HF usernames) that get the admin role
    admins: str = ""
    #: role of a person who just types a name in auth_mode=open: admin suits a single local user,
    #: annotator a public demo (then nobody sees results in the UI; use the CLI)
    open_mode_role: Literal["admin", "annotator"] = "admin"
    #: folders (colon or comma separated) that "path on the server" fields may read from, besides the
    #: data folder; empty: only the data folder
    server_read_dirs: str = ""
    #: an unanswered annotation assignment frees its slot for someone else after this many seconds
    annotation_assignment_timeout_s: int = 1800
    #: uploads larger than this many bytes are refused
    max_upload_bytes: int = 25 * 1024 * 1024
    #: images with more pixels than this are refused (decompression-bomb guard)
    max_image_pixels: int = 40_000_000
    #: larger sides are downscaled to this when an engine needs a working copy
    max_working_side: int = 2048
    #: default OpenAI-compatible endpoint for chat/LLM backends configured without their own
    openai_base_url: str = ""
    openai_api_key: str = ""
    log_level: str = "INFO"

    @field_validator("max_upload_bytes", "max_image_pixels", "max_working_side", "annotation_assignment_timeout_s")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be a positive integer")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls,
        init_settings,
        env_settings,
        dotenv_settings,
        file_secret_settings,
    ):
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    # -- derived ---------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'studio.db').resolve()}"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.images_dir, self.exports_dir, self.runs_dir):
            d.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and overrides); errors name the offending setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            parts.append(f"STUDIO_{loc.upper()}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(parts)) from None


def get_settings() -> Settings:
    """Settings as the environment says now. Not cached: a long-lived process builds its Studio
    once, and anything that changes the environment (tests, embedding apps) must see the change."""
    return load_settings()
