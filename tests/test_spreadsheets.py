"""Exported cells cannot run as formulas when a district officer opens the file."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from school_prevention.spreadsheets import csv_bytes, safe_cell, write_xlsx

NASTY = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "\0nul"]


@pytest.mark.parametrize("text", NASTY)
def test_formula_starts_are_neutralised(text):
    assert safe_cell(text) == "'" + text


def test_ordinary_values_are_untouched():
    assert safe_cell("Maple Elementary") == "Maple Elementary"
    assert safe_cell(-3) == -3 and safe_cell(0.25) == 0.25 and safe_cell(None) == ""
    assert safe_cell("Ana-Maria") == "Ana-Maria"  # a dash inside is fine


def test_csv_round_trip_keeps_text_inert_and_has_a_bom():
    data = csv_bytes(["school", "n"], [[NASTY[0], 12], ["Cedar, Middle", 7]])
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["school", "n"], ["'" + NASTY[0], "12"], ["Cedar, Middle", "7"]]


def test_xlsx_cells_are_strings_and_numbers_never_formulas():
    buffer = io.BytesIO()
    write_xlsx(
        buffer,
        [("Schools", ["school", "n"], [[text, i] for i, text in enumerate(NASTY)])],
        notes=["Cells below 10 are suppressed."],
    )
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    sheet = book["Schools"]
    for row in sheet.iter_rows(min_row=2):
        assert row[0].data_type == "s" and row[0].value.startswith("'")
        assert row[1].data_type == "n"
    assert book["About"]["A1"].value == "Cells below 10 are suppressed."
