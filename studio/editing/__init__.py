"""Multi-turn editing chat: sessions as a tree of turns, drift per turn, export as samples.

Plain Python (no gradio): the Edit chat tab and the CLI call these functions with a Studio.
"""
from studio.editing.export import branch_turns, export_branch, send_pair_to_annotation  # noqa: F401
from studio.editing.runner import TurnFailed, backend_defaults, edit_backends  # noqa: F401
from studio.editing.sessions import (  # noqa: F401
    EditingError,
    SessionNotFound,
    TurnOutcome,
    create_session,
    delete_session,
    get_session,
    list_sessions,
    recent_samples,
    retry_turn,
    set_head,
    start_from_prompt,
    start_from_sample,
    start_from_upload,
    submit_turn,
    undo,
)
from studio.editing.views import SessionSummary, SessionView, TurnView  # noqa: F401
