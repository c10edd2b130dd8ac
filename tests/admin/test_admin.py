"""Admins create, edit, deactivate and reactivate accounts; bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from school_prevention.auth.models import User
from school_prevention.extensions import db
from tests.factories import PASSWORD, make_school, make_user


@pytest.fixture
def setup(db_session):
    north, south = make_school(name="North"), make_school(name="South")
    admin = make_user("admin")
    db_session.commit()
    return {"north": north, "south": south, "admin": admin}


def user_count():
    return db.session.scalar(select(func.count()).select_from(User))


def pending(user: User) -> list[tuple[str, str]]:
    from school_prevention.grants.models import AccessRequest

    return [
        tuple(row)
        for row in db.session.execute(
            select(AccessRequest.kind, AccessRequest.value)
            .where(AccessRequest.user_id == user.id, AccessRequest.status == "pending")
            .order_by(AccessRequest.id)
        )
    ]


def test_create_user_then_they_sign_in_and_must_choose_a_password(app, client, login_as, setup):
    login_as(setup["admin"])
    response = client.post(
        "/admin/users/new",
        data={
            "email": "New.Counselor@School.org",
            "name": "Nia Counselor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "new_password": "temporary quilt harbor 7",
        },
    )
    assert response.status_code == 302
    assert "Waiting for approval by the district: the Counselor / social worker role; the school North." in client.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    user = db.session.scalars(select(User).where(User.email == "new.counselor@school.org")).one()
    # The counselor role and the school wait for a district user (tests/grants/test_grants.py): no case data yet.
    assert (user.role, user.school_ids, user.must_change_password) == ("staff", [], True)
    assert pending(user) == [("role", "counselor"), ("school", str(setup["north"].id))]
    other = app.test_client()
    other.post("/login", data={"email": "new.counselor@school.org", "password": "temporary quilt harbor 7"})
    assert other.get("/students").headers["Location"] == "/account/password"


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"email": "not-an-email", "name": "X", "role": "staff", "new_password": "temporary quilt harbor 7"},
            b"valid email",
        ),
        (
            {"email": "a@b.org", "name": "", "role": "staff", "new_password": "temporary quilt harbor 7"},
            b"Enter the person",
        ),
        (
            {"email": "a@b.org", "name": "X", "role": "wizard", "new_password": "temporary quilt harbor 7"},
            b"Not a valid choice",
        ),
        (
            {"email": "a@b.org", "name": "X", "role": "staff", "new_password": "temporary quilt harbor 7"},
            b"at least one school",
        ),
        ({"email": "a@b.org", "name": "X", "role": "admin", "new_password": ""}, b"temporary password"),
        ({"email": "a@b.org", "name": "X", "role": "admin", "new_password": "password1234"}, b"too easy to guess"),
        (
            {
                "email": "a@b.org",
                "name": "X",
                "role": "admin",
                "new_password": "temporary quilt harbor 7",
                "schools": ["99999"],
            },
            b"is not a valid choice",
        ),
    ],
)
def test_bad_input_is_refused_beside_the_field_and_creates_nothing(client, login_as, setup, data, message):
    login_as(setup["admin"])
    before = user_count()
    response = client.post("/admin/users/new", data=data)
    assert response.status_code == 400
    assert message in response.data
    assert user_count() == before


def test_duplicate_email_is_refused(client, login_as, setup):
    existing = make_user("staff", schools=[setup["north"]], email="dup@school.org")
    db.session.commit()
    login_as(setup["admin"])
    response = client.post(
        "/admin/users/new",
        data={"email": "DUP@school.org", "name": "Other", "role": "admin", "new_password": "temporary quilt harbor 7"},
    )
    assert response.status_code == 400 and b"already exists" in response.data
    assert existing.name != "Other"


def test_moving_a_counselor_to_another_school_ends_their_sessions(app, client, login_as, setup):
    """The school taken away goes at once (and their sessions with it); the new one waits for the district."""
    counselor = make_user("counselor", schools=[setup["north"]])
    db.session.commit()
    theirs = login_as(counselor, app.test_client())
    assert theirs.get("/students").status_code == 200
    login_as(setup["admin"])
    response = client.post(
        f"/admin/users/{counselor.id}",
        data={"name": counselor.name, "role": "counselor", "schools": [setup["south"].id]},
    )
    assert response.status_code == 302
    assert theirs.get("/students").headers["Location"].startswith("/login")
    db.session.refresh(counselor)
    assert counselor.school_ids == []
    assert pending(counselor) == [("school", str(setup["south"].id))]


def test_deactivating_ends_every_session_and_blocks_sign_in(app, client, login_as, setup):
    counselor = make_user("counselor", schools=[setup["north"]])
    db.session.commit()
    browsers = [login_as(counselor, app.test_client()) for _ in range(2)]
    login_as(setup["admin"])
    response = client.post(f"/admin/users/{counselor.id}/active", data={"active": "0"})
    assert response.status_code == 302
    for browser in browsers:
        assert browser.get("/").headers["Location"].startswith("/login")
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": counselor.email, "password": PASSWORD}).status_code == 401
    # The account holds case data: reactivating it waits for a district user's approval.
    reactivated = client.post(f"/admin/users/{counselor.id}/active", data={"active": "1"}, follow_redirects=True)
    assert "reactivating the account waits for the district" in reactivated.get_data(as_text=True)
    assert pending(counselor) == [("reactivate", "")]
    assert fresh.post("/login", data={"email": counselor.email, "password": PASSWORD}).status_code == 401
    from school_prevention.grants.models import AccessRequest

    district = make_user("district")
    db.session.commit()
    request_id = db.session.scalars(select(AccessRequest.id).where(AccessRequest.user_id == counselor.id)).one()
    assert login_as(district, app.test_client()).post(f"/access-requests/{request_id}/approve").status_code == 302
    assert fresh.post("/login", data={"email": counselor.email, "password": PASSWORD}).status_code == 302


def test_admin_cannot_lock_themselves_out(client, login_as, setup):
    admin = setup["admin"]
    login_as(admin)
    client.post(f"/admin/users/{admin.id}/active", data={"active": "0"})
    response = client.post(
        f"/admin/users/{admin.id}", data={"name": admin.name, "role": "staff", "schools": [setup["north"].id]}
    )
    assert response.status_code == 400 and b"cannot change your own role" in response.data
    db.session.refresh(admin)
    assert admin.is_active and admin.role == "admin"


def test_bad_active_value_is_a_400(client, login_as, setup):
    login_as(setup["admin"])
    assert client.post(f"/admin/users/{setup['admin'].id}/active", data={"active": "maybe"}).status_code == 400
    assert client.get("/admin/users/424242").status_code == 404


def test_users_list_refuses_a_page_number_too_large(client, login_as, setup):
    login_as(setup["admin"])
    response = client.get("/admin/users?page=99999999999999999999")
    assert response.status_code == 400
    assert b"page must be a whole number from 1 to 100000" in response.data


def test_student_export_grant_only_sticks_for_district_users(client, login_as, setup):
    """Only a district user may be proposed for the grant, and even then it waits for approval."""
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "p@school.org",
            "name": "P",
            "role": "principal",
            "schools": [setup["north"].id],
            "can_export_student_level": "y",
            "is_privacy_officer": "y",
            "new_password": "temporary quilt harbor 7",
        },
    )
    client.post(
        "/admin/users/new",
        data={
            "email": "d@school.org",
            "name": "D",
            "role": "district",
            "can_export_student_level": "y",
            "is_privacy_officer": "y",
            "new_password": "temporary quilt harbor 7",
        },
    )
    users = {
        u.email: u for u in db.session.scalars(select(User).where(User.email.in_(["p@school.org", "d@school.org"])))
    }
    assert [(u.can_export_student_level, u.is_privacy_officer) for u in users.values()] == [(False, False)] * 2
    assert pending(users["p@school.org"]) == [("role", "principal"), ("school", str(setup["north"].id))]
    assert pending(users["d@school.org"]) == [("role", "district"), ("student_export", ""), ("privacy_officer", "")]


def test_a_repeated_create_edit_or_deactivation_changes_nothing_and_says_who_did_it(client, login_as, setup):
    login_as(setup["admin"])
    form = {
        "email": "nia@school.org",
        "name": "Nia Okafor",
        "role": "counselor",
        "schools": [setup["north"].id],
        "new_password": "temporary quilt harbor 7",
    }
    assert client.post("/admin/users/new", data=form).status_code == 302
    again = client.post("/admin/users/new", data=form)  # a double click
    assert again.status_code == 409
    assert f"The account for nia@school.org was already created by {setup['admin'].name}" in again.get_data(
        as_text=True
    )
    assert user_count() == 2
    user = db.session.scalars(select(User).where(User.email == "nia@school.org")).one()
    # The proposal of the counselor role is there already; the school South is proposed once.
    edit = {"name": "Nia Okafor", "role": "counselor", "schools": [setup["south"].id]}
    assert client.post(f"/admin/users/{user.id}", data=edit).status_code == 302
    same = client.post(f"/admin/users/{user.id}", data=edit)
    assert same.status_code == 409 and "were already saved by" in same.get_data(as_text=True)
    # The same temporary password set twice is one change; a different one is another (the
    # account has no case data until the district approves, so a password is set at once).
    reset = {**edit, "new_password": "another quilt harbor 8"}
    assert client.post(f"/admin/users/{user.id}", data=reset).status_code == 302
    assert client.post(f"/admin/users/{user.id}", data=reset).status_code == 409
    assert (
        client.post(f"/admin/users/{user.id}", data={**edit, "new_password": "third quilt harbor 9"}).status_code == 302
    )
    assert client.post(f"/admin/users/{user.id}/active", data={"active": "0"}).status_code == 302
    twice = client.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert twice.status_code == 409
    assert f"account is already deactivated: deactivated by {setup['admin'].name}" in twice.get_data(as_text=True)
    from school_prevention.audit.models import AuditEvent

    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "user_account", AuditEvent.object_id == str(user.id))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "user.created",
        "grant.proposed",
        "grant.proposed",
        "grant.proposed",
        "user.updated",
        "user.updated",
        "user.deactivated",
    ]


def test_a_repeated_list_item_is_refused_and_a_different_one_of_the_same_name_too(client, login_as, setup):
    from school_prevention.programs.models import ProgramType

    login_as(setup["admin"])
    item = {"name": "Scouting", "description": "", "position": "40", "is_active": "y"}
    assert client.post("/admin/lists/program-types/new", data=item).status_code == 302
    again = client.post("/admin/lists/program-types/new", data=item)
    assert again.status_code == 409 and "The program type “Scouting” was already added by" in again.get_data(
        as_text=True
    )
    other = client.post("/admin/lists/program-types/new", data={**item, "name": "scouting ", "position": "41"})
    assert other.status_code == 400 and "There is already a program type with this name" in other.get_data(as_text=True)
    saved = db.session.scalars(select(ProgramType).where(ProgramType.name == "Scouting")).one()
    unchanged = client.post(f"/admin/lists/program-types/{saved.id}", data=item)
    assert unchanged.status_code == 409 and "was already saved with these details by" in unchanged.get_data(
        as_text=True
    )
    assert client.post(f"/admin/lists/program-types/{saved.id}", data={**item, "position": "45"}).status_code == 302
    db.session.refresh(saved)
    assert saved.position == 45
