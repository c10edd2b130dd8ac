"""Small-cell suppression with complementary suppression for per-school count tables.

A table has one row per school and one column per count; every column total (the district
figure) is published. Some columns may also add up across a row to another column (a row
identity, e.g. covered + uncovered = flagged). Cells with 0 < value < min_n are suppressed
(primary); then further cells are suppressed (complementary) until no suppressed value can be
worked out from the published totals and identities.

Why the graph: every equation we publish is a column total or a row identity, and every cell
sits in exactly one column equation and at most one row equation. Make each equation a node and
each suppressed cell an edge between its two equations (a cell in no row identity joins its
column to one shared "free" node, which has no equation). Only row nodes (and the free node)
meet column nodes, so the graph is bipartite, and then a suppressed cell's value is determined
by the published figures exactly when its edge is a bridge (on no cycle). So we suppress more
cells until no suppressed edge is a bridge. tests/test_suppression.py checks this against exact
linear algebra on random tables.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

Cell = tuple[Hashable, str]  # (row key, column name)
FREE = ("free",)


@dataclass(frozen=True)
class RowIdentity:
    """For every row: the sum of `parts` equals `total` (all columns of the table)."""

    parts: tuple[str, ...]
    total: str


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
    values: Mapping[Hashable, Mapping[str, int]],
    min_n: int,
    identities: Sequence[RowIdentity] = (),
) -> Suppression:
    """The cells to withhold: primary (0 < n < min_n) plus the complementary ones they need.

    When a column has no cell left to withhold (a district of one school, say), its total is
    withheld instead, and reported in `totals`.
    """
    owner = _column_equations(identities)
    cells = {(row, column): value for row, columns in values.items() for column, value in columns.items()}
    suppressed = {cell for cell, value in cells.items() if 0 < value < min_n}
    by_column: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_column[cell[1]].append(cell)
    for column_cells in by_column.values():
        column_cells.sort(key=lambda c: (cells[c], str(c[0])))
    _protect_lone_cells(cells, suppressed, by_column, owner)
    open_columns: set[str] = set()
    while True:
        hidden = sorted(suppressed, key=str)
        bridges = _bridges(hidden, owner, frozenset(open_columns))
        if not bridges:
            return Suppression(suppressed, open_columns)
        # Smallest bridge first; when it can neither get a partner nor have its column total
        # withheld (already withheld: a one-row table), move on to the next bridge.
        for bridge in sorted(bridges, key=lambda c: (cells[c], str(c))):
            choice = _complement_for(bridge, hidden, cells, owner, open_columns, suppressed, by_column)
            if choice is not None:
                suppressed.add(choice)
                break
            if bridge[1] not in open_columns:
                open_columns.add(bridge[1])
                break
        else:  # pragma: no cover - some bridge always gets a partner or an opened column
            raise RuntimeError("suppression could not protect a cell")


def _protect_lone_cells(cells, suppressed, by_column, owner) -> None:
    """The classic first pass: no equation may hold exactly one withheld cell.

    Cheap and enough for most tables; the bridge search then catches what it cannot see
    (chains of equations that together give a value away).
    """
    rows_of_identity: dict = defaultdict(list)
    for (row, column) in cells:
        identity = owner.get(column)
        if identity:
            rows_of_identity[(row, identity.total)].append((row, column))
    groups = list(by_column.values()) + [sorted(g, key=lambda c: cells[c]) for g in rows_of_identity.values()]
    changed = True
    while changed:
        changed = False
        for group in groups:
            hidden = [c for c in group if c in suppressed]
            if len(hidden) == 1:
                spare = next((c for c in group if c not in suppressed), None)
                if spare is not None:
                    suppressed.add(spare)
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


def _complement_for(bridge, hidden, cells, owner, open_columns, suppressed, by_column) -> Cell | None:
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
    free_cells = [c for c in cells if c not in suppressed]
    joining = []
    for cell in free_cells:
        x, y = _edge_ends(cell, owner, frozen)
        if (x in side_a and y in side_b) or (x in side_b and y in side_a):
            joining.append(cell)
    if joining:
        return min(joining, key=lambda c: (cells[c], str(c)))
    identity = owner.get(bridge[1])
    nearby = [c for c in by_column[bridge[1]] if c not in suppressed]
    if identity:
        nearby += [(bridge[0], col) for col in (*identity.parts, identity.total)
                   if (bridge[0], col) in cells and (bridge[0], col) not in suppressed]
    return min(nearby, key=lambda c: (cells[c], str(c))) if nearby else None
