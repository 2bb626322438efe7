"""User-supplied text (names, prompts, file contents, messages quoting them) placed into Markdown.

Markdown components render HTML tags and ``![](url)`` images; text people typed must show as the
characters they typed, for everyone who sees it.
"""
from __future__ import annotations

import html
import re

_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md_text(value: object) -> str:
    """``value`` as literal text inside Markdown: HTML escaped, Markdown punctuation backslash-escaped."""
    return _MD_PUNCT.sub(r"\\\1", html.escape(str(value), quote=False))


def md_code_block(value: object) -> str:
    """``value`` inside a fenced code block that it cannot close early."""
    return "```\n" + str(value).replace("```", "ˋˋˋ") + "\n```"
