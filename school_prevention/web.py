"""Request hooks shared by every page: policy, security headers, errors, navigation, time display."""
from __future__ import annotations

import copy
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, abort, current_app, g, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from school_prevention.db import MAX_ID, is_refused_write
from school_prevention.extensions import db
from school_prevention.permissions import enforce_policy, policy_for
from school_prevention.roles import Role

# A script may come only from our own static files: no inline script, no third-party code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# Navigation: (label, endpoint); shown when the endpoint exists and its policy admits the user.
NAV = [
    ("Home", "home.index"),
    ("Students", "students.index"),
    ("Referrals", "referrals.queue"),
    ("My check-ins", "checkins.index"),
    ("Programs", "programs.index"),
    ("Coverage", "reports.coverage"),
    ("Mentoring", "mentoring.matches"),
    ("Refer a concern", "referrals.new"),
    ("My referrals", "referrals.mine"),
    ("Users", "admin.users"),
    ("Roster import", "roster.index"),
    ("Lists", "catalogue.overview"),
    ("School calendar", "schooldays.index"),
    ("Email outbox", "outbox.index"),
]

ERROR_TITLES = {
    400: ("Something in the request was not right", "Check what you entered and try again."),
    403: ("You do not have access to this page", "Your role does not include this. If you need it for your work, ask your administrator."),
    404: ("Page not found", "The page or record does not exist, or it is not part of your schools."),
    405: ("That action is not available here", "Go back and use the buttons on the page."),
    429: ("Too many attempts", "Please wait a minute and try again."),
    500: ("Something went wrong on our side", "Nothing you entered was saved. Try again in a moment; if it keeps happening, tell your administrator."),
}


def localtime(value: datetime | None, fmt: str = "%b %-d, %Y %-I:%M %p") -> str:
    """A UTC datetime shown in the district's time zone."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(current_app.config["SP_TIMEZONE"])).strftime(fmt)


def local_to_utc(value: datetime | None) -> datetime | None:
    """A naive date-time typed in the district's zone, as an aware UTC datetime."""
    if value is None:
        return None
    zone = ZoneInfo(current_app.config["SP_TIMEZONE"])
    return value.replace(tzinfo=zone).astimezone(timezone.utc)


def district_today() -> date:
    """Today's date in the district's zone."""
    return datetime.now(ZoneInfo(current_app.config["SP_TIMEZONE"])).date()


def nav_items() -> list[tuple[str, str, bool]]:
    """(label, endpoint, is current) for the navigation entries the current user may use."""
    if not current_user.is_authenticated:
        return []
    allowed = [(label, endpoint) for label, endpoint in NAV
               if (policy := policy_for(current_app, endpoint)) is not None and policy.allows(current_user)]
    here = request.endpoint or ""
    exact = any(endpoint == here for _, endpoint in allowed)
    section = here.split(".")[0]
    return [(label, endpoint, endpoint == here if exact else endpoint.split(".")[0] == section)
            for label, endpoint in allowed]


def row_url(endpoint: str, key: str):
    """A function id -> url_for(endpoint, **{key: id}) that builds the URL once, for a link on every row of a list.

    url_for walks the routing map each time (tens of microseconds): three links on each of 200
    rows cost milliseconds.
    """
    marker = str(MAX_ID)  # an id the converter accepts, and no other part of these URLs contains
    prefix, found, suffix = url_for(endpoint, **{key: MAX_ID}).partition(marker)
    if not found:  # pragma: no cover - a route whose URL does not carry the id as digits
        raise ValueError(f"{endpoint} does not put {key} in its URL")
    return lambda value: f"{prefix}{int(value)}{suffix}"


def unread_notifications() -> int:
    """The signed-in user's unread count for the header (one query, only when shown)."""
    if not current_user.is_authenticated:
        return 0
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
                abort(400, description="The request contains a character that is not allowed (a NUL byte, %00). "
                                       "Nothing was saved. Remove it and try again.")


def render_error(error):
    """A calm error page with the right status; the transaction is rolled back first."""
    db.session.rollback()
    if isinstance(error, CSRFError):
        code, title = 400, "This form has expired"
        message = "For your security, forms expire. Go back, reload the page and submit again."
    elif isinstance(error, HTTPException):
        code = error.code or 500
        title, message = ERROR_TITLES.get(code, (error.name, error.description))
        if code == 400 and error.description and not error.description.startswith("The browser"):
            message = error.description
    else:  # pragma: no cover - Flask wraps unexpected exceptions in InternalServerError
        code = 500
        title, message = ERROR_TITLES[500]
    return render_template("errors/error.html", code=code, title=title, message=message), code


_NOT_LOADED = object()


class App(Flask):
    """The app's Flask: a request whose save SQLite refused ("database is locked") is run again, once.

    In WAL mode a request's transaction sees the database as of its first read. If someone else
    (another counselor, the scheduler) is writing or has written since, the request's first write
    fails at once, whatever the busy timeout (db.is_refused_write): a save that would have been a
    500. The request is rolled back and its view run again from the start, in a transaction that
    takes the write lock first (BEGIN IMMEDIATE: it waits for the other writer, then reads the
    newest data). Only on that error, so requests that do not collide never hold the lock while
    they read; not for an upload, whose file has already been read once. (A writer that holds the
    lock past the busy timeout, a roster import on SQLite, is waited for twice.)

    What the first run did outside the database is undone too: the cookie session (messages, a
    sign-in) and the signed-in user as the view found them. Limits count a request once
    (extensions.hit_once).
    """

    def dispatch_request(self):
        cookie = copy.deepcopy(dict(session))
        user = g.get("_login_user", _NOT_LOADED)  # Flask-Login's signed-in user of this request
        try:
            return super().dispatch_request()
        except OperationalError as exc:
            if not is_refused_write(exc) or request.files:
                raise
        db.session.rollback()
        session.clear()
        session.update(cookie)
        if user is _NOT_LOADED:
            g.pop("_login_user", None)
        else:
            g._login_user = user
        db.session.connection(execution_options={"sqlite_begin_immediate": True})
        return super().dispatch_request()


def init_app(app: Flask) -> None:
    """Wire the hooks into app."""
    app.before_request(enforce_policy)
    app.before_request(refuse_nul_bytes)
    app.after_request(set_security_headers)
    app.register_error_handler(CSRFError, render_error)
    app.register_error_handler(HTTPException, render_error)
    # Unexpected exceptions arrive as a 500; under TESTING Flask lets them propagate instead.
    app.register_error_handler(500, render_error)
    app.add_template_filter(localtime, "localtime")
    app.context_processor(lambda: {"nav_items": nav_items, "Role": Role, "unread_notifications": unread_notifications,
                                   "row_url": row_url})
