"""Tier, intervention plan and printed summary pages. Counselors of the student's school change them;
principals read plans; staff, district and admin never see them."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from school_prevention import audit
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_problems
from school_prevention.permissions import CASE_ROLES, get_student_or_404, roles
from school_prevention.roles import Role
from school_prevention.tiers import chart
from school_prevention.tiers.forms import PlanForm, ProgressForm, ReviewForm, TierForm
from school_prevention.tiers.models import TIERS
from school_prevention.tiers.queries import (
    current_tier,
    enrolled_programs,
    fidelity,
    get_plan_or_404,
    progress_points,
    tier_history,
)
from school_prevention.tiers.services import (
    check_plan,
    check_progress,
    create_plan,
    record_progress,
    review_plan,
    set_tier,
)
from school_prevention.timezones import district_today

bp = Blueprint("tiers", __name__)
DEFAULT_REVIEW_WEEKS = 6


def _show_problems(form, problems) -> None:
    """Each refusal beside its field (or above the form), unless the form's own check already refused that
    field: a ServiceError (with every problem it carries) or a list of them (check_plan, check_progress)."""
    if isinstance(problems, ServiceError):
        problems = [problems]
    apply_problems(form, [pair for exc in problems for pair in exc.problems], skip_fields_with_errors=True)


@bp.route("/students/<int:student_id>/tier", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def change_tier(student_id: int):
    """Move a student to tier 1, 2 or 3 with a reason; the page lists the tier history."""
    student = get_student_or_404(current_user, student_id)
    current = current_tier(student.id)
    form = TierForm()
    status = 200
    if request.method == "POST":
        status = 400
        form.validate()
        try:
            with db.session.begin_nested():
                set_tier(current_user, student, form.tier.data, form.reason.data, form.seen_version())
        except ServiceError as exc:
            _show_problems(form, exc)
        else:
            flash(gettext("Moved to tier %(tier)s.", tier=form.tier.data), "success")
            return redirect(url_for("students.detail", student_id=student.id) + "#tier-h")
        current = current_tier(student.id)
    else:
        form.tier.data = current.tier if current else 1
    form.version.data = str(current.version if current else 0)
    history = db.session.scalars(tier_history(student.id)).all()
    audit.record("student.tier.view", actor=current_user, obj=student, student=student)
    return render_template(
        "tiers/tier_form.html", form=form, student=student, current=current, history=history, tiers=TIERS
    ), status


@bp.route("/students/<int:student_id>/interventions/new", methods=["GET", "POST"])
@roles(Role.COUNSELOR)
def plan_new(student_id: int):
    """Make an intervention plan: goal, measure, baseline and target, review date, programs."""
    student = get_student_or_404(current_user, student_id)
    today = district_today()
    enrolled = db.session.scalars(enrolled_programs(student.id)).all()
    form = PlanForm(enrolled)
    status = 200
    if request.method == "GET":
        form.started_on.data = today
        form.review_on.data = today + timedelta(weeks=DEFAULT_REVIEW_WEEKS)
        if len(enrolled) == 1:  # the only choice starts ticked
            form.programs.data = [enrolled[0].id]
    else:
        status = 400
        form.validate()  # what cannot be read (a word for a number) is said beside its field...
        values = {
            "goal": form.goal.data,
            "measure": form.measure.data,
            "baseline": form.baseline.data,
            "target": form.target.data,
            "started_on": form.started_on.data,
            "review_on": form.review_on.data,
            "program_ids": form.programs.data or [],
            "today": today,
        }
        problems, _ = check_plan(student, **values)
        if problems:
            _show_problems(form, problems)  # ...with every other problem
        if not form.errors and not form.form_errors:
            with db.session.begin_nested():
                plan = create_plan(current_user, student, **values)
            flash(gettext("Intervention plan saved. Record progress as you measure it."), "success")
            return redirect(url_for("tiers.plan_detail", intervention_id=plan.id))
    audit.record("intervention_plan.form.view", actor=current_user, obj=student, student=student)
    return render_template("tiers/plan_form.html", form=form, student=student), status


def _render_plan(plan, progress_form=None, review_form=None, code: int = 200):
    today = district_today()
    points = db.session.scalars(progress_points(plan.id)).all()
    figures = [(p.measured_on, p.value) for p in points]
    geometry = chart.goal_chart(plan.started_on, plan.review_on, plan.baseline, plan.target, figures)
    words = chart.summary(plan.started_on, plan.review_on, plan.baseline, plan.target, plan.measure, figures)
    aims = {
        p.id: chart.aim_on(
            min(p.measured_on, plan.review_on), plan.started_on, plan.review_on, plan.baseline, plan.target
        )
        for p in points
    }
    is_counselor = current_user.role_enum == Role.COUNSELOR
    if progress_form is None:
        progress_form = ProgressForm(formdata=None)
        progress_form.measured_on.data = today
    review_form = review_form or ReviewForm(formdata=None)
    audit.record("intervention_plan.view", actor=current_user, obj=plan, student=plan.student)
    return render_template(
        "tiers/plan_detail.html",
        plan=plan,
        student=plan.student,
        points=points,
        aims=aims,
        svg=chart.goal_chart_svg(
            geometry, gettext("Progress toward the goal: %(measure)s", measure=plan.measure), words, "goal"
        ),
        words=words,
        fidelity=fidelity(plan, today),
        today=today,
        can_edit=is_counselor,
        progress_form=progress_form,
        review_form=review_form,
    ), code


@bp.route("/interventions/<int:intervention_id>")
@roles(*CASE_ROLES)
def plan_detail(intervention_id: int):
    """A plan: goal, goal-line chart and its figures, fidelity; counselors record progress and reviews."""
    return _render_plan(get_plan_or_404(current_user, intervention_id))


@bp.route("/interventions/<int:intervention_id>/progress", methods=["POST"])
@roles(Role.COUNSELOR)
def progress(intervention_id: int):
    """Add a progress-monitoring data point."""
    plan = get_plan_or_404(current_user, intervention_id)
    form = ProgressForm()
    form.validate()  # a word for a number is said beside its field, with every other problem
    today = district_today()
    value = float("nan") if form.value.errors else form.value.data
    problems = check_progress(plan, measured_on=form.measured_on.data, value=value, today=today)
    if problems:
        _show_problems(form, problems)
    if not form.errors and not form.form_errors:
        try:
            with db.session.begin_nested():
                record_progress(
                    current_user, plan, measured_on=form.measured_on.data, value=value, note=form.note.data, today=today
                )
        except ServiceError as exc:
            _show_problems(form, exc)
    if form.errors or form.form_errors:
        return _render_plan(get_plan_or_404(current_user, intervention_id), progress_form=form, code=400)
    flash(gettext("Progress recorded."), "success")
    return redirect(url_for("tiers.plan_detail", intervention_id=plan.id) + "#progress-h")


@bp.route("/interventions/<int:intervention_id>/review", methods=["POST"])
@roles(Role.COUNSELOR)
def review(intervention_id: int):
    """Record a review: continue to a new date, or close the plan."""
    plan = get_plan_or_404(current_user, intervention_id)
    form = ReviewForm()
    form.validate()
    try:
        with db.session.begin_nested():
            review_plan(
                current_user,
                plan,
                decision=form.decision.data,
                next_review_on=form.next_review_on.data,
                note=form.note.data,
                today=district_today(),
            )
    except ServiceError as exc:
        _show_problems(form, exc)
        return _render_plan(get_plan_or_404(current_user, intervention_id), review_form=form, code=400)
    flash(gettext("Review recorded.") if plan.is_active else gettext("Plan closed."), "success")
    return redirect(url_for("tiers.plan_detail", intervention_id=plan.id))
