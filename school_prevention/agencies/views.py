"""The agency directory (admins keep it, counselors and principals read it) and students' agency referrals."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention import audit
from school_prevention.agencies.forms import AgencyForm, FollowUpForm, ReferForm, StatusForm
from school_prevention.agencies.models import AGENCY_KINDS, Agency
from school_prevention.agencies.queries import directory, get_agency_referral_or_404
from school_prevention.agencies.services import change_status, read_reason, record_follow_up, refer_student, save_agency
from school_prevention.db import MAX_ID
from school_prevention.disclosures.queries import load_sharing_choices
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error, whole_number
from school_prevention.i18n import localdate
from school_prevention.permissions import get_student_or_404, roles
from school_prevention.roles import Role
from school_prevention.timezones import district_today

bp = Blueprint("agencies", __name__)


@bp.route("/agencies")
@roles(Role.COUNSELOR, Role.PRINCIPAL, Role.ADMIN)
def index():
    """The directory by kind, with whom to call; admins also see agencies taken out of it."""
    is_admin = current_user.role_enum == Role.ADMIN
    agencies = db.session.scalars(directory(include_inactive=is_admin)).all()
    by_kind = {kind: [a for a in agencies if a.kind == kind] for kind in AGENCY_KINDS}
    return render_template(
        "agencies/index.html", by_kind=by_kind, kinds=AGENCY_KINDS, is_admin=is_admin, count=len(agencies)
    )


def _agency_form(agency: Agency | None):
    form = AgencyForm(obj=agency if request.method == "GET" else None)
    code = 200
    if request.method == "POST":
        code = 400
        if form.validate():
            values = {
                name: getattr(form, name).data
                for name in (
                    "name",
                    "kind",
                    "contact_name",
                    "phone",
                    "email",
                    "address",
                    "website",
                    "notes",
                    "is_active",
                )
            }
            try:
                with db.session.begin_nested():
                    saved = save_agency(current_user, agency, **values)
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(_("%(name)s is saved in the directory.", name=saved.name), "success")
                return redirect(url_for("agencies.index"))
    return render_template("agencies/form.html", form=form, agency=agency), code


@bp.route("/agencies/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def new():
    """Add an agency to the directory."""
    return _agency_form(None)


@bp.route("/agencies/<int:agency_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit(agency_id: int):
    """Change an agency's details, or take it out of the directory."""
    agency = db.session.get(Agency, agency_id, with_for_update=request.method == "POST")
    if agency is None:
        abort(404)
    return _agency_form(agency)


@bp.route("/students/<int:student_id>/agency-referrals/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def refer(student_id: int):
    """Refer the student to an agency, recording what is shared and on which legal basis."""
    student = get_student_or_404(current_user, student_id)
    agencies, people, consents = load_sharing_choices(student, district_today())
    form = ReferForm(agencies, people, current_user.id, agency=request.args.get("agency", ""))
    code = 200
    if request.method == "POST":
        code = 400
        if form.validate():
            agency = next((a for a in agencies if str(a.id) == form.agency.data), None)
            approver = next((u for u in people if u.id == form.approved_by.data), None)
            try:
                with db.session.begin_nested():
                    if approver is None:
                        raise ServiceError("approved_by", _("Choose a counselor or principal of the student's school."))
                    referral = refer_student(
                        current_user,
                        student,
                        agency=agency,
                        categories=form.categories.data,
                        legal_basis=form.legal_basis.data,
                        purpose=form.purpose.data,
                        approved_by=approver,
                        reason=form.reason.data,
                        follow_up_on=form.follow_up_on.data,
                        today=district_today(),
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(
                    _(
                        "Referred to %(agency)s. The sharing is recorded on the student's disclosure record.",
                        agency=referral.agency.name,
                    ),
                    "success",
                )
                return redirect(url_for("agencies.referral", agency_referral_id=referral.id))
    audit.record("agency_referral.form.view", actor=current_user, obj=student, student=student)
    return render_template(
        "agencies/refer.html", form=form, student=student, agencies=agencies, consents=consents
    ), code


def _render_referral(referral, status_form=None, follow_up_form=None, code: int = 200):
    notes = read_reason(current_user, referral)
    status_form = status_form or StatusForm(referral.next_statuses)
    follow_up_form = follow_up_form or FollowUpForm(seq=str(referral.follow_up_seq))
    audit.record("agency_referral.view", actor=current_user, obj=referral, student=referral.student)
    return render_template(
        "agencies/referral.html", referral=referral, notes=notes, status_form=status_form, follow_up_form=follow_up_form
    ), code


@bp.route("/agency-referrals/<int:agency_referral_id>")
@roles(Role.COUNSELOR)
def referral(agency_referral_id: int):
    """One referral: what was shared, its status, follow-ups and outcome (restricted notes audited)."""
    return _render_referral(get_agency_referral_or_404(current_user, agency_referral_id))


@bp.route("/agency-referrals/<int:agency_referral_id>/status", methods=["POST"])
@roles(Role.COUNSELOR)
def status(agency_referral_id: int):
    """Move the referral on: accepted, declined, services started, closed with an outcome."""
    referral = get_agency_referral_or_404(current_user, agency_referral_id)
    form = StatusForm(referral.next_statuses)
    if not form.validate():
        return _render_referral(referral, status_form=form, code=400)
    try:
        with db.session.begin_nested():
            change_status(
                current_user,
                referral,
                form.status.data,
                outcome=form.outcome.data or None,
                outcome_note=form.outcome_note.data,
                agency_reference=form.agency_reference.data,
                note=form.note.data,
            )
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render_referral(
            get_agency_referral_or_404(current_user, agency_referral_id), status_form=form, code=400
        )
    flash(_("The referral is now %(status)s.", status=_(referral.status_label).lower()), "success")
    return redirect(url_for("agencies.referral", agency_referral_id=referral.id))


@bp.route("/agency-referrals/<int:agency_referral_id>/follow-up", methods=["POST"])
@roles(Role.COUNSELOR)
def follow_up(agency_referral_id: int):
    """Record a follow-up with the agency and the next follow-up date."""
    referral = get_agency_referral_or_404(current_user, agency_referral_id)
    form = FollowUpForm()
    if not form.validate():
        return _render_referral(referral, follow_up_form=form, code=400)
    seq = whole_number(form.seq.data)
    if seq is not None and seq >= MAX_ID:
        seq = -1  # no follow-up has that number, and seq + 1 would not fit the column (a 500 on PostgreSQL)
    try:
        with db.session.begin_nested():
            record_follow_up(
                current_user,
                referral,
                seen_seq=seq,
                note=form.note.data,
                next_follow_up_on=form.next_follow_up_on.data,
                today=district_today(),
            )
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render_referral(
            get_agency_referral_or_404(current_user, agency_referral_id), follow_up_form=form, code=400
        )
    flash(
        _("Follow-up recorded. Next one on %(day)s.", day=localdate(referral.follow_up_on))
        if referral.follow_up_on
        else _("Follow-up recorded."),
        "success",
    )
    return redirect(url_for("agencies.referral", agency_referral_id=referral.id))
