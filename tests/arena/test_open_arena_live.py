"""Open arenas over the app's HTTP API: an admin opens one (bad settings get a clear message and open
nothing), the app's keeper makes its comparisons, an annotator votes in it through the Annotate tab's
endpoints with two criteria, and annotators may not open or close arenas."""
from __future__ import annotations

import time

import httpx
import pytest

from studio.annotation import service
from studio.arena.open_arena import arena_status
from tests.annotation.live import ApiError, call, login

FORM = dict(name="", task="text-to-image", backends=[], source="text", nodes=[], count=50, dataset="", text="",
            file=None, criteria=[], seeds=1, buffer=3, overlap=1, policy="active", time_limit=300, guidelines="")


def form(**kw) -> list:
    return list({**FORM, **kw}.values())


def _wait_ready(studio, arena, n):
    deadline = time.monotonic() + 60
    while arena_status(studio, arena).ready < n:
        assert time.monotonic() < deadline, arena_status(studio, arena).text()
        time.sleep(0.2)


def test_admin_opens_an_arena_and_an_annotator_votes_in_it(arena_app):
    url, studio = arena_app
    with httpx.Client(timeout=60) as boss, httpx.Client(timeout=60) as ann:
        login(boss, url, "boss", "boss-pw")
        login(ann, url, "ann", "ann-pw")

        with pytest.raises(ApiError, match="at least two backends"):
            call(boss, url, "arena_open", form(name="lonely", backends=["red-engine"], text="a cat"))
        with pytest.raises(ApiError, match="prompt source is empty"):
            call(boss, url, "arena_open", form(name="empty", backends=["red-engine", "blue-engine"], text=" \n"))
        with pytest.raises(ApiError, match="buffer must be a whole number between 1 and 100"):
            call(boss, url, "arena_open", form(name="huge", backends=["red-engine", "blue-engine"], text="a cat",
                                               buffer=500))
        assert not [b for b in service.list_batches(studio) if b.name in ("lonely", "empty", "huge")]

        with pytest.raises(ApiError, match="needs the admin role"):
            call(ann, url, "arena_open", form(name="by-ann", backends=["red-engine", "blue-engine"], text="a cat"))

        message, choices, status, board = call(boss, url, "arena_open", form(
            name="api-arena", backends=["red-engine", "green-engine", "blue-engine"],
            text="a red apple\na cat on a sofa\na lighthouse at dusk"))
        assert "is open" in message and "api-arena" in status
        arena = choices["value"]
        _wait_ready(studio, arena, 3)  # the keeper made them, nobody asked

        # outputs: batch, whoami, admin panel, remembered, guidelines, prompt, source, A, B, token, ...
        started = call(ann, url, "annotate_start", ["", arena])
        whoami, prompt, token = started[1], started[5], started[9]
        assert token and whoami == "ann (annotator)"
        assert prompt in ("a red apple", "a cat on a sofa", "a lighthouse at dusk")
        with pytest.raises(ApiError, match="Visual clarity|visual clarity"):
            call(ann, url, "vote_left", ["", arena, token, None, None, None])  # the second criterion unanswered
        receipt, *_ = call(ann, url, "vote_left", ["", arena, token, "right", None, None])
        assert receipt.startswith("Recorded: A better")

        with pytest.raises(ApiError, match="needs the admin role"):
            call(ann, url, "arena_close", [arena])
        _, status, board = call(boss, url, "arena_status", [arena])
        assert "1 vote ·" in status
        assert {row[1] for row in board["data"]} <= {"red-engine", "green-engine", "blue-engine"}
        assert len(board["data"]) == 2
        _, status, _ = call(boss, url, "arena_close", [arena])
        assert "(closed)" in status
