"""What the student page shows, gathered in a fixed number of queries for the viewing user."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timezone

from sqlalchemy.orm import joinedload, selectinload

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.flags.models import FlagEvent, RiskFlag
from school_prevention.flags.queries import flags_of_student
from school_prevention.permissions import triage_referrals, visible_flags
from school_prevention.programs.models import Enrollment, Match
from school_prevention.programs.queries import (
    Dosage, dosage, dosage_map, enrollments_of_student, matches_of_student, waitlist_positions,
)
from school_prevention.referrals.models import Referral
from school_prevention.referrals.queries import open_referrals_of_student
from school_prevention.roles import Role
from school_prevention.screenings.queries import screenings_of_student
from school_prevention.students.models import Student


@dataclass
class TimelineEntry:
    """One dated line of the child's timeline."""

    at: datetime
    kind: str
    text: str
    link: str | None = None


@dataclass
class StudentPage:
    """Everything the page needs; sections the role may not see stay empty and hidden."""

    student: Student
    flags: list[RiskFlag] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    screenings: list = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    enrollments: list[Enrollment] = field(default_factory=list)
    doses: dict[int, Dosage] = field(default_factory=dict)  # program id -> what the student attended
    waitlist_place: dict[int, int] = field(default_factory=dict)  # enrollment id -> place in line
    matches: list[Match] = field(default_factory=list)
    plans: list = field(default_factory=list)  # active check-in plans
    checkin_summary: dict = field(default_factory=dict)
    is_counselor: bool = False

    @property
    def current_enrollments(self) -> list[Enrollment]:
        return [e for e in self.enrollments if e.is_current]

    @property
    def past_enrollments(self) -> list[Enrollment]:
        return [e for e in self.enrollments if not e.is_current]

    @property
    def current_flags(self) -> list[RiskFlag]:
        return [f for f in self.flags if f.is_current]

    @property
    def resolved_flags(self) -> list[RiskFlag]:
        return [f for f in self.flags if not f.is_current]

    @property
    def missing_reports(self) -> list[RiskFlag]:
        return [f for f in self.flags if f.needs_mandated_report]


def build_student_page(user: User, student: Student, url_for) -> StudentPage:
    """Flags for counselors and principals; referrals, screenings and timeline for counselors."""
    page = StudentPage(student=student, is_counselor=user.role_enum == Role.COUNSELOR)
    page.flags = list(db.session.scalars(
        flags_of_student(visible_flags(user), student.id).options(selectinload(RiskFlag.events).joinedload(FlagEvent.actor))))
    _add_programs(page, student)
    _add_checkins(page, student)
    if not page.is_counselor:
        return page
    page.referrals = list(db.session.scalars(open_referrals_of_student(triage_referrals(user), student.id)))
    page.screenings = list(db.session.scalars(screenings_of_student(student.id)))
    entries = []
    for flag in page.flags:
        for event in flag.events:
            entries.append(TimelineEntry(event.at, "flag", f"{flag.category.name}: {event.action.replace('_', ' ')}"
                                         + (f" by {event.actor.name}" if event.actor else ""),
                                         url_for("flags.detail", flag_id=flag.id)))
    all_referrals = db.session.scalars(triage_referrals(user).where(Referral.student_id == student.id)
                                       .options(joinedload(Referral.submitted_by))).all()
    for referral in all_referrals:
        entries.append(TimelineEntry(referral.submitted_at, "referral",
                                     f"Referral from {referral.submitted_by.name} ({referral.urgency})",
                                     url_for("referrals.detail", referral_id=referral.id)))
    for screening in page.screenings:
        entries.append(TimelineEntry(datetime.combine(screening.screened_on, time(12), tzinfo=timezone.utc),
                                     "screening", f"{screening.instrument.name}: {screening.result_label.lower()}"))
    for enrollment in page.enrollments:
        entries.append(TimelineEntry(enrollment.requested_at, "program",
                                     f"{enrollment.program.name}: {'waitlisted' if enrollment.started_at is None else 'enrolled'}",
                                     url_for("programs.detail", program_id=enrollment.program_id)))
        if enrollment.ended_at:
            entries.append(TimelineEntry(enrollment.ended_at, "program", f"{enrollment.program.name}: {enrollment.status}",
                                         url_for("programs.detail", program_id=enrollment.program_id)))
    entries.extend(_checkin_entries(student, url_for))
    page.timeline = sorted(entries, key=lambda e: e.at, reverse=True)[:50]
    return page


def _checkin_entries(student: Student, url_for) -> list[TimelineEntry]:
    """Plans started and ended, and check-ins that happened or were missed (the latest 50)."""
    from sqlalchemy import select

    from school_prevention.checkins.models import CheckIn, CheckInPlan

    entries = []
    for plan in db.session.scalars(select(CheckInPlan).where(CheckInPlan.student_id == student.id)):
        link = url_for("checkins.plan_detail", plan_id=plan.id)
        entries.append(TimelineEntry(plan.created_at, "check-in", f"Check-in plan started: {plan.cadence_label.lower()}", link))
        if plan.ended_at:
            entries.append(TimelineEntry(plan.ended_at, "check-in", "Check-in plan ended", link))
    closed = db.session.scalars(select(CheckIn).where(CheckIn.student_id == student.id,
                                                      CheckIn.status.in_(("completed", "missed")))
                                .order_by(CheckIn.due_at.desc()).limit(50))
    for checkin in closed:
        text = (f"Check-in: {checkin.outcome_label.lower()}" if checkin.status == "completed" else "Check-in missed")
        entries.append(TimelineEntry(checkin.due_at, "check-in", text, url_for("checkins.detail", checkin_id=checkin.id)))
    return entries


def _add_programs(page: StudentPage, student: Student) -> None:
    """Enrollments with dosage and waitlist places, and mentoring matches (fixed number of queries)."""
    page.enrollments = list(db.session.scalars(enrollments_of_student(student.id)))
    page.doses = dosage_map(db.session.execute(dosage(student_id=student.id)), 0)
    for enrollment in page.enrollments:
        if enrollment.status == "waitlisted":
            page.waitlist_place[enrollment.id] = waitlist_positions(enrollment.program_id)[enrollment.id]
    page.matches = list(db.session.scalars(matches_of_student(student.id)))


def _add_checkins(page: StudentPage, student: Student) -> None:
    """Active check-in plans and the next, overdue and last completed check-in."""
    from sqlalchemy import select

    from school_prevention.checkins.models import CheckInPlan
    from school_prevention.checkins.queries import student_checkin_summary
    from school_prevention.db import utcnow

    page.plans = list(db.session.scalars(select(CheckInPlan).where(
        CheckInPlan.student_id == student.id, CheckInPlan.status == "active").order_by(CheckInPlan.created_at)))
    page.checkin_summary = student_checkin_summary(student.id, utcnow())
