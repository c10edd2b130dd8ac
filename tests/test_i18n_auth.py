"""Sign-in, second-factor, account and outbox pages in Spanish: a person who chose Spanish (or whose browser
asks for it, before signing in) reads them with no English left, refusals and flashes included."""

from __future__ import annotations

import pytest

from school_prevention.auth import tokens
from school_prevention.extensions import db
from tests.factories import PASSWORD, make_notification, make_school, make_user
from tests.support.pages import english_left, visible_text
from tests.support.signin_helpers import enrol

SPANISH_BROWSER = {"Accept-Language": "es-MX,es;q=0.9"}


def _spanish(html: str, data: list[str], where: str) -> None:
    assert '<html lang="es">' in html, where
    left = english_left(html, data)
    assert not left, f"{where} still has English: {left}"


@pytest.fixture
def people(db_session):
    school = make_school(name="Escuela Maple")
    return {
        "school": school,
        "counselor": make_user("counselor", [school], name="Lucía Gómez", email="lucia@maple.example.org", locale="es"),
        "admin": make_user("admin", name="Ana Admin", email="ana@maple.example.org", locale="es"),
    }


def _data(people) -> list[str]:
    # The records' own words: names, addresses, the test browser's name, the authenticator apps' names.
    return [
        "Lucía Gómez",
        "Lucía",
        "Ana Admin",
        "lucia@maple.example.org",
        "ana@maple.example.org",
        "Escuela Maple",
        "pytest",
        "Google Authenticator",
        "Microsoft Authenticator",
        "MAIL_SERVER",
    ]


def test_the_sign_in_security_pages_are_in_spanish(client, login_as, people):
    counselor = people["counselor"]
    login_as(counselor)
    data = _data(people)
    for url in ("/account/security", "/account/two-factor/setup", "/account/password", "/notifications"):
        response = client.get(url, headers={"Accept-Language": "en"})  # her choice beats the browser
        assert response.status_code == 200, url
        _spanish(response.get_data(as_text=True), data, url)
    html = client.get("/account/security").get_data(as_text=True)
    assert "Dónde tiene la sesión iniciada" in html and "Cerrar sesión en todas partes" in html
    assert "Este navegador" in html and "Contraseña" in html  # how this browser signed in
    setup = client.get("/account/two-factor/setup").get_data(as_text=True)
    assert "Configure su aplicación de autenticación" in setup and "Activar" in setup

    # A wrong code: refused in Spanish, next to the field.
    refused = client.post("/account/two-factor/setup", data={"code": "000000"})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Ese código no coincide." in html
    _spanish(html, data, "refused enrolment")

    # A refused password change: every message in Spanish.
    refused = client.post(
        "/account/password", data={"current_password": "wrong", "new_password": "short", "confirm": "other"}
    )
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Corrija los campos marcados abajo." in html and "Las dos contraseñas no son iguales." in html
    _spanish(html, data, "refused password change")


def test_an_enrolled_person_s_security_page_and_signing_out_everywhere_flash_in_spanish(app, client, login_as, people):
    counselor = people["counselor"]
    enrol(counselor)
    db.session.commit()
    login_as(counselor, app.test_client())  # a second browser
    login_as(counselor)
    html = client.get("/account/security").get_data(as_text=True)
    assert "códigos de recuperación sin usar" in html and "Configurada el" in html
    _spanish(html, _data(people), "security, enrolled")
    response = client.post("/account/sessions/end-all")
    assert response.headers["Location"] == "/login"
    login = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # Worded in her language before she was signed out (the page itself now follows the browser).
    assert "Se cerró su sesión en todas partes (2 navegadores)." in login


def test_password_reset_pages_are_in_spanish_for_a_spanish_browser(client, people):
    data = _data(people)
    page = client.get("/password/forgot", headers=SPANISH_BROWSER).get_data(as_text=True)
    assert "¿Olvidó su contraseña?" in page or "Olvidó su contraseña" in page
    _spanish(page, data, "forgot")
    refused = client.post("/password/forgot", data={"email": ""}, headers=SPANISH_BROWSER)
    assert refused.status_code == 400
    _spanish(refused.get_data(as_text=True), data, "forgot, refused")
    sent = client.post("/password/forgot", data={"email": "lucia@maple.example.org"}, headers=SPANISH_BROWSER)
    html = sent.get_data(as_text=True)
    assert "Si <strong>lucia@maple.example.org</strong> pertenece a una cuenta activa" in html
    _spanish(html, data, "forgot, sent")

    raw = tokens.issue(people["counselor"], tokens.RESET, actor=None)
    db.session.commit()
    page = client.get(f"/password/reset/{raw}", headers=SPANISH_BROWSER).get_data(as_text=True)
    assert "Elija una contraseña nueva" in page
    _spanish(page, data, "reset")
    refused = client.post(
        f"/password/reset/{raw}", data={"new_password": "corta", "confirm": "corta"}, headers=SPANISH_BROWSER
    )
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Use al menos 12 caracteres." in html
    _spanish(html, data, "reset, refused")
    done = client.post(
        f"/password/reset/{raw}",
        data={"new_password": "linterna jirafa pradera 7", "confirm": "linterna jirafa pradera 7"},
        headers=SPANISH_BROWSER,
        follow_redirects=True,
    )
    assert "Su contraseña quedó guardada." in done.get_data(as_text=True)
    used = client.get(f"/password/reset/{raw}", headers=SPANISH_BROWSER)
    assert used.status_code == 410
    html = used.get_data(as_text=True)
    assert "Este enlace ya se usó." in html and "Pedir un enlace nuevo" in html
    _spanish(html, data, "reset, used")


def test_invitation_pages_are_in_spanish(client, db_session, people):
    newcomer = make_user(
        "counselor", [people["school"]], name="Rosa Díaz", email="rosa@maple.example.org", password=PASSWORD
    )
    raw = tokens.issue(newcomer, tokens.INVITE, actor=people["admin"])
    db_session.commit()
    data = [*_data(people), "Rosa Díaz", "rosa@maple.example.org"]
    html = client.get(f"/welcome/{raw}", headers=SPANISH_BROWSER).get_data(as_text=True)
    assert "Le damos la bienvenida, Rosa Díaz" in html and "Guardar la contraseña y terminar" in html
    _spanish(html, data, "invitation")
    done = client.post(
        f"/welcome/{raw}",
        data={"new_password": "linterna jirafa pradera 7", "confirm": "linterna jirafa pradera 7"},
        headers=SPANISH_BROWSER,
        follow_redirects=True,
    )
    assert "Le damos la bienvenida, Rosa Díaz. Su cuenta está lista" in done.get_data(as_text=True)
    bad = client.get("/welcome/not-a-token", headers=SPANISH_BROWSER)
    assert bad.status_code == 404
    html = bad.get_data(as_text=True)
    assert "Este enlace no es válido." in html and "Pida a su administrador una nueva invitación." in html
    _spanish(html, data, "invitation, bad link")


def test_the_outbox_and_its_requeue_are_in_spanish_for_an_admin(client, login_as, people):
    admin = people["admin"]
    for state in ("pending", "failed", "sent"):
        make_notification(
            people["counselor"],
            channel="email",
            state=state,
            title="Seguimiento con PQ",
            last_error="451 4.3.0 try later" if state != "sent" else None,
            attempts=1,
        )
    login_as(admin)
    data = [*_data(people), "Seguimiento con PQ", "451 4.3.0 try later", "SMTP"]
    for state in ("pending", "failed", "sent"):
        response = client.get(f"/admin/outbox?state={state}")
        assert response.status_code == 200, state
        _spanish(response.get_data(as_text=True), data, f"outbox {state}")
    assert "Bandeja de salida de correo" in client.get("/admin/outbox").get_data(as_text=True)
    ask = client.get("/admin/outbox/requeue")
    html = ask.get_data(as_text=True)
    assert "Volver a poner en cola 1 correo" in html and "todos los correos fallidos" in html
    _spanish(html, data, "requeue")
    refused = client.get("/admin/outbox/requeue?failed_from=2030-02-10&failed_to=2030-02-01")
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Esta fecha es anterior a la primera." in html
    _spanish(html, data, "requeue, refused")
    bad = client.get("/admin/outbox?state=lost")
    assert bad.status_code == 400
    assert "el estado debe ser" in bad.get_data(as_text=True)


def test_english_readers_keep_the_pages_they_had(client, login_as, db_session):
    school = make_school()
    counselor = make_user("counselor", [school])
    login_as(counselor)
    html = client.get("/account/security").get_data(as_text=True)
    assert '<html lang="en">' in html and "<h1>Sign-in security</h1>" in html
    assert "Where you are signed in" in html and "Sign out everywhere" in html
    assert "Your account needs a second sign-in step; you will be asked to set it up at your next sign-in." in html
    text = visible_text(client.get("/account/two-factor/setup").get_data(as_text=True))
    assert "Set up your authenticator app" in text and "Turn on" in text


# The pages and code this part of the app puts words on: every message they ask for has its Spanish.
@pytest.mark.parametrize("language", ["en", "es"])
def test_an_address_typed_into_a_translated_sentence_is_shown_as_text(client, db_session, language):
    sent = client.post(
        "/password/forgot", data={"email": "<b>x</b>@example.org"}, headers={"Accept-Language": language}
    )
    html = sent.get_data(as_text=True)
    assert "<strong>&lt;b&gt;x&lt;/b&gt;@example.org</strong>" in html and "<b>x</b>" not in html


def test_an_upload_too_large_is_refused_in_the_reader_s_language(app, client, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100)
    response = client.post("/login", data={"email": "x" * 200, "password": "y"}, headers=SPANISH_BROWSER)
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "El archivo es demasiado grande" in html and "Request Entity Too Large" not in html
    _spanish(html, [], "413")
    english = client.post("/login", data={"email": "x" * 200, "password": "y"}).get_data(as_text=True)
    assert "The file is too large" in english
