"""Queries about access requests: the district's list, an account's pending ones, one by id."""
from __future__ import annotations

from flask import abort
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.grants.models import ROLE, AccessRequest

_LOADED = (selectinload(AccessRequest.user).selectinload(User.schools), selectinload(AccessRequest.school),
           selectinload(AccessRequest.proposed_by), selectinload(AccessRequest.decided_by))


def pending_requests() -> Select:
    """Every pending request, by account (a role change before its schools and grants), oldest first."""
    return (select(AccessRequest).where(AccessRequest.status == "pending").options(*_LOADED)
            .order_by(AccessRequest.user_id, AccessRequest.kind != ROLE, AccessRequest.id))


def decided_requests(limit: int = 30) -> Select:
    """The latest decided (or withdrawn) requests, newest first."""
    return (select(AccessRequest).where(AccessRequest.status != "pending").options(*_LOADED)
            .order_by(AccessRequest.decided_at.desc(), AccessRequest.id.desc()).limit(limit))


def pending_by_user(user_ids: list[int]) -> dict[int, list[AccessRequest]]:
    """user id -> their pending requests, for a page of the admin's user list (one query)."""
    if not user_ids:
        return {}
    found: dict[int, list[AccessRequest]] = {}
    for req in db.session.scalars(select(AccessRequest).where(
            AccessRequest.user_id.in_(user_ids), AccessRequest.status == "pending")
            .options(selectinload(AccessRequest.school)).order_by(AccessRequest.kind != ROLE, AccessRequest.id)):
        found.setdefault(req.user_id, []).append(req)
    return found


def get_request_or_404(request_id: int, user_id: int | None = None) -> AccessRequest:
    """The request (of this account, when given), or 404."""
    req = db.session.scalars(select(AccessRequest).where(AccessRequest.id == request_id).options(*_LOADED)).first()
    if req is None or (user_id is not None and req.user_id != user_id):
        abort(404)
    return req
