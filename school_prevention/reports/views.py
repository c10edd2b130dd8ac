"""/reports/coverage: a school's coverage for its principals and counselors; every school's for the district."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from school_prevention import audit
from school_prevention.agencies.queries import outside_support
from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.forms import picked_school
from school_prevention.i18n import number, percent_text
from school_prevention.permissions import roles, student_scope, visible_schools
from school_prevention.reports import charts, measures
from school_prevention.reports.coverage import (
    NA,
    RECOMMENDED_CASELOAD,
    make_period,
    school_report,
    share,
    uncovered_list,
)
from school_prevention.reports.district import SUPPRESSED
from school_prevention.reports.forms import SORTABLE, DistrictFilterForm, SchoolPickForm
from school_prevention.reports.published import district_release
from school_prevention.reports.training import district_training
from school_prevention.roles import Role
from school_prevention.tiers.queries import tier_coverage
from school_prevention.training.queries import training_coverage

bp = Blueprint("reports", __name__)

# More uncovered students than this at one school is a staffing question, not a list to scroll.
UNCOVERED_LIMIT = 200


@bp.route("/reports/coverage")
@roles(Role.COUNSELOR, Role.PRINCIPAL, Role.DISTRICT)
def coverage():
    """Coverage of flagged students: one school (with names) or, for the district, every school (without)."""
    if current_user.role_enum == Role.DISTRICT:
        return _district_page()
    return _school_page()


def _school_page():
    schools = db.session.scalars(visible_schools(current_user)).all()
    if not schools:
        return render_template("reports/no_school.html")
    form = SchoolPickForm(schools, formdata=request.args)
    school = picked_school(schools, request.args.get("school"))  # not one of theirs: 404, it does not exist for them
    form.school.data = school.id
    period = make_period(utcnow())
    report = school_report(school, period)
    listing = uncovered_list(student_scope(current_user), school.id, period, UNCOVERED_LIMIT)
    context = {
        "form": form,
        "school": school,
        "schools": schools,
        "report": report,
        "uncovered": listing.students,
        "more": listing.more,
        "categories": listing.categories,
        "can_plan": current_user.role_enum == Role.COUNSELOR,
        "charts": charts,
        "severity_of": measures.SEVERITY_OF_RANK,
        "recommended": RECOMMENDED_CASELOAD,
    }
    context["training"] = training_coverage([school.id], period.today)[school.id]  # staff trained (training)
    context["outside"] = outside_support(school.id, [s.id for s in listing.students])  # agencies supporting students
    context["tiers"] = tier_coverage(school.id)  # students by tier, flagged students with an intervention plan
    # One row per view: names of uncovered students were shown; which ones is not recorded.
    audit.record(
        "report.coverage", actor=current_user, school_id=school.id, detail={"uncovered_shown": len(listing.students)}
    )
    return render_template("reports/school.html", **context)


def _district_page():
    form = DistrictFilterForm(formdata=request.args)
    report = district_release(form)
    if report is None:
        return render_template("reports/district.html", form=form, report=None), 400
    sort = form.sort.data if form.sort.data in SORTABLE else "school_name"
    descending = form.order.data == "desc"
    args = {"period": report.reporting.key, "level": report.level or ""}
    # The page names no student; its row records what was looked at.
    audit.record(
        "report.coverage.district", actor=current_user, detail={"level": report.level, "period": report.reporting.key}
    )
    rows = report.sorted_rows(sort, descending)
    context = {
        "form": form,
        "report": report,
        "rows": rows,
        "sort": sort,
        "descending": descending,
        "args": args,
        "charts": charts,
        "S": SUPPRESSED,
        "sortable": SORTABLE,
        "recommended": RECOMMENDED_CASELOAD,
    }
    # Staff trained, suppressed in the same groups as every other district figure.
    context["training"] = district_training(report.level, report.min_n, report.period.today, report.groups)
    return render_template("reports/district.html", **context)


@bp.app_template_filter("figure")
def figure(value) -> str:
    """A figure for display: S when withheld, a dash when not applicable, thousands separated."""
    if value is SUPPRESSED:
        return SUPPRESSED
    if value is NA or value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return number(value, 1)
    return number(int(value))


@bp.app_template_filter("percent")
def percent(value, whole=None) -> str:
    """A share (or value / whole) as a whole percentage; S when withheld, a dash when not applicable."""
    if whole is not None:
        if value is SUPPRESSED or whole is SUPPRESSED:
            return SUPPRESSED
        value = share(value, whole)
    if value is SUPPRESSED:
        return SUPPRESSED
    if value is NA or value is None:
        return "—"
    return percent_text(value)
