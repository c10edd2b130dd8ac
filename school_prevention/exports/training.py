"""The district workbook's Training sheet: staff training coverage by school, suppressed (reports.training)."""

from __future__ import annotations

from school_prevention.reports.training import COLUMNS, TrainingTable


def training_sheet(table: TrainingTable, cell):
    """(title, header, rows, number formats) for spreadsheets.write_xlsx; cell() writes one figure."""
    header = [name for name, _ in COLUMNS]
    rows = (
        [cell(row.get(name), "share" if name.startswith("share") else "count") for name in header]
        for row in [*table.rows, table.totals]
    )
    return ("Training", header, rows, {header.index("share_staff_trained"): "0.0%"})
