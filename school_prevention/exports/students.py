"""The student-level export, for district users with the can_export_student_level grant only.

Two datasets, one table each:
- program participation, aligned with Ed-Fi StudentProgramAssociation (student, school, program,
  begin and end dates, reason exited), with sessions and minutes attended in the period;
- check-in attendance: each check-in plan with how many of its check-ins were due, completed
  (with an outcome), on time and missed in the period.
Students are identified by their SIS identifiers, never by name. Restricted notes, check-in
outcomes and flag details are never exported. The caller states a purpose; each export writes
one audit row carrying it, and one disclosure listed on the record of every student included
(queue.finish, when the worker has made the file). The rows are read in batches by id (row_batches).
"""

from __future__ import annotations

import io
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, or_, select

from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.extensions import db
from school_prevention.i18n import N_
from school_prevention.programs.models import Attendance, Enrollment, Program, ProgramSession, ProgramType
from school_prevention.reports.measures import GRACE, Period, Scope, checkin_on_time, prepare_session, school_condition
from school_prevention.schools.models import School
from school_prevention.spreadsheets import csv_bytes, write_xlsx
from school_prevention.students.models import Student

DESCRIPTOR = "uri://school-prevention.local/{kind}#{value}"
# Names in English, marked for the catalogue: the form and the file translate them (the file in the
# language of the person who asked, queue.make); the column names below are the stable schema.
DATASETS = {
    "programs": N_("Program participation (Ed-Fi StudentProgramAssociation)"),
    "checkins": N_("Check-in attendance"),
}
PROGRAM_COLUMNS = [
    "studentUniqueId",
    "studentSourcedId",
    "educationOrganizationId",
    "programEducationOrganizationId",
    "programName",
    "programTypeDescriptor",
    "beginDate",
    "endDate",
    "reasonExitedDescriptor",
    "exitReason",
    "participationStatusDescriptor",
    "sessionsAttended",
    "minutesAttended",
]
CHECKIN_COLUMNS = [
    "studentUniqueId",
    "studentSourcedId",
    "educationOrganizationId",
    "planBeginDate",
    "planEndDate",
    "planStatus",
    "cadence",
    "checkInsDue",
    "checkInsCompleted",
    "checkInsOnTime",
    "checkInsMissed",
    "lastCompletedDate",
]
EXIT = {"completed": "Completed", "withdrawn": "Withdrawn"}
# What each dataset shares, as categories of records (disclosures.models.RECORD_CATEGORIES).
DISCLOSED = {"programs": ["identity", "enrollment", "programs"], "checkins": ["identity", "enrollment", "checkins"]}


def _descriptor(kind: str, value: str | None) -> str:
    return DESCRIPTOR.format(kind=kind, value=value) if value else ""


def _local_date(value: datetime | None, period: Period) -> str:
    return value.astimezone(period.zone).date().isoformat() if value else ""


def _org(identifier: str | None, sourced_id: str) -> str:
    return identifier or sourced_id


def _program_base(period: Period):
    params = period.params()
    start, end = params["period_from"], params["period_to"]
    return (
        select(Enrollment.id)
        .join(Student, Student.id == Enrollment.student_id)
        .join(Program, Program.id == Enrollment.program_id)
        .join(ProgramType, ProgramType.id == Program.type_id)
        .join(School, School.id == Program.school_id)
        .where(
            Enrollment.started_at.is_not(None),
            Enrollment.started_at < end,
            or_(Enrollment.ended_at.is_(None), Enrollment.ended_at >= start),
        )
    )


def _checkin_base(period: Period):
    start = period.params()["period_from"]
    return (
        select(CheckInPlan.id)
        .join(Student, Student.id == CheckInPlan.student_id)
        .join(School, School.id == CheckInPlan.school_id)
        .where(
            CheckInPlan.starts_on <= period.end,
            CheckInPlan.until >= period.start,
            or_(CheckInPlan.ended_at.is_(None), CheckInPlan.ended_at >= start),
        )
    )


def count_rows(dataset: str, period: Period, scope: Scope) -> int:
    """How many rows the dataset has for the period and schools (for the progress bar)."""
    base = _program_base(period) if dataset == "programs" else _checkin_base(period)
    query = base.where(school_condition(scope.kind)).with_only_columns(func.count())
    return db.session.scalar(query, scope.params()) or 0


def _dosage(period: Period, scope: Scope) -> dict:
    """(program id, student id) -> (sessions attended, minutes attended) in the period."""
    present = Attendance.status == "present"
    return {
        (program_id, student_id): (sessions, minutes)
        for program_id, student_id, sessions, minutes in db.session.execute(
            select(
                ProgramSession.program_id,
                Attendance.student_id,
                func.count().filter(present),
                func.coalesce(func.sum(case((present, ProgramSession.minutes), else_=0)), 0),
            )
            .join(ProgramSession, ProgramSession.id == Attendance.session_id)
            .join(Program, Program.id == ProgramSession.program_id)
            .join(School, School.id == Program.school_id)
            .where(ProgramSession.held_on.between(period.start, period.end), school_condition(scope.kind))
            .group_by(ProgramSession.program_id, Attendance.student_id),
            scope.params(),
        )
    }


def program_batch(period: Period, scope: Scope, dosage: dict, after: int, size: int) -> list[tuple[int, tuple, list]]:
    """The next enrollments (by id, after `after`) that held a seat at some point in the period, with
    attendance in it: (enrollment id, sort key, row)."""
    query = (
        _program_base(period)
        .add_columns(
            Student.identifier,
            Student.sourced_id,
            School.identifier,
            School.sourced_id,
            Program.name,
            ProgramType.name,
            Enrollment.started_at,
            Enrollment.ended_at,
            Enrollment.status,
            Enrollment.end_reason,
            Enrollment.program_id,
            Enrollment.student_id,
        )
        .where(Enrollment.id > after, school_condition(scope.kind))
        .order_by(Enrollment.id)
        .limit(size)
    )
    batch = []
    for (
        enrollment_id,
        student_number,
        student_sid,
        school_number,
        school_sid,
        program,
        kind,
        began,
        ended,
        status,
        reason,
        program_id,
        student_id,
    ) in db.session.execute(query, scope.params()):
        sessions, minutes = dosage.get((program_id, student_id), (0, 0))
        org = _org(school_number, school_sid)
        batch.append(
            (
                enrollment_id,
                (school_sid, student_sid, program, began, enrollment_id),
                [
                    student_number or student_sid,
                    student_sid,
                    org,
                    org,
                    program,
                    _descriptor("ProgramTypeDescriptor", kind),
                    _local_date(began, period),
                    _local_date(ended, period),
                    _descriptor("ReasonExitedDescriptor", EXIT.get(status)),
                    reason or "",
                    _descriptor("ParticipationStatusDescriptor", status.capitalize()),
                    sessions,
                    int(minutes),
                ],
            )
        )
    return batch


def checkin_batch(period: Period, scope: Scope, after: int, size: int) -> list[tuple[int, tuple, list]]:
    """The next check-in plans (by id) that ran in the period, with what happened to their check-ins
    in it: (plan id, sort key, row)."""
    plans = db.session.execute(
        _checkin_base(period)
        .add_columns(
            Student.identifier,
            Student.sourced_id,
            School.identifier,
            School.sourced_id,
            CheckInPlan.starts_on,
            CheckInPlan.until,
            CheckInPlan.ended_at,
            CheckInPlan.status,
            CheckInPlan.cadence,
        )
        .where(CheckInPlan.id > after, school_condition(scope.kind))
        .order_by(CheckInPlan.id)
        .limit(size),
        scope.params(),
    ).all()
    if not plans:
        return []
    params = period.params()
    start, end = params["period_from"], params["period_to"]
    deadline = period.now - GRACE
    due = and_(
        CheckIn.due_at >= start,
        CheckIn.due_at < end,
        CheckIn.due_at < deadline,
        or_(CheckIn.status != "cancelled", CheckIn.updated_at > CheckIn.due_at),
    )
    done = and_(CheckIn.status == "completed", CheckIn.outcome.is_not(None))
    counts = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(
                CheckIn.plan_id,
                func.count().filter(due),
                func.count().filter(and_(due, done)),
                func.count().filter(and_(due, checkin_on_time())),
                func.count().filter(and_(due, CheckIn.status == "missed")),
                func.max(CheckIn.completed_at).filter(done),
            )
            .where(CheckIn.due_at >= start, CheckIn.due_at < end, CheckIn.plan_id.in_([p[0] for p in plans]))
            .group_by(CheckIn.plan_id)
        )
    }
    batch = []
    for (
        plan_id,
        student_number,
        student_sid,
        school_number,
        school_sid,
        starts_on,
        until,
        ended_at,
        status,
        cadence,
    ) in plans:
        n_due, n_done, n_on_time, n_missed, last = counts.get(plan_id, (0, 0, 0, 0, None))
        finished = _local_date(ended_at, period) if ended_at else until.isoformat()
        batch.append(
            (
                plan_id,
                (school_sid, student_sid, starts_on, plan_id),
                [
                    student_number or student_sid,
                    student_sid,
                    _org(school_number, school_sid),
                    starts_on.isoformat(),
                    finished,
                    status,
                    cadence,
                    n_due,
                    n_done,
                    n_on_time,
                    n_missed,
                    _local_date(last, period),
                ],
            )
        )
    return batch


def row_batches(dataset: str, period: Period, scope: Scope, size: int = 1000):
    """The dataset in batches of at most size rows, each read by its own queries (the worker commits its
    progress between two batches): yields lists of (sort key, row); sort them by key for the file's order."""
    dosage = None
    after = 0
    while True:
        prepare_session()  # each batch may be a new transaction
        if dataset == "programs":
            if dosage is None:
                dosage = _dosage(period, scope)
            batch = program_batch(period, scope, dosage, after, size)
        else:
            batch = checkin_batch(period, scope, after, size)
        if not batch:
            return
        after = batch[-1][0]
        yield [(key, row) for _, key, row in batch]
        if len(batch) < size:
            return


def render_file(fmt: str, dataset: str, period: Period, level: str | None, purpose: str, rows: list[list]) -> bytes:
    """The export file (CSV or XLSX) of the rows, in the order given.

    The column names are the stable schema (docs/exports.md) in every language; the workbook's sheet
    title and notes are words for people, in the current locale (the requester's, set by the worker).
    """
    header = PROGRAM_COLUMNS if dataset == "programs" else CHECKIN_COLUMNS
    if fmt == "csv":
        return csv_bytes(header, rows)
    out = io.BytesIO()
    name = _(DATASETS[dataset])
    write_xlsx(
        out,
        [(name[:31], header, rows)],
        notes=[
            _(
                "%(dataset)s, %(start)s to %(end)s, schools: %(schools)s.",
                dataset=name,
                start=period.start.isoformat(),
                end=period.end.isoformat(),
                schools=level or _("all levels"),
            ),
            _("Exported on %(day)s for this purpose: %(purpose)s", day=period.today.isoformat(), purpose=purpose),
            _(
                "Student-level data: keep it only as long as the purpose needs, and share it with no one it does not cover."
            ),
        ],
    )
    return out.getvalue()
