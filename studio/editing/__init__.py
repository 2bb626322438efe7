"""Multi-turn editing chat: sessions as a tree of turns, drift per turn, export as samples.

Plain Python (no gradio): the Edit chat tab and the CLI call these functions with a Studio.
"""
from studio.editing.export import branch_turns, export_branch, send_pair_to_annotation  # noqa: F401
from studio.editing.runner import TurnFailed, backend_defaults, edit_backends  # noqa: F401
from studio.editing.sessions import (  # noqa: F401
    EditingError,
    SessionNotFound,
    create_session,
    delete_session,
    get_session,
    list_sessions,
    recent_samples,
    set_head,
    start_from_prompt,
    start_from_sample,
    start_from_upload,
    undo,
)
from studio.editing.turns import TurnOutcome, retry_turn, submit_turn  # noqa: F401
from studio.editing.views import SessionSummary, SessionView, TurnView  # noqa: F401
