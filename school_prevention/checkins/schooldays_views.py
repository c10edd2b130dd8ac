"""Admin: the district's non-school days (holidays, breaks) that check-in plans work around."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention.checkins.forms import NonSchoolDayForm
from school_prevention.checkins.queries import non_school_days
from school_prevention.checkins.replan import latest_request, queue_replan
from school_prevention.checkins.services import add_non_school_day, remove_non_school_day
from school_prevention.db import utcnow
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error
from school_prevention.i18n import N_, format_local
from school_prevention.permissions import roles
from school_prevention.roles import Role
from school_prevention.timezones import district_zone

bp = Blueprint("schooldays", __name__, url_prefix="/admin/non-school-days")


def _render(form, code=200):
    today = utcnow().astimezone(district_zone()).date()
    days = db.session.scalars(non_school_days(today.replace(month=1, day=1))).all()
    return render_template(
        "checkins/non_school_days.html", form=form, days=days, today=today, replanning=latest_request()
    ), code


QUEUED = N_("Upcoming check-ins are being re-placed around it: this page shows when that is done.")


@bp.route("", methods=["GET", "POST"])
@roles(Role.ADMIN)
def index():
    """The list, and a form to add a day; re-placing the plans around it is queued as a job."""
    form = NonSchoolDayForm()
    if request.method == "GET":
        return _render(NonSchoolDayForm(formdata=None))
    if not form.validate():
        return _render(form, 400)
    try:
        with db.session.begin_nested():
            entry = add_non_school_day(current_user, form.day.data, form.name.data)
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render(form, 400)
    queue_replan(current_user, f"Added {entry.day.isoformat()}", utcnow())
    flash(
        _("Added %(day)s (%(name)s).", day=format_local(entry.day, "%a %b %-d, %Y"), name=entry.name) + " " + _(QUEUED),
        "success",
    )
    return redirect(url_for("schooldays.index"))


@bp.route("/<int:day_id>/delete", methods=["POST"])
@roles(Role.ADMIN)
def delete(day_id: int):
    """Take a day off the list; re-placing the plans is queued as a job."""
    entry = remove_non_school_day(current_user, day_id)
    if entry is None:  # one taken off already: AlreadyDone, a 409
        abort(404)
    queue_replan(current_user, f"Removed {entry.day.isoformat()}", utcnow())
    flash(_("Removed.") + " " + _(QUEUED), "success")
    return redirect(url_for("schooldays.index"))
