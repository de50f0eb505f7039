"""Reverse mode: gradient accumulators filled in reverse topological order, as in the lecture."""

from __future__ import annotations

from typing import Callable

import numpy as np

from adcli.language.graph import FLOAT, LEAVES, Graph
from adcli.operations import OPS

# on_update(node, k, operand, before, upstream, contribution, after), for traces
UpdateHook = Callable[[int, int, int, object, object, object, object], None]


def feeds(graph: Graph, output: int) -> list[bool]:
    """For each node up to `output`, whether `output` is computed from it (itself included)."""
    needed = [False] * (output + 1)
    needed[output] = True
    for i in range(output, -1, -1):
        if needed[i]:
            for a in graph.nodes[i].args:
                needed[a] = True
    return needed


def depends_on(graph: Graph, sources, upto: int) -> list[bool]:
    """For each node up to `upto`, whether it depends on any of `sources` (one forward sweep).

    Only floats carry derivatives: a comparison, an integer or a boolean depends on nothing.
    """
    active = [False] * (upto + 1)
    for s in sources:
        if s <= upto:
            active[s] = True
    nodes = graph.nodes
    for i in range(upto + 1):
        if not active[i]:
            node = nodes[i]
            if node.dtype != FLOAT:
                continue
            for a in node.args:
                if active[a]:
                    active[i] = True
                    break
    return active


def backward_reads(graph: Graph, output: int, wrt: list[int]) -> list[bool]:
    """For each node up to `output`, whether the backward pass for `wrt` reads its value (each
    registry entry's `reads`); the output's is always kept."""
    nodes = graph.nodes
    active = depends_on(graph, wrt, output)
    reads = [False] * (output + 1)
    reads[output] = True
    for i in range(output + 1):
        node = nodes[i]
        if not active[i] or node.op in LEAVES:
            continue
        op = OPS[node.op]
        for k, a in enumerate(node.args):
            if active[a]:
                for r in op.reads_for(k):
                    for j in (i,) if r == "ans" else node.args if r == "*" else (node.args[r],):
                        reads[j] = True
    return reads


def backward(graph: Graph, values: list, output: int, wrt: list[int],
             on_update: UpdateHook | None = None, seed=None, release: bool = False) -> dict[int, np.ndarray]:
    """∂output/∂w for each input node w in `wrt`, by vector–Jacobian products.

    Accumulators live in a local dict and each is dropped once its node has passed its gradient
    on, so memory holds only the frontier. With `release`, each computed value is dropped from
    `values` too once its node is done: its consumers come later in the list, so were done
    before it. Operands are visited right to left, as a stack machine pops them, which is the
    order of the lecture's worked example for y = x·(x+1).
    """
    sweep = Sweep(graph, values, output, wrt, seed)
    sweep.run(0, output, on_update, release)
    return sweep.gradients()


class Sweep:
    """One reverse sweep, node by node from the output down; it can run in pieces (checkpointing
    recomputes a segment's values, then sweeps that segment)."""

    def __init__(self, graph: Graph, values: list, output: int, wrt: list[int], seed=None):
        self.graph, self.values, self.output, self.wrt, self.seed = graph, values, output, wrt, seed
        self.active = graph.memo(("depends on", tuple(wrt), output), lambda: depends_on(graph, wrt, output))
        self.grads: dict[int, object] = {}
        self.owned: set[int] = set()  # ids of accumulators this sweep made (sums): safe to add into in place
        if self.active[output]:
            # seed: a cotangent for a non-scalar output (one Jacobian row); default all ones
            self.grads[output] = np.ones_like(values[output]) if seed is None else seed

    def run(self, lo: int, hi: int, on_update: UpdateHook | None = None, release: bool = False) -> None:
        """Pass on the accumulators of nodes hi down to lo."""
        nodes, values, grads, active, owned = self.graph.nodes, self.values, self.grads, self.active, self.owned
        output = self.output
        points = self.graph.__dict__.get("_points")  # a batch's graph: nodes holding points first
        with np.errstate(all="ignore"):
            for i in range(hi, lo - 1, -1):
                g = grads.get(i)
                if g is None or nodes[i].op in LEAVES:
                    if release and i != output and nodes[i].op not in LEAVES:
                        values[i] = None
                    continue
                node = nodes[i]
                op = OPS[node.op]
                xs = [values[a] for a in node.args]
                params = node.params or {}
                if node.op == "setitem" and on_update is None and self.update_in_place(node, g, values[i], xs, params):
                    del grads[i]
                    if release and i != output:
                        values[i] = None
                    continue
                # a value the operands' shares have in common (solve's A⁻ᵀḡ), computed once
                shared = op.shared(g, values[i], xs, params) if op.common_code is not None else None
                for k in range(len(xs) - 1, -1, -1):
                    a = node.args[k]
                    if not active[a]:
                        continue
                    before = grads.get(a)
                    if node.op == "getitem" and on_update is None and id(before) in owned:
                        # x[i] read from an accumulator the sweep owns: ḡ added into the part, O(part),
                        # where the rule's zeros of x's shape plus an add cost O(x) per read
                        part = before[part_view(params["index"])]
                        if before.flags.c_contiguous and addable(part, g):  # (as + makes it: see addable)
                            np.add(part, g, out=part)
                            continue
                    contribution = op.vjp(k, g, values[i], xs, params, shared)
                    if points is not None and points[i] and points[a] and not op.elementwise:
                        contribution = each_point_strong(contribution, g)
                    self.accumulate(a, contribution, in_place=on_update is None)  # a trace shows each sum
                    if on_update is not None:
                        on_update(i, k, a, before, g, contribution, grads[a])
                owned.discard(id(g))
                del grads[i]
                if release and i != output:
                    values[i] = None

    def update_in_place(self, node, g, ans, xs, params) -> bool:
        """x[i] = v's step when the sweep owns ḡ: v's share copied out of ḡ (O(part)), then ḡ with
        the part zeroed, written in ḡ's own memory, passed to x, where the rule's zero_at would
        copy all of ḡ: a chain of updates costs the parts, not the arrays. The numbers are the
        rule's. False (nothing done) when ḡ is not the sweep's own float64 array."""
        owned, active = self.owned, self.active
        if id(g) not in owned or not isinstance(g, np.ndarray) or g.dtype != np.float64 or not g.flags.writeable:
            return False
        x, v = node.args
        op = OPS["setitem"]
        if active[v]:
            share = op.vjp(1, g, ans, xs, params)
            if isinstance(share, np.ndarray) and np.shares_memory(share, g):
                share = share.copy()
            self.accumulate(v, share)
        if active[x]:
            g[part_view(params["index"])] = 0.0
            self.accumulate(x, g, handed=True)
        else:
            owned.discard(id(g))
        return True

    def accumulate(self, a: int, contribution, handed: bool = False, in_place: bool = True) -> None:
        """grads[a] += contribution, in the accumulator's memory when the sweep owns it (and
        `in_place`); `handed`: the contribution is an array the sweep owns, which may become the
        accumulator itself."""
        grads, owned = self.grads, self.owned
        before = grads.get(a)
        if before is None:
            grads[a] = contribution
            if not handed:
                return
        elif in_place and id(before) in owned and addable(before, contribution):
            np.add(before, contribution, out=before)  # the same bits as before + contribution
        else:
            grads[a] = before + contribution
            if isinstance(grads[a], np.ndarray):
                owned.add(id(grads[a]))
        if handed and grads[a] is not contribution:
            owned.discard(id(contribution))

    def gradients(self) -> dict[int, np.ndarray]:
        """The accumulators of the `wrt` inputs (zeros for an input the output does not reach)."""
        returned = {id(self.seed)}  # the caller's seed is theirs, never handed back as a gradient
        grads, values = self.grads, self.values
        return {w: fresh(grads[w], returned) if w in grads else np.zeros(np.shape(values[w])) for w in self.wrt}


def each_point_strong(share, g):
    """The strong zero point by point in a batch: a point whose ḡ is all zero passes zero on, as it
    would alone, even where another point's ḡ is not (the rule's own check sees the whole batch)."""
    if not (isinstance(share, np.ndarray) and isinstance(g, np.ndarray)) or not share.ndim or not g.ndim \
            or share.shape[0] != g.shape[0] or np.all(np.isfinite(share)):
        return share
    still = np.all(np.reshape(g == 0, (g.shape[0], -1)), axis=1)
    if not still.any():
        return share
    return np.where(np.reshape(still, (-1,) + (1,) * (share.ndim - 1)), 0.0, share)


def part_view(index) -> tuple:
    """An index whose result is always a view, a 0-d one for a single element (x[1, ...])."""
    return index if any(item is Ellipsis for item in index) else tuple(index) + (Ellipsis,)


def addable(before, contribution) -> bool:
    """Whether `before += contribution` gives before + contribution in before's own memory, laid out
    as + lays it out: a later sum over it (unbroadcast) adds in memory order, so an accumulator left
    in Fortran order where + gives C order (a transposed one, then a C contribution) would round
    differently from the exported module, which writes before + contribution."""
    return (isinstance(before, np.ndarray) and isinstance(contribution, (np.ndarray, np.generic, float))
            and before.dtype == np.float64 and before.flags.writeable
            and np.shape(contribution) == before.shape and np.result_type(contribution) == np.float64
            and (before.flags.c_contiguous or not (isinstance(contribution, np.ndarray)
                                                   and contribution.flags.c_contiguous)))


def fresh(g, returned: set[int]):
    """A gradient the caller may keep and write to: an accumulator the pass made for itself as it
    is, a copy of anything else (a read-only broadcast, a view, one already returned for another
    input); a dual (forward over reverse) is kept as it is."""
    if isinstance(g, np.ndarray):
        if g.flags.owndata and g.flags.writeable and g.dtype == np.float64 and id(g) not in returned:
            returned.add(id(g))
            return g
        return np.array(g, dtype=np.float64)
    return np.array(g, dtype=np.float64) if isinstance(g, (np.generic, float, int)) else g
