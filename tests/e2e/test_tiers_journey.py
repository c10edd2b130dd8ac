"""A counselor moves a student to tier 2, makes an intervention plan (the empty form first, which lists
every problem at once), records progress and sees it on the goal-line chart and in its table, then
prints a summary for the student support team meeting (restricted notes left out; the print view shows
no navigation or buttons). A screenshot of the print view is kept with the journey's others."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from school_prevention.tiers.models import InterventionPlan, StudentTier
from school_prevention.timezones import district_today
from tests.e2e.journeys import CHECKIN_OFFSETS, PROGRAM_OFFSETS, sign_in

SCHOOL = "demo-cedar-ms"
OFFSETS = range(185, 195)  # Cedar students no other journey uses (the demo has 200)
REASON = "Attendance under 80% for six weeks; the team agreed on small-group support"
GOAL = "Attend school at least 4 days a week by the review"


def journey_student(live_server) -> Student:
    """The first Cedar student at OFFSETS with no tier move or plan (flags are welcome: the summary lists them)."""
    assert not set(OFFSETS) & (set(PROGRAM_OFFSETS) | set(CHECKIN_OFFSETS))
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
        busy = set(db.session.scalars(select(StudentTier.student_id).where(StudentTier.student_id.in_(ids))))
        busy |= set(db.session.scalars(select(InterventionPlan.student_id).where(InterventionPlan.student_id.in_(ids))))
        free = [s for s in cedar if s.is_active and s.id not in busy]
        assert free, f"every Cedar student at {OFFSETS} already has a tier or a plan"
        return free[0]


def test_tier_two_with_a_plan_progress_and_a_printed_summary(journey, live_server):
    student = journey_student(live_server)
    page = journey.page
    with live_server.app.app_context():
        today = district_today()
    started_on = today - timedelta(days=21)
    sign_in(journey, "counselor@demo.school")
    page.goto(f"/students/{student.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(student.display_name)
    tiers = page.get_by_role("region", name="Tier of support and intervention plans")
    expect(tiers).to_contain_text("Tier 1: universal")
    expect(tiers).to_contain_text("No intervention plan.")
    journey.axe()

    # Tier 2, with the reason the team agreed on.
    tiers.get_by_role("link", name="Change the tier or see its history").click()
    expect(page.get_by_text("Never moved from tier 1.")).to_be_visible()
    journey.axe()
    page.get_by_role("group", name="New tier").get_by_label(re.compile("^Tier 2: targeted")).check()
    page.get_by_label("Reason").fill(REASON)
    page.get_by_role("button", name="Change the tier").click()
    expect(page.get_by_role("status")).to_have_text("Moved to tier 2.")
    tiers = page.get_by_role("region", name="Tier of support and intervention plans")
    expect(tiers).to_contain_text("Tier 2: targeted")
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Moved from tier 1 to tier 2")
    journey.axe()

    # An intervention plan: sent empty first, every problem is listed at once; then filled in.
    tiers.get_by_role("link", name="New intervention plan").click()
    journey.axe()
    page.get_by_label("Baseline").fill("")
    page.get_by_role("button", name="Save the plan").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct")
    for message in (
        "Write the goal",
        "Say how progress is measured",
        "Enter the baseline as a number",
        "Enter the target as a number",
    ):
        expect(page.get_by_text(message)).to_be_visible()
    journey.axe()
    page.get_by_label("Goal").fill(GOAL)
    page.get_by_label("Measure").fill("Days attended per week")
    page.get_by_label("Baseline").fill("2")
    page.get_by_label("Target").fill("4")
    page.get_by_label("Starts on").fill(started_on.isoformat())
    page.get_by_role("button", name="Save the plan").click()
    expect(page.get_by_role("status")).to_contain_text("Intervention plan saved")
    expect(page.get_by_role("heading", level=1)).to_contain_text(student.display_name)
    expect(page.get_by_role("img", name=re.compile("Progress toward the goal"))).to_be_visible()
    journey.axe()

    # Progress: last week's value, then today's; the chart draws the points and the table gives the same figures.
    page.get_by_label("Date measured").fill((today - timedelta(days=7)).isoformat())
    page.get_by_label("Value").fill("2.5")
    page.get_by_role("button", name="Record", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Progress recorded.")
    journey.axe()
    page.get_by_label("Value").fill("3")
    page.get_by_label("Note (optional)").fill("From the attendance office")
    page.get_by_role("button", name="Record", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Progress recorded.")
    expect(page.locator("svg.goal-chart circle.progress-point")).to_have_count(2)
    table = page.get_by_role("table", name=re.compile("Data points"))
    expect(table).to_contain_text("From the attendance office")
    expect(table.get_by_role("row").nth(2)).to_contain_text("2.5")
    expect(table.get_by_role("row").nth(3)).to_contain_text("3")
    expect(page.get_by_role("figure")).to_contain_text("latest 3")
    journey.axe()

    # The summary for the meeting, without restricted notes; the print view hides navigation and buttons.
    page.get_by_role("link", name=student.display_name).first.click()
    page.get_by_role("button", name="Summary for a meeting").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("student support team summary")
    expect(page.get_by_text("Restricted notes are left out.")).to_be_visible()
    expect(page.get_by_role("region", name="Tier and intervention plans")).to_contain_text(GOAL)
    journey.axe()
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 725, "height": 960})  # a Letter page inside its margins, for the screenshot
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    journey.folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(journey.folder / "summary-print.png"), full_page=True)
    page.pdf(path=str(journey.folder / "summary-print.pdf"), format="Letter")
    with live_server.app.app_context():
        printed = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "student.summary.print", AuditEvent.student_id == student.id)
        )
    assert printed == 1


def test_a_full_record_prints_on_one_page_with_restricted_notes_when_chosen(journey, live_server):
    """The demo's tier 2 student at Cedar (a high bullying flag with a restricted note, a program with six
    weeks of attendance, a plan with five data points): the summary with restricted notes fits one page."""
    with live_server.app.app_context():
        student = db.session.scalars(
            select(Student).join(School).where(School.sourced_id == SCHOOL).order_by(Student.id).offset(1).limit(1)
        ).one()
    page = journey.page
    sign_in(journey, "counselor@demo.school")
    page.goto(f"/students/{student.id}")
    journey.axe()
    tiers = page.get_by_role("region", name="Tier of support and intervention plans")
    expect(tiers).to_contain_text("Tier 2: targeted")
    tiers.get_by_role("link", name=re.compile("^Fewer than one bullying incident")).click()
    fidelity = page.get_by_role("region", name="Fidelity: program attendance")
    expect(fidelity).to_contain_text("Stand Up Together")
    expect(page.get_by_text(re.compile(r"\d of 6 sessions attended"))).to_be_visible()
    expect(page.locator("svg.goal-chart circle.progress-point")).to_have_count(5)
    expect(page.get_by_role("figure")).to_contain_text("latest 1")
    journey.axe()
    page.get_by_role("link", name=student.display_name).first.click()
    page.get_by_label("Include restricted notes").check()
    page.get_by_role("button", name="Summary for a meeting").click()
    expect(page.get_by_text("Restricted notes are included.")).to_be_visible()
    expect(page.get_by_role("heading", name="Restricted notes (included at the counselor's choice)")).to_be_visible()
    journey.axe()
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 725, "height": 960})  # a Letter page inside its margins, for the screenshot
    journey.folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(journey.folder / "full-summary-print.png"), full_page=True)
    pdf = page.pdf(path=str(journey.folder / "full-summary-print.pdf"), format="Letter")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    with live_server.app.app_context():
        row = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "student.summary.print", AuditEvent.student_id == student.id)
        ).one()
    assert row.detail == {"include_restricted": True, "restricted_notes": 1}
