"""Queries about access requests: the district's list, an account's pending ones, one by id."""

from __future__ import annotations

from typing import NamedTuple

from flask import abort
from flask_babel import gettext
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from school_prevention.audit.models import AuditEvent
from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.grants.models import ROLE, AccessRequest

_LOADED = (
    selectinload(AccessRequest.user).selectinload(User.schools),
    selectinload(AccessRequest.school),
    selectinload(AccessRequest.proposed_by),
    selectinload(AccessRequest.decided_by),
)


def pending_requests() -> Select:
    """Every pending request, by account (a role change before its schools and grants), oldest first."""
    return (
        select(AccessRequest)
        .where(AccessRequest.status == "pending")
        .options(*_LOADED)
        .order_by(AccessRequest.user_id, AccessRequest.kind != ROLE, AccessRequest.id)
    )


def decided_requests(limit: int = 30) -> Select:
    """The latest decided (or withdrawn) requests, newest first."""
    return (
        select(AccessRequest)
        .where(AccessRequest.status != "pending")
        .options(*_LOADED)
        .order_by(AccessRequest.decided_at.desc(), AccessRequest.id.desc())
        .limit(limit)
    )


def decided_of(user_id: int, limit: int = 5) -> Select:
    """The account's latest decided (or withdrawn) requests, newest first."""
    return (
        select(AccessRequest)
        .where(AccessRequest.user_id == user_id, AccessRequest.status != "pending")
        .options(selectinload(AccessRequest.school), selectinload(AccessRequest.decided_by))
        .order_by(AccessRequest.decided_at.desc(), AccessRequest.id.desc())
        .limit(limit)
    )


def pending_by_user(user_ids: list[int]) -> dict[int, list[AccessRequest]]:
    """user id -> their pending requests, for a page of the admin's user list (one query)."""
    if not user_ids:
        return {}
    found: dict[int, list[AccessRequest]] = {}
    for req in db.session.scalars(
        select(AccessRequest)
        .where(AccessRequest.user_id.in_(user_ids), AccessRequest.status == "pending")
        .options(selectinload(AccessRequest.school))
        .order_by(AccessRequest.kind != ROLE, AccessRequest.id)
    ):
        found.setdefault(req.user_id, []).append(req)
    return found


def get_request_or_404(request_id: int, user_id: int | None = None) -> AccessRequest:
    """The request (of this account, when given), or 404."""
    req = db.session.scalars(select(AccessRequest).where(AccessRequest.id == request_id).options(*_LOADED)).first()
    if req is None or (user_id is not None and req.user_id != user_id):
        abort(404)
    return req


# Audit actions that set an account's password, and what each says about who knows it.
PASSWORD_EVENTS = (
    "user.created",
    "user.updated",
    "grant.approved",
    "user.invite_used",
    "user.reset_used",
    "user.password_changed",
)


class Origin(NamedTuple):
    """How an account's password came about, in the reader's language, and whether someone else set it."""

    text: str
    is_temporary: bool


def password_origins(user_ids: list[int]) -> dict[int, Origin]:
    """user id -> how the account's current password came about, from the audit trail ("a temporary
    password from Ada Admin, then changed at sign-in"): whoever set a temporary password could have
    signed in with it first, which the approver should know before giving the account case data."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(AuditEvent.object_id, AuditEvent.action, AuditEvent.detail, User.name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.action.in_(PASSWORD_EVENTS),
            AuditEvent.object_type == "user_account",
            AuditEvent.object_id.in_([str(i) for i in user_ids]),
        )
        .order_by(AuditEvent.id)
    ).all()
    base: dict[int, Origin | None] = {}
    changed: set[int] = set()
    for object_id, action, detail, actor in rows:
        detail, uid = detail or {}, int(object_id)
        if action == "user.password_changed":
            base.setdefault(uid, None)
            changed.add(uid)
            continue
        if action == "user.created" and detail.get("temporary_password"):
            found = Origin(gettext("a temporary password from %(name)s", name=actor or gettext("the operator")), True)
        elif action == "user.updated" and detail.get("password_reset"):
            found = Origin(
                gettext("a temporary password from %(name)s", name=actor or gettext("an administrator")), True
            )
        elif action == "grant.approved" and detail.get("kind") == "password":
            found = Origin(
                gettext(
                    "a temporary password from an administrator, approved by %(name)s", name=actor or gettext("someone")
                ),
                True,
            )
        elif action in ("user.invite_used", "user.reset_used"):
            found = Origin(gettext("chosen through a link emailed to the account's address"), False)
        else:
            continue
        base[uid] = found
        changed.discard(uid)
    origins: dict[int, Origin] = {}
    for uid, origin in base.items():
        if origin is None:
            origins[uid] = Origin(gettext("changed at sign-in"), False)
        elif uid in changed:
            origins[uid] = Origin(
                gettext("%(origin)s, then changed at sign-in", origin=origin.text), origin.is_temporary
            )
        else:
            origins[uid] = origin
    return origins
