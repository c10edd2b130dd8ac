"""Upload and apply forms for the roster import."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import StringField
from wtforms.validators import Length, Optional


class UploadForm(FlaskForm):
    """A zip of the SIS's OneRoster CSV export."""

    archive = FileField(
        _l("OneRoster export (.zip)"),
        validators=[
            FileRequired(_l("Choose the zip file your SIS exported.")),
            FileAllowed(["zip"], _l("Upload the export as a .zip file (manifest.csv, orgs.csv, users.csv ...).")),
        ],
        description=_l("A dry run comes first: you will see what would change before anything does."),
    )


class ApplyForm(FlaskForm):
    """Apply a checked import."""

    # Not a checkbox: one click must not deactivate a school. The admin types the number the dry run found.
    confirm_deactivation = StringField(
        _l("Type the number of students to deactivate to confirm"), validators=[Optional(), Length(max=20)]
    )

    def deactivation_confirmed(self, expected: int) -> bool:
        """Whether the number typed is the number of students the dry run would deactivate."""
        typed = (self.confirm_deactivation.data or "").replace(",", "").replace(" ", "").strip()
        return typed == str(expected)


class RunActionForm(FlaskForm):
    """Retry or discard a run (the button is the whole form)."""
