"""What the student page shows, read for the viewing user in a fixed number of statements.

Whatever a student has (flags, programs, check-ins, referrals), the page sends the same
statements: the session with the user (every page), the student (in scope, or 404), everything
the page lists in one statement (students.page_queries), and the audit row of the view. The lists
are read as plain rows: the page only displays them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING, Any, ClassVar

from flask import abort, request
from flask_babel import gettext

from school_prevention.agencies.models import AGENCY_KINDS
from school_prevention.agencies.models import OUTCOMES as AGENCY_OUTCOMES
from school_prevention.agencies.models import STATUSES as AGENCY_STATUSES
from school_prevention.auth.models import User
from school_prevention.checkins.models import CADENCES, OUTCOMES
from school_prevention.db import utcnow
from school_prevention.disclosures.models import LEGAL_BASES
from school_prevention.extensions import db
from school_prevention.flags.models import REPORT_SEVERITIES
from school_prevention.i18n import N_
from school_prevention.pages.students import page_queries as q
from school_prevention.pages.students.profile_rows import DemographicsRow, GuardianRow, InterventionRow, TierRow
from school_prevention.permissions import student_scope
from school_prevention.programs.models import CURRENT_ENROLLMENT, MATCH_STATUSES
from school_prevention.roles import Role
from school_prevention.screenings.models import NEXT_STEPS, RESULTS
from school_prevention.students.models import Student, display_name, grade_label
from school_prevention.tiers.models import PLAN_STATUSES


@dataclass(frozen=True)
class SchoolName:
    """The school as the page names it (student.school.name, as on a Student)."""

    name: str


@dataclass(frozen=True)
class StudentView:
    """The student as the page shows them: the Student's columns it uses, read as a row."""

    id: int
    sourced_id: str
    identifier: str | None
    school_id: int
    given_name: str
    family_name: str
    preferred_name: str | None
    grade: str | None
    is_active: bool
    school_name: str

    @property
    def school(self) -> SchoolName:
        return SchoolName(self.school_name)

    @property
    def display_name(self) -> str:
        return display_name(self.family_name, self.given_name, self.preferred_name)

    @property
    def grade_label(self) -> str:
        return grade_label(self.grade)


# The timeline's kinds (capitalized in the templates, then translated) and the enrollment states it names.
TIMELINE_WORDS = [
    N_("Flag"),
    N_("Referral"),
    N_("Check-in"),
    N_("Tier"),
    N_("Plan"),
    N_("Screening"),
    N_("Program"),
    N_("Agency"),
    N_("active"),
    N_("waitlisted"),
    N_("completed"),
    N_("withdrawn"),
]


@dataclass
class TimelineEntry:
    """One dated line of the child's timeline."""

    at: datetime
    kind: str
    text: str
    link: str | None = None


@dataclass(frozen=True)
class FlagRow:
    """A flag as the page shows it."""

    id: int
    category: str
    is_suspected_abuse: bool
    severity: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    report_recorded_at: datetime | None
    has_note: bool

    @property
    def is_current(self) -> bool:
        """Open or monitoring: still part of the child's picture."""
        return self.status != "resolved"

    @property
    def needs_mandated_report(self) -> bool:
        """RiskFlag.needs_mandated_report: suspected abuse at high/urgent severity, no report record."""
        return (
            bool(self.is_suspected_abuse)
            and self.severity in REPORT_SEVERITIES
            and self.report_recorded_at is None
            and self.is_current
        )


@dataclass(frozen=True)
class ReferralRow:
    """An open referral: its concern categories, urgency and when it came in."""

    id: int
    urgency: str
    submitted_at: datetime
    categories: tuple[str, ...]


@dataclass(frozen=True)
class ScreeningRow:
    """A screening's date, instrument, result and next step."""

    screened_on: date
    instrument: str
    result: str
    next_step: str
    rescreen_on: date | None
    outside_agency: str | None

    @property
    def result_label(self) -> str:
        return gettext(RESULTS[self.result])

    @property
    def next_step_label(self) -> str:
        return gettext(NEXT_STEPS[self.next_step])


@dataclass(frozen=True)
class EnrollmentRow:
    """An enrollment with its program's name, the dosage received, and its waitlist place."""

    id: int
    program_id: int
    program: str
    status: str
    requested_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    sessions: int
    minutes: int
    place: int | None

    @property
    def is_current(self) -> bool:
        return self.status in CURRENT_ENROLLMENT


@dataclass(frozen=True)
class MatchRow:
    """A mentoring match: its status, mentor and start."""

    id: int
    status: str
    matched_on: date | None
    mentor: str | None

    @property
    def status_label(self) -> str:
        return MATCH_STATUSES.get(self.status, self.status)


@dataclass(frozen=True)
class PlanRow:
    """An active check-in plan: cadence, time, counselor and end date."""

    id: int
    cadence: str
    rrule: str | None
    local_time: time
    until: date
    needs_handoff: bool
    counselor: str

    @property
    def cadence_label(self) -> str:
        return cadence_label(self.cadence, self.rrule)


@dataclass(frozen=True)
class AgencyReferralRow:
    """A referral to an outside agency: the agency, its status, the next follow-up, the outcome."""

    id: int
    agency: str
    kind: str
    status: str
    referred_at: datetime
    status_changed_at: datetime
    follow_up_on: date | None
    outcome: str | None

    @property
    def status_label(self) -> str:
        return AGENCY_STATUSES.get(self.status, self.status)

    @property
    def kind_label(self) -> str:
        return AGENCY_KINDS.get(self.kind, self.kind)

    @property
    def outcome_label(self) -> str | None:
        return AGENCY_OUTCOMES.get(self.outcome) if self.outcome else None


@dataclass(frozen=True)
class DisclosureRow:
    """One of the newest sharings of the student's records, with how many there are in all."""

    id: int
    disclosed_at: datetime
    recipient: str
    legal_basis: str
    source: str
    total: int

    @property
    def legal_basis_label(self) -> str:
        return LEGAL_BASES.get(self.legal_basis, self.legal_basis)


def cadence_label(cadence: str, rrule: str | None) -> str:
    """CheckInPlan.cadence_label for a plan read as a row."""
    return (gettext(CADENCES[cadence]) if cadence in CADENCES else cadence) + (
        f": {rrule}" if cadence == "custom" else ""
    )


@dataclass
class StudentPage:
    """Everything the page needs; sections the role may not see stay empty and hidden."""

    student: Student | StudentView
    links: Links
    flags: list[FlagRow] = field(default_factory=list)
    referrals: list[ReferralRow] = field(default_factory=list)
    screenings: list[ScreeningRow] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    enrollments: list[EnrollmentRow] = field(default_factory=list)
    matches: list[MatchRow] = field(default_factory=list)
    plans: list[PlanRow] = field(default_factory=list)  # active check-in plans
    checkin_summary: dict = field(default_factory=dict)
    agency_referrals: list[AgencyReferralRow] = field(default_factory=list)
    disclosures: list[DisclosureRow] = field(default_factory=list)  # the newest few
    tier: TierRow | None = None
    interventions: list[InterventionRow] = field(default_factory=list)
    guardians: list[GuardianRow] = field(default_factory=list)
    demographics: DemographicsRow | None = None
    is_counselor: bool = False

    @property
    def disclosures_total(self) -> int:
        return self.disclosures[0].total if self.disclosures else 0

    @property
    def current_enrollments(self) -> list[EnrollmentRow]:
        return [e for e in self.enrollments if e.is_current]

    @property
    def past_enrollments(self) -> list[EnrollmentRow]:
        return [e for e in self.enrollments if not e.is_current]

    @property
    def current_flags(self) -> list[FlagRow]:
        return [f for f in self.flags if f.is_current]

    @property
    def resolved_flags(self) -> list[FlagRow]:
        return [f for f in self.flags if not f.is_current]

    @property
    def missing_reports(self) -> list[FlagRow]:
        return [f for f in self.flags if f.needs_mandated_report]


class Links:
    """The page's links by id, each endpoint's URL built once per process (urls.row_url)."""

    ENDPOINTS: ClassVar[dict[str, tuple[str, str]]] = {
        "flag": ("flags.detail", "flag_id"),
        "flag_report": ("flags.report", "flag_id"),
        "referral": ("referrals.detail", "referral_id"),
        "program": ("programs.detail", "program_id"),
        "enrollment_end": ("programs.end", "enrollment_id"),
        "match": ("mentoring.match_detail", "match_id"),
        "plan": ("checkins.plan_detail", "plan_id"),
        "checkin": ("checkins.detail", "checkin_id"),
        "student": ("students.detail", "student_id"),
        "new_flag": ("flags.new", "student_id"),
        "new_screening": ("screenings.new", "student_id"),
        "enroll": ("programs.enroll_student", "student_id"),
        "new_match": ("mentoring.match_new", "student_id"),
        "new_plan": ("checkins.plan_new", "student_id"),
        "agency_referral": ("agencies.referral", "agency_referral_id"),
        "refer_agency": ("agencies.refer", "student_id"),
        "disclosure_record": ("disclosures.record", "student_id"),
        "tier": ("tiers.change_tier", "student_id"),
        "intervention": ("tiers.plan_detail", "intervention_id"),
        "new_intervention": ("tiers.plan_new", "student_id"),
        "summary": ("students.summary", "student_id"),
    }
    _built: ClassVar[dict[str, dict[str, Callable[[Any], str]]]] = {}

    def __init__(self) -> None:
        # URLs start with the script root the app is mounted at: one set of builders per root.
        root = request.script_root
        builders = self._built.get(root)
        if builders is None:
            from school_prevention.urls import row_url

            builders = {name: row_url(endpoint, key) for name, (endpoint, key) in self.ENDPOINTS.items()}
            self._built[root] = builders
        self.__dict__.update(builders)

    if TYPE_CHECKING:
        # The attributes are ENDPOINTS' keys, set on the instance above: each builds its page's URL from an id.
        def __getattr__(self, name: str) -> Callable[[int], str]: ...


def load_student_page(user: User, student_id: int) -> StudentPage:
    """The page of the student with this id if the user may see them (as permissions.get_student_or_404
    decides), read in one statement; 404 otherwise."""
    page = _read_page(user, student_id)
    if page is None:
        abort(404)
    return page


def build_student_page(user: User, student: Student, url_for=None) -> StudentPage:
    """The page of a student already loaded through the user's scope (a page shown again after a
    refused change). (url_for is no longer needed: Links.)"""
    page = _read_page(user, student.id, student)
    if page is None:  # pragma: no cover - the student was loaded through the same scope
        abort(404)
    return page


def _read_page(user: User, student_id: int, student: Student | None = None) -> StudentPage | None:
    """Flags, programs and check-ins for counselors and principals; referrals, screenings, agencies,
    disclosures and the timeline for counselors; None when the user may not see the student."""
    scope = student_scope(user)
    is_counselor = user.role_enum == Role.COUNSELOR
    statement, columns = _reader(scope.kind, is_counselor)
    params = {"student_id": student_id, "scope_user_id": scope.user_id, "now": utcnow()}
    rows: dict[str, list] = {name: [] for name in columns}
    # Plain rows on the request's connection: the page changes nothing through them.
    for row in db.session.connection().execute(statement, params):
        rows[row[0]].append(row)
    if not rows["student"]:
        return None

    def read(section: str, make):
        return [make(**{name: row[i] for name, i in columns[section]}) for row in rows[section]]

    page = StudentPage(student=student or read("student", StudentView)[0], links=Links(), is_counselor=is_counselor)
    page.flags = read("flags", FlagRow)
    page.enrollments = read("enrollments", EnrollmentRow)
    page.matches = read("matches", MatchRow)
    page.plans = read("plans", PlanRow)
    page.checkin_summary = read("summary", dict)[0]
    page.tier = read("tier", TierRow)[0]
    page.interventions = read("interventions", InterventionRow)
    if not page.is_counselor:
        return page
    page.referrals = [
        ReferralRow(
            ref_id,
            group[0]["urgency"],
            group[0]["submitted_at"],
            tuple(r["category"] for r in group if r["category"] is not None),
        )
        for ref_id, grouped in groupby(read("referrals", dict), key=lambda r: r["id"])
        for group in [list(grouped)]
    ]
    page.screenings = read("screenings", ScreeningRow)
    page.agency_referrals = read("agency_referrals", AgencyReferralRow)
    page.disclosures = read("disclosures", DisclosureRow)
    page.guardians = read("guardians", GuardianRow)
    page.demographics = next(iter(read("demographics", DemographicsRow)), None)
    page.timeline = _timeline(page, read("timeline", dict))
    return page


@cache
def _reader(scope_kind: str, is_counselor: bool) -> tuple[Any, dict[str, list[tuple[str, int]]]]:
    """The page's statement, and for each section its columns' (name, index in a row)."""
    statement, slots = q.page_statement(scope_kind, is_counselor)
    index = {column.key: i for i, column in enumerate(statement.selected_columns)}
    return statement, {
        section: [(name, index[slot]) for name, slot in names.items()] for section, names in slots.items()
    }


def _timeline(page: StudentPage, rows) -> list[TimelineEntry]:
    """The newest dated lines: the timeline statement's rows, with enrollments and screenings."""
    entries = [
        _ROW_ENTRIES.get(row["kind"], _checkin_entry)(page, row["at"], row["ref"], row["a"], row["b"], row["c"])
        for row in rows
    ]
    entries += _screening_entries(page) + _enrollment_entries(page) + _agency_entries(page)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[: q.TIMELINE_LENGTH]


# One function per kind of timeline row; a, b and c are the row's kind-specific columns.
def _flag_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:  # a: category, b: action, c: who
    action = gettext(b.replace("_", " ").capitalize()).lower()
    text = gettext("%(category)s: %(action)s by %(name)s", category=a, action=action, name=c) if c else f"{a}: {action}"
    return TimelineEntry(at, "flag", text, page.links.flag(ref))


def _referral_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:  # a: who submitted it, b: urgency
    return TimelineEntry(
        at,
        "referral",
        gettext("Referral from %(name)s (%(urgency)s)", name=a, urgency=gettext(b.capitalize()).lower()),
        page.links.referral(ref),
    )


def _plan_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:  # a: cadence, b: rule
    return TimelineEntry(
        at,
        "check-in",
        gettext("Check-in plan started: %(cadence)s", cadence=cadence_label(a, b).lower()),
        page.links.plan(ref),
    )


def _plan_ended_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:
    return TimelineEntry(at, "check-in", gettext("Check-in plan ended"), page.links.plan(ref))


def _tier_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:  # a: tier, b: previous tier, c: who
    return TimelineEntry(
        at,
        "tier",
        gettext("Moved from tier %(old)s to tier %(new)s by %(name)s", old=b, new=a, name=c)
        if c
        else gettext("Moved from tier %(old)s to tier %(new)s", old=b, new=a),
        page.links.tier(page.student.id),
    )


def _intervention_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:  # a: measure
    return TimelineEntry(
        at, "plan", gettext("Intervention plan started: %(measure)s", measure=a), page.links.intervention(ref)
    )


def _intervention_closed_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:  # a: status, b: measure
    status = gettext(PLAN_STATUSES[a]) if a in PLAN_STATUSES else a
    return TimelineEntry(
        at,
        "plan",
        gettext("Intervention plan %(status)s: %(measure)s", status=status.lower(), measure=b),
        page.links.intervention(ref),
    )


def _checkin_entry(page: StudentPage, at, ref, a, b, c) -> TimelineEntry:  # a: status, b: outcome
    outcome = gettext(OUTCOMES[b]) if b in OUTCOMES else (b or "")
    text = gettext("Check-in: %(outcome)s", outcome=outcome.lower()) if a == "completed" else gettext("Check-in missed")
    return TimelineEntry(at, "check-in", text, page.links.checkin(ref))


# Any other kind is a check-in.
_ROW_ENTRIES = {
    "flag": _flag_entry,
    "referral": _referral_entry,
    "plan": _plan_entry,
    "plan_ended": _plan_ended_entry,
    "tier": _tier_entry,
    "intervention": _intervention_entry,
    "intervention_closed": _intervention_closed_entry,
}


def _screening_entries(page: StudentPage) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            datetime.combine(screening.screened_on, time(12), tzinfo=UTC),
            "screening",
            f"{screening.instrument}: {screening.result_label.lower()}",
        )
        for screening in page.screenings
    ]


def _enrollment_entries(page: StudentPage) -> list[TimelineEntry]:
    entries = []
    for enrollment in page.enrollments:
        link = page.links.program(enrollment.program_id)
        state = gettext("waitlisted") if enrollment.started_at is None else gettext("enrolled")
        entries.append(TimelineEntry(enrollment.requested_at, "program", f"{enrollment.program}: {state}", link))
        if enrollment.ended_at:
            entries.append(
                TimelineEntry(
                    enrollment.ended_at, "program", f"{enrollment.program}: {gettext(enrollment.status)}", link
                )
            )
    return entries


def _agency_entries(page: StudentPage) -> list[TimelineEntry]:
    entries = []
    for referral in page.agency_referrals:
        link = page.links.agency_referral(referral.id)
        entries.append(
            TimelineEntry(
                referral.referred_at, "agency", gettext("Referred to %(agency)s", agency=referral.agency), link
            )
        )
        if referral.status != "sent":
            entries.append(
                TimelineEntry(
                    referral.status_changed_at,
                    "agency",
                    f"{referral.agency}: {gettext(referral.status_label).lower()}",
                    link,
                )
            )
    return entries
