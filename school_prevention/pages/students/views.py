"""The scoped student list (the caseload: filters, sorts, saved views, a selection for bulk actions) and the student page."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from school_prevention import audit
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.flags.queries import active_categories
from school_prevention.pages.students.caseload import CaseloadRow, Page, caseload, clock, count_of, current_categories
from school_prevention.pages.students.forms import VIEW_FIELDS, StudentFilterForm
from school_prevention.pages.students.page import load_student_page
from school_prevention.pages.students.summary import load_summary
from school_prevention.permissions import CASE_ROLES, roles, visible_schools, visible_students
from school_prevention.programs.queries import running_programs, visible_programs
from school_prevention.roles import Role
from school_prevention.students.queries import counselors_of_my_schools
from school_prevention.students.saved_views import delete_view, save_view, views_of
from school_prevention.tiers.forms import SummaryForm
from school_prevention.timezones import district_today

bp = Blueprint("students", __name__, url_prefix="/students")


def filter_form(formdata) -> StudentFilterForm:
    """The list's filter form with the user's schools, categories, programs and counselors as choices."""
    schools = db.session.scalars(visible_schools(current_user)).all()
    categories = db.session.scalars(active_categories()).all()
    programs = db.session.scalars(running_programs(visible_programs(current_user))).all()
    counselors = db.session.scalars(counselors_of_my_schools(current_user)).all()
    return StudentFilterForm(
        schools,
        categories,
        programs,
        counselors,
        formdata=formdata,
        is_counselor=current_user.role_enum == Role.COUNSELOR,
    )


def view_query(args) -> str:
    """The part of a list's query string a saved view keeps: its filters, in a fixed order."""
    pairs = [(name, value) for name in VIEW_FIELDS for value in args.getlist(name) if value]
    return urlencode(pairs)


@bp.route("")
@roles(*CASE_ROLES)
def index():
    """The caseload: students of the user's schools, filtered, sorted and paged; saved views; a selection."""
    return _list_page(request.args)


def _list_page(args, status: int = 200, **extra):
    """The list for these query-string arguments (400 with the fields' messages when one is not valid)."""
    form = filter_form(args)
    views = db.session.scalars(views_of(current_user)).all()
    here = [(k, v) for k, v in args.items(multi=True) if k != "select"]
    base = url_for("students.index")
    context = {
        "form": form,
        "views": views,
        "pagination": None,
        "categories": {},
        "view_query": view_query(args),
        "back_query": urlencode(here),
        "select_url": f"{base}?{urlencode(here + [('select', 'all')])}",
        "unselect_url": f"{base}?{urlencode(here)}" if here else base,
        "can_plan": current_user.role_enum == Role.COUNSELOR,
        "select_all": args.get("select") == "all",
        **extra,
    }
    if not form.validate():
        return render_template("students/index.html", **context), 400
    filters = form.filters()
    query = caseload(visible_students(current_user), filters, clock(), current_user.id)
    per_page = current_app.config["STUDENTS_PER_PAGE"]
    page = form.page.data or 1
    total = db.session.scalar(count_of(query))
    rows = [CaseloadRow(*row) for row in db.session.execute(query.limit(per_page).offset((page - 1) * per_page))]
    pagination = Page(rows, page, per_page, total)
    categories: dict[int, list[tuple[str, str]]] = {}
    if rows:
        for student_id, name, severity in db.session.execute(current_categories([r.student.id for r in rows])):
            categories.setdefault(student_id, []).append((name, severity))
    context.update(pagination=pagination, categories=categories)
    # One row per list view; the search text itself is not kept, it may be a child's name.
    audit.record(
        "student.list",
        actor=current_user,
        school_id=form.school_id,
        detail={
            "page": pagination.page,
            "shown": len(rows),
            "total": total,
            "searched": bool(form.q.data),
            "filtered": form.is_filtered(),
        },
    )
    return render_template("students/index.html", **context), status


@bp.route("/views", methods=["POST"])
@roles(*CASE_ROLES)
def view_save():
    """Save the list's current filters under a name."""
    query = request.form.get("query", "")
    if len(query) > 1000:
        abort(400, description=gettext("These filters are too long to save."))
    args = MultiDict(parse_qsl(query))
    # The filters are checked as the list checks them: a view that cannot be opened is not kept.
    form = filter_form(args)
    if not form.validate() or not view_query(args):
        abort(400, description=gettext("Choose at least one filter on the list before saving it as a view."))
    try:
        with db.session.begin_nested():
            save_view(current_user, request.form.get("name"), view_query(args))
    except ServiceError as exc:
        return _list_page(args, 400, save_error=exc.message, view_name=request.form.get("name", "")[:200])
    # The name is the user's own words and may name a child: the flash (in the cookie) does not repeat it.
    flash(gettext("View saved. It is listed under “Your views”."), "success")
    return redirect(url_for("students.index") + "?" + view_query(args))


@bp.route("/views/<int:view_id>/delete", methods=["POST"])
@roles(*CASE_ROLES)
def view_delete(view_id: int):
    """Delete one of the user's saved views."""
    if delete_view(current_user, view_id) is None:
        abort(404)
    flash(gettext("View deleted."), "success")
    return redirect(url_for("students.index"))


@bp.route("/<int:student_id>")
@roles(*CASE_ROLES)
def detail(student_id: int):
    """One child's page: who they are, and (as features arrive) flags, programs and check-ins."""
    page = load_student_page(current_user, student_id)
    audit.record("student.view", actor=current_user, object_type="student", object_id=student_id, student=page.student)
    return render_template(
        "students/detail.html",
        student=page.student,
        page=page,
        today=district_today(),
        summary_form=SummaryForm(formdata=None),
    )


@bp.route("/<int:student_id>/summary")
@roles(Role.COUNSELOR)
def summary(student_id: int):
    """A one-page summary for a student support team meeting, to print; restricted notes only when the
    counselor ticks them in. Each one shown is one audit row, saying whether restricted notes were in it."""
    form = SummaryForm(formdata=request.args)
    form.validate()
    include = bool(form.include_restricted.data)
    data = load_summary(current_user, student_id, include_restricted=include, today=district_today())
    audit.record(
        "student.summary.print",
        actor=current_user,
        object_type="student",
        object_id=student_id,
        student=data.student,
        detail={"include_restricted": include, "restricted_notes": len(data.notes)},
    )
    return render_template("students/summary.html", s=data, page=data.page, student=data.student, form=form)


from school_prevention.pages.students import bulk_views  # noqa: E402,F401  (its routes are on this blueprint)
