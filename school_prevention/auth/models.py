"""User accounts, their schools, server-side sign-in sessions, and invitation and password-reset links."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school_prevention import crypto
from school_prevention.db import TimestampMixin, utcnow
from school_prevention.extensions import Model, db
from school_prevention.roles import Role
from school_prevention.schools.models import School

user_school = Table(
    "user_school",
    db.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("school_id", ForeignKey("school.id", ondelete="CASCADE"), primary_key=True),
)

_ROLE_VALUES = ", ".join(f"'{r.value}'" for r in Role)


class User(UserMixin, TimestampMixin, Model):
    """A person who signs in, with one role and the schools they work at."""

    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint(f"role IN ({_ROLE_VALUES})", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Set for accounts that came from the SIS roster (OneRoster users.csv).
    sourced_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # The TOTP secret, encrypted with SP_DATA_KEY (crypto.py); None until the person enrols.
    mfa_secret: Mapped[str | None] = mapped_column(String(255))
    mfa_enrolled_at: Mapped[datetime | None]
    # The last accepted TOTP time step: a code is good once (RFC 6238 section 5.2).
    mfa_last_step: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    can_export_student_level: Mapped[bool] = mapped_column(default=False)
    # District users only: may look up and download any student's record of access (FERPA 99.32).
    is_privacy_officer: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    password_changed_at: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]
    # Minutes before a check-in at which reminders go out, comma-separated ("1440,60": a day, an hour).
    # The language the person chose for the app (i18n.LANGUAGES); None follows the browser.
    locale: Mapped[str | None] = mapped_column(String(10))
    reminder_leads: Mapped[str] = mapped_column(String(60), default="1440,60", server_default="1440,60")
    # SHA-256 of the counselor's calendar-feed token; None when no feed link exists (revoked).
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)

    # Loaded when read, not with every signed-in request's user: pages that list schools use the
    # scoped query (permissions.visible_schools), and the admin list asks for them (users_list).
    schools: Mapped[list[School]] = relationship(secondary=user_school, order_by=School.name)

    @property
    def role_enum(self) -> Role:
        """The role as a Role."""
        return Role(self.role)

    @property
    def school_ids(self) -> list[int]:
        """Ids of the schools this user is assigned to."""
        return [s.id for s in self.schools]

    @property
    def reminder_lead_minutes(self) -> list[int]:
        """Reminder lead times in minutes, largest first."""
        leads = []
        for part in (self.reminder_leads or "").split(","):
            if part.strip().isascii() and part.strip().isdigit():
                leads.append(int(part))
        return sorted(set(leads), reverse=True)

    def has_role(self, *roles: Role) -> bool:
        """True when the user's role is one of roles."""
        return self.role in {r.value for r in roles}

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class UserSession(Model):
    """One signed-in browser; the cookie holds a token whose hash is stored here.

    Keeping sessions on the server is what lets sign-out, deactivation and a password change
    really end them: a copied cookie replayed later finds its row ended and is refused.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    # How the person proved who they are: "password", "password+totp", "password+recovery", "sso",
    # "sso+provider_mfa", "sso+totp", "sso+recovery" (shown on the sessions page).
    sign_in_method: Mapped[str | None] = mapped_column(String(40))

    user: Mapped[User] = relationship()


class RecoveryCode(Model):
    """A one-time code to sign in without the authenticator app; only its argon2 hash is kept."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


crypto.register(User, "mfa_secret")


class AccountToken(Model):
    """One invitation or password-reset link."""

    __tablename__ = "account_token"
    __table_args__ = (CheckConstraint("purpose IN ('invite', 'reset')", name="purpose_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
