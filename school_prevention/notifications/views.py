"""The notification centre."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from school_prevention.extensions import db
from school_prevention.forms import MAX_PAGE
from school_prevention.notifications.queries import inbox
from school_prevention.notifications.services import mark_all_read, mark_notification_read
from school_prevention.permissions import signed_in

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("")
@signed_in
def index():
    """The user's notifications, unread first."""
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(400, description=gettext("page must be a whole number from 1 to %(max)s.", max=MAX_PAGE))
    pagination = db.paginate(inbox(current_user), page=page, per_page=30, error_out=False)
    return render_template("notifications/index.html", pagination=pagination)


@bp.route("/<int:notification_id>/open", methods=["POST"])
@signed_in
def open_(notification_id: int):
    """Mark one notification read and follow its link (only one's own: others are 404)."""
    from school_prevention.notifications.models import Notification

    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != current_user.id or note.channel != "in_app":
        abort(404)
    mark_notification_read(current_user, note.id)
    return redirect(note.link or url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
@signed_in
def read_all():
    """Mark every notification read."""
    mark_all_read(current_user)
    return redirect(url_for("notifications.index"))
