"""A student's disclosure record: sharings, guardians and their consents, inspection requests and the printed record."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention import audit
from school_prevention.agencies.queries import directory
from school_prevention.db import utcnow
from school_prevention.disclosures.forms import AnswerForm, ConsentForm, DisclosureForm, InspectionForm, RevokeForm
from school_prevention.disclosures.inspection import build_record
from school_prevention.disclosures.queries import (
    consents_of_student,
    disclosures_of_student,
    get_consent_or_404,
    get_inspection_or_404,
    guardians_of_student,
    inspections_of_student,
    load_sharing_choices,
)
from school_prevention.disclosures.services import (
    answer_inspection,
    log_inspection_request,
    record_consent,
    record_disclosure,
    revoke_consent,
)
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error
from school_prevention.i18n import localdate
from school_prevention.permissions import get_student_or_404, roles
from school_prevention.roles import Role
from school_prevention.timezones import district_today, local_to_utc, localtime

bp = Blueprint("disclosures", __name__)

# The most sharings the record page lists (an export a week for years stays well below it).
RECORD_LIMIT = 500


def _revoke_form(consent_id: int, **kwargs) -> RevokeForm:
    """The withdrawal form of one consent: its fields carry the consent's id, one form per consent on the page."""
    return RevokeForm(prefix=f"consent-{consent_id}", **kwargs)


def _record_page(student, code: int = 200, refused: RevokeForm | None = None, refused_id: int | None = None):
    """The student's disclosure record: every sharing, guardians with consents, inspection requests."""
    disclosures = db.session.scalars(disclosures_of_student(student.id).limit(RECORD_LIMIT)).all()
    guardians = db.session.scalars(guardians_of_student(student.id)).all()
    consents = db.session.scalars(consents_of_student(student.id)).all()
    inspections = db.session.scalars(inspections_of_student(student.id)).all()
    today = district_today()
    revoke_forms = {
        c.id: (refused if c.id == refused_id else _revoke_form(c.id, formdata=None, revoked_on=today))
        for c in consents
        if not c.revoked_on
    }
    audit.record(
        "disclosure.record.view",
        actor=current_user,
        obj=student,
        student=student,
        detail={"disclosures": len(disclosures), "consents": len(consents)},
    )
    return render_template(
        "disclosures/record.html",
        student=student,
        disclosures=disclosures,
        guardians=guardians,
        consents=consents,
        inspections=inspections,
        today=today,
        limit=RECORD_LIMIT,
        revoke_forms=revoke_forms,
    ), code


@bp.route("/students/<int:student_id>/disclosures")
@roles(Role.COUNSELOR)
def record(student_id: int):
    """Who the student's records were shared with, when, on what basis, approved by whom (34 CFR 99.32)."""
    return _record_page(get_student_or_404(current_user, student_id))


@bp.route("/students/<int:student_id>/disclosures/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def new(student_id: int):
    """Record a sharing made outside the app (a call to a clinic, a subpoena answered)."""
    student = get_student_or_404(current_user, student_id)
    agencies, people, consents = load_sharing_choices(student, district_today())
    form = DisclosureForm(agencies, people, current_user.id)
    code = 200
    if form.is_submitted():
        code = 400
        if form.validate():
            agency = next((a for a in agencies if str(a.id) == form.agency.data), None)
            approver = next((u for u in people if u.id == form.approved_by.data), None)
            try:
                with db.session.begin_nested():
                    if approver is None:
                        raise ServiceError("approved_by", _("Choose a counselor or principal of the student's school."))
                    record_disclosure(
                        current_user,
                        student,
                        recipient=form.recipient.data,
                        agency=agency,
                        categories=form.categories.data,
                        legal_basis=form.legal_basis.data,
                        purpose=form.purpose.data,
                        approved_by=approver,
                        disclosed_at=local_to_utc(form.disclosed_at.data),
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(_("The sharing is recorded on the student's disclosure record."), "success")
                return redirect(url_for("disclosures.record", student_id=student.id))
    audit.record("disclosure.form.view", actor=current_user, obj=student, student=student)
    return render_template("disclosures/new.html", form=form, student=student, consents=consents), code


@bp.route("/students/<int:student_id>/consents/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def consent_new(student_id: int):
    """Record a guardian's signed consent to share the student's records."""
    student = get_student_or_404(current_user, student_id)
    guardians = db.session.scalars(guardians_of_student(student.id)).all()
    agencies = db.session.scalars(directory()).all()
    form = ConsentForm(guardians, agencies)
    code = 200
    if form.is_submitted():
        code = 400
        if form.validate():
            guardian = next((g for g in guardians if g.id == form.guardian.data), None)
            agency = next((a for a in agencies if str(a.id) == form.agency.data), None)
            try:
                with db.session.begin_nested():
                    record_consent(
                        current_user,
                        student,
                        guardian=guardian,
                        scope=form.scope.data,
                        agency_kind=form.agency_kind.data or None,
                        agency=agency,
                        categories=form.categories.data,
                        given_on=form.given_on.data,
                        expires_on=form.expires_on.data,
                        purpose=form.purpose.data,
                        document=form.document.data,
                        today=district_today(),
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(_("Consent recorded."), "success")
                return redirect(url_for("disclosures.record", student_id=student.id))
    audit.record("consent.form.view", actor=current_user, obj=student, student=student)
    return render_template("disclosures/consent_form.html", form=form, student=student, guardians=guardians), code


@bp.route("/consents/<int:consent_id>/revoke", methods=["POST"])
@roles(Role.COUNSELOR)
def consent_revoke(consent_id: int):
    """Record that the guardian withdrew a consent."""
    consent = get_consent_or_404(current_user, consent_id)
    form = _revoke_form(consent.id)
    if form.validate():
        try:
            with db.session.begin_nested():
                revoke_consent(
                    current_user,
                    consent,
                    revoked_on=form.revoked_on.data,
                    reason=form.reason.data,
                    today=district_today(),
                )
        except ServiceError as exc:
            apply_service_error(form, exc)
        else:
            # No name: a flash travels in the (readable) session cookie, and a guardian's name is the child's too.
            flash(_("The consent is recorded as withdrawn."), "success")
            return redirect(url_for("disclosures.record", student_id=consent.student_id))
    return _record_page(consent.student, 400, refused=form, refused_id=consent.id)


@bp.route("/students/<int:student_id>/inspections/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def inspection_new(student_id: int):
    """Log a guardian's request to inspect the record (due in 45 days)."""
    student = get_student_or_404(current_user, student_id)
    guardians = db.session.scalars(guardians_of_student(student.id)).all()
    form = InspectionForm(guardians)
    if not form.is_submitted():
        form.requested_on.data = district_today()
    code = 200
    if form.is_submitted():
        code = 400
        if form.validate():
            guardian = next((g for g in guardians if g.id == form.guardian.data), None)
            try:
                with db.session.begin_nested():
                    request_ = log_inspection_request(
                        current_user,
                        student,
                        guardian=guardian,
                        requested_on=form.requested_on.data,
                        how_received=form.how_received.data,
                        today=district_today(),
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(
                    _("Request logged. Answer it by %(day)s.", day=localdate(request_.due_on, "%B %-d, %Y")), "success"
                )
                return redirect(url_for("disclosures.inspection", inspection_id=request_.id))
    audit.record("inspection.form.view", actor=current_user, obj=student, student=student)
    return render_template("disclosures/inspection_new.html", form=form, student=student, guardians=guardians), code


def _include_restricted() -> bool:
    return bool(current_app.config.get("SP_INSPECTION_INCLUDES_RESTRICTED_NOTES"))


@bp.route("/inspections/<int:inspection_id>")
@roles(Role.COUNSELOR)
def inspection(inspection_id: int):
    """The complete record the school holds about the student, to print for the guardian (audited)."""
    request_ = get_inspection_or_404(current_user, inspection_id)
    include = request_.included_restricted_notes if not request_.is_open else _include_restricted()
    record_ = build_record(request_.student, include_restricted=bool(include))
    audit.record(
        "inspection.export.view",
        actor=current_user,
        obj=request_,
        student=request_.student,
        detail={"restricted_notes": bool(include), "sections": record_.counts()},
    )
    return render_template(
        "disclosures/inspection.html",
        request_=request_,
        record=record_,
        form=AnswerForm(),
        include_restricted=bool(include),
        now_local=localtime(utcnow()),
    )


@bp.route("/inspections/<int:inspection_id>/answer", methods=["POST"])
@roles(Role.COUNSELOR)
def inspection_answer(inspection_id: int):
    """The printed record was given to the guardian: the request is answered, once, as a disclosure."""
    request_ = get_inspection_or_404(current_user, inspection_id)
    include = _include_restricted()
    record_ = build_record(request_.student, include_restricted=include, read=False)
    answer_inspection(current_user, request_, categories=record_.categories(), include_restricted=include)
    flash(_("The request is answered. Giving the record is on the student's disclosure record."), "success")
    return redirect(url_for("disclosures.inspection", inspection_id=request_.id))
