"""A student's record of access (FERPA 34 CFR 99.32): who viewed, changed, exported or disclosed it."""

from __future__ import annotations

from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.extensions import db
from tests.factories import make_flag, make_school, make_student, make_user


def _world():
    school, other = make_school(name="Maple"), make_school(name="Oak")
    counselor = make_user("counselor", schools=[school], name="Casey Counselor")
    principal = make_user("principal", schools=[school], name="Pat Principal")
    outsider = make_user("counselor", schools=[other])
    officer = make_user("district", name="Olive Officer", is_privacy_officer=True)
    district = make_user("district")
    student = make_student(school, given_name="Amara", family_name="Ortiz", sourced_id="sis-4711")
    make_flag(student, counselor)
    db.session.commit()
    return school, counselor, principal, outsider, officer, district, student


def test_a_counselor_sees_who_opened_and_changed_the_record(client, login_as):
    _, counselor, principal, _, _, _, student = _world()
    login_as(principal, client)
    assert client.get(f"/students/{student.id}").status_code == 200
    login_as(counselor, client)
    page = client.get(f"/students/{student.id}/access")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Pat Principal" in text and "Opened the student&#39;s page" in text
    assert "Casey Counselor" in text and "Opened a flag" in text
    # Looking at the record of access is itself recorded.
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "access_record.view", AuditEvent.student_id == student.id)
        )
        == 1
    )


def test_the_csv_lists_every_access_and_is_recorded(client, login_as):
    _, counselor, principal, _, _, _, student = _world()
    login_as(principal, client)
    client.get(f"/students/{student.id}")
    login_as(counselor, client)
    response = client.get(f"/students/{student.id}/access.csv")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert body.lstrip("\ufeff").startswith("when,who,role,kind,what,purpose")
    assert "Pat Principal,principal,viewed,Opened the student's page" in body
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "access_record.export", AuditEvent.student_id == student.id)
        )
        == 1
    )


def test_only_the_students_counselors_and_the_privacy_officer_may_see_it(client, login_as):
    _, _, principal, outsider, officer, district, student = _world()
    login_as(outsider, client)
    assert client.get(f"/students/{student.id}/access").status_code == 404
    login_as(principal, client)
    assert client.get(f"/students/{student.id}/access").status_code == 403
    login_as(district, client)
    assert client.get("/privacy/access?student=sis-4711").status_code == 403
    login_as(officer, client)
    found = client.get("/privacy/access?student=sis-4711")
    assert found.status_code == 200 and "Ortiz" in found.get_data(as_text=True)
    assert client.get("/privacy/access.csv?student=sis-4711").status_code == 200
    missing = client.get("/privacy/access?student=nobody")
    assert missing.status_code == 404 and "No single student has this SIS id" in missing.get_data(as_text=True)
    assert client.get("/privacy/access?student=" + "x" * 300).status_code == 400


# Every action a crawl of every page writes about a student has its plain description: checked by
# the crawl itself (tests/test_audit_crawl.py).
