"""YAML parsing through libyaml when it is available (about 10x faster than the pure-Python parser,
which matters for start-up: the shipped assets are parsed while the app builds)."""
from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Like yaml.safe_load, with the C parser when present."""
    return yaml.load(text, Loader=SafeLoader)
