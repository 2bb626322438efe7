"""Blindness in the engine: both sides of an imported pair whose originals differ in size, format and
metadata are served at one size, in one format, as pixels only, under names that say nothing."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from studio.annotation import importer, service, views, voting
from tests.annotation.helpers import annotate, differing_pair_manifest, png_layout

MODELS = ("model-alpha-zq", "model-beta-kx")


def _served(studio, batch_id: str, annotator: str) -> tuple[voting.ItemView, list[Path]]:
    item = voting.annotate(studio.db, studio.settings, annotator, voting.Start(batch_id)).item
    left, right, source = views.item_files(studio.images, item)
    assert source is None
    return item, [Path(left), Path(right)]


def test_an_imported_pair_of_different_sizes_and_formats_is_served_alike(studio, tmp_path):
    batch_id = importer.import_manifest(studio, "imported", differing_pair_manifest(tmp_path / "pairs"))
    item, files = _served(studio, batch_id, "ann")
    layouts = [png_layout(f.read_bytes()) for f in files]
    assert layouts[0] == layouts[1] == ((320, 240), layouts[0][1], ["IDAT", "IEND", "IHDR"])
    for f in files:
        data = f.read_bytes()
        assert all(m.encode() not in data and m not in f.name for m in MODELS)
        assert item.left_image not in f.name and item.right_image not in f.name
        with Image.open(io.BytesIO(data)) as img:
            assert img.info == {} and img.mode == "RGB" and not img.getexif()
    assert files[0].name != files[1].name and len(files[0].name) == len(files[1].name)


def test_a_stored_jpeg_with_exif_against_a_png_is_served_alike_and_the_originals_stay(studio):
    from studio.images import encode_png

    exif = Image.Exif()
    exif[0x0110] = MODELS[1]
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 20, 30)).save(buf, format="JPEG", exif=exif.tobytes())
    jpeg = studio.images.put_bytes(buf.getvalue(), fmt="JPEG", size=(320, 240))
    png = studio.images.put_bytes(encode_png(Image.new("RGB", (300, 200), (1, 2, 3)), {"backend": MODELS[0]}),
                                  fmt="PNG", size=(300, 200))
    originals = {f.sha256: f.path.read_bytes() for f in (jpeg, png)}
    batch_id = service.create_batch(studio, "stored")
    service.add_comparison(studio, batch_id, prompt="p", task="text-to-image", output_a=png.sha256, model_a=MODELS[0],
                           output_b=jpeg.sha256, model_b=MODELS[1])
    _, files = _served(studio, batch_id, "ann")
    assert png_layout(files[0].read_bytes()) == png_layout(files[1].read_bytes())
    assert png_layout(files[0].read_bytes())[0] == (320, 240)
    for sha, data in originals.items():  # the store keeps the originals, metadata and all
        path = studio.images.find(sha)
        assert path.read_bytes() == data and hashlib.sha256(data).hexdigest() == sha


def test_gold_items_mixed_into_a_generated_batch_reach_the_browser_like_any_other(tmp_path):
    """What the page gets for an item (the view's fields, the two served files) does not tell a gold
    pair from an ordinary one: same fields, same canvas, same PNG layout, names that say nothing."""
    import dataclasses

    from studio.annotation import generation
    from studio.core import Studio
    from studio.settings import load_settings
    from tests.support.fake_backends import BACKENDS_YAML

    config = tmp_path / "backends.yaml"
    config.write_text(BACKENDS_YAML + "  procedural:\n    engine: procedural\n")
    studio = Studio(load_settings(data_dir=tmp_path / "data", backends_config=str(config)))
    try:
        batch_id = generation.plan_batch(studio, "gold-blind", prompts=[{"prompt": f"a red cube {k}"} for k in range(6)],
                                         backends=list(MODELS), gold_rate=0.25, width=48, height=40)
        generation.run_plan(studio, batch_id)
        gold_outputs = {it["output_a"] for it in service.batch_items(studio, batch_id) if it["provenance"].get("gold")}
        seen = {True: [], False: []}
        item = annotate(studio, "ann", voting.Start(batch_id)).item
        while item is not None:
            left, right, _ = views.item_files(studio.images, item)
            files = [Path(left), Path(right)]
            fields = {k: type(v).__name__ for k, v in dataclasses.asdict(item).items()}
            seen[bool({item.left_image, item.right_image} & gold_outputs)].append(
                (fields, item.canvas, [png_layout(f.read_bytes()) for f in files], [len(f.name) for f in files]))
            for f in files:
                assert not any(word in f.name.lower() for word in ("gold", "procedural", *MODELS))
                assert item.left_image not in f.name and item.right_image not in f.name
            item = annotate(studio, "ann", voting.Vote(item.assignment_id, "left", ["tie"])).item
        assert len(seen[True]) == 2 and len(seen[False]) == 6
        (gold_look,) = {repr(x) for x in seen[True]}
        assert {repr(x) for x in seen[False]} == {gold_look}  # every item looks the same from outside
    finally:
        studio.close()
