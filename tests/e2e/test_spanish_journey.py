"""A counselor who reads the app in Spanish: she picks Español in the footer, opens a flag for a student
and completes a check-in, every page and message in Spanish (axe and a screenshot on each page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn, CheckInPlan
from school_prevention.checkins.services import create_plan
from school_prevention.extensions import db
from school_prevention.flags.models import RiskFlag
from school_prevention.schools.models import School
from school_prevention.students.models import Student
from tests.e2e.journeys import sign_in

SCHOOL = "demo-cedar-ms"
# Cedar students at these offsets are used by no other journey (see tests/e2e/journeys.py).
OFFSETS = range(190, 200)
EMAIL = "counselor@demo.school"


def prepare(live_server) -> tuple[Student, str]:
    """A student with nothing recorded, and a check-in with them due an hour ago (a plan started earlier)."""
    with live_server.app.app_context():
        cedar = db.session.scalars(
            select(Student)
            .join(School)
            .where(School.sourced_id == SCHOOL)
            .order_by(Student.id)
            .offset(OFFSETS.start)
            .limit(len(OFFSETS))
        ).all()
        ids = [s.id for s in cedar]
        busy = set(db.session.scalars(select(CheckInPlan.student_id).where(CheckInPlan.student_id.in_(ids))))
        busy |= set(db.session.scalars(select(RiskFlag.student_id).where(RiskFlag.student_id.in_(ids))))
        student = next(s for s in cedar if s.is_active and s.id not in busy)
        counselor = db.session.scalars(select(User).where(User.email == EMAIL)).one()
        counselor.locale = None  # she has not chosen yet: the browser says English
        now = datetime.now(UTC)
        plan = create_plan(
            counselor,
            student,
            counselor,
            now=now,
            cadence="weekly",
            local_time=time(10, 0),
            duration_minutes=20,
            non_school_day="move",
            starts_on=(now + timedelta(days=1)).date(),
        )
        first = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id).order_by(CheckIn.due_at)).first()
        first.due_at = now - timedelta(hours=1)
        db.session.commit()
        return student, student.display_name


@pytest.fixture
def back_to_english(live_server):
    """The live server is shared by every journey: the demo counselor reads English again afterwards."""
    yield
    with live_server.app.app_context():
        db.session.execute(update(User).where(User.email == EMAIL).values(locale=None))
        db.session.commit()


def test_a_counselor_works_through_a_flag_and_a_check_in_in_spanish(journey, live_server, back_to_english):
    student, name = prepare(live_server)
    page = journey.page
    sign_in(journey, EMAIL)

    # The footer's picker: from now on every page is in Spanish, the one she was on first.
    page.get_by_label("Language").select_option("es")
    page.get_by_role("button", name="Change language").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Qué gusto verle")
    journey.axe()

    # A flag: from the student's page, with a refused first try (the messages in Spanish too).
    page.goto(f"/students/{student.id}")
    expect(page.get_by_role("heading", level=2, name="Alertas de riesgo")).to_be_visible()
    journey.axe()
    page.get_by_role("link", name="Abrir una alerta").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Abrir una alerta de {name}")
    journey.axe()
    page.get_by_role("button", name="Abrir alerta").click()
    expect(page.get_by_role("alert")).to_contain_text("Corrija los campos marcados abajo.")
    expect(page.get_by_role("group", name="Gravedad")).to_contain_text("Elija la gravedad.")
    journey.axe()
    page.get_by_label("Categoría").select_option(label="Chronic absence")
    page.get_by_role("group", name="Gravedad").get_by_label("Moderada").check()
    page.get_by_label("Origen").select_option(label="Observación del consejero")
    page.get_by_label("Nota restringida").fill("Faltó ocho días en noviembre; dice que cuida a sus hermanos.")
    page.get_by_role("button", name="Abrir alerta").click()
    expect(page.get_by_role("status").first).to_contain_text("Alerta abierta: Chronic absence (moderada).")
    journey.axe()
    page.get_by_role("link", name="Chronic absence").first.click()
    expect(page.get_by_role("heading", level=2, name="Historial")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("Origen: Observación del consejero")
    journey.axe()
    page.get_by_label("Nuevo estado").select_option(label="En observación")
    page.get_by_role("button", name="Cambiar estado").click()
    expect(page.get_by_role("status").first).to_contain_text("La alerta ahora está: en observación.")
    journey.axe()

    # The check-in: from "Mis seguimientos", overdue by an hour; the outcome recorded.
    page.get_by_role("navigation", name="Principal").get_by_role("link", name="Mis seguimientos").click()
    overdue = page.get_by_role("region", name=re.compile(r"^Atrasados"))
    journey.axe()
    overdue.get_by_role("link", name=name).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Seguimiento con {name}")
    expect(page.get_by_text("Estado:")).to_be_visible()
    journey.axe()
    page.get_by_role("group", name="Resultado").get_by_label("Reunión: está bien").check()
    page.get_by_role("button", name="Registrar seguimiento").click()
    expect(page.get_by_role("status").first).to_contain_text("Seguimiento realizado: el estudiante está bien.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mis seguimientos")
    journey.axe()
    closed = page.get_by_role("region", name="Cerrados recientemente")
    expect(closed).to_contain_text("Reunión: está bien")

    # Her choice is kept on the account (every browser, every sign-in).
    with live_server.app.app_context():
        assert db.session.scalar(select(User.locale).where(User.email == EMAIL)) == "es"
