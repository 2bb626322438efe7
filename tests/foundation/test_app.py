"""The app as a user meets it: start-up imports, the HTTP API through gradio_client, the page."""
import subprocess
import sys
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[2]

CHECK_IMPORTS = """
import sys
import app
heavy = [m for m in ("torch", "diffusers", "transformers", "accelerate", "peft") if m in sys.modules]
print(",".join(heavy) or "none")
"""


def test_app_module_imports_no_heavy_libraries(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "STUDIO_DATA_DIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "none"


BACKENDS = """
backends:
  gray:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image]
  broken:
    engine: tests.support.fake_backends:FailsToLoad
    capabilities: [text-to-image]
"""


def test_backend_check_through_the_api(data_dir, tmp_path):
    from tests.support.live_app import launched_app

    cfg = tmp_path / "backends.yaml"
    cfg.write_text(BACKENDS)
    with launched_app(data_dir, backends_config=cfg) as (url, _studio):
        client = Client(url, verbose=False)
        message, table = client.predict("gray", api_name="/check_backend")
        assert "**gray** is ready (text-to-image)" in message
        message, table = client.predict("broken", api_name="/check_backend")
        assert "cannot load" in message and "out of memory" in message and "What to do" in message
        rows = table["data"] if isinstance(table, dict) else table
        states = {r[0]: r[4] for r in rows}
        assert states["gray"] == "loaded" and states["broken"].startswith("failed: ")


def test_every_tab_module_loads():
    from studio.ui.tabs import discover_tabs

    specs, failed = discover_tabs()
    assert failed == {}
    ids = [s.id for s in specs]
    assert len(ids) == len(set(ids)), f"duplicate tab ids: {ids}"
