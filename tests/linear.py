"""Exact linear algebra for the suppression proofs: which unknowns a reader can work out."""
from __future__ import annotations

from fractions import Fraction


def determined(equations: list[dict[int, Fraction]], count: int) -> set[int]:
    """Indexes of unknowns (0..count-1) whose value follows exactly from the equations.

    Each equation maps an unknown's index to its coefficient. An unknown is determined exactly
    when its unit vector lies in the row space: some row of the reduced echelon form is that
    unit vector.
    """
    rows = [{k: Fraction(v) for k, v in eq.items() if v} for eq in equations]
    rows = [r for r in rows if r]
    pivots = []
    for col in range(count):
        pivot = next((r for r in rows if r.get(col) and all(r is not p for p, _ in pivots)), None)
        if pivot is None:
            continue
        factor = pivot[col]
        for k in list(pivot):
            pivot[k] /= factor
        for other in rows:
            if other is not pivot and other.get(col):
                f = other[col]
                for k, v in pivot.items():
                    other[k] = other.get(k, 0) - f * v
                    if other[k] == 0:
                        del other[k]
        pivots.append((pivot, col))
    return {col for row, col in pivots if set(row) == {col}}
