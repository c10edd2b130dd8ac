"""Queries: the pages a person sees, what they confirmed, and who on a school's staff has not."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask import abort
from sqlalchemy import Select, select, tuple_

from school_prevention.auth.models import User, user_school
from school_prevention.awareness.models import AwarenessConfirmation, AwarenessPage, AwarenessPageVersion
from school_prevention.extensions import db
from school_prevention.roles import SCHOOL_SCOPED_ROLES, Role


def all_pages() -> Select:
    """Every page, in order."""
    return select(AwarenessPage).order_by(AwarenessPage.position, AwarenessPage.title)


def pages_for(user: User) -> list[AwarenessPage]:
    """The published pages for the user's role; every page for an admin (who writes them)."""
    pages = db.session.scalars(all_pages()).all()
    if user.role_enum == Role.ADMIN:
        return list(pages)
    return [p for p in pages if p.is_for(user)]


def get_page_or_404(user: User, page_id: int, *, lock: bool = False) -> AwarenessPage:
    """A page the user may read (published and for their role; any page for an admin), or 404."""
    query = select(AwarenessPage).where(AwarenessPage.id == page_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    page = db.session.scalars(query).one_or_none()
    if page is None or not (user.role_enum == Role.ADMIN or page.is_for(user)):
        abort(404)
    return page


def confirmed_versions(user_id: int) -> dict[int, int]:
    """Page id -> the highest version the person confirmed."""
    rows = db.session.execute(
        select(AwarenessConfirmation.page_id, AwarenessConfirmation.version).where(
            AwarenessConfirmation.user_id == user_id
        )
    )
    out: dict[int, int] = {}
    for page_id, version in rows:
        out[page_id] = max(version, out.get(page_id, 0))
    return out


def confirmation_of(user_id: int, page_id: int, version: int) -> Select:
    """The person's confirmation of a version of a page, if any."""
    return select(AwarenessConfirmation).where(
        AwarenessConfirmation.user_id == user_id,
        AwarenessConfirmation.page_id == page_id,
        AwarenessConfirmation.version == version,
    )


def version_of(page_id: int, version: int) -> Select:
    """A page as it read at a version."""
    return select(AwarenessPageVersion).where(
        AwarenessPageVersion.page_id == page_id, AwarenessPageVersion.version == version
    )


def versions_of(page_id: int) -> Select:
    """A page's versions, newest first."""
    return (
        select(AwarenessPageVersion)
        .where(AwarenessPageVersion.page_id == page_id)
        .order_by(AwarenessPageVersion.version.desc())
    )


@dataclass
class PageStatus:
    """A page for a person, and whether they confirmed its current version."""

    page: AwarenessPage
    confirmed: bool


def my_pages(user: User) -> list[PageStatus]:
    """The pages for the user's role and whether each current version is confirmed (two queries)."""
    done = confirmed_versions(user.id)
    return [
        PageStatus(p, done.get(p.id, 0) >= p.version)
        for p in pages_for(user)
        if p.is_for(user) or user.role_enum == Role.ADMIN
    ]


@dataclass
class Unconfirmed:
    """A member of a school's staff and the pages whose current version they have not confirmed."""

    user: User
    school_id: int
    pages: list[AwarenessPage]


def unconfirmed_at(school_ids) -> tuple[list[AwarenessPage], list[Unconfirmed], int]:
    """(published pages for school roles, who has not confirmed which, staff counted) for these schools.

    Three queries whatever the number of people: the staff, the pages, the confirmations of the
    current versions.
    """
    ids = list(school_ids)
    school_roles = [r.value for r in SCHOOL_SCOPED_ROLES]
    staff = db.session.execute(
        select(User, user_school.c.school_id)
        .join(user_school, user_school.c.user_id == User.id)
        .where(user_school.c.school_id.in_(ids), User.is_active.is_(True), User.role.in_(school_roles))
        .order_by(User.name, User.id)
    ).all()
    pages = [p for p in db.session.scalars(all_pages()) if p.is_published and set(p.roles) & set(school_roles)]
    confirmed: set[tuple[int, int]] = set()
    if staff and pages:
        members = select(user_school.c.user_id).where(user_school.c.school_id.in_(ids))
        confirmed = {
            (user_id, page_id)
            for user_id, page_id in db.session.execute(
                select(AwarenessConfirmation.user_id, AwarenessConfirmation.page_id).where(
                    AwarenessConfirmation.user_id.in_(members),
                    tuple_(AwarenessConfirmation.page_id, AwarenessConfirmation.version).in_(
                        [(p.id, p.version) for p in pages]
                    ),
                )
            )
        }
    missing: dict[tuple[int, int], Unconfirmed] = {}
    for user, school_id in staff:
        for page in pages:
            if user.role in page.roles and (user.id, page.id) not in confirmed:
                missing.setdefault((user.id, school_id), Unconfirmed(user, school_id, [])).pages.append(page)
    return pages, list(missing.values()), len(staff)


def unconfirmed_counts(pages, people) -> dict[int, int]:
    """Page id -> how many of the listed people have not confirmed it."""
    counts: dict[int, int] = defaultdict(int)
    for person in people:
        for page in person.pages:
            counts[page.id] += 1
    return counts
