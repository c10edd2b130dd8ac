"""Every endpoint has a declared policy, and each role gets exactly what DESIGN.md gives it.

The expectations below are written out by hand from DESIGN.md's role table, not read from the
code, so a route that is opened (or closed) by mistake makes this test fail. A new route makes
it fail too until someone adds its line here: that is the point.
"""
from __future__ import annotations

import pytest

from school_prevention import create_app
from school_prevention.config import TestConfig
from school_prevention.permissions import policy_for
from datetime import date, time, timedelta

from sqlalchemy import select

from school_prevention.auth import tokens
from school_prevention.checkins import calendar
from school_prevention.checkins.models import CheckIn
from school_prevention.checkins.services import add_non_school_day, create_plan
from school_prevention.db import utcnow
from school_prevention.extensions import db

from school_prevention.programs.mentoring import open_match
from school_prevention.programs.models import Enrollment
from school_prevention.programs.services import record_session
from school_prevention.agencies.services import refer_student
from school_prevention.disclosures.services import log_inspection_request, record_consent
from school_prevention.awareness.services import save_page
from tests.factories import (
    make_agency, make_flag, make_guardian, make_mentor, make_notification, make_program, make_referral, make_school,
    make_student, make_user,
)
from tests.factories import make_completion

ALL = {"staff", "counselor", "principal", "district", "admin"}
PUBLIC = "public"

# endpoint -> roles that may use it, or PUBLIC.
EXPECTED: dict[str, set[str] | str] = {
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,  # signing out must always work, even with an expired session
    "auth.forgot_password": PUBLIC,
    "auth.reset_password": PUBLIC,  # the single-use token in the URL is the key
    "auth.accept_invitation": PUBLIC,  # likewise
    "home.healthz": PUBLIC,
    "home.index": ALL,
    "account.password": ALL,
    "auth.second_factor": PUBLIC,  # the pending sign-in in the session is the key (auth.signin_flow)
    "auth.second_factor_setup": PUBLIC,  # likewise
    "auth.sso_start": PUBLIC,
    "auth.sso_callback": PUBLIC,  # the provider's signed ID token and the session's state are the key
    "account.security": ALL,
    "account.session_end": ALL,  # one's own sessions only (404 for another's)
    "account.sessions_end_all": ALL,
    "account.language": ALL,  # one's own language only
    "account.second_factor_setup": ALL,
    "account.recovery_codes": ALL,
    "students.index": {"counselor", "principal"},
    "students.detail": {"counselor", "principal"},
    "students.summary": {"counselor"},
    "tiers.change_tier": {"counselor"},
    "tiers.plan_new": {"counselor"},
    "tiers.plan_detail": {"counselor", "principal"},
    "tiers.progress": {"counselor"},
    "tiers.review": {"counselor"},
    "admin.users": {"admin"},
    "admin.user_invite": {"admin"},
    "admin.user_new": {"admin"},
    "admin.user_edit": {"admin"},
    "admin.user_set_active": {"admin"},
    "admin.user_second_factor_reset": {"admin"},
    "admin.request_withdraw": {"admin"},
    "grants.index": {"district"},
    "grants.approve": {"district"},  # not a request about oneself or of one's own proposing (test_grants)
    "grants.reject": {"district"},
    "catalogue.overview": {"admin"},
    "catalogue.index": {"admin"},
    "catalogue.edit": {"admin"},
    "flags.new": {"counselor"},
    "flags.detail": {"counselor", "principal"},
    "flags.edit": {"counselor"},
    "flags.status": {"counselor"},
    "flags.report": {"counselor"},
    "referrals.new": {"staff"},
    "referrals.mine": {"staff"},
    "referrals.queue": {"counselor"},
    "referrals.detail": {"counselor"},
    "referrals.waiting": {"principal"},
    "referrals.review": {"counselor"},
    "referrals.accept": {"counselor"},
    "referrals.close": {"counselor"},
    "screenings.new": {"counselor"},
    "notifications.index": ALL,
    "notifications.open_": ALL,
    "notifications.read_all": ALL,
    "roster.index": {"admin"},
    "roster.detail": {"admin"},
    "roster.progress_json": {"admin"},
    "roster.apply": {"admin"},
    "roster.retry": {"admin"},
    "roster.discard": {"admin"},
    "programs.index": {"counselor", "principal", "district"},
    "programs.new": {"counselor", "principal"},
    "programs.detail": {"counselor", "principal"},
    "programs.edit": {"counselor", "principal"},
    "programs.enroll_many": {"counselor", "principal"},
    "programs.enroll_student": {"counselor", "principal"},
    "programs.end": {"counselor", "principal"},
    "programs.session_new": {"counselor", "principal"},
    "programs.session_edit": {"counselor", "principal"},
    "mentoring.mentors": {"counselor", "principal"},
    "mentoring.mentor_edit": {"counselor", "principal"},
    "mentoring.matches": {"counselor", "principal"},
    "mentoring.match_new": {"counselor", "principal"},
    "mentoring.match_detail": {"counselor", "principal"},
    "mentoring.match_move": {"counselor", "principal"},
    "mentoring.match_contact": {"counselor", "principal"},
    "checkins.index": {"counselor"},
    "checkins.plan_new": {"counselor"},
    "checkins.plan_detail": {"counselor"},
    "checkins.plan_edit": {"counselor"},
    "checkins.plan_end": {"counselor"},
    "checkins.detail": {"counselor"},
    "checkins.missed": {"counselor"},
    "checkins.cancel_": {"counselor"},
    "checkins.reschedule_": {"counselor"},
    "checkins.feed": PUBLIC,  # the secret token in the URL is the key; a wrong one is 404
    "checkins.calendar_settings": {"counselor"},
    "checkins.reminders": {"counselor"},
    "schooldays.index": {"admin"},
    "schooldays.delete": {"admin"},
    "outbox.index": {"admin"},
    "outbox.retry": {"admin"},
    "outbox.requeue": {"admin"},
    "reports.coverage": {"counselor", "principal", "district"},
    "exports.district_csv": {"district"},
    "exports.district_xlsx": {"district"},
    "exports.students": {"district"},  # and only with the can_export_student_level grant (test_exports)
    "exports.student_export": {"district"},  # the requester's own export only (test_student_export_jobs)
    "exports.student_export_progress": {"district"},
    "exports.student_export_download": {"district"},
    "agencies.index": {"counselor", "principal", "admin"},  # the directory: no student data
    "agencies.new": {"admin"},
    "agencies.edit": {"admin"},
    "agencies.refer": {"counselor"},
    "agencies.referral": {"counselor"},
    "agencies.status": {"counselor"},
    "agencies.follow_up": {"counselor"},
    "disclosures.record": {"counselor"},
    "disclosures.new": {"counselor"},
    "disclosures.consent_new": {"counselor"},
    "disclosures.consent_revoke": {"counselor"},
    "disclosures.inspection_new": {"counselor"},
    "disclosures.inspection": {"counselor"},
    "disclosures.inspection_answer": {"counselor"},
    "training.index": {"principal", "admin"},  # a principal: their schools' staff only (test_training)
    "training.person": {"principal", "admin"},
    "training.remove": {"principal", "admin"},
    "training.import_": {"principal", "admin"},
    "training.mine": ALL,
    "awareness.index": ALL,
    "awareness.page": ALL,  # a page not addressed to the role is 404 (test_awareness)
    "awareness.confirm": ALL,
    "awareness.edit": {"admin"},
    "awareness.readers": {"principal", "admin"},
    "students.view_save": {"counselor", "principal"},
    "students.view_delete": {"counselor", "principal"},  # one's own views only (test_caseload)
    "students.bulk_plans": {"counselor"},
    "students.bulk_enroll": {"counselor", "principal"},
    "students.bulk_assign": {"counselor", "principal"},
    "access_record.student_access": {"counselor"},
    "access_record.student_access_csv": {"counselor"},
    "access_record.privacy_access": {"district"},  # and only with the privacy-officer grant (test_access_record)
    "access_record.privacy_access_csv": {"district"},
}


def test_every_endpoint_has_a_declared_policy_and_an_expectation(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    undeclared = sorted(e for e in endpoints if policy_for(app, e) is None)
    assert not undeclared, f"endpoints without a declared policy (add @public, @signed_in or @roles): {undeclared}"
    unexpected = sorted(endpoints - EXPECTED.keys())
    assert not unexpected, f"endpoints missing from tests/test_permissions.py EXPECTED: {unexpected}"
    stale = sorted(EXPECTED.keys() - endpoints)
    assert not stale, f"EXPECTED lists endpoints that no longer exist: {stale}"


def test_an_endpoint_without_a_policy_is_refused(database_url):
    """Deny by default: a view that forgot its policy answers 403 before anything runs."""
    app = create_app(TestConfig(database_url))

    @app.route("/undeclared")
    def undeclared():  # pragma: no cover - must never run
        return "leaked"

    response = app.test_client().get("/undeclared")
    assert response.status_code == 403
    assert b"leaked" not in response.data


ACCOUNT_LINKS = {"auth.reset_password": "reset_token", "auth.accept_invitation": "invite_token"}


def _requests(app, world, role=None):
    """(endpoint, method, url) for every rule, with ids of objects inside the user's scope."""
    values = {"student_id": world["student"].id, "user_id": world["other_user"].id,
              "filename": "css/app.css", "kind": "flag-categories", "item_id": world["category"].id,
              "flag_id": world["flag"].id, "referral_id": world["referral"].id,
              "notification_id": None, "run_id": world["roster_run"].id,
              "program_id": world["program"].id, "enrollment_id": world["enrollment"].id,
              "session_id": world["session"].id, "mentor_id": world["mentor"].id, "match_id": world["match"].id,
              "plan_id": world["plan"].id, "checkin_id": world["checkin"].id, "day_id": world["day"].id,
              "token": world["token"], "agency_id": world["agency"].id,
              "agency_referral_id": world["agency_referral"].id, "consent_id": world["consent"].id,
              "inspection_id": world["inspection"].id,
              "page_id": world["awareness_page"].id, "completion_id": world["completion"].id,
              "access_request_id": world["access_request"].id, "intervention_id": world["intervention"].id,
              "export_id": world["student_export"].id, "view_id": None, "browser_id": None}
    for rule in app.url_map.iter_rules():
        method = "GET" if "GET" in rule.methods else "POST"
        args = {arg: values[arg] for arg in rule.arguments}
        if rule.endpoint in ACCOUNT_LINKS:
            args["token"] = world[ACCOUNT_LINKS[rule.endpoint]]
        if rule.endpoint == "notifications.open_":
            args["notification_id"] = world["notifications"][role]
        if rule.endpoint == "students.view_delete":  # a user's own saved view
            args["view_id"] = world["saved_views"].get(role, world["saved_views"]["counselor"])
        if rule.endpoint == "account.session_end":  # another browser of the user's own
            args["browser_id"] = world["browsers"][role or "admin"]
        if rule.endpoint == "outbox.retry":
            args["notification_id"] = world["email"]
        url = rule.build(args)[1]
        yield rule.endpoint, method, url


def _made_export(user, student):
    """A student-level export the worker has made for the district user, naming the student by SIS id."""
    from school_prevention import crypto
    from school_prevention.exports.models import StudentExport

    now = utcnow()
    export = StudentExport(requested_by_id=user.id, dataset="programs", fmt="csv", level=None,
                           period_start=now.date() - timedelta(days=30), period_end=now.date(),
                           purpose="State agency program evaluation, agreement 2026-14", queued_at=now, status="done",
                           rows_done=1, rows_total=1, finished_at=now, expires_at=now + timedelta(hours=24),
                           content=crypto.encrypt_bytes(f"studentSourcedId\r\n{student.sourced_id}\r\n".encode()),
                           file_name="students-programs.csv")
    db.session.add(export)
    db.session.flush()
    return export


@pytest.fixture
def world(db_session):
    return build_world(db_session)


def build_world(db_session) -> dict:
    """One of every object a route names, in one school, and one user per role (committed in db_session)."""
    school = make_school()
    users = {role: make_user(role, schools=[school] if role in {"staff", "counselor", "principal"} else [])
             for role in ALL}
    users["district"].can_export_student_level = True
    users["district"].is_privacy_officer = True
    student = make_student(school)
    flag = make_flag(student, users["counselor"], category_name="Signs of commercial", severity="high")
    referral = make_referral(student, users["staff"])
    notifications = {role: make_notification(user).id for role, user in users.items()}
    notifications[None] = notifications["admin"]
    from school_prevention.roster.models import RosterImport

    roster_run = RosterImport(source_name="x.zip", is_dry_run=True, status="done")
    db_session.add(roster_run)
    program = make_program(school, users["counselor"], capacity=3)
    enrollment = Enrollment(program_id=program.id, student_id=student.id, status="active")
    db_session.add(enrollment)
    db_session.flush()
    session = record_session(users["counselor"], program, held_on=date(2026, 11, 2), minutes=30, topic=None,
                             attendance={student.id: "present"}, roster_ids={student.id})
    mentor = make_mentor(school, users["counselor"], checked_on=date(2026, 10, 1))
    match = open_match(users["counselor"], make_student(school))
    plan = create_plan(users["counselor"], student, users["counselor"], now=utcnow(), cadence="weekly", rrule=None,
                       starts_on=utcnow().date(), local_time=time(10), duration_minutes=20, non_school_day="move",
                       reason=None)
    checkin = db_session.scalars(select(CheckIn).where(CheckIn.plan_id == plan.id)).first()
    day = add_non_school_day(users["admin"], date(2027, 1, 1), "New Year's Day")
    token = calendar.issue(users["counselor"])
    email = make_notification(users["counselor"], channel="email", state="failed").id
    agency = make_agency()
    guardian = make_guardian(student)
    consent = record_consent(users["counselor"], student, guardian=guardian, scope="any_agency", agency_kind=None,
                             agency=None, categories=["identity"], given_on=date(2026, 9, 1), expires_on=None,
                             purpose=None, document=None, today=date(2026, 9, 2))
    agency_referral = refer_student(users["counselor"], student, agency=agency, categories=["identity"],
                                    legal_basis="parental_consent", purpose=None, approved_by=None, reason=None,
                                    follow_up_on=None, today=utcnow().date())
    inspection = log_inspection_request(users["counselor"], student, guardian=guardian, requested_on=date(2026, 9, 1),
                                        how_received=None, today=date(2026, 9, 2))
    world = {"school": school, "student": student, "users": users, "flag": flag, "referral": referral,
             "roster_run": roster_run, "program": program, "enrollment": enrollment, "session": session,
             "mentor": mentor, "match": match, "plan": plan, "checkin": checkin, "day": day, "token": token,
             "email": email, "agency": agency, "agency_referral": agency_referral, "consent": consent,
             "inspection": inspection,
             "reset_token": tokens.issue(users["staff"], tokens.RESET, actor=None),
             "invite_token": tokens.issue(users["district"], tokens.INVITE, actor=users["admin"]),
             "category": flag.category, "notifications": notifications,
             "other_user": make_user("staff", schools=[school])}
    from school_prevention.tiers.services import create_plan as create_intervention

    world["intervention"] = create_intervention(
        users["counselor"], student, goal="Attend 4 days a week", measure="Days attended per week", baseline=2,
        target=4, started_on=date(2026, 9, 1), review_on=date(2026, 10, 15), program_ids=[], today=date(2026, 9, 2))
    from school_prevention.students.saved_views import save_view

    world["saved_views"] = {role: save_view(users[role], "My watchlist", "severity=urgent").id
                            for role in ("counselor", "principal")}
    world["other_user"].mfa_secret = "JBSWY3DPEHPK3PXP"  # so removing a second factor has one to remove
    from school_prevention.grants.services import propose

    world["access_request"] = propose(users["admin"], world["other_user"], "school", str(school.id), school=school)
    world["completion"] = make_completion(world["other_user"], "Recognising signs of commercial sexual exploitation")
    world["student_export"] = _made_export(users["district"], student)
    world["awareness_page"] = save_page(users["admin"], None, title="Whom to call", body="Call **911**.",
                                        audience=sorted(ALL))
    from school_prevention.auth.models import UserSession
    from school_prevention.auth.sessions import start_session

    for user in users.values():
        start_session(user, ip=None, user_agent="another browser")
    db_session.flush()
    world["browsers"] = {role: db_session.scalars(select(UserSession.id).where(UserSession.user_id == user.id)).first()
                         for role, user in users.items()}
    db_session.commit()
    return world


def test_anonymous_is_sent_to_sign_in(app, client, world):
    for endpoint, method, url in _requests(app, world):
        response = client.open(url, method=method)
        if EXPECTED[endpoint] == PUBLIC:
            assert response.status_code in {200, 302}, (endpoint, response.status_code)
        else:
            assert response.status_code == 302, (endpoint, response.status_code)
            assert response.headers["Location"].startswith("/login"), endpoint


@pytest.mark.parametrize("role", sorted(ALL))
def test_role_matrix(app, login_as, world, role):
    client = app.test_client()
    login_as(world["users"][role], client)
    for endpoint, method, url in _requests(app, world, role):
        if endpoint in ("auth.logout", "account.sessions_end_all"):
            continue  # signs the client out; covered in test_auth and test_twofactor
        allowed = EXPECTED[endpoint] == PUBLIC or role in EXPECTED[endpoint]
        response = client.open(url, method=method)
        location = response.headers.get("Location", "")
        if allowed:
            assert response.status_code not in {401, 403, 404}, (role, endpoint, response.status_code)
            assert not location.startswith("/login"), (role, endpoint)
        else:
            assert response.status_code == 403, (role, endpoint, response.status_code)


@pytest.mark.parametrize("huge", [2**31, 99999999999999999999])
def test_an_id_too_large_for_the_database_is_not_found_on_every_route(app, login_as, world, huge):
    """Out of the database's integer range, an id in the address is a 404 page, never a database error."""
    client = app.test_client()
    login_as(world["users"]["admin"], client)
    others = {"kind": "flag-categories", "token": "x", "filename": "css/app.css"}
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        url = rule.build({a: huge if f"<int:{a}>" in rule.rule else others[a] for a in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code == 404, (method, url, response.status_code)
            assert b"Page not found" in response.data, (method, url)
