"""Sparsity rules: which operand elements each result element depends on.

An operation's `pattern` rule receives the result's shape, the operands' shapes, its parameters,
the operands' values and its forward function (index arrays and conditions are read; float values never are, so the
pattern is the structure's, the same at every point) and returns, per operand, a relation: two
int arrays (result element, operand element), flat indices, listing every pair whose partial
derivative may be non-zero. None means the result does not depend on that operand. A rule for a
bilinear operation (a·b, a @ b, outer, kron, einsum of two) returns `Triples` instead: each
(result, a, b) element triple of a product a·b that the result sums, which gives both operands'
relations and, for Hessians, which elements of a meet elements of b.

Rules are exact for elementwise operations, indexing, shape operations, reductions and matrix
products; the linear algebra rules say that every result element depends on every operand
element (true of inv, solve and det in general). A rule may over-state a dependence, never
miss one: a test compares every rule with the Jacobian computed element by element.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# A relation bigger than this many pairs is not built: the caller falls back to dense passes.
MAX_PAIRS = 20_000_000


class TooDense(Exception):
    """A relation too large to build: the Jacobian is better computed densely."""


class Triples(NamedTuple):
    """Products a[j]·b[k] that result element i sums: (i, j, k) as three int arrays."""

    out: np.ndarray
    a: np.ndarray
    b: np.ndarray


def ids(shape) -> np.ndarray:
    """Each element's flat index, in an array of `shape`."""
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def budget(count: int) -> None:
    if count > MAX_PAIRS:
        raise TooDense(f"{count} element pairs")


def floating(value) -> bool:
    return np.asarray(value).dtype.kind == "f"


def flat_pairs(out_ids: np.ndarray, arg_ids: np.ndarray, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """The relation of two id arrays broadcast together (where `mask` holds)."""
    shape = np.broadcast_shapes(out_ids.shape, arg_ids.shape, *(() if mask is None else (mask.shape,)))
    budget(math.prod(shape))
    out, arg = (np.broadcast_to(a, shape).ravel() for a in (out_ids, arg_ids))
    if mask is not None:
        keep = np.broadcast_to(mask, shape).ravel()
        out, arg = out[keep], arg[keep]
    return out, arg


# ---------------------------------------------------------------------------------------------
# Elementwise operations and their operands' broadcasting
# ---------------------------------------------------------------------------------------------

def elementwise(out, shapes, params, values, forward=None):
    """y[i] depends on each operand's element broadcast to i."""
    return [flat_pairs(ids(out), np.broadcast_to(ids(s), out)) for s in shapes]


def product(out, shapes, params, values, forward=None):
    """a·b elementwise: each result element is one product."""
    a, b = (np.broadcast_to(ids(s), out).ravel() for s in shapes)
    return Triples(ids(out).ravel(), a, b)


def constant(out, shapes, params, values, forward=None):
    """No derivative reaches the result (comparisons, floor, counts, shapes)."""
    return [None] * len(shapes)


# ---------------------------------------------------------------------------------------------
# Operations that move, copy or select elements: the forward applied to element numbers
# ---------------------------------------------------------------------------------------------

def moved(forward, k: int, values, params: dict, others: float):
    """The forward with operand k replaced by its element numbers plus one and the other float
    operands by `others`: each result element names its source (0 for none)."""
    args = [(ids(np.shape(v)) + 1).astype(np.float64) if j == k else
            np.full(np.shape(v), others) if floating(v) else v for j, v in enumerate(values)]
    return np.asarray(forward(*args, **params), dtype=np.float64).ravel()


def moves(out, shapes, params, values, forward=None):
    """For an operation that only moves, copies or selects its float operands' elements (reshape,
    transpose, indexing, an update, stack, diag, tril): exact, by running it on element numbers."""
    found = []
    for k, v in enumerate(values):
        if not floating(v):
            found.append(None)
            continue
        source = moved(forward, k, values, params, 0.0)
        hit = np.flatnonzero(source)
        found.append((hit, source[hit].astype(np.int64) - 1))
    return found


def products(out, shapes, params, values, forward=None):
    """For outer and kron: each result element is the product of one element of each operand."""
    a, b = (moved(forward, k, values, params, 1.0).astype(np.int64) - 1 for k in (0, 1))
    return Triples(np.arange(a.size, dtype=np.int64), a, b)


# ---------------------------------------------------------------------------------------------
# Reductions and operations along an axis
# ---------------------------------------------------------------------------------------------

def axes_of(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))


def reduced(out, shapes, params, values, forward=None):
    """y[i] depends on every element reduced into it."""
    shape = shapes[0]
    axes = axes_of(params.get("axis"), len(shape))
    kept = tuple(1 if d in axes else n for d, n in enumerate(shape))
    return [flat_pairs(np.broadcast_to(ids(kept), shape), ids(shape))]


def along(prefix: bool):
    """A rule for an operation along one axis keeping its length (softmax, sort, cumsum): y[i]
    depends on its whole line, or with `prefix` on the elements up to it (running sums)."""
    def rule(out, shapes, params, values, forward=None):
        x, y = ids(shapes[0]), ids(out)
        axis = params.get("axis")
        if axis is None:  # numpy runs along the flattened array
            x, axis = x.ravel(), 0
        x, y = np.moveaxis(x, axis, -1), np.moveaxis(y.reshape(x.shape), axis, -1)
        n = x.shape[-1]
        mask = np.tri(n, dtype=bool) if prefix else None  # [i, j]: j ≤ i
        return [flat_pairs(y[..., :, None], x[..., None, :], mask)]
    return rule


def differences(out, shapes, params, values, forward=None):
    """diff(x, n): y[i] depends on x[i], ..., x[i + n] along the axis."""
    n, axis = params.get("n", 1), params.get("axis", -1)
    x, y = np.moveaxis(ids(shapes[0]), axis, -1), np.moveaxis(ids(out), axis, -1)
    length = y.shape[-1]
    pairs = [flat_pairs(y, x[..., k:k + length]) for k in range(n + 1)] if length else []
    return [concatenated(pairs)]


def trace(out, shapes, params, values, forward=None):
    """trace(x): the sum of the diagonal over the first two axes."""
    diagonal = np.diagonal(ids(shapes[0]))  # shape[2:] + (d,)
    return [flat_pairs(ids(out)[..., None], diagonal)]


def concatenated(pairs: list) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


# ---------------------------------------------------------------------------------------------
# Matrix products: every term of the sums, as (result, a, b) triples
# ---------------------------------------------------------------------------------------------

def grid_triples(o, a, b) -> Triples:
    shape = np.broadcast_shapes(o.shape, a.shape, b.shape)
    budget(math.prod(shape))
    return Triples(*(np.broadcast_to(t, shape).ravel() for t in (o, a, b)))


def matmul(out, shapes, params, values, forward=None):
    """(a @ b)[..., i, k] sums a[..., i, j]·b[..., j, k]; a scalar on either side multiplies."""
    sa, sb = shapes
    if not sa or not sb:
        return product(out, shapes, params, values)
    a, b = ids(sa), ids(sb)
    a = a[None, :] if a.ndim == 1 else a
    b = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    o = ids(out).reshape(batch + (a.shape[-2], b.shape[-1]))
    return grid_triples(o[..., :, None, :], a[..., :, :, None], b[..., None, :, :])


def dot(out, shapes, params, values, forward=None):
    """numpy's dot: a's last axis against b's only axis, or its second to last."""
    sa, sb = shapes
    if not sa or not sb:
        return product(out, shapes, params, values)
    a, b = ids(sa), ids(sb)
    n = sa[-1]
    a = a.reshape(-1, n)
    if b.ndim == 1:
        b = b.reshape(1, n, 1)
    else:
        b = np.moveaxis(b, -2, -1).reshape(-1, sb[-1], n).transpose(0, 2, 1)  # (J, n, K)
    o = ids(out).reshape(a.shape[0], b.shape[0], b.shape[2])
    return grid_triples(o[:, :, None, :], a[:, None, :, None], b[None, :, :, :])


def einsum(out, shapes, params, values, forward=None):
    """einsum: every term of its sum, from the letters of its spec (exact, repeated letters too);
    a spec with '...' is taken as every result element depending on every operand element."""
    spec = params["spec"].replace(" ", "")
    inputs, _, output = spec.partition("->")
    terms = inputs.split(",")
    if "." in spec or len(terms) != len(shapes):
        return dense(out, shapes, params, values)
    if "->" not in spec:  # numpy's implicit output: the letters used once, in order
        letters = "".join(terms)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    size = {}
    for term, shape in zip(terms, shapes):
        size.update(zip(term, shape))
    letters = sorted(size)
    budget(math.prod(size.values()))
    grid = np.indices([size[c] for c in letters], dtype=np.int64, sparse=True)
    at = {c: grid[letters.index(c)] for c in letters}
    def numbered(term, shape):
        return ids(shape)[tuple(at[c] for c in term)] if term else np.zeros((), np.int64)
    o = numbered(output, out)
    operands = [numbered(term, shape) for term, shape in zip(terms, shapes)]
    if len(operands) == 2:
        return grid_triples(o, *operands)
    return [flat_pairs(o, x) for x in operands]


def dense(out, shapes, params, values, forward=None):
    """Every result element depends on every operand element."""
    return [flat_pairs(ids(out).reshape(-1, 1), ids(s).reshape(1, -1)) for s in shapes]


def stacked(out_core: int, *cores):
    """For linear algebra on stacks of matrices: within one matrix of the stack every result element
    depends on every operand element (as inv, solve and det do in general); stacks do not mix.
    `out_core` and `cores` count each one's trailing matrix axes; a core of None is b's in solve:
    1 for a vector (one axis fewer than A), else 2."""
    def rule(out, shapes, params, values, forward=None):
        b_core = 1 if len(shapes[-1]) == len(shapes[0]) - 1 else 2
        arg_cores = [b_core if c is None else c for c in cores]
        o_core = b_core if out_core is None else out_core
        batch = tuple(out[:len(out) - o_core])
        o = ids(out).reshape((math.prod(batch), -1))
        found = []
        for s, core in zip(shapes, arg_cores):
            a = ids(s).reshape(tuple(s[:len(s) - core]) + (-1,))
            a = np.broadcast_to(a, batch + a.shape[-1:]).reshape((o.shape[0], -1))
            found.append(flat_pairs(o[:, :, None], a[:, None, :]))
        return found
    return rule


# ---------------------------------------------------------------------------------------------
# Using a rule
# ---------------------------------------------------------------------------------------------

def relations(rule_result, nargs: int) -> tuple[list, Triples | None]:
    """A rule's answer as one relation per operand, and its triples if it gave some."""
    if isinstance(rule_result, Triples):
        t = rule_result
        return [(t.out, t.a), (t.out, t.b)], t
    return list(rule_result) + [None] * (nargs - len(rule_result)), None
