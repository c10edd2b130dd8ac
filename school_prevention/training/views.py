"""Training pages: a school's staff and who is current, one person's record, CSV import, My training."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention.admin.catalogue_views import Catalogue, register_catalogue
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error, picked_school
from school_prevention.i18n import N_, localdate
from school_prevention.permissions import roles, signed_in, visible_schools
from school_prevention.roles import Role
from school_prevention.timezones import district_today
from school_prevention.training import rules
from school_prevention.training.forms import CompletionForm, CourseForm, ImportForm, SchoolPickForm
from school_prevention.training.importer import ImportFileError, import_completions
from school_prevention.training.models import Course
from school_prevention.training.queries import (
    Coverage,
    active_courses,
    all_courses,
    completions_of,
    get_staff_member_or_404,
    person_training,
    school_training,
)
from school_prevention.training.services import record_completion, remove_completion

bp = Blueprint("training", __name__)

# The course catalogue is one of the admin's lists (Lists › Training courses).
register_catalogue(
    "training-courses",
    Catalogue(
        Course,
        CourseForm,
        all_courses,
        N_("Training courses"),
        N_("course"),
        (
            ("name", N_("Name")),
            ("provider", N_("Provider")),
            ("hours", N_("Hours")),
            ("renewal_label", N_("Renewal")),
            ("required_label", N_("Required of")),
        ),
    ),
)


@bp.app_context_processor
def _helpers():
    """training_of(user): a person's courses and status, for the admin's user page."""
    return {"training_of": lambda user: person_training(user, district_today()), "training_labels": rules.STATUS_LABELS}


@bp.route("/training")
@roles(Role.PRINCIPAL, Role.ADMIN)
def index():
    """A school's staff, counselors and principals: who is current, due for renewal, lapsed or not trained."""
    schools = db.session.scalars(visible_schools(current_user)).all()
    if not schools:
        return render_template("training/index.html", school=None, schools=[])
    form = SchoolPickForm(schools, formdata=request.args)
    school = picked_school(schools, request.args.get("school"))
    form.school.data = school.id
    show = request.args.get("show", "all")
    if show not in ("all", "attention"):
        abort(400, description=_("Show everyone or only those who are not current."))
    today = district_today()
    data = school_training([school.id], today)
    coverage = data.coverage().get(school.id, Coverage())
    people = [p for p in data.people if show == "all" or p.status != rules.CURRENT]
    columns = [c for c in data.courses if any(c in data.required[p.user.role] for p in data.people)]
    return render_template(
        "training/index.html",
        form=form,
        school=school,
        schools=schools,
        people=people,
        coverage=coverage,
        columns=columns,
        show=show,
        today=today,
        due_days=rules.DUE_DAYS,
    )


@bp.route("/training/people/<int:user_id>", methods=["GET", "POST"])
@roles(Role.PRINCIPAL, Role.ADMIN)
def person(user_id: int):
    """One person's training; record a completion by hand."""
    member = get_staff_member_or_404(current_user, user_id)
    courses = db.session.scalars(active_courses()).all()
    form = CompletionForm(courses, completed_on=district_today())
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            course = next((c for c in courses if c.id == form.course.data), None)
            assert course is not None  # the form's choices are these courses: it accepted only one of them
            try:
                with db.session.begin_nested():
                    done = record_completion(
                        current_user,
                        member,
                        course,
                        completed_on=form.completed_on.data,
                        expires_on=form.expires_on.data,
                        today=district_today(),
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                values = {"name": member.name, "course": done.course.name, "day": localdate(done.completed_on)}
                flash(
                    _(
                        "Recorded: %(name)s completed “%(course)s” on %(day)s, valid until %(until)s.",
                        until=localdate(done.expires_on),
                        **values,
                    )
                    if done.expires_on
                    else _("Recorded: %(name)s completed “%(course)s” on %(day)s.", **values),
                    "success",
                )
                return redirect(url_for("training.person", user_id=member.id))
    return render_template(
        "training/person.html",
        member=member,
        form=form,
        lines=person_training(member, district_today()),
        completions=db.session.scalars(completions_of(member.id)).all(),
    ), status


@bp.route("/training/people/<int:user_id>/completions/<int:completion_id>/remove", methods=["POST"])
@roles(Role.PRINCIPAL, Role.ADMIN)
def remove(user_id: int, completion_id: int):
    """Remove a completion recorded by mistake."""
    member = get_staff_member_or_404(current_user, user_id)
    try:
        with db.session.begin_nested():
            gone = remove_completion(current_user, member, completion_id)
    except LookupError:
        abort(404)
    flash(
        _(
            "Removed %(name)s's completion of “%(course)s” on %(day)s.",
            name=member.name,
            course=gone.course.name,
            day=localdate(gone.completed_on),
        ),
        "success",
    )
    return redirect(url_for("training.person", user_id=member.id))


@bp.route("/training/import", methods=["GET", "POST"])
@roles(Role.PRINCIPAL, Role.ADMIN)
def import_():
    """Import completions from a CSV file; every rejected row is listed with its line and reason."""
    form = ImportForm()
    result = None
    status = 200
    if request.method == "POST":
        status = 400
        upload = request.files.get("file")
        if form.validate():
            if upload is None or not upload.filename:
                form.file.errors = [_("Choose a CSV file to import.")]
            else:
                try:
                    with db.session.begin_nested():
                        result = import_completions(
                            current_user, upload.read(), today=district_today(), partial=form.partial.data
                        )
                except ImportFileError as exc:
                    form.file.errors = [str(exc)]
                else:
                    status = 200 if result.saved else 400
    return render_template(
        "training/import.html", form=form, result=result, courses=db.session.scalars(active_courses()).all()
    ), status


@bp.route("/account/training")
@signed_in
def mine():
    """My training: the courses required of me, what I completed, and until when it is valid."""
    return render_template(
        "training/mine.html",
        lines=person_training(current_user, district_today()),
        completions=db.session.scalars(completions_of(current_user.id)).all(),
        due_days=rules.DUE_DAYS,
    )
