"""One launched app in password mode shared by the annotation tests that need a server."""
from __future__ import annotations

import pytest

USERS = "ann:ann-pw:annotator,bob:bob-pw:annotator,boss:boss-pw:admin"


@pytest.fixture(scope="session")
def pw_app(tmp_path_factory):
    """(url, studio) of the real app with STUDIO_AUTH_MODE=password and users ann, bob (annotators), boss (admin)."""
    from tests.annotation.live import annotate_app

    with annotate_app(tmp_path_factory.mktemp("annotate-app"), auth_mode="password", users=USERS) as served:
        yield served
