"""Every endpoint and the roles DESIGN.md's role table gives it, and one URL for each from a world.

The expectations are written out by hand from DESIGN.md, not read from the code, so a route that
is opened (or closed) by mistake fails tests/test_permissions.py; a new route fails it too until
someone adds its line here. The audit crawl, the Spanish crawl and the fuzz test walk the same URLs.
"""

from __future__ import annotations

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


ACCOUNT_LINKS = {"auth.reset_password": "reset_token", "auth.accept_invitation": "invite_token"}


def requests_for(app, world, role=None):
    """(endpoint, method, url) for every rule, with ids of objects inside the user's scope."""
    values = {
        "student_id": world["student"].id,
        "user_id": world["other_user"].id,
        "filename": "css/app.css",
        "kind": "flag-categories",
        "item_id": world["category"].id,
        "flag_id": world["flag"].id,
        "referral_id": world["referral"].id,
        "notification_id": None,
        "run_id": world["roster_run"].id,
        "program_id": world["program"].id,
        "enrollment_id": world["enrollment"].id,
        "session_id": world["session"].id,
        "mentor_id": world["mentor"].id,
        "match_id": world["match"].id,
        "plan_id": world["plan"].id,
        "checkin_id": world["checkin"].id,
        "day_id": world["day"].id,
        "token": world["token"],
        "agency_id": world["agency"].id,
        "agency_referral_id": world["agency_referral"].id,
        "consent_id": world["consent"].id,
        "inspection_id": world["inspection"].id,
        "page_id": world["awareness_page"].id,
        "completion_id": world["completion"].id,
        "access_request_id": world["access_request"].id,
        "intervention_id": world["intervention"].id,
        "export_id": world["student_export"].id,
        "view_id": None,
        "browser_id": None,
    }
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
