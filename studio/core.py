"""The studio's services in one object: settings, database, image store, samples, backends.

Built once per process by the app (or per test); UI tabs and the CLI receive it and call into the
engine packages with it. Nothing here imports gradio or heavy ML libraries.
"""
from __future__ import annotations

import logging
import threading
from functools import cached_property

from backends.registry import BackendRegistry
from studio.db import Database
from studio.images import ImageStore
from studio.samples import SampleStore
from studio.settings import Settings, get_settings

log = logging.getLogger(__name__)


class Studio:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.settings.ensure_dirs()
        self._lock = threading.Lock()
        #: set by close(): background workers of this studio (see studio.arena.open_keeper) stop
        self.closed = threading.Event()

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.resolved_database_url)

    @cached_property
    def images(self) -> ImageStore:
        return ImageStore(self.settings.images_dir)

    @cached_property
    def samples(self) -> SampleStore:
        return SampleStore(self.db, self.images)

    @cached_property
    def edit_images(self):
        """The edit chat's images (uploads, results, a cache of decoded images)."""
        from studio.editing.images import EditImages

        return EditImages(self.images, self.samples, self.settings)

    @cached_property
    def backends(self) -> BackendRegistry:
        return BackendRegistry.from_file(self.settings.backends_config)

    @cached_property
    def taxonomy(self):
        from studio.taxonomy import load_taxonomies

        return load_taxonomies(self.settings.taxonomy_dir)

    @cached_property
    def annotation_hooks(self):
        """The arena's matchmaking and board exclusions, handed to the annotation engine (which does
        not import the arena)."""
        from studio.arena.assign import annotation_hooks

        return annotation_hooks()

    def close(self) -> None:
        self.closed.set()
        if "backends" in self.__dict__:
            self.backends.close()
        if "db" in self.__dict__:
            self.db.dispose()
