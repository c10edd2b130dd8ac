"""Starting a mentoring match from the student page, a view of the mentoring blueprint kept at the page
layer: a refused start shows the student page again (pages.students), a layer above programs."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention import audit
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.pages.students.page import build_student_page
from school_prevention.permissions import CASE_ROLES, get_student_or_404, roles
from school_prevention.programs.mentoring import open_match
from school_prevention.programs.mentoring_views import bp


@bp.route("/students/<int:student_id>/matches", methods=["POST"])
@roles(*CASE_ROLES)
def match_new(student_id: int):
    """Start a mentoring match for a student (an inquiry)."""
    student = get_student_or_404(current_user, student_id)
    try:
        with db.session.begin_nested():
            match = open_match(current_user, student)
    except ServiceError as exc:
        flash(exc.message, "error")
        page = build_student_page(current_user, student, url_for)
        audit.record("student.view", actor=current_user, obj=student, student=student)
        return render_template("students/detail.html", student=student, page=page), 409
    flash(_("Mentoring inquiry recorded. Move it on when a cleared mentor is found."), "success")
    return redirect(url_for("mentoring.match_detail", match_id=match.id))
