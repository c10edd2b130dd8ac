"""Admin pages: upload a OneRoster zip (its dry run is queued), follow a run, apply, retry or discard it.

The import itself never runs here: a request only queues a run (worker.py runs it in the scheduler
process), so every page answers at once, and any app server shows the same progress (progress.py).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention.db import utcnow
from school_prevention.extensions import db
from school_prevention.i18n import number
from school_prevention.permissions import read_only, roles
from school_prevention.roles import Role
from school_prevention.roster import progress as run_progress
from school_prevention.roster.forms import ApplyForm, RunActionForm, UploadForm
from school_prevention.roster.importer import count_rows
from school_prevention.roster.models import QUEUED, RUNNING, RosterImport
from school_prevention.roster.queries import recent_runs, working_runs
from school_prevention.roster.services import (
    UPLOAD_KEEP,
    ApplyError,
    RunError,
    discard_run,
    retry_run,
    start_apply,
    start_upload,
)
from school_prevention.roster.uploads import UploadError

bp = Blueprint("roster", __name__, url_prefix="/admin/roster")

# A run queued longer than this with no worker taking it: the page says the worker is not running.
WORKER_LATE = timedelta(seconds=15)


def _run_or_404(run_id: int) -> RosterImport:
    """The run, or 404; a POST locks its row until the request commits (FOR UPDATE on PostgreSQL; on
    SQLite the request holds the write lock), so two identical clicks act one after the other."""
    if request.method in ("GET", "HEAD"):
        run = db.session.get(RosterImport, run_id)
    else:
        run = db.session.get(RosterImport, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        abort(404)
    return run


def _state(run: RosterImport) -> dict:
    """What the page says about a run that has not finished: its figures, and what it is waiting for."""
    now = utcnow()
    live = run_progress.read(run, db.engine)
    state = {
        "live": live,
        "stalled": run_progress.is_stalled(run, live, now),
        "heading": _("Working…"),
        "message": _("Starting…"),
        "figures": "",
        "reading": "",
    }
    if run.status == RUNNING and live.total:
        state["figures"] = _("%(done)s of %(total)s rows read", done=number(live.done), total=number(live.total))
    if live.current:
        state["reading"] = _("Reading %(file)s", file=live.current)
    if run.status == QUEUED:
        ahead = next(
            (
                other
                for other in db.session.scalars(working_runs())
                if other.id != run.id and not run_progress.is_stalled(other, run_progress.read(other, db.engine), now)
            ),
            None,
        )
        if ahead is not None:
            state["heading"] = _("Queued")
            state["message"] = _("Waiting for import #%(num)s to finish: imports take turns.", num=ahead.id)
        elif now - run.queued_at < WORKER_LATE:
            state["heading"], state["message"] = _("Queued"), _("The import worker picks it up within a few seconds.")
        else:
            state["heading"] = _("Waiting for the import worker…")
            state["message"] = _(
                "Imports run in the scheduler process, which looks for new ones every few seconds, "
                "and it has not started this one. Ask whoever runs the server to check that the "
                "scheduler is running (%(command)s).",
                command="flask --app app scheduler run",
            )
    return state


@bp.route("", methods=["GET", "POST"])
@roles(Role.ADMIN)
def index():
    """Upload a OneRoster zip (its dry run is queued at once) and see past imports."""
    form = UploadForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            upload = form.archive.data
            try:
                run = start_upload(current_user, upload.stream, upload.filename or "upload.zip")
            except UploadError as exc:
                form.archive.errors = [str(exc)]
            else:
                return redirect(url_for("roster.detail", run_id=run.id))
    runs = db.session.scalars(recent_runs()).all()
    now = utcnow()
    stopped = {run.id for run in runs if run_progress.is_stalled(run, run_progress.read(run, db.engine), now)}
    return render_template("roster/index.html", form=form, runs=runs, stopped=stopped), status


@bp.route("/<int:run_id>")
@roles(Role.ADMIN)
@read_only  # answers while an import holds SQLite's write lock: it shows that very import
def detail(run_id: int):
    """A run waiting or working (with its progress), stopped (retry, discard), or its report (and Apply)."""
    return _render_detail(_run_or_404(run_id), ApplyForm())


def _render_detail(run: RosterImport, form: ApplyForm):
    state = _state(run) if not run.is_finished else None
    return render_template(
        "roster/detail.html",
        run=run,
        state=state,
        form=form,
        action=RunActionForm(),
        counts=count_rows(run.counts),
        keep_days=UPLOAD_KEEP.days,
        deactivation=(run.report or {}).get("deactivation"),
    )


@bp.route("/<int:run_id>/progress.json")
@roles(Role.ADMIN)
@read_only  # polled every second, also while an import holds SQLite's write lock
def progress_json(run_id: int):
    """Figures for the progress bar, from the run's row (and its beat file on SQLite), so any app
    server answers alike; polled by static/js/progress.js."""
    run = _run_or_404(run_id)
    answer = {
        "status": run.status,
        "done": 0,
        "total": 0,
        "current": "",
        "stalled": False,
        "heading": "",
        "message": "",
    }
    if not run.is_finished:
        state = _state(run)
        live = state["live"]
        answer.update(
            done=live.done,
            total=live.total,
            current=live.current,
            stalled=state["stalled"],
            heading=state["heading"],
            message=state["message"],
        )
    return answer


@bp.route("/<int:run_id>/apply", methods=["POST"])
@roles(Role.ADMIN)
def apply(run_id: int):
    """Queue the apply of the file a dry run checked, once: a second click, tab or back-button resubmit is told where it went."""
    dry = _run_or_404(run_id)
    form = ApplyForm()
    if not form.validate():
        flash(_("The form could not be read. Open the dry run again and apply it from there."), "error")
        return redirect(url_for("roster.detail", run_id=run_id), 303)
    deactivation = (dry.report or {}).get("deactivation")
    if deactivation and dry.can_apply and not form.deactivation_confirmed(deactivation["students"]):
        # Refused here, before anything is queued: the dry run's page again, with the field marked.
        form.confirm_deactivation.errors = [
            _(
                "Type %(num)s (the number of students this import deactivates) to apply it, "
                "or upload a complete export instead.",
                num=number(deactivation["students"]),
            )
            if form.confirm_deactivation.data
            else _(
                "Type the number of students to deactivate (%(num)s) to confirm.", num=number(deactivation["students"])
            )
        ]
        return _render_detail(dry, form), 400
    try:
        run = start_apply(current_user, dry, allow_mass_deactivation=bool(deactivation))
    except ApplyError as exc:
        return _refuse_apply(exc, dry)
    return redirect(url_for("roster.detail", run_id=run.id), 303)


def _refuse_apply(exc: ApplyError, dry: RosterImport):
    """Say why nothing was started and go where the admin can act: the applying run, or the upload form."""
    if exc.run_id:
        flash(str(exc), "warning")
        return redirect(url_for("roster.detail", run_id=exc.run_id), 303)
    flash(str(exc), "error")
    if exc.expired:
        return redirect(url_for("roster.index"), 303)
    return redirect(url_for("roster.detail", run_id=dry.id), 303)


@bp.route("/<int:run_id>/retry", methods=["POST"])
@roles(Role.ADMIN)
def retry(run_id: int):
    """Put a run whose worker went away back in the queue."""
    return _act(run_id, retry_run, _("Run #%(num)s is back in the queue: a worker will start it afresh.", num=run_id))


@bp.route("/<int:run_id>/discard", methods=["POST"])
@roles(Role.ADMIN)
def discard(run_id: int):
    """Discard a queued run, or one whose worker went away (nothing of it was applied)."""
    return _act(run_id, discard_run, _("Run #%(num)s was discarded; nothing was changed.", num=run_id))


def _act(run_id: int, service, done: str):
    run = _run_or_404(run_id)
    if not RunActionForm().validate():
        flash(_("The form could not be read. Open the run again and use its buttons."), "error")
    else:
        try:
            service(current_user, run)
        except RunError as exc:
            flash(str(exc), "warning")
        else:
            flash(done, "success")
    return redirect(url_for("roster.detail", run_id=run_id), 303)
