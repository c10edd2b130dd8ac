"""Program pages: the catalogue, one program (roster, waitlist, dosage, sessions), enrollment."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from school_prevention import audit
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_problems, apply_service_error, choices
from school_prevention.permissions import (
    CASE_ROLES,
    get_student_or_404,
    roles,
    visible_schools,
    visible_students,
)
from school_prevention.programs.forms import (
    EndEnrollmentForm,
    EnrollForm,
    ProgramForm,
    SessionForm,
    StudentEnrollForm,
)
from school_prevention.programs.models import ATTENDANCE, Enrollment, Program, ProgramSession, ProgramType
from school_prevention.programs.queries import (
    active_program_types,
    attendance_of_session,
    dosage,
    dosage_map,
    enrollments_of_program,
    flagged_not_in_any_program,
    get_program_or_404,
    open_programs_of_school,
    seats_of,
    sessions_of_program,
    visible_programs,
    waitlist_positions,
)
from school_prevention.programs.services import (
    PROGRAM_FIELDS,
    create_program,
    end_enrollment,
    enroll,
    program_problems,
    record_session,
    session_problems,
    update_program,
    update_session,
)
from school_prevention.students.models import Student
from school_prevention.students.queries import search_students
from school_prevention.timezones import district_today

bp = Blueprint("programs", __name__)

SEARCH_LIMIT = 25


def _program_form(program=None):
    schools = db.session.scalars(visible_schools(current_user)).all()
    types = db.session.scalars(active_program_types()).all()
    if program is not None and program.type not in types:
        types = [program.type, *types]
    return ProgramForm(schools, types, obj=program if request.method == "GET" else None), schools


def _form_values(form) -> dict:
    return {name: getattr(form, name).data for name in PROGRAM_FIELDS}


def _validate_program(form) -> bool:
    """The form's checks and the service's (an end before the start) together: every problem shows at once."""
    valid = form.validate()
    # Looked up only when it is one of the form's choices (any other number is refused by the form already).
    known = isinstance(form.type_id.data, int) and not form.type_id.errors
    problems = program_problems(_form_values(form), db.session.get(ProgramType, form.type_id.data) if known else None)
    apply_problems(form, problems, skip_fields_with_errors=True)
    return valid and not problems


@bp.route("/programs/new", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def new():
    """Add a program to one of the user's schools."""
    form, schools = _program_form()
    status = 200
    if request.method == "POST":
        status = 400
        if _validate_program(form):
            school = next((s for s in schools if s.id == form.school_id.data), None)
            try:
                with db.session.begin_nested():
                    program = create_program(
                        current_user, school, db.session.get(ProgramType, form.type_id.data), **_form_values(form)
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(
                    ngettext(
                        "Program “%(name)s” created with %(num)d seat.",
                        "Program “%(name)s” created with %(num)d seats.",
                        program.capacity,
                        name=program.name,
                    ),
                    "success",
                )
                return redirect(url_for("programs.detail", program_id=program.id))
    return render_template("programs/form.html", form=form, program=None), status


@bp.route("/programs/<int:program_id>/edit", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def edit(program_id: int):
    """Change a program; raising the capacity promotes from the waitlist."""
    program = get_program_or_404(current_user, program_id)
    form, _schools = _program_form(program)
    form.school_id.choices = choices([(program.school_id, program.school.name)])
    if request.method == "GET":
        form.school_id.data = program.school_id
    status = 200
    if request.method == "POST":
        status = 400
        form.school_id.data = program.school_id  # a program does not move between schools
        if _validate_program(form):
            try:
                with db.session.begin_nested():
                    promoted = update_program(
                        current_user, program, db.session.get(ProgramType, form.type_id.data), **_form_values(form)
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
                program = get_program_or_404(current_user, program_id)
            else:
                flash(
                    _("Program saved. %(num)s moved from the waitlist into the new seats.", num=len(promoted))
                    if promoted
                    else _("Program saved."),
                    "success",
                )
                return redirect(url_for("programs.detail", program_id=program.id))
    return render_template("programs/form.html", form=form, program=program), status


def _render_program(program: Program, enroll_form=None, code: int = 200):
    # The page names each student: all of them in one query.
    enrollments = db.session.scalars(enrollments_of_program(program.id).options(selectinload(Enrollment.student))).all()
    positions = waitlist_positions(program.id)
    doses = dosage_map(db.session.execute(dosage(program_id=program.id)), 1)
    sessions = db.session.scalars(sessions_of_program(program.id).limit(20)).all()
    q = (request.args.get("q") or "").strip()[:100]
    in_program = {e.student_id for e in enrollments if e.is_current}
    found: Sequence[Student] = []
    if q:
        found = db.session.scalars(
            search_students(visible_students(current_user), q=q, school_id=program.school_id).limit(SEARCH_LIMIT)
        ).all()
    candidates = db.session.scalars(
        flagged_not_in_any_program(visible_students(current_user), program.school_id).limit(50)
    ).all()
    active = sum(e.status == "active" for e in enrollments)
    context = {
        "program": program,
        "enrollments": enrollments,
        "positions": positions,
        "doses": doses,
        "sessions": sessions,
        "q": q,
        "found": found,
        "candidates": candidates,
        "in_program": in_program,
        "active": active,
        "enroll_form": enroll_form or EnrollForm(),
        "search_limit": SEARCH_LIMIT,
    }
    audit.record(
        "program.view",
        actor=current_user,
        obj=program,
        school_id=program.school_id,
        detail={"enrollments": len(enrollments), "searched": bool(q)},
    )
    return render_template("programs/detail.html", **context), code


@bp.route("/programs/<int:program_id>")
@roles(*CASE_ROLES)
def detail(program_id: int):
    """One program: seats, waitlist in order, each student's dosage, sessions; enroll from here."""
    return _render_program(get_program_or_404(current_user, program_id))


def _students_in_scope(ids) -> list[Student]:
    """The asked-for students the user may see; unknown ids are simply not found (never 500)."""
    if not ids:
        return []
    found = {s.id: s for s in db.session.scalars(visible_students(current_user).where(Student.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


@bp.route("/programs/<int:program_id>/enroll", methods=["POST"])
@roles(*CASE_ROLES)
def enroll_many(program_id: int):
    """Enroll the ticked students: seats while they last, then the waitlist in the order ticked."""
    program = get_program_or_404(current_user, program_id)
    form = EnrollForm()
    form.student_ids.choices = choices((i, str(i)) for i in form.student_ids.data or [])
    if not form.validate():
        return _render_program(program, form, 400)
    # A student can be ticked twice (in the search results and in the flagged list): once is meant.
    ids = list(dict.fromkeys(form.student_ids.data))
    students = _students_in_scope(ids)
    if len(students) != len(ids):
        abort(404)
    try:
        with db.session.begin_nested():
            result = enroll(current_user, program, students)
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render_program(get_program_or_404(current_user, program_id), form, 400)
    flash(result.summary() + ".", "success" if result.active or result.waitlisted else "warning")
    return redirect(url_for("programs.detail", program_id=program.id))


@bp.route("/students/<int:student_id>/programs", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def enroll_student(student_id: int):
    """From the student page: choose one of the school's running programs."""
    student = get_student_or_404(current_user, student_id)
    programs = db.session.scalars(open_programs_of_school(visible_programs(current_user), student.school_id)).all()
    form = StudentEnrollForm(programs, seats_of([p.id for p in programs]))
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            program = get_program_or_404(current_user, form.program_id.data)
            try:
                with db.session.begin_nested():
                    result = enroll(current_user, program, [student])
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                # Flashed messages travel in the session cookie (signed, not encrypted): they name no student.
                if result.skipped:
                    flash(_("Not enrolled: %(reason)s.", reason=result.skipped[0][1]), "warning")
                elif result.waitlisted:
                    flash(_("%(name)s is full: added to its waitlist.", name=program.name), "warning")
                else:
                    flash(_("Enrolled in %(name)s.", name=program.name), "success")
                return redirect(url_for("students.detail", student_id=student.id))
    audit.record("enrollment.form.view", actor=current_user, obj=student, student=student)  # the form names the student
    return render_template("programs/enroll_student.html", form=form, student=student, programs=programs), status


def _changing() -> bool:
    return request.method not in ("GET", "HEAD")


def _locked(model, object_id: int):
    """The row with this id, locked until the request commits and read afresh (None if missing)."""
    return db.session.scalars(
        select(model).where(model.id == object_id).with_for_update(of=model).execution_options(populate_existing=True)
    ).one_or_none()


def _enrollment_or_404(enrollment_id: int) -> Enrollment:
    """An enrollment in a program of the user's schools, or 404.

    A change locks the program first (every seat decision takes that lock), then the enrollment,
    read afresh: the second of two identical requests sees the first one's outcome.
    """
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None:
        abort(404)
    get_program_or_404(current_user, enrollment.program_id)
    if _changing():
        enrollment = _locked(Enrollment, enrollment_id)
    return enrollment


@bp.route("/enrollments/<int:enrollment_id>/end", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def end(enrollment_id: int):
    """Complete or withdraw a student, with a reason; the first on the waitlist takes the seat."""
    enrollment = _enrollment_or_404(enrollment_id)
    form = EndEnrollmentForm(
        status=request.args.get("status", "withdrawn" if enrollment.status == "waitlisted" else None)
    )
    if enrollment.status == "waitlisted":
        form.status.choices = choices([("withdrawn", _("Withdrawn (take off the waitlist)"))])
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    promoted = end_enrollment(current_user, enrollment, form.status.data, form.reason.data)
            except ServiceError as exc:
                apply_service_error(form, exc)
                enrollment = _enrollment_or_404(enrollment_id)
            else:
                # No names: flashed messages travel in the cookie.
                message = (
                    _("Enrollment ended: completed.")
                    if enrollment.status == "completed"
                    else _("Enrollment ended: withdrawn.")
                )
                if promoted:
                    message += " " + ngettext(
                        "%(num)d student moved from the waitlist into the seat.",
                        "%(num)d students moved from the waitlist into the seat.",
                        len(promoted),
                    )
                flash(message, "success")
                back = url_for("students.detail", student_id=enrollment.student_id)
                return redirect(
                    back
                    if request.form.get("next") == back
                    else url_for("programs.detail", program_id=enrollment.program_id)
                )
    audit.record("enrollment.end.view", actor=current_user, obj=enrollment, student=enrollment.student)
    return render_template(
        "programs/end.html", form=form, enrollment=enrollment, next=request.values.get("next", "")
    ), status


def _roster(program: Program, session: ProgramSession | None) -> list[Student]:
    """Who attendance is taken for: students holding a seat, plus anyone already marked."""
    ids = [e.student_id for e in db.session.scalars(enrollments_of_program(program.id)) if e.status == "active"]
    if session is not None:
        ids += [sid for sid, _mark in db.session.execute(attendance_of_session(session.id)) if sid not in ids]
    students = {s.id: s for s in db.session.scalars(select(Student).where(Student.id.in_(ids)))} if ids else {}
    return sorted((students[i] for i in ids if i in students), key=lambda s: (s.family_name, s.given_name))


def _session_view(program: Program, session: ProgramSession | None):
    roster = _roster(program, session)
    marked = dict(db.session.execute(attendance_of_session(session.id)).all()) if session else {}
    if request.method == "GET":
        form = (
            SessionForm(obj=session)
            if session
            else SessionForm(held_on=district_today(), minutes=program.session_minutes)
        )
        return _render_session(form, program, session, roster, marked, [])
    form = SessionForm()
    marks = {s.id: request.form.get(f"att-{s.id}", "") for s in roster}
    missing = [s.id for s in roster if marks[s.id] not in ATTENDANCE]
    valid = form.validate()
    values = {
        "held_on": form.held_on.data,
        "minutes": form.minutes.data,
        "topic": form.topic.data,
        "attendance": marks,
        "roster_ids": {s.id for s in roster},
    }
    # The service's own checks (a future or non-school date) run beside the form's, so every problem shows at once.
    problems = session_problems(
        program,
        held_on=values["held_on"],
        minutes=values["minutes"],
        attendance={k: v for k, v in marks.items() if v},
        roster_ids=values["roster_ids"],
    )
    apply_problems(form, problems, skip_fields_with_errors=True)
    if valid and not missing and not problems:
        try:
            with db.session.begin_nested():
                if session is None:
                    record_session(current_user, program, **values)
                else:
                    update_session(current_user, session, program, **values)
        except ServiceError as exc:
            apply_service_error(form, exc)
        else:
            present = sum(v == "present" for v in marks.values())
            flash(_("Session saved: %(present)s of %(total)s present.", present=present, total=len(roster)), "success")
            return redirect(url_for("programs.detail", program_id=program.id))
    if missing:
        form.form_errors.append(
            _("Mark every student present, absent or excused (%(num)s not marked).", num=len(missing))
        )
    return _render_session(form, program, session, roster, marks, missing), 400


def _render_session(form, program: Program, session: ProgramSession | None, roster, marks, missing):
    """The attendance form: it names every student on the roster (audited as a view of the program)."""
    context = {
        "form": form,
        "program": program,
        "session": session,
        "roster": roster,
        "marks": marks,
        "attendance": ATTENDANCE,
        "missing": missing,
    }
    audit.record(
        "program.session.view",
        actor=current_user,
        obj=program,
        school_id=program.school_id,
        detail={"session": session.id if session else None, "roster": len(roster)},
    )
    return render_template("programs/session.html", **context)


@bp.route("/programs/<int:program_id>/sessions/new", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def session_new(program_id: int):
    """Record a session and take attendance for the whole roster in one form."""
    return _session_view(get_program_or_404(current_user, program_id), None)


@bp.route("/programs/<int:program_id>/sessions/<int:session_id>", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def session_edit(program_id: int, session_id: int):
    """Correct a session or its attendance."""
    program = get_program_or_404(current_user, program_id)  # a change locks the program: one at a time
    session = _locked(ProgramSession, session_id) if _changing() else db.session.get(ProgramSession, session_id)
    if session is None or session.program_id != program.id:
        abort(404)
    return _session_view(program, session)
