"""An admin adds a non-school day: the page says the re-placing of plans is queued, the scheduler's
job runs it, and the page then says it is done; taking the day off again queues it once more."""

from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from school_prevention.checkins.replan import run_queued
from school_prevention.db import utcnow
from school_prevention.extensions import db
from tests.e2e.journeys import sign_in


def far_weekday() -> date:
    """A weekday beyond every demo plan's check-ins (they are written 120 days ahead at most)."""
    day = date.today() + timedelta(days=400)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def replan(live_server) -> int:
    """What the scheduler's checkins.replan job does next."""
    with live_server.app.app_context():
        try:
            return run_queued(utcnow())
        finally:
            db.session.remove()


def test_a_calendar_change_is_queued_and_the_page_says_when_it_is_done(journey, live_server):
    page = journey.page
    day = far_weekday()
    sign_in(journey, "admin@demo.school")
    page.goto("/admin/non-school-days")
    journey.axe()
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Name").fill("Storm day")
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".flash")).to_contain_text("Upcoming check-ins are being re-placed around it")
    expect(page.locator("#replanning")).to_contain_text("Re-placing upcoming check-ins: queued")
    journey.axe()

    replan(live_server)
    page.reload()
    expect(page.locator("#replanning")).to_contain_text("Re-placing done")
    expect(page.locator("#replanning")).to_contain_text("moved, skipped or put back, over")
    journey.axe()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Remove {day:%b %-d}").click()
    expect(page.locator("#replanning")).to_contain_text("Re-placing upcoming check-ins: queued")
    journey.axe()
    replan(live_server)
    assert replan(live_server) == 0  # done once: nothing is left queued
    page.reload()
    expect(page.locator("#replanning")).to_contain_text("Re-placing done")
    journey.axe()
