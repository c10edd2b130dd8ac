"""What a principal's home shows: each school's coverage headline and who is flagged and not covered,
read through the coverage page's own functions (reports.coverage), so the figures are the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from school_prevention.auth.models import User
from school_prevention.db import utcnow
from school_prevention.permissions import student_scope
from school_prevention.reports.coverage import (
    UncoveredList,
    empty_coverage,
    make_period,
    school_coverage,
    uncovered_list,
)

UNCOVERED_SHOWN = 10  # the first few, most severe first; the coverage page lists the rest


@dataclass
class SchoolCoverage:
    """One school's headline and the first of its uncovered students."""

    school: Any  # a row of the home page's school list: .id, .name
    figures: dict  # flagged students by coverage, in the report's columns (reports.coverage.school_coverage)
    uncovered: UncoveredList


def principal_coverage(user: User, schools) -> list[SchoolCoverage]:
    """The headline of each of the user's schools (rows with .id and .name; one statement for all),
    and each school's first uncovered students (two statements per school: a principal has one
    school, or a few)."""
    if not schools:
        return []
    period = make_period(utcnow())
    figures = school_coverage([s.id for s in schools], period)
    scope = student_scope(user)
    return [
        SchoolCoverage(s, figures.get(s.id) or empty_coverage(), uncovered_list(scope, s.id, period, UNCOVERED_SHOWN))
        for s in schools
    ]
