import pytest

from backends.base import BackendLoadError, Capability, GenerationRequest, UnsupportedOperation
from backends.registry import BackendConfigError, BackendRegistry, load_backends_config, parse_backends_config
from tests.support import fake_backends


def write(tmp_path, text):
    p = tmp_path / "backends.yaml"
    p.write_text(text)
    return p


GOOD = """
backends:
  gray:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image]
    options: {color: gray}
  broken:
    engine: tests.support.fake_backends:FailsToLoad
    capabilities: [text-to-image]
  missing-package:
    engine: no_such_package.engine:Thing
    capabilities: [edit]
  chatty:
    engine: openai-chat
    options: {model: gpt-4o-mini}
"""


def test_backends_are_built_lazily_once(tmp_path):
    reg = BackendRegistry.from_file(write(tmp_path, GOOD))
    before = list(fake_backends.CONSTRUCTED)
    assert [e.name for e in reg.by_capability(Capability.TEXT_TO_IMAGE)] == ["gray", "broken"]
    assert [e.name for e in reg.by_capability("chat")] == ["chatty"]
    assert fake_backends.CONSTRUCTED == before  # listing imports nothing
    a = reg.get("gray")
    assert reg.get("gray") is a and fake_backends.CONSTRUCTED.count("gray") == before.count("gray") + 1
    assert a.generate(GenerationRequest("x", width=8, height=4)).image.size == (8, 4)
    with pytest.raises(UnsupportedOperation, match="cannot edit"):
        fake_backends.TextOnly(name="chat").edit(None)  # an engine that cannot edit says so


def test_load_failures_name_backend_reason_and_fix(tmp_path):
    reg = BackendRegistry.from_file(write(tmp_path, GOOD))
    with pytest.raises(BackendLoadError) as exc:
        reg.get("broken")
    assert exc.value.backend == "broken" and "out of memory" in exc.value.reason and exc.value.fix
    with pytest.raises(BackendLoadError, match="not installed") as exc:
        reg.get("missing-package")
    assert "pip install" in exc.value.fix
    with pytest.raises(BackendLoadError, match="not configured") as exc:
        reg.get("nope")
    assert "gray" in exc.value.fix
    assert reg.get("gray")  # the others still work


def test_default_config_lists_procedural():
    from studio.settings import ASSETS_DIR

    entries = load_backends_config(ASSETS_DIR / "backends.yaml")
    assert entries["procedural"].engine == "procedural"
    assert Capability.TEXT_TO_IMAGE in entries["procedural"].capabilities


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("backends: [1, 2]", "'backends' mapping"),
        ("nothing: here", "'backends' mapping"),
        ("backends:\n  x: 3", "backends.x: expected a mapping"),
        ("backends:\n  x: {engine: warp-drive}", "backends.x.engine: unknown engine 'warp-drive'"),
        ("backends:\n  x: {engine: procedural, options: [1]}", "backends.x.options"),
        ("backends:\n  x: {engine: procedural, capabilities: [teleport]}", "backends.x.capabilities"),
        ("backends:\n  x: {engine: 'my.mod:Cls'}", "required for a custom engine"),
    ],
)
def test_malformed_config_messages(tmp_path, text, fragment):
    p = write(tmp_path, text)
    with pytest.raises(BackendConfigError) as exc:
        load_backends_config(p)
    assert fragment in str(exc.value) and "backends.yaml" in str(exc.value)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(BackendConfigError, match="cannot read"):
        load_backends_config(tmp_path / "absent.yaml")
    with pytest.raises(BackendConfigError, match="not valid YAML"):
        load_backends_config(write(tmp_path, "backends: {x: [unclosed"))


def test_each_engine_is_declared_once_on_its_class():
    """The config's engine name reaches the class that declares it; an entry's capabilities are the class's."""
    from backends.registry import ENGINES, engine_class

    for name in ENGINES:
        cls = engine_class(name)
        assert cls.engine == name
        assert cls.capabilities, name
        entry = parse_backends_config({"backends": {"b": {"engine": name}}})["b"]
        assert entry.capabilities == cls.capabilities


def test_a_config_entry_may_narrow_an_engines_capabilities():
    entry = parse_backends_config({"backends": {"b": {"engine": "diffusers-edit", "capabilities": ["edit"]}}})["b"]
    assert entry.capabilities == frozenset({Capability.EDIT})


def test_engine_modules_import_no_heavy_library():
    """Listing backends by capability imports engine modules; they must leave torch and friends for later."""
    import subprocess
    import sys

    from backends.registry import ENGINES

    modules = sorted({target.partition(":")[0] for target in ENGINES.values()})
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted(k for k in ('torch', 'transformers', 'diffusers', 'openai') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

def test_reload_takes_a_changed_config_and_keeps_backends_added_at_run_time(tmp_path):
    from backends.registry import BackendEntry, BackendRegistry, load_backends_config

    cfg = tmp_path / "backends.yaml"
    cfg.write_text("backends:\n  procedural:\n    engine: procedural\n")
    reg = BackendRegistry.from_file(cfg)
    reg.add(BackendEntry("ft-run", "procedural", "run", defaults={"width": 32, "height": 32}))
    seen = reg.version
    cfg.write_text("backends:\n  procedural:\n    engine: procedural\n  second:\n    engine: procedural\n"
                   "    defaults: {width: 48, height: 40, steps: 3}\n")
    assert reg.reload(load_backends_config(cfg)) == ["second"]
    assert reg.version > seen and set(reg.names()) == {"procedural", "second", "ft-run"}
    assert reg.defaults("second") == {"width": 48, "height": 40, "steps": 3}
