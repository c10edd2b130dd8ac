"""Markdown to safe HTML: markdown-it-py with raw HTML off, so a page can hold no script or markup of its own.

An admin writes the pages, but what staff see must not depend on that account being safe: with
`html` off, `<script>` or `<img onerror=…>` typed into a page is shown as text; link targets that
could run code (javascript:, vbscript:, file:, data:) are refused by markdown-it's link check;
images are off (the Content-Security-Policy would block outside ones anyway).
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable(["table", "strikethrough"])
    .disable("image")
)

# Placeholders a page may use for the district's numbers (settings, so a change reaches every page).
PLACEHOLDERS = {"{hotline}": "SP_HOTLINE_NUMBER", "{child_welfare}": "SP_CHILD_WELFARE_NUMBER"}


def fill_numbers(text: str) -> str:
    """The page's text with {hotline} and {child_welfare} replaced by the configured numbers."""
    for placeholder, setting in PLACEHOLDERS.items():
        text = text.replace(
            placeholder, current_app.config.get(setting) or gettext("(not set: ask your administrator)")
        )
    return text


def render_markdown(text: str) -> Markup:
    """Safe HTML for a page's Markdown."""
    return Markup(_md.render(fill_numbers(text or "")))
