"""A counselor plans weekly check-ins with a student, finds them on the plan and under "My
check-ins", records one with an outcome and a restricted note, sees it counted, is reminded of
the next one in the notification centre, and finally ends the plan (after a confirmation)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.checkins.jobs import remind
from school_prevention.checkins.models import CheckIn, CheckInPlan, NonSchoolDay
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.programs.queries import in_any_program
from school_prevention.referrals.models import Referral
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.e2e.journeys import CHECKIN_OFFSETS, PROGRAM_OFFSETS, sign_in

SCHOOL = "demo-cedar-ms"
# Cedar students at these offsets (by id, tests/e2e/journeys.py) are used by no other journey: the demo seeds cases at
# 0-8 and programs at 100-115, the case-work journey takes 40, the programs journey PROGRAM_OFFSETS.
OFFSETS = CHECKIN_OFFSETS
CASEWORK_OFFSET = 40
AT = time(14, 45)
WEEKS = 8
REASON = "Support after a move to foster care"
NOTE = "Settling in with the new family; asked to keep meeting every week."


def journey_student(live_server) -> Student:
    """The first student at OFFSETS with nothing recorded: no plan, flag, referral or program."""
    assert not set(OFFSETS) & set(PROGRAM_OFFSETS) and CASEWORK_OFFSET not in OFFSETS
    with live_server.app.app_context():
        cedar = db.session.scalars(
            select(Student)
            .join(School)
            .where(School.sourced_id == SCHOOL)
            .order_by(Student.id)
            .offset(OFFSETS.start)
            .limit(len(OFFSETS))
        ).all()
        ids = [s.id for s in cedar]
        busy = set(db.session.scalars(select(CheckInPlan.student_id).where(CheckInPlan.student_id.in_(ids))))
        busy |= set(db.session.scalars(select(RiskFlag.student_id).where(RiskFlag.student_id.in_(ids))))
        busy |= set(db.session.scalars(select(Referral.student_id).where(Referral.student_id.in_(ids))))
        busy |= set(db.session.scalars(select(Student.id).where(Student.id.in_(ids), in_any_program())))
        free = [s for s in cedar if s.is_active and s.id not in busy]
        assert free, f"every Cedar student at {OFFSETS} already has a case, a plan or a program"
        return free[0]


def closed_days(live_server) -> set[date]:
    """The demo district's holidays and breaks."""
    with live_server.app.app_context():
        return set(db.session.scalars(select(NonSchoolDay.day)))


def is_school_day(day: date, closed: set[date]) -> bool:
    return day.weekday() < 5 and day not in closed


def next_school_day_after(day: date, closed: set[date]) -> date:
    day += timedelta(days=1)
    while not is_school_day(day, closed):
        day += timedelta(days=1)
    return day


def local_now(live_server) -> datetime:
    """The district's wall-clock time, to the minute."""
    return datetime.now(ZoneInfo(live_server.app.config["SP_TIMEZONE"])).replace(tzinfo=None, second=0, microsecond=0)


def shown(moment: datetime, fmt: str = "%a %b %-d, %-I:%M %p") -> str:
    """A local date-time as the check-in pages print it."""
    return moment.strftime(fmt)


def unread(page) -> int:
    """The unread count the header shows next to "Notifications" (0 when it shows none)."""
    text = page.get_by_role("link", name=re.compile(r"^Notifications")).inner_text()
    found = re.search(r"\d+", text)
    return int(found.group()) if found else 0


def test_weekly_plan_completed_check_in_and_reminder(journey, live_server):
    student = journey_student(live_server)
    page = journey.page
    now = local_now(live_server)
    closed = closed_days(live_server)
    # Weekly from the next school day; the plan skips a check-in that falls on a holiday.
    starts_on = next_school_day_after(now.date(), closed)
    until = starts_on + timedelta(weeks=WEEKS)
    weekly = [starts_on + timedelta(weeks=k) for k in range(WEEKS + 1)]
    expected = [datetime.combine(day, AT) for day in weekly if is_school_day(day, closed)]
    assert len(expected) >= 2, f"the demo calendar leaves fewer than two school days in {weekly}"
    first, second = expected[0], expected[1]
    sign_in(journey, "counselor@demo.school")

    # The student's page: no plan yet.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Students").click()
    journey.axe()
    page.get_by_label("Name or SIS id").fill(student.identifier)
    page.get_by_role("button", name="Show students").click()
    journey.axe()
    page.get_by_role("link", name=student.display_name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(student.display_name)
    checkins = page.get_by_role("region", name="Check-ins")
    expect(checkins).to_contain_text("No check-in plan.")
    journey.axe()

    # Weekly at 2:45 PM for eight weeks. The counselor first ticks "Custom rule" by mistake and
    # is told, next to the rule field, what it needs; what was typed is kept.
    checkins.get_by_role("link", name="Plan check-ins").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"with {student.display_name}")
    journey.axe()
    page.get_by_label("First check-in on").fill(starts_on.isoformat())
    page.get_by_label("Time of day", exact=True).fill(AT.strftime("%H:%M"))
    page.get_by_label("Until").fill(until.isoformat())
    page.get_by_role("group", name="When a check-in falls on a non-school day").get_by_label(
        "Skip that check-in"
    ).check()
    page.get_by_label("Reason").fill(REASON)
    how_often = page.get_by_role("group", name="How often")
    how_often.get_by_label("Custom rule (RRULE)").check()
    page.get_by_role("button", name="Start plan").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct")
    rule = page.get_by_role("textbox", name="Custom rule")
    expect(rule).to_have_attribute("aria-invalid", "true")
    expect(rule).to_have_accessible_description(re.compile("Enter a rule, for example FREQ=WEEKLY"))
    expect(page.get_by_label("Time of day", exact=True)).to_have_value(AT.strftime("%H:%M"))
    expect(page.get_by_label("Reason")).to_have_value(REASON)
    journey.axe()
    how_often.get_by_label("Every week").check()
    page.get_by_role("button", name="Start plan").click()

    # The plan page lists every check-in of the eight weeks in local time.
    expect(page.get_by_role("status")).to_have_text("Check-in plan started: every week at 2:45 PM.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Check-ins with {student.display_name}")
    expect(page.get_by_text(f"Reason: {REASON}")).to_be_visible()
    scheduled = page.get_by_role("region", name=re.compile(r"^Scheduled"))
    expect(scheduled.get_by_role("heading")).to_have_text(f"Scheduled ({len(expected)})")
    rows = scheduled.get_by_role("row")
    expect(rows).to_have_count(1 + len(expected))  # the header row, then one per check-in
    expect(rows.nth(1).get_by_role("cell")).to_have_text([shown(first, "%a %b %-d, %Y, %-I:%M %p"), "Scheduled", "—"])
    expect(rows.nth(2).get_by_role("cell")).to_have_text([shown(second, "%a %b %-d, %Y, %-I:%M %p"), "Scheduled", "—"])
    expect(page.get_by_role("region", name="Closed (0)")).to_contain_text("None completed")
    journey.axe()

    # The student asks to meet this morning instead: the counselor moves the first check-in,
    # and "My check-ins" lists it at its new time.
    rows.nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Check-in with {student.display_name}")
    expect(page.get_by_role("region", name="Record the outcome")).to_contain_text(
        "can be recorded from 12 hours before"
    )
    journey.axe()
    sooner = now + timedelta(minutes=10)
    page.get_by_label("New date and time").fill(sooner.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Reschedule").click()
    expect(page.get_by_role("status")).to_have_text(f"Check-in moved to {shown(sooner)}.")
    expect(page.get_by_role("heading", level=1)).to_have_text("My check-ins")
    soon = page.get_by_role("region", name=re.compile(r"^(Today|Next 7 days)"))
    item = soon.get_by_role("listitem").filter(has=page.get_by_role("link", name=student.display_name, exact=True))
    expect(item).to_contain_text(shown(sooner))
    expect(item).to_contain_text("rescheduled")
    journey.axe()

    # They meet; the counselor records the outcome and a restricted note.
    item.get_by_role("link", name=student.display_name, exact=True).click()
    journey.axe()
    page.get_by_role("group", name="Outcome").get_by_label("Met: doing well").check()
    page.get_by_label("Restricted note").fill(NOTE)
    page.get_by_role("button", name="Complete check-in").click()
    # The message names no one (it travels in the session cookie); the list below shows who.
    expect(page.get_by_role("status")).to_have_text("Check-in completed: the student is doing well.")
    done = page.get_by_role("region", name="Recently closed")
    expect(
        done.get_by_role("listitem").filter(has=page.get_by_role("link", name=student.display_name))
    ).to_contain_text("Met: doing well")
    # Done, it has left the to-do lists (the next one is more than a week away).
    expect(page.get_by_role("main").get_by_role("link", name=student.display_name, exact=True)).to_have_count(1)
    journey.axe()
    done.get_by_role("link", name=student.display_name).click()
    expect(page.get_by_text(NOTE)).to_be_visible()
    journey.axe()

    # It counts as done on the student's page and on the plan; next is the plan's second week.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=student.display_name).click()
    checkins = page.get_by_role("region", name="Check-ins")
    expect(checkins).to_contain_text(f"1 completed, last {shown(sooner, '%b %-d')}")
    expect(checkins).to_contain_text(f"Next: {shown(second)}")
    journey.axe()
    checkins.get_by_role("link", name=re.compile(r"^Every week at 2:45 PM")).click()
    expect(page.get_by_role("region", name=re.compile(r"^Scheduled")).get_by_role("heading")).to_have_text(
        f"Scheduled ({len(expected) - 1})"
    )
    closed_rows = page.get_by_role("region", name="Closed (1)").get_by_role("row")
    expect(closed_rows.nth(1).get_by_role("cell")).to_have_text(
        [
            re.compile("^" + re.escape(shown(sooner, "%a %b %-d, %Y, %-I:%M %p")) + r"\s*\(rescheduled\)$"),
            "Completed",
            "Met: doing well",
        ]
    )
    journey.axe()

    # Half an hour before the next check-in the reminder job runs: the unread count goes up.
    before = unread(page)
    with live_server.app.app_context():
        due = db.session.scalars(
            select(CheckIn.due_at)
            .where(CheckIn.student_id == student.id, CheckIn.status == "scheduled")
            .order_by(CheckIn.due_at)
            .limit(1)
        ).one()
        assert remind(due - timedelta(minutes=30)) >= 1
        db.session.commit()
    page.reload()
    after = unread(page)
    assert after > before
    journey.axe()
    page.get_by_role("link", name=re.compile(r"^Notifications")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    title = f"Check-in with {student.initials} at {shown(second)}"
    reminder = page.get_by_role("button", name=f"Unread: {title}", exact=True)
    expect(reminder).to_have_count(1)
    journey.axe()

    # Opening it marks it read (the count goes down by one) and leads to that check-in.
    reminder.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Check-in with {student.display_name}")
    expect(page.get_by_role("main")).to_contain_text(shown(second, "%A %b %-d, %Y, %-I:%M %p"))
    assert unread(page) == after - 1
    journey.axe()
    page.get_by_role("link", name=re.compile(r"^Notifications")).click()
    expect(page.get_by_role("button", name=title, exact=True)).to_have_count(1)
    journey.axe()

    # Ending the plan asks first (dismissed: nothing changes); confirmed, it cancels what is ahead.
    page.get_by_role("button", name=title, exact=True).click()
    page.get_by_role("link", name="Plan: every week at 2:45 PM").click()
    journey.axe()
    ahead = len(expected) - 1
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="End plan").click()
    assert questions == [
        f"End the check-in plan with {student.display_name}? {ahead} upcoming check-ins will be "
        "cancelled; completed ones are kept."
    ]
    expect(page.get_by_role("region", name=re.compile(r"^Scheduled"))).to_contain_text(f"Scheduled ({ahead})")
    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="End plan").click()
    expect(page.get_by_role("status")).to_have_text(f"Plan ended; {ahead} upcoming check-ins cancelled.")
    expect(page.get_by_role("heading", level=1)).to_have_text(student.display_name)
    expect(page.get_by_role("region", name="Check-ins")).to_contain_text(
        "No check-in plan. 1 completed in earlier plans."
    )
    journey.axe()
