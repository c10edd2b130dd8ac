"""The district's time zone: everything is stored in UTC and shown in SP_TIMEZONE."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app


@lru_cache(maxsize=8)
def zone_named(name: str) -> ZoneInfo:
    """The zone of this name, built once."""
    return ZoneInfo(name)


def district_zone() -> ZoneInfo:
    """The district's zone (SP_TIMEZONE), built once per name."""
    return zone_named(current_app.config["SP_TIMEZONE"])


def localtime(value: datetime | None, fmt: str = "%b %-d, %Y %-I:%M %p") -> str:
    """A UTC datetime shown in the district's time zone."""
    if value is None:
        return "—"
    from school_prevention.i18n import format_local  # the page's language (English keeps fmt as is)

    return format_local(value.astimezone(district_zone()), fmt)


def local_to_utc(value: datetime | None) -> datetime | None:
    """A naive date-time typed in the district's zone, as an aware UTC datetime."""
    if value is None:
        return None
    return value.replace(tzinfo=district_zone()).astimezone(UTC)


def district_today() -> date:
    """Today's date in the district's zone."""
    return datetime.now(district_zone()).date()
