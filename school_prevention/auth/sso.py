"""Single sign-on with the district's OpenID Connect provider (Authlib), matched to existing accounts.

Nobody is created here and no role comes from the provider: the provider proves an email address;
the account with that address, made by an admin or the roster import, says who the person is.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from flask_babel import gettext

from school_prevention import audit
from school_prevention.auth import tokens
from school_prevention.auth.models import User
from school_prevention.auth.queries import normalise_email, user_by_email
from school_prevention.db import utcnow
from school_prevention.extensions import db

CLIENT_NAME = "district"


class SsoRefused(Exception):
    """The provider's answer does not let this person in; message says why, for the sign-in page."""

    def __init__(self, message: str, reason: str, status: int = 403):
        super().__init__(message)
        self.message, self.reason, self.status = message, reason, status


def is_configured(app: Flask | None = None) -> bool:
    """Whether single sign-on is set up (an issuer and a client id)."""
    config = (app or current_app).config
    return bool(config.get("SP_OIDC_ISSUER") and config.get("SP_OIDC_CLIENT_ID"))


def client():
    """The Authlib client for the configured provider, made once per app (discovery is cached)."""
    app = current_app._get_current_object()
    oauth = app.extensions.get("sp_oidc")
    if oauth is None:
        config = app.config
        oauth = OAuth(app)
        oauth.register(
            CLIENT_NAME,
            client_id=config["SP_OIDC_CLIENT_ID"],
            client_secret=config["SP_OIDC_CLIENT_SECRET"] or None,
            server_metadata_url=f"{config['SP_OIDC_ISSUER']}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "timeout": 10},
        )
        app.extensions["sp_oidc"] = oauth
    return getattr(oauth, CLIENT_NAME)


def provider_name() -> str:
    """How the sign-in page names the provider."""
    return current_app.config.get("SP_OIDC_PROVIDER_NAME") or "your district account"


def asserted_mfa(claims: dict) -> bool:
    """Whether the provider says the person used more than a password (the ID token's amr, RFC 8176)."""
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    return bool(set(map(str, amr)) & set(current_app.config["SP_OIDC_MFA_AMR"]))


def match_account(claims: dict, *, ip: str | None) -> User:
    """The active account whose email the provider verified; SsoRefused (audited) otherwise.

    A roster account that was never activated is activated here, as its invitation would: the
    provider has just proved the person reads that mailbox. A deactivated account stays out.
    """
    email = normalise_email(str(claims.get("email") or ""))
    # Microsoft Entra ID says it with its optional claim xms_edov (the email's domain is verified by
    # the tenant) instead of email_verified.
    verified = any(claims.get(name) in (True, "true", "True") for name in ("email_verified", "xms_edov"))
    if not email or not verified:
        _refused("unverified_email", None, ip)
        raise SsoRefused(
            gettext(
                "%(provider)s did not confirm your email address, so we cannot tell which "
                "account is yours. Sign in with your email and password instead.",
                provider=provider_name(),
            ),
            "unverified_email",
        )
    domains = current_app.config["SP_OIDC_ALLOWED_DOMAINS"]
    if domains and email.rsplit("@", 1)[-1] not in domains:
        _refused("domain_not_allowed", None, ip)
        raise SsoRefused(
            gettext("%(email)s is not an address of this district. Sign in with your work account.", email=email),
            "domain_not_allowed",
        )
    user = db.session.scalars(user_by_email(email).with_for_update()).one_or_none()
    if user is None:
        _refused("unknown_account", None, ip)
        raise SsoRefused(
            gettext(
                "There is no account for %(email)s in this app. Accounts are made by your "
                "school's system administrator; ask them to add you.",
                email=email,
            ),
            "unknown_account",
        )
    if not user.is_active:
        if not tokens.can_invite(user):
            _refused("inactive", user, ip)
            raise SsoRefused(
                gettext("This account has been deactivated. Ask your administrator if this is a mistake."), "inactive"
            )
        user.is_active = True
        audit.record("user.activated_by_sso", actor=user, obj=user, ip=ip)
    user.last_sign_in_at = utcnow()
    # As after a right password: the first factor is done; a second one may follow (auth.signin_flow).
    audit.record("auth.signin", actor=user, ip=ip, detail={"via": "sso", "provider_mfa": asserted_mfa(claims)})
    return user


def _refused(reason: str, user: User | None, ip: str | None) -> None:
    # The email is not written down: an unknown address may be anyone's, and the trail names accounts.
    audit.record("auth.signin_failed", actor=user, ip=ip, detail={"reason": reason, "via": "sso"})


def provider_errors() -> tuple[type[Exception], ...]:
    """What a provider's answer (or its absence) can raise: Authlib's OAuth errors, a failed check of
    the ID token (joserfc), the network, a malformed document."""
    from authlib.common.errors import AuthlibBaseError
    from joserfc.errors import JoseError
    from requests import RequestException

    return (AuthlibBaseError, JoseError, RequestException, ValueError)


def problem_message(exc: Exception) -> tuple[str, str]:
    """(message, reason) for a provider answer that failed validation or never came."""
    from authlib.integrations.base_client import MismatchingStateError, OAuthError
    from joserfc.errors import ClaimError, ExpiredTokenError

    name = provider_name()
    again = " " + gettext("Nothing was signed in. Try again; if it keeps happening, tell your system administrator.")
    if isinstance(exc, ExpiredTokenError):
        return gettext("The sign-in answer from %(name)s had expired.", name=name) + again, "expired_token"
    if isinstance(exc, ClaimError) and exc.claim in ("aud", "azp"):  # azp: the app it was issued to
        return (
            gettext("The sign-in answer from %(name)s was meant for another app (wrong audience).", name=name) + again
        ), "wrong_audience"
    if isinstance(exc, ClaimError) and exc.claim == "nonce":
        return (
            gettext(
                "The sign-in answer from %(name)s does not belong to this sign-in (its nonce does not "
                "match: it may have been replayed).",
                name=name,
            )
            + again
        ), "wrong_nonce"
    if isinstance(exc, ClaimError) and exc.claim == "iss":
        return gettext(
            "The sign-in answer did not come from %(name)s (wrong issuer).", name=name
        ) + again, "wrong_issuer"
    if isinstance(exc, ClaimError):
        return (
            gettext("The sign-in answer from %(name)s could not be accepted (%(claim)s).", name=name, claim=exc.claim)
            + again
        ), f"bad_claim_{exc.claim}"
    if isinstance(exc, MismatchingStateError):
        return gettext(
            "This sign-in was started in another tab or has already been used. Start again from the sign-in page."
        ), "state_mismatch"
    if isinstance(exc, OAuthError) and exc.error == "access_denied":
        return gettext("You cancelled signing in with %(name)s.", name=name), "access_denied"
    if isinstance(exc, OAuthError):
        return gettext("%(name)s refused the sign-in.", name=name) + again, "provider_error"
    return gettext("We could not reach %(name)s or check its answer.", name=name) + again, "provider_unreachable"


def record_problem(reason: str, ip: str | None) -> None:
    """Audit a provider answer that was refused."""
    _refused(reason, None, ip)
