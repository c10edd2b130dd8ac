"""Sign-in with throttling of failures, password changes, and user administration."""
from __future__ import annotations

import math
import time
from datetime import datetime

from flask import current_app
from limits import parse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from school_prevention import audit
from school_prevention.auth import sessions
from school_prevention.auth.models import User
from school_prevention.auth.passwords import hash_password, needs_rehash, verify_password
from school_prevention.auth.queries import normalise_email, user_by_email
from school_prevention.db import utcnow
from school_prevention.errors import AlreadyDone, ServiceError
from school_prevention.extensions import db, limiter
from school_prevention.roles import SCHOOL_SCOPED_ROLES, Role
from school_prevention.schools.models import School
from school_prevention.timezones import localtime


def by_whom(user: User | None, at: datetime | None) -> str:
    """"Casey Doe (Dec 3, 2026 10:02 AM)": who made a change and when, for the message that tells a
    second identical request the change was already made."""
    return f"{user.name if user is not None else 'someone'} ({localtime(at) if at else 'earlier'})"


def last_done_by(obj, *actions: str, default: str | None = "someone (earlier)") -> str | None:
    """by_whom() of the latest audit row of one of these actions on obj (the trail records every
    change); default when there is none."""
    row = db.session.execute(
        select(User, audit.AuditEvent.at).outerjoin(User, User.id == audit.AuditEvent.actor_id)
        .where(audit.AuditEvent.object_type == obj.__tablename__, audit.AuditEvent.object_id == str(obj.id),
               audit.AuditEvent.action.in_(actions))
        .order_by(audit.AuditEvent.id.desc()).limit(1)).first()
    return by_whom(*row) if row else default


class AccountExists(ServiceError):
    """The email already has an account (`user`). `same` is True when that account has exactly the
    details asked for: the same request, made a moment earlier (a double click on "Create account")."""

    def __init__(self, user: User, same: bool):
        super().__init__("email", "An account with this email already exists.")
        self.user, self.same = user, same

    def already_done(self) -> AlreadyDone:
        """The answer to a repeated identical request: the account is there, nothing more was made."""
        return AlreadyDone(f"The account for {self.user.email} was already created by "
                           f"{last_done_by(self.user, 'user.created')}. Nothing more was changed.",
                           next_url=f"/admin/users/{self.user.id}")


class SignInThrottled(Exception):
    """Too many failed sign-ins for this account or address; retry after some seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def _failure_keys(email: str, ip: str | None) -> list[tuple[str, str]]:
    return [("signin-fail-account", normalise_email(email)), ("signin-fail-ip", ip or "unknown")]


def _failure_limit():
    return parse(current_app.config["SIGNIN_FAILURE_LIMIT"])


def check_not_throttled(email: str, ip: str | None) -> None:
    """Raise SignInThrottled when the account or the address has failed too often lately.

    Throttling, not lock-out: the window slides, so the owner can sign in a minute later and an
    attacker cannot lock a counselor out of her caseload for good.
    """
    limit = _failure_limit()
    strategy = limiter.limiter
    for key in _failure_keys(email, ip):
        if not strategy.test(limit, *key):
            reset_at = strategy.get_window_stats(limit, *key).reset_time
            raise SignInThrottled(max(1, math.ceil(reset_at - time.time())))


def attempt_sign_in(email: str, password: str, *, ip: str | None) -> User | None:
    """The user when email and password match an active account; None otherwise.

    Raises SignInThrottled before checking anything when failures are over the limit.
    """
    check_not_throttled(email, ip)
    user = db.session.scalars(user_by_email(email)).one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        limit = _failure_limit()
        for key in _failure_keys(email, ip):
            limiter.limiter.hit(limit, *key)
        reason = "unknown_account" if user is None else ("inactive" if ok else "bad_password")
        audit.record("auth.signin_failed", actor=user, ip=ip, detail={"reason": reason})
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = utcnow()
    audit.record("auth.signin", actor=user, ip=ip)
    return user


def sign_out(user: User, token: str | None) -> None:
    """End this browser's session on the server and record it."""
    sessions.end_session(token, "signed_out")
    audit.record("auth.signout", actor=user)


def change_password(user: User, current: str, new: str, *, keep_token: str | None) -> None:
    """Set a new password after checking the current one; ends the user's other sessions."""
    if not verify_password(user.password_hash, current):
        raise ServiceError("current_password", "That is not your current password.")
    if verify_password(user.password_hash, new):
        raise ServiceError("new_password", "Choose a password different from the current one.")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    ended = sessions.end_all_sessions(user, "password_changed", keep_token=keep_token)
    audit.record("user.password_changed", actor=user, obj=user, detail={"sessions_ended": ended})


def _schools_by_ids(school_ids) -> list[School]:
    ids = sorted({int(i) for i in school_ids or []})
    if not ids:
        return []
    schools = list(db.session.scalars(select(School).where(School.id.in_(ids))))
    if len(schools) != len(ids):
        raise ServiceError("schools", "One of the chosen schools does not exist.")
    return schools


def _check_role_and_schools(role: str, schools: list[School]) -> None:
    try:
        role_enum = Role(role)
    except ValueError:
        raise ServiceError("role", "Choose one of the listed roles.") from None
    if role_enum in SCHOOL_SCOPED_ROLES and not schools:
        raise ServiceError("schools", f"A {role_enum.value} must be assigned to at least one school.")


def create_user(
    actor: User | None,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    school_ids=(),
    must_change_password: bool = True,
    can_export_student_level: bool = False,
) -> User:
    """Create an account; a password set by someone else must be changed at first sign-in.

    An email that already has an account raises AccountExists. Two identical requests at the same
    moment both find no account; the unique index on the email makes the second wait for the first
    and refuse its copy, and it is answered as if it had found the account.
    """
    email = normalise_email(email)
    schools = _schools_by_ids(school_ids)
    grant = can_export_student_level and role == Role.DISTRICT
    _refuse_existing(email, name, role, schools, grant)
    _check_role_and_schools(role, schools)
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=hash_password(password) if password else None,
        password_changed_at=utcnow() if password else None,
        must_change_password=must_change_password,
        can_export_student_level=grant,
        schools=schools,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        _refuse_existing(email, name, role, schools, grant)
        raise
    audit.record(
        "user.created", actor=actor, obj=user,
        detail={"role": role, "school_ids": [s.id for s in schools]},
    )
    return user


def _refuse_existing(email: str, name: str, role: str, schools: list[School], grant: bool) -> None:
    existing = db.session.scalars(user_by_email(email).execution_options(populate_existing=True)).first()
    if existing is not None:
        same = (existing.name, existing.role, sorted(existing.school_ids), existing.can_export_student_level) == (
            name.strip(), role, sorted(s.id for s in schools), grant)
        raise AccountExists(existing, same)


def update_user(
    actor: User,
    user: User,
    *,
    name: str,
    role: str,
    school_ids,
    can_export_student_level: bool,
    new_password: str | None = None,
) -> None:
    """Change a user's name, role, schools or grants (and optionally set a temporary password)."""
    schools = _schools_by_ids(school_ids)
    _check_role_and_schools(role, schools)
    if user.id == actor.id and role != user.role:
        raise ServiceError("role", "You cannot change your own role.")
    before = {"role": user.role, "school_ids": sorted(user.school_ids),
              "can_export_student_level": user.can_export_student_level}
    after = {"role": role, "school_ids": sorted(s.id for s in schools),
             "can_export_student_level": can_export_student_level and role == Role.DISTRICT}
    same_password = not new_password or (user.must_change_password
                                         and verify_password(user.password_hash, new_password))
    if before == after and user.name == name.strip() and same_password:
        # The loader locked the account: a repeated identical save (a double click) finds it done.
        raise AlreadyDone(f"These details of {user.name} were already saved by "
                          f"{last_done_by(user, 'user.updated', 'user.created')}. Nothing more was changed.",
                          next_url=f"/admin/users/{user.id}")
    user.name = name.strip()
    user.role = role
    user.schools = schools
    user.can_export_student_level = after["can_export_student_level"]
    if new_password:
        # An account the roster import created has never been active: its first temporary
        # password is what activates it. An account an admin deactivated stays deactivated.
        if user.password_hash is None and not user.is_active and user.deactivated_at is None:
            user.is_active = True
        user.password_hash = hash_password(new_password)
        user.password_changed_at = utcnow()
        user.must_change_password = True
        sessions.end_all_sessions(user, "password_reset_by_admin")
    # A change of role or schools changes what the person may see: end their sessions so the
    # new scope applies at once, not at their next sign-in.
    if before != after:
        sessions.end_all_sessions(user, "access_changed")
    audit.record("user.updated", actor=actor, obj=user,
                 detail={"before": before, "after": after, "password_reset": bool(new_password)})


def set_active(actor: User, user: User, active: bool) -> int:
    """Deactivate (ending every session) or reactivate an account; returns sessions ended."""
    if user.id == actor.id and not active:
        raise ServiceError(None, "You cannot deactivate your own account.")
    if user.is_active == active:
        # The loader locked the account: the second of two identical requests finds it done.
        verb = "reactivated" if active else "deactivated"
        who = last_done_by(user, f"user.{verb}", default=None)
        raise AlreadyDone(f"{user.name}’s account is already {'active' if active else 'deactivated'}"
                          + (f": {verb} by {who}" if who else "") + ". Nothing more was changed.",
                          next_url=f"/admin/users/{user.id}")
    user.is_active = active
    ended = 0
    if active:
        user.deactivated_at = None
    else:
        user.deactivated_at = utcnow()
        ended = sessions.end_all_sessions(user, "deactivated")
    audit.record("user.reactivated" if active else "user.deactivated", actor=actor, obj=user,
                 detail={"sessions_ended": ended})
    return ended
