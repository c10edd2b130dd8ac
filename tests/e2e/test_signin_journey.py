"""A counselor signs in, finds a student and opens their page; sign-out really ends it."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.extensions import db
from school_prevention.students.models import Student
from tests.e2e.journeys import sign_in


def a_student(live_server, school_sourced_id: str) -> Student:
    with live_server.app.app_context():
        return db.session.scalars(
            select(Student)
            .join(Student.school)
            .where(Student.school.has(sourced_id=school_sourced_id))
            .order_by(Student.id)
            .limit(1)
        ).one()


def test_counselor_finds_and_opens_a_student(journey, live_server):
    student = a_student(live_server, "demo-cedar-ms")
    page = journey.page
    sign_in(journey, "counselor@demo.school")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you, Casey")
    page.get_by_label("Name or SIS id").fill(student.family_name)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/students\?q="))
    journey.axe()
    page.get_by_role("link", name=student.display_name).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(student.display_name)
    journey.axe()


def test_after_sign_out_the_student_page_needs_sign_in_again(journey, live_server):
    student = a_student(live_server, "demo-maple-es")
    page = journey.page
    sign_in(journey, "counselor@demo.school")
    page.goto(f"/students/{student.id}")
    journey.axe()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    journey.axe()
    page.go_back()
    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    journey.axe()


def test_counselor_of_another_school_gets_not_found(journey, live_server):
    student = a_student(live_server, "demo-cedar-ms")
    page = journey.page
    sign_in(journey, "counselor.high@demo.school")
    response = page.goto(f"/students/{student.id}")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert student.family_name not in page.content()
    journey.axe()
