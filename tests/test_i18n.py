"""The app in Spanish: each person's language, the browser's as the default, a complete catalogue for
the counselor's daily path (sign-in, home, a flag, a check-in), and dates and figures in the locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from sqlalchemy import select

from school_prevention.auth.models import User
from school_prevention.checkins.models import CheckIn
from school_prevention.config import PROJECT_ROOT
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.i18n import TRANSLATIONS_DIR
from school_prevention.training.models import Course
from tests.factories import (
    category,
    make_checkin_plan,
    make_flag,
    make_school,
    make_student,
    make_user,
)
from tests.support.pages import english_left, visible_text

PO = TRANSLATIONS_DIR / "es" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "N_": None,
    "pgettext": ((1, "c"), 2),
}

# Every template and every module: all the words the app shows come from them.
TRANSLATED_TEMPLATES = sorted(
    str(p.relative_to(PROJECT_ROOT / "templates")) for p in (PROJECT_ROOT / "templates").rglob("*.html")
)
TRANSLATED_MODULES = sorted(
    str(p.relative_to(PROJECT_ROOT / "school_prevention")) for p in (PROJECT_ROOT / "school_prevention").rglob("*.py")
)


def _messages_in(path: Path, method: str) -> set[str]:
    """Every msgid the file asks for, as the extraction for the catalogue finds it."""
    options = {"extensions": "jinja2.ext.i18n"} if method != "python" else {}
    found = set()
    for _lineno, message, _comments, _context in extract_from_file(
        method, str(path), keywords=KEYWORDS, options=options
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _catalogue():
    with PO.open("rb") as source:
        return read_po(source)


def test_every_message_the_app_shows_has_a_spanish_translation():
    catalogue = _catalogue()
    wanted: dict[str, str] = {}
    for name in TRANSLATED_TEMPLATES:
        for msgid in _messages_in(PROJECT_ROOT / "templates" / name, "jinja2.ext:babel_extract"):
            wanted[msgid] = f"templates/{name}"
    for name in TRANSLATED_MODULES:
        for msgid in _messages_in(PROJECT_ROOT / "school_prevention" / name, "python"):
            wanted[msgid] = f"school_prevention/{name}"
    assert len(wanted) > 2000  # the extraction found the app's strings (a broken keyword list finds none)
    missing = []
    for msgid, where in sorted(wanted.items()):
        entry = next((m for m in catalogue if (m.id[0] if isinstance(m.id, tuple) else m.id) == msgid), None)
        strings = entry.string if entry is not None else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(f"{where}: {msgid!r}")
    assert not missing, "untranslated (run bin/i18n extract, then translate in messages.po):\n" + "\n".join(missing)


def test_placeholders_survive_translation():
    """A translation that drops or renames %(name)s would answer with a KeyError (a 500) or lose a fact."""
    bad = []
    for entry in _catalogue():
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set(re.findall(r"%\(\w+\)[sd]", ids[-1]))
        bad += [
            f"{ids[0]!r} -> {s!r}"
            for s in strings
            if set(re.findall(r"%\(\w+\)[sd]", s)) != wanted
            and not (len(ids) > 1 and s is strings[0] and set(re.findall(r"%\(\w+\)[sd]", s)) <= wanted)
        ]
    assert not bad, bad


@pytest.fixture
def spanish(db_session, login_as):
    """A counselor who chose Spanish, with a student, a flag and a check-in due now."""
    school = make_school(name="Escuela Maple")
    student = make_student(school, given_name="Ana", family_name="Pérez")
    counselor = make_user("counselor", [school], name="Lucía Gómez", locale="es")
    flag = make_flag(student, counselor, category_name="Social isolation", severity="high")
    now = datetime.now(UTC)
    plan = make_checkin_plan(student, counselor, now=now - timedelta(days=1))
    checkin = db.session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id).order_by(CheckIn.due_at)).first()
    checkin.due_at = now - timedelta(hours=1)  # due an hour ago: its outcome can be recorded
    db.session.flush()
    client = login_as(counselor)
    # The records' own words: names, and the lists an admin keeps (flag categories, training courses):
    # data in the district's words, not interface text (not translated here).
    data = [
        student.display_name,
        school.name,
        counselor.name,
        "Lucía",
        "SIS",
        *db.session.scalars(select(Course.name)),
        *db.session.scalars(select(FlagCategory.name)),
    ]
    return {
        "client": client,
        "student": student,
        "flag": flag,
        "plan": plan,
        "checkin": checkin,
        "counselor": counselor,
        "data": data,
    }


def _pages(w):
    pages = [
        "/",
        f"/students/{w['student'].id}/flags/new",
        f"/flags/{w['flag'].id}",
        "/checkins",
        f"/checkin-plans/{w['plan'].id}",
        f"/students/{w['student'].id}/checkin-plans/new",
    ]
    pages.append(f"/checkins/{w['checkin'].id}")
    return pages


def test_a_counselor_who_chose_spanish_reads_the_daily_path_in_spanish(spanish, app):
    client = spanish["client"]
    for url in _pages(spanish):
        response = client.get(url, headers={"Accept-Language": "en-US,en;q=0.9"})  # her choice beats the browser
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert '<html lang="es">' in html, url
        assert "Cerrar sesión" in html and "Sign out" not in html, url
        left = english_left(html, spanish["data"])
        assert not left, f"{url} still has English: {left}"


def test_the_spanish_flag_page_shows_labels_options_and_history_in_spanish(spanish):
    html = spanish["client"].get(f"/flags/{spanish['flag'].id}").get_data(as_text=True)
    assert "Nota restringida" in html and "Historial" in html and "Cambiar estado" in html
    assert ">Alta</span>" in html  # the severity badge
    assert "Origen: Observación del consejero" in html
    assert re.search(r"Abierta el \d{1,2} [a-z]{3}\.? \d{4}, \d{1,2}:\d{2}", html), "a Spanish date and 24-hour time"


def test_a_refused_flag_form_answers_in_spanish(spanish):
    client = spanish["client"]
    response = client.post(f"/students/{spanish['student'].id}/flags/new", data={"category": "", "source": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Corrija los campos marcados abajo." in html
    assert "Elija una categoría." in html and "Elija la gravedad." in html
    assert "Elija de dónde vino la inquietud." in html


def test_opening_a_flag_and_completing_a_check_in_flash_in_spanish(spanish):
    client = spanish["client"]
    cat = category("Social isolation")
    response = client.post(
        f"/students/{spanish['student'].id}/flags/new",
        data={"category": str(cat.id), "severity": "moderate", "source": "counselor_observation", "note": ""},
        follow_redirects=True,
    )
    assert "Alerta abierta: Social isolation (moderada)." in response.get_data(as_text=True)
    checkin = spanish["checkin"]
    response = client.post(f"/checkins/{checkin.id}", data={"outcome": "doing_well", "note": ""}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Seguimiento realizado: el estudiante está bien." in html, visible_text(html)[:500]


def test_the_browser_language_is_the_default_and_english_stays_english(app, db_session):
    client = app.test_client()
    es = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="es">' in es and "<h1>Iniciar sesión</h1>" in es and "Correo electrónico" in es
    en = client.get("/login", headers={"Accept-Language": "fr-FR,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en">' in en and "<h1>Sign in</h1>" in en
    none = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in none and "For school counselors, staff, principals" in none


def test_choosing_a_language_keeps_it_on_the_account(db_session, login_as):
    school = make_school()
    counselor = make_user("counselor", [school])
    client = login_as(counselor)
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    response = client.post("/account/language", data={"language": "es", "next": "/checkins"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/checkins")
    assert db.session.scalar(select(User.locale).where(User.id == counselor.id)) == "es"
    assert "<h1>Mis seguimientos</h1>" in client.get("/checkins").get_data(as_text=True)
    # Another site as "next" is not followed; an unknown language is refused and changes nothing.
    assert (
        client.post("/account/language", data={"language": "en", "next": "//evil.example"})
        .headers["Location"]
        .endswith("/")
    )
    refused = client.post("/account/language", data={"language": "xx"})
    assert refused.status_code == 400
    assert db.session.scalar(select(User.locale).where(User.id == counselor.id)) == "en"


def test_error_pages_follow_the_language(spanish):
    response = spanish["client"].get("/flags/987654")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Página no encontrada" in html and "Ir a su página de inicio" in html


def test_figures_and_dates_follow_the_locale(app):
    from datetime import date

    from school_prevention.i18n import format_local, number, percent_text

    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert number(12345) == "12.345"
        assert percent_text(0.5) == "50\xa0%"
        assert format_local(date(2026, 12, 3), "%b %-d, %Y") == "3 dic 2026"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert number(12345) == "12,345" and percent_text(0.5) == "50%"
        assert format_local(date(2026, 12, 3), "%b %-d, %Y") == "Dec 3, 2026"
