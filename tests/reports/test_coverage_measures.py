"""The coverage measures where their SQL takes shortcuts: students with many flags, past periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.reports.coverage import build_period, make_period, school_report
from school_prevention.reports.district import district_report
from school_prevention.reports.periods import last_complete_months, month_of
from school_prevention.timezones import district_zone
from tests.factories import make_flag, make_school, make_student, make_user

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def categories(db_session):
    """Four seeded categories, in id order (the query reads a student's first and last by id)."""
    rows = db.session.scalars(select(FlagCategory).order_by(FlagCategory.id).limit(4)).all()
    assert len(rows) == 4
    return rows


def test_a_student_counts_once_under_each_category_they_have_a_current_flag_in(db_session, categories):
    c1, c2, c3, c4 = categories
    school = make_school(name="Alder Middle", level="middle")
    counselor = make_user("counselor", schools=[school])
    students = [make_student(school, grade="07") for _ in range(5)]
    plan = {  # student -> (category, severity) of each of their flags
        0: [(c1, "low"), (c3, "urgent"), (c4, "low"), (c3, "moderate")],  # three categories, one twice
        1: [(c2, "moderate"), (c2, "high")],  # one category, twice
        2: [(c4, "low")],
        3: [(c1, "low"), (c2, "low"), (c3, "high")],  # the middle one is neither first nor last
        4: [(c3, "moderate")],
    }
    for i, flags in plan.items():
        for cat, severity in flags:
            make_flag(students[i], counselor, category_name=cat.name, severity=severity)
    resolved = make_flag(students[2], counselor, category_name=c2.name, severity="urgent")
    resolved.status = "resolved"  # not current: neither its category nor its severity counts
    db.session.flush()

    period = make_period(NOW)
    report = school_report(school, period)
    concern = {line["label"]: line["flagged_students"] for line in report.breakdowns["category"]}
    assert concern == {c1.name: 2, c2.name: 2, c3.name: 3, c4.name: 2}
    severity = {line["label"]: line["flagged_students"] for line in report.breakdowns["severity"]}
    assert severity == {"Urgent": 1, "High": 2, "Moderate": 1, "Low": 1}
    assert report.totals["flagged_students"] == 5

    district = district_report(last_complete_months(NOW, district_zone(), 1)[0], None, min_n=1, now=NOW)
    by_category = {line["label"]: line["flagged_students"] for line in district.breakdowns["category"]}
    assert by_category == concern


def _plan(student, counselor, starts):
    plan = CheckInPlan(
        student_id=student.id,
        school_id=student.school_id,
        counselor_id=counselor.id,
        cadence="weekly",
        local_time=time(10),
        starts_on=starts,
        until=NOW.date() + timedelta(days=100),
        created_by_id=counselor.id,
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def _checkin(plan, days_ago: float, *, late: bool = False):
    due = NOW - timedelta(days=days_ago)
    done = due + (timedelta(days=2) if late else timedelta(hours=3))
    db.session.add(
        CheckIn(
            plan_id=plan.id,
            student_id=plan.student_id,
            school_id=plan.school_id,
            counselor_id=plan.counselor_id,
            occurrence=due.date(),
            due_at=due,
            status="completed",
            outcome="doing_well",
            completed_at=done,
            completed_by_id=plan.counselor_id,
            updated_at=done,
        )
    )
    db.session.flush()


def test_check_ins_of_a_past_period_and_of_the_rolling_windows(db_session):
    school = make_school(name="Birch High", level="high")
    counselor = make_user("counselor", schools=[school])
    student = make_student(school, grade="10")
    plan = _plan(student, counselor, NOW.date() - timedelta(days=130))
    _checkin(plan, 110)  # in the period only (its second week)
    _checkin(plan, 68, late=True)  # in the period (its eighth week) and the last 90 days, late
    _checkin(plan, 66)  # the same week, kept
    _checkin(plan, 20)  # in the last 30 (and 90) days, after the period
    _checkin(plan, 5, late=True)  # in the last 30 days, late
    today = make_period(NOW).today
    period = build_period(today - timedelta(days=120), today - timedelta(days=60), now=NOW)

    report = school_report(school, period)
    row = report.totals
    assert {w: (row[f"checkins_due_{w}"], row[f"checkins_on_time_{w}"]) for w in ("30d", "90d", "period")} == {
        "30d": (2, 1),
        "90d": (4, 2),
        "period": (3, 2),
    }
    # Calendar weeks (Monday to Sunday), the first and last cut to the period.
    assert all(w["start"].weekday() == 0 for w in report.weeks[1:]) and report.weeks[0]["start"] == period.start
    assert all(w["end"].weekday() == 6 for w in report.weeks[:-1]) and report.weeks[-1]["end"] == period.end

    def week_of(days_ago):
        day = (NOW - timedelta(days=days_ago)).astimezone(period.zone).date()
        return next(i for i, w in enumerate(report.weeks) if w["start"] <= day <= w["end"])

    expected: dict[int, list[int]] = {}
    for days_ago, kept in ((110, 1), (68, 0), (66, 1)):
        due_kept = expected.setdefault(week_of(days_ago), [0, 0])
        due_kept[0] += 1
        due_kept[1] += kept
    assert {
        i: [w["checkins_due"], w["checkins_on_time"]] for i, w in enumerate(report.weeks) if w["checkins_due"]
    } == expected

    # The district counts whole reporting months: the last one, the last three, and the one chosen.
    recent = last_complete_months(NOW, district_zone(), 5)
    month_of_checkin = {
        days_ago: month_of((NOW - timedelta(days=days_ago)).astimezone(period.zone).date())
        for days_ago in (110, 68, 66, 20, 5)
    }
    kept = {110: 1, 68: 0, 66: 1, 20: 1, 5: 0}

    def counted(months):
        chosen = [d for d, m in month_of_checkin.items() if m in {p.months[0] for p in months}]
        return len(chosen), sum(kept[d] for d in chosen)

    for chosen in recent:
        row = next(r for r in district_report(chosen, None, min_n=1, now=NOW).rows if r["school_id"] == school.id)
        assert (row["checkins_due_30d"], row["checkins_on_time_30d"]) == counted(recent[-1:])
        assert (row["checkins_due_90d"], row["checkins_on_time_90d"]) == counted(recent[-3:])
        assert (row["checkins_due_period"], row["checkins_on_time_period"]) == counted([chosen])


def test_a_flagged_student_without_a_grade_counts_under_no_grade_on_both_pages(
    db_session, categories, client, login_as
):
    school = make_school(name="Birch Middle", level="middle")
    counselor = make_user("counselor", schools=[school])
    graded, ungraded = make_student(school, grade="07"), make_student(school, grade=None)
    make_student(school, grade=None)  # not flagged
    for student in (graded, ungraded):
        make_flag(student, counselor, category_name=categories[0].name, severity="high")
    period = make_period(NOW)

    grades = {
        line["label"]: (line["active_students"], line["flagged_students"])
        for line in school_report(school, period).breakdowns["grade"]
    }
    assert grades == {"Grade 7": (1, 1), "No grade": (2, 1)}
    district = district_report(last_complete_months(NOW, district_zone(), 1)[0], None, min_n=1, now=NOW)
    by_grade = {
        line["label"]: (line["active_students"], line["flagged_students"]) for line in district.breakdowns["grade"]
    }
    assert by_grade == {"Grade 7": (1, 1), "No grade": (2, 1)}

    login_as(make_user("district"))
    assert client.get("/reports/coverage").status_code == 200
    assert client.get("/exports/district.csv").status_code == 200


@pytest.mark.parametrize("sunday", [date(2026, 11, 1), date(2026, 3, 8)])  # daylight saving time ends, begins
def test_a_week_starts_at_local_midnight_on_monday_across_daylight_saving_changes(db_session, sunday):
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Chicago")
    school = make_school(name="Cedar Middle", level="middle")
    counselor = make_user("counselor", schools=[school])
    plan = _plan(make_student(school, grade="07"), counselor, sunday - timedelta(days=30))
    times = ((sunday, 23, 59), (sunday + timedelta(days=1), 0, 0), (sunday + timedelta(days=1), 0, 30))
    for i, (day, hour, minute) in enumerate(times):
        due = datetime.combine(day, time(hour, minute)).replace(tzinfo=zone).astimezone(UTC)
        db.session.add(
            CheckIn(
                plan_id=plan.id,
                student_id=plan.student_id,
                school_id=school.id,
                counselor_id=counselor.id,
                occurrence=day - timedelta(days=10 * i),
                due_at=due,
                status="scheduled",
                updated_at=due,
            )
        )
    db.session.flush()
    monday = sunday - timedelta(days=6)  # the week before the change, then the week after
    for start in (monday, monday - timedelta(days=3), monday - timedelta(days=63)):  # any start: the same weeks
        period = make_period(NOW, start, sunday + timedelta(days=7))
        weeks = {w["start"]: w["checkins_due"] for w in school_report(school, period).weeks if w["checkins_due"]}
        assert weeks == {monday if start <= monday else start: 1, sunday + timedelta(days=1): 2}, start
