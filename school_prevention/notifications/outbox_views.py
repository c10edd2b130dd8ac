"""Admin: the email outbox and each message's delivery state (subjects carry initials at most)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext, ngettext
from flask_login import current_user
from sqlalchemy import func, select

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.forms import MAX_PAGE
from school_prevention.i18n import localdate
from school_prevention.notifications.forms import PeriodForm, RequeueForm
from school_prevention.notifications.mail import is_configured
from school_prevention.notifications.models import Notification
from school_prevention.notifications.services import count_failed, requeue_failed, retry_email
from school_prevention.permissions import roles
from school_prevention.roles import Role
from school_prevention.timezones import local_to_utc

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")
STATES = ("pending", "failed", "sent")


@bp.route("")
@roles(Role.ADMIN)
def index():
    """Counts by state and the messages of one state, newest first."""
    state = request.args.get("state", "pending")
    if state not in STATES:
        abort(400, description=gettext("state must be pending, failed or sent."))
    counts = dict(
        db.session.execute(
            select(Notification.state, func.count()).where(Notification.channel == "email").group_by(Notification.state)
        ).all()
    )
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(400, description=gettext("page must be a whole number from 1 to %(max)s.", max=MAX_PAGE))
    pagination = db.paginate(
        select(Notification)
        .where(Notification.channel == "email", Notification.state == state)
        .order_by(Notification.created_at.desc(), Notification.id.desc()),
        page=page,
        per_page=50,
        error_out=False,
    )
    user_ids = {n.user_id for n in pagination.items}
    emails = (
        dict(db.session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all()) if user_ids else {}
    )
    return render_template(
        "notifications/outbox.html",
        counts=counts,
        state=state,
        pagination=pagination,
        emails=emails,
        configured=is_configured(),
        period_form=PeriodForm(formdata=None),
    )


@bp.route("/<int:notification_id>/retry", methods=["POST"])
@roles(Role.ADMIN)
def retry(notification_id: int):
    """Put a failed email back in the queue, with a fresh set of tries."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.channel != "email":
        abort(404)
    retry_email(current_user, note)  # not failed (any more): errors.AlreadyDone, a 409
    flash(gettext("The email is queued again."), "success")
    return redirect(url_for("outbox.index", state="failed"))


def _bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None, str]:
    """Local days first..last as [UTC start, UTC end), and the period in words (no one's name)."""
    start = local_to_utc(datetime.combine(first, time())) if first else None
    end = local_to_utc(datetime.combine(last + timedelta(days=1), time())) if last else None
    if first and last:
        words = gettext("failed from %(first)s to %(last)s", first=localdate(first), last=localdate(last))
    elif first:
        words = gettext("failed on or after %(first)s", first=localdate(first))
    elif last:
        words = gettext("failed on or before %(last)s", last=localdate(last))
    else:
        words = gettext("every failed email")
    return start, end, words


@bp.route("/requeue", methods=["GET", "POST"])
@roles(Role.ADMIN)
def requeue():
    """Queue failed emails again in one action: GET counts them and asks; the confirming POST does it."""
    if request.method == "GET":
        form = PeriodForm(request.args)
        if not form.validate():
            return render_template("notifications/requeue.html", form=form, count=None), 400
        as_of = utcnow()
        start, end, words = _bounds(form.failed_from.data, form.failed_to.data)
        confirm = RequeueForm(
            formdata=None, failed_from=form.failed_from.data, failed_to=form.failed_to.data, as_of=as_of.isoformat()
        )
        return render_template(
            "notifications/requeue.html", form=confirm, count=count_failed(start, end, as_of), period=words
        )
    form = RequeueForm()
    as_of = _as_of(form.as_of.data)
    if as_of is None:
        form.as_of.errors = [gettext("The confirmation is incomplete.")]
    if as_of is None or not form.validate():
        # Bad dates or a tampered confirmation: say so, change nothing.
        return render_template(
            "notifications/requeue.html",
            form=PeriodForm(formdata=None, failed_from=form.failed_from.data, failed_to=form.failed_to.data),
            count=None,
            problem=_first_error(form),
        ), 400
    start, end, words = _bounds(form.failed_from.data, form.failed_to.data)
    with force_locale("en"):  # the audit trail's words are the same whoever acted
        english = _bounds(form.failed_from.data, form.failed_to.data)[2]
    count = requeue_failed(
        current_user, failed_from=start, failed_before=end, as_of=as_of, period=words, audit_period=english
    )
    flash(
        ngettext(
            "%(num)d failed email is queued again (%(period)s), each with a fresh set of tries.",
            "%(num)d failed emails are queued again (%(period)s), each with a fresh set of tries.",
            count,
            period=words,
        ),
        "success",
    )
    return redirect(url_for("outbox.index", state="pending"))


def _as_of(text: str | None) -> datetime | None:
    try:
        value = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    if value.tzinfo is None or value > utcnow() + timedelta(minutes=1):
        return None
    return value.astimezone(UTC)


def _first_error(form) -> str:
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if name != "as_of" else gettext("Confirmation")
        return f"{label}: {errors[0]}"
    return gettext("The request was not understood.")
