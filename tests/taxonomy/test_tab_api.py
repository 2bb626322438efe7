"""The Taxonomy tab's handlers through the HTTP API of a launched app (gradio_client)."""
from __future__ import annotations

from gradio_client import Client


def _rows(table) -> list[list[str]]:
    return table["data"] if isinstance(table, dict) else table


def test_search_select_and_coverage_through_the_api(live_app):
    url, studio = live_app
    client = Client(url, verbose=False)

    table, selected, status = client.predict("relative position", "(all datasets)", api_name="/taxonomy_search")
    assert selected == "opengpt4o/gen/spatial/relative_position"
    ids = [r[1] for r in _rows(table)]
    assert ids == ["opengpt4o", "opengpt4o/gen", "opengpt4o/gen/spatial", "opengpt4o/gen/spatial/relative_position"]
    assert "1 node matches" in status

    card, heading, chart = client.predict(selected, "(all datasets)", api_name="/taxonomy_select")
    assert "Coverage of Spatial Reasoning (opengpt4o/gen/spatial)" in heading
    assert "Objects are placed in the stated planar relation" in card
    assert "2,000" in card and "0 of 2,000 (0.0%)" in card

    # another tab stores samples: the next selection and a refresh count them
    for _ in range(2):
        studio.samples.add(task="text-to-image", prompt="a cup left of a plate",
                           taxonomy_id="opengpt4o/gen/spatial/relative_position", dataset="mine")
    card, heading, chart = client.predict(selected, "(all datasets)", api_name="/taxonomy_select")
    assert "2 of 2,000 (0.1%)" in card
    bars = {(r[0], r[1]): r[2] for r in chart.get("value", chart)["data"]}
    assert bars[("Relative Position", "samples held")] == 2
    assert bars[("Relative Position", "still needed for the paper target")] == 1998
    assert bars[("Object Counting", "still needed for the paper target")] == 1000
    table, datasets, card, heading, chart, status = client.predict(
        "relative position", selected, "(all datasets)", api_name="/taxonomy_refresh")
    assert _rows(table)[-1][3:] == ["2", "0.1%"]

    table, selected2, status = client.predict("zzqx", "(all datasets)", api_name="/taxonomy_search")
    assert _rows(table) == [] or _rows(table) == [["", "", "", "", ""]]
    assert "No node matches" in status


def test_broken_files_then_fixes_then_escaped_text_through_reload(tmp_path, data_dir):
    from tests.support.live_app import launched_app

    folder = tmp_path / "tax"
    folder.mkdir()
    mine = folder / "mine.yaml"
    mine.write_text("key: mine\ntitle: <b>Mine</b>\ntarget_count: 5\n", encoding="utf-8")
    with launched_app(data_dir, taxonomy_dir=folder) as (url, studio):
        client = Client(url, verbose=False)
        # the app starts despite the malformed file and says what is wrong where
        card, _, _ = client.predict(None, "(all datasets)", api_name="/taxonomy_select")
        assert "could not be loaded" in card and "mine.yaml: definition (line 1): required field is missing" in card

        mine.write_text(
            "key: mine\ntitle: <b>Mine</b>\ndefinition: <script>alert(1)</script> draws & paints\ntarget_count: 5\n",
            encoding="utf-8",
        )
        table, selected, status, card, heading, chart = client.predict("", None, "(all datasets)", api_name="/taxonomy_reload")
        assert selected["value"] == "mine" and selected["choices"] == [["<b>Mine</b> — mine", "mine"]]
        assert [r[1] for r in _rows(table)] == ["mine"]
        assert "<script>" not in card and "&lt;script&gt;alert(1)&lt;/script&gt; draws &amp; paints" in card
        assert "&lt;b&gt;Mine&lt;/b&gt;" in card

        (folder / "extra.yaml").write_text("parent: mine\nkey: sub\ntitle: Sub\ndefinition: added\ntarget_count: -1\n")
        table, selected, status, card, heading, chart = client.predict("", "mine", "(all datasets)", api_name="/taxonomy_reload")
        assert "extra.yaml: target_count (line 5): must not be negative, got -1" in status
        assert "mine/sub" not in studio.taxonomy and "mine" in studio.taxonomy

        (folder / "extra.yaml").write_text("parent: mine\nkey: sub\ntitle: Sub\ndefinition: added\ntarget_count: 1\n")
        table, selected, status, card, heading, chart = client.predict("", "mine", "(all datasets)", api_name="/taxonomy_reload")
        assert [r[1] for r in _rows(table)] == ["mine", "mine/sub"]
        assert "2 nodes in 1 taxonomies from 2 files" in status
        assert "target 5 but the listed children" in card


def test_a_module_with_nothing_to_draw_says_so_instead_of_an_empty_chart(live_app):
    from gradio_client import Client

    url, _ = live_app
    client = Client(url, verbose=False)
    card, heading, chart = client.predict("sharegpt4o/t2i/object", "(all datasets)", api_name="/taxonomy_select")
    assert "No samples under" in heading and "Synthesize prompts" in heading
    assert chart.get("visible") is False
