"""Kinks a finite-difference stencil touched: the operations whose derivative jumps between the
stencil's points, so a central difference there measures nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adcli.engine.kinks import kink_mask, on_path
from adcli.language.graph import LEAVES, Graph
from adcli.operations import OPS

# A local derivative that changes across a stencil by less than this fraction of its size is not
# a kink (see slope_jumps); a value whose change misses its derivatives' prediction by more than
# this fraction of its size jumps (see value_jumps). Both lie far above rounding (1e-16) and far
# below any effect a central difference could notice at the default rtol.
SLOPE_JUMP = VALUE_JUMP = 1e-8


# ---------------------------------------------------------------------------------------------
# Kinks touched by a stencil
# ---------------------------------------------------------------------------------------------

def kink_nodes(graph: Graph, output: int, wrt: list[int]) -> list[int]:
    """Operations with a kink through which the derivative flows."""
    path = on_path(graph, output, wrt)
    return [i for i in range(output + 1)
            if path[i] and graph.nodes[i].op not in LEAVES and OPS[graph.nodes[i].op].kink is not None]


@dataclass
class NodeState:
    """One kinked node at one point of a stencil: its value, local derivatives, kink mask and operands."""

    value: np.ndarray
    slopes: list  # elementwise: ∂ₖ in the result's shape; otherwise operand k's vjp of fixed weights (None: an int)
    mask: np.ndarray  # where the registry's kink rule holds
    operands: list | None  # elementwise only: each operand broadcast to the result's shape


def node_state(graph: Graph, values: list, index: int) -> NodeState:
    """What `touched` compares between the centre and the two ends of a stencil."""
    node = graph.nodes[index]
    op = OPS[node.op]
    xs = [values[a] for a in node.args]
    ans = np.asarray(values[index])
    params = node.params or {}
    with np.errstate(all="ignore"):
        mask = np.asarray(kink_mask(graph, values, index), dtype=bool)
        if op.elementwise:
            slopes = [np.broadcast_to(d(ans, *xs, **params), ans.shape) for d in op.derivs]
            operands = [np.broadcast_to(x, ans.shape) for x in xs]
            return NodeState(ans, slopes, mask, operands)
        # Unequal weights, so a vjp tells apart which element gets which share (eigenvectors swapping).
        weights = (1.0 + np.arange(ans.size) / max(ans.size, 1)).reshape(ans.shape)
        slopes = [op.vjp(k, weights, ans, xs, params) if np.asarray(xs[k]).dtype.kind == "f" else None
                  for k in range(len(xs))]
        return NodeState(ans, slopes, mask, None)


def differs(a, b) -> np.ndarray:
    """Elementwise a != b, NaN equal to NaN."""
    a, b = np.asarray(a), np.asarray(b)
    return (a != b) & ~(np.isnan(a) & np.isnan(b)) if a.dtype.kind in "fc" else a != b


def where_on(mask: np.ndarray, moved: np.ndarray) -> bool:
    """Whether the kink rule holds at an element the probe moves (a reduction's mask may be
    shaped differently from its value: then anywhere at all)."""
    try:
        return bool(np.any(np.broadcast_to(mask, np.broadcast_shapes(mask.shape, moved.shape)) & moved))
    except ValueError:
        return bool(mask.any() and moved.any())


def slope_jumps(minus: list, centre: list, plus: list) -> bool:
    """Whether a local derivative jumps inside the stencil rather than varying smoothly across it.

    A smooth derivative changes by about the same amount from x - h to x as from x to x + h (the
    second difference is O(h²), the first ones O(h)); a kink between two of the points puts the
    whole jump into one of the two. Changes below SLOPE_JUMP of the derivative's size are rounding
    and curvature, too small to move a central difference past any tolerance the check uses.
    """
    with np.errstate(all="ignore"):
        for dm, d0, dp in zip(minus, centre, plus):
            if d0 is None:
                continue
            dm, d0, dp = (np.asarray(d, dtype=np.float64) for d in (dm, d0, dp))
            second = np.abs(dp - 2 * d0 + dm)
            first = np.abs(dp - d0) + np.abs(d0 - dm)
            size = np.maximum(np.maximum(np.abs(dm), np.abs(d0)), np.abs(dp))
            if np.any((second > 0.5 * first) & (second > SLOPE_JUMP * size)):
                return True
    return False


def value_jumps(centre: NodeState, end: NodeState) -> bool:
    """Whether an elementwise value jumps between the centre and one end of the stencil (floor,
    sign, atan2's cut): the change the local derivatives predict (trapezoid rule, exact to O(h³))
    misses the change seen by more than VALUE_JUMP of the values."""
    with np.errstate(all="ignore"):
        predicted = sum(0.5 * (d0 + d1) * (x1 - x0) for d0, d1, x0, x1 in
                        zip(centre.slopes, end.slopes, centre.operands, end.operands))
        missed = np.abs((end.value - centre.value) - predicted)
        return bool(np.any(missed > VALUE_JUMP * (np.abs(end.value) + np.abs(centre.value))))


def touched(graph: Graph, nodes: list[int], centre: dict, plus: list, minus: list) -> list[tuple[int, bool]]:
    """The kink nodes the stencil x - h·v, x, x + h·v sits on or straddles, each with whether the
    kink is at the centre itself (then one-sided differences can still be compared).

    A kink is touched where its registry rule holds at the centre at an element the probe moves,
    or where it lies between the points: a local derivative jumps (relu, max, a tie) or a
    value jumps (floor, sign, atan2's cut) inside the stencil. Elsewhere a node's derivative may
    change from point to point (elu for x < 0, norm, atan2) without any kink being near.
    """
    hits = []
    for i in nodes:
        c = centre[i]
        p, m = node_state(graph, plus, i), node_state(graph, minus, i)
        moved = differs(p.value, c.value) | differs(m.value, c.value)
        if c.operands is not None:
            for x0, xp, xm in zip(c.operands, p.operands, m.operands):
                moved = moved | differs(xp, x0) | differs(xm, x0)
        at_centre = where_on(c.mask, moved)
        # A kink exactly at x ± h is harmless unless a value jumps there: the stencil then spans one
        # smooth piece, continued to its end.
        if (at_centre or slope_jumps(m.slopes, c.slopes, p.slopes)
                or (c.operands is not None and (value_jumps(c, p) or value_jumps(c, m)))):
            hits.append((i, at_centre))
    return hits
