"""Worlds several test modules build: one of every record a route names, the hand-built report
district whose right answers are known, and the counselor's caseload of students in each situation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from school_prevention.agencies.services import refer_student
from school_prevention.auth import tokens
from school_prevention.awareness.services import save_page
from school_prevention.checkins import calendar
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.checkins.services import add_non_school_day, create_plan
from school_prevention.db import utcnow
from school_prevention.disclosures.services import log_inspection_request, record_consent
from school_prevention.extensions import db
from school_prevention.flags.services import change_status
from school_prevention.programs.mentoring import open_match
from school_prevention.programs.models import Enrollment
from school_prevention.programs.services import enroll, record_session
from tests.factories import (
    make_agency,
    make_checkin_plan,
    make_completion,
    make_flag,
    make_guardian,
    make_mentor,
    make_notification,
    make_program,
    make_referral,
    make_school,
    make_student,
    make_user,
)
from tests.support.endpoints import ALL

# One of every record a route names (tests/test_permissions.py and the crawls that walk every URL).


def _made_export(user, student):
    """A student-level export the worker has made for the district user, naming the student by SIS id."""
    from school_prevention import crypto
    from school_prevention.exports.models import StudentExport

    now = utcnow()
    export = StudentExport(
        requested_by_id=user.id,
        dataset="programs",
        fmt="csv",
        level=None,
        period_start=now.date() - timedelta(days=30),
        period_end=now.date(),
        purpose="State agency program evaluation, agreement 2026-14",
        queued_at=now,
        status="done",
        rows_done=1,
        rows_total=1,
        finished_at=now,
        expires_at=now + timedelta(hours=24),
        content=crypto.encrypt_bytes(f"studentSourcedId\r\n{student.sourced_id}\r\n".encode()),
        file_name="students-programs.csv",
    )
    db.session.add(export)
    db.session.flush()
    return export


def one_of_everything(db_session) -> dict:
    """One of every object a route names, in one school, and one user per role (committed in db_session)."""
    school = make_school()
    users = {
        role: make_user(role, schools=[school] if role in {"staff", "counselor", "principal"} else []) for role in ALL
    }
    users["district"].can_export_student_level = True
    users["district"].is_privacy_officer = True
    student = make_student(school)
    flag = make_flag(student, users["counselor"], category_name="Signs of commercial", severity="high")
    referral = make_referral(student, users["staff"])
    notifications = {role: make_notification(user).id for role, user in users.items()}
    notifications[None] = notifications["admin"]
    from school_prevention.roster.models import RosterImport

    roster_run = RosterImport(source_name="x.zip", is_dry_run=True, status="done")
    db_session.add(roster_run)
    program = make_program(school, users["counselor"], capacity=3)
    enrollment = Enrollment(program_id=program.id, student_id=student.id, status="active")
    db_session.add(enrollment)
    db_session.flush()
    session = record_session(
        users["counselor"],
        program,
        held_on=date(2026, 11, 2),
        minutes=30,
        topic=None,
        attendance={student.id: "present"},
        roster_ids={student.id},
    )
    mentor = make_mentor(school, users["counselor"], checked_on=date(2026, 10, 1))
    match = open_match(users["counselor"], make_student(school))
    plan = create_plan(
        users["counselor"],
        student,
        users["counselor"],
        now=utcnow(),
        cadence="weekly",
        rrule=None,
        starts_on=utcnow().date(),
        local_time=time(10),
        duration_minutes=20,
        non_school_day="move",
        reason=None,
    )
    checkin = db_session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id)).first()
    day = add_non_school_day(users["admin"], date(2027, 1, 1), "New Year's Day")
    token = calendar.issue(users["counselor"])
    email = make_notification(users["counselor"], channel="email", state="failed").id
    agency = make_agency()
    guardian = make_guardian(student)
    consent = record_consent(
        users["counselor"],
        student,
        guardian=guardian,
        scope="any_agency",
        agency_kind=None,
        agency=None,
        categories=["identity"],
        given_on=date(2026, 9, 1),
        expires_on=None,
        purpose=None,
        document=None,
        today=date(2026, 9, 2),
    )
    agency_referral = refer_student(
        users["counselor"],
        student,
        agency=agency,
        categories=["identity"],
        legal_basis="parental_consent",
        purpose=None,
        approved_by=None,
        reason=None,
        follow_up_on=None,
        today=utcnow().date(),
    )
    inspection = log_inspection_request(
        users["counselor"],
        student,
        guardian=guardian,
        requested_on=date(2026, 9, 1),
        how_received=None,
        today=date(2026, 9, 2),
    )
    world = {
        "school": school,
        "student": student,
        "users": users,
        "flag": flag,
        "referral": referral,
        "roster_run": roster_run,
        "program": program,
        "enrollment": enrollment,
        "session": session,
        "mentor": mentor,
        "match": match,
        "plan": plan,
        "checkin": checkin,
        "day": day,
        "token": token,
        "email": email,
        "agency": agency,
        "agency_referral": agency_referral,
        "consent": consent,
        "inspection": inspection,
        "reset_token": tokens.issue(users["staff"], tokens.RESET, actor=None),
        "invite_token": tokens.issue(users["district"], tokens.INVITE, actor=users["admin"]),
        "category": flag.category,
        "notifications": notifications,
        "other_user": make_user("staff", schools=[school]),
    }
    from school_prevention.tiers.services import create_plan as create_intervention

    world["intervention"] = create_intervention(
        users["counselor"],
        student,
        goal="Attend 4 days a week",
        measure="Days attended per week",
        baseline=2,
        target=4,
        started_on=date(2026, 9, 1),
        review_on=date(2026, 10, 15),
        program_ids=[],
        today=date(2026, 9, 2),
    )
    from school_prevention.students.saved_views import save_view

    world["saved_views"] = {
        role: save_view(users[role], "My watchlist", "severity=urgent").id for role in ("counselor", "principal")
    }
    world["other_user"].mfa_secret = "JBSWY3DPEHPK3PXP"  # so removing a second factor has one to remove
    from school_prevention.grants.services import propose

    world["access_request"] = propose(users["admin"], world["other_user"], "school", str(school.id), school=school)
    world["completion"] = make_completion(world["other_user"], "Recognising signs of commercial sexual exploitation")
    world["student_export"] = _made_export(users["district"], student)
    world["awareness_page"] = save_page(
        users["admin"], None, title="Whom to call", body="Call **911**.", audience=sorted(ALL)
    )
    from school_prevention.auth.models import UserSession
    from school_prevention.auth.sessions import start_session

    for user in users.values():
        start_session(user, ip=None, user_agent="another browser")
    db_session.flush()
    world["browsers"] = {
        role: db_session.scalars(select(UserSession.id).where(UserSession.user_id == user.id)).first()
        for role, user in users.items()
    }
    db_session.commit()
    return world


# The hand-built report district (tests/reports/test_reports.py, the committed_world fixture, the attacker test).

NOW = utcnow().replace(microsecond=0)  # flags are opened "now" by the services: the figures are taken now too
TODAY = NOW.date()


@dataclass
class District:
    """The hand-built district: schools, people and the students whose coverage is known."""

    a: object
    b: object
    c: object
    counselor: object
    counselor_c: object
    principal: object
    district: object
    students: dict


def _plan(student, counselor, *, starts=TODAY - timedelta(days=80), until=TODAY + timedelta(days=200), status="active"):
    plan = CheckInPlan(
        student_id=student.id,
        school_id=student.school_id,
        counselor_id=counselor.id,
        cadence="weekly",
        local_time=time(10),
        starts_on=starts,
        until=until,
        status=status,
        created_by_id=counselor.id,
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def _checkin(plan, due: datetime, status="scheduled", *, done: datetime | None = None, updated: datetime | None = None):
    checkin = CheckIn(
        plan_id=plan.id,
        student_id=plan.student_id,
        school_id=plan.school_id,
        counselor_id=plan.counselor_id,
        occurrence=due.date(),
        due_at=due,
        status=status,
        outcome="doing_well" if status == "completed" else None,
        completed_at=done,
        completed_by_id=plan.counselor_id if done else None,
        updated_at=updated or due,
    )
    db.session.add(checkin)
    db.session.flush()
    return checkin


def _seat(program, student, status="active", started=NOW - timedelta(days=17)):
    row = Enrollment(
        program_id=program.id,
        student_id=student.id,
        status=status,
        requested_at=started,
        started_at=started if status != "waitlisted" else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


def report_district() -> District:
    """School A (middle) is where the answers are worked out by hand; B and C make it a district.

    A's active students (12): s1 program+plan, s2 program only, s3 plan only, s4 waitlisted only,
    s5 seated in a program that ended, s6 plan with a check-in left open 10 days, s7 resolved flag
    only, s8 two flags (high wins) and a program, s10-s13 not flagged. s9 is inactive and flagged.
    """
    a = make_school(name="Aspen Middle", level="middle")
    b = make_school(name="Birch Middle", level="middle")
    c = make_school(name="Cottonwood Elementary", level="elementary")
    counselor = make_user("counselor", schools=[a, b], name="Casey Two-Schools")
    counselor_c = make_user("counselor", schools=[c])
    principal = make_user("principal", schools=[a])
    district = make_user("district")
    s = {
        i: make_student(a, grade="07" if i % 2 else "08", given_name=f"Kid{i}", family_name=f"Aspen{i:02d}")
        for i in range(1, 14)
    }
    s[9].is_active = False
    running = make_program(
        a,
        counselor,
        capacity=3,
        name="Lunch Group",
        starts_on=TODAY - timedelta(days=80),
        ends_on=TODAY + timedelta(days=160),
    )
    ended = make_program(
        a,
        counselor,
        capacity=5,
        name="Old Group",
        starts_on=TODAY - timedelta(days=200),
        ends_on=TODAY - timedelta(days=30),
    )
    make_flag(s[1], counselor, severity="moderate")
    make_flag(s[2], counselor, category_name="Bullying — targeted", severity="high")
    make_flag(s[3], counselor, severity="urgent")
    make_flag(s[4], counselor, severity="low")
    monitoring = make_flag(s[5], counselor, severity="moderate")
    monitoring.status = "monitoring"
    make_flag(s[6], counselor, severity="moderate")
    resolved = make_flag(s[7], counselor, severity="high")
    resolved.status = "resolved"
    make_flag(s[8], counselor, severity="low")
    make_flag(s[8], counselor, category_name="Bullying — targeted", severity="high")
    make_flag(s[9], counselor, severity="urgent")
    _seat(running, s[1])
    _seat(running, s[2])
    _seat(running, s[8])  # the program is now full
    _seat(running, s[4], "waitlisted")
    _seat(ended, s[5])
    _seat(ended, s[10])
    kept = _plan(s[1], counselor)
    _checkin(kept, NOW - timedelta(days=5), "completed", done=NOW - timedelta(days=5) + timedelta(hours=2))
    plan3 = _plan(s[3], counselor)
    _checkin(plan3, NOW - timedelta(days=6), "completed", done=NOW - timedelta(days=3))  # late
    _checkin(plan3, NOW - timedelta(days=7), "missed")  # not kept
    _checkin(plan3, NOW - timedelta(days=8), "cancelled", updated=NOW - timedelta(days=9))  # called off before
    _checkin(plan3, NOW - timedelta(days=9), "cancelled", updated=NOW - timedelta(days=8))  # called off after
    _checkin(plan3, NOW - timedelta(hours=10))  # still in its day
    _checkin(plan3, NOW - timedelta(days=40), "completed", done=NOW - timedelta(days=40) + timedelta(hours=20))
    _checkin(plan3, NOW + timedelta(days=2))
    neglected = _plan(s[6], counselor)
    _checkin(neglected, NOW - timedelta(days=10))  # open 10 days after its time: the plan does not count
    _plan(s[13], counselor, status="ended")
    # School B: two flagged students, one covered by a plan; school C: one flagged, uncovered.
    b1, b2 = make_student(b, grade="06"), make_student(b, grade="06")
    make_flag(b1, counselor)
    make_flag(b2, counselor)
    _plan(b1, counselor)
    c1 = make_student(c, grade="03")
    make_flag(c1, counselor_c, severity="urgent")
    db.session.commit()
    return District(a, b, c, counselor, counselor_c, principal, district, {**s, "b1": b1, "b2": b2, "c1": c1})


# The counselor's caseload (tests/pages/test_caseload.py and test_home.py).

NAMES = ("Abbot, Ana", "Baker, Ben", "Cole, Cy", "Diaz, Dee", "Eng, Eve", "Fox, Flo")


def caseload_district(db_session) -> dict:
    """One school's students each in a different situation, and a student of another school (committed)."""
    north, south = make_school(name="North Middle"), make_school(name="South Middle")
    counselor = make_user("counselor", schools=[north], name="Dana Counselor")
    other = make_user("counselor", schools=[north], name="Eli Counselor")
    principal = make_user("principal", schools=[north], name="Pat Principal")
    s = {}
    for name in NAMES:
        family, given = name.split(", ")
        s[given] = make_student(north, family_name=family, given_name=given)
    s["Zed"] = make_student(south, family_name="Zed", given_name="Zoe")
    now = utcnow()
    make_flag(s["Ana"], counselor, category_name="Bullying", severity="urgent")
    make_flag(s["Ben"], counselor, category_name="Social isolation", severity="urgent")
    make_checkin_plan(s["Ben"], counselor, now=now)  # starts today: kept
    make_flag(s["Cy"], counselor, category_name="Social isolation", severity="high")
    # Started three weeks ago and never kept: its past check-ins are still open.
    make_checkin_plan(s["Cy"], counselor, now=now - timedelta(days=21), starts_on=(now - timedelta(days=21)).date())
    resolved = make_flag(s["Dee"], counselor, category_name="Bullying", severity="moderate")
    change_status(counselor, resolved, "resolved", "Sorted out.")
    club = make_program(north, counselor, capacity=1, name="Coping club")
    enroll(counselor, club, [s["Dee"]])
    enroll(counselor, club, [s["Eve"]])  # full: waitlisted
    make_flag(s["Zed"], counselor, category_name="Bullying", severity="urgent")
    db_session.commit()
    return {
        "north": north,
        "south": south,
        "counselor": counselor,
        "other": other,
        "principal": principal,
        "students": s,
        "club": club,
    }
