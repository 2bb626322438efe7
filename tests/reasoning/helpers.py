"""Shared steps of the reasoning tests: script the loopback reasoner with an example, run to the end."""
from __future__ import annotations

from studio.reasoning.examples import ReasoningExample
from studio.reasoning.runner import ReasoningRunner
from studio.reasoning.state import RunRequest, RunState


def script(stub, example: ReasoningExample) -> None:
    """Queue the replies the reasoner (or critic) gives for ``example``."""
    for text in example.critiques or (example.rationale,):
        stub.enqueue(text=text)


def request_for(example: ReasoningExample, **overrides) -> RunRequest:
    fields = dict(mode=example.mode, question=example.question, input_image=example.load_input_image(),
                  reasoner="reasoner", image_backend="painter", width=64, height=64)
    fields.update(overrides)
    return RunRequest(**fields)


def run_all(studio, request: RunRequest) -> tuple[RunState, list[list[tuple[str, str]]]]:
    """Run to the end; returns the final state and the (kind, status) of the items at every yield."""
    frames = []
    state = None
    for state in ReasoningRunner(studio).run(request):
        frames.append([(i.kind, i.status) for i in state.items])
    assert state is not None and state.run_id
    return state, frames


def chat_bodies(stub) -> list[dict]:
    return [body for path, body in stub.requests if path.endswith("/chat/completions")]
