"""Outside agencies and disclosures in the browser, with the demo district: a counselor refers a student to
child welfare with the legal basis recorded and sees it on the student's disclosure record; a parent's
request to inspect is answered with the printed record; an urgent referral nobody opens reaches the
principal by email (a real SMTP server on loopback, the job run at a moved clock)."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from school_prevention.checkins.models import NonSchoolDay
from school_prevention.extensions import db
from school_prevention.referrals.escalation import school_hours
from school_prevention.referrals.models import Referral
from school_prevention.scheduler import run_job
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from school_prevention.timezones import district_today
from tests.e2e.journeys import sign_in, sign_out
from tests.support.smtp_sink import Sink

REASON = "Says she is afraid to go home; an adult at home takes her phone and money."


def cedar_student(live_server, offset: int) -> Student:
    with live_server.app.app_context():
        return db.session.scalars(
            select(Student)
            .join(School)
            .where(School.sourced_id == "demo-cedar-ms")
            .order_by(Student.id)
            .offset(offset)
            .limit(1)
        ).one()


def test_counselor_refers_a_student_to_child_welfare_and_sees_it_on_the_disclosure_record(journey, live_server):
    student = cedar_student(live_server, 62)
    page = journey.page
    sign_in(journey, "counselor@demo.school")
    # The home lists what is due: the seeded shelter referral's follow-up and a parent's request to inspect.
    expect(page.get_by_role("region", name="Agency follow-ups due")).to_contain_text("Harbor House Youth Shelter")
    expect(page.get_by_role("region", name="Inspection requests to answer")).to_contain_text("asked by")
    page.get_by_role("link", name="Agencies").click()
    expect(page.get_by_role("region", name="Child welfare")).to_contain_text("County Children's Services")
    journey.axe()

    page.goto(f"/students/{student.id}")
    journey.axe()
    page.get_by_role("link", name="Refer to an agency").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Refer to an agency")
    journey.axe()
    page.get_by_label("Agency", exact=True).select_option(label="County Children's Services (Child welfare)")
    page.get_by_label("Identity and contact details").check()
    page.get_by_label("Concerns and risk flags").check()
    page.get_by_label("Parental consent on file (34 CFR 99.30)").check()
    page.get_by_role("button", name="Refer and record the sharing").click()
    # No consent on file: refused by the field, nothing saved.
    expect(page.locator("#legal_basis-error")).to_contain_text("No current parental consent on file covers sharing")
    journey.axe()
    page.get_by_label("Health or safety emergency (34 CFR 99.36)").check()
    page.get_by_label("Purpose").fill("Afraid to go home tonight; caseworker needs her name and the concern.")
    page.get_by_label("Approved by").select_option(label="Pat Principal (principal)")
    page.get_by_label("Reason for the referral (restricted)").fill(REASON)
    with live_server.app.app_context():
        follow_up = district_today() + timedelta(days=2)
    page.get_by_label("Follow up on").fill(follow_up.isoformat())
    page.get_by_role("button", name="Refer and record the sharing").click()
    expect(page.get_by_role("status")).to_contain_text("Referred to County Children's Services")
    expect(page.get_by_role("heading", level=1)).to_have_text("Referral to County Children's Services")
    expect(page.locator(".note").first).to_have_text(REASON)
    journey.axe()

    page.get_by_role("link", name="student's disclosure record").click()
    row = page.get_by_role("row", name=re.compile("County Children's Services"))
    expect(row).to_contain_text("Health or safety emergency (34 CFR 99.36)")
    expect(row).to_contain_text("Pat Principal")
    expect(row).to_contain_text("Identity and contact details, Concerns and risk flags")
    expect(row).to_contain_text("Agency referral")
    journey.axe()

    page.get_by_role("link", name=student.display_name).click()
    expect(page.get_by_role("region", name="Outside agencies")).to_contain_text("County Children's Services")
    expect(page.get_by_role("region", name="Disclosures and consent")).to_contain_text("County Children's Services")
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Referred to County Children's Services")
    journey.axe()
    page.get_by_role("region", name="Outside agencies").get_by_role("link", name="County Children's Services").click()
    page.get_by_label("New status").select_option(label="Accepted")
    page.get_by_label("Agency's case number").fill("CCS-4471")
    page.get_by_role("button", name="Update status").click()
    expect(page.get_by_role("status")).to_contain_text("The referral is now accepted")
    expect(page.get_by_role("main")).to_contain_text("CCS-4471")
    journey.axe()


def test_counselor_answers_a_parents_request_to_inspect_with_the_printed_record(journey, live_server):
    page = journey.page
    sign_in(journey, "counselor@demo.school")
    page.get_by_role("region", name="Inspection requests to answer").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Education record of")
    expect(page.get_by_role("region", name="Record of disclosures")).to_be_visible()
    journey.axe()
    page.get_by_role("button", name=re.compile("Mark as answered")).click()
    expect(page.get_by_role("status")).to_contain_text("The request is answered")
    journey.axe()
    page.get_by_role("link", name="Disclosure record").click()
    expect(page.get_by_role("table")).to_contain_text("Parent's right to inspect the record")
    journey.axe()


def test_an_urgent_referral_nobody_opens_reaches_the_principal_by_email(journey, live_server):
    app = live_server.app
    student = cedar_student(live_server, 64)
    sink = Sink().start()
    saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port)
    try:
        page = journey.page
        sign_in(journey, "staff@demo.school")
        page.get_by_role("link", name="Refer a concern").first.click()
        journey.axe()
        page.get_by_label("Student's name or student number").fill(student.identifier)
        page.get_by_role("button", name="Find").click()
        journey.axe()
        page.get_by_role("link", name=f"Refer {student.display_name}").click()
        journey.axe()
        page.get_by_label("Signs of commercial").check()
        page.get_by_label("What did you see or hear?").fill("An adult stranger picked her up at dismissal again.")
        page.get_by_label("Urgent (now)").check()
        page.get_by_role("button", name="Send to the counselors").click()
        expect(page.get_by_role("status")).to_contain_text("Your referral was sent")
        journey.axe()
        sign_out(journey)

        with app.app_context():
            referral = db.session.scalars(select(Referral).where(Referral.student_id == student.id)).one()
            sent_at, referral_id = referral.submitted_at, referral.id
            closed = set(db.session.scalars(select(NonSchoolDay.day)))
            deadline = school_hours(app.config, closed).deadline(sent_at, app.config["SP_URGENT_REFERRAL_MINUTES"])
        # At once: the school's counselor, initials and a link only.
        run_job(app, "notifications.deliver", sent_at + timedelta(minutes=1))
        initials = student.initials
        counselor_mail = [
            m
            for m in sink.messages()
            if m["To"] == "counselor@demo.school"
            and m["Subject"] == f"Urgent referral about {initials}: please open it now"
        ]
        assert len(counselor_mail) == 1 and f"/referrals/{referral_id}" in counselor_mail[0].get_content()
        # Nobody opens it: a minute before its time nothing, a minute after the principal is told, once.
        assert run_job(app, "referrals.escalate_urgent", deadline - timedelta(minutes=1)) == 0
        assert run_job(app, "referrals.escalate_urgent", deadline + timedelta(minutes=1)) == 2
        assert run_job(app, "referrals.escalate_urgent", deadline + timedelta(minutes=5)) == 0
        run_job(app, "notifications.deliver", deadline + timedelta(minutes=2))
        run_job(app, "notifications.deliver", deadline + timedelta(minutes=6))
        principal_mail = [m for m in sink.messages() if m["To"] == "principal@demo.school"]
        assert [m["Subject"] for m in principal_mail] == [
            f"Urgent referral about {initials} unopened after 60 school minutes"
        ]
        body = principal_mail[0].get_content()
        assert student.family_name not in body and student.given_name not in body
        assert f"/referrals/{referral_id}/waiting" in body

        sign_in(journey, "principal@demo.school")
        page.get_by_role("link", name="Notifications").click()
        journey.axe()
        page.get_by_role("button", name=f"Urgent referral about {initials} unopened after 60 school minutes").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(student.display_name)
        # What waits and whom to ask, never what the staff member wrote.
        expect(page.get_by_role("note")).to_contain_text("No counselor has opened it yet")
        expect(page.get_by_role("region", name="Whom to ask")).to_contain_text("counselor@demo.school")
        expect(page.locator("main")).not_to_contain_text("picked her up at dismissal")
        journey.axe()
    finally:
        app.config.update(saved)
        sink.stop()
