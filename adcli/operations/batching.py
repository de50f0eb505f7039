"""Batching rules: how each operation runs on operands that carry a leading batch axis.

As JAX's vmap, batching transforms the graph rather than looping over points. A rule is called for
a node of which at least one operand is batched; it receives the batcher `b`, the node, and its
operands (each `Operand(node, batched, shape)` with `shape` the shape at one point), and returns
the new node that computes the node's value at every point at once, with the batch axis first. A
rule builds with registry operations only (`b.op`, `b.lift`, `b.spread`, `b.const`), so the
batched graph's reverse and forward modes are the registry's own rules, unchanged.
"""

from __future__ import annotations

import string
from typing import NamedTuple

import numpy as np


class Operand(NamedTuple):
    node: int  # the operand's node in the batched graph
    batched: bool  # whether it carries the batch axis
    shape: tuple  # its shape at one point


def shift(axis, rank: int):
    """An axis (or tuple of axes) of one point's array as an axis of the batched array: a
    non-negative axis moves up by one, a negative one counts from the end and stays."""
    if axis is None:
        return None
    if isinstance(axis, tuple):
        return tuple(shift(a, rank) for a in axis)
    return axis + 1 if axis >= 0 else axis


def point_axes(rank: int) -> tuple:
    """Every axis of one point's array, as axes of the batched array."""
    return tuple(range(1, rank + 1))


def lifted(b, xs) -> list[int]:
    """The operands at one rank (the largest), batched ones with ones inserted after the batch axis,
    so that numpy broadcasting pairs one point's axes with the same point's."""
    rank = max(len(x.shape) for x in xs)
    return [b.lift(x, rank) if x.batched else x.node for x in xs]


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

def elementwise(b, node, xs):
    """Elementwise operations (broadcasting ones included): the same operation on lifted operands."""
    return b.op(node.op, lifted(b, xs), node.params)


def reduction(b, node, xs):
    """Reductions over `axis` (None: every axis of a point, never the batch axis)."""
    (x,) = xs
    params = dict(node.params or {})
    axis = params.get("axis")
    params["axis"] = point_axes(len(x.shape)) if axis is None else shift(axis, len(x.shape))
    return b.op(node.op, [x.node], params)


def along_axis(b, node, xs):
    """Operations along one axis (softmax, cumsum): the axis shifted; cumsum without an axis runs
    over each point's flattened array."""
    (x,) = xs
    params = dict(node.params or {})
    if params.get("axis", -1) is None:
        flat = b.op("reshape", [x.node], {"shape": (b.size, -1)})
        return b.op(node.op, [flat], {**params, "axis": 1})
    params["axis"] = shift(params.get("axis", -1), len(x.shape))
    return b.op(node.op, [x.node], params)


def flip(b, node, xs):
    (x,) = xs
    axis = (node.params or {}).get("axis")
    return b.op("flip", [x.node], {"axis": point_axes(len(x.shape)) if axis is None else shift(axis, len(x.shape))})


def expand_dims(b, node, xs):
    (x,) = xs
    return b.op("expand_dims", [x.node], {"axis": shift((node.params or {}).get("axis", 0), len(x.shape))})


def squeeze(b, node, xs):
    (x,) = xs
    axis = (node.params or {}).get("axis")
    if axis is None:  # every axis of length 1 at a point: never the batch axis, whatever its length
        axis = tuple(i for i, n in enumerate(x.shape) if n == 1)
    return b.op("squeeze", [x.node], {"axis": shift(axis, len(x.shape))})


def transpose(b, node, xs):
    (x,) = xs
    rank = len(x.shape)
    axes = (node.params or {}).get("axes")
    axes = tuple(range(rank - 1, -1, -1)) if axes is None else tuple(a % rank for a in axes)
    return b.op("transpose", [x.node], {"axes": (0,) + tuple(a + 1 for a in axes)})


def reshape(b, node, xs):
    (x,) = xs
    return b.op("reshape", [x.node], {"shape": (b.size,) + tuple(node.params["shape"])})


def broadcast_to(b, node, xs):
    (x,) = xs
    shape = tuple(node.params["shape"])
    return b.op("broadcast_to", [b.lift(x, len(shape))], {"shape": (b.size,) + shape})


def joined(b, node, xs):
    """concat and stack: every operand batched (a shared one is broadcast, a view), the axis shifted."""
    params = dict(node.params or {})
    params["axis"] = shift(params.get("axis", 0), len(xs[0].shape) + (node.op == "stack"))
    return b.op(node.op, [b.spread(x) for x in xs], params)


def stacked(b, node, xs):
    """Operations on stacks of matrices (numpy's linalg): every operand batched, the batch axis one
    more stacking axis."""
    return b.op(node.op, [b.spread(x) for x in xs], node.params)


def getitem(b, node, xs):
    (x,) = xs
    return b.op("getitem", [x.node], {"index": (slice(None),) + tuple(node.params.get("index", ()))})


def setitem(b, node, xs):
    """x[index] = v: the index behind the batch axis; x spread over the batch, a batched v lifted
    to the updated part's rank so that it broadcasts point by point."""
    x, v = xs
    index = tuple(node.params.get("index", ()))
    # the part's rank: an int index takes an axis away, None adds one, slices and ... keep them
    rank = len(x.shape) - sum(isinstance(i, int) for i in index) + sum(i is None for i in index)
    value = b.lift(v, rank) if v.batched else v.node
    return b.op("setitem", [b.spread(x), value], {"index": (slice(None),) + index})


def gather(b, node, xs):
    """Integer-array indexing: the batch axis taken whole; the index arrays must be shared."""
    from adcli.operations.core import OPS  # filled by the time a program is batched
    for x in xs[1:]:
        if x.batched:
            b.refuse("an index array cannot differ from point to point: a batched integer input may not index")
    layout = tuple(node.params.get("layout", ()))
    out = b.op("gather", [x.node for x in xs], {"layout": (slice(None),) + layout})
    # Index arrays apart from each other put their axes first (numpy's rule), the batch axis after
    # them: find where it lands with a batch size no other axis has.
    marker = 1 + max((n for x in xs for n in x.shape), default=0)
    landed = OPS["gather"].shape((marker,) + tuple(xs[0].shape), *(x.shape for x in xs[1:]),
                                 layout=(slice(None),) + layout).index(marker)
    if landed == 0:
        return out
    rank = len(b.out_shape) + 1
    return b.op("transpose", [out], {"axes": (landed,) + tuple(i for i in range(rank) if i != landed)})


def constant(b, node, xs):
    """Values made from shapes alone (size, zeros, eye): the same at every point, so shared."""
    from adcli.operations.core import OPS
    stand_ins = [np.broadcast_to(0.0, x.shape) for x in xs]  # only their shapes are read
    return b.const(OPS[node.op].forward(*stand_ins, **(node.params or {})), node.dtype)


def matmul(b, node, xs):
    """@ and dot: a vector at one point becomes a one-row (left) or one-column (right) matrix, the
    operands are lifted to one rank, and the result reshaped to each point's shape."""
    x, y = xs
    if not x.shape or not y.shape:  # a scalar side multiplies
        return b.op("mul", lifted(b, xs), None)
    nodes, shapes = [], []
    for k, operand in enumerate(xs):
        node_, shape = operand.node, tuple(operand.shape)
        if len(shape) == 1 and operand.batched:
            shape = (1,) + shape if k == 0 else shape + (1,)
            node_ = b.op("reshape", [node_], {"shape": (b.size,) + shape})
        nodes.append(node_)
        shapes.append(shape)
    rank = max(len(s) for s in shapes)
    nodes = [b.lift(Operand(n, o.batched, s), rank) if o.batched else n for n, s, o in zip(nodes, shapes, xs)]
    product = b.op("matmul", nodes, None)
    return b.op("reshape", [product], {"shape": (b.size,) + tuple(b.out_shape)})


def outer(b, node, xs):
    """outer(x, y) of each point's flattened x and y, as a broadcast product."""
    x, y = xs
    left = b.op("reshape", [x.node], {"shape": ((b.size,) if x.batched else ()) + (-1, 1)})
    right = b.op("reshape", [y.node], {"shape": ((b.size, 1) if y.batched else ()) + (-1,)})
    return b.op("mul", [left, right], None)


def einsum(b, node, xs):
    """One more index, on the batched operands and the result."""
    spec = node.params["spec"]
    letter = next((c for c in string.ascii_letters if c not in spec), None)
    if letter is None:  # numpy's einsum knows only the 52 letters
        b.refuse("--batch: this einsum() uses all 52 letters einsum knows, and batching it needs one more "
                 "for the points' axis; name fewer indices, or compute the points one at a time")
    inputs, output = spec.split("->")
    subs = [(letter + s) if x.batched else s for s, x in zip(inputs.split(","), xs)]
    return b.op("einsum", [x.node for x in xs], {"spec": ",".join(subs) + "->" + letter + output})


def diagonal_of(b, x: Operand, k: int) -> int:
    """Each point's k-th diagonal (of a matrix), by a gather of its positions."""
    rows, cols = x.shape
    first_row, first_col = max(-k, 0), max(k, 0)
    length = max(0, min(rows - first_row, cols - first_col))
    i = b.const(np.arange(length, dtype=np.int64) + first_row, "i")
    j = b.const(np.arange(length, dtype=np.int64) + first_col, "i")
    return b.op("gather", [x.node, i, j], {"layout": (slice(None), ("array", 1), ("array", 2))})


def diag(b, node, xs):
    """A vector's diagonal matrix, or a matrix's diagonal, at every point."""
    (x,) = xs
    k = (node.params or {}).get("k", 0)
    if len(x.shape) == 2:
        return diagonal_of(b, x, k)
    n = x.shape[0]
    m = n + abs(k)
    rows, cols = np.indices((m, m))
    source = np.minimum(rows if k >= 0 else cols, max(n - 1, 0))  # which element lands at (row, col)
    picked = b.op("gather", [x.node, b.const(source.astype(np.int64), "i")], {"layout": (slice(None), ("array", 1))})
    return b.op("where", [b.const(cols - rows == k, "b"), picked, b.const(np.float64(0.0), "f")], None)


def trace(b, node, xs):
    (x,) = xs
    return b.op("sum", [diagonal_of(b, x, 0)], {"axis": (1,), "keepdims": False})


RULES = {
    "elementwise": elementwise, "reduction": reduction, "along_axis": along_axis, "flip": flip,
    "expand_dims": expand_dims, "squeeze": squeeze, "transpose": transpose, "reshape": reshape,
    "broadcast_to": broadcast_to, "joined": joined, "stacked": stacked, "getitem": getitem, "setitem": setitem,
    "gather": gather,
    "constant": constant, "matmul": matmul, "outer": outer, "einsum": einsum, "diag": diag, "trace": trace,
}
