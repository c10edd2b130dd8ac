"""Staff refer a concern; counselors triage the queue."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from school_prevention import audit
from school_prevention.auth.models import User
from school_prevention.db import MAX_ID
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.flags.models import FlagCategory
from school_prevention.flags.queries import active_categories, open_flags_of_student, visible_flags
from school_prevention.forms import MAX_PAGE, apply_service_error
from school_prevention.permissions import referable_students, roles, visible_students
from school_prevention.referrals.forms import AcceptForm, CloseForm, ReferralForm, StudentPickForm
from school_prevention.referrals.models import Referral
from school_prevention.referrals.queries import (
    counselors_of_school,
    get_referral_of_school_or_404,
    get_referral_triage_or_routed_or_404,
    submitted_by,
    triage_or_routed,
    triage_queue,
)
from school_prevention.referrals.services import (
    accept_referral,
    close_referral,
    mark_opened,
    read_observation,
    start_review,
    submit_referral,
)
from school_prevention.roles import Role
from school_prevention.students.models import Student
from school_prevention.students.queries import search_students

bp = Blueprint("referrals", __name__, url_prefix="/referrals")


def _referable_or_404(student_id: int) -> Student:
    if not 0 < student_id <= MAX_ID:
        abort(404)
    student = db.session.scalars(referable_students(current_user).where(Student.id == student_id)).one_or_none()
    if student is None:
        abort(404)
    return student


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.STAFF)
def new():
    """Step 1: find the student (own school only). Step 2: describe the concern."""
    student_id = request.args.get("student", type=int)
    categories = db.session.scalars(active_categories()).all()
    if student_id is None:
        pick = StudentPickForm(formdata=request.args)
        found = None
        if pick.q.data and pick.validate():
            found = db.paginate(
                search_students(referable_students(current_user), q=pick.q.data), page=1, per_page=20, error_out=False
            )
            # The results name students of the school (and their SIS ids): one list row, without the search text.
            audit.record(
                "referral.student_search", actor=current_user, detail={"shown": len(found.items), "total": found.total}
            )
        elif pick.q.data:
            return render_template("referrals/pick.html", form=pick, found=None), 400
        return render_template("referrals/pick.html", form=pick, found=found)
    student = _referable_or_404(student_id)
    form = ReferralForm(categories)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            chosen = [c for c in categories if c.id in set(form.categories.data or [])]
            try:
                with db.session.begin_nested():
                    submit_referral(
                        current_user,
                        student,
                        categories=chosen,
                        observation=form.observation.data,
                        urgency=form.urgency.data,
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(
                    _(
                        "Thank you. Your referral was sent to the school's counselors. "
                        "If a child is in immediate danger, call 911 now."
                    ),
                    "success",
                )
                return redirect(url_for("referrals.mine"))
    audit.record("referral.form.view", actor=current_user, obj=student, student=student)  # the form names the student
    return render_template("referrals/new.html", form=form, student=student), status


@bp.route("/mine")
@roles(Role.STAFF)
def mine():
    """A staff member's referrals with their status only (never the outcome)."""
    referrals = db.session.scalars(submitted_by(current_user).limit(200)).all()
    audit.record(
        "referral.mine.list", actor=current_user, detail={"shown": len(referrals)}
    )  # the list names each student
    return render_template("referrals/mine.html", referrals=referrals)


@bp.route("")
@roles(Role.COUNSELOR)
def queue():
    """The triage queue of the counselor's schools: open first, most urgent and oldest first."""
    show = request.args.get("show", "open")
    if show not in ("open", "decided"):
        abort(400, description=_("show must be 'open' or 'decided'."))
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(400, description=_("page must be a whole number from 1 to %(max)s.", max=MAX_PAGE))
    # The queue names each student: all of them in one query.
    listing = triage_queue(triage_or_routed(current_user), show).options(selectinload(Referral.student))
    pagination = db.paginate(listing, page=page, per_page=50, error_out=False)
    audit.record(
        "referral.list", actor=current_user, detail={"show": show, "page": page, "shown": len(pagination.items)}
    )
    return render_template("referrals/queue.html", pagination=pagination, show=show)


def _render_detail(referral, accept_form=None, close_form=None, code=200):
    flags = db.session.scalars(open_flags_of_student(visible_flags(current_user), referral.student_id)).all()
    categories = db.session.scalars(active_categories()).all()
    accept_form = accept_form or AcceptForm(
        flags, categories, category=str(referral.categories[0].id) if referral.categories else ""
    )
    observation = read_observation(current_user, referral)
    context = {
        "referral": referral,
        "observation": observation,
        "accept_form": accept_form,
        "close_form": close_form or CloseForm(),
        "flags": flags,
    }
    audit.record("referral.view", actor=current_user, obj=referral, student=referral.student)
    mark_opened(current_user, referral)  # opened: an urgent referral is no longer escalated
    return render_template("referrals/detail.html", **context), code


@bp.route("/<int:referral_id>")
@roles(Role.COUNSELOR)
def detail(referral_id: int):
    """One referral: the observation (audited read) and the triage actions."""
    return _render_detail(get_referral_triage_or_routed_or_404(current_user, referral_id))


@bp.route("/<int:referral_id>/waiting")
@roles(Role.PRINCIPAL)
def waiting(referral_id: int):
    """For a principal told that an urgent referral waits unopened: when, from whom, whether a counselor
    has opened it since, and whom to ask; never what staff wrote (the counselors read that)."""
    referral = get_referral_of_school_or_404(current_user, referral_id)
    counselors = db.session.scalars(counselors_of_school(referral.school_id).order_by(User.name)).all()
    routed_to = db.session.get(User, referral.routed_to_id) if referral.routed_to_id else None
    opened_by = db.session.get(User, referral.first_opened_by_id) if referral.first_opened_by_id else None
    audit.record("referral.waiting.view", actor=current_user, obj=referral, student=referral.student)
    return render_template(
        "referrals/waiting.html", referral=referral, counselors=counselors, routed_to=routed_to, opened_by=opened_by
    )


@bp.route("/<int:referral_id>/review", methods=["POST"])
@roles(Role.COUNSELOR)
def review(referral_id: int):
    """Take the referral into review."""
    referral = get_referral_triage_or_routed_or_404(current_user, referral_id)
    try:
        start_review(current_user, referral)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("referrals.detail", referral_id=referral_id))
    flash(_("Marked as in review. The staff member now sees “In review”."), "success")
    return redirect(url_for("referrals.detail", referral_id=referral_id))


@bp.route("/<int:referral_id>/accept", methods=["POST"])
@roles(Role.COUNSELOR)
def accept(referral_id: int):
    """Accept into a new flag or link a current one."""
    referral = get_referral_triage_or_routed_or_404(current_user, referral_id)
    flags = db.session.scalars(open_flags_of_student(visible_flags(current_user), referral.student_id)).all()
    form = AcceptForm(flags, db.session.scalars(active_categories()).all())
    if not form.validate():
        return _render_detail(referral, accept_form=form, code=400)
    existing = next((f for f in flags if str(f.id) == form.existing_flag.data), None)
    category = db.session.get(FlagCategory, int(form.category.data)) if form.category.data else None
    try:
        with db.session.begin_nested():
            flag = accept_referral(
                current_user,
                referral,
                existing_flag=existing,
                category=category,
                severity=form.severity.data or None,
                note=form.note.data,
            )
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render_detail(
            get_referral_triage_or_routed_or_404(current_user, referral_id), accept_form=form, code=400
        )
    if not db.session.scalar(
        visible_students(current_user).with_only_columns(Student.id).where(Student.id == referral.student_id)
    ):
        # A district counselor the referral was routed to: the student's school is not theirs.
        flash(
            _(
                "Referral accepted and a flag opened. The student's record is at a school you are not assigned to: "
                "ask the administrator to assign its counselor (or you) to record what follows."
            ),
            "success",
        )
        return redirect(url_for("referrals.detail", referral_id=referral_id))
    flash(
        _("Referral accepted. Record the mandated report now.")
        if flag.needs_mandated_report
        else _("Referral accepted."),
        "success",
    )
    if flag.needs_mandated_report:
        return redirect(url_for("flags.report", flag_id=flag.id))
    return redirect(url_for("flags.detail", flag_id=flag.id))


@bp.route("/<int:referral_id>/close", methods=["POST"])
@roles(Role.COUNSELOR)
def close(referral_id: int):
    """Close without a flag, with a reason."""
    referral = get_referral_triage_or_routed_or_404(current_user, referral_id)
    form = CloseForm()
    if not form.validate():
        return _render_detail(referral, close_form=form, code=400)
    try:
        with db.session.begin_nested():
            close_referral(current_user, referral, form.reason.data)
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render_detail(
            get_referral_triage_or_routed_or_404(current_user, referral_id), close_form=form, code=400
        )
    flash(_("Referral closed."), "success")
    return redirect(url_for("referrals.queue"))
