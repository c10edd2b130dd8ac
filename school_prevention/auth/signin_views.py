"""Sign-in pages after the password: the second factor, setting one up, and single sign-on."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user

from school_prevention import crypto
from school_prevention.auth import sso, twofactor
from school_prevention.auth.forms import EnrolForm, LoginForm, SecondFactorForm
from school_prevention.auth.services import SignInThrottled
from school_prevention.auth.signin_flow import (
    ENROL_SECRET,
    after_first_factor,
    pending,
    start,
)
from school_prevention.auth.views import _safe_next, bp, throttled_message
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.permissions import public

SSO_NEXT = "sp_sso_next"
NO_STORE = {"Cache-Control": "no-store"}


def _start_again():
    flash(gettext("Your sign-in was not finished in time. Please sign in again."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/login/two-factor", methods=["GET", "POST"])
@public
def second_factor():
    """The second step of sign-in: a code from the authenticator app or a recovery code."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    found = pending()
    if found is None:
        return _start_again()
    user, data = found
    if not twofactor.is_enrolled(user):
        return redirect(url_for("auth.second_factor_setup"))
    form = SecondFactorForm()
    if request.method == "POST":
        if not form.validate():
            return render_template("auth/second_factor.html", form=form), 400
        try:
            with db.session.begin_nested():
                kind = twofactor.verify(user, form.code.data, ip=request.remote_addr)
        except SignInThrottled as exc:
            form.form_errors.append(throttled_message(exc, "codes"))
            return (render_template("auth/second_factor.html", form=form), 429, {"Retry-After": str(exc.retry_after)})
        except ServiceError as exc:
            form.code.errors.append(exc.message)
            return render_template("auth/second_factor.html", form=form), 400
        if kind is None:
            form.code.errors.append(
                gettext(
                    "That code is not right, or it was already used. Codes change every "
                    "30 seconds: type the one your app shows now."
                )
            )
            return render_template("auth/second_factor.html", form=form), 401
        response = start(user, f"{data['method']}+{kind}", data.get("next"))
        if kind == "recovery":  # after start(), which begins a fresh session
            left = twofactor.recovery_codes_left(user)
            flash(
                gettext(
                    "You used a recovery code; %(left)d left. Make new ones on the Sign-in security page "
                    "if you are running low.",
                    left=left,
                ),
                "info",
            )
        return response
    return render_template("auth/second_factor.html", form=form)


@bp.route("/login/two-factor/setup", methods=["GET", "POST"])
@public
def second_factor_setup():
    """First sign-in of an account that needs a second factor: add an authenticator app."""
    if current_user.is_authenticated:
        return redirect(url_for("account.second_factor_setup"))
    found = pending()
    if found is None:
        return _start_again()
    user, data = found
    if twofactor.is_enrolled(user):
        return redirect(url_for("auth.second_factor"))
    return _enrolment_page(user, lambda: start(user, f"{data['method']}+totp", data.get("next")), during_sign_in=True)


def _enrolment_page(user, continue_with, *, during_sign_in: bool):
    """The QR code page and its form; on a good code, the recovery codes page (shown once)."""
    secret = None
    if session.get(ENROL_SECRET):
        try:
            secret = crypto.decrypt(session[ENROL_SECRET])
        except crypto.UnreadableNote:
            secret = None
    if not secret:
        secret = twofactor.new_secret()
        # Encrypted in the cookie: the secret is in no database until the person proves the app has it.
        session[ENROL_SECRET] = crypto.encrypt(secret)
    form = EnrolForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    codes = twofactor.enrol(user, secret, form.code.data, ip=request.remote_addr)
            except SignInThrottled as exc:
                form.form_errors.append(throttled_message(exc, "codes"))
                status = 429
            except ServiceError as exc:
                form.code.errors.append(exc.message)
            else:
                response = continue_with()
                session.pop(ENROL_SECRET, None)
                return (
                    render_template(
                        "auth/recovery_codes.html", codes=codes, next_url=response.location, first_time=True
                    ),
                    200,
                    NO_STORE,
                )
    uri = twofactor.provisioning_uri(user, secret)
    return (
        render_template(
            "auth/second_factor_setup.html",
            form=form,
            qr=twofactor.qr_svg(uri),
            key=twofactor.grouped(secret),
            email=user.email,
            during_sign_in=during_sign_in,
            required=twofactor.is_required(user),
        ),
        status,
        NO_STORE,
    )


@bp.route("/login/sso")
@public
def sso_start():
    """Send the browser to the district's identity provider."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    if not sso.is_configured():
        return _not_configured()
    next_url = _safe_next(request.args.get("next"))
    try:
        response = sso.client().authorize_redirect(url_for("auth.sso_callback", _external=True))
    except sso.provider_errors() as exc:  # the provider's discovery document could not be read
        message, reason = sso.problem_message(exc)
        sso.record_problem(reason, request.remote_addr)
        return _refused(message, 502)
    session[SSO_NEXT] = next_url
    return response


@bp.route("/login/sso/callback")
@public
def sso_callback():
    """The provider's answer: check the ID token (issuer, audience, expiry, nonce), then the account."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    if not sso.is_configured():
        return _not_configured()
    next_url = session.get(SSO_NEXT)
    try:
        token = sso.client().authorize_access_token()
    except sso.provider_errors() as exc:  # every failed check or unreachable provider: nobody signed in
        message, reason = sso.problem_message(exc)
        sso.record_problem(reason, request.remote_addr)
        return _refused(message, 401)
    claims = token.get("userinfo")
    if not claims:
        sso.record_problem("no_id_token", request.remote_addr)
        return _refused(
            gettext(
                "%(provider)s sent no identity for this sign-in. Nothing was signed in.", provider=sso.provider_name()
            ),
            401,
        )
    try:
        with db.session.begin_nested():
            user = sso.match_account(dict(claims), ip=request.remote_addr)
    except sso.SsoRefused as exc:
        return _refused(exc.message, exc.status)
    return after_first_factor(user, "sso", next_url, provider_mfa=sso.asserted_mfa(dict(claims)))


def _not_configured():
    flash(gettext("Single sign-on is not set up for this district. Sign in with your email and password."), "info")
    return redirect(url_for("auth.login"))


def _refused(message: str, status: int):
    """The sign-in page with why single sign-on did not let the person in; no session is left."""
    session.clear()
    form = LoginForm(formdata=None)
    form.form_errors.append(message)
    return render_template("auth/login.html", form=form), status
