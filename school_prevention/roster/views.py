"""Admin pages: upload a OneRoster zip, see the dry-run report, apply it, follow its progress."""
from __future__ import annotations

import threading
import uuid
import zipfile

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import OperationalError

from school_prevention.extensions import db
from school_prevention.permissions import roles
from school_prevention.roles import Role
from school_prevention.roster import progress
from school_prevention.roster.forms import ApplyForm, UploadForm
from school_prevention.roster.importer import count_rows
from school_prevention.roster.models import RosterImport
from school_prevention.roster.queries import recent_runs
from school_prevention.roster.services import (UPLOAD_KEEP, ApplyError, check_can_apply, import_roster, start_apply,
                                               start_run, upload_folder)

bp = Blueprint("roster", __name__, url_prefix="/admin/roster")


def _launch(run: RosterImport, allow_mass_deactivation: bool = False) -> None:
    """Run the import outside the request (inline under tests that ask for it)."""
    app = current_app._get_current_object()
    args = (run.id, run.upload_path, run.is_dry_run, allow_mass_deactivation)
    if app.config.get("ROSTER_IMPORT_INLINE"):
        _work(app, *args, inline=True)
        return
    threading.Thread(target=_work, args=(app, *args), daemon=True, name=f"roster-import-{run.id}").start()


def _work(app, run_id, path, dry_run, allow, inline=False) -> None:
    def report_progress(done, total, name):
        progress.update(run_id, done, total, name)

    if inline:
        try:
            import_roster(run_id, path, dry_run=dry_run, allow_mass_deactivation=allow, progress=report_progress)
        finally:
            progress.forget(run_id)  # else a later run with the same id would show these figures
        return
    with app.app_context():
        try:
            import_roster(run_id, path, dry_run=dry_run, allow_mass_deactivation=allow, progress=report_progress)
        finally:
            progress.forget(run_id)
            db.session.remove()


@bp.route("", methods=["GET", "POST"])
@roles(Role.ADMIN)
def index():
    """Upload a OneRoster zip (a dry run starts at once) and see past imports."""
    form = UploadForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            target = upload_folder(current_app) / f"{uuid.uuid4().hex}.zip"
            form.archive.data.save(target)
            if not zipfile.is_zipfile(target):
                target.unlink()
                form.archive.errors = ["This file is not a readable zip archive."]
            else:
                run = start_run(current_user, form.archive.data.filename or "upload.zip", dry_run=True,
                                upload_path=str(target))
                _launch(run)
                return redirect(url_for("roster.detail", run_id=run.id))
    runs = db.session.scalars(recent_runs()).all()
    return render_template("roster/index.html", form=form, runs=runs), status


def _run_or_404(run_id: int) -> RosterImport:
    run = db.session.get(RosterImport, run_id)
    if run is None:
        abort(404)
    return run


@bp.route("/<int:run_id>")
@roles(Role.ADMIN)
def detail(run_id: int):
    """A run's progress while it works, then its report (and, after a clean dry run, Apply)."""
    run = _run_or_404(run_id)
    return render_template("roster/detail.html", run=run, live=progress.get(run.id), form=ApplyForm(),
                           counts=count_rows(run.counts), keep_days=UPLOAD_KEEP.days)


@bp.route("/<int:run_id>/progress.json")
@roles(Role.ADMIN)
def progress_json(run_id: int):
    """Figures for the progress bar (polled by static/js/progress.js)."""
    run = _run_or_404(run_id)
    live = progress.get(run.id) or {}
    return {"status": run.status, "done": live.get("done", 0), "total": live.get("total", 0),
            "current": live.get("current", "")}


@bp.route("/<int:run_id>/apply", methods=["POST"])
@roles(Role.ADMIN)
def apply(run_id: int):
    """Apply the file a dry run checked, once: a second click, tab or back-button resubmit is told where it went."""
    dry = _run_or_404(run_id)
    form = ApplyForm()
    if not form.validate():
        flash("The form could not be read. Open the dry run again and apply it from there.", "error")
        return redirect(url_for("roster.detail", run_id=run_id), 303)
    try:
        run = start_apply(current_user, dry)
        db.session.commit()
    except ApplyError as exc:
        db.session.rollback()
        return _refuse_apply(exc, dry)
    except OperationalError as exc:
        # SQLite: another import holds the write lock for its whole transaction (often the very
        # apply this second click duplicates). Read again: the answer is then usually "already applied".
        db.session.rollback()
        if "locked" not in str(exc.orig):
            raise  # a stale snapshot: web.App runs the request again
        try:
            check_can_apply(dry)
        except ApplyError as refusal:
            return _refuse_apply(refusal, dry)
        flash("Another import is writing to the database. Apply this one when it has finished.", "error")
        return redirect(url_for("roster.detail", run_id=dry.id), 303)
    _launch(run, allow_mass_deactivation=form.allow_mass_deactivation.data)
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
