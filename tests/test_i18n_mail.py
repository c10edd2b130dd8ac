"""Emails in their recipient's language: a Spanish-speaking counselor's reminders and a Spanish principal's
escalation arrive in Spanish (subject, dates, the email's own words), an English user's stay exactly as they
were, whatever the language of the job or of the person whose action sent them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from school_prevention.auth import tokens
from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.notifications.models import Notification
from school_prevention.referrals.services import submit_referral
from school_prevention.scheduler import run_job
from school_prevention.students.models import Student
from tests.factories import category, make_school, make_student, make_user
from tests.support.reminder_helpers import make_active_match, make_checkin
from tests.support.smtp_sink import Sink

NOW = datetime(2030, 2, 15, 15, 0, tzinfo=UTC)  # Friday 9:00 AM in Chicago


@pytest.fixture
def sink(app):
    server = Sink().start()
    saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    yield server
    app.config.update(saved)
    server.stop()


@pytest.fixture
def district(db_session):
    """Two schools: North's counselor and principal read Spanish; South's counselor and principal, English."""
    north, south = make_school(name="North Middle"), make_school(name="South Middle")
    people = {
        "es_counselor": make_user("counselor", [north], email="lucia@north.example.org", locale="es"),
        "es_principal": make_user("principal", [north], email="director@north.example.org", locale="es"),
        "en_counselor": make_user("counselor", [south], email="sam@south.example.org"),
        "en_principal": make_user("principal", [south], email="pat@south.example.org", locale="en"),
    }
    for school, counselor in ((north, people["es_counselor"]), (south, people["en_counselor"])):
        student = make_student(school, given_name="Penelope", family_name="Quackenbush")
        make_checkin(student, counselor, NOW + timedelta(minutes=40))  # reminded an hour before
        make_checkin(student, counselor, NOW - timedelta(days=9))  # overdue, and escalated to the principal
        make_active_match(student, matched_on=date(2030, 1, 10), checked_on=date(2029, 9, 1))
    db_session.commit()
    return {key: user.id for key, user in people.items()}  # jobs end the session: tests reload what they need


def _inbox(sink) -> dict[str, list]:
    by_recipient: dict[str, list] = {}
    for message in sink.messages():
        by_recipient.setdefault(message["To"], []).append(message)
    return by_recipient


def test_reminders_and_escalations_are_written_in_each_recipients_language(app, district, sink):
    assert run_job(app, "checkins.remind", NOW) == 16  # four emails per school, each also in the app
    assert run_job(app, "notifications.deliver", NOW) == 8
    inbox = _inbox(sink)

    spanish = sorted(m["Subject"] for m in inbox["lucia@north.example.org"])
    assert spanish == [
        "Contacto de apoyo de mentoría pendiente para PQ",
        "Seguimiento atrasado con PQ (vencía el mié, 6 feb, 9:00)",
        "Seguimiento con PQ el vie, 15 feb, 9:40",
    ]
    [escalation] = inbox["director@north.example.org"]
    assert escalation["Subject"] == "Seguimientos con PQ atrasados más de 7 días"
    body = escalation.get_content()
    assert "Abrir:\r\nhttp://127.0.0.1:5000/students/" in body
    assert "Por diseño, este mensaje no incluye datos de estudiantes." in body
    assert "Gestor del Programa de Prevención Escolar" in body
    assert "Open:" not in body and "Sign in" not in body

    # English readers (locale unset, or "en") get exactly the emails they always had.
    english = sorted(m["Subject"] for m in inbox["sam@south.example.org"])
    assert english == [
        "Check-in with PQ at Fri Feb 15, 9:40 AM",
        "Mentoring support contact due for PQ",
        "Overdue check-in with PQ (was due Wed Feb 6, 9:00 AM)",
    ]
    [english_escalation] = inbox["pat@south.example.org"]
    assert english_escalation["Subject"] == "Check-ins with PQ overdue for more than 7 days"
    body = english_escalation.get_content()
    assert "Open:\r\nhttp://127.0.0.1:5000/students/" in body
    assert "This message carries no student details by design. Sign in to see the record." in body

    # The in-app copy reads as the email does; each email keeps the Message-ID stored on its row.
    titles = dict(
        db.session.execute(
            select(Notification.kind, Notification.title).where(
                Notification.user_id == district["es_principal"], Notification.channel == "in_app"
            )
        ).all()
    )
    assert titles == {"checkin.escalation": "Seguimientos con PQ atrasados más de 7 días"}
    stored = set(db.session.scalars(select(Notification.message_id).where(Notification.channel == "email")))
    assert {m["Message-ID"] for m in sink.messages()} == stored


def test_the_sender_s_language_does_not_choose_the_email_s(app, district, sink):
    """A staff member reading Spanish sends an urgent referral: the English counselor's email is in English;
    an English-speaking admin's invitation reaches a Spanish-speaking counselor in Spanish."""

    en_counselor = db.session.get(User, district["en_counselor"])
    school = en_counselor.schools[0]
    student = db.session.scalars(select(Student).where(Student.school_id == school.id)).first()
    staff = make_user("staff", [school], locale="es")
    with app.test_request_context(headers={"Accept-Language": "es"}):
        submit_referral(
            staff,
            student,
            categories=[category("Social isolation")],
            observation="Sola en el recreo.",
            urgency="urgent",
        )
        tokens.issue(db.session.get(User, district["es_counselor"]), tokens.RESET, actor=None)
    db.session.commit()
    assert run_job(app, "notifications.deliver", NOW) == 2
    inbox = _inbox(sink)
    [urgent] = inbox["sam@south.example.org"]
    assert urgent["Subject"] == "Urgent referral about PQ: please open it now"
    [reset] = inbox["lucia@north.example.org"]
    assert reset["Subject"] == (
        "Restablezca su contraseña del Gestor del Programa de Prevención Escolar (enlace válido por 1 hora)"
    )
    assert "Abrir:\r\nhttp://127.0.0.1:5000/password/reset/" in reset.get_content()
    in_app = db.session.scalar(
        select(Notification.title).where(
            Notification.user_id == district["en_counselor"], Notification.kind == "referral.new"
        )
    )
    assert in_app.startswith("New URGENT referral about PQ (grade")
