"""Sign-in, sign-out, and the password links (reset, invitation)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from school_prevention.auth import sessions, sso, tokens
from school_prevention.auth.forms import ForgotPasswordForm, LoginForm, SetPasswordForm
from school_prevention.auth.services import SignInThrottled, attempt_sign_in, sign_out
from school_prevention.auth.signin_flow import after_first_factor
from school_prevention.extensions import db, login_manager
from school_prevention.i18n import N_
from school_prevention.permissions import public

bp = Blueprint("auth", __name__)

SESSION_END_MESSAGES = {
    "idle_timeout": _l("You were signed out after 30 minutes without activity. Please sign in again."),
    "absolute_timeout": _l("Your session reached its 12-hour limit. Please sign in again."),
    "deactivated": _l("Your account has been deactivated. Ask your administrator if this is a mistake."),
    "password_changed": _l("Your password was changed, so this session was ended. Please sign in again."),
    "password_reset_by_admin": _l(
        "An administrator reset your password. Sign in with the temporary password you were given."
    ),
    "access_changed": _l("Your access was changed by an administrator. Please sign in again."),
    "second_factor_reset": _l(
        "Your second sign-in factor was removed by an administrator. Sign in again and set up your authenticator app."
    ),
    "signed_out_elsewhere": _l("You signed this browser out from another one. Please sign in again."),
    "signed_out_everywhere": _l("You signed out everywhere. Please sign in again."),
}
# What was throttled, as throttled_message names it.
THROTTLED_WHAT = [N_("sign-in attempts"), N_("codes")]


@login_manager.user_loader
def load_user(user_id: str):
    """The signed-in user, only while their server-side session is live."""
    row, why = sessions.load_session(session.get("sid"))
    if row is None or str(row.user_id) != user_id:
        g.session_end_reason = why
        return None
    return row.user


@login_manager.unauthorized_handler
def unauthorized():
    """Send anonymous users (and ended sessions) to sign-in, saying why when we know."""
    reason = g.pop("session_end_reason", None)
    session.clear()
    if reason is None and request.method == "GET" and request.path == url_for("home.index"):
        return redirect(url_for("auth.login"))  # a first visit: the sign-in page says enough by itself
    flash(str(SESSION_END_MESSAGES.get(reason, _l("Please sign in to continue."))), "info")
    target = request.full_path if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))


def throttled_message(exc: SignInThrottled, what: str) -> str:
    """Why sign-in is paused and for how long."""
    minutes = (
        gettext("a minute")
        if exc.retry_after <= 60
        else ngettext("%(num)d minute", "%(num)d minutes", exc.retry_after // 60 + 1)
    )
    return gettext(
        "Too many failed %(what)s. For your students' safety, sign-in is paused "
        "for this account and this computer. Try again in %(minutes)s.",
        what=gettext(what),
        minutes=minutes,
    )


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                user = attempt_sign_in(form.email.data, form.password.data, ip=request.remote_addr)
            except SignInThrottled as exc:
                form.form_errors.append(throttled_message(exc, "sign-in attempts"))
                return (render_template("auth/login.html", form=form), 429, {"Retry-After": str(exc.retry_after)})
            if user is None:
                form.form_errors.append(gettext("That email and password do not match an active account."))
                status = 401
            else:
                # Then the second factor, when the account needs one (signin_flow); a fresh session.
                return after_first_factor(user, "password", _safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), status


@bp.app_context_processor
def _sign_in_options():
    """What the sign-in page offers besides the password (single sign-on, when configured)."""
    return {"sso_enabled": sso.is_configured, "sso_provider_name": sso.provider_name}


@bp.route("/logout", methods=["POST"])
@public
def logout():
    """End this session on the server, then in the browser."""
    if current_user.is_authenticated:
        sign_out(current_user, session.get("sid"))
    logout_user()
    session.clear()
    flash(gettext("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@public
def forgot_password():
    """Ask for a reset link by email; the answer never says whether the account exists."""
    form = ForgotPasswordForm()
    if request.method == "POST":
        if not form.validate():
            return render_template("auth/forgot.html", form=form), 400
        if not tokens.request_reset(form.email.data, request.remote_addr):
            form.form_errors.append(
                gettext(
                    "Too many reset requests. Please wait a few minutes and try again, "
                    "or ask your school's system administrator."
                )
            )
            return render_template("auth/forgot.html", form=form), 429
        return render_template("auth/forgot.html", form=form, sent_to=form.email.data.strip())
    return render_template("auth/forgot.html", form=form)


def _token_page(raw: str, purpose: str):
    """The set-password page behind an invitation or reset link."""
    try:
        token = tokens.check(raw, purpose)
    except tokens.TokenProblem as exc:
        return render_template("auth/link_problem.html", message=exc.message, purpose=purpose), exc.status
    form = SetPasswordForm(token.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    user = tokens.redeem(raw, purpose, form.new_password.data)
            except tokens.TokenProblem as exc:
                return render_template("auth/link_problem.html", message=exc.message, purpose=purpose), exc.status
            flash(
                gettext("Your password is set. Sign in with your email and your new password.")
                if purpose == tokens.RESET
                else gettext(
                    "Welcome, %(name)s. Your account is ready: sign in with your email and new password.",
                    name=user.name,
                ),
                "success",
            )
            return redirect(url_for("auth.login"))
    return render_template("auth/set_password.html", form=form, user=token.user, purpose=purpose), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    """Choose a new password from a reset link (single use, one hour)."""
    return _token_page(token, tokens.RESET)


@bp.route("/welcome/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    """Choose a first password from an invitation link (single use, seven days)."""
    return _token_page(token, tokens.INVITE)


@bp.after_app_request
def _no_referrer_from_links(response):
    """A page opened from a secret link must not pass that link on to other sites."""
    if request.endpoint in ("auth.reset_password", "auth.accept_invitation"):
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


# The sign-in steps after the password share this blueprint.
from school_prevention.auth import signin_views  # noqa: E402,F401
