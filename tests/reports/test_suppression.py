"""Suppression hides every small cell, and no hidden value can be worked out from what is shown.

The proof is exact linear algebra: treating each hidden cell as an unknown and every published
column total and row identity as an equation, a hidden cell is recoverable exactly when its unit
vector lies in the row space of the equations. We check no hidden cell is, on many random tables.
"""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from school_prevention.reports.suppression import RowIdentity, suppress
from tests.support.linear import determined


def recoverable_cells(values, result, identities):
    """Hidden cells whose value follows from published column totals and row identities."""
    unknowns = sorted(result.cells, key=str)
    index = {cell: i for i, cell in enumerate(unknowns)}
    columns = {c for row in values.values() for c in row}
    equations = []
    for column in columns - result.totals:  # column totals are published
        equations.append({index[(r, column)]: Fraction(1) for r in values if (r, column) in index})
    for identity in identities:  # parts - total = 0 in every row
        for r in values:
            eq = {}
            for col in identity.parts:
                if (r, col) in index:
                    eq[index[(r, col)]] = Fraction(1)
            if (r, identity.total) in index:
                eq[index[(r, identity.total)]] = Fraction(-1)
            equations.append(eq)
    return {unknowns[i] for i in determined(equations, len(unknowns))}


def test_small_cells_are_hidden_and_a_lone_hidden_cell_gets_a_partner():
    values = {"A": {"flagged": 3}, "B": {"flagged": 40}, "C": {"flagged": 25}}
    hidden = suppress(values, min_n=10)
    assert ("A", "flagged") in hidden
    assert ("C", "flagged") in hidden  # the smallest other cell, or A = total - B - C
    assert ("B", "flagged") not in hidden and not hidden.totals
    assert not recoverable_cells(values, hidden, [])


def test_row_identity_is_protected_too():
    identities = [RowIdentity(parts=("covered", "uncovered"), total="flagged")]
    values = {
        "A": {"flagged": 30, "covered": 25, "uncovered": 5},
        "B": {"flagged": 50, "covered": 30, "uncovered": 20},
        "C": {"flagged": 60, "covered": 35, "uncovered": 25},
    }
    hidden = suppress(values, 10, identities)
    assert ("A", "uncovered") in hidden
    assert not recoverable_cells(values, hidden, identities)


def test_zero_and_large_cells_are_shown_when_nothing_needs_them():
    values = {"A": {"n": 0}, "B": {"n": 12}}
    result = suppress(values, 10)
    assert result.cells == set() and result.totals == set()


def test_a_district_of_one_school_withholds_the_total():
    values = {"A": {"n": 4, "m": 50}}
    result = suppress(values, 10)
    assert ("A", "n") in result and result.totals == {"n"}
    assert not recoverable_cells(values, result, [])


@pytest.mark.parametrize("seed", range(200))
def test_no_hidden_value_is_recoverable_on_random_tables(seed):
    rng = random.Random(seed)
    identities = [RowIdentity(parts=("with_program", "with_plan_only", "neither"), total="flagged")]
    values = {}
    for school in range(rng.randint(2, 9)):
        parts = {name: rng.choice([0, 1, 2, 3, 5, 8, 9, 10, 14, 30, 80]) for name in identities[0].parts}
        values[f"s{school}"] = {
            **parts,
            "flagged": sum(parts.values()),
            "active": rng.randint(0, 400),
            "waitlisted": rng.choice([0, 2, 7, 11, 40]),
        }
    min_n = rng.choice([5, 10])
    hidden = suppress(values, min_n, identities)
    primary = {(r, c) for r, cols in values.items() for c, v in cols.items() if 0 < v < min_n}
    assert primary <= hidden.cells
    assert not recoverable_cells(values, hidden, identities), (values, hidden)


# --- the tables the district sees ------------------------------------------------------------------

from school_prevention.reports.groups import choose_group, filter_choices, reporting_groups  # noqa: E402
from school_prevention.reports.periods import FilterError  # noqa: E402
from school_prevention.reports.suppression import (  # noqa: E402
    TOTAL,
    Block,
    suppress_breakdown,
    suppress_with_totals,
)


def test_a_small_total_is_withheld_and_can_be_a_schools_complement():
    totals, hidden = suppress_with_totals({"A": {"n": 3}, "B": {"n": 0}}, 10, [Block(("n",))])
    assert totals == {"n": 3} and hidden == {("A", "n"), (TOTAL, "n")}  # B's 0 would protect nothing


def test_a_row_split_is_withheld_whole_so_its_sums_stay_hidden():
    parts = ("both", "program", "plan", "neither")
    split = Block(("flagged", *parts), RowIdentity(parts, "flagged", together=True))
    values = {
        "A": {"flagged": 30, "both": 3, "program": 12, "plan": 10, "neither": 5},
        "B": {"flagged": 40, "both": 10, "program": 10, "plan": 10, "neither": 10},
        "C": {"flagged": 50, "both": 12, "program": 13, "plan": 12, "neither": 13},
    }
    _, hidden = suppress_with_totals(values, 10, [split])
    assert {("A", c) for c in parts} <= hidden and ("A", "flagged") not in hidden
    # Some other row's split goes too, or A's would follow from the totals.
    assert any(("B", c) in hidden or ("C", c) in hidden for c in parts)


def test_a_breakdown_keeps_a_withheld_total_withheld():
    lines = {"grade 6": {"n": 12}, "grade 7": {"n": 15}}
    assert suppress_breakdown(lines, 10, [Block(("n",))], {"n": 27}) == set()
    # The total is withheld where it comes from: with every line shown, it would be their sum.
    hidden = suppress_breakdown(lines, 10, [Block(("n",))], {"n": 27}, {"n"})
    assert hidden == {("grade 6", "n")}


def test_levels_too_small_to_show_apart_are_reported_together():
    schools = [(1, "elementary"), (2, "elementary"), (3, "middle"), (4, "middle"), (5, "high")]
    active = {1: 300, 2: 280, 3: 400, 4: 350, 5: 900}
    groups = reporting_groups(schools, active, 10)
    assert [(g.key, g.school_ids, g.label) for g in groups] == [
        ("elementary", (1, 2), "Elementary"),
        ("middle-high", (3, 4, 5), "Middle and high"),
    ]
    assert choose_group(groups, "middle-high").school_ids == (3, 4, 5) and choose_group(groups, "") is None
    with pytest.raises(FilterError, match="choose Middle and high"):
        choose_group(groups, "high")
    with pytest.raises(FilterError, match="from the list"):
        choose_group(groups, "nursery")
    # A level of two schools but too few students joins its neighbour too; levels stay in order.
    assert [g.key for g in reporting_groups(schools, {**active, 1: 4, 2: 3}, 10)] == ["elementary-middle-high"]
    more = [*schools, (6, "high"), (7, "other")]
    assert [g.key for g in reporting_groups(more, {**active, 1: 4, 2: 3, 6: 500, 7: 80}, 10)] == [
        "elementary-middle",
        "high-other",
    ]
    one = reporting_groups([(1, "elementary"), (2, "high")], {1: 50, 2: 50}, 10)
    assert [g.key for g in one] == ["elementary-high"] and filter_choices(one) == []
