"""The district's decision on an access request."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length


class RejectForm(FlaskForm):
    """Why a request is refused: the administrator who proposed it is shown the reason."""

    reason = TextAreaField(
        _l("Why not"),
        validators=[
            DataRequired(_l("Say why, for the administrator who proposed it.")),
            Length(max=2000, message=_l("At most 2,000 characters.")),
        ],
    )
