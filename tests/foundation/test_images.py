import io
import struct
import zlib

import pytest
from PIL import Image

from studio.images import ImageLoadError, ImageStore, encode_png, fit_within, load_image, read_png_json


def png_bytes(size=(32, 16), color="red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_loads_a_good_png_and_keeps_text_chunks():
    data = encode_png(Image.new("RGB", (10, 20), "blue"), {"scene_graph": {"objects": []}})
    img = load_image(data)
    assert img.size == (10, 20) and img.mode == "RGB"
    assert read_png_json(img, "scene_graph") == {"objects": []}


def test_truncated_png_is_refused_clearly():
    data = png_bytes((256, 256))
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_non_image_bytes_are_refused():
    with pytest.raises(ImageLoadError, match="not a supported image"):
        load_image(b"%PDF-1.7 this is not an image at all")


def test_empty_file_is_refused(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(p)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_header_refused_before_decoding():
    with pytest.raises(ImageLoadError, match="20000×20000"):
        load_image(_png_header_only(20000, 20000))


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), "white")
    img.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° CW to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    out = load_image(buf.getvalue())
    assert out.size == (20, 40)
    r, g, b = out.getpixel((10, 2))  # the red strip is now at the top
    assert r > 200 and g < 60 and b < 60


def test_byte_limit(tmp_path):
    p = tmp_path / "big.png"
    p.write_bytes(png_bytes((64, 64)))
    with pytest.raises(ImageLoadError, match="limit"):
        load_image(p, max_bytes=100)


def test_transparent_image_is_flattened_on_white():
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert load_image(buf.getvalue()).getpixel((0, 0)) == (255, 255, 255)


def test_fit_within_reports_a_notice():
    img, notice = fit_within(Image.new("RGB", (4000, 1000)), 2048)
    assert img.size == (2048, 512) and "4000×1000" in notice
    same, none = fit_within(Image.new("RGB", (100, 100)), 2048)
    assert same.size == (100, 100) and none is None


def test_store_is_content_addressed(tmp_path):
    store = ImageStore(tmp_path)
    a = store.put(Image.new("RGB", (8, 8), "red"))
    b = store.put(Image.new("RGB", (8, 8), "red"))
    c = store.put(Image.new("RGB", (8, 8), "green"))
    assert a.sha256 == b.sha256 != c.sha256
    assert a.path.exists() and a.path.name == f"{a.sha256}.png"
    assert store.open(a.sha256).getpixel((0, 0)) == (255, 0, 0)
    with pytest.raises(ImageLoadError, match="not in the store"):
        store.open("0" * 64)


@pytest.mark.parametrize("mode,shape", [("RGB", (37, 53, 3)), ("RGBA", (20, 7, 4)), ("L", (9, 31)),
                                        ("LA", (5, 5, 2))])
@pytest.mark.parametrize("level", [1, 6])
def test_png_pixels_and_text_round_trip_at_every_level(mode, shape, level):
    import numpy as np

    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(Image.fromarray(arr, mode), {"scene_graph": {"label": "crème brûlée"}}, compress_level=level)
    back = Image.open(io.BytesIO(data))
    assert back.mode == mode and np.array_equal(np.asarray(back), arr)
    assert read_png_json(back, "scene_graph") == {"label": "crème brûlée"}
