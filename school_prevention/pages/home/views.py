"""The home page each role lands on after sign-in, and /healthz."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import text

from school_prevention import audit
from school_prevention.agencies.queries import follow_ups_due
from school_prevention.awareness.queries import my_pages
from school_prevention.checkins.handoff import students_who_left
from school_prevention.db import utcnow
from school_prevention.disclosures.queries import open_inspections
from school_prevention.extensions import db
from school_prevention.pages.home.counselor import counselor_context
from school_prevention.pages.home.principal import principal_coverage
from school_prevention.pages.home.queries import active_students_by_school, users_by_role
from school_prevention.pages.students.caseload import SEVERITY_OF_RANK, clock
from school_prevention.permissions import public, read_only, signed_in, visible_schools
from school_prevention.referrals.queries import submitted_by
from school_prevention.reports import published
from school_prevention.roles import Role
from school_prevention.timezones import district_today
from school_prevention.training.queries import to_renew

bp = Blueprint("home", __name__)


@bp.route("/")
@signed_in
def index():
    """The signed-in user's home, by role."""
    role = current_user.role_enum
    schools = db.session.execute(active_students_by_school(visible_schools(current_user))).all()
    context = {"schools": schools}
    if role == Role.COUNSELOR:  # their students the roster deactivated lately: a count, no names
        context["students_left"] = students_who_left(current_user.id, utcnow())
    if role == Role.DISTRICT:  # counts in aggregate only: suppressed as on every district page
        context["schools"], context["total"] = published.school_students()
    elif role == Role.ADMIN:
        context["user_counts"] = db.session.execute(users_by_role()).all()
    elif role == Role.STAFF:
        context["referrals"] = db.session.scalars(submitted_by(current_user).limit(10)).all()
        if context["referrals"]:  # the list names each student
            audit.record(
                "referral.mine.list", actor=current_user, detail={"shown": len(context["referrals"]), "on": "home"}
            )
        context["awareness"] = my_pages(current_user)
    elif role == Role.COUNSELOR:
        context.update(counselor_context(current_user, clock()))
        context.update(agency_and_inspection_lists(current_user))
        shown = {
            **context.pop("named"),
            "follow_ups": len(context["agency_follow_ups"]),
            "inspections": len(context["inspections"]),
        }
        if any(shown.values()):  # the banners and lists name students: one row for the page
            audit.record("home.lists.view", actor=current_user, detail=shown)
    elif role == Role.PRINCIPAL:
        context["coverage"] = principal_coverage(current_user, schools)
        context["severity_of"] = SEVERITY_OF_RANK
        shown = sum(len(c.uncovered.students) for c in context["coverage"])
        if shown:  # names of flagged students who are not covered: one row for the page
            audit.record("home.uncovered.view", actor=current_user, detail={"uncovered_shown": shown})
    if role in (Role.STAFF, Role.COUNSELOR, Role.PRINCIPAL):  # their own required training that needs them
        context["my_training"] = to_renew(current_user, district_today())
    return render_template(f"home/{role.value}.html", **context)


def agency_and_inspection_lists(user) -> dict:
    """A counselor's agency follow-ups that are due and open inspection requests (they name students: the home
    page's one audit row counts them)."""
    today = district_today()
    return {
        "agency_follow_ups": db.session.scalars(follow_ups_due(user, today)).all(),
        "inspections": db.session.scalars(open_inspections(user)).all(),
        "today": today,
    }


@bp.route("/healthz")
@public
@read_only
def healthz():
    """Liveness and database reachability, for a load balancer or uptime check."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any database failure means unhealthy
        db.session.rollback()  # so the request's commit has nothing to fail on
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
