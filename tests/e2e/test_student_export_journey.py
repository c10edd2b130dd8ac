"""The district's data office asks for a student-level export, follows it being made, and downloads it."""

from __future__ import annotations

import csv
import re

from playwright.sync_api import expect

from school_prevention.exports.worker import work
from tests.e2e.journeys import sign_in


def test_district_asks_for_a_student_export_watches_it_and_downloads_it(journey, live_server, tmp_path):
    page = journey.page
    sign_in(journey, "district@demo.school")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Coverage").click()
    journey.axe()
    page.get_by_role("link", name="Student-level export").click()
    journey.axe()
    page.get_by_label("Program participation (Ed-Fi StudentProgramAssociation)").check()
    page.get_by_label("Purpose").fill("State agency program evaluation, data-sharing agreement 2026-14")
    page.get_by_role("button", name="Export").click()

    # The request only queued it: the page says so, with a progress bar, and updates by itself.
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Student-level export #\d+"))
    expect(page.get_by_role("heading", name="Queued")).to_be_visible()
    expect(page.locator("progress")).to_have_count(1)
    journey.axe()
    status_url = page.url
    with live_server.app.app_context():
        assert work() == 1  # the scheduler's exports.work job
    expect(page.get_by_role("heading", name="Ready")).to_be_visible()  # the page reloaded itself
    assert page.url == status_url
    journey.axe()

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Download students-programs-")).click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    assert rows and {"studentUniqueId", "programName"} <= set(rows[0])

    page.get_by_role("link", name="Student-level export").first.click()
    journey.axe()
    # This export's row (other journeys on the same live server may have asked for exports too).
    export_id = status_url.rstrip("/").rsplit("/", 1)[-1]
    mine = page.get_by_role("table", name="Your recent student-level exports").get_by_role(
        "row", name=re.compile(rf"#{export_id}\b")
    )
    expect(mine).to_contain_text("Ready")
