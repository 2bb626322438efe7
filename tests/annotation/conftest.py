"""One launched app in password mode shared by the annotation tests that need a server."""
from __future__ import annotations

import pytest

CROWD = [f"crowd{k}" for k in range(10)]
USERS = ",".join(["ann:ann-pw:annotator", "bob:bob-pw:annotator", "boss:boss-pw:admin",
                  *(f"{u}:{u}-pw" for u in CROWD)])


APP_BACKENDS = """
backends:
  engine-one:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image, edit]
  engine-two:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image, edit]
"""


@pytest.fixture(scope="session")
def pw_app(tmp_path_factory):
    """(url, studio) of the real app with STUDIO_AUTH_MODE=password and users ann, bob, crowd0..9 (annotators), boss (admin)."""
    from tests.annotation.live import annotate_app

    root = tmp_path_factory.mktemp("annotate-app")
    (root / "backends.yaml").write_text(APP_BACKENDS)
    with annotate_app(root / "data", auth_mode="password", users=USERS,
                      backends_config=str(root / "backends.yaml")) as served:
        yield served
