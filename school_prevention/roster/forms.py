"""Upload and apply forms for the roster import."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField


class UploadForm(FlaskForm):
    """A zip of the SIS's OneRoster CSV export."""

    archive = FileField("OneRoster export (.zip)", validators=[
        FileRequired("Choose the zip file your SIS exported."),
        FileAllowed(["zip"], "Upload the export as a .zip file (manifest.csv, orgs.csv, users.csv ...)."),
    ], description="A dry run comes first: you will see what would change before anything does.")


class ApplyForm(FlaskForm):
    """Apply a checked import."""

    allow_mass_deactivation = BooleanField(
        "This export is complete: allow it to deactivate more than 5% of active students")


class RunActionForm(FlaskForm):
    """Retry or discard a run (the button is the whole form)."""
