"""Preview is bounded (a documented maximum) and stops when the client goes away or presses Stop."""
from __future__ import annotations

import time

import pytest

from studio.synthesis import service
from studio.synthesis.planner import Planner

DATA = [["sharegpt4o/t2i"], 1000, 0, "attributes", "default", 0.5, "off", 0.9, False, False, ""]


def test_preview_over_the_maximum_is_refused_with_a_pointer_to_a_batch(studio):
    req = service.build_request(["sharegpt4o/t2i"], service.MAX_PREVIEW_COUNT + 1, 0, "attributes",
                                "default", 0.5, "off", 0.9)
    with pytest.raises(service.SynthesisError, match=r"at most 1,000 rows.*Run batch"):
        service.preview(studio, req)


def test_preview_past_its_time_limit_stops_with_what_to_do(studio):
    req = service.build_request(["sharegpt4o/t2i"], 500, 0, "attributes", "default", 0.5, "off", 0.9)
    steps = service.preview_steps(studio, req, time_limit_s=0.0)
    with pytest.raises(service.SynthesisError, match=r"Preview stopped after 0 s with 200 of 500 rows.*Run batch"):
        list(steps)


def test_chunked_planning_gives_the_same_rows_as_one_pass(studio, monkeypatch):
    """Stopping points do not change the rows: the chunked preview equals a plan built in one pass."""
    from studio.synthesis import planner

    req = service.build_request(["opengpt4o/gen/spatial", "sharegpt4o/t2i"], 450, 4, "template", "default", 0.5,
                                "minhash", 0.9)
    rows = service.preview(studio, req)["rows"]
    monkeypatch.setattr(planner, "CHUNK", 10**9)
    again = Planner(studio.taxonomy).plan(req).rows
    assert len(rows) == 450 and [r.text for r in rows] == [r.text for r in again]


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _goes_idle(built: list[int], polls: int = 120, window: float = 0.5, idle_cores: float = 0.25,
               quiet: int = 4) -> bool:
    """Whether, within ``polls`` windows, ``quiet`` windows in a row pass in which no row is built and this
    process (the server runs in it) uses under ``idle_cores`` of a core. Several windows in a row, so that
    a thread starved by a crowded machine is not taken for a stopped one."""
    calm = 0
    for _ in range(polls):
        cpu, rows = time.process_time(), built[0]
        time.sleep(window)
        calm = calm + 1 if built[0] == rows and (time.process_time() - cpu) / window < idle_cores else 0
        if calm >= quiet:
            return True
    return False


@pytest.mark.slow
def test_abandoned_previews_stop_and_the_server_goes_idle(monkeypatch, data_dir):
    from tests.support.live_app import launched_app
    from tests.support.sse_queue import QueueCall, fn_index

    built = [0]
    real = Planner.candidate

    def expensive_candidate(self, *args, **kwargs):  # rows that cost CPU: 1,000 of them ≈ 5 s
        built[0] += 1
        _busy(0.005)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Planner, "candidate", expensive_candidate)
    # three people (a preview is limited to one at a time per person), each signed in on their own client
    users = ",".join(f"u{k}:pw{k}" for k in range(4))
    with launched_app(data_dir, auth_mode="password", users=users) as (url, _studio):
        import httpx

        clients = []
        for k in range(4):
            client = httpx.Client(timeout=httpx.Timeout(60, read=60))
            client.post(f"{url}/login", data={"username": f"u{k}", "password": f"pw{k}"}).raise_for_status()
            clients.append(client)
        index = fn_index(url, "synthesis_preview", client=clients[0])
        calls = [QueueCall(url, index, DATA, client=clients[k]) for k in range(3)]
        for call in calls:  # each has started planning: its first progress message arrived
            assert call.next_message()["msg"] == "process_generating"
        for call in calls:
            call.close()  # the tab goes away
        assert _goes_idle(built), "the server kept working after every client left"
        assert built[0] < 3 * 1000  # none of the three previews ran to the end

        # Stop (the cancel endpoint a Stop button calls) ends a running preview too
        stop = QueueCall(url, index, DATA, client=clients[3])
        assert stop.next_message()["msg"] == "process_generating"
        r = clients[3].post(f"{url}/gradio_api/cancel",
                       json={"session_hash": stop.session, "fn_index": index, "event_id": stop.event_id})
        assert r.status_code == 200
        before = built[0]
        assert _goes_idle(built)
        assert built[0] - before < 1000
        stop.close()
        for client in clients:
            client.close()


@pytest.mark.browser
@pytest.mark.slow
def test_stop_button_ends_a_preview_in_the_browser(monkeypatch, live_app, page):
    from playwright.sync_api import expect

    built = [0]
    real = Planner.candidate

    def expensive_candidate(self, *args, **kwargs):
        built[0] += 1
        _busy(0.01)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Planner, "candidate", expensive_candidate)
    url, _studio = live_app
    page.goto(url)
    page.get_by_role("tab", name="Synthesis").click()
    nodes = page.locator("#synth-nodes input")
    nodes.click()
    nodes.fill("object_counting")
    page.get_by_role("option", name="opengpt4o/gen/spatial/object_counting").click()
    page.keyboard.press("Escape")
    page.locator("#synth-count input").fill("1000")
    page.locator("#synth-preview").click()
    expect(page.locator("#synth-notice")).to_contain_text("Planning…", timeout=60_000)
    page.locator("#synth-preview-stop").click()
    assert _goes_idle(built)
    assert built[0] < 1000
    expect(page.locator("#synth-notice")).not_to_contain_text("1000 rows")
