"""The student-level export, for district users with the can_export_student_level grant only.

Two datasets, one table each:
- program participation, aligned with Ed-Fi StudentProgramAssociation (student, school, program,
  begin and end dates, reason exited), with sessions and minutes attended in the period;
- check-in attendance: each check-in plan with how many of its check-ins were due, completed
  (with an outcome), on time and missed in the period.
Students are identified by their SIS identifiers, never by name. Restricted notes, check-in
outcomes and flag details are never exported. The caller states a purpose; each export writes
one audit row carrying it, and one disclosure listed on the record of every student included.
"""
from __future__ import annotations

from datetime import datetime
from typing import IO

from sqlalchemy import and_, case, func, or_, select

from school_prevention import audit
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.disclosures.services import record_export_disclosure
from school_prevention.exports.writers import csv_bytes, write_xlsx
from school_prevention.extensions import db
from school_prevention.programs.models import Attendance, Enrollment, Program, ProgramSession, ProgramType
from school_prevention.reports.measures import GRACE, Period, Scope, checkin_on_time, prepare_session, school_condition
from school_prevention.schools.models import School
from school_prevention.students.models import Student

DESCRIPTOR = "uri://school-prevention.local/{kind}#{value}"
DATASETS = {
    "programs": "Program participation (Ed-Fi StudentProgramAssociation)",
    "checkins": "Check-in attendance",
}
PROGRAM_COLUMNS = [
    "studentUniqueId", "studentSourcedId", "educationOrganizationId", "programEducationOrganizationId",
    "programName", "programTypeDescriptor", "beginDate", "endDate", "reasonExitedDescriptor", "exitReason",
    "participationStatusDescriptor", "sessionsAttended", "minutesAttended",
]
CHECKIN_COLUMNS = [
    "studentUniqueId", "studentSourcedId", "educationOrganizationId", "planBeginDate", "planEndDate", "planStatus",
    "cadence", "checkInsDue", "checkInsCompleted", "checkInsOnTime", "checkInsMissed", "lastCompletedDate",
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


def program_rows(period: Period, scope: Scope):
    """Enrollments that held a seat at some point in the period, with attendance in it."""
    params = period.params()
    start, end = params["period_from"], params["period_to"]
    query = (select(Student.identifier, Student.sourced_id, School.identifier, School.sourced_id, Program.name,
                    ProgramType.name, Enrollment.started_at, Enrollment.ended_at, Enrollment.status,
                    Enrollment.end_reason, Enrollment.program_id, Enrollment.student_id)
             .join(Student, Student.id == Enrollment.student_id)
             .join(Program, Program.id == Enrollment.program_id)
             .join(ProgramType, ProgramType.id == Program.type_id)
             .join(School, School.id == Program.school_id)
             .where(Enrollment.started_at.is_not(None), Enrollment.started_at < end,
                    or_(Enrollment.ended_at.is_(None), Enrollment.ended_at >= start), school_condition(scope.kind))
             .order_by(School.sourced_id, Student.sourced_id, Program.name, Enrollment.started_at))
    present = Attendance.status == "present"
    dosage = dict(((program_id, student_id), (sessions, minutes)) for program_id, student_id, sessions, minutes in
                  db.session.execute(
                      select(ProgramSession.program_id, Attendance.student_id, func.count().filter(present),
                             func.coalesce(func.sum(case((present, ProgramSession.minutes), else_=0)), 0))
                      .join(ProgramSession, ProgramSession.id == Attendance.session_id)
                      .join(Program, Program.id == ProgramSession.program_id)
                      .join(School, School.id == Program.school_id)
                      .where(ProgramSession.held_on.between(period.start, period.end), school_condition(scope.kind))
                      .group_by(ProgramSession.program_id, Attendance.student_id), scope.params()))
    for (student_number, student_sid, school_number, school_sid, program, kind, began, ended, status, reason,
         program_id, student_id) in db.session.execute(query, scope.params()):
        sessions, minutes = dosage.get((program_id, student_id), (0, 0))
        org = _org(school_number, school_sid)
        yield [student_number or student_sid, student_sid, org, org, program,
               _descriptor("ProgramTypeDescriptor", kind), _local_date(began, period), _local_date(ended, period),
               _descriptor("ReasonExitedDescriptor", EXIT.get(status)), reason or "",
               _descriptor("ParticipationStatusDescriptor", status.capitalize()), sessions, int(minutes)]


def checkin_rows(period: Period, scope: Scope):
    """Check-in plans that ran in the period, with what happened to their check-ins in it."""
    params = period.params()
    start, end = params["period_from"], params["period_to"]
    deadline = period.now - GRACE
    due = and_(CheckIn.due_at >= start, CheckIn.due_at < end, CheckIn.due_at < deadline,
               or_(CheckIn.status != "cancelled", CheckIn.updated_at > CheckIn.due_at))
    done = and_(CheckIn.status == "completed", CheckIn.outcome.is_not(None))
    on_time = checkin_on_time()
    counts = (select(CheckIn.plan_id, func.count().filter(due).label("due"),
                     func.count().filter(and_(due, done)).label("completed"),
                     func.count().filter(and_(due, on_time)).label("on_time"),
                     func.count().filter(and_(due, CheckIn.status == "missed")).label("missed"),
                     func.max(CheckIn.completed_at).filter(done).label("last"))
              .where(CheckIn.due_at >= start, CheckIn.due_at < end)
              .group_by(CheckIn.plan_id).subquery())
    query = (select(Student.identifier, Student.sourced_id, School.identifier, School.sourced_id,
                    CheckInPlan.starts_on, CheckInPlan.until, CheckInPlan.ended_at, CheckInPlan.status,
                    CheckInPlan.cadence, func.coalesce(counts.c.due, 0), func.coalesce(counts.c.completed, 0),
                    func.coalesce(counts.c.on_time, 0), func.coalesce(counts.c.missed, 0), counts.c.last)
             .join(Student, Student.id == CheckInPlan.student_id)
             .join(School, School.id == CheckInPlan.school_id)
             .outerjoin(counts, counts.c.plan_id == CheckInPlan.id)
             .where(CheckInPlan.starts_on <= period.end, CheckInPlan.until >= period.start,
                    or_(CheckInPlan.ended_at.is_(None), CheckInPlan.ended_at >= start), school_condition(scope.kind))
             .order_by(School.sourced_id, Student.sourced_id, CheckInPlan.starts_on))
    for (student_number, student_sid, school_number, school_sid, starts_on, until, ended_at, status, cadence,
         n_due, n_done, n_on_time, n_missed, last) in db.session.execute(query, scope.params()):
        finished = _local_date(ended_at, period) if ended_at else until.isoformat()
        yield [student_number or student_sid, student_sid, _org(school_number, school_sid), starts_on.isoformat(),
               finished, status, cadence, n_due, n_done, n_on_time, n_missed, _local_date(last, period)]


def write_student_export(out: IO[bytes], fmt: str, dataset: str, period: Period, level: str | None, *,
                         actor, purpose: str) -> int:
    """Write the dataset to out and add the audit row with the purpose; returns the number of rows."""
    scope = Scope(level=level)
    prepare_session()
    header, rows = ((PROGRAM_COLUMNS, list(program_rows(period, scope))) if dataset == "programs"
                    else (CHECKIN_COLUMNS, list(checkin_rows(period, scope))))
    if fmt == "csv":
        out.write(csv_bytes(header, rows))
    else:
        write_xlsx(out, [(DATASETS[dataset][:31], header, rows)], notes=[
            f"{DATASETS[dataset]}, {period.start.isoformat()} to {period.end.isoformat()}, "
            f"schools: {level or 'all levels'}.",
            f"Exported on {period.today.isoformat()} for this purpose: {purpose}",
            "Student-level data: keep it only as long as the purpose needs, and share it with no one it does not cover.",
        ])
    # A sharing of student records: one disclosure, listed on the record of each student included.
    disclosure = record_export_disclosure(actor, (row[1] for row in rows), dataset=dataset,
                                          categories=DISCLOSED[dataset], purpose=purpose,
                                          detail={"format": fmt, "rows": len(rows)})
    audit.record("export.student_level", actor=actor, purpose=purpose, detail={
        "dataset": dataset, "format": fmt, "rows": len(rows), "level": level,
        "period": [period.start.isoformat(), period.end.isoformat()], "disclosure_id": disclosure.id})
    return len(rows)
