"""Colourings that compress a sparse Jacobian or Hessian into a few passes (Curtis–Powell–Reid).

Two columns of a Jacobian may share a colour when no row holds both: one forward pass seeded with
the sum of a colour's unit vectors then gives each of their entries unmixed. Rows likewise for
reverse passes. For a Hessian the columns are coloured the same way on its own (symmetric)
pattern, which is a distance-2 colouring of its adjacency graph; each colour costs one forward-
over-reverse pass. A star colouring (Gebremedhin, Manne and Pothen) needs fewer colours where a
row is dense, as in an arrowhead: it uses H's symmetry, reading an entry from the column whose
colour leaves it unmixed, which may be its mirror's.

A first try colours column j by j mod k, k the fullest row's count: when no row then holds two
columns of one colour (bands, most stencils), no colouring has fewer. Otherwise the greedy order
is largest-first (Welsh–Powell), ties kept in index order, so a colouring is the same on every run.
"""

from __future__ import annotations

import numpy as np

from adcli.engine.sparsity import Pattern, cross
from adcli.operations.patterns import TooDense


def colour_columns(pattern: Pattern) -> np.ndarray:
    """A colour per column such that no row holds two columns of one colour: column j's index modulo
    the fullest row's count when that is valid (then no colouring has fewer colours: bands, most
    stencils), else the greedy colouring."""
    cyclic = cyclic_colours(pattern)
    if cyclic is not None:
        return cyclic
    try:
        ptr, neighbours = column_neighbours(pattern)
    except TooDense:  # rows of thousands of entries: about as many colours as columns anyway
        return np.arange(pattern.shape[1], dtype=np.int64)
    ptr, neighbours = ptr.tolist(), neighbours.tolist()
    n = pattern.shape[1]
    degree = np.bincount(pattern.indices, minlength=n)
    colour = [-1] * n
    taken_by = [-1] * (n + 1)  # taken_by[c] == j: a neighbour of column j has colour c
    for j in np.argsort(-degree, kind="stable").tolist():
        for k in neighbours[ptr[j]:ptr[j + 1]]:
            taken_by[colour[k]] = j  # an uncoloured neighbour marks the spare last slot
        c = 0
        while taken_by[c] == j:
            c += 1
        colour[j] = c
    return np.asarray(colour, dtype=np.int64)


def cyclic_colours(pattern: Pattern) -> np.ndarray | None:
    """j mod k for k the fullest row's count, if no row holds two columns of one colour; checked
    at once over every stored entry, so a banded pattern is coloured optimally without the loop."""
    k = lower_bound(pattern)
    if k == 0:
        return None
    colours = np.arange(pattern.shape[1], dtype=np.int64) % k
    rows, cols = pattern.coo()
    key = np.sort(rows * k + colours[cols])
    return colours if not np.any(key[1:] == key[:-1]) else None


def column_neighbours(pattern: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """For each column, the columns sharing a row with it (itself included), in compressed rows."""
    every = np.arange(pattern.shape[0], dtype=np.int64)
    a, b = cross(pattern, every, pattern, every)
    adjacency = Pattern.from_pairs(a, b, (pattern.shape[1], pattern.shape[1]))
    return adjacency.indptr, adjacency.indices


def lower_bound(pattern: Pattern) -> int:
    """No column colouring has fewer colours than the fullest row has entries."""
    counts = pattern.counts()
    return int(counts.max()) if len(counts) else 0


def colour_rows(pattern: Pattern) -> np.ndarray:
    """A colour per row such that no column holds two rows of one colour."""
    return colour_columns(pattern.transpose())


def count(colours: np.ndarray) -> int:
    return int(colours.max()) + 1 if len(colours) else 0


def seeds(colours: np.ndarray, colour: int) -> np.ndarray:
    """The seed of one colour: 1.0 at its columns (or rows), 0.0 elsewhere."""
    return (colours == colour).astype(np.float64)


STAR_WORK = 20_000_000  # the most (v, w, x) paths the greedy star colouring visits (about a second)


def star_colours(pattern: Pattern) -> np.ndarray | None:
    """A star colouring of a symmetric pattern's adjacency graph: neighbours differ in colour and
    every path on four vertices has at least three colours (greedy, Gebremedhin–Manne–Pothen's
    algorithm 4.1), so each entry of H is unmixed in its row's or its column's colour. None when
    the paths it would visit exceed STAR_WORK (a hub of thousands of neighbours)."""
    n = pattern.shape[0]
    degree = np.diff(pattern.indptr)
    if int(np.sum(degree.astype(np.int64) ** 2)) > STAR_WORK:
        return None
    ptr, idx = pattern.indptr.tolist(), pattern.indices.tolist()
    neighbours = [[k for k in idx[ptr[v]:ptr[v + 1]] if k != v] for v in range(n)]
    colour = [-1] * n
    around: list[dict] = [{} for _ in range(n)]  # around[x][c]: how many of x's neighbours have colour c
    forbidden = [-1] * (n + 1)  # forbidden[c] == v: colour c is not for vertex v
    for v in np.argsort(-degree, kind="stable").tolist():
        for w in neighbours[v]:
            cw = colour[w]
            if cw >= 0:
                forbidden[cw] = v
            for x in neighbours[w]:
                cx = colour[x]
                if x == v or cx < 0:
                    continue
                if cw < 0:  # v - w - x with w uncoloured: v may not take x's colour
                    forbidden[cx] = v
                elif around[x].get(cw, 0) > 1:  # x has a neighbour besides w of w's colour: v - w - x - y
                    forbidden[cx] = v           # would be two-coloured
        c = 0
        while forbidden[c] == v:
            c += 1
        colour[v] = c
        for u in neighbours[v]:
            around[u][c] = around[u].get(c, 0) + 1
    return np.asarray(colour, dtype=np.int64)


def star_reads(pattern: Pattern, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each stored entry (i, j) is read: (row, colour) into the table of passes H·s_colour.
    The dense way's orientation, row j of the pass of i's colour, when no other neighbour of j has
    i's colour (always so for a distance-2 colouring); else its mirror, row i of j's colour's pass,
    which a star colouring keeps unmixed."""
    rows, cols = pattern.coo()
    width = count(colours) or 1
    # (vertex, colour) -> how many of its neighbours (itself included, if stored) have that colour
    key, tally = np.unique(rows * width + colours[cols], return_counts=True)
    shared = tally[np.searchsorted(key, cols * width + colours[rows])] > 1 if len(rows) else np.zeros(0, bool)
    return np.where(shared, rows, cols), np.where(shared, colours[cols], colours[rows])
