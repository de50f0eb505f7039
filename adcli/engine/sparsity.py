"""Sparsity patterns of Jacobians and Hessians, found from the graph.

Each node's pattern says which input elements each of its elements depends on: the inputs'
patterns are identities, and every operation composes its operands' patterns through its
registry entry's `pattern` rule (operations/patterns.py). The Hessian's pattern then follows from
where second derivatives arise: an operation's result element e with curvature pairs every input
element e depends on with every other (P(e) × P(e)); a product a·b pairs only a's inputs with b's,
term by term; linear and piecewise-linear operations add nothing. Patterns are structural: they
hold at every point, and may over-state a dependence (two paths that cancel), never miss one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adcli.engine.reverse import depends_on, feeds
from adcli.language.graph import LEAVES, Graph
from adcli.operations import OPS
from adcli.operations.patterns import budget, relations


@dataclass
class Pattern:
    """A boolean matrix in compressed rows: row r's columns are indices[indptr[r]:indptr[r + 1]]."""

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def from_pairs(cls, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Pattern:
        """The pattern holding each (row, col) pair, duplicates merged, columns sorted in each row."""
        key = np.sort(rows.astype(np.int64) * shape[1] + cols)
        key = key[np.concatenate(([True], key[1:] != key[:-1]))] if len(key) else key
        rows, cols = np.divmod(key, max(shape[1], 1))
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(shape, indptr, cols)

    @classmethod
    def empty(cls, rows: int, columns: int) -> Pattern:
        return cls((rows, columns), np.zeros(rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def identity(cls, size: int, offset: int, columns: int) -> Pattern:
        return cls((size, columns), np.arange(size + 1, dtype=np.int64), np.arange(offset, offset + size, dtype=np.int64))

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)

    def coo(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of every entry, row by row."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), self.counts()), self.indices

    def transpose(self) -> Pattern:
        rows, cols = self.coo()
        return Pattern.from_pairs(cols, rows, self.shape[::-1])

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=bool)
        out[self.coo()] = True
        return out


def compose(relation, pattern: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """Through a relation (result element, operand element) and the operand's pattern: the pairs
    (result element, input element)."""
    out, arg = relation
    starts, counts = pattern.indptr[arg], pattern.counts()[arg]
    total = int(counts.sum())
    budget(total)
    rows = np.repeat(out, counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, pattern.indices[np.repeat(starts, counts) + offsets]


def cross(p: Pattern, rows_p: np.ndarray, q: Pattern, rows_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each k, every pair (a, b) with a in p's row rows_p[k] and b in q's row rows_q[k]."""
    cp, cq = p.counts()[rows_p], q.counts()[rows_q]
    sizes = cp * cq
    keep = sizes > 0
    rows_p, rows_q, cp, cq, sizes = rows_p[keep], rows_q[keep], cp[keep], cq[keep], sizes[keep]
    total = int(sizes.sum())
    budget(total)
    which = np.repeat(np.arange(len(sizes)), sizes)
    t = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    i, j = np.divmod(t, cq[which]) if total else (t, t)
    return p.indices[p.indptr[rows_p][which] + i], q.indices[q.indptr[rows_q][which] + j]


# ---------------------------------------------------------------------------------------------
# Walking the graph
# ---------------------------------------------------------------------------------------------

@dataclass
class Layout:
    """Where each differentiated input's elements sit among the columns: offset and shape."""

    nodes: list[int]
    offsets: list[int]
    shapes: list[tuple]

    @property
    def size(self) -> int:
        return self.offsets[-1] + math.prod(self.shapes[-1]) if self.nodes else 0


def layout_of(values: list, wrt: list[int]) -> Layout:
    offsets, shapes, at = [], [], 0
    for w in wrt:
        shapes.append(np.shape(values[w]))
        offsets.append(at)
        at += math.prod(shapes[-1])
    return Layout(list(wrt), offsets, shapes)


def node_patterns(graph: Graph, values: list, output: int, wrt: list[int]):
    """Each node's pattern over the inputs in `wrt` (for the nodes between them and the output),
    and the local rule's triples of each bilinear node."""
    layout = layout_of(values, wrt)
    n = layout.size
    patterns: dict[int, Pattern] = {w: Pattern.identity(math.prod(s), o, n)
                                    for w, o, s in zip(layout.nodes, layout.offsets, layout.shapes)}
    triples = {}
    live = depends_on(graph, wrt, output)
    needed = feeds(graph, output)
    for i in range(output + 1):
        node = graph.nodes[i]
        if node.op in LEAVES or not (live[i] and needed[i]) or i in patterns:
            continue
        xs = [values[a] for a in node.args]
        op = OPS[node.op]
        params = {**dict(op.params), **(node.params or {})}  # a rule reads every parameter, defaults too
        local = op.pattern(np.shape(values[i]), [np.shape(x) for x in xs], params, xs, op.forward)
        rels, triples[i] = relations(local, len(xs))
        size = int(np.size(values[i]))
        used = [(rel, patterns[a]) for a, rel in zip(node.args, rels) if rel is not None and a in patterns]
        if len(used) == 1 and np.array_equal(used[0][0][0], np.arange(size)):
            patterns[i] = gathered(used[0][1], used[0][0][1])
        elif used:
            pairs = [compose(rel, pattern) for rel, pattern in used]
            patterns[i] = Pattern.from_pairs(*(np.concatenate(part) for part in zip(*pairs)), (size, n))
        else:
            patterns[i] = Pattern.empty(size, n)
    return patterns, triples, layout


def gathered(pattern: Pattern, rows: np.ndarray) -> Pattern:
    """The given rows of a pattern, in order: each result element has one source (a slice, a
    transpose, an elementwise function of one operand), so no merging is needed."""
    counts = pattern.counts()[rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    _, cols = compose((np.arange(len(rows)), rows), pattern)
    return Pattern((len(rows), pattern.shape[1]), indptr, cols)


def distinct_rows(pattern: Pattern) -> np.ndarray:
    """Rows of a pattern, one of each content when every row has as many entries (a softmax's
    elements share their row's inputs: their pairs are made once, not once per element)."""
    counts = pattern.counts()
    if len(counts) > 1 and counts[0] > 1 and np.all(counts == counts[0]):
        _, first = np.unique(pattern.indices.reshape(len(counts), int(counts[0])), axis=0, return_index=True)
        return np.sort(first)
    return np.arange(len(counts), dtype=np.int64)


def jacobian_pattern(graph: Graph, values: list, output: int, wrt: list[int]) -> tuple[Pattern, Layout]:
    """Which input elements each output element depends on: rows are the output's elements in C
    order, columns the inputs' elements, input after input."""
    patterns, _, layout = node_patterns(graph, values, output, wrt)
    size = int(np.size(values[output]))
    return patterns.get(output, Pattern.empty(size, layout.size)), layout


def hessian_pattern(graph: Graph, values: list, output: int, wrt: list[int]) -> tuple[Pattern, Layout]:
    """Which pairs of input elements the Hessian of a scalar output may couple (symmetric)."""
    patterns, triples, layout = node_patterns(graph, values, output, wrt)
    rows, cols = [], []
    for i, pattern in patterns.items():
        node = graph.nodes[i]
        if node.op in LEAVES:
            continue
        op = OPS[node.op]
        if op.linear or not op.curved:
            continue
        t = triples[i]
        if t is not None:  # a product: a's inputs meet b's, term by term
            a, b = node.args
            if a in patterns and b in patterns:
                r, c = cross(patterns[a], t.a, patterns[b], t.b)
                rows += [r, c]
                cols += [c, r]
            continue
        distinct = distinct_rows(pattern)
        r, c = cross(pattern, distinct, pattern, distinct)
        rows.append(r)
        cols.append(c)
    n = layout.size
    if not rows:
        return Pattern.empty(n, n), layout
    return Pattern.from_pairs(np.concatenate(rows), np.concatenate(cols), (n, n)), layout
