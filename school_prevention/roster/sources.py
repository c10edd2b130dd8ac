"""Reading a OneRoster CSV set from a folder or a zip: streaming rows with their physical line numbers."""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask_babel import format_decimal
from flask_babel import gettext as _

from school_prevention.i18n import N_

FIELD_LIMIT = 10 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)
# A zip entry that inflates more than this many times over, to more than ZIP_BOMB_BYTES, is no
# CSV export (text deflates about 5 to 20 times): it is refused before a byte of it is read.
ZIP_BOMB_RATIO = 100
ZIP_BOMB_BYTES = 100 * 1024 * 1024


class SourceError(Exception):
    """The path is not a readable OneRoster folder or zip, or one of its files cannot be read."""


@dataclass
class Row:
    """One CSV record: the line it starts on (the header is line 1) and its values by column.

    values["__error__"], when present, says why the record cannot be used (the handlers reject it).
    """

    line: int
    values: dict[str, str]


class _EndOfFile:
    """The last iterator of chain(fh, ...): records whether the csv reader asked for more than the file had."""

    hit = False

    def __iter__(self):
        return self

    def __next__(self):
        self.hit = True
        raise StopIteration


class RosterSource:
    """A folder or zip of OneRoster CSV files, names compared case-insensitively."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            self._zip = None
            self._names = {p.name.lower(): p.name for p in self.path.iterdir() if p.is_file()}
        elif zipfile.is_zipfile(self.path):
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise SourceError(
                    _("%(file)s is a damaged zip file (%(error)s). Export it again.", file=self.path.name, error=exc)
                ) from exc
            # Files may sit in one folder inside the zip; take the CSVs wherever they are.
            self._names = {}
            for n in self._zip.namelist():
                if n.endswith("/") or n.startswith("__MACOSX/"):
                    continue
                key = Path(n).name.lower()
                if key.endswith(".csv") and key in self._names:
                    self._zip.close()
                    raise SourceError(
                        _(
                            "The zip holds %(file)s more than once (%(first)s and %(second)s): upload a "
                            "zip of one export.",
                            file=Path(n).name,
                            first=self._names[key],
                            second=n,
                        )
                    )
                self._names[key] = n
        else:
            raise SourceError(_("%(path)s is neither a folder nor a zip file.", path=path))

    def names(self) -> list[str]:
        """File names present (lower case)."""
        return sorted(self._names)

    def has(self, name: str) -> bool:
        return name.lower() in self._names

    @contextmanager
    def open_text(self, name: str):
        """A text stream of a file: UTF-8 with or without BOM, any line ending, quoted newlines kept.

        A file that cannot be read as such (not UTF-8, damaged in the zip) raises SourceError,
        saying which file, where and what to do.
        """
        real = self._names[name.lower()]
        raw: IO[bytes]
        try:
            if self._zip is None:
                raw = open(self.path / real, "rb")  # noqa: SIM115 - closed below
            else:
                info = self._zip.getinfo(real)
                if info.file_size > ZIP_BOMB_BYTES and info.file_size > ZIP_BOMB_RATIO * max(info.compress_size, 1):
                    raise SourceError(
                        _(
                            "%(file)s would inflate from %(packed)s to %(size)s bytes: that is not a CSV export.",
                            file=name,
                            packed=format_decimal(info.compress_size),
                            size=format_decimal(info.file_size),
                        )
                    )
                raw = self._zip.open(real)
        except (OSError, RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:
            # RuntimeError: a password-protected entry; NotImplementedError: a compression zipfile lacks.
            raise SourceError(
                _(
                    "%(file)s could not be opened (%(error)s). Export the files again as a plain zip.",
                    file=name,
                    error=exc,
                )
            ) from exc
        try:
            with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
                yield fh
        except UnicodeDecodeError as exc:
            raise SourceError(self._not_utf8(name, real)) from exc
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise SourceError(
                _("%(file)s is damaged inside the zip (%(error)s). Export it again.", file=name, error=exc)
            ) from exc

    def _not_utf8(self, name: str, real: str) -> str:
        """Why a file is not UTF-8, naming the first line that is not (the file is read again, in bytes)."""
        archive = self._zip
        opener: Callable[[], IO[bytes]] = (
            (lambda: open(self.path / real, "rb"))  # noqa: SIM115 - each use is a `with` below
            if archive is None
            else (lambda: archive.open(real))
        )
        with opener() as raw:
            if raw.read(2) in (b"\xff\xfe", b"\xfe\xff"):
                return _(
                    '%(file)s is saved as UTF-16 ("Unicode text"), but the import reads UTF-8. Save or '
                    'export it as "CSV UTF-8" and upload it again.',
                    file=name,
                )
        with opener() as raw:
            for number, line in enumerate(raw, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return _(
                        "%(file)s is not UTF-8 text: line %(line)s has the byte %(byte)s, which is not UTF-8 "
                        '(was it saved as Windows-1252 or Latin-1?). Save or export it as "CSV UTF-8" and '
                        "upload it again.",
                        file=name,
                        line=number,
                        byte=f"0x{line[exc.start]:02x}",
                    )
        return _('%(file)s is not UTF-8 text. Save or export it as "CSV UTF-8" and upload it again.', file=name)

    def rows(self, fh, name: str = "", *, check_nul: bool = False) -> tuple[list[str], Iterator[Row]]:
        """The header (stripped) and an iterator of rows keyed by header, with starting line numbers.

        With check_nul, a record holding a NUL character gets an __error__ (no database stores it).
        A quoted field still open at the end of the file, or one longer than FIELD_LIMIT, raises
        SourceError: the file is damaged, and reading on would import what it swallowed as one value.
        """
        end = _EndOfFile()
        reader = csv.reader(itertools.chain(fh, end))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return [], iter(())
        except csv.Error as exc:
            raise _damaged(name, exc, 1) from exc
        if end.hit:
            raise SourceError(
                _(
                    '%(file)s line 1: a quote (") in the header is never closed. Correct the file and try again.',
                    file=name,
                )
            )
        return header, _records(reader, end, header, name, check_nul)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _damaged(name: str, exc: csv.Error, line: int) -> SourceError:
    """A field the csv reader refused: almost always a quote left open."""
    return SourceError(
        _(
            "%(file)s line %(line)s: a value is longer than %(mb)s MB (%(error)s); usually a "
            'quote (") that is opened and never closed. Correct the file and try again.',
            file=name,
            line=line,
            mb=FIELD_LIMIT // (1024 * 1024),
            error=exc,
        )
    )


def _records(reader, end: _EndOfFile, header: list[str], name: str, check_nul: bool) -> Iterator[Row]:
    """The records after the header as Rows (RosterSource.rows), blank lines skipped."""
    previous = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _damaged(name, exc, previous + 1) from exc
        start = previous + 1
        previous = reader.line_num
        if end.hit:
            # The reader wanted more lines than the file had: a quote left open ran to the end.
            if previous > start:
                raise SourceError(
                    _(
                        '%(file)s line %(line)s: a quote (") opened on this line is never closed, '
                        "so lines %(line)s to %(last)s read as one value. Correct the file and "
                        "try again.",
                        file=name,
                        line=start,
                        last=previous,
                    )
                )
            raise SourceError(
                _(
                    '%(file)s line %(line)s: a quote (") opened on this line is never closed. '
                    "Correct the file and try again.",
                    file=name,
                    line=start,
                )
            )
        # A blank line, or one of only separators and spaces (checked cheaply: most rows
        # have a sourcedId in the first field).
        if not record or (not record[0].strip() and not "".join(record).strip()):
            continue
        values = dict(zip(header, record))
        if len(record) > len(header):
            values["__error__"] = N_("more fields than the header has columns")
        elif check_nul and any("\x00" in value for value in record):
            values["__error__"] = N_("a value holds a NUL character (0x00), which cannot be stored")
        yield Row(start, values)
