"""The orchestrator: read -> stage -> upsert -> hand-offs, file by file, in the caller's transaction.

The caller owns the transaction: a dry run (or a refused import) is rolled back by the caller, so
a dry run does exactly what the real import would and reports it, and a failure half-way leaves
the database as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import text

from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.roster.pipeline import handoff, read, upsert, validate
from school_prevention.roster.pipeline.demographics import write_demographics
from school_prevention.roster.pipeline.people import write_guardians, write_staff
from school_prevention.roster.pipeline.report import ImportReport
from school_prevention.roster.pipeline.schools import known_schools, write_schools
from school_prevention.roster.pipeline.stage import StudentStage, stage_students
from school_prevention.roster.sources import RosterSource, Row

# PostgreSQL advisory lock taken for the length of an import's transaction (any constant the app
# uses for nothing else; this one spells "SPRI").
IMPORT_LOCK_KEY = 0x53505249


def import_roster(
    source: RosterSource,
    *,
    dry_run: bool,
    allow_mass_deactivation: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    batch_size: int = 2000,
    import_id: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    locale: str | None = None,
) -> ImportReport:
    """Import one OneRoster source and return its report; messages in `locale` (the admin's language)."""
    with force_locale(locale) if locale else nullcontext():
        return _Import(source, dry_run, allow_mass_deactivation, progress, batch_size, import_id, clock).run()


class _Import:
    """One run's shared state (report, clock, known schools) for the file steps below."""

    def __init__(
        self,
        source: RosterSource,
        dry_run: bool,
        allow_mass: bool,
        progress: Callable[[int, int, str], None] | None,
        batch_size: int,
        import_id: int | None,
        clock: Callable[[], float],
    ) -> None:
        self.report = ImportReport(dry_run=dry_run)
        self.reader = read.Reader(source, self.report, progress, clock)
        self.allow_mass = allow_mass
        self.batch_size = batch_size
        self.import_id = import_id
        self.now = utcnow()
        self.schools: dict[str, int] = {}

    def run(self) -> ImportReport:
        report, reader = self.report, self.reader
        modes = reader.modes()
        if db.session.get_bind().dialect.name == "postgresql":
            # One import at a time (a scheduled sync and an admin upload could meet): the second
            # waits here until the first commits or rolls back, then reads what it left.
            db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
        reader.count_lines()
        self.schools = known_schools()
        if modes["orgs.csv"] != "absent":
            reader.file("orgs.csv", self.orgs)
        if modes["users.csv"] != "absent":
            self.users_file(modes["users.csv"])
        if modes["demographics.csv"] != "absent" and not report.refused:
            reader.file("demographics.csv", self.demographics)
        if not report.changes and not report.rejected and not report.refused:
            report.messages.append(_("No changes: the database already matches these files."))
        return report

    def orgs(self, rows: Iterator[Row], mode: str) -> None:
        self.schools = write_schools(validate.schools(rows, mode, self.report), self.report, self.now)

    def users_file(self, mode: str) -> None:
        """users.csv: students staged and upserted, then staff and guardians; then, for a bulk file,
        the students it no longer lists; then the hand-off for students who left."""
        report = self.report
        active_before = upsert.active_students()
        stage = StudentStage()
        stage.create()
        if self.reader.file("users.csv", lambda rows, mode_: self.users(stage, rows, mode_)):
            if mode == "bulk":
                upsert.deactivate_missing(report, self.now, active_before, self.allow_mass)
        elif mode == "bulk":
            report.messages.append(_("users.csv was not read, so no student was deactivated."))
        if not report.refused:
            handoff.students_who_left(self.now, report)
        stage.drop()

    def users(self, stage: StudentStage, rows: Iterator[Row], mode: str) -> None:
        staff: list[validate.StaffRow] = []
        guardians: list[validate.GuardianRow] = []
        students = validate.users(rows, mode, self.report, self.schools, staff, guardians)
        try:
            stage_students(stage, students, self.batch_size)
        except BaseException:
            stage.close(failed=True)
            raise
        stage.close()
        plan = upsert.count_students(self.report)
        moves = upsert.record_moves(plan, self.now, self.import_id)
        upsert.write_students(plan, self.now)
        handoff.students_who_moved(moves, self.now, self.report, self.batch_size)
        write_staff(staff, self.report, self.now, self.batch_size)
        write_guardians(guardians, mode, self.report, self.now, self.batch_size)

    def demographics(self, rows: Iterator[Row], mode: str) -> None:
        write_demographics(validate.demographics(rows, mode, self.report), self.report, self.batch_size)
