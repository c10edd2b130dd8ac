"""Separation of duties in the browser: the admin proposes a counselor for Cedar Middle; the new counselor
signs in and sees no student; the district approves; now the counselor sees Cedar's students."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.journeys import cedar_student, sign_in, sign_out

TEMPORARY = "temporary quilt harbor 7"
CHOSEN = "orchard lantern pebble 58"


def test_admin_proposes_a_counselor_the_district_approves(journey, live_server):
    student = cedar_student(live_server, 0)
    page = journey.page

    # The admin adds Nia as a counselor of Cedar Middle: the role and the school wait for the district.
    sign_in(journey, "admin@demo.school")
    page.get_by_role("link", name="Users", exact=True).click()
    journey.axe()
    page.get_by_role("link", name="Add a user").click()
    journey.axe()
    page.get_by_label("Email", exact=True).fill("nia.okafor@demo.school")
    page.get_by_label("Full name", exact=True).fill("Nia Okafor")
    page.get_by_label("Role", exact=True).select_option("counselor")
    page.get_by_label("Cedar Middle School").check()
    page.get_by_label("Temporary password", exact=True).fill(TEMPORARY)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Waiting for approval by the district")
    expect(page.get_by_role("row", name=re.compile("Nia Okafor"))).to_contain_text("Waiting for the district")
    journey.axe()
    page.get_by_role("link", name="Nia Okafor").click()
    expect(page.locator("#pending-requests")).to_contain_text("The school Cedar Middle School")
    journey.axe()
    sign_out(journey)

    # Nia signs in, chooses her password, and sees no student: no list, no record, no search.
    sign_in(journey, "nia.okafor@demo.school", TEMPORARY)
    page.get_by_label("Current password").fill(TEMPORARY)
    page.get_by_label("New password", exact=True).fill(CHOSEN)
    page.get_by_label("New password again").fill(CHOSEN)
    page.get_by_role("button", name=re.compile("password", re.I)).click()
    journey.axe()
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Students")
    assert page.goto("/students").status == 403
    journey.axe()
    assert page.goto(f"/students/{student.id}").status == 403
    assert student.family_name not in page.content()
    journey.axe()
    sign_out(journey)

    # The district approves both; the page says how Nia's password came about.
    sign_in(journey, "district@demo.school")
    page.get_by_role("link", name="Access requests").click()
    person = page.get_by_role("region", name=re.compile("Nia Okafor"))
    expect(person).to_contain_text("a temporary password from Alex Admin, then changed at sign-in")
    journey.axe()
    person.get_by_role("button", name=re.compile("^Approve the Counselor")).click()
    expect(page.get_by_role("status")).to_contain_text("Approved: the Counselor / social worker role for Nia Okafor")
    journey.axe()
    page.get_by_role("region", name=re.compile("Nia Okafor")).get_by_role(
        "button", name=re.compile("^Approve the school Cedar")
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Approved: the school Cedar Middle School for Nia Okafor")
    expect(page.locator("main")).to_contain_text("Nothing is waiting for a decision.")
    journey.axe()
    sign_out(journey)

    # Nia's new role ended her sessions; signed in again, she sees Cedar's students.
    sign_in(journey, "nia.okafor@demo.school", CHOSEN)
    page.get_by_role("link", name="Students", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    journey.axe()
    page.goto(f"/students/{student.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(student.display_name)
    journey.axe()
    sign_out(journey)

    # Taking access away needs nobody's approval: the admin deactivates Nia at once (and the shared demo
    # district keeps one Cedar counselor for the other journeys).
    sign_in(journey, "admin@demo.school")
    page.goto("/admin/users?q=nia.okafor")
    journey.axe()
    page.get_by_role("link", name="Nia Okafor").click()
    journey.axe()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate account").click()
    expect(page.get_by_role("status")).to_contain_text("Nia Okafor is deactivated")
    journey.axe()
