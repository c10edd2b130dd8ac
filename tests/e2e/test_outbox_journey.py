"""After an outage the admin finds the failed emails, sees why and when each was last tried, and
queues one day's failures again in one confirmed action."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from tests.e2e.journeys import sign_in, sign_out


def test_admin_queues_one_days_failed_emails_again(journey, live_server):
    with live_server.app.app_context():
        counselor = db.session.scalar(select(User).where(User.email == "counselor@demo.school"))
        for i, hour in enumerate((15, 16, 17)):
            db.session.add(
                Notification(
                    user_id=counselor.id,
                    kind="test.outage",
                    channel="email",
                    subject_type="test",
                    subject_id=9000 + i,
                    title=f"Overdue check-in with Q{i}",
                    link="/checkins",
                    state="failed",
                    attempts=8,
                    last_error="cannot connect: [Errno 111] Connection refused",
                    last_attempt_at=datetime(2026, 11, 10, hour, 0, tzinfo=UTC),
                )
            )
        db.session.commit()
        db.session.remove()

    page = journey.page
    sign_in(journey, "admin@demo.school")
    page.get_by_role("link", name="Email outbox").click()
    journey.axe()
    page.get_by_role("link", name=re.compile(r"^Failed \(")).click()
    expect(page.get_by_role("row", name=re.compile("Overdue check-in with Q1"))).to_contain_text("Connection refused")
    journey.axe()
    form = page.get_by_role("form", name="Queue failed emails again")
    form.get_by_label("Failed on or after").fill("2026-11-10")
    form.get_by_label("Failed on or before").fill("2026-11-10")
    form.get_by_role("button", name="Count them").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Queue failed emails again")
    expect(page.get_by_text("will be queued again")).to_contain_text("3 failed emails")
    journey.axe()
    page.get_by_role("button", name="Queue 3 emails again").click()
    expect(page.get_by_text("3 failed emails are queued again")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Overdue check-in with Q2"))).to_contain_text(
        "Queued again; it had failed: cannot connect"
    )
    journey.axe()
    sign_out(journey)
