"""What a person reads on a page: its visible text, the English left on a Spanish page, the names a list shows."""

from __future__ import annotations

import functools
import re
from html.parser import HTMLParser

from sqlalchemy import String, Text, select

from school_prevention.extensions import db

# Words that give away an English sentence left on a Spanish page (none is also a Spanish word).
ENGLISH_TELLS = {
    "the",
    "and",
    "with",
    "your",
    "you",
    "this",
    "that",
    "for",
    "not",
    "open",
    "save",
    "cancel",
    "flag",
    "flags",
    "check-in",
    "check-ins",
    "student",
    "students",
    "due",
    "overdue",
    "sign",
    "home",
    "record",
    "none",
    "new",
    "edit",
    "change",
    "status",
    "history",
    "source",
    "severity",
    "note",
    "reason",
    "until",
    "when",
    "today",
    "week",
    "see",
    "who",
    "of",
    "to",
    "is",
    "are",
    "by",
}


class _Text(HTMLParser):
    """The text a reader sees (and hears): text nodes outside script and style, plus aria-labels and titles."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder", "data-confirm") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    """The text a reader sees (and hears: labels, titles, placeholders), one piece a line."""
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts)


@functools.lru_cache(maxsize=8)
def _records_pattern(data: tuple[str, ...]) -> re.Pattern:
    """Any of the records' words, the longest first, as whole words only: a record's short word
    ("es", "Ana") must not cut into the interface's words. One pattern for a crawl's every page."""
    values = sorted(data, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in values) + r")(?!\w)" if values else r"(?!)")


def english_left(html: str, data: list[str]) -> list[str]:
    """The lines of the page that still read as English, once the records' own words (names) are removed."""
    text = _records_pattern(tuple(data)).sub(" ", visible_text(html))
    text = text.replace("School Prevention", " ")  # the authenticator app's account name, a proper name
    # A second-factor secret as the setup page groups it ("ZRQ2 HSYY 4BY2 …"): random letters, where
    # "BY" or "I" would read as English one run in a few.
    text = re.sub(r"\b(?:[A-Z2-7]{4} ){3,}[A-Z2-7]{1,4}\b", " ", text)
    left = []
    for line in text.splitlines():
        words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]*", line)}
        if words & ENGLISH_TELLS:
            left.append(line)
    return left


def listed(response) -> list[str]:
    """The names on the list, in order."""
    assert response.status_code == 200, response.status_code
    rows = (
        response.get_data(as_text=True).split("<tbody>")[1].split("</tbody>")[0] if b"<tbody>" in response.data else ""
    )
    return list(re.findall(r'<th scope="row"><a href="/students/\d+">([^<]+)</a>', rows))


def records_words() -> list[str]:
    """Every text value in the database: what a page shows of the records, not of the interface."""
    words: set[str] = set()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)):
            words.update(v for v in row if isinstance(v, str) and 1 < len(v) <= 2000)
    return sorted(words)
