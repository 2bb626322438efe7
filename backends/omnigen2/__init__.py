"""OmniGen2 (not in diffusers): engine in ``engine.py``, sampler in ``pipeline.py``, transformer in ``transformer.py``.

Importing this package is cheap; ``is_omnigen2`` lets the diffusers engines hand an OmniGen2 folder over.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PIPELINE_CLASS = "OmniGen2Pipeline"


def is_omnigen2(model: str, offline: bool) -> bool:
    """True when ``model`` (a folder or hub id) has a model_index.json naming OmniGen2Pipeline.

    Hub ids fetch only that small file (from the cache when ``offline``); any failure means "no" and the
    caller's own loading reports it.
    """
    if not model:
        return False
    path = Path(model).expanduser()
    try:
        if path.is_dir():
            index = path / "model_index.json"
        else:
            from huggingface_hub import hf_hub_download

            index = Path(hf_hub_download(model, "model_index.json", local_files_only=offline))
        data: Any = json.loads(index.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - not a readable pipeline index: not ours to route
        return False
    return isinstance(data, dict) and data.get("_class_name") == PIPELINE_CLASS
