"""Downloads: the district's suppressed export (CSV, XLSX) and the granted student-level export."""
from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_login import current_user

from school_prevention.exports.district import write_district
from school_prevention.exports.forms import StudentExportForm
from school_prevention.exports.students import write_student_export
from school_prevention.permissions import roles
from school_prevention.reports.coverage import PeriodError, build_period
from school_prevention.reports.district import collector_paused
from school_prevention.reports.forms import DistrictFilterForm
from school_prevention.reports.published import district_release
from school_prevention.roles import Role

bp = Blueprint("exports", __name__)

MIMETYPES = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _download(data: bytes, fmt: str, name: str):
    return send_file(io.BytesIO(data), mimetype=MIMETYPES[fmt], as_attachment=True, download_name=f"{name}.{fmt}")


def _district(fmt: str):
    form = DistrictFilterForm(formdata=request.args)
    buffer = io.BytesIO()
    with collector_paused():  # the same report as the page's, read from the same filters
        report = district_release(form)
        if report is None:
            field_errors = [e for f in (form.period, form.level, form.start, form.end) for e in f.errors]
            abort(400, description="The export could not be made: "
                                   f"{field_errors[0] if field_errors else 'check the filters'}")
        write_district(buffer, fmt, report, actor=current_user)
    suffix = f"-{report.level}" if report.level else ""
    return _download(buffer.getvalue(), fmt, f"district-coverage-{report.reporting.key}{suffix}-{report.period.today.isoformat()}")


@bp.route("/exports/district.csv")
@roles(Role.DISTRICT)
def district_csv():
    """The district's coverage by school as CSV (suppressed; docs/exports.md gives the columns)."""
    return _district("csv")


@bp.route("/exports/district.xlsx")
@roles(Role.DISTRICT)
def district_xlsx():
    """The same as an Excel workbook, with breakdowns, the weekly trend and notes."""
    return _district("xlsx")


@bp.route("/exports/students", methods=["GET", "POST"])
@roles(Role.DISTRICT)
def students():
    """Student-level export: only with the grant, only with a stated purpose, always audited."""
    if not current_user.can_export_student_level:
        abort(403)
    form = StudentExportForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                period = build_period(form.start.data, form.end.data)
            except PeriodError as exc:
                getattr(form, exc.field).errors.append(exc.message)
            else:
                buffer = io.BytesIO()
                write_student_export(buffer, form.fmt.data, form.dataset.data, period, form.level.data or None,
                                     actor=current_user, purpose=form.purpose.data.strip())
                return _download(buffer.getvalue(), form.fmt.data,
                                 f"students-{form.dataset.data}-{period.today.isoformat()}")
    return render_template("exports/students.html", form=form,
                           min_n=current_app.config["SP_SUPPRESSION_MIN_N"]), status
