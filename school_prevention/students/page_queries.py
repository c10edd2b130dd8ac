"""The student page's statements: a fixed few, each built once and run with bind parameters.

The page is the most opened one in the app, so its statements are built once per process (and
per kind of student scope, never per user: the user's id is only ever a bind value) and select
only the columns the page shows, as plain rows. Building a statement afresh costs more than
running it (expression objects, a cache key), and loading ORM objects costs more than reading
the rows; nothing on the page is changed through them.

Parameters: :student_id always; :scope_user_id for the scoped ones; :now for the check-in summary.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import String, and_, bindparam, case, func, literal, null, or_, select, union_all
from sqlalchemy.orm import aliased

from school_prevention.auth.models import User, user_school
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.flags.models import FlagCategory, FlagEvent, RiskFlag
from school_prevention.flags.queries import SEVERITY_RANK, STATUS_RANK
from school_prevention.permissions import visible_students_condition
from school_prevention.programs.models import Attendance, Enrollment, Match, Mentor, Program, ProgramSession
from school_prevention.referrals.models import Referral, referral_category
from school_prevention.screenings.models import Instrument, Screening
from school_prevention.students.models import Student

STUDENT = bindparam("student_id")
OPEN_REFERRAL = ("new", "in_review")
TIMELINE_LENGTH = 50


def _triage_schools():
    """The schools whose referrals a counselor triages (permissions.triage_referrals), for :scope_user_id."""
    return select(user_school.c.school_id).where(user_school.c.user_id == bindparam("scope_user_id"))


@lru_cache(maxsize=None)
def flags(scope_kind: str):
    """The student's flags the user may see: current first, most severe first (flags_of_student's order)."""
    visible = select(Student.id).where(visible_students_condition(scope_kind))
    return (select(RiskFlag.id, RiskFlag.severity, RiskFlag.status, RiskFlag.opened_at, RiskFlag.resolved_at,
                   RiskFlag.report_recorded_at,
                   # Whether there is a restricted note, never the note itself.
                   and_(RiskFlag.note_ciphertext.is_not(None), RiskFlag.note_ciphertext != "").label("has_note"),
                   FlagCategory.name.label("category"), FlagCategory.is_suspected_abuse)
            .join(FlagCategory, FlagCategory.id == RiskFlag.category_id)
            .where(RiskFlag.student_id == STUDENT, RiskFlag.student_id.in_(visible))
            .order_by(STATUS_RANK, SEVERITY_RANK, RiskFlag.opened_at.desc(), RiskFlag.id))


@lru_cache(maxsize=None)
def enrollments():
    """The student's enrollments (current first, newest first) with the program's name, what the
    student attended of it, and a waitlisted one's place in line (1 is next)."""
    present = Attendance.status == "present"
    dose = (select(ProgramSession.program_id,
                   func.count().filter(present).label("sessions"),
                   func.coalesce(func.sum(case((present, ProgramSession.minutes), else_=0)), 0).label("minutes"))
            .join(ProgramSession, ProgramSession.id == Attendance.session_id)
            .where(Attendance.student_id == STUDENT)
            .group_by(ProgramSession.program_id)
            .subquery("dose"))
    ahead = aliased(Enrollment)
    place = (select(func.count())
             .where(ahead.program_id == Enrollment.program_id, ahead.status == "waitlisted",
                    or_(ahead.requested_at < Enrollment.requested_at,
                        and_(ahead.requested_at == Enrollment.requested_at, ahead.id <= Enrollment.id)))
             .correlate(Enrollment).scalar_subquery())
    rank = case({"active": 0, "waitlisted": 1}, value=Enrollment.status, else_=2)
    return (select(Enrollment.id, Enrollment.program_id, Enrollment.status, Enrollment.requested_at,
                   Enrollment.started_at, Enrollment.ended_at, Enrollment.end_reason,
                   Program.name.label("program"),
                   func.coalesce(dose.c.sessions, 0).label("sessions"),
                   func.coalesce(dose.c.minutes, 0).label("minutes"),
                   case((Enrollment.status == "waitlisted", place), else_=null()).label("place"))
            .join(Program, Program.id == Enrollment.program_id)
            .outerjoin(dose, dose.c.program_id == Enrollment.program_id)
            .where(Enrollment.student_id == STUDENT)
            .order_by(rank, Enrollment.requested_at.desc(), Enrollment.id.desc()))


@lru_cache(maxsize=None)
def matches():
    """The student's mentoring matches with the mentor's name, open ones first, newest first."""
    return (select(Match.id, Match.status, Match.matched_on, Mentor.name.label("mentor"))
            .outerjoin(Mentor, Mentor.id == Match.mentor_id)
            .where(Match.student_id == STUDENT)
            .order_by(Match.status == "closed", Match.created_at.desc(), Match.id.desc()))


@lru_cache(maxsize=None)
def active_plans():
    """The student's active check-in plans with their counselor's name, oldest first."""
    return (select(CheckInPlan.id, CheckInPlan.cadence, CheckInPlan.rrule, CheckInPlan.local_time,
                   CheckInPlan.until, CheckInPlan.needs_handoff, User.name.label("counselor"))
            .join(User, User.id == CheckInPlan.counselor_id)
            .where(CheckInPlan.student_id == STUDENT, CheckInPlan.status == "active")
            .order_by(CheckInPlan.created_at, CheckInPlan.id))


@lru_cache(maxsize=None)
def checkin_summary():
    """Next due, overdue count, last completed and completed count (checkins.queries.student_checkin_summary)."""
    now = bindparam("now", type_=CheckIn.due_at.type)
    return select(
        func.min(CheckIn.due_at).filter(CheckIn.status == "scheduled", CheckIn.due_at >= now).label("next_due"),
        func.count().filter(CheckIn.status == "scheduled", CheckIn.due_at < now).label("overdue"),
        func.max(CheckIn.due_at).filter(CheckIn.status == "completed").label("last_completed"),
        func.count().filter(CheckIn.status == "completed").label("completed"),
    ).where(CheckIn.student_id == STUDENT)


@lru_cache(maxsize=None)
def open_referrals():
    """The student's referrals waiting for a decision (oldest first), one row per concern category."""
    return (select(Referral.id, Referral.urgency, Referral.submitted_at, FlagCategory.name.label("category"))
            .outerjoin(referral_category, referral_category.c.referral_id == Referral.id)
            .outerjoin(FlagCategory, FlagCategory.id == referral_category.c.category_id)
            .where(Referral.student_id == STUDENT, Referral.status.in_(OPEN_REFERRAL),
                   Referral.school_id.in_(_triage_schools()))
            .order_by(Referral.submitted_at, Referral.id, FlagCategory.position, FlagCategory.id))


@lru_cache(maxsize=None)
def screenings():
    """The student's screenings with the instrument's name, newest first."""
    return (select(Screening.screened_on, Screening.result, Screening.next_step, Screening.rescreen_on,
                   Screening.outside_agency, Instrument.name.label("instrument"))
            .join(Instrument, Instrument.id == Screening.instrument_id)
            .where(Screening.student_id == STUDENT)
            .order_by(Screening.screened_on.desc(), Screening.id.desc()))


@lru_cache(maxsize=None)
def timeline():
    """The newest dated events of flags, referrals, check-in plans and check-ins, in one statement.

    Each row is (at, kind, ref, a, b, c): kind says what the texts a, b, c are (students.page
    words them). Enrollments and screenings come from the page's own lists.
    """
    text = String()
    actor = aliased(User)
    submitter = aliased(User)
    events = (select(FlagEvent.at.label("at"), literal("flag", text).label("kind"), RiskFlag.id.label("ref"),
                     FlagCategory.name.label("a"), FlagEvent.action.label("b"), actor.name.label("c"))
              .join(RiskFlag, RiskFlag.id == FlagEvent.flag_id)
              .join(FlagCategory, FlagCategory.id == RiskFlag.category_id)
              .outerjoin(actor, actor.id == FlagEvent.actor_id)
              .where(RiskFlag.student_id == STUDENT))
    referrals = (select(Referral.submitted_at, literal("referral", text), Referral.id,
                        submitter.name, Referral.urgency, null())
                 .join(submitter, submitter.id == Referral.submitted_by_id)
                 .where(Referral.student_id == STUDENT, Referral.school_id.in_(_triage_schools())))
    plans_started = (select(CheckInPlan.created_at, literal("plan", text), CheckInPlan.id,
                            CheckInPlan.cadence, CheckInPlan.rrule, null())
                     .where(CheckInPlan.student_id == STUDENT))
    plans_ended = (select(CheckInPlan.ended_at, literal("plan_ended", text), CheckInPlan.id, null(), null(), null())
                   .where(CheckInPlan.student_id == STUDENT, CheckInPlan.ended_at.is_not(None)))
    closed = (select(CheckIn.due_at, literal("checkin", text), CheckIn.id, CheckIn.status, CheckIn.outcome, null())
              .where(CheckIn.student_id == STUDENT, CheckIn.status.in_(("completed", "missed"))))
    every = union_all(events, referrals, plans_started, plans_ended, closed).subquery("timeline")
    return (select(every.c.at, every.c.kind, every.c.ref, every.c.a, every.c.b, every.c.c)
            .order_by(every.c.at.desc(), every.c.kind, every.c.ref.desc())
            .limit(TIMELINE_LENGTH))
