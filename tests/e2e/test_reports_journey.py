"""A principal sees who is flagged and not covered, enrolls one and sees the figures change; the district
sees every school without a name, sorts and filters, and downloads the export."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.students.models import Student
from tests.e2e.journeys import sign_in


def open_coverage(journey) -> None:
    journey.page.get_by_role("navigation", name="Main").get_by_role("link", name="Coverage").click()
    journey.axe()


def figure(page, term: str) -> str:
    """The number shown for a headline figure."""
    return page.locator(".figure", has=page.get_by_text(term, exact=True)).locator("dd strong").inner_text()


def test_principal_enrolls_an_uncovered_student_and_the_figures_change(journey):
    page = journey.page
    sign_in(journey, "principal@demo.school")
    open_coverage(journey)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cedar Middle School")
    uncovered_before = int(figure(page, "Covered by neither"))
    listed = page.get_by_role("table", name="Flagged students covered by neither a program nor a check-in plan")
    rows = listed.locator("tbody tr")
    expect(rows).to_have_count(uncovered_before)
    name = rows.first.get_by_role("rowheader").inner_text()
    program_share_before = figure(page, "In a program")

    rows.first.get_by_role("link", name=f"Enroll {name} in a program").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Enroll {name}")
    journey.axe()
    choice = page.get_by_label("Program").locator("option", has_text="Safe Online").inner_text()
    page.get_by_label("Program").select_option(label=choice)
    page.get_by_role("button", name="Enroll").click()
    # The message names no one (it travels in the session cookie); the page it lands on is the student's.
    expect(page.get_by_role("status")).to_have_text("Enrolled in Safe Online.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    journey.axe()

    open_coverage(journey)
    assert int(figure(page, "Covered by neither")) == uncovered_before - 1
    assert figure(page, "In a program") != program_share_before
    expect(listed.get_by_role("rowheader", name=name)).to_have_count(0)


def test_district_sees_every_school_without_names_and_downloads_the_export(journey, live_server, tmp_path):
    page = journey.page
    with live_server.app.app_context():
        names = [
            s.family_name
            for s in db.session.scalars(select(Student).join(RiskFlag, RiskFlag.student_id == Student.id).distinct())
        ]
    sign_in(journey, "district@demo.school")
    open_coverage(journey)
    expect(page.get_by_role("heading", level=1)).to_have_text("District coverage")
    schools = page.get_by_role("table", name=re.compile("^Coverage by school"))
    expect(schools.locator("tbody tr")).to_have_count(3)
    content = page.content()
    assert names and not [n for n in names if n in content]  # no flagged student is named

    schools.get_by_role("link", name="Active students").click()
    journey.axe()
    expect(schools.get_by_role("columnheader", name=re.compile("Active students"))).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(schools.locator("tbody tr").first.get_by_role("rowheader")).to_have_text("Riverside High School")

    # One school per level: a level filter would show one school's figures, so none is offered.
    expect(page.get_by_label("School level")).to_have_count(0)
    expect(page.get_by_text("Elementary, middle and high schools are reported together")).to_be_visible()
    period = page.get_by_label("Reporting period")
    chosen = period.locator("optgroup[label='Terms'] option").first
    label = chosen.inner_text()
    period.select_option(label=label)
    page.get_by_role("button", name="Show").click()
    journey.axe()
    expect(schools.locator("tbody tr")).to_have_count(3)
    expect(page.get_by_role("heading", name=re.compile("Week by week"))).to_contain_text(label.split(":")[0])

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [r["school_name"] for r in rows] == [
        "Cedar Middle School",
        "Maple Elementary School",
        "Riverside High School",
        "District total",
    ]
    assert rows[1]["flagged_students"] == "S"  # Maple's handful of flagged students: too few to publish
    assert rows[0]["period_start"] < rows[0]["period_end"] and "-t" in download.value.suggested_filename

    with page.expect_download() as download:
        page.get_by_role("link", name="Download Excel").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    book = openpyxl.load_workbook(path)
    assert book["Schools"]["D3"].value == "Maple Elementary School" and "S" in [c.value for c in book["Schools"][3]]
    notes = " ".join(str(c.value) for c in book["About"]["A"])
    assert "By grade: not shown" in notes  # the three schools teach different grades

    # The program list and the home page give the district the same suppressed counts.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Programs").click()
    journey.axe()
    programs = page.get_by_role("table", name="Programs with seats taken, free and waiting")
    expect(programs.locator("tbody td", has_text=re.compile("^S$")).first).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    journey.axe()
    expect(page.get_by_text("District total:")).to_be_visible()
