"""Notes rendered safely: Markdown through markdown-it-py (CommonMark) with raw HTML off, so
``<script>`` shows as text, and links that only point at http(s), mailto or the page itself
(markdown-it refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` URLs other
than images); every link gets ``rel="noopener nofollow"``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

__all__ = ["render_note"]


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "noopener nofollow")
    return str(self.renderToken(tokens, idx, options, env))


_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_MD.add_render_rule("link_open", _link_open)


def render_note(text: str) -> Markup:
    """The note's Markdown as HTML that is safe to put in a page."""
    return Markup(_MD.render(text))
