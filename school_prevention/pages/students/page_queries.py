"""The student page's statement: the student and everything the page lists, in one statement.

The page is the most opened one in the app. Each of its parts (the student, flags, enrollments, matches,
plans, the check-in summary, open referrals, screenings, the timeline) is a section: a query of
named columns, in its own order. page_statement() sends them all at once as one UNION ALL whose
rows carry their section, their place in it and the section's columns in typed slots (a column
of each type per slot: PostgreSQL needs one type per column of a union); students.page reads the
rows back by name. One statement instead of ten saves round trips and, above all, the work of
running each (parameters, a cursor, a result) in the app and in the database. The statement reads
nothing unless the user may see the student (one condition on the whole union, checked once
before any section runs); no rows at all, no student row, is a 404.

The statement is built once per process (and per kind of student scope and role, never per
user: the user's id is only ever a bind value) and reads plain rows: nothing on the page is
changed through them. Parameters: :student_id, :scope_user_id, :now. Lists of values are literals, not
expanding parameters (those are rendered anew on each run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    Integer,
    Select,
    String,
    Time,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from school_prevention.agencies.queries import student_page_section as agency_referrals_section
from school_prevention.auth.models import User, user_school
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.db import UTCDateTime
from school_prevention.disclosures.models import Guardian, guardian_student
from school_prevention.disclosures.queries import student_page_section as disclosures_section
from school_prevention.flags.models import FlagCategory, FlagEvent, RiskFlag
from school_prevention.flags.queries import student_page_section as flags_section
from school_prevention.permissions import visible_students_condition
from school_prevention.programs.models import Attendance, Enrollment, Match, Mentor, Program, ProgramSession
from school_prevention.referrals.models import Referral, referral_category
from school_prevention.roster.models import StudentDemographics
from school_prevention.schools.models import School
from school_prevention.screenings.models import Instrument, Screening
from school_prevention.students.models import Student
from school_prevention.tiers.models import InterventionPlan, ProgressPoint, StudentTier, TierChange

OPEN_REFERRAL = ("new", "in_review")
TIMELINE_LENGTH = 50
STUDENT: BindParameter[int] = bindparam("student_id")
# Slot types of the union, by the kind of value they hold.
SLOT_TYPES: dict[str, TypeEngine[Any]] = {
    "n": Integer(),
    "t": String(),
    "at": UTCDateTime(),
    "d": Date(),
    "tm": Time(),
    "b": Boolean(),
    "f": Float(),
}


def _kind(expression) -> str:
    """The slot kind of a column expression (by its SQL type)."""
    for kind, type_ in SLOT_TYPES.items():
        if isinstance(expression.type, type(type_)):
            return kind
    if isinstance(expression.type, Integer):  # BigInteger from count()
        return "n"
    raise TypeError(f"no slot for {expression} of type {expression.type!r}")


@dataclass
class Section:
    """One list of the page: named columns of a query (with its FROM and WHERE), in an order."""

    name: str
    query: Select  # selects the columns below, joined and filtered
    columns: dict[str, object]  # name -> column expression
    order_by: list = field(default_factory=list)  # empty: one row (an aggregate)
    slots: dict[str, str] = field(default_factory=dict)  # name -> slot, filled by page_statement

    def assign_slots(self) -> dict[str, int]:
        """Give each column the next free slot of its kind; returns how many of each kind it uses."""
        used: dict[str, int] = {}
        for name, expression in self.columns.items():
            kind = _kind(expression)
            used[kind] = used.get(kind, 0) + 1
            self.slots[name] = f"{kind}{used[kind]}"
        return used


def _section(name: str, query_from: Select, columns: dict, order_by=()) -> Section:
    return Section(name, query_from, columns, list(order_by))


def _triage_schools():
    """The schools whose referrals a counselor triages (permissions.triage_referrals), for :scope_user_id."""
    return select(user_school.c.school_id).where(user_school.c.user_id == bindparam("scope_user_id"))


def _visible(scope_kind: str):
    """Whether the user may see the student :student_id (permissions.visible_students)."""
    return exists().where(Student.id == STUDENT, visible_students_condition(scope_kind))


def _student() -> Section:
    """The student and the school's name (no row: not in the user's scope, a 404)."""
    columns = {
        "id": Student.id,
        "sourced_id": Student.sourced_id,
        "identifier": Student.identifier,
        "school_id": Student.school_id,
        "given_name": Student.given_name,
        "family_name": Student.family_name,
        "preferred_name": Student.preferred_name,
        "grade": Student.grade,
        "is_active": Student.is_active,
        "school_name": School.name,
    }
    query = select(Student.id).join(School, School.id == Student.school_id).where(Student.id == STUDENT)
    return _section("student", query, columns)


def _enrollments() -> Section:
    """Enrollments (current first, newest first) with the program's name, what the student
    attended of it, and a waitlisted one's place in line (1 is next)."""
    present = Attendance.status == "present"
    dose = (
        select(
            ProgramSession.program_id,
            func.count().filter(present).label("sessions"),
            func.coalesce(func.sum(case((present, ProgramSession.minutes), else_=0)), 0).label("minutes"),
        )
        .join(ProgramSession, ProgramSession.id == Attendance.session_id)
        .where(Attendance.student_id == STUDENT)
        .group_by(ProgramSession.program_id)
        .subquery("dose")
    )
    ahead = aliased(Enrollment)
    place = (
        select(func.count())
        .where(
            ahead.program_id == Enrollment.program_id,
            ahead.status == "waitlisted",
            or_(
                ahead.requested_at < Enrollment.requested_at,
                and_(ahead.requested_at == Enrollment.requested_at, ahead.id <= Enrollment.id),
            ),
        )
        .correlate(Enrollment)
        .scalar_subquery()
    )
    columns = {
        "id": Enrollment.id,
        "program_id": Enrollment.program_id,
        "program": Program.name,
        "status": Enrollment.status,
        "requested_at": Enrollment.requested_at,
        "started_at": Enrollment.started_at,
        "ended_at": Enrollment.ended_at,
        "end_reason": Enrollment.end_reason,
        "sessions": type_coerce(func.coalesce(dose.c.sessions, 0), Integer),
        "minutes": type_coerce(func.coalesce(dose.c.minutes, 0), Integer),
        "place": type_coerce(case((Enrollment.status == "waitlisted", place), else_=null()), Integer),
    }
    query = (
        select(Enrollment.id)
        .join(Program, Program.id == Enrollment.program_id)
        .outerjoin(dose, dose.c.program_id == Enrollment.program_id)
        .where(Enrollment.student_id == STUDENT)
    )
    rank = case({"active": 0, "waitlisted": 1}, value=Enrollment.status, else_=2)
    return _section("enrollments", query, columns, [rank, Enrollment.requested_at.desc(), Enrollment.id.desc()])


def _matches() -> Section:
    """Mentoring matches with the mentor's name, open ones first, newest first."""
    columns = {"id": Match.id, "status": Match.status, "matched_on": Match.matched_on, "mentor": Mentor.name}
    query = select(Match.id).outerjoin(Mentor, Mentor.id == Match.mentor_id).where(Match.student_id == STUDENT)
    return _section("matches", query, columns, [Match.status == "closed", Match.created_at.desc(), Match.id.desc()])


def _active_plans() -> Section:
    """Active check-in plans with their counselor's name, oldest first."""
    columns = {
        "id": CheckInPlan.id,
        "cadence": CheckInPlan.cadence,
        "rrule": CheckInPlan.rrule,
        "local_time": CheckInPlan.local_time,
        "until": CheckInPlan.until,
        "needs_handoff": CheckInPlan.needs_handoff,
        "counselor": User.name,
    }
    query = (
        select(CheckInPlan.id)
        .join(User, User.id == CheckInPlan.counselor_id)
        .where(CheckInPlan.student_id == STUDENT, CheckInPlan.status == "active")
    )
    return _section("plans", query, columns, [CheckInPlan.created_at, CheckInPlan.id])


def _checkin_summary() -> Section:
    """Next due, overdue count, last completed and completed count (checkins.queries.student_checkin_summary)."""
    now = bindparam("now", type_=CheckIn.due_at.type)
    columns = {
        "next_due": func.min(CheckIn.due_at).filter(CheckIn.status == "scheduled", CheckIn.due_at >= now),
        "overdue": func.count().filter(CheckIn.status == "scheduled", CheckIn.due_at < now),
        "last_completed": func.max(CheckIn.due_at).filter(CheckIn.status == "completed"),
        "completed": func.count().filter(CheckIn.status == "completed"),
    }
    return _section("summary", select(CheckIn.id).where(CheckIn.student_id == STUDENT), columns)


def _open_referrals() -> Section:
    """Referrals waiting for a decision (oldest first), one row per concern category."""
    columns = {
        "id": Referral.id,
        "urgency": Referral.urgency,
        "submitted_at": Referral.submitted_at,
        "category": FlagCategory.name,
    }
    query = (
        select(Referral.id)
        .outerjoin(referral_category, referral_category.c.referral_id == Referral.id)
        .outerjoin(FlagCategory, FlagCategory.id == referral_category.c.category_id)
        .where(
            Referral.student_id == STUDENT,
            Referral.status.in_([literal(s) for s in OPEN_REFERRAL]),
            Referral.school_id.in_(_triage_schools()),
        )
    )
    return _section(
        "referrals", query, columns, [Referral.submitted_at, Referral.id, FlagCategory.position, FlagCategory.id]
    )


def _screenings() -> Section:
    """Screenings with the instrument's name, newest first."""
    columns = {
        "screened_on": Screening.screened_on,
        "result": Screening.result,
        "next_step": Screening.next_step,
        "rescreen_on": Screening.rescreen_on,
        "outside_agency": Screening.outside_agency,
        "instrument": Instrument.name,
    }
    query = (
        select(Screening.id)
        .join(Instrument, Instrument.id == Screening.instrument_id)
        .where(Screening.student_id == STUDENT)
    )
    return _section("screenings", query, columns, [Screening.screened_on.desc(), Screening.id.desc()])


def _timeline() -> Section:
    """Dated events of flags, referrals, check-in plans and check-ins, newest first (the newest
    TIMELINE_LENGTH are kept). Each is (at, kind, ref, a, b, c): kind says what the texts a, b, c
    are (students.page words them). Enrollments and screenings come from their own sections."""
    text = String()
    actor = aliased(User)
    submitter = aliased(User)
    events = (
        select(
            FlagEvent.at.label("at"),
            literal("flag", text).label("kind"),
            RiskFlag.id.label("ref"),
            FlagCategory.name.label("a"),
            FlagEvent.action.label("b"),
            actor.name.label("c"),
        )
        .join(RiskFlag, RiskFlag.id == FlagEvent.flag_id)
        .join(FlagCategory, FlagCategory.id == RiskFlag.category_id)
        .outerjoin(actor, actor.id == FlagEvent.actor_id)
        .where(RiskFlag.student_id == STUDENT)
    )
    referrals = (
        select(Referral.submitted_at, literal("referral", text), Referral.id, submitter.name, Referral.urgency, null())
        .join(submitter, submitter.id == Referral.submitted_by_id)
        .where(Referral.student_id == STUDENT, Referral.school_id.in_(_triage_schools()))
    )
    plans_started = select(
        CheckInPlan.created_at, literal("plan", text), CheckInPlan.id, CheckInPlan.cadence, CheckInPlan.rrule, null()
    ).where(CheckInPlan.student_id == STUDENT)
    plans_ended = select(
        CheckInPlan.ended_at, literal("plan_ended", text), CheckInPlan.id, null(), null(), null()
    ).where(CheckInPlan.student_id == STUDENT, CheckInPlan.ended_at.is_not(None))
    closed = select(
        CheckIn.due_at, literal("checkin", text), CheckIn.id, CheckIn.status, CheckIn.outcome, null()
    ).where(CheckIn.student_id == STUDENT, CheckIn.status.in_([literal("completed"), literal("missed")]))
    tiers = (
        select(
            TierChange.changed_at,
            literal("tier", text),
            TierChange.id,
            cast(TierChange.tier, String),
            cast(TierChange.previous_tier, String),
            actor.name,
        )
        .outerjoin(actor, actor.id == TierChange.changed_by_id)
        .where(TierChange.student_id == STUDENT)
    )
    interventions = select(
        InterventionPlan.created_at,
        literal("intervention", text),
        InterventionPlan.id,
        InterventionPlan.measure,
        null(),
        null(),
    ).where(InterventionPlan.student_id == STUDENT)
    interventions_closed = select(
        InterventionPlan.closed_at,
        literal("intervention_closed", text),
        InterventionPlan.id,
        InterventionPlan.status,
        InterventionPlan.measure,
        null(),
    ).where(InterventionPlan.student_id == STUDENT, InterventionPlan.closed_at.is_not(None))
    every = union_all(
        events, referrals, plans_started, plans_ended, closed, tiers, interventions, interventions_closed
    ).subquery("timeline")
    columns = {
        "at": every.c.at,
        "kind": every.c.kind,
        "ref": every.c.ref,
        "a": every.c.a,
        "b": every.c.b,
        "c": every.c.c,
    }
    return _section("timeline", select(every.c.ref), columns, [every.c.at.desc(), every.c.kind, every.c.ref.desc()])


def _tier() -> Section:
    """The student's tier (1 when never moved) and its version (0 when never moved)."""
    columns = {
        "tier": type_coerce(func.coalesce(StudentTier.tier, 1), Integer),
        "version": type_coerce(func.coalesce(StudentTier.version, 0), Integer),
        "changed_at": StudentTier.changed_at,
    }
    query = select(Student.id).outerjoin(StudentTier, StudentTier.student_id == Student.id).where(Student.id == STUDENT)
    return _section("tier", query, columns)


def _interventions() -> Section:
    """Intervention plans, active first (soonest review first), with their data points' count and latest value."""
    latest = (
        select(ProgressPoint.value)
        .where(ProgressPoint.plan_id == InterventionPlan.id)
        .order_by(ProgressPoint.measured_on.desc())
        .limit(1)
        .correlate(InterventionPlan)
        .scalar_subquery()
    )
    points = (
        select(func.count())
        .where(ProgressPoint.plan_id == InterventionPlan.id)
        .correlate(InterventionPlan)
        .scalar_subquery()
    )
    counselor = aliased(User)
    columns = {
        "id": InterventionPlan.id,
        "goal": InterventionPlan.goal,
        "measure": InterventionPlan.measure,
        "baseline": InterventionPlan.baseline,
        "target": InterventionPlan.target,
        "started_on": InterventionPlan.started_on,
        "review_on": InterventionPlan.review_on,
        "status": InterventionPlan.status,
        "counselor": counselor.name,
        "points": type_coerce(points, Integer),
        "latest": type_coerce(latest, Float),
    }
    query = (
        select(InterventionPlan.id)
        .outerjoin(counselor, counselor.id == InterventionPlan.counselor_id)
        .where(InterventionPlan.student_id == STUDENT)
    )
    return _section(
        "interventions",
        query,
        columns,
        [InterventionPlan.status != "active", InterventionPlan.review_on, InterventionPlan.id],
    )


def _guardians() -> Section:
    """The student's parents and guardians from the SIS roster (active ones), by family name."""
    columns = {
        "given_name": Guardian.given_name,
        "family_name": Guardian.family_name,
        "role": Guardian.role,
        "phone": Guardian.phone,
        "email": Guardian.email,
    }
    query = (
        select(Guardian.id)
        .join(guardian_student, guardian_student.c.guardian_id == Guardian.id)
        .where(guardian_student.c.student_id == STUDENT, Guardian.is_active.is_(True))
    )
    return _section("guardians", query, columns, [Guardian.family_name, Guardian.given_name, Guardian.id])


def _demographics() -> Section:
    """Roster demographics, where the SIS sent them (no row otherwise)."""
    d = StudentDemographics
    columns = {
        "sex": d.sex,
        "american_indian_or_alaska_native": d.american_indian_or_alaska_native,
        "asian": d.asian,
        "black_or_african_american": d.black_or_african_american,
        "native_hawaiian_or_pacific_islander": d.native_hawaiian_or_pacific_islander,
        "white": d.white,
        "two_or_more_races": d.two_or_more_races,
        "hispanic_or_latino": d.hispanic_or_latino,
    }
    return _section("demographics", select(d.student_id).where(d.student_id == STUDENT), columns)


def sections(is_counselor: bool) -> list[Section]:
    """The page's sections for a viewer: the student, flags, programs and check-ins; counselors also see referrals, screenings, the timeline, agency
    referrals and the newest disclosures."""
    shown = [
        _student(),
        _section("flags", *flags_section()),
        _enrollments(),
        _matches(),
        _active_plans(),
        _checkin_summary(),
        _tier(),
        _interventions(),
    ]
    if is_counselor:
        shown += [
            _open_referrals(),
            _screenings(),
            _timeline(),
            _guardians(),
            _demographics(),
            _section("agency_referrals", *agency_referrals_section()),
            _section("disclosures", *disclosures_section()),
        ]
    return shown


@cache
def page_statement(scope_kind: str, is_counselor: bool) -> tuple[Select, dict[str, dict[str, str]]]:
    """(the statement, section name -> {column name: slot}) for the page of a viewer.

    Rows are (section, pos, slots...), ordered by section and pos (the place in the section's own
    order); only the first TIMELINE_LENGTH timeline rows are sent.
    """
    shown = sections(is_counselor)
    width: dict[str, int] = {}
    for section in shown:
        for kind, used in section.assign_slots().items():
            width[kind] = max(width.get(kind, 0), used)
    slots = [(f"{kind}{i}", SLOT_TYPES[kind]) for kind in SLOT_TYPES for i in range(1, width.get(kind, 0) + 1)]
    branches: list[Select[Any]] = []
    for section in shown:
        by_slot = {slot: name for name, slot in section.slots.items()}
        pos = func.row_number().over(order_by=section.order_by) if section.order_by else literal(1)
        # A column keeps its own SQL (SQLite would turn a date cast to DATE into a number); an empty
        # slot is a NULL cast to the slot's type (PostgreSQL must know each column's type).
        branches.append(
            section.query.with_only_columns(
                literal(section.name, String()).label("section"),
                type_coerce(pos, Integer).label("pos"),
                *[
                    (
                        type_coerce(section.columns[by_slot[slot]], type_) if slot in by_slot else cast(null(), type_)
                    ).label(slot)
                    for slot, type_ in slots
                ],
                maintain_column_froms=True,
            )
        )
    every = union_all(*branches).subquery("page")
    statement = (
        select(every)
        .where(_visible(scope_kind), or_(every.c.section != "timeline", every.c.pos <= TIMELINE_LENGTH))
        .order_by(every.c.section, every.c.pos)
    )
    return statement, {section.name: dict(section.slots) for section in shown}
