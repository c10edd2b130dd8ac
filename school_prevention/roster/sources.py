"""Reading a OneRoster CSV set from a folder or a zip: streaming rows with their physical line numbers."""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

csv.field_size_limit(10 * 1024 * 1024)


class SourceError(Exception):
    """The path is not a readable OneRoster folder or zip."""


@dataclass
class Row:
    """One CSV record: the line it starts on (the header is line 1) and its values by column."""

    line: int
    values: dict[str, str]


class RosterSource:
    """A folder or zip of OneRoster CSV files, names compared case-insensitively."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            self._zip = None
            self._names = {p.name.lower(): p.name for p in self.path.iterdir() if p.is_file()}
        elif zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            # Files may sit in one folder inside the zip; take the CSVs wherever they are.
            self._names = {Path(n).name.lower(): n for n in self._zip.namelist() if not n.endswith("/")}
        else:
            raise SourceError(f"{path} is neither a folder nor a zip file.")

    def names(self) -> list[str]:
        """File names present (lower case)."""
        return sorted(self._names)

    def has(self, name: str) -> bool:
        return name.lower() in self._names

    @contextmanager
    def open_text(self, name: str):
        """A text stream of a file: UTF-8 with or without BOM, any line ending, quoted newlines kept."""
        real = self._names[name.lower()]
        if self._zip is None:
            with open(self.path / real, encoding="utf-8-sig", newline="") as fh:
                yield fh
        else:
            with self._zip.open(real) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
                yield fh

    def rows(self, fh) -> tuple[list[str], Iterator[Row]]:
        """The header (stripped) and an iterator of rows keyed by header, with starting line numbers."""
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return [], iter(())

        def iterate():
            previous = reader.line_num
            for record in reader:
                start = previous + 1
                previous = reader.line_num
                # A blank line, or one of only separators and spaces (checked cheaply: most rows
                # have a sourcedId in the first field).
                if not record or (not record[0].strip() and not "".join(record).strip()):
                    continue
                values = dict(zip(header, record))
                if len(record) > len(header):
                    values["__extra__"] = "1"
                yield Row(start, values)

        return header, iterate()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
