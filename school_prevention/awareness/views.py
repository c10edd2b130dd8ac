"""Awareness pages: read them, confirm them, write them (admin), and see who has not read them (principal)."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from school_prevention.awareness.forms import ConfirmForm, PageForm
from school_prevention.awareness.queries import (
    confirmed_versions,
    get_page_or_404,
    my_pages,
    unconfirmed_at,
    unconfirmed_counts,
    versions_of,
)
from school_prevention.awareness.render import render_markdown
from school_prevention.awareness.services import confirm_read, save_page
from school_prevention.errors import ServiceError
from school_prevention.extensions import db
from school_prevention.forms import apply_service_error, picked_school
from school_prevention.permissions import roles, signed_in, visible_schools
from school_prevention.roles import Role
from school_prevention.training.forms import SchoolPickForm

bp = Blueprint("awareness", __name__, url_prefix="/awareness")


@bp.app_template_filter("markdown")
def markdown_filter(text: str):
    """A page's Markdown as safe HTML (raw HTML is shown as text)."""
    return render_markdown(text)


@bp.route("")
@signed_in
def index():
    """The pages for my role, and which I have confirmed; every page for an admin."""
    return render_template("awareness/index.html", pages=my_pages(current_user))


@bp.route("/<int:page_id>")
@signed_in
def page(page_id: int):
    """One page, with "I have read this" when its current version is not yet confirmed."""
    shown = get_page_or_404(current_user, page_id)
    confirmed = confirmed_versions(current_user.id).get(shown.id, 0) >= shown.version
    return render_template(
        "awareness/page.html",
        page=shown,
        confirmed=confirmed,
        asks=shown.is_for(current_user),
        form=ConfirmForm(version=shown.version),
    )


@bp.route("/<int:page_id>/confirm", methods=["POST"])
@signed_in
def confirm(page_id: int):
    """Record that I read the version of the page I was shown."""
    shown = get_page_or_404(current_user, page_id, lock=True)
    form = ConfirmForm()
    version = str(form.version.data or "")
    if not form.validate() or not re.fullmatch(r"[0-9]{1,9}", version):  # ASCII digits ("²" is a digit to isdigit)
        abort(400, description=_("Confirm from the page itself, with the “I have read this” button."))
    if not shown.is_for(current_user):
        abort(403)
    try:
        with db.session.begin_nested():
            confirm_read(current_user, shown, int(version))
    except ServiceError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("awareness.page", page_id=shown.id))
    flash(_("Thank you: you confirmed that you read “%(title)s”.", title=shown.title), "success")
    return redirect(url_for("awareness.index"))


@bp.route("/new", methods=["GET", "POST"], defaults={"page_id": None})
@bp.route("/<int:page_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit(page_id: int | None):
    """Write a page or change one; a change of its text asks its readers to confirm again."""
    existing = get_page_or_404(current_user, page_id, lock=request.method == "POST") if page_id else None
    form = PageForm(obj=existing)
    if request.method == "GET" and existing is not None:
        form.audience.data = existing.roles
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                with db.session.begin_nested():
                    saved = save_page(
                        current_user,
                        existing,
                        title=form.title.data,
                        body=form.body.data,
                        audience=form.audience.data,
                        position=form.position.data or 0,
                        is_published=form.is_published.data,
                    )
            except ServiceError as exc:
                apply_service_error(form, exc)
            else:
                flash(_("Saved “%(title)s” (version %(num)d).", title=saved.title, num=saved.version), "success")
                return redirect(url_for("awareness.page", page_id=saved.id))
    versions = db.session.scalars(versions_of(existing.id)).all() if existing else []
    return render_template("awareness/edit.html", form=form, page=existing, versions=versions), status


@bp.route("/readers")
@roles(Role.PRINCIPAL, Role.ADMIN)
def readers():
    """Who on a school's staff has not confirmed the current version of each page for their role."""
    schools = db.session.scalars(visible_schools(current_user)).all()
    if not schools:
        return render_template("awareness/readers.html", school=None)
    form = SchoolPickForm(schools, formdata=request.args)
    school = picked_school(schools, request.args.get("school"))
    form.school.data = school.id
    pages, people, staff = unconfirmed_at([school.id])
    return render_template(
        "awareness/readers.html",
        form=form,
        school=school,
        schools=schools,
        pages=pages,
        people=people,
        staff=staff,
        counts=unconfirmed_counts(pages, people),
    )
