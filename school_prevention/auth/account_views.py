"""One's own account: the password, signed-in browsers, signing out everywhere, the authenticator app and
recovery codes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user, logout_user
from sqlalchemy import select

from school_prevention import audit
from school_prevention.auth import sessions, twofactor
from school_prevention.auth.forms import ChangePasswordForm, LanguageForm, RenewCodesForm
from school_prevention.auth.models import User, UserSession
from school_prevention.auth.services import SignInThrottled, change_password, set_language
from school_prevention.auth.signin_views import NO_STORE, _enrolment_page
from school_prevention.auth.views import throttled_message
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.i18n import N_
from school_prevention.permissions import scoped_or_404, signed_in

bp = Blueprint("account", __name__, url_prefix="/account")

# Translated where shown (the template's |tr filter).
METHOD_LABELS = {
    "password": N_("Password"),
    "password+totp": N_("Password and authenticator app"),
    "password+recovery": N_("Password and a recovery code"),
    "sso": N_("Single sign-on"),
    "sso+provider_mfa": N_("Single sign-on with the provider's second factor"),
    "sso+totp": N_("Single sign-on and authenticator app"),
    "sso+recovery": N_("Single sign-on and a recovery code"),
}


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "Mac"),
    ("Linux", "Linux"),
)


def describe_browser(user_agent: str | None) -> str:
    """ "Chrome on Windows": enough for a person to recognise their own browser."""
    agent = user_agent or ""
    browser = next((name for mark, name in _BROWSERS if mark in agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in agent), None)
    if browser and system:
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or (agent[:40] or gettext("Unknown browser"))


def _security_page(renew_form=None, status=200):
    rows = sessions.live_sessions(current_user)
    current = next((r.id for r in rows if sessions.is_token_of(r, session.get("sid"))), None)
    rows.sort(key=lambda r: r.id != current)  # this browser first
    return render_template(
        "auth/security.html",
        rows=rows,
        current_id=current,
        method_labels=METHOD_LABELS,
        describe=describe_browser,
        enrolled=twofactor.is_enrolled(current_user),
        required=twofactor.is_required(current_user),
        codes_left=twofactor.recovery_codes_left(current_user) if twofactor.is_enrolled(current_user) else 0,
        renew_form=renew_form or RenewCodesForm(formdata=None),
    ), status


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def password():
    """Change one's own password; other sessions of the account are ended."""
    form = ChangePasswordForm(current_user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                change_password(
                    current_user, form.current_password.data, form.new_password.data, keep_token=session.get("sid")
                )
            except ServiceError as exc:
                getattr(form, exc.field).errors.append(exc.message)
            else:
                flash(gettext("Your password has been changed. Other signed-in browsers were signed out."), "success")
                return redirect(url_for("home.index"))
    return render_template("auth/password.html", form=form), status


@bp.route("/security")
@signed_in
def security():
    """Where the person is signed in, and their second factor."""
    return _security_page()


@bp.route("/sessions/<int:browser_id>/end", methods=["POST"])
@signed_in
def session_end(browser_id: int):
    """Sign out one of one's other browsers."""
    row = scoped_or_404(select(UserSession).where(UserSession.user_id == current_user.id), UserSession, browser_id)
    if sessions.is_token_of(row, session.get("sid")):
        return redirect(url_for("auth.login"), code=303)  # this browser: the Sign out button does that
    if sessions.end_own_session(current_user, row.id, "signed_out_elsewhere"):
        audit.record("auth.session_ended", actor=current_user, obj=current_user, detail={"session_id": row.id})
        flash(gettext("That browser is signed out."), "success")
    else:
        flash(gettext("That browser was already signed out."), "info")
    return redirect(url_for("account.security"))


@bp.route("/sessions/end-all", methods=["POST"])
@signed_in
def sessions_end_all():
    """Sign out everywhere, this browser included."""
    user = current_user._get_current_object()
    ended = sessions.end_all_sessions(user, "signed_out_everywhere")
    audit.record("auth.signout_everywhere", actor=user, obj=user, detail={"sessions_ended": ended})
    # Worded before logout_user, while the person's own language is still the request's.
    message = ngettext(
        "You are signed out everywhere (%(num)d browser).", "You are signed out everywhere (%(num)d browsers).", ended
    )
    logout_user()
    session.clear()
    flash(message, "success")
    return redirect(url_for("auth.login"))


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@signed_in
def second_factor_setup():
    """Add an authenticator app to one's account (when there is none yet)."""
    if twofactor.is_enrolled(current_user):
        flash(gettext("Your authenticator app is already set up."), "info")
        return redirect(url_for("account.security"))
    user = current_user._get_current_object()
    return _enrolment_page(user, lambda: redirect(url_for("account.security")), during_sign_in=False)


@bp.route("/two-factor/recovery-codes", methods=["POST"])
@signed_in
def recovery_codes():
    """Make new recovery codes (the old ones stop working); they are shown once."""
    user = current_user._get_current_object()
    if not twofactor.is_enrolled(user):
        return redirect(url_for("account.security"))
    form = RenewCodesForm()
    if not form.validate():
        return _security_page(form, 400)
    try:
        with db.session.begin_nested():
            codes = twofactor.renew_recovery_codes(user, form.code.data, ip=request.remote_addr)
    except SignInThrottled as exc:
        form.form_errors.append(throttled_message(exc, "codes"))
        return _security_page(form, 429)
    except ServiceError as exc:
        form.code.errors.append(exc.message)
        return _security_page(form, 400)
    return (
        render_template(
            "auth/recovery_codes.html", codes=codes, next_url=url_for("account.security"), first_time=False
        ),
        200,
        NO_STORE,
    )


@bp.route("/language", methods=["POST"])
@signed_in
def language():
    """Read the app in another language from now on (the footer's picker); back to the page it was chosen on."""
    user = scoped_or_404(select(User).where(User.id == current_user.id), User, current_user.id)
    form = LanguageForm()
    if not form.validate():
        abort(400, description=gettext("Choose one of the languages offered."))
    set_language(user, form.language.data)
    back = request.form.get("next", "")
    # Only a path of this site (never //host or a full URL): an open redirect would be a phishing aid.
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = url_for("home.index")
    return redirect(back, code=303)
