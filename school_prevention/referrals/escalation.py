"""School time, for urgent referrals: minutes count only in school hours on school days (pure rules).

School hours are SP_SCHOOL_DAY_START to SP_SCHOOL_DAY_END in SP_TIMEZONE on SP_SCHOOL_WEEKDAYS,
less the district's non-school days (Admin › School calendar). An urgent referral sent at 3:50 pm
on a Friday with 60 minutes to be opened is due at 8:20 am on Monday (10 minutes on Friday, 50 on
Monday), or on Tuesday when Monday is a holiday.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from school_prevention.timezones import zone_named

# No search for the next school minute goes further than this (a year without school is a mistake).
MAX_DAYS = 400


@dataclass(frozen=True)
class SchoolHours:
    """When school is in session: local hours, weekdays (0 is Monday) and closed days, in a zone."""

    zone: ZoneInfo
    start: time
    end: time
    weekdays: Collection[int]
    closed: Collection[date] = ()

    def is_school_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.closed

    def _day(self, day: date) -> tuple[datetime, datetime]:
        """The day's school hours as UTC instants (the local clock, whatever the UTC offset that day)."""
        return (
            datetime.combine(day, self.start, self.zone).astimezone(UTC),
            datetime.combine(day, self.end, self.zone).astimezone(UTC),
        )

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """School minutes from start to end."""
        if end <= start:
            return 0.0
        total = 0.0
        day, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        while day <= last:
            if self.is_school_day(day):
                opens, closes = self._day(day)
                overlap = (min(end, closes) - max(start, opens)).total_seconds()
                if overlap > 0:
                    total += overlap / 60
            day += timedelta(days=1)
        return total

    def deadline(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` of school time after start (start itself when minutes is 0)."""
        left = timedelta(minutes=minutes)
        day = start.astimezone(self.zone).date()
        for _ in range(MAX_DAYS):
            if self.is_school_day(day):
                opens, closes = self._day(day)
                begin = max(start, opens)
                if begin < closes:
                    if begin + left <= closes:
                        return begin + left
                    left -= closes - begin
            day += timedelta(days=1)
        raise ValueError(f"no school time within {MAX_DAYS} days of {start.isoformat()}")


def school_hours(config, closed: Collection[date] = ()) -> SchoolHours:
    """The district's school hours from the app's configuration, with these closed days."""
    return SchoolHours(
        zone=zone_named(config["SP_TIMEZONE"]),
        start=config["SP_SCHOOL_DAY_START"],
        end=config["SP_SCHOOL_DAY_END"],
        weekdays=frozenset(config["SP_SCHOOL_WEEKDAYS"]),
        closed=frozenset(closed),
    )
