"""Downloads: the district's suppressed export (CSV, XLSX) and the granted student-level export (queued,
made by the export worker, then downloaded from its status page)."""

from __future__ import annotations

import io
from datetime import timedelta

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention.db import utcnow
from school_prevention.errors import ServiceError
from school_prevention.exports.district import write_district
from school_prevention.exports.forms import StudentExportForm
from school_prevention.exports.models import QUEUED, RUNNING, StudentExport
from school_prevention.exports.queue import KEEP, Gone, is_stalled, open_file, recent_exports, request_export
from school_prevention.extensions import db
from school_prevention.i18n import number
from school_prevention.permissions import roles
from school_prevention.reports.coverage import PeriodError, build_period
from school_prevention.reports.forms import DistrictFilterForm
from school_prevention.reports.published import district_release
from school_prevention.roles import Role

bp = Blueprint("exports", __name__)

# An export queued longer than this with no worker taking it: the page says the worker is not running.
WORKER_LATE = timedelta(seconds=15)
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _download(data: bytes, fmt: str, name: str):
    return send_file(io.BytesIO(data), mimetype=MIMETYPES[fmt], as_attachment=True, download_name=f"{name}.{fmt}")


def _district(fmt: str):
    form = DistrictFilterForm(formdata=request.args)
    buffer = io.BytesIO()
    # The same report as the page's, read from the same filters; a CSV is its table of schools alone.
    report = district_release(form, table_only=fmt == "csv")
    if report is None:
        field_errors = [e for f in (form.period, form.level, form.start, form.end) for e in f.errors]
        abort(
            400,
            description=_(
                "The export could not be made: %(problem)s",
                problem=field_errors[0] if field_errors else _("check the filters"),
            ),
        )
    assert report.reporting is not None  # a district report has its reporting period
    write_district(buffer, fmt, report, actor=current_user)
    suffix = f"-{report.level}" if report.level else ""
    return _download(
        buffer.getvalue(), fmt, f"district-coverage-{report.reporting.key}{suffix}-{report.period.today.isoformat()}"
    )


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


def _may_export_or_403() -> None:
    if not current_user.can_export_student_level:
        abort(403)


@bp.route("/exports/students", methods=["GET", "POST"])
@roles(Role.DISTRICT)
def students():
    """Student-level export: only with the grant, only with a stated purpose, always audited. The POST
    queues it: the export worker makes the file, and the status page offers it for download."""
    _may_export_or_403()
    form = StudentExportForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                period = build_period(form.start.data, form.end.data)
                with db.session.begin_nested():
                    export = request_export(
                        current_user,
                        dataset=form.dataset.data,
                        fmt=form.fmt.data,
                        level=form.level.data or None,
                        period=period,
                        purpose=form.purpose.data.strip(),
                        ip=request.remote_addr,
                    )
            except PeriodError as exc:
                getattr(form, exc.field).errors.append(exc.message)
            except ServiceError as exc:
                getattr(form, exc.field).errors.append(exc.message)
            else:
                return redirect(url_for("exports.student_export", export_id=export.id), 303)
    return render_template(
        "exports/students.html",
        form=form,
        exports=recent_exports(current_user),
        min_n=current_app.config["SP_SUPPRESSION_MIN_N"],
    ), status


def _own_export_or_404(export_id: int) -> StudentExport:
    """The export if the signed-in user asked for it; 404 for anyone else's (or none)."""
    _may_export_or_403()
    export = db.session.get(StudentExport, export_id)
    if export is None or export.requested_by_id != current_user.id:
        abort(404)
    return export


def rows_read(done: int, total: int) -> str:
    """ "1,200 of 5,000 rows read", in the page's language (the progress bar's figures)."""
    return _("%(done)s of %(total)s rows read", done=number(done), total=number(total))


def _state(export: StudentExport) -> dict:
    """What the status page and its poll say about an export."""
    now = utcnow()
    state = {"heading": "", "message": "", "figures": ""}
    if export.status == QUEUED:
        late = now - export.queued_at > WORKER_LATE
        state["heading"] = _("Waiting for the export worker…") if late else _("Queued")
        state["message"] = (
            _(
                "Exports are made in the scheduler process, which has not started this one. Ask whoever "
                "runs the server to check that the scheduler is running (%(command)s).",
                command="flask --app app scheduler run",
            )
            if late
            else _("The export worker picks it up within a few seconds.")
        )
    elif export.status == RUNNING:
        state["heading"] = _("Being made…")
        state["message"] = (
            _("Its worker stopped; another takes it over within a few seconds.")
            if is_stalled(export, now)
            else _("Reading the rows…")
        )
        if export.rows_total:
            state["figures"] = rows_read(export.rows_done, export.rows_total)
    return state


@bp.route("/exports/students/<int:export_id>")
@roles(Role.DISTRICT)
def student_export(export_id: int):
    """One export: its progress while it is made, then its download until it expires."""
    export = _own_export_or_404(export_id)
    return render_template(
        "exports/status.html",
        export=export,
        state=_state(export),
        expired=export.is_expired(),
        keep_hours=int(KEEP.total_seconds() // 3600),
    )


@bp.route("/exports/students/<int:export_id>/progress.json")
@roles(Role.DISTRICT)
def student_export_progress(export_id: int):
    """Figures for the progress bar, from the export's row; polled by static/js/progress.js."""
    export = _own_export_or_404(export_id)
    state = _state(export)
    return {
        "status": export.status,
        "done": export.rows_done,
        "total": export.rows_total,
        "current": "",
        "stalled": False,
        "heading": state["heading"],
        "message": state["message"],
    }


@bp.route("/exports/students/<int:export_id>/download")
@roles(Role.DISTRICT)
def student_export_download(export_id: int):
    """The made file, for the person who asked for it, until it expires; each download is audited."""
    export = _own_export_or_404(export_id)
    try:
        data = open_file(current_user, export)
    except Gone as exc:
        abort(410, description=str(exc))
    assert export.file_name is not None  # open_file refused an export that was not made
    name, fmt = export.file_name.rsplit(".", 1)
    return _download(data, fmt, name)
