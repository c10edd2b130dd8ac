"""The program list, a view of the programs blueprint kept at the page layer: the district's seats are
published through the reports' suppression path (reports.published), a layer above programs."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from school_prevention.extensions import db
from school_prevention.permissions import CASE_ROLES, roles, visible_schools
from school_prevention.programs.forms import ProgramFilterForm
from school_prevention.programs.queries import all_program_types, program_listing, seats_of, visible_programs
from school_prevention.programs.views import bp
from school_prevention.reports import published
from school_prevention.roles import Role


@bp.route("/programs")
@roles(Role.COUNSELOR, Role.PRINCIPAL, Role.DISTRICT)
def index():
    """Programs of the user's schools with seats taken and waiting; the district sees every school."""
    schools = db.session.scalars(visible_schools(current_user)).all()
    types = db.session.scalars(all_program_types()).all()
    form = ProgramFilterForm(schools, types, formdata=request.args)
    if not form.validate():
        return render_template("programs/index.html", form=form, programs=[], seats={}, totals=None), 400
    programs = db.session.scalars(
        program_listing(
            visible_programs(current_user),
            school_id=form.school.data or None,
            type_id=form.type.data or None,
            show=form.show.data or "active",
        )
    ).all()
    seats = seats_of([p.id for p in programs])
    totals = {
        "capacity": sum(p.capacity for p in programs),
        "active": sum(seats.get(p.id, (0, 0))[0] for p in programs),
        "waiting": sum(seats.get(p.id, (0, 0))[1] for p in programs),
    }
    if current_user.role_enum == Role.DISTRICT:  # counts in aggregate only: suppressed as on every district page
        seats, totals = published.program_seats(programs, seats)
    return render_template(
        "programs/index.html",
        form=form,
        programs=programs,
        seats=seats,
        totals=totals,
        can_manage=current_user.role_enum in CASE_ROLES,
    )
