"""The issue's key journey: a counselor opens the app and sees what is due today, lists their
urgent-flag students without a plan, starts plans for three at once, and keeps the list as a view;
the principal's home shows the coverage headline and who is flagged and not covered."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckInPlan
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.flags.services import create_flag
from school_prevention.referrals.models import Referral
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.e2e.journeys import sign_in
from tests.factories import category

# Maple students at these offsets (by id) are used by no other journey and by no demo case.
OFFSETS = range(140, 152)


def urgent_students(live_server) -> list[Student]:
    """Three Maple students with nothing recorded, each given an urgent flag by the demo counselor."""
    with live_server.app.app_context():
        maple = db.session.scalars(
            select(Student)
            .join(School)
            .where(School.sourced_id == "demo-maple-es")
            .order_by(Student.id)
            .offset(OFFSETS.start)
            .limit(len(OFFSETS))
        ).all()
        ids = [s.id for s in maple]
        busy = set(db.session.scalars(select(CheckInPlan.student_id).where(CheckInPlan.student_id.in_(ids))))
        busy |= set(db.session.scalars(select(RiskFlag.student_id).where(RiskFlag.student_id.in_(ids))))
        busy |= set(db.session.scalars(select(Referral.student_id).where(Referral.student_id.in_(ids))))
        free = [s for s in maple if s.is_active and s.id not in busy][:3]
        assert len(free) == 3, f"fewer than three Maple students at {OFFSETS} have nothing recorded"
        counselor = db.session.scalars(select(User).where(User.email == "counselor@demo.school")).one()
        for student in free:
            create_flag(
                counselor,
                student,
                category=category("Bullying"),
                severity="urgent",
                source="counselor_observation",
                note=None,
            )
        db.session.commit()
        for student in free:
            db.session.refresh(student)
        db.session.expunge_all()
        return free


def test_a_counselor_lists_urgent_flags_without_a_plan_and_starts_three_plans_at_once(journey, live_server):
    students = urgent_students(live_server)
    page = journey.page
    sign_in(journey, "counselor@demo.school")

    # The home page says what is due, and how many urgent flags have no plan.
    expect(page.get_by_role("heading", name="Check-ins")).to_be_visible()
    expect(page.get_by_text("Students with check-ins overdue")).to_be_visible()
    urgent = page.locator(".figure", has_text="Urgent flags without a check-in plan")
    waiting = int(urgent.locator("strong").inner_text())
    assert waiting >= 3
    urgent.get_by_role("link", name="see who").click()

    # The caseload, filtered: urgent flags, no plan.
    expect(page.get_by_role("heading", level=1)).to_have_text("Students")
    expect(page.get_by_label("Flag severity")).to_have_value("urgent")
    expect(page.get_by_label("Check-in plan")).to_have_value("none")
    expect(page.get_by_role("heading", name=re.compile(rf"^{waiting:,} students?$"))).to_be_visible()
    journey.axe()

    # Keep it as a view.
    page.get_by_text("Save these filters as a view").click()
    page.get_by_label("View name").fill("Urgent, no plan")
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_text("View saved.")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Your views").get_by_role("link", name="Urgent, no plan")
    ).to_be_visible()
    journey.axe()

    # Tick three and start their plans with one form.
    for student in students:
        page.get_by_label(f"Select {student.display_name}", exact=True).check()
    page.get_by_role("button", name="Start check-in plans…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Start the same check-in plan for each")
    expect(page.get_by_text("3 students ticked")).to_be_visible()
    journey.axe()
    page.get_by_label("Every two weeks").check()
    page.get_by_label("First check-in on").fill((date.today() + timedelta(days=1)).isoformat())
    page.get_by_label("Time of day").fill("09:15")
    page.get_by_label("Reason").fill("Urgent bullying flag")
    page.get_by_role("button", name="Start 3 plans").click()

    # One page says what happened to each.
    expect(page.get_by_role("heading", level=1)).to_have_text("Start check-in plans: 3 of 3 done")
    for student in students:
        row = page.get_by_role("row", name=re.compile(re.escape(student.display_name)))
        expect(row).to_contain_text("Plan started with Casey Counselor, linked to the urgent bullying")
    journey.axe()

    # Back on the list (the saved view), the three are no longer there.
    page.get_by_role("link", name="Back to the list").click()
    expect(page.get_by_label("Check-in plan")).to_have_value("none")
    for student in students:
        expect(page.get_by_role("link", name=student.display_name, exact=True)).to_have_count(0)
    journey.axe()

    # The home page's figure went down by three; the saved view is one click away.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    expect(page.locator(".figure", has_text="Urgent flags without a check-in plan").locator("strong")).to_have_text(
        f"{waiting - 3:,}"
    )
    expect(page.get_by_role("link", name="Urgent, no plan")).to_be_visible()
    journey.axe()
    with live_server.app.app_context():
        plans = db.session.scalars(
            select(CheckInPlan).where(
                CheckInPlan.student_id.in_([s.id for s in students]), CheckInPlan.status == "active"
            )
        ).all()
        assert len(plans) == 3 and {p.cadence for p in plans} == {"biweekly"}
        assert all(p.flag_id is not None for p in plans)


def test_the_principal_sees_coverage_and_who_is_not_covered(journey, live_server):
    page = journey.page
    sign_in(journey, "principal@demo.school")
    card = page.locator("section", has=page.get_by_role("heading", name="Coverage"))
    expect(card.get_by_text("Covered by neither")).to_be_visible()
    neither = int(card.locator(".figure", has_text="Covered by neither").locator("strong").inner_text())
    if neither:
        expect(card.get_by_role("heading", name=re.compile("Flagged and not covered"))).to_be_visible()
        card.get_by_role("link", name=f"All {neither} on the student list").click()
        expect(page.get_by_role("heading", name=re.compile(rf"^{neither:,} students?$"))).to_be_visible()
        journey.axe()
        # A principal enrolls and assigns (no check-in plans): the forms name the ticked students.
        expect(page.get_by_role("button", name="Start check-in plans…")).to_have_count(0)
        ticks = page.get_by_role("checkbox", name=re.compile("^Select "))
        page.get_by_role("link", name="Select all on this page").click()
        expect(ticks.first).to_be_checked()
        expect(ticks.last).to_be_checked()
        journey.axe()
        page.get_by_role("button", name="Enroll in a program…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Enroll each in a program")
        expect(page.get_by_text(re.compile(rf"^{neither} students? ticked$"))).to_be_visible()
        journey.axe()
        page.get_by_role("link", name="Cancel, back to the list").click()
        expect(ticks.first).not_to_be_checked()
        journey.axe()
        ticks.first.check()
        page.get_by_role("button", name="Assign a counselor…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Put each on a counselor’s caseload")
        journey.axe()
        page.get_by_label("Counselor").select_option(label="Casey Counselor")
        page.get_by_role("button", name="Assign").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Assign a counselor: 1 of 1 done")
        journey.axe()
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    card.get_by_role("link", name="Open the coverage page").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Coverage")
    journey.axe()
