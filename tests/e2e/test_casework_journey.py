"""From a staff member's concern to a counselor's flag and screening, seen by each role as allowed."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import text as sa_text

from school_prevention.extensions import db
from tests.e2e.journeys import cedar_student, sign_in, sign_out

NOTE = "Walks home with an adult no one at school knows."


def assert_not_stored_in_plain_text(live_server, text: str) -> None:
    """The committed database (file and WAL on SQLite; every text column on PostgreSQL) lacks text."""
    engine_url = live_server.app.config["SQLALCHEMY_DATABASE_URI"]
    if engine_url.startswith("sqlite"):
        path = Path(engine_url.split("///", 1)[1])
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                assert text.encode() not in file.read_bytes(), file
        return
    with live_server.app.app_context():
        for table, column in (("risk_flag", "note_ciphertext"), ("flag_event", "changes"), ("audit_event", "detail")):
            found = db.session.execute(
                sa_text(f"SELECT count(*) FROM {table} WHERE CAST({column} AS TEXT) LIKE :t"), {"t": f"%{text}%"}
            ).scalar()
            assert found == 0, table


def test_referral_triaged_into_a_flag_then_screening(journey, live_server):
    student = cedar_student(live_server, 40)
    page = journey.page

    # A teacher refers a concern.
    sign_in(journey, "staff@demo.school")
    page.get_by_role("link", name="Refer a concern").first.click()
    journey.axe()
    page.get_by_label("Student's name or student number").fill(student.identifier)
    page.get_by_role("button", name="Find").click()
    journey.axe()
    page.get_by_role("link", name=f"Refer {student.display_name}").click()
    journey.axe()
    page.get_by_label("Social isolation").check()
    page.get_by_label("What did you see or hear?").fill("Sits alone every lunch; said nobody would miss her.")
    page.get_by_label("Soon (today or tomorrow)").check()
    page.get_by_role("button", name="Send to the counselors").click()
    expect(page.get_by_role("status")).to_contain_text("Your referral was sent")
    expect(page.get_by_role("row", name=re.compile(re.escape(student.display_name)))).to_contain_text("Received")
    journey.axe()
    sign_out(journey)

    # The counselor is notified, triages it into a flag with a restricted note, and screens.
    sign_in(journey, "counselor@demo.school")
    expect(page.get_by_role("link", name=re.compile("Notifications"))).to_contain_text(re.compile(r"\d"))
    page.get_by_role("link", name="Notifications").click()
    journey.axe()
    page.get_by_role("button", name=re.compile(f"referral about {student.initials}")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(student.display_name)
    journey.axe()
    page.get_by_role("button", name="Mark as in review").click()
    journey.axe()
    page.get_by_label("Severity of the new flag").select_option("moderate")
    page.get_by_label("Restricted note for the new flag").fill(NOTE)
    page.get_by_role("button", name="Accept referral").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Social isolation")
    expect(page.locator(".note")).to_have_text(NOTE)
    journey.axe()
    assert_not_stored_in_plain_text(live_server, NOTE)
    page.get_by_role("link", name=student.display_name).click()
    journey.axe()
    page.get_by_role("link", name="Record a screening").click()
    journey.axe()
    page.get_by_label("Instrument").select_option(label="SRSS-IE")
    page.get_by_label("Possible concern").check()
    page.get_by_role("button", name="Record screening").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Open a flag")
    journey.axe()
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("region", name="Screenings")).to_contain_text("Possible concern")
    expect(page.get_by_role("region", name="At-risk flags")).to_contain_text("Social isolation")
    journey.axe()
    sign_out(journey)

    # The principal sees the flag's category and status, never its note.
    sign_in(journey, "principal@demo.school")
    page.goto(f"/students/{student.id}")
    expect(page.get_by_role("region", name="At-risk flags")).to_contain_text("Social isolation")
    journey.axe()
    page.get_by_role("link", name="Social isolation").click()
    expect(page.get_by_text("A restricted note exists")).to_be_visible()
    assert NOTE not in page.content()
    journey.axe()
    sign_out(journey)

    # The teacher sees only that the referral was accepted: nothing about the flag.
    sign_in(journey, "staff@demo.school")
    page.get_by_role("link", name="My referrals").click()
    expect(page.get_by_role("row", name=re.compile(re.escape(student.display_name)))).to_contain_text("Accepted")
    assert "Social isolation" not in page.locator("main").inner_text().split("Status")[-1]
    assert NOTE not in page.content()
    journey.axe()
    response = page.goto(f"/students/{student.id}")
    assert response.status == 403
    journey.axe()
