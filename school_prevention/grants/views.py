"""Access requests: the district approves or rejects what an admin proposed (separation of duties)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error
from school_prevention.grants import services
from school_prevention.grants.forms import RejectForm
from school_prevention.grants.queries import decided_requests, get_request_or_404, password_origins, pending_requests
from school_prevention.i18n import N_
from school_prevention.permissions import roles
from school_prevention.roles import Role

bp = Blueprint("grants", __name__, url_prefix="/access-requests")
# A decided request's status as the list shows it (capitalized, then translated).
DECISION_WORDS = [N_("Approved"), N_("Rejected"), N_("Withdrawn")]


def _render(
    status: int = 200, *, failed_id: int | None = None, failed_form: RejectForm | None = None, error: str | None = None
):
    pending = db.session.scalars(pending_requests()).all()
    return render_template(
        "grants/index.html",
        pending=pending,
        origins=password_origins(sorted({r.user_id for r in pending})),
        decided=db.session.scalars(decided_requests()).all(),
        failed_form=failed_form,
        describe=services.describe_shown,
        headline=services.headline,
        error=error,
        failed_id=failed_id,
    ), status


def _refused(exc: services.NotYourDecision):
    return render_template(
        "errors/error.html",
        code=403,
        title=_("Another person must decide this"),
        message=exc.message,
        next_url=url_for("grants.index"),
    ), 403


@bp.route("")
@roles(Role.DISTRICT)
def index():
    """Pending requests with who proposed what for whom, and the latest decisions."""
    return _render()


@bp.route("/<int:access_request_id>/approve", methods=["POST"])
@roles(Role.DISTRICT)
def approve(access_request_id: int):
    """Approve a request: its change is made now."""
    req = get_request_or_404(access_request_id)
    try:
        with db.session.begin_nested():
            user = services.approve(current_user, req)
    except services.NotYourDecision as exc:
        return _refused(exc)
    except ServiceError as exc:
        return _render(400, failed_id=req.id, error=exc.message)
    flash(_("Approved: %(what)s for %(name)s.", what=services.describe_shown(req), name=user.name), "success")
    return redirect(url_for("grants.index"))


@bp.route("/<int:access_request_id>/reject", methods=["POST"])
@roles(Role.DISTRICT)
def reject(access_request_id: int):
    """Reject a request, saying why; nothing changes on the account."""
    req = get_request_or_404(access_request_id)
    form = RejectForm()
    if not form.validate():
        return _render(400, failed_id=req.id, failed_form=form)
    try:
        with db.session.begin_nested():
            services.reject(current_user, req, form.reason.data)
    except services.NotYourDecision as exc:
        return _refused(exc)
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render(400, failed_id=req.id, failed_form=form)
    flash(
        _(
            "Not approved: %(what)s for %(name)s. The administrator is told why.",
            what=services.describe_shown(req),
            name=req.user.name,
        ),
        "success",
    )
    return redirect(url_for("grants.index"))
