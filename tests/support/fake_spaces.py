"""A stand-in for Hugging Face's ``spaces`` package: records what ``spaces.GPU`` wraps and each GPU call."""
from __future__ import annotations

import functools
import inspect
import types
from typing import Any, Callable


def fake_spaces_module() -> types.ModuleType:
    """A module with ``GPU(duration=...)``; ``.decorated`` lists (name, duration), ``.calls`` each call."""
    module = types.ModuleType("spaces")
    module.decorated = []
    module.calls = []

    def gpu(task: Callable[..., Any] | None = None, *, duration: int = 60):
        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            module.decorated.append((fn.__name__, duration))
            if inspect.isgeneratorfunction(fn):
                @functools.wraps(fn)
                def run_gen(*args: Any, **kwargs: Any):
                    module.calls.append(fn.__name__)
                    yield from fn(*args, **kwargs)
                return run_gen

            @functools.wraps(fn)
            def run(*args: Any, **kwargs: Any) -> Any:
                module.calls.append(fn.__name__)
                return fn(*args, **kwargs)
            return run

        return wrap(task) if task is not None else wrap

    module.GPU = gpu
    return module
