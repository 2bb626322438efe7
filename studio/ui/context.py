"""What every tab receives: the studio services and a registry of other tabs' components."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from studio.core import Studio


@dataclass
class TabSpec:
    """A tab module exposes ``TAB = TabSpec(...)``; tabs are discovered, sorted by ``order``.

    A tab has three parts, as in LLaMA-Factory's webui:

    1. ``build(ctx)`` creates the components inside the already-open ``gr.Tab`` and returns them
       (a small dataclass of the tab's components); the ones other tabs need are also registered
       with ``ctx.register``.
    2. A controller (``studio/ui/controllers/<tab>.py``): a small class built from the studio's
       services whose named methods are the tab's handlers. They turn component values into calls
       of the engine and its answers into component values; no SQL, no domain logic.
    3. ``wire(ctx, ui)`` runs after every tab is built (so it can reach components of later tabs)
       and connects each event to one controller method through ``ctx.guard(action, method)``.
    """

    id: str
    title: str
    order: int
    build: Callable[["UIContext"], Any]
    wire: Callable[["UIContext", Any], None] | None = None
    #: draw the tab's components with the page (hidden) instead of on first opening: for a tab whose
    #: page-load answer must not be lost (the browser drops updates to components it has not drawn)
    render_children: bool = False


@dataclass
class UIContext:
    studio: Studio
    components: dict[str, Any] = field(default_factory=dict)
    tabs: Any = None  # the gr.Tabs container, to switch tabs programmatically
    demo: Any = None  # the gr.Blocks being built, for events that run on page load
    tab_ids: list[str] = field(default_factory=list)
    #: (tab id or None for the shell, component, fn returning its update) to redo when the set of
    #: backends changes; see live_backends
    backend_views: list[tuple[str | None, Any, Callable[[], Any]]] = field(default_factory=list)
    #: the tab being built (set by the app shell around each ``build``) and each tab's ``gr.Tab``
    building: str | None = None
    tab_blocks: dict[str, Any] = field(default_factory=dict)

    def register(self, name: str, component: Any) -> Any:
        if name in self.components:
            raise KeyError(f"component {name!r} registered twice")
        self.components[name] = component
        return component

    def get(self, name: str) -> Any | None:
        return self.components.get(name)

    def has_tab(self, tab_id: str) -> bool:
        return tab_id in self.tab_ids

    def follow_backends(self, component: Any, update: Callable[[], Any]) -> Any:
        """Keep ``component`` in step with the backends registry: ``update()`` (a ``gr.update``) is
        sent to open pages on load and on a tab change after a backend was added or reloaded."""
        self.backend_views.append((self.building, component, update))
        return component

    def guard(self, action: str, fn: Callable) -> Callable:
        """``fn`` behind the access policy of ``action`` (every event handler is registered this way)."""
        from studio.ui.access import guard

        return guard(self.studio, action, fn)
