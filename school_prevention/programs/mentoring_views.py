"""Mentoring pages: mentors (with their clearance), matches and monthly support contacts."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention import audit
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error, choices
from school_prevention.permissions import (
    CASE_ROLES,
    roles,
    visible_schools,
)
from school_prevention.programs.forms import ContactForm, MatchMoveForm, MentorForm
from school_prevention.programs.mentoring import (
    CONTACT_METHODS,
    CONTACT_WITH,
    MATCH_TRANSITIONS,
    clearance_problem,
    move_match,
    record_contact,
    save_mentor,
)
from school_prevention.programs.models import MATCH_STATUSES, Match, Mentor
from school_prevention.programs.queries import (
    get_match_or_404,
    get_mentor_or_404,
    last_contacts,
    match_length_days,
    match_listing,
    mentor_listing,
    next_contact_due,
    visible_matches,
    visible_mentors,
)
from school_prevention.timezones import district_today

bp = Blueprint("mentoring", __name__)


def _check_months() -> int:
    return current_app.config["SP_MENTOR_CHECK_MONTHS"]


@bp.route("/mentors")
@roles(*CASE_ROLES)
def mentors():
    """Mentors of the user's schools and whether each may be matched today."""
    show = "all" if request.args.get("show") == "all" else "active"
    items = db.session.scalars(mentor_listing(visible_mentors(current_user), show)).all()
    today = district_today()
    problems = {m.id: clearance_problem(m, today, _check_months()) for m in items}
    return render_template("programs/mentors.html", mentors=items, problems=problems, show=show, months=_check_months())


@bp.route("/mentors/new", methods=["GET", "POST"], defaults={"mentor_id": None})
@bp.route("/mentors/<int:mentor_id>", methods=["GET", "POST"])
@roles(*CASE_ROLES)
def mentor_edit(mentor_id: int | None):
    """Register a mentor or update one (for example a renewed background check)."""
    mentor = get_mentor_or_404(current_user, mentor_id) if mentor_id else None
    schools = db.session.scalars(visible_schools(current_user)).all()
    form = MentorForm(schools, obj=mentor if request.method == "GET" else None)
    if mentor is not None:
        form.school_id.choices = choices([(mentor.school_id, mentor.school.name)])
        form.school_id.data = mentor.school_id
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            school = mentor.school if mentor else next(s for s in schools if s.id == form.school_id.data)
            try:
                with db.session.begin_nested():
                    saved = save_mentor(
                        current_user,
                        mentor,
                        school,
                        district_today(),
                        **{
                            k: getattr(form, k).data
                            for k in ("name", "organisation", "email", "phone", "background_check_on", "is_active")
                        },
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                problem = clearance_problem(saved, district_today(), _check_months())
                flash(
                    _("Saved %(name)s. Not yet matchable: %(problem)s", name=saved.name, problem=problem)
                    if problem
                    else _("Saved %(name)s. Cleared for matching.", name=saved.name),
                    "warning" if problem else "success",
                )
                return redirect(url_for("mentoring.mentors"))
    return render_template("programs/mentor_form.html", form=form, mentor=mentor, months=_check_months()), status


@bp.route("/matches")
@roles(*CASE_ROLES)
def matches():
    """Mentoring matches: open ones with their length and when the support contact is due."""
    show = request.args.get("show", "open")
    show = show if show in {"open", "closed", "all"} else "open"
    items = db.session.scalars(match_listing(visible_matches(current_user), show)).all()
    last = dict(db.session.execute(last_contacts([m.id for m in items])).all()) if items else {}
    today = district_today()
    rows = [(m, match_length_days(m, today), next_contact_due(m, last.get(m.id)), last.get(m.id)) for m in items]
    audit.record("match.list", actor=current_user, detail={"shown": len(rows), "show": show})
    return render_template("programs/matches.html", rows=rows, show=show, today=today)


def _mentor_choices(match: Match):
    today = district_today()
    mentors = db.session.scalars(
        mentor_listing(visible_mentors(current_user)).where(Mentor.school_id == match.school_id)
    ).all()
    return [
        (
            m.id,
            m.name
            + (f" ({m.organisation})" if m.organisation else "")
            + (_(" — not cleared") if clearance_problem(m, today, _check_months()) else _(" — cleared")),
        )
        for m in mentors
    ]


def _next_statuses(match: Match) -> list[tuple[str, str]]:
    """The statuses the match may move to, as (value, label)."""
    return [(s, _(MATCH_STATUSES[s])) for s in MATCH_STATUSES if s in MATCH_TRANSITIONS[match.status]]


def _render_match(match: Match, move_form=None, contact_form=None, code: int = 200):
    today = district_today()
    statuses = _next_statuses(match)
    move_form = move_form or MatchMoveForm(statuses, _mentor_choices(match), formdata=None)
    contact_form = contact_form or ContactForm(formdata=None, contacted_on=today)
    last = match.contacts[0].contacted_on if match.contacts else None
    context = {
        "match": match,
        "move_form": move_form,
        "contact_form": contact_form,
        "length": match_length_days(match, today),
        "due": next_contact_due(match, last),
        "today": today,
        "methods": CONTACT_METHODS,
        "with_whom": CONTACT_WITH,
        "can_move": bool(statuses),
    }
    audit.record("match.view", actor=current_user, obj=match, student=match.student)
    return render_template("programs/match.html", **context), code


@bp.route("/matches/<int:match_id>")
@roles(*CASE_ROLES)
def match_detail(match_id: int):
    """One match: status, mentor, length, support contacts."""
    return _render_match(get_match_or_404(current_user, match_id))


@bp.route("/matches/<int:match_id>/status", methods=["POST"])
@roles(*CASE_ROLES)
def match_move(match_id: int):
    """Move the match on (matching needs a cleared mentor; closing needs a reason)."""
    match = get_match_or_404(current_user, match_id)
    # Any status is accepted here and the service judges the move: the second of two identical
    # requests must hear that the match was already moved, not that its choice is not offered.
    form = MatchMoveForm(list(MATCH_STATUSES.items()), _mentor_choices(match))
    if not form.validate():
        form.status.choices = choices(_next_statuses(match))
        return _render_match(match, move_form=form, code=400)
    mentor = get_mentor_or_404(current_user, form.mentor_id.data) if form.mentor_id.data else None
    try:
        with db.session.begin_nested():
            move_match(
                current_user,
                match,
                form.status.data,
                today=district_today(),
                check_months=_check_months(),
                mentor=mentor,
                on=form.on.data,
                reason=form.reason.data,
            )
    except ServiceError as exc:
        apply_service_error(form, exc)
        match = get_match_or_404(current_user, match_id)
        form.status.choices = choices(_next_statuses(match))
        return _render_match(match, move_form=form, code=400)
    flash(_("Match is now: %(status)s.", status=match.status_label.lower()), "success")
    return redirect(url_for("mentoring.match_detail", match_id=match.id))


@bp.route("/matches/<int:match_id>/contacts", methods=["POST"])
@roles(*CASE_ROLES)
def match_contact(match_id: int):
    """Record a match-support contact."""
    match = get_match_or_404(current_user, match_id)
    form = ContactForm()
    if not form.validate():
        return _render_match(match, contact_form=form, code=400)
    try:
        with db.session.begin_nested():
            record_contact(
                current_user,
                match,
                contacted_on=form.contacted_on.data,
                method=form.method.data,
                with_whom=form.with_whom.data,
                today=district_today(),
            )
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _render_match(get_match_or_404(current_user, match_id), contact_form=form, code=400)
    flash(_("Support contact recorded."), "success")
    return redirect(url_for("mentoring.match_detail", match_id=match.id))
