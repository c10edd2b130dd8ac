"""The names other modules have long imported from here (views, cli); the import itself is roster.pipeline."""

from __future__ import annotations

from school_prevention.roster.pipeline.report import (
    COUNT_LABELS,
    ImportReport,
    count_rows,
)
from school_prevention.roster.pipeline.run import IMPORT_LOCK_KEY

__all__ = ["COUNT_LABELS", "IMPORT_LOCK_KEY", "ImportReport", "count_rows"]
