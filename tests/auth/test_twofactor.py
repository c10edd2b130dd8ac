"""Two-factor sign-in: who must set it up, the QR code, codes that work once, recovery codes,
throttling, and each person's list of signed-in browsers."""

from __future__ import annotations

import re
import threading
import time

import pyotp
import pytest
from sqlalchemy import select, update

from school_prevention import crypto
from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import RecoveryCode, User, UserSession
from school_prevention.auth.signin_flow import PENDING
from school_prevention.extensions import db
from tests.factories import PASSWORD, make_school, make_user
from tests.support.concurrency import Answer, assert_one_effect
from tests.support.signin_helpers import code_now, enrol


@pytest.fixture
def school(db_session):
    return make_school()


def password_step(client, user, **kw):
    return client.post("/login", data={"email": user.email, "password": PASSWORD}, **kw)


def setup_key(page: str) -> str:
    return re.search(r'<code id="setup-key">([^<]+)</code>', page).group(1).replace(" ", "")


def is_signed_in(client) -> bool:
    with client.session_transaction() as session:
        return "sid" in session


def actions(user):
    return list(
        db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user.id).order_by(AuditEvent.id))
    )


@pytest.mark.parametrize(
    "role, grants",
    [("counselor", {}), ("principal", {}), ("district", {}), ("staff", {"can_export_student_level": True})],
)
def test_an_account_that_sees_case_data_sets_up_an_app_at_first_sign_in(client, db_session, school, role, grants):
    user = make_user(role, schools=[school] if role != "district" else [], **grants)
    db_session.commit()
    response = password_step(client, user)
    assert response.headers["Location"] == "/login/two-factor/setup"
    assert not is_signed_in(client)
    assert client.get("/students").headers["Location"].startswith("/login")  # nothing opens meanwhile


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admins_sign_in_with_the_password_alone_until_they_add_an_app(client, db_session, school, role):
    user = make_user(role, schools=[school] if role == "staff" else [])
    db_session.commit()
    assert password_step(client, user).headers["Location"] == "/"
    client.post("/logout")
    enrol(user)
    db_session.commit()
    assert password_step(client, user).headers["Location"] == "/login/two-factor"


def test_enrolment_shows_a_qr_code_drawn_on_the_server_then_recovery_codes_once(client, db_session, school):
    user = make_user("counselor", schools=[school])
    db_session.commit()
    password_step(client, user)
    page = client.get("/login/two-factor/setup")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "<svg" in html and "<path" in html  # the QR code itself, inline
    assert "<script" not in html.split("<main", 1)[1]  # drawn without scripts
    key = setup_key(html)
    assert (
        client.get("/login/two-factor/setup")
        .get_data(as_text=True)
        .count(" ".join(key[i : i + 4] for i in range(0, len(key), 4)))
        == 1
    )  # the same key on reload

    wrong = client.post("/login/two-factor/setup", data={"code": "000000" if code_now(key) != "000000" else "111111"})
    assert wrong.status_code == 400 and b"That code does not match" in wrong.data
    assert db.session.get(User, user.id).mfa_secret is None and not is_signed_in(client)

    done = client.post("/login/two-factor/setup", data={"code": code_now(key)})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>", done.get_data(as_text=True))
    assert len(set(codes)) == 10
    assert is_signed_in(client) and client.get("/students").status_code == 200

    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert key not in saved.mfa_secret and crypto.decrypt(saved.mfa_secret) == key  # encrypted at rest
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and not any(c.replace("-", "") in h for c in codes for h in stored)
    assert "user.second_factor_enrolled" in actions(user)
    row = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).one()
    assert row.sign_in_method == "password+totp"


@pytest.fixture
def enrolled(db_session, school):
    user = make_user("counselor", schools=[school])
    enrol(user)
    db_session.commit()
    return user


def test_a_code_signs_in_once(app, client, enrolled):
    password_step(client, enrolled)
    code = code_now()
    assert client.post("/login/two-factor", data={"code": code}).headers["Location"] == "/"
    client.post("/logout")
    other = app.test_client()
    password_step(other, enrolled)
    replay = other.post("/login/two-factor", data={"code": code})
    assert replay.status_code == 401 and b"already used" in replay.data
    assert not is_signed_in(other)


def test_a_wrong_code_is_refused_and_audited(client, enrolled):
    password_step(client, enrolled)
    wrong = "123456" if code_now() != "123456" else "654321"
    response = client.post("/login/two-factor", data={"code": wrong})
    assert response.status_code == 401 and b"That code is not right" in response.data
    assert not is_signed_in(client)
    assert actions(enrolled)[-1] == "auth.second_factor_failed"


def test_wrong_codes_are_throttled_like_passwords(client, enrolled):
    password_step(client, enrolled)
    wrong = "123456" if code_now() != "123456" else "654321"
    for _ in range(5):
        assert client.post("/login/two-factor", data={"code": wrong}).status_code == 401
    response = client.post("/login/two-factor", data={"code": code_now()})  # right, but too late
    assert response.status_code == 429 and int(response.headers["Retry-After"]) <= 60
    assert b"Too many failed codes" in response.data
    assert not is_signed_in(client)


def test_a_recovery_code_works_once_and_says_how_many_are_left(app, client, enrolled):
    from school_prevention.auth.twofactor import _new_recovery_codes
    from school_prevention.db import utcnow

    codes = _new_recovery_codes(enrolled, utcnow())
    db.session.commit()
    password_step(client, enrolled)
    response = client.post("/login/two-factor", data={"code": codes[0].upper()})
    assert response.headers["Location"] == "/"
    assert "9 left" in client.get("/").get_data(as_text=True)
    client.post("/logout")
    password_step(client, enrolled)
    again = client.post("/login/two-factor", data={"code": codes[0]})
    assert again.status_code == 401 and not is_signed_in(client)


def test_an_unfinished_sign_in_expires(app, client, enrolled):
    password_step(client, enrolled)
    with client.session_transaction() as session:
        session[PENDING] = {**session[PENDING], "since": int(time.time()) - 11 * 60}
    response = client.post("/login/two-factor", data={"code": code_now()})
    assert response.headers["Location"] == "/login"
    assert b"not finished in time" in client.get("/login").data
    assert not is_signed_in(client)


def test_a_deactivated_account_cannot_finish_signing_in(client, enrolled):
    password_step(client, enrolled)
    db.session.execute(update(User).where(User.id == enrolled.id).values(is_active=False))
    db.session.commit()
    assert client.post("/login/two-factor", data={"code": code_now()}).headers["Location"] == "/login"
    assert not is_signed_in(client)


def test_the_second_step_is_not_skipped_by_going_elsewhere(client, enrolled):
    password_step(client, enrolled)
    assert client.get("/").headers["Location"].startswith("/login")
    assert client.get("/account/security").headers["Location"].startswith("/login")
    assert not is_signed_in(client)


def test_an_admin_reset_of_a_counselors_factor_waits_for_the_district_then_asks_for_a_new_app(
    app, client, login_as, db_session, enrolled
):
    admin, district = make_user("admin"), make_user("district")
    db_session.commit()
    login_as(admin)
    assert client.post(f"/admin/users/{enrolled.id}/second-factor").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, enrolled.id).mfa_secret is not None  # waits for approval
    from school_prevention.grants.models import AccessRequest

    request_id = db.session.scalars(select(AccessRequest.id).where(AccessRequest.user_id == enrolled.id)).one()
    login_as(district)
    assert client.post(f"/access-requests/{request_id}/approve").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, enrolled.id).mfa_secret is None
    client.post("/logout")
    assert password_step(client, enrolled).headers["Location"] == "/login/two-factor/setup"


def test_security_page_lists_browsers_and_signs_one_out(app, client, enrolled, login_as):
    phone = app.test_client()
    login_as(enrolled, phone)
    login_as(enrolled)
    page = client.get("/account/security").get_data(as_text=True)
    assert page.count("<tr>") == 3 and "This browser" in page and "Authenticator app is on" not in page
    assert "Your authenticator app is on" in page
    phone_row = db.session.scalars(
        select(UserSession).where(UserSession.user_id == enrolled.id).order_by(UserSession.id)
    ).first()
    assert client.post(f"/account/sessions/{phone_row.id}/end").status_code == 302
    assert phone.get("/").headers["Location"].startswith("/login")
    assert client.get("/").status_code == 200
    assert client.post(f"/account/sessions/{phone_row.id}/end").status_code == 302
    assert b"already signed out" in client.get("/account/security").data


def test_someone_elses_session_is_not_found(app, client, enrolled, login_as, school):
    other = make_user("counselor", schools=[school])
    db.session.commit()
    theirs = app.test_client()
    login_as(other, theirs)
    login_as(enrolled)
    their_row = db.session.scalars(select(UserSession).where(UserSession.user_id == other.id)).one()
    assert client.post(f"/account/sessions/{their_row.id}/end").status_code == 404
    assert theirs.get("/").status_code == 200


def test_sign_out_everywhere_ends_every_session_this_one_too(app, client, enrolled, login_as):
    phone = app.test_client()
    login_as(enrolled, phone)
    login_as(enrolled)
    response = client.post("/account/sessions/end-all")
    assert response.headers["Location"] == "/login"
    assert b"signed out everywhere (2 browsers)" in client.get("/login").data
    assert client.get("/").headers["Location"].startswith("/login")
    assert phone.get("/").headers["Location"].startswith("/login")


def test_new_recovery_codes_need_a_code_and_replace_the_old(client, enrolled, login_as):
    from school_prevention.auth.twofactor import _new_recovery_codes
    from school_prevention.db import utcnow

    old = _new_recovery_codes(enrolled, utcnow())
    db.session.commit()
    login_as(enrolled)
    refused = client.post("/account/two-factor/recovery-codes", data={"code": "12345"})
    assert refused.status_code == 400 and b"does not match" in refused.data
    response = client.post("/account/two-factor/recovery-codes", data={"code": code_now()})
    fresh = re.findall(r"<code>([a-z0-9-]{14})</code>", response.get_data(as_text=True))
    assert len(fresh) == 10 and not set(fresh) & set(old)
    assert b"earlier recovery codes no longer work" in response.data
    client.post("/logout")
    password_step(client, enrolled)
    assert client.post("/login/two-factor", data={"code": old[1]}).status_code == 401


def test_staff_can_add_an_app_from_the_security_page(client, login_as, school, db_session):
    user = make_user("staff", schools=[school])
    db_session.commit()
    login_as(user)
    assert b"optional for your role" in client.get("/account/security").data
    key = setup_key(client.get("/account/two-factor/setup").get_data(as_text=True))
    done = client.post("/account/two-factor/setup", data={"code": pyotp.TOTP(key).now()})
    assert done.status_code == 200 and b"Save your recovery codes" in done.data
    assert b"Your authenticator app is on" in client.get("/account/security").data


def test_the_same_code_sent_twice_at_once_signs_in_once(race_app):
    """Two tabs (or an attacker who saw the code) submit one code at the same moment."""
    with race_app.app_context():
        user = make_user("counselor", schools=[make_school()])
        enrol(user)
        db.session.commit()
        user_id = user.id
    clients = []
    for _ in range(6):
        c = race_app.test_client()
        with c.session_transaction() as session:
            session[PENDING] = {"uid": user_id, "method": "password", "since": int(time.time()), "next": None}
        clients.append(c)
    code = code_now()
    barrier = threading.Barrier(len(clients))
    answers: list[Answer | None] = [None] * len(clients)

    def one(i):
        with race_app.app_context():
            barrier.wait(timeout=30)
            r = clients[i].post("/login/two-factor", data={"code": code})
            answers[i] = Answer(r.status_code, r.headers.get("Location"), r.get_data(as_text=True))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert_one_effect(answers, refused=(401,), says="already used")
    with race_app.app_context():
        assert len(db.session.scalars(select(UserSession).where(UserSession.user_id == user_id)).all()) == 1


def test_a_secret_under_a_retired_data_key_is_a_message_not_an_error(client, db_session, school):
    user = make_user("counselor", schools=[school])
    user.mfa_secret = "gAAAAABnot-a-token-any-configured-key-opens"
    db_session.commit()
    password_step(client, user)
    response = client.post("/login/two-factor", data={"code": "123456"})
    assert response.status_code == 400 and b"ask your administrator to reset" in response.data
    assert not is_signed_in(client)


def test_load_tests_can_turn_the_requirement_off(app, client, db_session, school):
    user = make_user("counselor", schools=[school])
    db_session.commit()
    app.config["SP_SECOND_FACTOR_REQUIRED"] = False
    try:
        assert password_step(client, user).headers["Location"] == "/"
    finally:
        app.config["SP_SECOND_FACTOR_REQUIRED"] = True
