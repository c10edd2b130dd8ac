"""Small-cell suppression with complementary suppression: the one path every district figure takes.

A table has one row per school (or per grade, week, program...) and one column per count, and
every column adds up to a total. The total is either a row of the table itself (its totals row,
which is then suppressed like any row: a small total is withheld, and may be a complement), or
published elsewhere (a breakdown of a figure the district table publishes). Some columns may also
add up across a row to another column (a row identity, e.g. the four coverage parts add up to
the flagged students). Cells with 0 < value < min_n are suppressed (primary); then further cells
are suppressed (complementary) until no suppressed value can be worked out from what is shown.

A totals row needs nothing special: its column equation "the rows add up to the total" has the
same shape as a published total once the totals row's values are counted negative, and the
signs do not change which cells an equation chain can reach.

Why the graph: every equation we publish is a column total or a row identity, and every cell
sits in exactly one column equation and at most one row equation. Make each equation a node and
each suppressed cell an edge between its two equations (a cell in no row identity joins its
column to one shared "free" node, which has no equation). Only row nodes (and the free node)
meet column nodes, so the graph is bipartite, and then a suppressed cell's value is determined
by the published figures exactly when its edge is a bridge (on no cycle). So we suppress more
cells until no suppressed edge is a bridge. tests/reports/test_suppression.py checks this against exact
linear algebra on random tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

Cell = tuple[Hashable, str]  # (row key, column name)
# A table's row key (school id, grade, week...). Mapping is invariant in its key, so the tables'
# Mapping[K, ...] takes a dict[int, ...] where Mapping[Hashable, ...] would not.
K = TypeVar("K", bound=Hashable)
FREE = ("free",)


@dataclass(frozen=True)
class RowIdentity:
    """For every row: the sum of `parts` equals `total` (all columns of the table).

    together=True: the parts of a row are withheld together (all that are not known to be 0, and
    the total too when two or fewer are left). Then no sum of two parts (what else a row
    publishes, like "in a program" = both + program only) can be worked out when it is
    withheld: each part's column holds another withheld row, which holds every part too, so the
    two cells of any pair stay joined by a chain of other withheld cells.
    """

    parts: tuple[str, ...]
    total: str
    together: bool = False


def _column_equations(identities: Sequence[RowIdentity]) -> dict[str, RowIdentity]:
    owner: dict[str, RowIdentity] = {}
    for identity in identities:
        for column in (*identity.parts, identity.total):
            if column in owner:
                raise ValueError(f"column {column!r} is in two row identities")
            owner[column] = identity
    return owner


def _edge_ends(cell: Cell, owner: Mapping[str, RowIdentity], open_columns=frozenset()):
    # Nodes with no published equation impose nothing, so they can all be one node (FREE):
    # a path between two of them is already a way to move values without changing any total.
    row, column = cell
    identity = owner.get(column)
    row_node = ("row", row, identity.total) if identity else FREE
    column_node = FREE if column in open_columns else ("col", column)
    return column_node, row_node


def _bridges(edges: Sequence[Cell], owner, open_columns=frozenset()) -> set[Cell]:
    """The suppressed cells whose edge lies on no cycle (iterative Tarjan, parallel edges kept)."""
    adjacency: dict = defaultdict(list)
    for index, cell in enumerate(edges):
        a, b = _edge_ends(cell, owner, open_columns)
        adjacency[a].append((b, index))
        adjacency[b].append((a, index))
    order: dict = {}
    low: dict = {}
    bridges: set[Cell] = set()
    counter = 0
    for root in adjacency:
        if root in order:
            continue
        order[root] = low[root] = counter
        counter += 1
        stack = [(root, -1, iter(adjacency[root]))]
        while stack:
            node, via_edge, neighbours = stack[-1]
            advanced = False
            for neighbour, edge_index in neighbours:
                if edge_index == via_edge:
                    continue
                if neighbour in order:
                    low[node] = min(low[node], order[neighbour])
                else:
                    order[neighbour] = low[neighbour] = counter
                    counter += 1
                    stack.append((neighbour, edge_index, iter(adjacency[neighbour])))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        bridges.add(edges[via_edge])
    return bridges


@dataclass
class Suppression:
    """What to withhold: cells, and column totals that could not be published safely."""

    cells: set[Cell]
    totals: set[str]

    def __contains__(self, cell: Cell) -> bool:
        return cell in self.cells


def suppress(
    values: Mapping[K, Mapping[str, int]],
    min_n: int,
    identities: Sequence[RowIdentity] = (),
    known: Iterable[Cell] = (),
    withheld: Iterable[Cell] = (),
) -> Suppression:
    """The cells to withhold: primary (0 < n < min_n) plus the complementary ones they need.

    Column totals are taken as published, whether they are a row of `values` (a totals row) or
    published elsewhere. When a column has no cell left to withhold (a breakdown of one line, say),
    its total cannot be published safely and is reported in `totals` (for a totals row that never
    happens: the total cell itself is the complement).

    Cells known to be 0 to anyone (every cell of a column whose cells are all 0, every part of a
    row whose identity total is 0, and the `known` ones, 0 by what is public: a school that runs no
    program has no seat taken) are never withheld: withholding them would protect nothing.
    `withheld` cells are withheld from the start (a total that the table it comes from withholds).
    Complements are the smallest cells that are not 0, a 0 only when nothing else will do.
    """
    owner = _column_equations(identities)
    cells: dict[Cell, int] = {
        (row, column): value for row, columns in values.items() for column, value in columns.items()
    }
    known = _known_zero(values, cells, identities) | {c for c in known if c in cells}
    suppressed = {cell for cell, value in cells.items() if 0 < value < min_n and cell not in known}
    suppressed |= {c for c in withheld if c in cells}
    _close_units(suppressed, cells, known, owner)
    by_column: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        if cell not in known:
            by_column[cell[1]].append(cell)
    for column_cells in by_column.values():
        column_cells.sort(key=lambda c: _preference(cells, c))
    _protect_lone_cells(cells, suppressed, by_column, owner, known)
    open_columns: set[str] = set()
    while True:
        hidden = sorted(suppressed, key=str)
        bridges = _bridges(hidden, owner, frozenset(open_columns))
        if not bridges:
            return Suppression(suppressed, open_columns)
        # Smallest bridge first; when it can neither get a partner nor have its column total
        # withheld (already withheld: a one-row table), move on to the next bridge.
        for bridge in sorted(bridges, key=lambda c: (cells[c], str(c))):
            choice = _complement_for(bridge, hidden, cells, owner, open_columns, suppressed, by_column, known)
            if choice is not None:
                suppressed.add(choice)
                _close_units(suppressed, cells, known, owner)
                break
            if bridge[1] not in open_columns:
                open_columns.add(bridge[1])
                break
        else:  # pragma: no cover - some bridge always gets a partner or an opened column
            raise RuntimeError("suppression could not protect a cell")


def _preference(cells, cell) -> tuple:
    """Order of complements: cells that are not 0 first (a withheld 0 beside another says little), smallest first."""
    return (cells[cell] == 0, cells[cell], str(cell))


def _known_zero(values, cells, identities) -> set[Cell]:
    """Cells anyone can tell are 0: a column of zeros, or the parts of a row whose total is 0."""
    known = set()
    columns: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        columns[cell[1]].append(cell)
    for column_cells in columns.values():
        if all(cells[c] == 0 for c in column_cells):
            known.update(column_cells)
    for identity in identities:
        for row, row_values in values.items():
            if row_values.get(identity.total, 1) == 0:
                known.update((row, c) for c in (*identity.parts, identity.total) if (row, c) in cells)
    return known


def _close_units(suppressed: set, cells, known, owner) -> None:
    """Withhold together what must go together (RowIdentity.together): see its docstring."""
    for row, column in list(suppressed):
        identity = owner.get(column)
        if identity is None or not identity.together or column == identity.total:
            continue
        parts = [(row, c) for c in identity.parts if (row, c) in cells and (row, c) not in known]
        suppressed.update(parts)
        if len(parts) <= 2 and (row, identity.total) in cells:
            suppressed.add((row, identity.total))


def _protect_lone_cells(cells, suppressed, by_column, owner, known) -> None:
    """The classic first pass: no equation may hold exactly one withheld cell.

    Cheap and enough for most tables; the bridge search then catches what it cannot see
    (chains of equations that together give a value away).
    """
    rows_of_identity: dict = defaultdict(list)
    for row, column in cells:
        identity = owner.get(column)
        if identity and (row, column) not in known:
            rows_of_identity[(row, identity.total)].append((row, column))
    groups = [*by_column.values(), *rows_of_identity.values()]
    changed = True
    while changed:
        changed = False
        touched = set(suppressed)
        for group in groups:
            hidden = [c for c in group if c in touched]
            if len(hidden) == 1:
                spare = min(
                    (c for c in group if c not in suppressed), key=lambda c: _preference(cells, c), default=None
                )
                if spare is not None:
                    suppressed.add(spare)
                    _close_units(suppressed, cells, known, owner)
                    touched = set(suppressed)
                    changed = True


def _component(start, adjacency, skip_edge: Cell) -> set:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for neighbour, cell in adjacency[node]:
            if cell != skip_edge and neighbour not in seen:
                seen.add(neighbour)
                todo.append(neighbour)
    return seen


def _complement_for(bridge, hidden, cells, owner, open_columns, suppressed, by_column, known) -> Cell | None:
    """The cell to withhold next so that `bridge` stops being recoverable (smallest first).

    Best is a cell joining the two sides the bridge separates, which puts it on a cycle at
    once; otherwise a cell of the bridge's own column or row identity, which grows its side.
    """
    frozen = frozenset(open_columns)
    adjacency: dict = defaultdict(list)
    for cell in hidden:
        a, b = _edge_ends(cell, owner, frozen)
        adjacency[a].append((b, cell))
        adjacency[b].append((a, cell))
    end_a, end_b = _edge_ends(bridge, owner, frozen)
    side_a, side_b = _component(end_a, adjacency, bridge), _component(end_b, adjacency, bridge)
    free_cells = [c for c in cells if c not in suppressed and c not in known]
    joining = []
    for cell in free_cells:
        x, y = _edge_ends(cell, owner, frozen)
        if (x in side_a and y in side_b) or (x in side_b and y in side_a):
            joining.append(cell)
    if joining:
        return min(joining, key=lambda c: _preference(cells, c))
    identity = owner.get(bridge[1])
    nearby = [c for c in by_column[bridge[1]] if c not in suppressed]
    if identity:
        nearby += [
            (bridge[0], col)
            for col in (*identity.parts, identity.total)
            if (bridge[0], col) in cells and (bridge[0], col) not in suppressed and (bridge[0], col) not in known
        ]
    return min(nearby, key=lambda c: _preference(cells, c)) if nearby else None


# --- the tables the district sees: every figure goes through one of these three --------------------

TOTAL = "total"  # row key of a table's totals row (school ids, weeks and keys never take this value)


@dataclass(frozen=True)
class Block:
    """Columns suppressed together: one count, or counts joined by a row identity."""

    columns: tuple[str, ...]
    identity: RowIdentity | None = None


def _needs_work(values, columns, min_n) -> bool:
    # A block without a small count has nothing to protect: suppress() would withhold nothing
    # (complementary cells are only ever chosen to protect a primary one).
    return any(0 < cells.get(c, 0) < min_n for cells in values.values() for c in columns)


def suppress_with_totals(
    values: Mapping[K, Mapping[str, int]], min_n: int, blocks: Sequence[Block], known: Iterable[Cell] = ()
) -> tuple[dict[str, int], set[Cell]]:
    """A table whose totals are published with it (a group of schools): its totals row, and the
    withheld cells, the totals row's among them (row TOTAL). Block by block: blocks share no cell
    and no equation. known: cells that are 0 by what is public (see suppress())."""
    known = set(known)
    totals = {c: sum(cells.get(c, 0) for cells in values.values()) for b in blocks for c in b.columns}
    table: dict[Hashable, Mapping[str, int]] = dict(values.items())  # the rows' keys, and TOTAL
    table[TOTAL] = totals
    hidden: set[Cell] = set()
    for block in blocks:
        if _needs_work(table, block.columns, min_n):
            part = {row: {c: cells.get(c, 0) for c in block.columns} for row, cells in table.items()}
            result = suppress(part, min_n, (block.identity,) if block.identity else (), known)
            hidden |= result.cells
            # A totals row is a row like any other: a lone withheld cell always finds the total as
            # its partner, so no column is ever left open here.
            assert not result.totals, result.totals
    return totals, hidden


def suppress_breakdown(
    values: Mapping[K, Mapping[str, int]],
    min_n: int,
    blocks: Sequence[Block],
    totals: Mapping[str, int],
    withheld_totals: Iterable[str] = (),
) -> set[Cell]:
    """A breakdown of totals published elsewhere (a group's totals by grade, severity, week...).

    The totals are the table's totals row, fixed by the table they come from: a published total
    is known, one withheld there is withheld here too (it is the same figure), and the lines are
    suppressed so that neither the withheld total nor any withheld line can be worked out. Both
    tables meet only in the totals; neither determines a withheld total, so neither can help the
    other. Returns the withheld lines (not the totals row).
    """
    withheld_totals = set(withheld_totals)
    hidden: set[Cell] = set()
    for block in blocks:
        lines: dict[Hashable, Mapping[str, int]] = {
            row: {c: cells.get(c, 0) for c in block.columns} for row, cells in values.items()
        }
        if not lines:
            continue
        withheld = {(TOTAL, c) for c in block.columns if c in withheld_totals}
        if not withheld and not _needs_work(lines, block.columns, min_n):
            continue
        table = {**lines, TOTAL: {c: totals[c] for c in block.columns}}
        known: set[Cell] = {(TOTAL, c) for c in block.columns if c not in withheld_totals}
        # A line alone under a published total is that total: known, whatever it is.
        if len(lines) == 1:
            known |= {(row, c) for row in lines for c in block.columns if c not in withheld_totals}
        result = suppress(table, min_n, (block.identity,) if block.identity else (), known, withheld)
        if result.totals:  # pragma: no cover - a withheld total or another line is always a partner
            hidden |= {(row, c) for row in lines for c in block.columns if (row, c) not in known}
        else:
            hidden |= {cell for cell in result.cells if cell[0] != TOTAL}
    return hidden


def suppress_alone(values: Mapping[K, Mapping[str, int]], min_n: int) -> set[Cell]:
    """Counts that no published figure adds up (new flags by week, say): only the small ones are withheld."""
    return {(row, c) for row, cells in values.items() for c, v in cells.items() if 0 < v < min_n}
