"""Bulk actions from the caseload: a form for the ticked students (GET), then one POST, one transaction,
and a page that says what happened to each of them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import abort, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from school_prevention import audit
from school_prevention.db import MAX_ID
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error
from school_prevention.i18n import N_
from school_prevention.pages.students.bulk import (
    MAX_SELECTED,
    assign_counselor,
    enroll_selected,
    lock_selected,
    start_plans,
)
from school_prevention.pages.students.caseload import clock
from school_prevention.pages.students.forms import VIEW_FIELDS, BulkAssignForm, BulkEnrollForm, BulkPlanForm
from school_prevention.pages.students.views import bp
from school_prevention.permissions import CASE_ROLES, roles, visible_students
from school_prevention.programs.queries import get_program_or_404, running_programs, seat_counts, visible_programs
from school_prevention.roles import Role
from school_prevention.students.models import Student
from school_prevention.students.queries import counselors_of_my_schools

ACTIONS = {"plans": N_("Start check-in plans"), "enroll": N_("Enroll in a program"), "assign": N_("Assign a counselor")}


class Selection:
    """The ticked student ids of a request (values of `student`), and where the list was."""

    def __init__(self, values) -> None:
        raw = values.getlist("student")
        if not raw:
            abort(400, description=gettext("Tick at least one student on the list, then choose the action again."))
        if any(not (v.isascii() and v.isdigit()) or len(v) > 12 for v in raw):
            abort(
                400, description=gettext("The selection is not valid. Go back to the list and tick the students again.")
            )
        self.ids = list(dict.fromkeys(int(v) for v in raw))
        if any(i > MAX_ID for i in self.ids):
            abort(404)  # beyond any id the database can hold: no such student
        if len(self.ids) > MAX_SELECTED:
            abort(400, description=gettext("Choose at most %(num)s students at once.", num=MAX_SELECTED))
        back = values.get("back", "")[:2000]
        kept = [(k, v) for k, v in parse_qsl(back) if k in VIEW_FIELDS or k in ("q", "page")]
        self.back = urlencode(kept)

    @property
    def back_url(self) -> str:
        return url_for("students.index") + (f"?{self.back}" if self.back else "")

    def students(self, *, lock: bool) -> list[Student]:
        """The selected students in the user's scope (404 if one is not), in the list's name order."""
        scoped = visible_students(current_user)
        if lock:
            found = lock_selected(scoped, self.ids)
        else:
            found = list(db.session.scalars(scoped.where(Student.id.in_(self.ids))))
        if len(found) != len(self.ids):
            abort(404)
        return sorted(found, key=lambda s: (s.family_name.lower(), s.given_name.lower(), s.id))


def _form_page(action: str, form, selection: Selection, students, status: int = 200, **extra):
    # The form names every ticked student: one row for the page.
    audit.record("caseload.bulk.form.view", actor=current_user, detail={"action": action, "students": len(students)})
    return render_template(
        f"students/index_bulk_{action}.html",
        form=form,
        students=students,
        selection=selection,
        title=gettext(ACTIONS[action]),
        **extra,
    ), status


def _results(action: str, outcomes, selection: Selection, **extra):
    done = sum(o.done for o in outcomes)
    # The page names each student; what was changed has its own rows (one per plan, seat or assignment).
    audit.record(
        "caseload.bulk.results", actor=current_user, detail={"action": action, "students": len(outcomes), "done": done}
    )
    return render_template(
        "students/index_bulk_results.html",
        outcomes=outcomes,
        done=done,
        selection=selection,
        title=gettext(ACTIONS[action]),
        action=action,
        **extra,
    )


@bp.route("/bulk/plans", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def bulk_plans():
    """Start the same check-in plan for each ticked student who has none."""
    selection = Selection(request.values)
    posting = request.method == "POST"
    students = selection.students(lock=posting)
    when = clock()
    now = when.now
    form = BulkPlanForm(starts_on=when.today)
    if not posting:
        return _form_page("plans", form, selection, students)
    if not form.validate():
        return _form_page("plans", form, selection, students, 400)
    values = {
        "cadence": form.cadence.data,
        "rrule": form.rrule.data,
        "starts_on": form.starts_on.data,
        "local_time": form.local_time.data,
        "duration_minutes": form.duration_minutes.data,
        "non_school_day": form.non_school_day.data,
        "reason": form.reason.data,
    }
    if form.until.data:
        values["until"] = form.until.data
    try:
        with db.session.begin_nested():
            outcomes = start_plans(
                current_user,
                students,
                now=now,
                values=values,
                assigned_counselor=form.counselor.data == "assigned",
                link_flag=bool(form.link_flag.data),
            )
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _form_page("plans", form, selection, students, 400)
    return _results("plans", outcomes, selection)


@bp.route("/bulk/enroll", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def bulk_enroll():
    """Enroll each ticked student in one program (seats while they last, then its waitlist)."""
    selection = Selection(request.values)
    posting = request.method == "POST"
    students = selection.students(lock=posting)
    programs = db.session.scalars(running_programs(visible_programs(current_user))).all()
    taken = (
        {pid: active for pid, active, _ in db.session.execute(seat_counts([p.id for p in programs]))}
        if programs
        else {}
    )
    form = BulkEnrollForm(programs, taken)
    if not posting:
        return _form_page("enroll", form, selection, students)
    if not form.validate():
        return _form_page("enroll", form, selection, students, 400)
    program = get_program_or_404(current_user, int(form.program_id.data))
    try:
        with db.session.begin_nested():
            outcomes = enroll_selected(current_user, program, students)
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _form_page("enroll", form, selection, students, 400)
    return _results("enroll", outcomes, selection, program=program)


@bp.route("/bulk/assign", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def bulk_assign():
    """Put each ticked student on one counselor's caseload."""
    selection = Selection(request.values)
    posting = request.method == "POST"
    students = selection.students(lock=posting)
    counselors = db.session.scalars(counselors_of_my_schools(current_user)).all()
    form = BulkAssignForm(counselors)
    if not posting:
        return _form_page("assign", form, selection, students)
    if not form.validate():
        return _form_page("assign", form, selection, students, 400)
    counselor = next(c for c in counselors if str(c.id) == form.counselor_id.data)
    try:
        with db.session.begin_nested():
            outcomes = assign_counselor(current_user, students, counselor)
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _form_page("assign", form, selection, students, 400)
    return _results("assign", outcomes, selection, counselor=counselor)
