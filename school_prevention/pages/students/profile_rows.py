"""Rows of the student profile's tier, intervention plan, guardian and demographics sections, as the
page's one statement (students.page_queries) reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext

from school_prevention.disclosures.models import GUARDIAN_ROLES
from school_prevention.i18n import N_
from school_prevention.tiers.models import PLAN_STATUSES, TIERS


@dataclass(frozen=True)
class TierRow:
    """The student's tier (1 when never moved) and its version (0 when never moved)."""

    tier: int
    version: int
    changed_at: datetime | None

    @property
    def label(self) -> str:
        return gettext(TIERS[self.tier]) if self.tier in TIERS else gettext("Tier %(num)s", num=self.tier)


@dataclass(frozen=True)
class InterventionRow:
    """An intervention plan as the page lists it."""

    id: int
    goal: str
    measure: str
    baseline: float
    target: float
    started_on: date
    review_on: date
    status: str
    counselor: str | None
    points: int
    latest: float | None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def status_label(self) -> str:
        return gettext(PLAN_STATUSES[self.status]) if self.status in PLAN_STATUSES else self.status

    def review_due(self, today: date) -> bool:
        return self.is_active and self.review_on <= today


@dataclass(frozen=True)
class GuardianRow:
    """A parent or guardian from the roster."""

    given_name: str
    family_name: str
    role: str
    phone: str | None
    email: str | None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def role_label(self) -> str:
        return GUARDIAN_ROLES.get(self.role, self.role)


# Shown through the `tr` filter (templates/students/_family.html) in the reader's language.
RACES = {
    "american_indian_or_alaska_native": N_("American Indian or Alaska Native"),
    "asian": N_("Asian"),
    "black_or_african_american": N_("Black or African American"),
    "native_hawaiian_or_pacific_islander": N_("Native Hawaiian or other Pacific Islander"),
    "white": N_("White"),
    "two_or_more_races": N_("Two or more races"),
}
# Sex as the roster sends it (OneRoster: male, female, other, unspecified), for the same filter.
SEXES = [N_("Male"), N_("Female"), N_("Other"), N_("Unspecified"), N_("Not given")]


@dataclass(frozen=True)
class DemographicsRow:
    """Roster demographics as the SIS sent them."""

    sex: str | None
    american_indian_or_alaska_native: bool | None
    asian: bool | None
    black_or_african_american: bool | None
    native_hawaiian_or_pacific_islander: bool | None
    white: bool | None
    two_or_more_races: bool | None
    hispanic_or_latino: bool | None

    @property
    def races(self) -> list[str]:
        return [label for name, label in RACES.items() if getattr(self, name)]
