"""Hand-offs after the students are written: what the check-ins services do for students who moved
school or left the district. The import writes no check-ins table itself (checkins.handoff does,
set-based, in the import's transaction, so a dry run or a refused import changes nothing there either).
"""

from __future__ import annotations

from datetime import datetime

from school_prevention.checkins.handoff import end_plans_of_students_who_left, hand_off
from school_prevention.roster.pipeline.report import ImportReport


def students_who_moved(moves: list[tuple[int, int]], now: datetime, report: ImportReport, chunk: int) -> None:
    """Plans, open check-ins and matches follow each (student, new school), chunk students at a time
    (a bounded IN list: SQLite takes at most 32,766 parameters)."""
    counts = report.counts
    for start in range(0, len(moves), chunk):
        kept, handed, waiting = hand_off(dict(moves[start : start + chunk]), now)
        counts["checkin_plans_kept_by_counselor"] += kept
        counts["checkin_plans_handed_over"] += handed
        counts["checkin_plans_marked_for_handoff"] += waiting


def students_who_left(now: datetime, report: ImportReport) -> None:
    """Students the roster deactivated: their plans, reminders and matches end."""
    report.counts["checkin_plans_ended"] += end_plans_of_students_who_left(now)
