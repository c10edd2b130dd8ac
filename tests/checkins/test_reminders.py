"""Reminder sweeps as counselors and principals notice them: before, overdue, escalation, match support.

Every sweep is run at exact moments (the jobs take `now`), twice where it matters: a second run,
like a second scheduler, must create nothing new. Times are in the district's zone (Chicago, no
DST change in February 2030).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from school_prevention.checkins.jobs import escalate, remind_before, remind_match_support, remind_overdue
from school_prevention.checkins.models import NonSchoolDay
from school_prevention.checkins.services import reschedule
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.scheduler import run_job
from tests.factories import make_school, make_student, make_user
from tests.support.reminder_helpers import make_active_match, make_checkin

CHICAGO = ZoneInfo("America/Chicago")


def local(y, m, d, hh=0, mm=0) -> datetime:
    """A wall-clock time in the district, as aware UTC."""
    return datetime(y, m, d, hh, mm, tzinfo=CHICAGO).astimezone(UTC)


def rows(user=None, subject=None) -> list[Notification]:
    stmt = select(Notification).order_by(Notification.id)
    if user is not None:
        stmt = stmt.where(Notification.user_id == user.id)
    if subject is not None:
        stmt = stmt.where(Notification.subject_id == subject.id)
    return list(db.session.scalars(stmt))


def kinds(notes) -> list[tuple[str, str]]:
    return sorted((n.kind, n.channel) for n in notes)


@pytest.fixture
def world(app, db_session):
    north, south = make_school(name="North Middle"), make_school(name="South Middle")
    w = {
        "north": north,
        "south": south,
        "counselor": make_user("counselor", schools=[north]),
        "counselor2": make_user("counselor", schools=[north]),
        "principal": make_user("principal", schools=[north]),
        "principal2": make_user("principal", schools=[north]),
        "south_principal": make_user("principal", schools=[south]),
        "south_counselor": make_user("counselor", schools=[south]),
        "student": make_student(north, given_name="Penelope", family_name="Quackenbush"),
    }
    db_session.commit()
    return w


# -- before ---------------------------------------------------------------------------------------


def test_before_reminders_one_in_app_and_one_email_per_lead_and_never_twice(world, client, login_as):
    counselor, student = world["counselor"], world["student"]
    due = local(2030, 2, 6, 10, 0)  # Wednesday 10:00
    checkin = make_checkin(student, counselor, due)

    assert remind_before(due - timedelta(hours=25)) == 0
    assert remind_before(due - timedelta(hours=24)) == 2
    assert kinds(rows(counselor)) == [("checkin.before.1440.s0", "email"), ("checkin.before.1440.s0", "in_app")]
    # The same sweep again, or later before the next lead, creates nothing.
    assert remind_before(due - timedelta(hours=24)) == 0
    assert remind_before(due - timedelta(hours=2)) == 0
    assert remind_before(due - timedelta(hours=1)) == 2
    assert remind_before(due - timedelta(hours=1)) == 0
    assert remind_before(due - timedelta(minutes=1)) == 0
    assert remind_before(due + timedelta(minutes=1)) == 0

    notes = rows(counselor)
    assert kinds(notes) == [
        ("checkin.before.1440.s0", "email"),
        ("checkin.before.1440.s0", "in_app"),
        ("checkin.before.60.s0", "email"),
        ("checkin.before.60.s0", "in_app"),
    ]
    assert {n.subject_id for n in notes} == {checkin.id}
    assert {n.link for n in notes} == {f"/checkins/{checkin.id}"}
    for note in notes:
        assert note.title == "Check-in with PQ at Wed Feb 6, 10:00 AM"
    # In-app ones are visible at once; email ones wait in the outbox for the sender.
    assert {n.state for n in notes if n.channel == "in_app"} == {"sent"}
    assert {n.state for n in notes if n.channel == "email"} == {"pending"}
    assert rows(world["counselor2"]) == [] and rows(world["principal"]) == []

    login_as(counselor)
    page = client.get("/notifications").get_data(as_text=True)
    assert page.count("Check-in with PQ at Wed Feb 6, 10:00 AM") == 2
    assert "Penelope" not in page and "Quackenbush" not in page


def test_a_user_with_custom_lead_times_gets_those(world):
    custom, default = world["counselor"], world["counselor2"]
    custom.reminder_leads = "2880,15"
    due = local(2030, 2, 6, 10, 0)
    mine = make_checkin(world["student"], custom, due)
    theirs = make_checkin(world["student"], default, due)
    db.session.commit()

    for hours_before in (49, 48, 24, 1):
        remind_before(due - timedelta(hours=hours_before))
    assert {n.kind for n in rows(custom)} == {"checkin.before.2880.s0"}
    assert {n.kind for n in rows(default)} == {"checkin.before.1440.s0", "checkin.before.60.s0"}
    assert remind_before(due - timedelta(minutes=15)) == 2
    assert {(n.kind, n.subject_id) for n in rows(custom)} == {
        ("checkin.before.2880.s0", mine.id),
        ("checkin.before.15.s0", mine.id),
    }
    assert {n.subject_id for n in rows(default)} == {theirs.id}
    assert len(rows(custom)) == 4 and len(rows(default)) == 4


def test_a_check_in_created_late_gets_only_the_nearest_reminder(world):
    due = local(2030, 2, 6, 10, 0)
    make_checkin(world["student"], world["counselor"], due)
    assert remind_before(due - timedelta(minutes=30)) == 2
    assert kinds(rows(world["counselor"])) == [("checkin.before.60.s0", "email"), ("checkin.before.60.s0", "in_app")]


def test_after_a_reschedule_the_reminders_come_again_for_the_new_time(world):
    counselor = world["counselor"]
    due = local(2030, 2, 6, 10, 0)
    checkin = make_checkin(world["student"], counselor, due)
    assert remind_before(due - timedelta(hours=24)) == 2

    moved_at = due - timedelta(hours=23)
    reschedule(counselor, checkin, local=datetime(2030, 2, 8, 14, 30), now=moved_at)
    db.session.commit()
    assert checkin.sequence == 1
    new_due = local(2030, 2, 8, 14, 30)
    assert checkin.due_at == new_due
    # Nothing for the old time any more, nothing yet for the new one.
    assert remind_before(moved_at) == 0
    assert remind_before(due - timedelta(hours=1)) == 0
    assert remind_before(new_due - timedelta(hours=24)) == 2
    assert remind_before(new_due - timedelta(hours=1)) == 2
    assert remind_before(new_due - timedelta(hours=1)) == 0
    notes = rows(counselor)
    assert sorted({n.kind for n in notes}) == [
        "checkin.before.1440.s0",
        "checkin.before.1440.s1",
        "checkin.before.60.s1",
    ]
    assert {n.title for n in notes if n.kind.endswith(".s1")} == {"Check-in with PQ at Fri Feb 8, 2:30 PM"}
    assert len(notes) == 6


@pytest.mark.parametrize("status", ["completed", "cancelled", "missed"])
def test_no_reminder_for_a_check_in_that_is_no_longer_scheduled(world, status):
    due = local(2030, 2, 6, 10, 0)
    make_checkin(world["student"], world["counselor"], due, status=status)
    assert remind_before(due - timedelta(hours=1)) == 0
    assert remind_overdue(due + timedelta(days=5)) == 0
    assert escalate(due + timedelta(days=30)) == 0
    assert rows() == []


def test_a_deactivated_counselor_gets_no_reminders(world):
    counselor = world["counselor"]
    counselor.is_active = False
    due = local(2030, 2, 6, 10, 0)
    make_checkin(world["student"], counselor, due)
    db.session.commit()
    assert remind_before(due - timedelta(hours=1)) == 0
    assert remind_overdue(due + timedelta(days=5)) == 0
    assert rows(counselor) == []


# -- overdue --------------------------------------------------------------------------------------


def test_overdue_only_after_a_whole_school_day_has_passed(world):
    counselor = world["counselor"]
    due = local(2030, 2, 4, 10, 0)  # Monday
    checkin = make_checkin(world["student"], counselor, due)
    assert remind_overdue(due + timedelta(minutes=1)) == 0
    assert remind_overdue(local(2030, 2, 5, 23, 59)) == 0  # Tuesday, the school day after, not over yet
    assert remind_overdue(local(2030, 2, 6, 0, 0)) == 2  # Wednesday: Tuesday has passed
    assert remind_overdue(local(2030, 2, 6, 15, 0)) == 0
    assert remind_overdue(local(2030, 2, 20, 15, 0)) == 0
    notes = rows(counselor)
    assert kinds(notes) == [("checkin.overdue.s0", "email"), ("checkin.overdue.s0", "in_app")]
    assert {n.title for n in notes} == {"Overdue check-in with PQ (was due Mon Feb 4, 10:00 AM)"}
    assert {n.link for n in notes} == {f"/checkins/{checkin.id}"}


def test_a_weekend_does_not_count_as_a_school_day(world):
    due = local(2030, 2, 8, 10, 0)  # Friday
    make_checkin(world["student"], world["counselor"], due)
    for moment in (local(2030, 2, 9, 12), local(2030, 2, 10, 12), local(2030, 2, 11, 23, 59)):  # Sat, Sun, Mon
        assert remind_overdue(moment) == 0
    assert remind_overdue(local(2030, 2, 12, 0, 0)) == 2  # Tuesday: Monday has passed
    assert remind_overdue(local(2030, 2, 13, 0, 0)) == 0


def test_a_non_school_day_does_not_count_either(world):
    db.session.add(NonSchoolDay(day=date(2030, 2, 15), name="Winter break"))  # a Friday
    due = local(2030, 2, 14, 10, 0)  # Thursday
    make_checkin(world["student"], world["counselor"], due)
    db.session.commit()
    for moment in (local(2030, 2, 16, 0, 0), local(2030, 2, 18, 12, 0), local(2030, 2, 18, 23, 59)):
        assert remind_overdue(moment) == 0
    assert remind_overdue(local(2030, 2, 19, 0, 0)) == 2


def test_a_long_break_on_the_calendar_is_not_counted(world):
    # A summer break listed day by day: longer than a month of non-school weekdays.
    day = date(2030, 6, 3)
    while day <= date(2030, 8, 16):
        if day.weekday() < 5:
            db.session.add(NonSchoolDay(day=day, name="Summer break"))
        day += timedelta(days=1)
    due = local(2030, 5, 31, 10, 0)  # the last Friday of the year
    make_checkin(world["student"], world["counselor"], due)
    db.session.commit()
    # Weeks into the break no school day has passed since it was due.
    assert remind_overdue(local(2030, 7, 15, 12, 0)) == 0
    assert remind_overdue(local(2030, 7, 29, 12, 0)) == 0


# -- escalation -----------------------------------------------------------------------------------


def test_principals_get_one_escalation_after_the_escalation_days(world, app):
    assert app.config["SP_ESCALATION_DAYS"] == 7
    student = world["student"]
    due = local(2030, 2, 4, 10, 0)
    make_checkin(student, world["counselor"], due)
    make_checkin(student, world["counselor"], due + timedelta(days=7))

    assert escalate(due + timedelta(days=7) - timedelta(minutes=1)) == 0
    assert escalate(due + timedelta(days=7, minutes=1)) == 4  # two principals, in-app and email
    assert escalate(due + timedelta(days=7, minutes=1)) == 0
    # A week on, a second check-in is overdue too: still one escalation per student.
    assert escalate(due + timedelta(days=14, minutes=1)) == 0
    for principal in (world["principal"], world["principal2"]):
        notes = rows(principal)
        assert [n.channel for n in notes] == ["in_app", "email"]
        assert {n.title for n in notes} == {"Check-ins with PQ overdue for more than 7 days"}
        assert {n.link for n in notes} == {f"/students/{student.id}"}
    for bystander in ("counselor", "counselor2", "south_principal", "south_counselor"):
        assert rows(world[bystander]) == []


def test_escalation_days_come_from_the_configuration(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "SP_ESCALATION_DAYS", 3)
    due = local(2030, 2, 4, 10, 0)
    make_checkin(world["student"], world["counselor"], due)
    assert escalate(due + timedelta(days=2, hours=23)) == 0
    assert escalate(due + timedelta(days=3, minutes=1)) == 4
    assert {n.title for n in rows(world["principal"])} == {"Check-ins with PQ overdue for more than 3 days"}


def test_a_deactivated_principal_gets_no_escalation(world):
    world["principal2"].is_active = False
    due = local(2030, 2, 4, 10, 0)
    make_checkin(world["student"], world["counselor"], due)
    db.session.commit()
    assert escalate(due + timedelta(days=8)) == 2
    assert rows(world["principal2"]) == []


# -- match support --------------------------------------------------------------------------------


def test_match_support_reminder_once_a_month_while_the_contact_is_due(world):
    from school_prevention.programs.models import MatchContact

    match = make_active_match(world["student"], matched_on=date(2030, 1, 15), checked_on=date(2029, 9, 1))
    db.session.commit()
    counselors = (world["counselor"], world["counselor2"])

    assert remind_match_support(local(2030, 2, 14, 23, 0)) == 0
    assert remind_match_support(local(2030, 2, 15, 7, 0)) == 4  # two counselors, in-app and email
    assert remind_match_support(local(2030, 2, 15, 7, 5)) == 0
    assert remind_match_support(local(2030, 3, 14, 12, 0)) == 0
    for counselor in counselors:
        notes = rows(counselor)
        assert kinds(notes) == [("match.support.2030-02-15", "email"), ("match.support.2030-02-15", "in_app")]
        assert {n.title for n in notes} == {"Mentoring support contact due for PQ"}
        assert {n.link for n in notes} == {f"/matches/{match.id}"}
    assert rows(world["south_counselor"]) == [] and rows(world["principal"]) == []

    # Still no contact a month later: reminded again, once.
    assert remind_match_support(local(2030, 3, 15, 7, 0)) == 4
    assert remind_match_support(local(2030, 3, 16, 7, 0)) == 0

    # A contact on March 20 makes the next one due on April 20.
    db.session.add(
        MatchContact(
            match_id=match.id,
            contacted_on=date(2030, 3, 20),
            method="phone",
            with_whom="mentor",
            recorded_by_id=world["counselor"].id,
        )
    )
    db.session.commit()
    assert remind_match_support(local(2030, 4, 19, 12, 0)) == 0
    assert remind_match_support(local(2030, 4, 20, 7, 0)) == 4
    assert remind_match_support(local(2030, 4, 20, 7, 0)) == 0
    assert len(rows(world["counselor"])) == 6


@pytest.mark.parametrize("status", ["inquiry", "waiting", "closed"])
def test_no_match_support_reminder_for_a_match_that_is_not_active(world, status):
    match = make_active_match(world["student"], matched_on=date(2030, 1, 15), checked_on=date(2029, 9, 1))
    match.status = status
    if status == "closed":
        match.closed_on, match.closure_reason = date(2030, 2, 1), "Mentor relocated"
    else:
        match.matched_on, match.mentor_id = None, None
    db.session.commit()
    assert remind_match_support(local(2030, 3, 1, 12, 0)) == 0


# -- the job --------------------------------------------------------------------------------------


def test_the_remind_job_runs_every_sweep_and_a_second_run_adds_nothing(world, app):
    student, counselor = world["student"], world["counselor"]
    now = local(2030, 2, 15, 9, 0)  # Friday
    make_checkin(student, counselor, now + timedelta(minutes=40))  # 1 h reminder
    make_checkin(student, counselor, local(2030, 2, 6, 10, 0))  # overdue, and over 7 days: escalated
    make_active_match(student, matched_on=date(2030, 1, 10), checked_on=date(2029, 9, 1))
    db.session.commit()
    ids = {name: world[name].id for name in ("counselor", "counselor2", "principal", "principal2")}

    assert run_job(app, "checkins.remind", now) == 2 + 2 + 4 + 4
    assert run_job(app, "checkins.remind", now) == 0
    by_user = {}
    for note in db.session.scalars(select(Notification)):
        by_user.setdefault(note.user_id, set()).add(re.sub(r"\.s\d+$", "", note.kind))
    assert by_user == {
        ids["counselor"]: {"checkin.before.60", "checkin.overdue", "match.support.2030-02-10"},
        ids["counselor2"]: {"match.support.2030-02-10"},
        ids["principal"]: {"checkin.escalation"},
        ids["principal2"]: {"checkin.escalation"},
    }
