"""Flag pages: open, view (with history and, for counselors, the note), edit, status, report."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from school_prevention import audit
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.flags.forms import FlagForm, ReportForm, StatusForm
from school_prevention.flags.models import FlagCategory
from school_prevention.flags.queries import active_categories, get_flag_or_404
from school_prevention.flags.services import (
    change_status,
    create_flag,
    read_note,
    record_mandated_report,
    update_flag,
)
from school_prevention.forms import apply_service_error
from school_prevention.permissions import (
    CASE_ROLES,
    can_read_restricted_notes,
    get_student_or_404,
    roles,
)
from school_prevention.roles import Role
from school_prevention.timezones import local_to_utc

bp = Blueprint("flags", __name__)


def _category_or_none(category_id):
    category = db.session.get(FlagCategory, category_id) if category_id else None
    return category


@bp.route("/students/<int:student_id>/flags/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def new(student_id: int):
    """Open a flag on a student."""
    student = get_student_or_404(current_user, student_id)
    categories = db.session.scalars(active_categories()).all()
    form = FlagForm(categories, source=request.args.get("source", "counselor_observation"))
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    flag = create_flag(
                        current_user,
                        student,
                        category=_category_or_none(form.category.data),
                        severity=form.severity.data,
                        source=form.source.data,
                        note=form.note.data,
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                if flag.needs_mandated_report:
                    flash(gettext("Flag opened. This concern calls for a mandated report: record it below."), "warning")
                    return redirect(url_for("flags.report", flag_id=flag.id))
                flash(
                    gettext(
                        "Flag opened: %(category)s (%(severity)s).",
                        category=flag.category.name,
                        severity=gettext(flag.severity.capitalize()).lower(),
                    ),
                    "success",
                )
                return redirect(url_for("students.detail", student_id=student.id))
    audit.record("flag.form.view", actor=current_user, obj=student, student=student)  # the form names the student
    return render_template("flags/form.html", form=form, student=student, flag=None), status


def _render_detail(flag, status_form, code: int = 200):
    """The flag page; counselors read the note, and each read is audited and committed."""
    notes = read_note(current_user, flag) if can_read_restricted_notes(current_user) else None
    context = {
        "flag": flag,
        "notes": notes,
        "status_form": status_form,
        "can_edit": current_user.role_enum == Role.COUNSELOR,
    }
    audit.record("flag.view", actor=current_user, obj=flag, student=flag.student)
    return render_template("flags/detail.html", **context), code


@bp.route("/flags/<int:flag_id>")
@roles(*CASE_ROLES)
def detail(flag_id: int):
    """A flag with its history; counselors also read the restricted note (audited)."""
    return _render_detail(get_flag_or_404(current_user, flag_id), StatusForm())


@bp.route("/flags/<int:flag_id>/edit", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def edit(flag_id: int):
    """Change category, severity, source or the restricted note."""
    flag = get_flag_or_404(current_user, flag_id)
    categories = db.session.scalars(active_categories()).all()
    if flag.category not in categories:
        categories = [flag.category, *categories]
    form = FlagForm(categories, obj=flag if request.method == "GET" else None)
    if request.method == "GET":
        form.category.data = flag.category_id
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    update_flag(
                        current_user,
                        flag,
                        category=_category_or_none(form.category.data),
                        severity=form.severity.data,
                        source=form.source.data,
                        note=form.note.data,
                        replace_note=form.replace_note.data,
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(gettext("Flag updated."), "success")
                return redirect(url_for("flags.detail", flag_id=flag.id))
    audit.record("flag.edit.view", actor=current_user, obj=flag, student=flag.student)
    return render_template("flags/form.html", form=form, student=flag.student, flag=flag), status


@bp.route("/flags/<int:flag_id>/status", methods=["POST"])
@roles(Role.COUNSELOR)
def status(flag_id: int):
    """Move the flag to open, monitoring or resolved."""
    flag = get_flag_or_404(current_user, flag_id)
    form = StatusForm()
    if not form.validate():
        return _render_detail(flag, form, 400)
    try:
        with db.session.begin_nested():
            change_status(current_user, flag, form.status.data, form.resolution.data)
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render_detail(get_flag_or_404(current_user, flag_id), form, 400)
    flash(gettext("Flag is now %(status)s.", status=gettext(flag.status.capitalize()).lower()), "success")
    return redirect(url_for("flags.detail", flag_id=flag.id))


@bp.route("/flags/<int:flag_id>/report", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def report(flag_id: int):
    """Record the mandated report (agency, time, reference) or why none was made."""
    flag = get_flag_or_404(current_user, flag_id)
    if not flag.category.is_suspected_abuse:
        abort(404)
    form = ReportForm(obj=flag if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    record_mandated_report(
                        current_user,
                        flag,
                        agency=form.agency.data,
                        made_at=local_to_utc(form.made_at.data),
                        reference=form.reference.data,
                        not_made_reason=form.not_made_reason.data,
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(gettext("Mandated report recorded."), "success")
                return redirect(url_for("students.detail", student_id=flag.student_id))
    audit.record("flag.report.view", actor=current_user, obj=flag, student=flag.student)
    return render_template("flags/report.html", form=form, flag=flag), status
