"""Separation of duties: an admin alone cannot give anyone case data.

An admin proposes a counselor, principal or district role, a school, the student-level export or
privacy-officer grant, and a temporary password, invitation, second-factor reset or reactivation of
an account with case data; until a district user (not the proposer, not the account's holder)
approves, the account sees no case data. Approval makes the change; rejection needs a reason; both
are audited and told; two decisions at once make one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import AccountToken, User
from school_prevention.auth.passwords import verify_password
from school_prevention.extensions import db
from school_prevention.flags.queries import visible_flags
from school_prevention.grants.models import AccessRequest
from school_prevention.grants.services import propose
from school_prevention.notifications.models import Notification
from school_prevention.permissions import referable_students, visible_students
from tests.factories import PASSWORD, make_flag, make_school, make_student, make_user
from tests.support.concurrency import assert_one_effect, fire_together

TEMPORARY = "temporary quilt harbor 7"


@pytest.fixture
def setup(db_session):
    north, south = make_school(name="North"), make_school(name="South")
    admin = make_user("admin", name="Ada Admin")
    district = make_user("district", name="Dana District")
    district2 = make_user("district", name="Drew District")
    gone = make_user("district", name="Gone District", is_active=False)
    writer = make_user("counselor", schools=[north])
    student, south_student = make_student(north, family_name="Ortiz"), make_student(south, family_name="Lindqvist")
    flag = make_flag(student, writer, category_name="Signs of commercial", severity="high")
    db_session.commit()
    return {
        "north": north,
        "south": south,
        "admin": admin,
        "district": district,
        "district2": district2,
        "gone": gone,
        "student": student,
        "south_student": south_student,
        "flag": flag,
    }


def pending(user: User) -> list[tuple[str, str]]:
    return [
        tuple(row)
        for row in db.session.execute(
            select(AccessRequest.kind, AccessRequest.value)
            .where(AccessRequest.user_id == user.id, AccessRequest.status == "pending")
            .order_by(AccessRequest.id)
        )
    ]


def requests_of(user: User) -> list[AccessRequest]:
    return list(
        db.session.scalars(
            select(AccessRequest)
            .where(AccessRequest.user_id == user.id)
            .order_by(AccessRequest.id)
            .execution_options(populate_existing=True)
        )
    )


def approve_all(app, login_as, district: User, user: User) -> None:
    """The district user approves every pending request about the account through the page."""
    browser = login_as(district, app.test_client())
    for req in requests_of(user):
        if req.status == "pending":
            assert browser.post(f"/access-requests/{req.id}/approve").status_code == 302, req.kind


def fresh(user: User) -> User:
    return db.session.scalars(select(User).where(User.id == user.id).execution_options(populate_existing=True)).one()


def sees_case_data(app, login_as, user: User, setup) -> dict:
    """What the account reaches: the student list, the student and flag pages, the referral search."""
    browser = login_as(fresh(user), app.test_client())
    student, flag = setup["student"], setup["flag"]
    search = browser.get("/referrals/new?q=Ortiz")
    return {
        "list": browser.get("/students").status_code,
        "student": browser.get(f"/students/{student.id}").status_code,
        "flag": browser.get(f"/flags/{flag.id}").status_code,
        # The search box repeats the family name asked for; a result would show the given name too.
        "search": search.status_code == 200 and student.given_name in search.get_data(as_text=True),
        "scoped": (
            len(db.session.scalars(visible_students(fresh(user))).all()),
            len(db.session.scalars(visible_flags(fresh(user))).all()),
            len(db.session.scalars(referable_students(fresh(user))).all()),
        ),
    }


NOTHING = {"list": 403, "student": 403, "flag": 403, "search": False, "scoped": (0, 0, 0)}


def test_an_admin_alone_cannot_make_a_counselor_the_district_can(app, client, login_as, setup):
    login_as(setup["admin"])
    created = client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "send_invite": "y",
        },
    )
    assert created.status_code == 302
    users_page = client.get("/admin/users").get_data(as_text=True)
    assert (
        "Waiting for the district" in users_page
        and "the Counselor / social worker role; the school North" in users_page
    )
    nia = db.session.scalars(select(User).where(User.email == "nia@school.org")).one()
    assert (nia.role, nia.school_ids) == ("staff", [])
    assert pending(nia) == [("role", "counselor"), ("school", str(setup["north"].id))]
    assert sees_case_data(app, login_as, nia, setup) == NOTHING

    approve_all(app, login_as, setup["district"], nia)
    nia = fresh(nia)
    assert (nia.role, nia.school_ids) == ("counselor", [setup["north"].id]) and pending(nia) == []
    assert sees_case_data(app, login_as, nia, setup) == {
        "list": 200,
        "student": 200,
        "flag": 200,
        "search": False,
        "scoped": (1, 1, 1),
    }


def test_staff_become_principal_only_with_approval_and_a_new_school_waits_too(app, client, login_as, setup):
    staff = make_user("staff", schools=[setup["north"]])
    counselor = make_user("counselor", schools=[setup["north"]])
    db.session.commit()
    login_as(setup["admin"])
    assert (
        client.post(
            f"/admin/users/{staff.id}", data={"name": staff.name, "role": "principal", "schools": [setup["north"].id]}
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"/admin/users/{counselor.id}",
            data={"name": counselor.name, "role": "counselor", "schools": [setup["north"].id, setup["south"].id]},
        ).status_code
        == 302
    )
    assert (fresh(staff).role, pending(staff)) == ("staff", [("role", "principal")])
    assert fresh(counselor).school_ids == [setup["north"].id]
    assert pending(counselor) == [("school", str(setup["south"].id))]
    south_student = setup["south_student"]
    assert login_as(fresh(counselor), app.test_client()).get(f"/students/{south_student.id}").status_code == 404
    assert login_as(fresh(staff), app.test_client()).get("/students").status_code == 403
    assert sees_case_data(app, login_as, staff, setup)["search"]  # a staff member of North may refer its students

    approve_all(app, login_as, setup["district"], staff)
    approve_all(app, login_as, setup["district"], counselor)
    assert fresh(staff).role == "principal"
    assert login_as(fresh(staff), app.test_client()).get(f"/students/{setup['student'].id}").status_code == 200
    assert sorted(fresh(counselor).school_ids) == sorted([setup["north"].id, setup["south"].id])
    assert login_as(fresh(counselor), app.test_client()).get(f"/students/{south_student.id}").status_code == 200


def test_student_export_and_privacy_officer_grants_wait_for_approval(app, client, login_as, setup):
    analyst = make_user("district", name="Ana Lyst")
    db.session.commit()
    login_as(setup["admin"])
    assert (
        client.post(
            f"/admin/users/{analyst.id}",
            data={"name": analyst.name, "role": "district", "can_export_student_level": "y", "is_privacy_officer": "y"},
        ).status_code
        == 302
    )
    assert pending(analyst) == [("student_export", ""), ("privacy_officer", "")]
    theirs = login_as(fresh(analyst), app.test_client())
    assert theirs.get("/exports/students").status_code == 403
    assert theirs.get("/privacy/access").status_code == 403

    approve_all(app, login_as, setup["district"], analyst)
    analyst = fresh(analyst)
    assert analyst.can_export_student_level and analyst.is_privacy_officer
    theirs = login_as(analyst, app.test_client())
    assert theirs.get("/exports/students").status_code == 200
    assert theirs.get("/privacy/access").status_code == 200
    # Taking a grant away needs nobody's approval.
    assert client.post(f"/admin/users/{analyst.id}", data={"name": analyst.name, "role": "district"}).status_code == 302
    assert not fresh(analyst).can_export_student_level and not fresh(analyst).is_privacy_officer


def test_a_district_account_is_itself_a_grant_an_admin_cannot_make_alone(app, client, login_as, setup):
    """A district user approves grants: an admin who could make one could approve their own proposals."""
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={"email": "sock@school.org", "name": "Sock Puppet", "role": "district", "send_invite": "y"},
    )
    sock = db.session.scalars(select(User).where(User.email == "sock@school.org")).one()
    assert sock.role == "staff" and pending(sock) == [("role", "district")]
    assert login_as(sock, app.test_client()).get("/access-requests").status_code == 403


def test_a_temporary_password_on_a_counselor_waits_and_only_its_hash_is_kept(app, client, login_as, setup):
    counselor = make_user("counselor", schools=[setup["north"]], email="cora@school.org")
    db.session.commit()
    login_as(setup["admin"])
    answer = client.post(
        f"/admin/users/{counselor.id}",
        data={"name": counselor.name, "role": "counselor", "schools": [setup["north"].id], "new_password": TEMPORARY},
        follow_redirects=True,
    )
    assert "Waiting for approval by the district: a temporary password set by an administrator." in answer.get_data(
        as_text=True
    )
    (req,) = requests_of(counselor)
    assert req.kind == "password" and req.password_hash and TEMPORARY not in req.password_hash
    assert verify_password(req.password_hash, TEMPORARY)

    def signs_in(password: str) -> bool:
        return (
            app.test_client().post("/login", data={"email": "cora@school.org", "password": password}).status_code == 302
        )

    assert signs_in(PASSWORD) and not signs_in(TEMPORARY)
    # The same password proposed again is the same proposal; a different one replaces it.
    same = client.post(
        f"/admin/users/{counselor.id}",
        data={"name": counselor.name, "role": "counselor", "schools": [setup["north"].id], "new_password": TEMPORARY},
    )
    assert same.status_code == 409
    approve_all(app, login_as, setup["district"], counselor)
    assert signs_in(TEMPORARY) and not signs_in(PASSWORD)
    assert fresh(counselor).must_change_password
    (req,) = requests_of(counselor)
    assert req.status == "approved" and req.password_hash is None  # no secret kept once decided


def test_an_invitation_to_a_counselor_is_sent_only_once_approved(app, client, login_as, setup):
    counselor = make_user("counselor", schools=[setup["north"]])
    db.session.commit()
    login_as(setup["admin"])
    assert client.post(f"/admin/users/{counselor.id}/invite", data={"last_invitation": ""}).status_code == 302
    again = client.post(f"/admin/users/{counselor.id}/invite", data={"last_invitation": ""})
    assert again.status_code == 409 and "waits for approval by the district" in again.get_data(as_text=True)
    tokens_of = select(func.count()).select_from(AccountToken).where(AccountToken.user_id == counselor.id)
    assert db.session.scalar(tokens_of) == 0 and pending(counselor) == [("reset_link", "")]
    approve_all(app, login_as, setup["district"], counselor)
    assert db.session.scalar(tokens_of) == 1
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == counselor.id, Notification.kind == "account.invite")
        )
        == 1
    )


def test_removing_a_second_factor_waits_for_a_counselor_but_not_for_staff(app, client, login_as, setup):
    counselor = make_user("counselor", schools=[setup["north"]], mfa_secret="JBSWY3DPEHPK3PXP")
    staff = make_user("staff", schools=[setup["north"]], mfa_secret="JBSWY3DPEHPK3PXQ")
    db.session.commit()
    login_as(setup["admin"])
    assert "Remove the second sign-in factor" in client.get(f"/admin/users/{counselor.id}").get_data(as_text=True)
    assert client.post(f"/admin/users/{counselor.id}/second-factor").status_code == 302
    assert client.post(f"/admin/users/{staff.id}/second-factor").status_code == 302
    assert fresh(counselor).mfa_secret and fresh(staff).mfa_secret is None
    assert pending(counselor) == [("second_factor", "")]
    approve_all(app, login_as, setup["district"], counselor)
    assert fresh(counselor).mfa_secret is None
    assert client.post(f"/admin/users/{counselor.id}/second-factor").status_code == 409


def test_rejection_needs_a_reason_changes_nothing_and_tells_the_admin(app, client, login_as, setup):
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "new_password": TEMPORARY,
        },
    )
    nia = db.session.scalars(select(User).where(User.email == "nia@school.org")).one()
    role_request = requests_of(nia)[0]
    district = login_as(setup["district"], app.test_client())
    blank = district.post(f"/access-requests/{role_request.id}/reject", data={"reason": "   "})
    assert blank.status_code == 400 and "Say why, for the administrator who proposed it." in blank.get_data(
        as_text=True
    )
    assert requests_of(nia)[0].status == "pending"
    assert (
        district.post(
            f"/access-requests/{role_request.id}/reject", data={"reason": "Not on the HR list of new counselors."}
        ).status_code
        == 302
    )
    role_request = requests_of(nia)[0]
    assert (role_request.status, role_request.decided_by_id) == ("rejected", setup["district"].id)
    assert fresh(nia).role == "staff"
    told = db.session.scalars(
        select(Notification.title).where(
            Notification.user_id == setup["admin"].id, Notification.kind == "grant.decided"
        )
    ).all()
    assert told == ["Not approved by Dana District: the Counselor / social worker role for Nia Okafor"]
    page = district.get("/access-requests").get_data(as_text=True)
    assert "Not on the HR list of new counselors." in page
    admin_page = client.get(f"/admin/users/{nia.id}").get_data(as_text=True)
    assert "The Counselor / social worker role: rejected by Dana District" in admin_page
    assert "Not on the HR list of new counselors." in admin_page
    # A decided request cannot be approved afterwards.
    late = district.post(f"/access-requests/{role_request.id}/approve")
    assert late.status_code == 409 and "was already rejected by Dana District" in late.get_data(as_text=True)


def test_nobody_decides_a_request_about_themselves_or_of_their_own_proposing(app, login_as, setup):
    district, district2 = setup["district"], setup["district2"]
    about_me = propose(setup["admin"], district, "privacy_officer")
    mine = propose(district2, make_user("staff", schools=[setup["north"]]), "role", "counselor")
    db.session.commit()
    browser = login_as(district, app.test_client())
    refused = browser.post(f"/access-requests/{about_me.id}/approve")
    assert refused.status_code == 403 and "about your own account" in refused.get_data(as_text=True)
    assert browser.post(f"/access-requests/{about_me.id}/reject", data={"reason": "x"}).status_code == 403
    assert not fresh(district).is_privacy_officer
    page = browser.get("/access-requests").get_data(as_text=True)
    assert "This is about your own account: another district user decides it." in page
    other = login_as(district2, app.test_client())
    assert other.post(f"/access-requests/{mine.id}/approve").status_code == 403
    assert other.post(f"/access-requests/{about_me.id}/approve").status_code == 302
    assert fresh(district).is_privacy_officer
    # Admins propose; they never decide.
    assert login_as(setup["admin"], app.test_client()).post(f"/access-requests/{mine.id}/approve").status_code == 403


def test_a_proposal_tells_every_active_district_user_in_the_app_and_by_email(app, client, login_as, setup):
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "send_invite": "y",
        },
    )
    rows = db.session.execute(
        select(Notification.user_id, Notification.channel, Notification.title, Notification.link)
        .where(Notification.kind == "grant.proposed")
        .order_by(Notification.user_id, Notification.channel)
    ).all()
    title = "Approval needed: access to case data for Nia Okafor"
    assert [tuple(r) for r in rows] == [
        (who.id, channel, title, "/access-requests")
        for who in (setup["district"], setup["district2"])
        for channel in ("email", "in_app")
    ]
    # One notice per admin action (the role and its school together), never the deactivated district user.
    assert setup["gone"].id not in {r.user_id for r in rows}


def test_proposals_and_decisions_are_audited_with_actor_account_and_kind(app, client, login_as, setup):
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "new_password": TEMPORARY,
        },
    )
    nia = db.session.scalars(select(User).where(User.email == "nia@school.org")).one()
    approve_all(app, login_as, setup["district"], nia)
    rows = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.detail)
        .where(AuditEvent.object_type == "user_account", AuditEvent.object_id == str(nia.id))
        .order_by(AuditEvent.id)
    ).all()
    admin, district = setup["admin"].id, setup["district"].id
    assert [(a, actor, d.get("kind")) for a, actor, d in rows] == [
        ("user.created", admin, None),
        ("grant.proposed", admin, "role"),
        ("grant.proposed", admin, "school"),
        ("grant.approved", district, "role"),
        ("grant.approved", district, "school"),
    ]
    assert rows[-1].detail["after"]["school_ids"] == [setup["north"].id]
    assert rows[-1].detail["proposed_by_id"] == admin


def test_withdrawn_and_superseded_proposals_cannot_be_approved(app, client, login_as, setup):
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "new_password": TEMPORARY,
        },
    )
    nia = db.session.scalars(select(User).where(User.email == "nia@school.org")).one()
    role_request, school_request = requests_of(nia)
    assert client.post(f"/admin/users/{nia.id}/requests/{school_request.id}/withdraw").status_code == 302
    assert client.post(f"/admin/users/{nia.id}/requests/{school_request.id}/withdraw").status_code == 409
    # Another role given outright (no case data) replaces the pending role proposal.
    assert client.post(f"/admin/users/{nia.id}", data={"name": nia.name, "role": "admin"}).status_code == 302
    assert [r.status for r in requests_of(nia)] == ["withdrawn", "withdrawn"]
    district = login_as(setup["district"], app.test_client())
    late = district.post(f"/access-requests/{role_request.id}/approve")
    assert late.status_code == 409 and "was already withdrawn by Ada Admin" in late.get_data(as_text=True)
    assert fresh(nia).role == "admin"


def test_a_request_the_account_no_longer_fits_is_refused_with_a_reason(app, login_as, setup):
    analyst = make_user("staff", schools=[setup["north"]])
    req = propose(setup["admin"], analyst, "student_export")
    db.session.commit()
    answer = login_as(setup["district"], app.test_client()).post(f"/access-requests/{req.id}/approve")
    assert answer.status_code == 400 and "is not a district user" in answer.get_data(as_text=True)
    assert requests_of(analyst)[0].status == "pending" and not fresh(analyst).can_export_student_level


def test_the_operator_on_the_server_creates_any_account_at_once_and_the_audit_says_so(app, db_session):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "boot@school.org",
            "--role",
            "district",
            "--name",
            "Boot Strap",
            "--grant-student-export",
        ],
        input="orchard lantern pebble 58\n",
    )
    assert result.exit_code == 0, result.output
    boot = db.session.scalars(select(User).where(User.email == "boot@school.org")).one()
    assert (boot.role, boot.can_export_student_level) == ("district", True) and pending(boot) == []
    detail = db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "user.created", AuditEvent.object_id == str(boot.id))
    ).one()
    assert detail["approval"] == "operator" and detail["grants"] == ["student_export"]


def test_the_access_requests_page_is_for_the_district_and_names_no_student(app, client, login_as, setup):
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "new_password": TEMPORARY,
        },
    )
    page = login_as(setup["district"], app.test_client()).get("/access-requests")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nia Okafor" in text and "The Counselor / social worker role" in text and "The school North" in text
    assert "a temporary password from Ada Admin; <strong>not yet changed</strong>" in text
    assert setup["student"].family_name not in text
    assert 'href="/access-requests"' in text  # in the district's navigation


def test_the_approver_is_told_when_an_admin_set_the_password_even_if_it_was_changed_since(app, client, login_as, setup):
    """The review's attack: an admin makes a counselor with a password they know, signs in as it first and
    changes the password, then asks for approval. The approver sees where the password came from."""
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "nia@school.org",
            "name": "Nia Okafor",
            "role": "counselor",
            "schools": [setup["north"].id],
            "new_password": TEMPORARY,
        },
    )
    posing = app.test_client()
    assert posing.post("/login", data={"email": "nia@school.org", "password": TEMPORARY}).status_code == 302
    assert (
        posing.post(
            "/account/password",
            data={
                "current_password": TEMPORARY,
                "new_password": "orchard lantern pebble 58",
                "confirm": "orchard lantern pebble 58",
            },
        ).status_code
        == 302
    )
    text = login_as(setup["district"], app.test_client()).get("/access-requests").get_data(as_text=True)
    assert (
        "a temporary password from Ada Admin, then changed at sign-in. Whoever set it could have signed in first: "
        "check with Nia Okafor that they have it"
    ) in text
    login_as(setup["admin"])
    client.post(
        "/admin/users/new",
        data={
            "email": "ivy@school.org",
            "name": "Ivy Invited",
            "role": "principal",
            "schools": [setup["north"].id],
            "send_invite": "y",
        },
    )
    text = login_as(setup["district"], app.test_client()).get("/access-requests").get_data(as_text=True)
    assert "not chosen yet" in text


# --- two decisions at once ------------------------------------------------------------------


@dataclass
class Deciders:
    district: int
    district2: int
    request: int
    user: int


@pytest.fixture
def deciders(race_app) -> Deciders:
    with race_app.app_context():
        school = make_school()
        admin = make_user("admin")
        d1, d2 = make_user("district"), make_user("district")
        user = make_user("staff")
        req = propose(admin, user, "school", str(school.id), school=school)
        propose(admin, user, "role", "counselor")
        db.session.commit()
        return Deciders(d1.id, d2.id, req.id, user.id)


def _count(app, statement) -> int:
    with app.app_context():
        return db.session.scalar(statement)


def test_approving_one_request_at_once_approves_it_once(race_app, deciders):
    answers = fire_together(
        race_app,
        [deciders.district] * 4 + [deciders.district2] * 4,
        "POST",
        f"/access-requests/{deciders.request}/approve",
    )
    assert_one_effect(answers, says="was already approved by")
    assert (
        _count(
            race_app,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "grant.approved", AuditEvent.object_id == str(deciders.user)),
        )
        == 1
    )
    with race_app.app_context():
        assert len(db.session.get(User, deciders.user).school_ids) == 1


def test_rejecting_one_request_at_once_rejects_it_once(race_app, deciders):
    with race_app.app_context():
        role_request = db.session.scalars(
            select(AccessRequest.id).where(AccessRequest.user_id == deciders.user, AccessRequest.kind == "role")
        ).one()
    answers = fire_together(
        race_app, deciders.district, "POST", f"/access-requests/{role_request}/reject", {"reason": "Not yet"}, n=4
    )
    assert_one_effect(answers, says="was already rejected by")
    with race_app.app_context():
        assert db.session.get(User, deciders.user).role == "staff"
        assert db.session.get(AccessRequest, role_request).status == "rejected"


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("en", "Approved by Dee District: the Counselor / social worker role for Ana Admin"),
        ("es", "Aprobado por Dee District: el rol Consejero / trabajador social para Ana Admin"),
    ],
)
def test_the_proposer_reads_the_decision_wholly_in_their_language(app, language, title):
    """The title of a decision is composed in its recipient's language, the request's words included."""
    from flask_babel import force_locale

    from school_prevention.grants.models import ROLE
    from school_prevention.grants.services import _decided_title

    req = AccessRequest(kind=ROLE, value="counselor")
    with app.test_request_context(), force_locale(language):
        assert _decided_title(True, "Dee District", req, "Ana Admin") == title
