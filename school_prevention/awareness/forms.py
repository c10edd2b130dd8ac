"""Forms: an awareness page (admin) and the "I have read this" confirmation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school_prevention.forms import CheckboxListField, WholeNumberField, choices
from school_prevention.i18n import N_
from school_prevention.roles import ROLE_LABELS, Role

# roles.ROLE_LABELS as the audience choices show them, listed here so the catalogue has them.
_ROLE_LABEL_WORDS = [
    N_("Staff (teacher, nurse, other adult)"),
    N_("Counselor / social worker"),
    N_("Principal"),
    N_("District prevention office"),
    N_("System administrator"),
]


class PageForm(FlaskForm):
    """Admin: a page's title, Markdown text, audience and order."""

    title = StringField(_l("Title"), validators=[DataRequired(_l("Give the page a title.")), Length(max=200)])
    body = TextAreaField(
        _l("Text (Markdown)"),
        validators=[DataRequired(_l("Write the page's text.")), Length(max=50_000)],
        render_kw={"rows": 18},
        description=_l(
            "Markdown: ## Heading, **bold**, - list item, [link](https://…). HTML is shown as text. "
            "{hotline} and {child_welfare} become the district's numbers from the settings."
        ),
    )
    audience = CheckboxListField(
        _l("Shown to"),
        choices=choices((r.value, _l(ROLE_LABELS[r])) for r in Role),
        validators=[DataRequired(_l("Choose at least one role the page is for."))],
    )
    position = WholeNumberField(
        _l("Order"),
        default=0,
        validators=[Optional(), NumberRange(0, 999, _l("Give a number from 0 to 999."))],
        description=_l("Pages are listed from the lowest number."),
    )
    is_published = BooleanField(
        _l("Published"), default=True, description=_l("Unpublished pages are seen only by administrators.")
    )


class ConfirmForm(FlaskForm):
    """The version the reader was shown."""

    version = HiddenField(validators=[DataRequired()])
