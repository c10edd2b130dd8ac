"""Reporting groups: the school levels the district sees apart, merged where a level is too small.

A filter over one school level publishes that level's totals. If the level has one school, its
totals are that school's figures, and every breakdown of the level (by grade, severity, concern,
week) is a breakdown of that one school; with few students, a total is a small count in its own
right. So a level is reported apart only when it has at least two active schools and at least
SP_SUPPRESSION_MIN_N active students. A level that falls short is reported with a neighbouring
level (in the order elementary, middle, high, other: the smaller neighbour), and so on until
every group is big enough or the district is one group. Suppression is worked out per group, and
a level filter shows one group: the same cells, withheld the same way, as the page of every level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask_babel import gettext

from school_prevention.i18n import school_level
from school_prevention.reports.periods import FilterError
from school_prevention.schools.models import SCHOOL_LEVELS

MIN_SCHOOLS = 2


@dataclass(frozen=True)
class Group:
    """Schools whose figures are suppressed together and whose totals are published together."""

    levels: tuple[str, ...]
    school_ids: tuple[int, ...]

    @property
    def key(self) -> str:
        """Its value in URLs and on the command line: the level, or its levels joined by '-'."""
        return "-".join(self.levels)

    @property
    def label(self) -> str:
        """Its levels in the page's language: "Elementary", "Elementary, middle and high"."""
        names = [school_level(lv) if i == 0 else school_level(lv).lower() for i, lv in enumerate(self.levels)]
        if len(names) == 1:
            return names[0]
        return gettext("%(levels)s and %(last)s", levels=", ".join(names[:-1]), last=names[-1])


def reporting_groups(schools: Iterable[tuple[int, str]], active: Mapping[int, int], min_n: int) -> list[Group]:
    """The district's groups, in level order, from (school id, level) pairs and active students per school."""
    members: dict[str, list[int]] = {lv: [] for lv in SCHOOL_LEVELS}
    for school_id, level in schools:
        members.setdefault(level, []).append(school_id)
    present = [lv for lv in members if members[lv]]

    def big_enough(levels) -> bool:
        ids = [s for lv in levels for s in members[lv]]
        return len(ids) >= MIN_SCHOOLS and sum(active.get(s, 0) for s in ids) >= min_n

    def students(levels) -> int:
        return sum(active.get(s, 0) for lv in levels for s in members[lv])

    groups = [[lv] for lv in present]
    while len(groups) > 1:
        short = [i for i, g in enumerate(groups) if not big_enough(g)]
        if not short:
            break
        i = min(short, key=lambda i: (students(groups[i]), i))
        j = min((k for k in (i - 1, i + 1) if 0 <= k < len(groups)), key=lambda k: (students(groups[k]), k))
        first, second = sorted((i, j))
        groups[first : second + 1] = [groups[first] + groups[second]]
    out = []
    for levels in groups:
        ordered = tuple(lv for lv in members if lv in levels)
        out.append(Group(ordered, tuple(sorted(s for lv in ordered for s in members[lv]))))
    return out


def filter_choices(groups: list[Group]) -> list[Group]:
    """The groups a level filter offers: none when the district is one group (the filter would be the district)."""
    return groups if len(groups) > 1 else []


def choose_group(groups: list[Group], key: str | None) -> Group | None:
    """The group a level filter asks for (None: every school), or a FilterError saying what to choose."""
    if not key:
        return None
    offered = filter_choices(groups)
    found = next((g for g in offered if g.key == key), None)
    if found is not None:
        return found
    holder = next((g for g in groups if key in g.levels), None)
    if holder is not None and len(groups) == 1:
        raise FilterError(
            "level",
            "The district's schools are reported together: a level on its own would "
            "show too few schools or students. Choose All levels.",
        )
    if holder is not None:
        raise FilterError(
            "level",
            f"{key.capitalize()} schools are reported together with others (on their own they "
            f"would show too few schools or students): choose {holder.label}.",
        )
    if key in SCHOOL_LEVELS:
        raise FilterError("level", f"There is no active {key} school to show.")
    raise FilterError("level", "Choose a school level from the list.")
