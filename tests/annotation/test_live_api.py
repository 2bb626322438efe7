"""The Annotate tab's handlers through the app's HTTP API (password mode): blindness, idempotency, roles."""
from __future__ import annotations

import contextlib
import json

import httpx
import pytest

from studio.annotation import service
from tests.annotation.helpers import make_batch
from tests.annotation.live import ApiError, call, file_urls, login

MODELS = ("model-alpha-zq", "model-beta-kx")
TOKEN, PROMPT = 9, 5  # positions in annotate_start's outputs
# a vote's outputs: the receipt, then what changes from one item to the next
V_STATUS, V_PROMPT, V_SOURCE, V_LEFT, V_RIGHT, V_TOKEN = 0, 1, 2, 3, 4, 5


def _start(client, url, batch, raw=None):
    return call(client, url, "annotate_start", ["", batch], raw)


@contextlib.contextmanager
def _client(url, user):
    with httpx.Client(timeout=30) as client:
        login(client, url, user, f"{user}-pw")
        yield client


def test_nothing_the_client_gets_before_voting_names_a_model(pw_app):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "blind-http", 3, models=MODELS)
    first = service.batch_items(studio, batch_id)[0]
    service.add_comparison(studio, batch_id, prompt="<script>alert('x')</script> a cat", task="text-to-image",
                           output_a=first["output_a"], model_a=MODELS[0], output_b=first["output_b"], model_b=MODELS[1])
    with _client(url, "ann") as client:
        raw = [client.get(url + "/").text, client.get(url + "/config").text]
        for _ in range(4):
            out = _start(client, url, batch_id, raw)
            for f in file_urls("".join(raw)):
                raw.append(client.get(f).content.decode("latin-1"))
            joined = "".join(raw)
            assert out[TOKEN] and all(m not in joined for m in MODELS), "a model name reached the client"
            receipt = call(client, url, "vote_left", ["", batch_id, out[TOKEN], None, None, None])
            assert any(m in receipt[0] for m in MODELS)  # revealed after the vote
            raw = []
        assert "No items left" in _start(client, url, batch_id)[PROMPT]


def test_a_resent_vote_over_http_stores_one_row(pw_app):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "idem-http", 2, models=MODELS)
    with _client(url, "ann") as client:
        token = _start(client, url, batch_id)[TOKEN]
        first = call(client, url, "vote_right", ["", batch_id, token, None, None, None])
        second = call(client, url, "vote_right", ["", batch_id, token, None, None, None])
    assert "already recorded" in second[0] and "already recorded" not in first[0]
    assert service.get_batch(studio, batch_id).votes == 1


def test_the_typed_name_cannot_impersonate_in_password_mode(pw_app):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "impersonate", 1, models=MODELS)
    with _client(url, "bob") as client:
        out = call(client, url, "annotate_start", ["boss", batch_id])
        assert out[1] == "bob (annotator)"
        call(client, url, "vote_tie", ["boss", batch_id, out[TOKEN], None, None, None])
    from studio.annotation.results import vote_records

    assert [r["annotator"] for r in vote_records(studio, batch_id)] == ["bob"]
    with httpx.Client(timeout=30) as anonymous, pytest.raises(httpx.HTTPStatusError):
        call(anonymous, url, "annotate_start", ["", batch_id])


def test_annotators_cannot_reach_results_or_exports(pw_app):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "roles", 2, models=MODELS)
    with _client(url, "bob") as client:
        for api, data in (("annotate_results", ["", "studio", "__all__", "", 0, None, "opponent", 2,
                                               "sandwich", False, "", ""]),
                          ("annotate_export_jsonl", ["", "__all__"]),
                          ("annotate_batch_settings", ["", batch_id])):
            with pytest.raises(ApiError, match="needs the admin role"):
                call(client, url, api, data)


def test_admin_gets_results_and_exports(pw_app):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "admin", 3, models=MODELS)
    for name in ("ann", "bob"):
        with _client(url, name) as client:
            for _ in range(3):
                token = _start(client, url, batch_id)[TOKEN]
                if token:
                    call(client, url, "vote_left", ["", batch_id, token, None, None, None])
    with _client(url, "boss") as client:
        out = call(client, url, "annotate_results", ["", "studio", batch_id, "", 20, None, "opponent", 2,
                                                     "sandwich", False, "", ""])
        summary, board, board_json = out[1], out[5], out[12]
        assert "votes on 2 models" in summary
        assert {row[1] for row in board["data"]} == set(MODELS)
        assert all(row[0] == 1 and row[-1] == "provisional" for row in board["data"])  # 6 votes: overlapping intervals, provisional
        from studio.annotation.results import studio_leaderboard

        assert board_json == json.loads(json.dumps(studio_leaderboard(studio, batch_id, bootstrap=20)))
        mine = call(client, url, "annotate_results", ["", "studio", batch_id, "", 0, None, "opponent", 2,
                                                      "sandwich", False, "ann", ""])
        assert mine[12]["selection"]["votes"] == 3 and mine[12]["selection"]["annotator"] == "ann"
        exported = call(client, url, "annotate_export_csv", ["", batch_id])
        csv_text = client.get(exported[0]["url"]).text
    assert csv_text.splitlines()[0].startswith("vote_id,batch,item_id,annotator")
    assert len(csv_text.strip().splitlines()) == 1 + service.get_batch(studio, batch_id).votes


def test_ten_annotators_at_once_over_http_fill_every_item_to_its_overlap(pw_app):
    import threading
    from collections import Counter

    from studio.annotation.results import vote_records
    from tests.annotation.conftest import CROWD

    url, studio = pw_app
    batch_id, items = make_batch(studio, "crowd-http", 5, overlap=3, models=MODELS)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(CROWD))

    def annotate(user: str) -> None:
        try:
            with _client(url, user) as client:
                barrier.wait()
                token = _start(client, url, batch_id)[TOKEN]
                while token:
                    out = call(client, url, "vote_tie_bad", ["", batch_id, token, None, None, None])
                    token = out[V_TOKEN]  # the vote answers with the next item
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=annotate, args=(u,)) for u in CROWD]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    records = vote_records(studio, batch_id)
    assert Counter(r["item_id"] for r in records) == {item: 3 for item in items}
    assert len({(r["item_id"], r["annotator"]) for r in records}) == len(records) == 15


def test_admin_generates_a_batch_from_pasted_prompts_over_http(pw_app):
    url, studio = pw_app
    form = ["", "http-gen", 2, ["overall"], "", "be fair", "Pasted list", "text-to-image", "a red cube\na blue ball",
            None, "", None, ["engine-one", "engine-two"], 0, 64, 64, 0, False]
    with _client(url, "bob") as client, pytest.raises(ApiError, match="needs the admin role"):
        call(client, url, "annotate_generate", form)
    with _client(url, "boss") as client:
        status = call(client, url, "annotate_generate", form)[0]
        assert "2 / 2 comparisons made (finished)" in status
        with pytest.raises(ApiError, match="at least two backends"):
            call(client, url, "annotate_generate", [*form[:1], "http-gen-2", *form[2:12], ["engine-one"], *form[13:]])
        # no criteria ticked: the task's own, then the admin's; active ordering on
        task_default = [*form[:1], "http-gen-3", 1, [], "text rendering", *form[5:-2], 0.5, True]
        with pytest.raises(ApiError, match="gold pairs are rendered by 'procedural'"):  # not configured here
            call(client, url, "annotate_generate", task_default)
        assert "finished" in call(client, url, "annotate_generate", [*task_default[:-2], 0, True])[0]
    info = service.get_batch(studio, "http-gen")
    assert (info.items, info.overlap, info.guidelines) == (2, 2, "be fair")
    assert {(r["model_a"], r["model_b"]) for r in service.batch_items(studio, "http-gen")} == {("engine-one", "engine-two")}
    third = service.get_batch(studio, "http-gen-3")
    assert third.criteria == ["instruction_fidelity", "visual_clarity", "text_rendering"]
    assert third.config.get("active_order") is True


def test_votes_return_the_next_item_with_served_images_and_the_source_shown_only_for_edits(pw_app):
    """A vote answers with the next item as the page needs it: image files that download as pixels
    without model names, the source image shown for an edit and hidden for a text-to-image item."""
    url, studio = pw_app
    batch_id = service.create_batch(studio, "mixed-http", overlap=1)
    make_batch(studio, "mixed-src", 1, models=MODELS)
    src = service.batch_items(studio, "mixed-src")[0]
    for k in range(4):
        service.add_comparison(studio, batch_id, prompt=f"item {k}", task="edit" if k % 2 else "text-to-image",
                               source_image=src["output_a"] if k % 2 else None,
                               output_a=src["output_a"], model_a=MODELS[0], output_b=src["output_b"], model_b=MODELS[1])
    with _client(url, "bob") as client:
        out = _start(client, url, batch_id)
        shown_source = out[6]["visible"]  # Start sets the source image's visibility for the first item
        seen = [out[PROMPT]]
        token = out[TOKEN]
        while True:
            res = call(client, url, "vote_right", ["", batch_id, token, None, None, None])
            status, prompt, source, left, right, token = (res[k] for k in (V_STATUS, V_PROMPT, V_SOURCE, V_LEFT,
                                                                           V_RIGHT, V_TOKEN))
            assert any(m in status for m in MODELS)
            if not token:
                assert "No items left" in prompt and source["visible"] is False
                break
            is_edit = prompt in ("item 1", "item 3")
            seen.append(prompt)
            if is_edit != shown_source:  # the page changes only where it must
                assert source["__type__"] == "update" and source["visible"] is is_edit
                source_value = source.get("value")
            else:
                source_value = source
            assert (source_value is not None) is is_edit
            shown_source = is_edit
            for image in (left, right, *([source_value] if is_edit else [])):
                body = client.get(image["url"] if image["url"].startswith("http") else url + image["url"])
                assert body.status_code == 200 and body.content[:8] == b"\x89PNG\r\n\x1a\n"
                assert all(m.encode() not in body.content for m in MODELS)
    assert sorted(seen) == ["item 0", "item 1", "item 2", "item 3"]


def test_an_imported_pair_reaches_the_browser_with_nothing_that_tells_the_models_apart(pw_app, tmp_path):
    """Originals of 300x200 PNG (text chunk) and 320x240 JPEG (EXIF): what the annotator's client
    receives for the two sides has the same form, size and format, and no model name anywhere."""
    from studio.annotation import importer
    from tests.annotation.helpers import differing_pair_manifest, png_layout

    url, studio = pw_app
    batch_id = importer.import_manifest(studio, "imported-http", differing_pair_manifest(tmp_path / "pairs", MODELS))
    with _client(url, "ann") as client:
        raw: list[str] = []
        out = _start(client, url, batch_id, raw)
        left, right = out[7], out[8]
        shapes = []
        for image in (left, right):
            assert all(m not in image["url"] and m not in (image.get("orig_name") or "") for m in MODELS)
            body = client.get(image["url"] if image["url"].startswith("http") else url + image["url"])
            assert body.status_code == 200 and all(m.encode() not in body.content for m in MODELS)
            shapes.append(png_layout(body.content))
            shapes.append(sorted((k, v) for k, v in image.items() if k not in ("url", "path", "orig_name")))
        assert shapes[0] == shapes[2] and shapes[0][0] == (320, 240) and shapes[1] == shapes[3]
        assert all(m not in "".join(raw) for m in MODELS)


def test_vote_reveal_undo_and_that_item_never_comes_back_over_http(pw_app):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "undo-http", 3, models=MODELS)
    with _client(url, "ann") as client:
        out = _start(client, url, batch_id)
        first_prompt = out[PROMPT]
        res = call(client, url, "vote_left", ["", batch_id, out[TOKEN], None, None, None])
        assert any(m in res[V_STATUS] for m in MODELS)  # revealed
        undone = call(client, url, "undo_vote", ["", batch_id])
        # undo answers with the receipt, then the whole item as Start gives it (guidelines first)
        assert "withdrawn" in undone[0] and undone[1 + PROMPT - 4] == res[V_PROMPT]
        prompts, token = [res[V_PROMPT]], undone[1 + TOKEN - 4]
        while token:
            res = call(client, url, "vote_tie", ["", batch_id, token, None, None, None])
            token = res[V_TOKEN]
            if token:
                prompts.append(res[V_PROMPT])
        assert first_prompt not in prompts and len(prompts) == 2
        assert "No items left" in _start(client, url, batch_id)[PROMPT]
    with _client(url, "bob") as client:  # the withdrawn item went back to the pool
        assert _start(client, url, batch_id)[PROMPT] == first_prompt
    assert service.get_batch(studio, batch_id).votes == 2
