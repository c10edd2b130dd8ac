"""Admin-editable reference lists (flag categories, screening instruments, ...): one set of views.

Items are never deleted, only taken out of use, so past records keep their meaning.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from school_prevention import audit
from school_prevention.extensions import db
from school_prevention.flags.forms import CategoryForm
from school_prevention.flags.models import FlagCategory
from school_prevention.flags.queries import all_categories
from school_prevention.permissions import roles
from school_prevention.programs.forms import ProgramTypeForm
from school_prevention.programs.models import ProgramType
from school_prevention.programs.queries import all_program_types
from school_prevention.roles import Role
from school_prevention.screenings.forms import InstrumentForm
from school_prevention.screenings.models import Instrument
from school_prevention.screenings.queries import all_instruments

bp = Blueprint("catalogue", __name__, url_prefix="/admin/lists")


@dataclass(frozen=True)
class Catalogue:
    """One editable list: its model, form, listing query and the words for it."""

    model: type
    form: type
    listing: object
    title: str
    singular: str
    columns: tuple[tuple[str, str], ...]


CATALOGUES: dict[str, Catalogue] = {
    "flag-categories": Catalogue(FlagCategory, CategoryForm, all_categories, "Flag categories", "flag category",
                                 (("name", "Name"), ("is_suspected_abuse", "Mandated report"), ("position", "Order"))),
    "instruments": Catalogue(Instrument, InstrumentForm, all_instruments, "Screening instruments", "instrument",
                             (("name", "Name"), ("version", "Version"))),
    "program-types": Catalogue(ProgramType, ProgramTypeForm, all_program_types, "Program types", "program type",
                               (("name", "Name"), ("position", "Order"))),
}


def register_catalogue(kind: str, catalogue: Catalogue) -> None:
    """Let another feature add its own admin-editable list."""
    CATALOGUES[kind] = catalogue


def _catalogue_or_404(kind: str) -> Catalogue:
    if kind not in CATALOGUES:
        abort(404)
    return CATALOGUES[kind]


@bp.route("")
@roles(Role.ADMIN)
def overview():
    """Links to every editable list."""
    return render_template("admin/catalogue_overview.html", catalogues=CATALOGUES)


@bp.route("/<kind>")
@roles(Role.ADMIN)
def index(kind: str):
    """Every item of one list, those in use first."""
    catalogue = _catalogue_or_404(kind)
    items = db.session.scalars(catalogue.listing()).all()
    return render_template("admin/catalogue_index.html", kind=kind, catalogue=catalogue, items=items)


def _name_taken(catalogue: Catalogue, name: str, item_id: int | None) -> bool:
    query = select(func.count()).select_from(catalogue.model).where(
        func.lower(catalogue.model.name) == name.strip().lower())
    if item_id:
        query = query.where(catalogue.model.id != item_id)
    return bool(db.session.scalar(query))


@bp.route("/<kind>/new", methods=["GET", "POST"], defaults={"item_id": None})
@bp.route("/<kind>/<int:item_id>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit(kind: str, item_id: int | None):
    """Create or change one item."""
    catalogue = _catalogue_or_404(kind)
    item = None
    if item_id is not None:
        item = db.session.get(catalogue.model, item_id)
        if item is None:
            abort(404)
    form = catalogue.form(obj=item)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            if _name_taken(catalogue, form.name.data, item_id):
                form.name.errors = [f"There is already a {catalogue.singular} with this name."]
            else:
                item = item or catalogue.model()
                form.populate_obj(item)
                item.name = item.name.strip()
                db.session.add(item)
                try:
                    with db.session.begin_nested():
                        db.session.flush()
                except IntegrityError:
                    form.name.errors = [f"There is already a {catalogue.singular} with this name."]
                else:
                    audit.record(f"admin.{kind}.saved", actor=current_user, obj=item)
                    flash(f"Saved {catalogue.singular} “{item.name}”.", "success")
                    return redirect(url_for("catalogue.index", kind=kind))
    return render_template("admin/catalogue_form.html", kind=kind, catalogue=catalogue, form=form, item=item), status
