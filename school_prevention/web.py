"""Request hooks shared by every page: policy, security headers, errors, navigation, time display."""

from __future__ import annotations

from typing import NamedTuple

from flask import Flask, abort, current_app, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from school_prevention import audit
from school_prevention.db import MAX_ID
from school_prevention.errors import AlreadyDone
from school_prevention.extensions import db
from school_prevention.i18n import N_, translate
from school_prevention.permissions import enforce_policy, is_read_only, policy_for
from school_prevention.roles import Role
from school_prevention.timezones import localtime
from school_prevention.urls import row_url

# A script may come only from our own static files: no inline script, no third-party code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# Navigation: (label, endpoint), labels translated where shown (base.html); shown when the endpoint exists and its policy admits the user.
NAV = [
    (N_("Home"), "home.index"),
    (N_("Students"), "students.index"),
    (N_("Referrals"), "referrals.queue"),
    (N_("My check-ins"), "checkins.index"),
    (N_("Programs"), "programs.index"),
    (N_("Coverage"), "reports.coverage"),
    (N_("Mentoring"), "mentoring.matches"),
    (N_("Agencies"), "agencies.index"),
    (N_("Training"), "training.index"),
    (N_("Refer a concern"), "referrals.new"),
    (N_("My referrals"), "referrals.mine"),
    (N_("Awareness"), "awareness.index"),
    (N_("Users"), "admin.users"),
    (N_("Access requests"), "grants.index"),
    (N_("Roster import"), "roster.index"),
    (N_("Lists"), "catalogue.overview"),
    (N_("School calendar"), "schooldays.index"),
    (N_("Email outbox"), "outbox.index"),
]

ERROR_TITLES = {
    400: (N_("Something in the request was not right"), N_("Check what you entered and try again.")),
    403: (
        N_("You do not have access to this page"),
        N_("Your role does not include this. If you need it for your work, ask your administrator."),
    ),
    404: (N_("Page not found"), N_("The page or record does not exist, or it is not part of your schools.")),
    405: (N_("That action is not available here"), N_("Go back and use the buttons on the page.")),
    409: (
        N_("This was already done"),
        N_(
            "Someone, or an earlier click of yours, made this change a moment ago. "
            "Nothing more was saved. Open the record again to see where it stands."
        ),
    ),
    # Werkzeug's own titles ("Gone", "Request Entity Too Large") are English only: ours are in the catalogue.
    410: (N_("This is no longer available"), N_("It was removed or has expired.")),
    413: (N_("The file is too large"), N_("Nothing was saved. Choose a smaller file and try again.")),
    429: (N_("Too many attempts"), N_("Please wait a minute and try again.")),
    500: (
        N_("Something went wrong on our side"),
        N_("Nothing you entered was saved. Try again in a moment; if it keeps happening, tell your administrator."),
    ),
}


class NavItem(NamedTuple):
    """One entry of the main navigation."""

    label: str
    endpoint: str
    is_current: bool
    url: str


def nav_items() -> list[NavItem]:
    """The navigation entries the current user may use, the current page's (or section's) marked.

    The list depends only on the role, the page and where the app is mounted, so it is made once
    per app for each of them (policies and URLs do not change while the app runs), not on every page.
    """
    if not current_user.is_authenticated:
        return []
    key = (current_user.role, request.endpoint, request.script_root)
    cache = current_app.extensions.setdefault("sp_nav", {})
    items = cache.get(key)
    if items is None:
        items = cache[key] = _nav_items(Role(current_user.role), request.endpoint or "")
    return items


def _nav_items(role: Role, here: str) -> list[NavItem]:
    allowed = [
        (label, endpoint)
        for label, endpoint in NAV
        # Policy.allows for a signed-in user of this role
        if (policy := policy_for(current_app, endpoint)) is not None
        and (policy.public or policy.roles is None or role in policy.roles)
    ]
    exact = any(endpoint == here for _, endpoint in allowed)
    section = here.split(".")[0]
    return [
        NavItem(label, endpoint, endpoint == here if exact else endpoint.split(".")[0] == section, url_for(endpoint))
        for label, endpoint in allowed
    ]


def unread_notifications() -> int:
    """The signed-in user's unread count for the header.

    A page read (GET) shows the count read with the user's session at the start of the request
    (auth.sessions: the same round trip); a request that may have changed notifications asks again.
    """
    if not current_user.is_authenticated:
        return 0
    if request.method in ("GET", "HEAD"):
        from school_prevention.auth.sessions import unread_count_read_with_session

        known = unread_count_read_with_session(current_user.id)
        if known is not None:
            return known
    from school_prevention.notifications.queries import unread_count

    return db.session.scalar(unread_count(current_user)) or 0


def set_security_headers(response):
    """Security headers on every response; no caching of anything but static files."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        # Pages show student data: a shared school laptop must not keep them in its cache.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


class IdConverter(IntegerConverter):
    """`<int:...>` in URLs: only ids the database's integer columns can hold, so a huge one is a 404, not a 500."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def refuse_nul_bytes():
    """A NUL byte is never real text, and PostgreSQL can neither store nor compare one: refuse it up front."""
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                # Marked for the catalogue; render_error translates it.
                abort(
                    400,
                    description=N_(
                        "The request contains a character that is not allowed (a NUL byte, "
                        "%00). Nothing was saved. Remove it and try again."
                    ),
                )


def render_error(error):
    """A calm error page with the right status; the transaction is rolled back first."""
    db.session.rollback()
    if isinstance(error, CSRFError):
        code, title = 400, N_("This form has expired")
        message = N_("For your security, forms expire. Go back, reload the page and submit again.")
    elif isinstance(error, HTTPException):
        code = error.code or 500
        title, message = ERROR_TITLES.get(code, (error.name, error.description))
        if code in (400, 409, 410) and error.description and error.description != type(error).description:
            message = error.description  # a message of ours, not Werkzeug's default
    else:  # pragma: no cover - Flask wraps unexpected exceptions in InternalServerError
        code = 500
        title, message = ERROR_TITLES[500]
    # Our titles and messages are in the catalogue; anything else (a service's own words) passes unchanged.
    return render_template("errors/error.html", code=code, title=translate(title), message=translate(message)), code


class App(Flask):
    """The app's Flask: each request is one database transaction, committed in one place.

    The commit comes after the view (or a before-request hook that answered instead) has built
    its response, so a page's audit row is saved with everything it records, and the page is only
    shown if the commit succeeds. An exception anywhere, the commit's included, rolls the whole
    request back and answers with an error page (render_error): nothing is half saved. Views and
    services never commit; a view that must undo a refused service call wraps it in a savepoint
    (`with db.session.begin_nested():`).
    """

    def preprocess_request(self):
        db.session.info[audit.DEFER] = True  # audit rows wait for the commit (see audit.py)
        if is_read_only(self, request.endpoint) and not db.session().in_transaction():
            # Saves nothing: on SQLite it need not queue for the write lock (a roster import
            # holds it for minutes while admins poll its progress).
            try:
                db.session.connection(execution_options={"sqlite_deferred": True})
            except SQLAlchemyError:  # the database is down: let the view say so (/healthz answers 503)
                db.session.rollback()
        answer = super().preprocess_request()
        return None if answer is None else self._commit(answer)

    def dispatch_request(self):
        return self._commit(super().dispatch_request())

    def _commit(self, answer):
        response = self.make_response(answer)
        if is_read_only(self, request.endpoint):
            db.session.rollback()  # nothing of its own to keep (a last-seen time can wait)
        else:
            db.session.commit()
        return response

    def do_teardown_request(self, exc=None):
        db.session.info.pop(audit.DEFER, None)
        db.session.info.pop(audit.PENDING, None)
        super().do_teardown_request(exc)


def render_already_done(error: AlreadyDone):
    """409 for a change that was already made (errors.AlreadyDone): what happened, and where to look."""
    db.session.rollback()
    title, _ = ERROR_TITLES[409]
    return render_template(
        "errors/error.html", code=409, title=translate(title), message=translate(error.message), next_url=error.next_url
    ), 409


def render_duplicate(error: IntegrityError):
    """409 when a unique index refused a second copy of something just saved (two identical requests
    at the same moment on PostgreSQL: the second waits for the first, then is refused here)."""
    db.session.rollback()
    current_app.logger.info("refused as a duplicate: %s", str(error.orig).splitlines()[0])
    title, message = ERROR_TITLES[409]
    return render_template("errors/error.html", code=409, title=translate(title), message=translate(message)), 409


def scrub_logs(app: Flask) -> None:
    """The development server's request lines and Flask's "Exception on <path>" never carry the
    token of an invitation, reset or calendar link (gunicorn's are scrubbed by access_log too)."""
    import logging

    from flask.logging import default_handler

    from school_prevention.access_log import ScrubTokens

    for target in (logging.getLogger("werkzeug"), default_handler):
        if not any(isinstance(f, ScrubTokens) for f in target.filters):
            target.addFilter(ScrubTokens())


def init_app(app: Flask) -> None:
    """Wire the hooks into app."""
    scrub_logs(app)
    app.before_request(enforce_policy)
    app.before_request(refuse_nul_bytes)
    app.after_request(set_security_headers)
    app.register_error_handler(CSRFError, render_error)
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(AlreadyDone, render_already_done)
    app.register_error_handler(IntegrityError, render_duplicate)
    # Unexpected exceptions arrive as a 500; under TESTING Flask lets them propagate instead.
    app.register_error_handler(500, render_error)
    app.add_template_filter(localtime, "localtime")
    app.context_processor(
        lambda: {"nav_items": nav_items, "Role": Role, "unread_notifications": unread_notifications, "row_url": row_url}
    )
