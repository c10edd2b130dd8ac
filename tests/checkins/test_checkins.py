"""Check-in plans and check-ins as a counselor meets them: scheduling in local time, the
lifecycle of one check-in, "My check-ins", non-school days and the calendar feed.

Every test runs at a fixed time (the `clock` fixture), so dates are written out literally.
The district's zone is America/Chicago; daylight saving ends on Sunday 1 November 2026.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from school_prevention.audit.models import AuditEvent
from school_prevention.checkins import services
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.checkins.queries import student_checkin_summary
from school_prevention.checkins.replan import run_queued
from school_prevention.checkins.schedule import to_utc
from school_prevention.checkins.services import (
    HORIZON,
    cancel,
    complete,
    materialize,
    replan_all,
    reschedule,
    update_plan,
)
from school_prevention.extensions import db
from tests.factories import make_checkin_plan, make_school, make_student, make_user
from tests.support.apps import statements_sent

CHICAGO = ZoneInfo("America/Chicago")
SECRET = "Says her uncle keeps her home from school to babysit."


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args) -> datetime:
    """A wall-clock time in Chicago, as aware UTC."""
    return datetime(*args, tzinfo=CHICAGO).astimezone(UTC)


# Tuesday 20 October 2026, 10:00 in Chicago (daylight time, UTC-5).
NOW = utc(2026, 10, 20, 15, 0)


class Clock:
    """The time the check-in pages believe it is."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def chicago(app, monkeypatch):
    """Pin the district zone whatever SP_TIMEZONE the environment carries."""
    monkeypatch.setitem(app.config, "SP_TIMEZONE", "America/Chicago")


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(NOW)
    monkeypatch.setattr("school_prevention.checkins.views.utcnow", clock)
    monkeypatch.setattr("school_prevention.checkins.schooldays_views.utcnow", clock)
    return clock


@pytest.fixture
def world(db_session):
    north, south = make_school(name="North Middle"), make_school(name="South Middle")
    w = {
        "north": north,
        "south": south,
        "student": make_student(north, given_name="Marisol", family_name="Quintero", identifier="7301188"),
        "other_student": make_student(north, given_name="Tobias", family_name="Wren"),
        "counselor": make_user("counselor", schools=[north], name="Dana Counselor"),
        "counselor2": make_user("counselor", schools=[north], name="Eli Counselor"),
        "other_counselor": make_user("counselor", schools=[south]),
        "principal": make_user("principal", schools=[north]),
        "staff": make_user("staff", schools=[north]),
        "admin": make_user("admin"),
    }
    db_session.commit()
    return w


def plan_checkins(plan) -> list[CheckIn]:
    return list(db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id).order_by(CheckIn.occurrence)))


def audit_count(action: str, **where) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    for key, value in where.items():
        query = query.where(getattr(AuditEvent, key) == value)
    return db.session.scalar(query)


def field_error(page: str, field_id: str) -> str | None:
    """The error message shown beside a form field, as a reader sees it."""
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', page, re.S)
    return " ".join(html.unescape(match.group(1)).split()) if match else None


def section(page: str, heading_id: str) -> str:
    """The card of a page that carries this heading."""
    start = page.index(f'id="{heading_id}"')
    return page[start : page.index("</section>", start)]


def plan_form(**overrides) -> dict:
    data = {
        "cadence": "weekly",
        "rrule": "",
        "starts_on": "2026-10-22",
        "local_time": "10:00",
        "duration_minutes": "20",
        "until": "",
        "non_school_day": "move",
        "reason": "",
        "flag_id": "0",
    }
    data.update(overrides)
    return data


# --- 1. local time across daylight saving ---------------------------------------------------


def test_weekly_plan_keeps_ten_oclock_local_across_the_dst_change(client, login_as, world, clock):
    w = world
    login_as(w["counselor"])
    response = client.post(
        f"/students/{w['student'].id}/checkin-plans/new",
        data=plan_form(counselor_id=w["counselor"].id, starts_on="2026-10-29"),
    )
    assert response.status_code == 302
    plan = db.session.scalars(select(CheckInPlan)).one()
    by_day = {c.occurrence: c for c in plan_checkins(plan)}
    assert by_day[date(2026, 10, 29)].due_at == utc(2026, 10, 29, 15, 0)  # CDT, UTC-5
    assert by_day[date(2026, 11, 5)].due_at == utc(2026, 11, 5, 16, 0)  # CST, UTC-6

    page = client.get(f"/checkin-plans/{plan.id}").data.decode()
    assert re.search(r"Thu Oct 29, 2026,? 10:00 AM", page) and re.search(r"Thu Nov 5, 2026,? 10:00 AM", page)
    detail = client.get(f"/checkins/{by_day[date(2026, 11, 5)].id}").data.decode()
    assert "Thursday Nov 5, 2026, 10:00 AM" in detail
    # Until was left empty: the plan runs to the end of the school year.
    assert plan.until == date(2027, 6, 30)
    assert "Jun 30, 2027" in page


def test_a_time_skipped_by_spring_forward_moves_forward_by_the_gap():
    # 2:30 does not exist on 14 March 2027 in Chicago; it becomes 3:30 daylight time.
    assert to_utc(datetime(2027, 3, 14, 2, 30), CHICAGO) == utc(2027, 3, 14, 8, 30)
    # 1:30 happens twice on 1 November 2026: the first one (daylight time) is meant.
    assert to_utc(datetime(2026, 11, 1, 1, 30), CHICAGO) == utc(2026, 11, 1, 6, 30)


# --- 2. cadences and custom rules -----------------------------------------------------------


@pytest.mark.parametrize(
    "cadence, rule, non_school_day, expected",
    [
        ("weekly", None, "move", [(date(2026, 10, 22),) * 2, (date(2026, 10, 29),) * 2, (date(2026, 11, 5),) * 2]),
        ("biweekly", None, "move", [(date(2026, 10, 22),) * 2, (date(2026, 11, 5),) * 2, (date(2026, 11, 19),) * 2]),
        # 22 November is a Sunday: moved to Monday, or dropped.
        (
            "monthly",
            None,
            "move",
            [
                (date(2026, 10, 22),) * 2,
                (date(2026, 11, 22), date(2026, 11, 23)),
                (date(2026, 12, 22),) * 2,
                (date(2027, 1, 22),) * 2,
            ],
        ),
        ("monthly", None, "skip", [(date(2026, 10, 22),) * 2, (date(2026, 12, 22),) * 2, (date(2027, 1, 22),) * 2]),
        (
            "custom",
            "FREQ=WEEKLY;BYDAY=MO,TH",
            "move",
            [(date(2026, 10, 22),) * 2, (date(2026, 10, 26),) * 2, (date(2026, 10, 29),) * 2, (date(2026, 11, 2),) * 2],
        ),
        (
            "custom",
            "RRULE:FREQ=MONTHLY;BYDAY=1WE",
            "move",
            [(date(2026, 11, 4),) * 2, (date(2026, 12, 2),) * 2, (date(2027, 1, 6),) * 2, (date(2027, 2, 3),) * 2],
        ),
    ],
)
def test_cadences_give_the_expected_dates(world, cadence, rule, non_school_day, expected):
    w = world
    plan = make_checkin_plan(
        w["student"],
        w["counselor"],
        now=NOW,
        cadence=cadence,
        rrule=rule,
        starts_on=date(2026, 10, 22),
        non_school_day=non_school_day,
    )
    rows = [(c.occurrence, c.due_at.astimezone(CHICAGO).date()) for c in plan_checkins(plan)]
    assert rows[: len(expected)] == expected
    assert all(c.due_at.astimezone(CHICAGO).time() == time(10, 0) for c in plan_checkins(plan))


def test_monthly_from_the_31st_falls_back_to_the_last_day_of_short_months(world):
    w = world
    plan = make_checkin_plan(
        w["student"],
        w["counselor"],
        now=utc(2026, 12, 1, 15),
        cadence="monthly",
        starts_on=date(2026, 12, 31),
        non_school_day="move",
    )
    rows = [(c.occurrence, c.due_at.astimezone(CHICAGO).date()) for c in plan_checkins(plan)]
    assert rows == [
        (date(2026, 12, 31), date(2026, 12, 31)),
        (date(2027, 1, 31), date(2027, 2, 1)),  # a Sunday: the next Monday
        (date(2027, 2, 28), date(2027, 3, 1)),  # February has no 31st; the 28th is a Sunday
        (date(2027, 3, 31), date(2027, 3, 31)),
    ]


@pytest.mark.parametrize(
    "rule, message",
    [
        ("garbage", "cannot be read"),
        ("", "Enter a rule"),
        ("FREQ=SECONDLY", "daily at most"),
        ("FREQ=MINUTELY", "daily at most"),
        ("FREQ=HOURLY", "daily at most"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
        ("FREQ=WEEKLY;INTERVAL=-1", "INTERVAL"),
        ("FREQ=DAILY;COUNT=99999999999999999999999", "COUNT"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;BYHOUR=9", "Time field"),
        ("FREQ=DAILY;BYSECOND=1,2,3", "Time field"),
        ("FREQ=WEEKLY;UNTIL=20261201T000000Z", "Until field"),
        ("DTSTART:20261022T100000\nRRULE:FREQ=DAILY", "only the RRULE part"),
        ("FREQ=WEEKLY;BYDAY=XX", "cannot be read"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "no dates"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "cannot be read"),
    ],
)
def test_an_unusable_custom_rule_is_refused_beside_the_field(client, login_as, world, clock, rule, message):
    w = world
    login_as(w["counselor"])
    response = client.post(
        f"/students/{w['student'].id}/checkin-plans/new",
        data=plan_form(counselor_id=w["counselor"].id, cadence="custom", rrule=rule),
    )
    assert response.status_code == 400
    error = field_error(response.data.decode(), "rrule")
    assert error and message in error
    assert db.session.scalar(select(func.count()).select_from(CheckInPlan)) == 0
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 0


# --- 3. non-school days ---------------------------------------------------------------------


def add_days(client, *days):
    for day, name in days:
        response = client.post("/admin/non-school-days", data={"day": day, "name": name})
        assert response.status_code == 302


def test_plans_skip_or_move_a_check_in_that_falls_on_a_non_school_day(client, login_as, world, clock):
    w = world
    login_as(w["admin"])
    add_days(
        client, ("2026-11-12", "Teacher work day"), ("2026-11-26", "Thanksgiving"), ("2026-11-27", "Thanksgiving break")
    )
    moving = make_checkin_plan(
        w["student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22), non_school_day="move"
    )
    skipping = make_checkin_plan(
        w["other_student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22), non_school_day="skip"
    )
    by_occurrence = {c.occurrence: c for c in plan_checkins(moving)}
    # Thursday 12 November is off: Friday 13 November, same local time.
    assert by_occurrence[date(2026, 11, 12)].due_at == local(2026, 11, 13, 10, 0)
    # Thanksgiving Thursday and Friday are off and the weekend follows: Monday 30 November is
    # nearer the next regular Thursday than its own day, so that week has no check-in rather
    # than two in four days.
    assert date(2026, 11, 26) not in by_occurrence
    assert by_occurrence[date(2026, 12, 3)].due_at == local(2026, 12, 3, 10, 0)
    assert date(2026, 11, 12) not in {c.occurrence for c in plan_checkins(skipping)}
    assert date(2026, 11, 26) not in {c.occurrence for c in plan_checkins(skipping)}
    assert date(2026, 12, 3) in {c.occurrence for c in plan_checkins(skipping)}


def test_adding_a_non_school_day_replans_future_check_ins(client, login_as, world, clock):
    w = world
    moving = make_checkin_plan(w["student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22))
    skipping = make_checkin_plan(
        w["other_student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22), non_school_day="skip"
    )
    db.session.commit()
    login_as(w["admin"])
    response = client.post(
        "/admin/non-school-days", data={"day": "2026-11-12", "name": "Teacher work day"}, follow_redirects=True
    )
    # The request only queues the re-placing: nothing moved yet, and the page says it is queued.
    page = html.unescape(response.data.decode())
    assert (
        "Upcoming check-ins are being re-placed around it" in page and "Re-placing upcoming check-ins: queued" in page
    )
    assert {c.occurrence: c for c in plan_checkins(moving)}[date(2026, 11, 12)].due_at == local(2026, 11, 12, 10, 0)
    assert run_queued(NOW) == 2
    assert run_queued(NOW) == 0  # done once: a second run of the job finds nothing queued
    page = html.unescape(client.get("/admin/non-school-days").data.decode())
    assert "2 upcoming check-ins moved, skipped or put back, over 2 active plans" in page
    moved = {c.occurrence: c for c in plan_checkins(moving)}[date(2026, 11, 12)]
    assert moved.due_at == local(2026, 11, 13, 10, 0) and moved.sequence == 1
    skipped = {c.occurrence: c for c in plan_checkins(skipping)}[date(2026, 11, 12)]
    assert skipped.status == "cancelled"

    # Taking the day off the list puts the moved check-in back on its own day, and brings the
    # skipped one back too (re-planning cancelled it, not a person).
    day_id = db.session.scalar(text("SELECT id FROM non_school_day WHERE day = :d"), {"d": date(2026, 11, 12)})
    client.post(f"/admin/non-school-days/{day_id}/delete")
    assert run_queued(NOW) == 2
    db.session.refresh(moved)
    db.session.refresh(skipped)
    assert moved.due_at == local(2026, 11, 12, 10, 0) and moved.status == "scheduled"
    assert (skipped.status, skipped.due_at, skipped.sequence) == ("scheduled", local(2026, 11, 12, 10, 0), 2)

    # A check-in a counselor cancelled stays cancelled through any re-planning.
    login_as(w["counselor"])
    by_hand = {c.occurrence: c for c in plan_checkins(skipping)}[date(2026, 11, 19)]
    assert client.post(f"/checkins/{by_hand.id}/cancel").status_code == 302
    login_as(w["admin"])
    add_days(client, ("2026-11-19", "Staff development"))
    run_queued(NOW)
    day_id = db.session.scalar(text("SELECT id FROM non_school_day WHERE day = :d"), {"d": date(2026, 11, 19)})
    client.post(f"/admin/non-school-days/{day_id}/delete")
    run_queued(NOW)
    db.session.refresh(by_hand)
    assert by_hand.status == "cancelled"


@pytest.mark.parametrize(
    "rule, expected",
    [
        # Weekly on Tuesdays across a two-week winter break: no pile-up on the first days back.
        ("FREQ=WEEKLY;BYDAY=TU", ["2026-12-15", "2027-01-05", "2027-01-12"]),
        # Weekly on Mondays with Martin Luther King Jr. Day: that week's check-in moves to Tuesday.
        ("FREQ=WEEKLY;BYDAY=MO", ["2027-01-11", "2027-01-19", "2027-01-25"]),
        # Mondays and Thursdays across Thanksgiving (Thu and Fri closed): Thursday's would land on
        # the regular Monday, so it is dropped rather than doubled.
        ("FREQ=WEEKLY;BYDAY=MO,TH", ["2026-11-23", "2026-11-30", "2026-12-03"]),
    ],
)
def test_moving_off_non_school_days_never_stacks_check_ins(rule, expected):
    from dateutil.rrule import rrulestr

    from school_prevention.checkins.schedule import placements

    zone = ZoneInfo("America/Chicago")
    closed = {date(2026, 11, 26), date(2026, 11, 27), date(2027, 1, 18)} | {
        date(2026, 12, 21) + timedelta(days=i) for i in range(12)
    }
    first, last = {
        "TU": (date(2026, 12, 14), date(2027, 1, 12)),
        "MO": (date(2027, 1, 11), date(2027, 1, 25)),
        "MO,TH": (date(2026, 11, 23), date(2026, 12, 3)),
    }[rule.split("BYDAY=")[1]]
    rule_ = rrulestr(rule, dtstart=datetime.combine(first, time(14, 45)))
    got = placements(rule_, first=first, last=last, rule_choice="move", closed=closed, zone=zone)
    days = [due.astimezone(zone).date().isoformat() for _, due in got]
    assert days == expected
    assert all(due.astimezone(zone).time() == time(14, 45) for _, due in got)


def test_a_moved_check_in_survives_the_nightly_replan_after_its_original_day(world):
    w = world
    services.add_non_school_day(w["admin"], date(2026, 11, 26), "Thanksgiving")
    plan = make_checkin_plan(w["student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22))
    moved = {c.occurrence: c for c in plan_checkins(plan)}[date(2026, 11, 26)]
    assert moved.due_at == local(2026, 11, 27, 10, 0)
    # The nightly job runs early on Friday 27 November: Thursday's check-in, moved to Friday,
    # is still ahead and must stay booked.
    replan_all(utc(2026, 11, 27, 9, 15))
    db.session.refresh(moved)
    assert moved.status == "scheduled" and moved.due_at == local(2026, 11, 27, 10, 0)


# --- 4. until, spanning years, horizon, idempotence -----------------------------------------


def test_until_defaults_to_the_end_of_the_school_year(world):
    w = world
    assert make_checkin_plan(w["student"], w["counselor"], now=NOW).until == date(2027, 6, 30)
    # In the summer a new school year is being planned.
    assert make_checkin_plan(w["other_student"], w["counselor"], now=utc(2027, 7, 15, 15)).until == date(2028, 6, 30)


def test_a_plan_spanning_years_is_written_out_only_within_the_horizon_and_idempotently(world):
    w = world
    plan = make_checkin_plan(
        w["student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22), until=date(2028, 6, 30)
    )
    first = [(c.id, c.occurrence, c.due_at, c.sequence) for c in plan_checkins(plan)]
    assert first[0][1] == date(2026, 10, 22)
    assert max(c[2] for c in first) <= NOW + HORIZON
    assert len(first) == 17  # 22 Oct 2026 to 11 Feb 2027, weekly

    assert materialize(plan, NOW) == 0
    assert [(c.id, c.occurrence, c.due_at, c.sequence) for c in plan_checkins(plan)] == first

    # A year on, the nightly job has written out the next stretch, past the summer.
    later = utc(2027, 10, 20, 15)
    assert materialize(plan, later) > 0
    occurrences = [c.occurrence for c in plan_checkins(plan)]
    assert max(occurrences) == date(2028, 2, 17) and len(occurrences) == len(set(occurrences))
    assert materialize(plan, later) == 0


# --- 5. editing a plan ----------------------------------------------------------------------


def started_in_september(w):
    """A weekly Thursday plan begun on 28 September; by NOW three check-ins are behind us."""
    plan = make_checkin_plan(w["student"], w["counselor"], now=utc(2026, 9, 28, 15), starts_on=date(2026, 10, 1))
    rows = {c.occurrence: c for c in plan_checkins(plan)}
    complete(w["counselor"], rows[date(2026, 10, 15)], outcome="doing_well", note=None, now=utc(2026, 10, 15, 15, 30))
    services.mark_missed(w["counselor"], rows[date(2026, 10, 8)], now=utc(2026, 10, 9, 15))
    return plan, rows


def test_editing_the_time_moves_only_future_scheduled_check_ins(client, login_as, world, clock):
    w = world
    plan, rows = started_in_september(w)
    before = {occ: (c.due_at, c.status, c.sequence) for occ, c in rows.items()}
    db.session.commit()
    login_as(w["counselor"])
    response = client.post(
        f"/checkin-plans/{plan.id}/edit",
        follow_redirects=True,
        data=plan_form(counselor_id=w["counselor"].id, starts_on="2026-10-01", local_time="14:30", until="2027-06-30"),
    )
    assert "upcoming check-ins changed; past ones are kept as they were" in response.data.decode()
    after = {c.occurrence: c for c in plan_checkins(plan)}
    for occ in (date(2026, 10, 1), date(2026, 10, 8), date(2026, 10, 15)):
        assert (after[occ].due_at, after[occ].status, after[occ].sequence) == before[occ]
    assert after[date(2026, 10, 15)].outcome == "doing_well"
    assert after[date(2026, 10, 22)].due_at == local(2026, 10, 22, 14, 30)
    assert after[date(2026, 11, 5)].due_at == utc(2026, 11, 5, 20, 30)
    assert after[date(2026, 10, 22)].sequence == before[date(2026, 10, 22)][2] + 1


def test_editing_the_cadence_cancels_future_check_ins_the_new_rule_drops(world):
    w = world
    plan, _rows = started_in_september(w)
    update_plan(w["counselor"], plan, w["counselor"], now=NOW, cadence="biweekly")
    after = {c.occurrence: c for c in plan_checkins(plan)}
    assert after[date(2026, 10, 1)].status == "scheduled"  # past, left as it was (overdue)
    assert after[date(2026, 10, 8)].status == "missed"
    assert after[date(2026, 10, 15)].status == "completed"
    assert after[date(2026, 10, 29)].status == "scheduled"  # on the two-week beat from 1 Oct
    assert after[date(2026, 10, 22)].status == "cancelled" and after[date(2026, 11, 5)].status == "cancelled"


# --- 6. completing, the restricted note -----------------------------------------------------


@pytest.fixture
def due_checkin(world, clock):
    """A check-in due at 10:00 on Thursday 22 October; the clock stands half an hour later."""
    plan = make_checkin_plan(world["student"], world["counselor"], now=NOW, starts_on=date(2026, 10, 22))
    checkin = plan_checkins(plan)[0]
    clock.now = checkin.due_at + timedelta(minutes=30)
    db.session.commit()
    return checkin


def test_completing_needs_an_outcome(client, login_as, world, due_checkin):
    login_as(world["counselor"])
    response = client.post(f"/checkins/{due_checkin.id}", data={"note": SECRET})
    assert response.status_code == 400
    assert field_error(response.data.decode(), "outcome") == "Choose the outcome."
    db.session.refresh(due_checkin)
    assert (due_checkin.status, due_checkin.outcome, due_checkin.note_ciphertext, due_checkin.sequence) == (
        "scheduled",
        None,
        None,
        0,
    )


def test_a_completed_check_in_without_an_outcome_cannot_be_stored(world, due_checkin):
    due_checkin.status = "completed"
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.flush()


def test_the_note_is_encrypted_and_only_counselors_of_the_school_read_it(client, login_as, world, due_checkin):
    w = world
    login_as(w["counselor"])
    response = client.post(f"/checkins/{due_checkin.id}", data={"outcome": "some_concerns", "note": SECRET})
    assert response.status_code == 302
    raw = db.session.scalar(text("SELECT note_ciphertext FROM checkin WHERE id = :id"), {"id": due_checkin.id})
    assert raw.startswith("gAAAA") and "babysit" not in raw

    page = client.get(f"/checkins/{due_checkin.id}").data.decode()
    assert html.escape(SECRET) in page and "Met: some concerns" in page
    assert audit_count("checkin.note.read", actor_id=w["counselor"].id, student_id=w["student"].id) == 1
    login_as(w["counselor2"])  # another counselor of the same school may read it; it is recorded too
    assert html.escape(SECRET) in client.get(f"/checkins/{due_checkin.id}").data.decode()
    assert audit_count("checkin.note.read") == 2

    for who, code in (("principal", 403), ("staff", 403), ("other_counselor", 404)):
        login_as(w[who])
        response = client.get(f"/checkins/{due_checkin.id}")
        assert response.status_code == code, who
        assert "babysit" not in response.data.decode()
    login_as(w["principal"])
    assert "babysit" not in client.get(f"/students/{w['student'].id}").data.decode()
    assert audit_count("checkin.note.read") == 2


# --- 7. missed, cancelled, rescheduled, and what counts as done -----------------------------


def test_a_check_in_is_marked_missed_only_after_its_time(client, login_as, world, due_checkin, clock):
    login_as(world["counselor"])
    clock.now = due_checkin.due_at - timedelta(hours=1)
    response = client.post(f"/checkins/{due_checkin.id}/missed")
    assert response.status_code == 409 and "only after its time" in response.data.decode()
    clock.now = due_checkin.due_at + timedelta(hours=2)
    assert client.post(f"/checkins/{due_checkin.id}/missed").status_code == 302
    db.session.refresh(due_checkin)
    assert (due_checkin.status, due_checkin.sequence) == ("missed", 1)
    # A closed check-in cannot be closed again.
    assert client.post(f"/checkins/{due_checkin.id}/cancel").status_code == 409


def test_cancel_and_reschedule_one_check_in(client, login_as, world, due_checkin):
    login_as(world["counselor"])
    later = plan_checkins(due_checkin.plan)[1]  # Thursday 29 October
    response = client.post(f"/checkins/{later.id}/reschedule", data={"when": "2026-11-06T13:30"}, follow_redirects=True)
    assert "Check-in moved to Fri Nov 6, 1:30 PM" in response.data.decode()
    db.session.refresh(later)
    assert later.due_at == utc(2026, 11, 6, 19, 30) and later.is_rescheduled and later.sequence == 1
    assert client.post(f"/checkins/{later.id}/reschedule", data={"when": "2026-10-01T09:00"}).status_code == 400

    assert client.post(f"/checkins/{due_checkin.id}/cancel").status_code == 302
    db.session.refresh(due_checkin)
    assert (due_checkin.status, due_checkin.sequence) == ("cancelled", 1)


def test_a_meeting_held_early_is_moved_back_to_when_it_happened_then_completed(client, login_as, world, due_checkin):
    login_as(world["counselor"])
    later = plan_checkins(due_checkin.plan)[1]  # Thursday 29 October; the clock says 22 October
    early = client.post(f"/checkins/{later.id}", data={"outcome": "doing_well"})
    assert early.status_code == 400 and "move it to the time you met" in early.data.decode()
    # They met yesterday: move it there (up to 14 days back is allowed), then complete it.
    assert client.post(f"/checkins/{later.id}/reschedule", data={"when": "2026-10-21T14:00"}).status_code == 302
    assert client.post(f"/checkins/{later.id}", data={"outcome": "doing_well"}).status_code == 302
    db.session.refresh(later)
    assert (later.status, later.due_at) == ("completed", utc(2026, 10, 21, 19, 0))
    too_far = client.post(
        f"/checkins/{plan_checkins(due_checkin.plan)[2].id}/reschedule", data={"when": "2026-10-07T09:00"}
    )
    assert too_far.status_code == 400 and "last 14 days" in too_far.data.decode()


def test_a_rescheduled_check_in_keeps_its_new_time_when_the_plan_is_replanned(world, due_checkin):
    later = plan_checkins(due_checkin.plan)[1]
    reschedule(world["counselor"], later, local=datetime(2026, 11, 6, 13, 30), now=NOW)
    replan_all(NOW)
    db.session.refresh(later)
    assert later.due_at == local(2026, 11, 6, 13, 30) and later.status == "scheduled"


def test_only_a_completed_check_in_with_an_outcome_counts_as_done(world):
    w = world
    plan = make_checkin_plan(w["student"], w["counselor"], now=utc(2026, 9, 28, 15), starts_on=date(2026, 10, 1))
    rows = plan_checkins(plan)
    services.mark_missed(w["counselor"], rows[0], now=NOW)
    cancel(w["counselor"], rows[1])
    summary = student_checkin_summary(w["student"].id, NOW)
    assert summary["completed"] == 0 and summary["last_completed"] is None
    assert summary["overdue"] == 1  # 15 October, still open
    with pytest.raises(services.ServiceError) as refused:
        complete(w["counselor"], rows[2], outcome=None, note="met", now=NOW)
    assert refused.value.field == "outcome"
    complete(w["counselor"], rows[2], outcome="doing_well", note=None, now=NOW)
    summary = student_checkin_summary(w["student"].id, NOW)
    assert summary["completed"] == 1 and summary["last_completed"] == local(2026, 10, 15, 10)
    assert summary["overdue"] == 0 and summary["next_due"] == local(2026, 10, 22, 10)


# --- 8. My check-ins ------------------------------------------------------------------------

_occurrence = iter(range(1, 10_000))


def add_checkin(plan, due_at: datetime, **kw) -> CheckIn:
    """A check-in at an exact time on an existing plan."""
    checkin = CheckIn(
        plan_id=plan.id,
        student_id=plan.student_id,
        school_id=plan.school_id,
        counselor_id=kw.pop("counselor_id", plan.counselor_id),
        occurrence=date(2000, 1, 1) + timedelta(days=next(_occurrence)),
        due_at=due_at,
        **kw,
    )
    db.session.add(checkin)
    db.session.flush()
    return checkin


def test_my_check_ins_groups_overdue_today_and_this_week_in_local_time(client, login_as, world, clock):
    w = world
    # A plan whose own dates lie far ahead, so only the check-ins added here are in view.
    plan = make_checkin_plan(w["student"], w["counselor"], now=NOW, starts_on=date(2030, 1, 7), until=date(2030, 1, 8))
    clock.now = local(2026, 10, 20, 23, 30)  # Tuesday evening in Chicago, already Wednesday in UTC
    yesterday = add_checkin(plan, local(2026, 10, 19, 10, 0))
    earlier_today = add_checkin(plan, local(2026, 10, 20, 14, 0))  # overdue too
    later_today = add_checkin(plan, local(2026, 10, 20, 23, 45))  # Wednesday in UTC, Tuesday here
    tomorrow = add_checkin(plan, local(2026, 10, 21, 9, 0))
    next_tuesday = add_checkin(plan, local(2026, 10, 27, 9, 0))
    add_checkin(plan, local(2026, 10, 28, 9, 0))  # beyond the next seven days: not listed
    done = add_checkin(plan, local(2026, 10, 19, 11, 0), status="completed", outcome="doing_well")
    add_checkin(plan, local(2026, 10, 21, 11, 0), counselor_id=w["counselor2"].id)  # someone else's
    db.session.commit()
    login_as(w["counselor"])
    page = client.get("/checkins").data.decode()

    def listed(heading):
        card = section(page, heading)
        count = int(re.search(r"\((\d+)\)</h2>", card).group(1))
        ids = [int(i) for i in re.findall(r'href="/checkins/(\d+)"', card)]
        assert count == len(ids)
        return ids

    assert listed("overdue-h") == [yesterday.id, earlier_today.id]
    assert listed("today-h") == [later_today.id]
    assert listed("week-h") == [tomorrow.id, next_tuesday.id]
    assert re.findall(r'<span class="when">(.*?)</span>', section(page, "week-h")) == [
        "Wed Oct 21, 9:00 AM",
        "Tue Oct 27, 9:00 AM",
    ]
    done_card = section(page, "done-h")
    assert f'href="/checkins/{done.id}"' in done_card and "Met: doing well" in done_card


# --- 9. the calendar feed -------------------------------------------------------------------


def link_version(client) -> str:
    """The link the calendar page shows as current, as its "Create" form sends it back."""
    page = client.get("/account/calendar").data.decode()
    return re.search(r'name="replaces" value="([^"]+)"', page).group(1)


def feed_token(client) -> str:
    response = client.post("/account/calendar", data={"action": "create", "replaces": link_version(client)})
    assert response.status_code == 200
    return re.search(r"/calendar/([A-Za-z0-9_-]+)\.ics", response.data.decode()).group(1)


def events(app, token) -> tuple[str, dict]:
    response = app.test_client().get(f"/calendar/{token}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    return response.data.decode(), {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_calendar_feed_shows_initials_with_stable_uids_and_utc_times(app, client, login_as, world, clock):
    w = world
    plan = make_checkin_plan(w["student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 29))
    db.session.commit()
    login_as(w["counselor"])
    assert "You have no calendar link." in client.get("/account/calendar").data.decode()
    token = feed_token(client)
    assert w["counselor"].calendar_token_hash not in (None, token)

    body, first = events(app, token)
    for private in ("Marisol", "Quintero", "MARISOL", "7301188"):
        assert private not in body
    assert {str(e["summary"]) for e in first.values()} == {"Check-in: MQ"}
    by_start = {e.decoded("dtstart"): e for e in first.values()}
    assert utc(2026, 10, 29, 15, 0) in by_start and utc(2026, 11, 5, 16, 0) in by_start
    _, second = events(app, token)
    assert second.keys() == first.keys()

    moved = {c.occurrence: c for c in plan_checkins(plan)}[date(2026, 11, 5)]
    uid = next(u for u, e in first.items() if e.decoded("dtstart") == utc(2026, 11, 5, 16, 0))
    assert client.post(f"/checkins/{moved.id}/reschedule", data={"when": "2026-11-06T08:15"}).status_code == 302
    _, third = events(app, token)
    assert third.keys() == first.keys()
    assert third[uid].decoded("dtstart") == utc(2026, 11, 6, 14, 15)
    assert int(third[uid]["sequence"]) == int(first[uid]["sequence"]) + 1


def test_calendar_feed_leaves_out_a_school_the_counselor_no_longer_serves(app, client, login_as, world, clock):
    w = world
    make_checkin_plan(w["student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22))
    db.session.commit()
    login_as(w["counselor"])
    token = feed_token(client)
    assert len(events(app, token)[1]) > 0
    w["counselor"].schools = [w["south"]]
    db.session.commit()
    assert events(app, token)[1] == {}


def test_calendar_link_can_be_replaced_and_revoked(app, client, login_as, world, clock):
    login_as(world["counselor"])
    old = feed_token(client)
    new = feed_token(client)
    anonymous = app.test_client()
    assert anonymous.get(f"/calendar/{old}.ics").status_code == 404
    assert anonymous.get(f"/calendar/{new}.ics").status_code == 200
    response = client.post("/account/calendar", data={"action": "revoke"}, follow_redirects=True)
    assert "You have no calendar link." in response.data.decode()
    assert anonymous.get(f"/calendar/{new}.ics").status_code == 404
    assert anonymous.get("/calendar/not-a-real-token.ics").status_code == 404


# --- 10. ending a plan ----------------------------------------------------------------------


def test_ending_a_plan_cancels_future_check_ins_and_keeps_the_past(app, client, login_as, world, clock):
    w = world
    plan, rows = started_in_september(w)
    before = {occ: (c.status, c.sequence) for occ, c in rows.items()}
    db.session.commit()
    login_as(w["counselor"])
    token = feed_token(client)
    response = client.post(f"/checkin-plans/{plan.id}/end", follow_redirects=True)
    page = response.data.decode()
    assert "Plan ended; " in page and "upcoming check-ins cancelled" in page
    assert "No check-in plan." in section(page, "checkins-h")
    after = {c.occurrence: c for c in plan_checkins(plan)}
    for occ in (date(2026, 10, 1), date(2026, 10, 8), date(2026, 10, 15)):
        assert (after[occ].status, after[occ].sequence) == before[occ]
    future = [c for occ, c in after.items() if c.due_at > NOW]
    assert future and all(c.status == "cancelled" and c.sequence == 1 for c in future)
    _, feed = events(app, token)
    assert {str(e["status"]) for e in feed.values() if e.decoded("dtstart") > NOW} == {"CANCELLED"}
    assert client.post(f"/checkin-plans/{plan.id}/end").status_code == 409
    assert materialize(plan, NOW) == 0


# --- 11. the same change twice ---------------------------------------------------------------

# When the change was made, as the messages show it (audit rows carry the real time, not the clock's).
WHEN = r"\(\w{3} \d{1,2}, \d{4} \d{1,2}:\d{2} [AP]M\)"


def test_a_second_plan_with_the_same_first_meeting_is_refused_and_another_time_is_a_plan_of_its_own(
    client, login_as, world, clock
):
    w = world
    login_as(w["counselor"])
    url = f"/students/{w['student'].id}/checkin-plans/new"
    assert client.post(url, data=plan_form(counselor_id=w["counselor"].id)).status_code == 302
    first = db.session.scalars(select(CheckInPlan)).one()
    again = client.post(url, data=plan_form(counselor_id=w["counselor"].id, cadence="biweekly"))
    page = html.unescape(again.data.decode())
    assert again.status_code == 409
    assert re.search(
        r"A check-in plan with Dana Counselor from Thu Oct 22, 2026 at 10:00 AM was already started for "
        rf"this student by Dana Counselor {WHEN}\. Nothing more was changed\.",
        page,
    )
    assert f'href="/checkin-plans/{first.id}"' in page
    # Check in in the morning and check out in the afternoon: two plans of one counselor.
    assert client.post(url, data=plan_form(counselor_id=w["counselor"].id, local_time="15:00")).status_code == 302
    # Another counselor may see the student at that time too.
    assert client.post(url, data=plan_form(counselor_id=w["counselor2"].id)).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(CheckInPlan)) == 3
    afternoon = db.session.scalars(select(CheckInPlan).where(CheckInPlan.local_time == time(15, 0))).one()
    # Moving the afternoon plan onto the morning one's first meeting is refused beside the field.
    response = client.post(
        f"/checkin-plans/{afternoon.id}/edit", data=plan_form(counselor_id=w["counselor"].id, until="2027-06-30")
    )
    assert response.status_code == 400
    assert "already has another active plan with this student" in field_error(response.data.decode(), "starts_on")
    # Once the morning plan has ended, a new one may start on its day and time.
    assert client.post(f"/checkin-plans/{first.id}/end").status_code == 302
    assert client.post(url, data=plan_form(counselor_id=w["counselor"].id)).status_code == 302


def test_a_check_in_completed_once_keeps_its_outcome_and_note(client, login_as, world, due_checkin):
    w = world
    login_as(w["counselor"])
    assert (
        client.post(f"/checkins/{due_checkin.id}", data={"outcome": "some_concerns", "note": SECRET}).status_code == 302
    )
    login_as(w["counselor2"])
    again = client.post(f"/checkins/{due_checkin.id}", data={"outcome": "doing_well", "note": "Something else."})
    assert again.status_code == 409
    assert (
        "This check-in was already completed by Dana Counselor (Oct 22, 2026 10:30 AM). Nothing more was "
        "changed. The outcome and note recorded then are kept."
    ) in html.unescape(again.data.decode())
    db.session.refresh(due_checkin)
    assert (due_checkin.outcome, due_checkin.sequence) == ("some_concerns", 1)
    assert services.read_note(w["counselor"], due_checkin) == SECRET
    assert audit_count("checkin.completed", object_id=str(due_checkin.id)) == 1
    for action in ("missed", "cancel"):  # nor can it be closed another way
        response = client.post(f"/checkins/{due_checkin.id}/{action}")
        assert response.status_code == 409 and "already completed by Dana Counselor" in response.data.decode()


def test_saving_a_plan_unchanged_says_it_was_already_saved(client, login_as, world, clock):
    w = world
    login_as(w["counselor"])
    client.post(f"/students/{w['student'].id}/checkin-plans/new", data=plan_form(counselor_id=w["counselor"].id))
    plan = db.session.scalars(select(CheckInPlan)).one()
    edit = plan_form(counselor_id=w["counselor"].id, until="2027-06-30", local_time="14:30")
    assert client.post(f"/checkin-plans/{plan.id}/edit", data=edit).status_code == 302
    again = client.post(f"/checkin-plans/{plan.id}/edit", data=edit)
    assert again.status_code == 409
    assert re.search(
        rf"This plan was already saved with these details by Dana Counselor {WHEN}\. "
        r"Nothing more was changed\.",
        html.unescape(again.data.decode()),
    )
    assert audit_count("checkin_plan.updated") == 1


def test_a_non_school_day_listed_already_is_not_added_again(client, login_as, world, clock):
    login_as(world["admin"])
    add_days(client, ("2026-11-12", "Teacher work day"))
    again = client.post("/admin/non-school-days", data={"day": "2026-11-12", "name": "Staff day"})
    assert again.status_code == 409
    assert "Thu Nov 12, 2026 is already on the list (Teacher work day), added by" in html.unescape(again.data.decode())
    day_id = db.session.scalar(text("SELECT id FROM non_school_day"))
    assert client.post(f"/admin/non-school-days/{day_id}/delete").status_code == 302
    gone = client.post(f"/admin/non-school-days/{day_id}/delete")
    assert gone.status_code == 409 and "already taken off the list by" in gone.data.decode()
    assert client.post("/admin/non-school-days/999999/delete").status_code == 404


def test_a_calendar_page_left_open_does_not_replace_a_newer_link(app, client, login_as, world, clock):
    login_as(world["counselor"])
    stale = link_version(client)  # the page as it was before the link below was made
    token = feed_token(client)
    again = client.post("/account/calendar", data={"action": "create", "replaces": stale})
    assert again.status_code == 409 and "A new calendar link was already made" in again.data.decode()
    assert app.test_client().get(f"/calendar/{token}.ics").status_code == 200  # still the working link
    assert client.post("/account/calendar", data={"action": "create"}).status_code == 400  # no version: an old form


def test_saving_the_same_reminder_times_twice_saves_them_once(client, login_as, world):
    login_as(world["counselor"])
    unchanged = client.post("/account/reminders", data={"leads": ["1440", "60"]})  # the defaults
    assert unchanged.status_code == 409 and "These reminder times were already saved." in unchanged.data.decode()
    assert client.post("/account/reminders", data={"leads": ["60", "2880"]}).status_code == 302
    assert world["counselor"].reminder_leads == "2880,60"
    again = client.post("/account/reminders", data={"leads": ["2880", "60"]})
    assert again.status_code == 409
    assert re.search(rf"These reminder times were already saved by Dana Counselor {WHEN}\.", again.data.decode())
    assert audit_count("account.reminders") == 1


# --- the student page -----------------------------------------------------------------------


def test_student_page_shows_plans_and_the_next_check_in(client, login_as, world, monkeypatch):
    w = world
    monkeypatch.setattr("school_prevention.db.utcnow", Clock(NOW))
    monkeypatch.setattr(
        "school_prevention.pages.students.page.utcnow", Clock(NOW), raising=False
    )  # imported by name there
    plan = make_checkin_plan(
        w["student"], w["counselor"], now=NOW, starts_on=date(2026, 10, 22), reason="support after a move"
    )
    db.session.commit()
    login_as(w["counselor"])
    card = section(client.get(f"/students/{w['student'].id}").data.decode(), "checkins-h")
    assert f'href="/checkin-plans/{plan.id}"' in card
    assert "Every week at 10:00 AM" in card and "with Dana Counselor until Jun 30, 2027" in card
    assert "Next: <strong>Thu Oct 22, 10:00 AM</strong>" in card
    assert "Add another check-in plan" in card  # not a second "Plan check-ins" button
    checkin = plan_checkins(plan)[0]
    complete(w["counselor"], checkin, outcome="some_concerns", note="private words", now=checkin.due_at)
    db.session.commit()
    timeline = section(client.get(f"/students/{w['student'].id}").data.decode(), "timeline-h")
    assert "Check-in plan started: every week" in timeline
    assert f'href="/checkins/{checkin.id}">Check-in: met: some concerns' in timeline
    assert "private words" not in timeline
    login_as(w["principal"])
    card = section(client.get(f"/students/{w['student'].id}").data.decode(), "checkins-h")
    assert "Every week at 10:00 AM" in card and "/checkin-plans/" not in card


def test_a_plan_page_sends_as_many_statements_for_many_checkins_as_for_few(client, login_as, world, clock):
    w = world
    few = make_checkin_plan(w["student"], w["counselor"], now=NOW, cadence="monthly")
    many = make_checkin_plan(w["other_student"], w["counselor"], now=NOW, cadence="weekly")
    db.session.commit()
    assert len(plan_checkins(many)) > 3 * len(plan_checkins(few))
    login_as(w["counselor"])
    assert statements_sent(client, f"/checkin-plans/{many.id}") == statements_sent(client, f"/checkin-plans/{few.id}")


def test_the_agenda_sends_as_many_statements_for_many_students_as_for_one(client, login_as, world, clock):
    w = world
    make_checkin_plan(w["student"], w["counselor"], now=NOW, cadence="weekly")
    db.session.commit()
    login_as(w["counselor"])
    one = statements_sent(client, "/checkins")
    for i in range(5):
        make_checkin_plan(make_student(w["north"], family_name=f"Agenda{i}"), w["counselor"], now=NOW, cadence="weekly")
    db.session.commit()
    page = client.get("/checkins").get_data(as_text=True)
    assert all(f"Agenda{i}" in page for i in range(5))  # each named on the agenda
    assert statements_sent(client, "/checkins") == one


# --- migration 0014: plans that repeat an earlier one -----------------------------------------


def _before_0014(backend, tmp_path_factory, postgres):
    """An app whose new database is migrated up to the revision before 0014, with one school,
    counselor (id 1) and student (id 1); returns (app, migrations directory, tables, plan row values)."""
    import flask_migrate
    import sqlalchemy as sa
    from alembic.script import ScriptDirectory

    from school_prevention import create_app
    from school_prevention.config import TestConfig
    from tests.support.databases import new_database_url

    app = create_app(TestConfig(new_database_url(backend, "m0014", tmp_path_factory, postgres)))
    directory = app.extensions["migrate"].directory
    with app.app_context():
        flask_migrate.upgrade(
            directory=directory, revision=ScriptDirectory(directory).get_revision("0014").down_revision
        )
        now = datetime.now(UTC)
        meta = sa.MetaData()
        table = {
            name: sa.Table(name, meta, autoload_with=db.engine)
            for name in ("school", "user_account", "student", "checkin_plan", "checkin")
        }
        stamps = {"created_at": now, "updated_at": now}
        with db.engine.begin() as conn:
            conn.execute(
                table["school"].insert(),
                {"id": 1, "sourced_id": "s1", "name": "North", "level": "middle", "is_active": True, **stamps},
            )
            conn.execute(
                table["user_account"].insert(),
                {
                    "id": 1,
                    "email": "c@example.org",
                    "name": "C",
                    "role": "counselor",
                    "must_change_password": False,
                    "is_active": True,
                    "can_export_student_level": False,
                    **stamps,
                },
            )
            conn.execute(
                table["student"].insert(),
                {
                    "id": 1,
                    "sourced_id": "st1",
                    "school_id": 1,
                    "given_name": "A",
                    "family_name": "B",
                    "is_active": True,
                    **stamps,
                },
            )
    plan = {
        "student_id": 1,
        "school_id": 1,
        "counselor_id": 1,
        "cadence": "weekly",
        "duration_minutes": 20,
        "local_time": time(10),
        "starts_on": date(2026, 10, 1),
        "until": date(2027, 6, 30),
        "non_school_day": "move",
        "status": "active",
        "needs_handoff": False,
        **stamps,
    }
    return app, directory, table, plan


def test_migration_0014_ends_plans_made_twice_before_it_guards_against_them(backend, tmp_path_factory, postgres):
    """Plans made twice by a double click before the guard existed: the earliest stays, the later
    ones end as an ended plan does (upcoming check-ins cancelled, calendars told), history kept."""
    import flask_migrate
    import sqlalchemy as sa

    app, directory, table, plan = _before_0014(backend, tmp_path_factory, postgres)
    now = plan["created_at"]
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(
                table["checkin_plan"].insert(),
                [
                    {**plan, "id": 1},
                    {**plan, "id": 2},  # the double click
                    {**plan, "id": 3, "local_time": time(14)},  # another time: a plan of its own
                    {**plan, "id": 4, "status": "ended"},
                    {**plan, "id": 5},  # a triple click
                ],
            )
            rows = [
                (plan_id, n, due, status)
                for plan_id in (1, 2)
                for n, due, status in (
                    (1, now - timedelta(days=2), "scheduled"),
                    (2, now + timedelta(days=2), "scheduled"),
                    (3, now - timedelta(days=9), "completed"),
                )
            ]
            conn.execute(
                table["checkin"].insert(),
                [
                    {
                        "id": plan_id * 10 + n,
                        "plan_id": plan_id,
                        "student_id": 1,
                        "school_id": 1,
                        "counselor_id": 1,
                        "occurrence": date(2026, 10, n),
                        "due_at": due,
                        "duration_minutes": 20,
                        "status": status,
                        "outcome": "doing_well" if status == "completed" else None,
                        "is_rescheduled": False,
                        "sequence": 0,
                        "updated_at": now,
                    }
                    for plan_id, n, due, status in rows
                ],
            )
        flask_migrate.upgrade(directory=directory, revision="0014")
        with db.engine.connect() as conn:
            plans = dict(conn.execute(sa.text("SELECT id, status FROM checkin_plan")).all())
            assert plans == {1: "active", 2: "ended", 3: "active", 4: "ended", 5: "ended"}
            assert conn.scalar(sa.text("SELECT ended_at FROM checkin_plan WHERE id = 2")) is not None
            checkins = {
                i: (status, seq) for i, status, seq in conn.execute(sa.text("SELECT id, status, sequence FROM checkin"))
            }
            assert checkins == {
                11: ("scheduled", 0),
                12: ("scheduled", 0),
                13: ("completed", 0),
                21: ("scheduled", 0),
                22: ("cancelled", 1),
                23: ("completed", 0),
            }
            conn.rollback()
            # From now on the database itself refuses a second active plan with the same first meeting.
            with pytest.raises(sa.exc.IntegrityError), conn.begin():
                conn.execute(table["checkin_plan"].insert(), {**plan, "id": 6})
        db.engine.dispose()


def test_migration_0014_stops_and_names_plans_that_share_a_first_meeting_but_differ(
    backend, tmp_path_factory, postgres, capfd
):
    """Two plans with one first meeting and different details may both have been meant: a person decides."""
    import flask_migrate

    app, directory, table, plan = _before_0014(backend, tmp_path_factory, postgres)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(table["checkin_plan"].insert(), [{**plan, "id": 7}, {**plan, "id": 8, "cadence": "monthly"}])
        with pytest.raises(SystemExit):  # flask_migrate logs the error and exits, as `flask db upgrade` does
            flask_migrate.upgrade(directory=directory, revision="0014")
        assert (
            "1 active check-in plan(s) start on the same day at the same time as an earlier active plan of the "
            "same student and counselor but differ from it otherwise: #8. End or edit"
        ) in capfd.readouterr().err
        with db.engine.connect() as conn:  # nothing was changed
            assert conn.execute(text("SELECT id, status FROM checkin_plan ORDER BY id")).all() == [
                (7, "active"),
                (8, "active"),
            ]
        db.engine.dispose()
