"""User-supplied text (names, prompts, file contents, messages quoting them) placed into Markdown.

Markdown components render HTML tags and ``![](url)`` images; text people typed must show as the
characters they typed, for everyone who sees it.
"""
from __future__ import annotations

import contextvars
import html
import re

_MD_PUNCT = re.compile(r"([\\`*_\[\]!#|~])")  # enough to stop emphasis, links, images, headings, tables


def md_text(value: object) -> str:
    """``value`` as literal text inside Markdown: HTML escaped, Markdown punctuation backslash-escaped."""
    return _MD_PUNCT.sub(r"\\\1", html.escape(str(value), quote=False))


def md_code_block(value: object) -> str:
    """``value`` inside a fenced code block that it cannot close early."""
    return "```\n" + str(value).replace("```", "ˋˋˋ") + "\n```"


# Messages reach people who are not admins (annotators, public-demo visitors) with the server's folders
# (data folder, virtualenv, model cache) in them; they see file names only. The access guard sets the
# flag for each call a non-admin makes; admins keep the full text.
HIDE_PATHS: contextvars.ContextVar[bool] = contextvars.ContextVar("studio_hide_paths", default=False)
_ABS_PATH = re.compile(r"(?<![\w:/.~-])(?:/[\w.@+~-]+)+/?")


def redact_paths(text: str) -> str:
    """Every absolute path in ``text`` shortened to ``…/<last part>``."""
    return _ABS_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def path_free(text: object) -> str:
    """A message as the current caller may see it (paths shortened unless the caller is an admin)."""
    return redact_paths(str(text)) if HIDE_PATHS.get() else str(text)
