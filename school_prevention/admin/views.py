"""Admin pages: list, create and edit users; deactivate and reactivate them.

What would open case data to an account is proposed here and approved by the district
(grants.services): these pages say what waits, and let the admins withdraw it.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from school_prevention.admin.forms import UserFilterForm, UserForm
from school_prevention.admin.services import reset_second_factor, send_invitation, set_active
from school_prevention.auth import tokens
from school_prevention.auth.models import User
from school_prevention.auth.queries import users_list
from school_prevention.auth.services import AccountExists, create_user, update_user
from school_prevention.db import MAX_ID
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import MAX_PAGE, apply_service_error
from school_prevention.grants import services as grant_services
from school_prevention.grants.queries import decided_of, get_request_or_404, pending_by_user
from school_prevention.notifications import mail
from school_prevention.permissions import roles, visible_schools
from school_prevention.roles import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _get_user_or_404(user_id: int) -> User:
    """The account, or 404; a request that changes it locks its row until it commits, so two
    identical requests (a double click, two admins) run one after the other and the second sees
    what the first did."""
    if request.method in ("GET", "HEAD"):
        user = db.session.get(User, user_id)
    else:
        user = db.session.scalars(
            select(User).where(User.id == user_id).with_for_update(of=User).execution_options(populate_existing=True)
        ).one_or_none()
    if user is None:
        abort(404)
    return user


@bp.route("/users")
@roles(Role.ADMIN)
def users():
    """Every account, searchable by name or email and by role."""
    form = UserFilterForm(formdata=request.args)
    if not form.validate():
        return render_template("admin/users.html", form=form, pagination=None), 400
    page = request.args.get("page", 1, type=int) or 1
    if page > MAX_PAGE:
        abort(400, description=_("page must be a whole number from 1 to %(most)s.", most=MAX_PAGE))
    pagination = db.paginate(users_list(form.q.data, form.role.data or None), page=page, per_page=50, error_out=False)
    return render_template(
        "admin/users.html",
        form=form,
        pagination=pagination,
        pending=pending_by_user([u.id for u in pagination.items]),
        describe=grant_services.describe_shown,
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_new():
    """Create an account with a temporary password."""
    schools = db.session.scalars(visible_schools(current_user)).all()
    form = UserForm(schools, password_required=True)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    user = create_user(
                        current_user,
                        email=form.email.data,
                        name=form.name.data,
                        role=form.role.data,
                        password=form.new_password.data or None,
                        school_ids=form.schools.data,
                        can_export_student_level=form.can_export_student_level.data,
                        is_privacy_officer=form.is_privacy_officer.data,
                        must_change_password=not form.send_invite.data,
                    )
            except AccountExists as exc:
                if exc.same:  # the same request a moment ago (a double click): one account, one invitation
                    raise exc.already_done() from None
                apply_service_error(form, exc)
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                if form.send_invite.data:
                    # A new account holds no case data yet (that waits for approval): the link can go now.
                    tokens.issue(user, tokens.INVITE, actor=current_user)
                    flash(
                        _("Account created for %(name)s.", name=user.name)
                        + " "
                        + _invitation_sent(user)
                        + _waiting(user),
                        "success",
                    )
                else:
                    flash(
                        _(
                            "Account created for %(name)s. Give them the temporary password in person or by phone.",
                            name=user.name,
                        )
                        + _waiting(user),
                        "success",
                    )
                return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None, last_invitation=None), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_edit(user_id: int):
    """Change name, role, schools and grants, or set a temporary password."""
    user = _get_user_or_404(user_id)
    schools = db.session.scalars(visible_schools(current_user)).all()
    form = UserForm(schools, obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.schools.data = user.school_ids
    form.email.data = user.email  # the email is the sign-in name; it is not edited here
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    update_user(
                        current_user,
                        user,
                        name=form.name.data,
                        role=form.role.data,
                        school_ids=form.schools.data,
                        can_export_student_level=form.can_export_student_level.data,
                        is_privacy_officer=form.is_privacy_officer.data,
                        new_password=form.new_password.data or None,
                    )
            except ServiceError as exc:
                user = _get_user_or_404(user_id)
                apply_service_error(form, exc)
            else:
                flash(_("Saved changes to %(name)s.", name=user.name) + _waiting(user), "success")
                return redirect(url_for("admin.users"))
    return render_template(
        "admin/user_form.html",
        form=form,
        user=user,
        last_invitation=tokens.latest_invitation(user),
        pending=grant_services.pending_of(user),
        describe=grant_services.describe_shown,
        headline=grant_services.headline,
        decided=db.session.scalars(decided_of(user.id)).all(),
        holds_case_access=grant_services.holds_case_access(user),
    ), status


def _waiting(user: User) -> str:
    """ " Waiting for approval by the district: …" when changes to the account wait for it."""
    pending = grant_services.pending_of(user)
    if not pending:
        return ""
    said = " " + _(
        "Waiting for approval by the district: %(changes)s.",
        changes="; ".join(grant_services.describe_shown(r) for r in pending),
    )
    if not grant_services.approvers(user):
        said += " " + _(
            "No active district user can approve it yet: the operator creates one on the server (%(command)s).",
            command="flask --app app users create … --role district",
        )
    return said


def _invitation_sent(user: User) -> str:
    if mail.is_configured():
        return _("An invitation is on its way to %(email)s; its link works once, for 7 days.", email=user.email)
    return _(
        "No mail server is configured, so the invitation to %(email)s waits in the email outbox until one is.",
        email=user.email,
    )


@bp.route("/users/<int:user_id>/invite", methods=["POST"])
@roles(Role.ADMIN)
def user_invite(user_id: int):
    """Email (or re-send) an invitation link; an earlier unused invitation stops working."""
    user = _get_user_or_404(user_id)
    if not tokens.can_invite(user):
        abort(
            409,
            description=_(
                "%(name)s's account is deactivated. Reactivate it before sending an invitation.", name=user.name
            ),
        )
    seen = request.form.get("last_invitation", "")
    seen_id = (
        int(seen) if seen.isascii() and seen.isdigit() and len(seen) <= 18 else None
    )  # int() of 10,001 digits raises
    if seen_id is not None and seen_id > MAX_ID:
        seen_id = 0  # no invitation has that id (nor can the database compare it)
    if send_invitation(current_user, user, seen=seen_id):
        flash(_invitation_sent(user), "success")
    else:
        flash(
            _(
                "%(name)s has access to case data, so the invitation is sent once the district approves it.",
                name=user.name,
            )
            + _waiting(user),
            "success",
        )
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles(Role.ADMIN)
def user_set_active(user_id: int):
    """Deactivate (ending all their sessions) or reactivate an account."""
    user = _get_user_or_404(user_id)
    want = request.form.get("active")
    if want not in {"0", "1"}:
        abort(400, description=_("Say whether the account should be active (1) or not (0)."))
    try:
        with db.session.begin_nested():
            ended = set_active(current_user, user, want == "1")
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.user_edit", user_id=user.id))
    if ended is None:
        flash(
            _("%(name)s had access to case data, so reactivating the account waits for the district.", name=user.name)
            + _waiting(user),
            "success",
        )
    elif want == "1":
        flash(_("%(name)s can sign in again.", name=user.name), "success")
    else:
        flash(
            ngettext(
                "%(name)s is deactivated and was signed out of %(num)d session(s).",
                "%(name)s is deactivated and was signed out of %(num)d session(s).",
                ended,
                name=user.name,
            ),
            "success",
        )
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/second-factor", methods=["POST"])
@roles(Role.ADMIN)
def user_second_factor_reset(user_id: int):
    """Remove the account's second sign-in factor (or propose it, for an account with case data)."""
    user = _get_user_or_404(user_id)
    if reset_second_factor(current_user, user):
        flash(_("%(name)s's second sign-in factor was removed; they were signed out.", name=user.name), "success")
    else:
        flash(
            _("%(name)s has access to case data, so removing the second factor waits for the district.", name=user.name)
            + _waiting(user),
            "success",
        )
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/requests/<int:access_request_id>/withdraw", methods=["POST"])
@roles(Role.ADMIN)
def request_withdraw(user_id: int, access_request_id: int):
    """Take back a proposal that waits for the district's approval."""
    user = _get_user_or_404(user_id)
    req = get_request_or_404(access_request_id, user_id=user.id)
    grant_services.withdraw(current_user, req)
    flash(
        _("Withdrawn: %(change)s for %(name)s.", change=grant_services.describe_shown(req), name=user.name), "success"
    )
    return redirect(url_for("admin.user_edit", user_id=user.id))
