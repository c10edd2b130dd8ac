"""Forms: an awareness page (admin) and the "I have read this" confirmation."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school_prevention.forms import WholeNumberField, CheckboxListField, choices
from school_prevention.roles import ROLE_LABELS, Role


class PageForm(FlaskForm):
    """Admin: a page's title, Markdown text, audience and order."""

    title = StringField("Title", validators=[DataRequired("Give the page a title."), Length(max=200)])
    body = TextAreaField(
        "Text (Markdown)", validators=[DataRequired("Write the page's text."), Length(max=50_000)],
        render_kw={"rows": 18},
        description="Markdown: ## Heading, **bold**, - list item, [link](https://…). HTML is shown as text. "
                    "{hotline} and {child_welfare} become the district's numbers from the settings.")
    audience = CheckboxListField("Shown to", choices=choices((r.value, ROLE_LABELS[r]) for r in Role),
                                 validators=[DataRequired("Choose at least one role the page is for.")])
    position = WholeNumberField("Order", default=0, validators=[Optional(), NumberRange(0, 999, "Give a number from 0 to 999.")],
                            description="Pages are listed from the lowest number.")
    is_published = BooleanField("Published", default=True,
                                description="Unpublished pages are seen only by administrators.")


class ConfirmForm(FlaskForm):
    """The version the reader was shown."""

    version = HiddenField(validators=[DataRequired()])
