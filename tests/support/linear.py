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


class Span:
    """The row space of a growing set of equations, exactly (fractions), kept in echelon form.

    Each equation maps an unknown (any hashable) to its coefficient. Pivot rows are kept in the
    order they were found, each reduced against the earlier ones, so reducing a vector by them in
    that order leaves it with no pivot unknown (one pass).
    """

    def __init__(self) -> None:
        self.rows: list[tuple[object, dict]] = []  # (pivot unknown, row with coefficient 1 there)

    def _reduce(self, vector: dict) -> dict:
        v = {k: Fraction(c) for k, c in vector.items() if c}
        for pivot, row in self.rows:
            factor = v.get(pivot)
            if factor:
                for k, c in row.items():
                    value = v.get(k, 0) - factor * c
                    if value:
                        v[k] = value
                    else:
                        v.pop(k, None)
        return v

    def add(self, equation: dict) -> None:
        """Add an equation (its right-hand side does not matter to what it determines)."""
        v = self._reduce(equation)
        if v:
            pivot = min(v, key=repr)
            factor = v[pivot]
            self.rows.append((pivot, {k: c / factor for k, c in v.items()}))

    def holds(self, vector: dict) -> bool:
        """Whether the vector is a combination of the equations: its value follows from theirs."""
        return not self._reduce(vector)
