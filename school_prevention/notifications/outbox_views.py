"""Admin: the email outbox and each message's delivery state (subjects carry initials at most)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.forms import MAX_PAGE
from school_prevention.notifications.mail import is_configured
from school_prevention.notifications.models import Notification
from school_prevention.notifications.services import retry_email
from school_prevention.permissions import roles
from school_prevention.roles import Role

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")
STATES = ("pending", "failed", "sent")


@bp.route("")
@roles(Role.ADMIN)
def index():
    """Counts by state and the messages of one state, newest first."""
    state = request.args.get("state", "pending")
    if state not in STATES:
        abort(400, description="state must be pending, failed or sent.")
    counts = dict(db.session.execute(select(Notification.state, func.count()).where(Notification.channel == "email")
                                     .group_by(Notification.state)).all())
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(400, description=f"page must be a whole number from 1 to {MAX_PAGE}.")
    pagination = db.paginate(select(Notification).where(Notification.channel == "email", Notification.state == state)
                             .order_by(Notification.created_at.desc(), Notification.id.desc()),
                             page=page, per_page=50, error_out=False)
    user_ids = {n.user_id for n in pagination.items}
    emails = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all()) if user_ids else {}
    return render_template("notifications/outbox.html", counts=counts, state=state, pagination=pagination,
                           emails=emails, configured=is_configured())


@bp.route("/<int:notification_id>/retry", methods=["POST"])
@roles(Role.ADMIN)
def retry(notification_id: int):
    """Put a failed email back in the queue, with a fresh set of tries."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.channel != "email":
        abort(404)
    retry_email(current_user, note)  # not failed (any more): errors.AlreadyDone, a 409
    flash("The email is queued again.", "success")
    return redirect(url_for("outbox.index", state="failed"))
