"""Read: the manifest, each file's header and its rows, streamed with their line numbers and progress.

Validation of each row is validate.py's; this module knows the files: which are read and how
(bulk, delta), whether a header can be read at all, and how far the import has got.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask_babel import gettext as _

from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.sources import RosterSource, Row, SourceError

REQUIRED = {
    "orgs.csv": ("sourcedId", "name", "type"),
    "users.csv": ("sourcedId", "enabledUser", "orgSourcedIds", "role", "username", "givenName", "familyName"),
    "demographics.csv": ("sourcedId",),
}
HANDLED = ("orgs.csv", "users.csv", "demographics.csv")
# Progress goes to the admin page (polled every second) at most every PROGRESS_SECONDS; the clock
# is read only every PROGRESS_CHECK_ROWS rows, so a row costs one integer comparison.
PROGRESS_SECONDS = 0.5
PROGRESS_CHECK_ROWS = 100


def header_problem(header: list[str], required: tuple[str, ...]) -> str | None:
    """Why a file's header cannot be read: a required column missing, or there twice (which value?)."""
    missing = [c for c in required if c not in header]
    if missing:
        problem = _("missing required column(s) %(columns)s", columns=", ".join(missing))
        by_lower = {h.lower(): h for h in header}
        near = [by_lower[c.lower()] for c in missing if c.lower() in by_lower]
        if near:
            problem += " " + _("(the header has %(columns)s: column names are case-sensitive)", columns=", ".join(near))
        return problem
    twice = [c for c in required if header.count(c) > 1]
    if twice:
        return _("column(s) %(columns)s appear more than once in the header", columns=", ".join(twice))
    return None


class Reader:
    """One source's handled files read in order, with the manifest's modes, line counts and progress."""

    def __init__(
        self,
        source: RosterSource,
        report: ImportReport,
        progress: Callable[[int, int, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.report = report
        self.progress = progress or (lambda done, total, name: None)
        self.clock = clock
        self.done = 0
        self.total = 0
        self.lines: dict[str, int] = {}
        self.nul_files: set[str] = set()  # files with a NUL character somewhere: their rows are checked for one
        self._next_check = PROGRESS_CHECK_ROWS
        self._next_report = 0.0

    def modes(self) -> dict[str, str]:
        """Each handled file's mode (bulk, delta, absent) from the manifest; SourceError if none is to be read."""
        modes = self._manifest()
        self.report.modes = {name: modes.get(name, "absent") for name in HANDLED}
        if all(mode == "absent" for mode in self.report.modes.values()):
            if not any(self.source.has(name) for name in HANDLED):
                found = ", ".join(self.source.names()) or _("no files at all")
                raise SourceError(
                    _(
                        "Nothing to import: the export holds none of %(files)s (found: %(found)s).",
                        files=", ".join(HANDLED),
                        found=found,
                    )
                )
            raise SourceError(
                _("Nothing to import: manifest.csv lists none of %(files)s as bulk or delta.", files=", ".join(HANDLED))
            )
        for name in self.source.names():
            if name not in HANDLED and name != "manifest.csv":
                self.report.messages.append(_("%(file)s: not used by this app, ignored.", file=name))
        return self.report.modes

    def _manifest(self) -> dict[str, str]:
        messages = self.report.messages
        modes: dict[str, str] = {}
        if not self.source.has("manifest.csv"):
            messages.append(_("manifest.csv is missing: every file present is read as a bulk file."))
            return {name: "bulk" for name in HANDLED if self.source.has(name)}
        with self.source.open_text("manifest.csv") as fh:
            header, rows = self.source.rows(fh, "manifest.csv")
            if "propertyName" not in header or "value" not in header:
                messages.append(_("manifest.csv has no propertyName/value columns: files read as bulk."))
                return {name: "bulk" for name in HANDLED if self.source.has(name)}
            for row in rows:
                key = row.values.get("propertyName", "").strip()
                if key.startswith("file."):
                    modes[key[5:].lower() + ".csv"] = (row.values.get("value") or "").strip().lower()
        for name in HANDLED:
            mode = modes.get(name, "absent")
            if mode not in ("bulk", "delta", "absent"):
                messages.append(
                    _(
                        "manifest.csv: file.%(name)s is %(mode)s; expected bulk, delta or absent. File skipped.",
                        name=name[:-4],
                        mode=repr(mode),
                    )
                )
                modes[name] = "absent"
            elif mode == "absent" and self.source.has(name):
                messages.append(_("%(file)s: present but the manifest says absent, so it was not read.", file=name))
            elif mode != "absent" and not self.source.has(name):
                messages.append(
                    _("%(file)s: the manifest lists it as %(mode)s but the file is missing.", file=name, mode=mode)
                )
                modes[name] = "absent"
        return modes

    def count_lines(self) -> None:
        """Count each file's lines (the progress bar's total) and note which hold a NUL character."""
        for name in HANDLED:
            if self.report.modes[name] == "absent" or not self.source.has(name):
                continue
            lines = 0
            with self.source.open_text(name) as fh:
                for line in fh:
                    lines += 1
                    if "\x00" in line:
                        self.nul_files.add(name)
            self.lines[name] = max(0, lines - 1)
        self.total = sum(self.lines.values())

    def file(self, name: str, handler: Callable[[Iterator[Row], str], None]) -> bool:
        """Read one file with handler(rows, mode); False when it was rejected whole (a required column
        missing or twice)."""
        start = self.done
        self._report(name)  # the page names the file being read from its first row
        with self.source.open_text(name) as fh:
            header, rows = self.source.rows(fh, name, check_nul=name in self.nul_files)
            problem = header_problem(header, REQUIRED[name])
            if problem:
                self.report.reject(name, 1, _("%(problem)s: the whole file was not read", problem=problem))
                self.report.messages.append(_("%(file)s was rejected: %(problem)s.", file=name, problem=problem))
            else:
                handler(self._ticking(rows, name), self.report.modes[name])
        # Lines, not records, were counted for the total (a quoted newline makes one record of two):
        # at the end of a file the figure is exact again.
        self.done = start + self.lines.get(name, self.done - start)
        self._report(name)
        return not problem

    def _ticking(self, rows: Iterator[Row], name: str) -> Iterator[Row]:
        for row in rows:
            self.done += 1
            if self.done >= self._next_check:
                self._next_check = self.done + PROGRESS_CHECK_ROWS
                now = self.clock()
                if now >= self._next_report:
                    self._report(name, now)
            yield row

    def _report(self, name: str, now: float | None = None) -> None:
        self._next_report = (self.clock() if now is None else now) + PROGRESS_SECONDS
        self.progress(self.done, self.total, name)
