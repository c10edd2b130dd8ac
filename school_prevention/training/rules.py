"""Pure rules: when a completion expires, and what a person's training status is on a day."""

from __future__ import annotations

from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from school_prevention.i18n import N_

# A completion expiring within this many days is "due" for renewal.
DUE_DAYS = 30
# What a completion that never expires is treated as valid through.
FOREVER = date(9999, 12, 31)

CURRENT, DUE, LAPSED, MISSING = "current", "due", "lapsed", "missing"
# Shown through the |tr filter (training/_status.html): kept in English here, translated where shown.
STATUS_LABELS = {CURRENT: N_("Current"), DUE: N_("Due for renewal"), LAPSED: N_("Lapsed"), MISSING: N_("Not trained")}
# Worst first: a person's status is the worst of the courses required of them.
SEVERITY = (MISSING, LAPSED, DUE, CURRENT)


def expiry(completed_on: date, renewal_months: int | None) -> date | None:
    """The last day a completion is valid: completed_on plus the course's renewal period (None: never expires)."""
    if not renewal_months:
        return None
    return completed_on + relativedelta(months=renewal_months)


def course_status(valid_through: date | None, today: date) -> str:
    """The status of one course from the last day its latest completion is valid (None: never completed)."""
    if valid_through is None:
        return MISSING
    if valid_through < today:
        return LAPSED
    if valid_through <= today + timedelta(days=DUE_DAYS):
        return DUE
    return CURRENT


def overall_status(statuses) -> str:
    """A person's status over the courses required of them: the worst one (current when none is required)."""
    found = set(statuses)
    return next((s for s in SEVERITY if s in found), CURRENT)


def is_trained(status: str) -> bool:
    """In date today (current, or due for renewal but not yet lapsed)."""
    return status in (CURRENT, DUE)
