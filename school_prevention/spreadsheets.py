"""CSV and XLSX writers for exports and downloads, with spreadsheet formula injection neutralised.

A cell that starts with = + - @, a tab, a carriage return or a NUL can be run as a formula by
Excel, LibreOffice or Google Sheets. Such text cells get a leading apostrophe (OWASP's advice),
so a name like "=HYPERLINK(...)" typed into the SIS shows as text and never runs. Numbers are
written as numbers and are not touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import IO, Any

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")


class Withheld(str):
    """A marker written in place of a suppressed figure; XLSX shows it greyed so it stands out."""


def safe_cell(value: Any) -> Any:
    """The value made safe for a spreadsheet: text starting with a formula character is quoted."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(DANGEROUS_PREFIXES):
        return "'" + text
    return text


def write_csv(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write header and rows as CSV (UTF-8 text stream); returns the number of data rows."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        count += 1
    return count


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV as UTF-8 with a byte order mark, so Excel opens accents and non-Latin names right."""
    buffer = io.StringIO()
    write_csv(buffer, header, rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_xlsx(out: IO[bytes], sheets: Sequence[tuple], notes: Sequence[str] = ()) -> None:
    """Write one worksheet per (title, header, rows[, number formats by column index]), streaming rows.

    Text is written with write_string, never parsed as a formula; a leading apostrophe is kept
    as well, so a copy-paste into another sheet cannot turn it into one either. Withheld
    markers get a grey, italic format.
    """
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        out, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "in_memory": True}
    )
    bold = workbook.add_format({"bold": True, "bg_color": "#E6F0F7"})
    withheld = workbook.add_format({"italic": True, "font_color": "#555555", "bg_color": "#EEEEEE", "align": "right"})
    cached: dict[str, Any] = {}
    for title, header, rows, *rest in sheets:
        number_formats = {}
        for col, fmt in (rest[0] if rest else {}).items():
            if fmt not in cached:
                cached[fmt] = workbook.add_format({"num_format": fmt})
            number_formats[col] = cached[fmt]
        sheet = workbook.add_worksheet(title[:31])
        for col, name in enumerate(header):
            sheet.write_string(0, col, str(safe_cell(name)), bold)
            sheet.set_column(col, col, max(12, min(40, len(str(name)) + 2)))
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                if isinstance(value, Withheld):
                    sheet.write_string(r, col, str(value), withheld)
                    continue
                value = safe_cell(value)
                if isinstance(value, (int, float)):
                    sheet.write_number(r, col, value, number_formats.get(col))
                else:
                    sheet.write_string(r, col, value)
    if notes:
        sheet = workbook.add_worksheet("About")
        for r, line in enumerate(notes):
            sheet.write_string(r, 0, str(safe_cell(line)))
        sheet.set_column(0, 0, 110)
    workbook.close()
