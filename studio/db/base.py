"""Declarative base shared by every table of the studio."""
from __future__ import annotations

import importlib
import uuid
from datetime import datetime, timezone

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so migrations look the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


#: the module of each area that defines its tables; an area adds its line here with its first migration.
#: Named, not imported: the database layer does not depend on the areas above it.
MODEL_MODULES = (
    "studio.db.models",
    "finetune.models",
    "studio.editing.models",
    "studio.annotation.models",
    "studio.synthesis.models",
    "studio.reasoning.models",
    "studio.judges.models",
    "studio.arena.models",
    "studio.arena.open_models",
)


def all_tables() -> MetaData:
    """``Base.metadata`` with every area's tables in it (for comparing models with the migrations)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex
