"""The scoped student list and the student page."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from school_prevention import audit
from school_prevention.extensions import db
from school_prevention.permissions import CASE_ROLES, roles, visible_schools, visible_students
from school_prevention.roles import Role
from school_prevention.students.forms import StudentFilterForm
from school_prevention.students.summary import load_summary
from school_prevention.tiers.forms import SummaryForm
from school_prevention.timezones import district_today
from school_prevention.students.page import load_student_page
from school_prevention.students.queries import search_students

bp = Blueprint("students", __name__, url_prefix="/students")


@bp.route("")
@roles(*CASE_ROLES)
def index():
    """Students of the user's schools: search by name or SIS id, filter, paginate."""
    schools = db.session.scalars(visible_schools(current_user)).all()
    form = StudentFilterForm(schools, formdata=request.args)
    if not form.validate():
        return render_template("students/index.html", form=form, pagination=None, schools=schools), 400
    query = search_students(
        visible_students(current_user),
        q=form.q.data,
        school_id=form.school_id,
        grade=form.grade.data or None,
        include_inactive=form.include_inactive.data,
    )
    pagination = db.paginate(query, page=form.page.data or 1,
                             per_page=current_app.config["STUDENTS_PER_PAGE"], error_out=False)
    # One row per list view; the search text itself is not kept, it may be a child's name.
    audit.record("student.list", actor=current_user, school_id=form.school_id, detail={
        "page": pagination.page, "shown": len(pagination.items), "total": pagination.total,
        "searched": bool(form.q.data),
    })
    return render_template("students/index.html", form=form, pagination=pagination, schools=schools)


@bp.route("/<int:student_id>")
@roles(*CASE_ROLES)
def detail(student_id: int):
    """One child's page: who they are, and (as features arrive) flags, programs and check-ins."""
    page = load_student_page(current_user, student_id)
    audit.record("student.view", actor=current_user, object_type="student", object_id=student_id, student=page.student)
    return render_template("students/detail.html", student=page.student, page=page, today=district_today(),
                           summary_form=SummaryForm(formdata=None))


@bp.route("/<int:student_id>/summary")
@roles(Role.COUNSELOR)
def summary(student_id: int):
    """A one-page summary for a student support team meeting, to print; restricted notes only when the
    counselor ticks them in. Each one shown is one audit row, saying whether restricted notes were in it."""
    form = SummaryForm(formdata=request.args)
    form.validate()
    include = bool(form.include_restricted.data)
    data = load_summary(current_user, student_id, include_restricted=include, today=district_today())
    audit.record("student.summary.print", actor=current_user, object_type="student", object_id=student_id,
                 student=data.student, detail={"include_restricted": include, "restricted_notes": len(data.notes)})
    return render_template("students/summary.html", s=data, page=data.page, student=data.student, form=form)
