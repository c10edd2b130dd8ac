"""Training and awareness as the demo district's people meet them: a principal sees who on staff is not
trained, a counselor whose screener training lapsed cannot record a CSE-IT screening, and a staff
member reads and confirms an awareness page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.journeys import cedar_student, sign_in, sign_out

# A Cedar student no other journey uses (the demo seeds cases at 0-8; see test_checkins_journey).
OFFSET = 60


def test_principal_sees_who_on_staff_is_not_trained(journey):
    page = journey.page
    sign_in(journey, "principal@demo.school")
    page.get_by_role("link", name="Training", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Staff training")
    journey.axe()
    page.get_by_label("Show", exact=True).select_option("attention")
    page.get_by_role("button", name="Show").click()
    people = page.get_by_role("region", name=re.compile("Who is not current"))
    # The demo counselor's CSE-IT screener training lapsed two days ago.
    expect(people.get_by_role("row", name=re.compile("Casey Counselor"))).to_contain_text("Lapsed")
    expect(people).to_contain_text("Not trained")
    journey.axe()
    people.get_by_role("link", name="Casey Counselor").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Casey Counselor")
    journey.axe()
    page.get_by_role("link", name="Coverage").click()
    expect(page.get_by_role("region", name="Staff trained to recognise exploitation")).to_contain_text(
        "of staff in date"
    )
    journey.axe()
    page.get_by_role("link", name="Awareness").click()
    journey.axe()
    page.get_by_role("link", name="Who on staff has not read them").click()
    expect(page.get_by_role("region", name=re.compile("Not confirmed"))).to_contain_text("Sam Staff")
    journey.axe()
    sign_out(journey)


def test_counselor_without_a_current_screener_training_cannot_record_a_cse_it_screening(journey, live_server):
    student = cedar_student(live_server, OFFSET)
    page = journey.page
    sign_in(journey, "counselor@demo.school")
    # The home says so first, before any screening is refused for it.
    expect(page.get_by_role("note").filter(has_text="Your training")).to_contain_text("CSE-IT screener: lapsed on")
    page.goto(f"/students/{student.id}")
    journey.axe()
    page.get_by_role("link", name="Record a screening").click()
    expect(page.locator("main")).to_contain_text("needs a current “CSE-IT screener” training")
    journey.axe()
    page.get_by_label("Instrument").select_option(label="CSE-IT 2.0 (result only) (v2.0)")
    page.get_by_label("No concern").check()
    page.get_by_role("button", name="Record screening").click()
    error = page.locator("#instrument-error")
    expect(error).to_contain_text(
        "Recording a CSE-IT 2.0 screening needs a current “CSE-IT screener” training; yours lapsed on"
    )
    expect(page.get_by_label("Instrument")).to_have_attribute("aria-invalid", "true")
    journey.axe()
    page.get_by_role("link", name="My training").click()
    expect(
        page.get_by_role("region", name="Courses").get_by_role("row", name=re.compile("CSE-IT screener"))
    ).to_contain_text("Lapsed")
    journey.axe()
    sign_out(journey)


def test_staff_member_confirms_an_awareness_page(journey):
    page = journey.page
    sign_in(journey, "staff@demo.school")
    card = page.get_by_role("region", name="What to watch for, and whom to call")
    expect(card).to_contain_text("1-888-373-7888")
    expect(card).to_contain_text("2 pages to read and confirm")
    expect(card.get_by_role("listitem").filter(has_text="Route the concern, do not investigate")).to_contain_text(
        "Changed: read again"
    )
    card.get_by_role("link", name="Route the concern, do not investigate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Route the concern, do not investigate")
    expect(page.locator("article")).to_contain_text("Do not promise to keep a secret")
    journey.axe()
    page.get_by_role("button", name="I have read this").click()
    expect(page.get_by_role("status")).to_contain_text("you confirmed that you read")
    expect(page.get_by_role("listitem").filter(has_text="Route the concern, do not investigate")).to_contain_text(
        "Read"
    )
    journey.axe()
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("region", name="What to watch for, and whom to call")).to_contain_text(
        "1 page to read and confirm"
    )
    journey.axe()
    sign_out(journey)
