"""Record a screening from the student page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from school_prevention import audit
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_problems, apply_service_error, whole_number
from school_prevention.permissions import get_student_or_404, roles
from school_prevention.roles import Role
from school_prevention.screenings.forms import ScreeningForm
from school_prevention.screenings.queries import active_instruments
from school_prevention.screenings.services import record_screening, screening_problems
from school_prevention.timezones import district_today
from school_prevention.training.services import screening_refusal

bp = Blueprint("screenings", __name__)


@bp.route("/students/<int:student_id>/screenings/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def new(student_id: int):
    """Record the result level and next step; a concern offers to open a flag."""
    student = get_student_or_404(current_user, student_id)
    instruments = db.session.scalars(active_instruments()).all()
    form = ScreeningForm(instruments, screened_on=district_today())
    wanted = whole_number(request.args.get("instrument"))
    if request.method == "GET" and wanted is not None and any(i.id == wanted for i in instruments):
        form.instrument.data = wanted  # from a rescreen reminder
    # Instruments that need a current training, and whether the counselor's is (said before they fill the form).
    needs = [
        (i, screening_refusal(current_user, i.required_course, i.name, district_today()))
        for i in instruments
        if i.required_course_id is not None
    ]
    status = 200
    if request.method == "POST":
        status = 400
        valid = form.validate()
        # The service's checks (a future date, a rescreen date, training) beside the form's: one round of errors.
        chosen = next((i for i in instruments if i.id == form.instrument.data), None)
        problems = screening_problems(
            current_user,
            chosen,
            screened_on=form.screened_on.data,
            result=form.result.data,
            next_step=form.next_step.data,
            rescreen_on=form.rescreen_on.data,
            outside_agency=form.outside_agency.data,
            today=district_today(),
        )
        apply_problems(form, problems, skip_fields_with_errors=True)
        if valid and not problems:
            assert chosen is not None  # the form accepts only a listed instrument
            try:
                with db.session.begin_nested():
                    screening = record_screening(
                        current_user,
                        student,
                        instrument=chosen,
                        screened_on=form.screened_on.data,
                        result=form.result.data,
                        next_step=form.next_step.data,
                        rescreen_on=form.rescreen_on.data,
                        outside_agency=form.outside_agency.data,
                        today=district_today(),
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                if screening.is_concern:
                    flash(
                        gettext(
                            "Screening recorded: %(result)s. Open a flag for this concern now?",
                            result=screening.result_label.lower(),
                        ),
                        "warning",
                    )
                    return redirect(url_for("flags.new", student_id=student.id, source="screening"))
                flash(gettext("Screening recorded."), "success")
                return redirect(url_for("students.detail", student_id=student.id))
    audit.record("screening.form.view", actor=current_user, obj=student, student=student)  # the form names the student
    return render_template("screenings/new.html", form=form, student=student, needs=needs), status
