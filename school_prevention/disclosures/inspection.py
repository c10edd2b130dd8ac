"""The complete record the school holds about a student, for a parent's inspection (34 CFR 99.10).

Everything the app keeps about the child, section by section, each read in one query (a fixed
number whatever the record holds). Restricted narrative notes are included only when the district
says so (SP_INSPECTION_INCLUDES_RESTRICTED_NOTES); otherwise the record says where one exists.
The record of disclosures is part of it: parents may inspect it (34 CFR 99.32(c)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import Row, case, func, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from school_prevention import crypto
from school_prevention.agencies.models import AgencyReferral, AgencyReferralEvent
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.disclosures.models import Consent, Disclosure, Guardian, InspectionRequest
from school_prevention.disclosures.queries import (
    consents_of_student,
    disclosures_of_student,
    guardians_of_student,
    inspections_of_student,
)
from school_prevention.extensions import db
from school_prevention.flags.models import FlagEvent, RiskFlag
from school_prevention.i18n import N_
from school_prevention.programs.models import Attendance, Enrollment, Match, ProgramSession
from school_prevention.referrals.models import Referral
from school_prevention.roster.models import StudentDemographics, StudentSchoolChange
from school_prevention.schools.models import School
from school_prevention.screenings.models import Screening
from school_prevention.students.models import Student

WITHHELD = N_("A restricted note exists. It is not part of this copy (district setting).")
# Raw status words the printed record shows (enrollments, mentoring matches, check-in plans, staff referrals),
# listed so the catalogue has them; the page translates each where it shows it.
STATUS_WORDS = [
    N_("waitlisted"),
    N_("active"),
    N_("completed"),
    N_("withdrawn"),
    N_("inquiry"),
    N_("waiting"),
    N_("matched"),
    N_("closed"),
    N_("ended"),
    N_("new"),
    N_("in review"),
    N_("accepted"),
]


@dataclass
class StudentRecord:
    """The student's record, section by section; restricted texts in `notes` by (kind, id)."""

    student: Student
    include_restricted: bool
    demographics: StudentDemographics | None = None
    school_changes: Sequence[Row[datetime, str, str]] = field(default_factory=list)  # (changed_at, from, to)
    guardians: Sequence[Guardian] = field(default_factory=list)
    flags: Sequence[RiskFlag] = field(default_factory=list)
    referrals: Sequence[Referral] = field(default_factory=list)
    screenings: Sequence[Screening] = field(default_factory=list)
    enrollments: Sequence[Enrollment] = field(default_factory=list)
    attendance: dict[int, tuple[int, int]] = field(default_factory=dict)  # program id: (sessions, minutes)
    matches: Sequence[Match] = field(default_factory=list)
    plans: Sequence[CheckInPlan] = field(default_factory=list)
    checkins: Sequence[CheckIn] = field(default_factory=list)
    agency_referrals: Sequence[AgencyReferral] = field(default_factory=list)
    consents: Sequence[Consent] = field(default_factory=list)
    disclosures: Sequence[Disclosure] = field(default_factory=list)
    inspections: Sequence[InspectionRequest] = field(default_factory=list)
    notes: dict[tuple[str, int], str | None] = field(default_factory=dict)
    restricted: int = 0  # how many restricted texts the record holds

    def note(self, kind: str, object_id: int) -> str | None:
        """A restricted text when included; the withheld notice when it exists but is not; None when there is none."""
        key = (kind, object_id)
        if key not in self.notes:
            return None
        return self.notes[key] if self.include_restricted else gettext(WITHHELD)

    def counts(self) -> dict[str, int]:
        """How many entries each section holds (for the audit row: counts, never content)."""
        return {
            name: len(getattr(self, name))
            for name in (
                "flags",
                "referrals",
                "screenings",
                "enrollments",
                "matches",
                "plans",
                "checkins",
                "agency_referrals",
                "consents",
                "disclosures",
                "inspections",
            )
        } | {"restricted": self.restricted}

    def categories(self) -> list[str]:
        """What the copy holds, as categories of records (for its disclosure)."""
        held = ["identity", "enrollment"]
        held += ["concerns"] if self.flags or self.referrals else []
        held += ["referral_reason"] if self.agency_referrals else []
        held += ["screenings"] if self.screenings else []
        held += ["programs"] if self.enrollments or self.matches else []
        held += ["checkins"] if self.plans or self.checkins else []
        held += ["restricted_notes"] if self.include_restricted and self.restricted else []
        return held


def build_record(student: Student, *, include_restricted: bool, read: bool = True) -> StudentRecord:
    """Read the student's whole record (about fifteen queries, whatever it holds).

    read=False leaves restricted texts encrypted (only whether they exist is known): for recording
    what an answer shares without reading the notes again.
    """
    record = StudentRecord(student=student, include_restricted=include_restricted)
    sid = student.id
    session = db.session
    record.demographics = session.get(StudentDemographics, sid)
    before, after = aliased(School), aliased(School)
    record.school_changes = session.execute(
        select(StudentSchoolChange.changed_at, before.name, after.name)
        .join(before, before.id == StudentSchoolChange.from_school_id)
        .join(after, after.id == StudentSchoolChange.to_school_id)
        .where(StudentSchoolChange.student_id == sid)
        .order_by(StudentSchoolChange.changed_at)
    ).all()
    record.guardians = session.scalars(guardians_of_student(sid)).all()
    record.flags = session.scalars(
        select(RiskFlag)
        .where(RiskFlag.student_id == sid)
        .order_by(RiskFlag.opened_at)
        .options(joinedload(RiskFlag.opened_by), selectinload(RiskFlag.events).joinedload(FlagEvent.actor))
    ).all()
    record.referrals = session.scalars(
        select(Referral)
        .where(Referral.student_id == sid)
        .order_by(Referral.submitted_at)
        .options(joinedload(Referral.submitted_by), joinedload(Referral.triaged_by))
    ).all()
    record.screenings = session.scalars(
        select(Screening)
        .where(Screening.student_id == sid)
        .order_by(Screening.screened_on)
        .options(joinedload(Screening.screener))
    ).all()
    record.enrollments = session.scalars(
        select(Enrollment).where(Enrollment.student_id == sid).order_by(Enrollment.requested_at)
    ).all()
    present = Attendance.status == "present"
    record.attendance = {
        program_id: (sessions, int(minutes or 0))
        for program_id, sessions, minutes in session.execute(
            select(
                ProgramSession.program_id,
                func.count().filter(present),
                func.sum(case((present, ProgramSession.minutes), else_=0)),
            )
            .join(ProgramSession, ProgramSession.id == Attendance.session_id)
            .where(Attendance.student_id == sid)
            .group_by(ProgramSession.program_id)
        )
    }
    record.matches = session.scalars(
        select(Match).where(Match.student_id == sid).order_by(Match.created_at).options(selectinload(Match.contacts))
    ).all()
    record.plans = session.scalars(
        select(CheckInPlan)
        .where(CheckInPlan.student_id == sid)
        .order_by(CheckInPlan.created_at)
        .options(joinedload(CheckInPlan.counselor))
    ).all()
    record.checkins = session.scalars(
        select(CheckIn).where(CheckIn.student_id == sid, CheckIn.status != "scheduled").order_by(CheckIn.due_at)
    ).all()
    record.agency_referrals = session.scalars(
        select(AgencyReferral)
        .where(AgencyReferral.student_id == sid)
        .order_by(AgencyReferral.referred_at)
        .options(
            joinedload(AgencyReferral.referred_by),
            selectinload(AgencyReferral.events).joinedload(AgencyReferralEvent.actor),
        )
    ).all()
    record.consents = session.scalars(consents_of_student(sid)).all()
    record.disclosures = session.scalars(disclosures_of_student(sid)).all()
    record.inspections = session.scalars(inspections_of_student(sid)).all()
    texts: list[tuple[str, int, str | None]] = []
    for flag in record.flags:
        texts += [("flag", flag.id, flag.note_ciphertext), ("flag_resolution", flag.id, flag.resolution_ciphertext)]
    texts += [("referral", r.id, r.observation_ciphertext) for r in record.referrals]
    texts += [("checkin", c.id, c.note_ciphertext) for c in record.checkins]
    for referral in record.agency_referrals:
        texts += [
            ("agency_reason", referral.id, referral.reason_ciphertext),
            ("agency_outcome", referral.id, referral.outcome_note_ciphertext),
        ]
        texts += [("agency_event", e.id, e.note_ciphertext) for e in referral.events]
    for kind, object_id, ciphertext in texts:
        if ciphertext:
            record.restricted += 1
            record.notes[(kind, object_id)] = (
                crypto.decrypt_for_display(ciphertext) if include_restricted and read else None
            )
    return record
