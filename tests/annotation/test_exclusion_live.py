"""Leaving an annotator out of the boards over the app's HTTP API: admins only."""
from __future__ import annotations

import pytest

from studio.arena.exclusions import excluded_annotators, include_annotator
from tests.annotation.live import ApiError, call
from tests.annotation.test_live_api import _client


def test_only_admins_leave_annotators_out_of_the_boards(pw_app):
    url, studio = pw_app
    with _client(url, "bob") as client, pytest.raises(ApiError, match="needs the admin role"):
        call(client, url, "annotate_exclude_annotator", ["", "ann", "too fast"])
    with _client(url, "boss") as client:
        out = call(client, url, "annotate_exclude_annotator", ["", "crowd3", "too fast"])
        assert out[0].startswith("crowd3")
        with pytest.raises(ApiError, match="not left out"):
            call(client, url, "annotate_include_annotator", ["", "crowd4", ""])
    assert "crowd3" in excluded_annotators(studio)
    include_annotator(studio, "crowd3", by="boss")
