"""Fixtures for the editing chat: studios whose backends config names the test doubles."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

BACKENDS_YAML = """
backends:
  painter:
    engine: tests.support.fake_backends:BoxPainter
    label: Box painter (test double)
    capabilities: [edit, inpaint, text-to-image]
  painter2:
    engine: tests.support.fake_backends:BoxPainter
    label: Second painter (test double)
    capabilities: [edit]
  chatty:
    engine: tests.support.fake_backends:TextOnly
    capabilities: [chat]
"""


def write_backends(data_dir: Path) -> Path:
    path = data_dir / "backends.yaml"
    path.write_text(BACKENDS_YAML, encoding="utf-8")
    return path


def picture(w: int = 96, h: int = 64) -> Image.Image:
    """A small picture with structure (gradient + shapes), so SSIM has something to compare."""
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (x * 255 // w, y * 255 // h, 128)
    d = ImageDraw.Draw(img)
    d.ellipse((w // 8, h // 8, w // 2, h // 2), fill=(250, 250, 250))
    return img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def edit_studio(data_dir):
    from studio.core import Studio
    from studio.settings import load_settings

    s = Studio(load_settings(data_dir=data_dir, backends_config=write_backends(data_dir)))
    yield s
    s.close()


@pytest.fixture
def edit_studio_any_db(data_dir, db_url):
    """The same, on SQLite and on PostgreSQL."""
    from studio.core import Studio
    from studio.settings import load_settings

    s = Studio(load_settings(data_dir=data_dir, database_url=db_url, backends_config=write_backends(data_dir)))
    yield s
    s.close()


@pytest.fixture
def edit_app(data_dir):
    """The real app on loopback with the test-double backends: yields (url, studio)."""
    from tests.support.live_app import launched_app

    with launched_app(data_dir, backends_config=write_backends(data_dir)) as (url, studio):
        yield url, studio
