"""The fast PNG writer: any decoder reads back the exact pixels and the text chunks."""
from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from studio.png import encode_png_fast


@pytest.mark.parametrize("mode,shape", [("RGB", (37, 53, 3)), ("RGBA", (20, 7, 4)), ("L", (9, 31)),
                                        ("LA", (5, 5, 2)), ("RGB", (1, 1, 3))])
def test_pixels_and_text_round_trip(mode, shape):
    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    img = Image.fromarray(arr, mode)
    img.info["scene_graph"] = '{"label": "crème brûlée"}'
    data = encode_png_fast(img, {"meta": {"k": [1, 2]}})
    back = Image.open(io.BytesIO(data))
    back.load()
    assert back.format == "PNG" and back.mode == mode and back.size == img.size
    assert np.array_equal(np.asarray(back), arr)
    assert back.info["scene_graph"] == '{"label": "crème brûlée"}'
    assert back.info["meta"] == '{"k": [1, 2]}'


def test_chunks_are_well_formed():
    data = encode_png_fast(Image.new("RGB", (8, 4), (10, 200, 30)))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big") == zlib.crc32(kind + body)
        kinds.append(kind)
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_other_modes_fall_back_to_pillow():
    img = Image.fromarray(np.eye(16, dtype=bool))
    back = Image.open(io.BytesIO(encode_png_fast(img)))
    assert back.mode == "1" and np.array_equal(np.asarray(back), np.eye(16, dtype=bool))


def test_flat_images_compress_well():
    assert len(encode_png_fast(Image.new("RGB", (512, 512), "white"))) < 10_000
