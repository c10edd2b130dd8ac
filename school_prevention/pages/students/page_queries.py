"""The student page's statement: the student and everything the page lists, in one statement.

The page is the most opened one in the app. Each of its parts (the student, flags, enrollments, matches,
plans, the check-in summary, the tier, intervention plans, open referrals, screenings, the timeline,
guardians, demographics, agency referrals, disclosures) is a section: a query of named columns, in its own
order. Each feature owns its sections, as (query, named columns, order) from a student_page_*() function of
its queries module (flags.queries.student_page_section, programs.queries.student_page_enrollments, ...), so
a change to a feature's model and to what the page reads of it are made in one place; this module keeps what
composes: the student row (students and schools are no feature), the timeline (events of several features,
newest first) and the one statement. page_statement() sends them all at once as one UNION ALL whose rows
carry their section, their place in it and the section's columns in typed slots (a column of each type per
slot: PostgreSQL needs one type per column of a union); students.page reads the rows back by name. One
statement instead of ten saves round trips and, above all, the work of running each (parameters, a cursor, a
result) in the app and in the database. The statement reads nothing unless the user may see the student (one
condition on the whole union, checked once before any section runs); no rows at all, no student row, is a
404.

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
    bindparam,
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
from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.checkins.queries import student_page_plans
from school_prevention.checkins.queries import student_page_summary as checkin_summary_section
from school_prevention.db import UTCDateTime
from school_prevention.disclosures.queries import student_page_guardians
from school_prevention.disclosures.queries import student_page_section as disclosures_section
from school_prevention.flags.models import FlagCategory, FlagEvent, RiskFlag
from school_prevention.flags.queries import student_page_section as flags_section
from school_prevention.permissions import visible_students_condition
from school_prevention.programs.queries import student_page_enrollments, student_page_matches
from school_prevention.referrals.models import Referral
from school_prevention.referrals.queries import student_page_section as referrals_section
from school_prevention.referrals.queries import student_page_triage_schools
from school_prevention.roster.queries import student_page_demographics
from school_prevention.schools.models import School
from school_prevention.screenings.queries import student_page_section as screenings_section
from school_prevention.students.models import Student
from school_prevention.tiers.models import InterventionPlan, TierChange
from school_prevention.tiers.queries import student_page_interventions, student_page_tier

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
        .where(Referral.student_id == STUDENT, Referral.school_id.in_(student_page_triage_schools()))
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


def sections(is_counselor: bool) -> list[Section]:
    """The page's sections for a viewer: the student, flags, programs, check-ins, the tier and intervention
    plans; counselors also see referrals, screenings, the timeline, guardians, demographics, agency
    referrals and the newest disclosures."""
    shown = [
        _student(),
        _section("flags", *flags_section()),
        _section("enrollments", *student_page_enrollments()),
        _section("matches", *student_page_matches()),
        _section("plans", *student_page_plans()),
        _section("summary", *checkin_summary_section()),
        _section("tier", *student_page_tier()),
        _section("interventions", *student_page_interventions()),
    ]
    if is_counselor:
        shown += [
            _section("referrals", *referrals_section()),
            _section("screenings", *screenings_section()),
            _timeline(),
            _section("guardians", *student_page_guardians()),
            _section("demographics", *student_page_demographics()),
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
