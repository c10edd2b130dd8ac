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
from tests.linear import determined


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
        values[f"s{school}"] = {**parts, "flagged": sum(parts.values()),
                                "active": rng.randint(0, 400), "waitlisted": rng.choice([0, 2, 7, 11, 40])}
    min_n = rng.choice([5, 10])
    hidden = suppress(values, min_n, identities)
    primary = {(r, c) for r, cols in values.items() for c, v in cols.items() if 0 < v < min_n}
    assert primary <= hidden.cells
    assert not recoverable_cells(values, hidden, identities), (values, hidden)
