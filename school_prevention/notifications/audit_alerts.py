"""The audit trail's nightly check and its alert: the chain lives in audit_chain (core); telling people is here."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from school_prevention.audit_chain import JOBS_NAME, Finding, describe_heads, verify
from school_prevention.auth.models import User
from school_prevention.extensions import db
from school_prevention.notifications.services import notify
from school_prevention.roles import Role
from school_prevention.scheduler import job


def alert(finding: Finding) -> int:
    """Tell every active admin and district user, in the app and by email (no student detail)."""
    people = db.session.scalars(
        select(User).where(User.role.in_([Role.ADMIN.value, Role.DISTRICT.value]), User.is_active.is_(True))
    ).all()
    title = partial(_broken_title, finding.row_id)
    return sum(
        notify(
            people,
            kind="audit.broken",
            subject_type="audit_event",
            subject_id=finding.row_id,
            title=title,
            link=None,
            channel=channel,
        )
        for channel in ("in_app", "email")
    )


def _broken_title(row_id: int) -> str:
    """Composed in each recipient's language (notifications.locales)."""
    return gettext("The audit trail failed its check at row %(row)s: it may have been tampered with.", row=row_id)


@job(JOBS_NAME, trigger="cron", hour=3, minute=10, misfire_grace_time=6 * 3600)
def verify_nightly(now: datetime) -> int:
    """Check the audit trail's hash chain; alert the admins and the district if a row fails."""
    checked, finding = verify(db.session())
    if finding is not None:
        alert(finding)
        current_app.logger.error("audit verify: %s (after %d rows)", finding, checked)
    else:
        # Kept in the log, outside the database: an older head put back later would not match it.
        current_app.logger.info("audit verify: %d rows intact; heads %s", checked, describe_heads(db.session()))
    return checked
