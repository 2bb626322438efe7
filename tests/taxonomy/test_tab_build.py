"""Building the app: the Synthesis link appears only when the Synthesis tab registered its node picker."""
from __future__ import annotations

from studio.ui.app import build_app
from tests.taxonomy.synthesis_double import with_synthesis_double


def _by_elem_id(demo, elem_id):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def _endpoints(demo) -> set[str]:
    return {fn.api_name for fn in demo.fns.values() if fn.api_name}


def test_without_synthesis_tab_the_button_is_hidden(monkeypatch, studio):
    import studio.ui.app as app_module
    from studio.ui.tabs import discover_tabs

    monkeypatch.setattr(app_module, "discover_tabs",
                        lambda: ([s for s in discover_tabs()[0] if s.id == "taxonomy"], {}))
    demo = build_app(studio)
    assert _by_elem_id(demo, "taxonomy-synthesize").visible is False
    assert "taxonomy_synthesize" not in _endpoints(demo)
    assert {"taxonomy_search", "taxonomy_select", "taxonomy_refresh", "taxonomy_reload"} <= _endpoints(demo)


def test_with_synthesis_tab_the_button_links_to_it(monkeypatch, studio):
    with_synthesis_double(monkeypatch, only_taxonomy=True)
    demo = build_app(studio)
    assert _by_elem_id(demo, "taxonomy-synthesize").visible is True
    assert "taxonomy_synthesize" in _endpoints(demo)


def test_a_malformed_taxonomy_file_does_not_take_the_app_down(monkeypatch, data_dir, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    (tmp_path / "bad.yaml").write_text("key: bad\ntitle: Bad\n", encoding="utf-8")
    broken = Studio(load_settings(data_dir=data_dir, taxonomy_dir=tmp_path))
    try:
        demo = build_app(broken)
        assert "taxonomy" not in demo.failed_tabs
        status = _by_elem_id(demo, "taxonomy-status").value
        assert "bad.yaml: definition (line 1): required field is missing" in status
    finally:
        broken.close()
