"""A counselor creates a two-seat program, enrolls three students, sees the third waitlisted,
withdraws one and sees the promotion, then takes attendance and reads the dosage."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.programs.queries import in_any_program
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.e2e.journeys import PROGRAM_OFFSETS, sign_in

PROGRAM = "Lunch Bunch Friendship Group (e2e)"
SCHOOL = "Cedar Middle School"
# Cedar students at these offsets (by id) are used by no other journey and by no demo program.
OFFSETS = PROGRAM_OFFSETS


def journey_students(live_server) -> tuple[Student, Student, Student]:
    """One student found by student number, then two who share a family name (found together
    by one search): the last of them is the one who ends up on the waitlist."""
    with live_server.app.app_context():
        cedar = db.session.scalars(
            select(Student)
            .join(School)
            .where(School.sourced_id == "demo-cedar-ms")
            .order_by(Student.id)
            .offset(OFFSETS.start)
            .limit(len(OFFSETS))
        ).all()
        busy = set(
            db.session.scalars(select(Student.id).where(Student.id.in_([s.id for s in cedar]), in_any_program()))
        )
        free = [s for s in cedar if s.is_active and s.id not in busy]
        by_family = defaultdict(list)
        for s in free:
            by_family[s.family_name].append(s)
        family = next((f for f, group in by_family.items() if len(group) >= 2), None)
        assert family, f"the demo data no longer has two free Cedar students sharing a family name at {OFFSETS}"
        namesakes = db.session.scalars(
            select(Student).join(School).where(School.sourced_id == "demo-cedar-ms", Student.family_name == family)
        ).all()
        labels = [f"{s.display_name} (grade {s.grade_label})" for s in namesakes]
        assert len(labels) == len(set(labels)) and len(labels) <= 25, f"searching {family!r} would be ambiguous"
        second, third = sorted(by_family[family], key=lambda s: (s.given_name, s.id))[:2]
        first = next(s for s in free if s.family_name != family)
        return first, second, third


def label(student: Student) -> str:
    return f"{student.display_name} (grade {student.grade_label})"


def find(journey, query: str) -> None:
    """The program page's search; it reloads the page, so ticks from before are gone."""
    page = journey.page
    page.get_by_label("Find a student").fill(query)
    page.get_by_role("button", name="Find", exact=True).click()
    expect(page.get_by_role("group", name=f"Found for “{query}”")).to_be_visible()
    journey.axe()


def test_two_seats_three_students_waitlist_promotion_and_dosage(journey, live_server):
    first, second, third = journey_students(live_server)
    page = journey.page
    sign_in(journey, "counselor@demo.school")

    # A new program with two seats.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Programs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Prevention programs")
    journey.axe()
    page.get_by_role("link", name="New program").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New program")
    journey.axe()
    page.get_by_label("School", exact=True).select_option(label=SCHOOL)
    page.get_by_label("Kind of program").select_option(label="Counseling group")
    page.get_by_label("Name", exact=True).fill(PROGRAM)
    page.get_by_label("Description").fill("A small lunchtime group for students who find it hard to make friends.")
    page.get_by_label("Facilitator").fill("Casey Counselor")
    page.get_by_label("Capacity (seats)").fill("2")
    page.get_by_label("Usual session length (minutes)").fill("30")
    page.get_by_label("Starts").fill((date.today() - timedelta(days=7)).isoformat())
    page.get_by_label("Meeting schedule").fill("Wednesdays, lunch")
    page.get_by_label("Location").fill("Counseling office")
    expect(page.get_by_label("Running (takes enrollments)")).to_be_checked()
    page.get_by_role("button", name="Create program").click()
    expect(page.get_by_role("status")).to_have_text(f"Program “{PROGRAM}” created with 2 seats.")
    expect(page.get_by_role("heading", level=1)).to_have_text(PROGRAM)
    expect(page.get_by_text("0 of 2 seats taken")).to_be_visible()
    journey.axe()
    roster = page.get_by_role("region", name=re.compile(r"^Enrolled"))
    waitlist = page.get_by_role("region", name=re.compile(r"^Waitlist"))

    # Enroll three students. The ticks live in the search results, and every search reloads the
    # page, so a counselor enrolls one search at a time: first by student number...
    find(journey, first.identifier)
    page.get_by_label(label(first)).check()
    page.get_by_role("button", name="Enroll ticked students").click()
    expect(page.get_by_role("status")).to_have_text("1 enrolled.")
    expect(roster.get_by_role("link", name=first.display_name, exact=True)).to_be_visible()
    journey.axe()

    # ...then the two who share a family name, ticked together in one search.
    find(journey, second.family_name)
    page.get_by_label(label(second)).check()
    page.get_by_label(label(third)).check()
    page.get_by_role("button", name="Enroll ticked students").click()
    expect(page.get_by_role("status")).to_have_text("1 enrolled; 1 waitlisted (the program is full).")
    expect(page.get_by_text("2 of 2 seats taken")).to_be_visible()
    expect(roster.get_by_role("heading")).to_have_text("Enrolled (2 of 2)")
    expect(roster.get_by_role("row")).to_have_count(3)  # header + two students
    expect(roster.get_by_role("link", name=first.display_name, exact=True)).to_be_visible()
    expect(roster.get_by_role("link", name=second.display_name, exact=True)).to_be_visible()
    expect(waitlist.get_by_role("heading")).to_have_text("Waitlist (1)")
    expect(waitlist.get_by_role("listitem")).to_have_count(1)
    expect(waitlist.get_by_role("listitem")).to_contain_text(third.display_name)
    journey.axe()

    # Withdraw the first student: the waitlisted one takes the seat.
    roster.get_by_role("link", name=f"Withdraw {first.display_name}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(first.display_name)
    journey.axe()
    outcome = page.get_by_role("group", name="Outcome")
    expect(outcome.get_by_label("Withdrawn")).to_be_checked()
    page.get_by_label("Reason").fill("Schedule conflict with lunchtime tutoring")
    page.get_by_role("button", name="Save").click()
    # The message names no one (it travels in the session cookie); the roster below shows who.
    expect(page.get_by_role("status")).to_have_text(
        "Enrollment ended: withdrawn. 1 student moved from the waitlist into the seat."
    )
    expect(waitlist.get_by_role("heading")).to_have_text("Waitlist (0)")
    expect(waitlist).to_contain_text("Nobody is waiting.")
    expect(roster.get_by_role("heading")).to_have_text("Enrolled (2 of 2)")
    expect(roster.get_by_role("link", name=third.display_name, exact=True)).to_be_visible()
    expect(roster.get_by_role("link", name=first.display_name, exact=True)).to_have_count(0)
    past = page.get_by_role("region", name=re.compile(r"^Completed and withdrawn"))
    expect(past.get_by_role("row", name=re.compile(re.escape(first.display_name)))).to_contain_text(
        "Schedule conflict with lunchtime tutoring"
    )
    journey.axe()

    # Record a session: one present, one excused; only "present" counts.
    page.get_by_role("link", name="Record a session").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Record a session")
    journey.axe()
    expect(page.get_by_label("Length (minutes)")).to_have_value("30")
    page.get_by_label("Length (minutes)").fill("35")
    page.get_by_label("Topic").fill("Week 1: getting to know each other")
    page.get_by_role("radio", name=f"{second.display_name} Present").check()
    page.get_by_role("radio", name=f"{third.display_name} Excused").check()
    page.get_by_role("button", name="Save session").click()
    expect(page.get_by_role("status")).to_have_text("Session saved: 1 of 2 present.")
    for student, sessions, minutes in ((second, "1", "35"), (third, "0", "0")):
        row = roster.get_by_role("row", name=re.compile(re.escape(student.display_name)))
        expect(row.get_by_role("cell")).to_have_text(
            [student.grade_label, re.compile(r"\d{4}"), sessions, minutes, re.compile("Withdraw")]
        )
    expect(page.get_by_role("region", name="Sessions").get_by_role("row", name=re.compile("Week 1"))).to_contain_text(
        "35"
    )
    journey.axe()

    # The student's own page shows the program and what they received of it.
    roster.get_by_role("link", name=second.display_name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(second.display_name)
    programs = page.get_by_role("region", name="Programs")
    expect(programs.get_by_role("listitem").filter(has=page.get_by_role("link", name=PROGRAM))).to_contain_text(
        "enrolled 1 session, 35 minutes attended"
    )
    journey.axe()
