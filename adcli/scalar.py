"""The scalar fast path: a graph whose every value is a scalar runs on plain Python floats.

numpy scalars cost a microsecond per operation; floats cost a few dozen nanoseconds. The path
uses the registry's own rules (a Python operator where it rounds exactly as numpy does, else the
numpy forward), visits nodes and operands in the same order as the general engine, and so gives
the same bits. Anything it cannot do exactly (an array, a division by zero raising instead of
giving inf) returns None, and the caller runs the general engine instead.
"""

from __future__ import annotations

import numpy as np

from .graph import CONST, FLOAT, INPUT, Graph
from .registry import OPS


def _as_float(forward):
    return lambda *xs: float(forward(*xs))


# Elementwise operations of one or two operands without parameters; a scalar matmul is a
# multiplication (see kernels.matmul), so it takes mul's rules.
_SCALAR = [name for name, op in OPS.items() if op.elementwise and op.nargs in (1, 2) and not op.params]
_FORWARD = {name: OPS[name].pyfunc or _as_float(OPS[name].forward) for name in _SCALAR}
_DERIVS = {name: OPS[name].derivs for name in _SCALAR}
_FORWARD["matmul"], _DERIVS["matmul"] = _FORWARD["mul"], _DERIVS["mul"]


def scalar_pass(graph: Graph, inputs: dict, output: int, wrt: list[int]):
    """(values, {input node: gradient}) on floats, as evaluate() and backward() give them; None
    when some value is not a scalar or only numpy computes it exactly."""
    try:
        with np.errstate(all="ignore"):
            found = scalar_values(graph, inputs, output, wrt)
            if found is None:
                return None
            values, active = found
            return values, scalar_backward(graph, values, active, output, wrt)
    except (ArithmeticError, ValueError):  # e.g. x/0 raises on floats where numpy gives inf
        return None


def scalar_values(graph: Graph, inputs: dict, upto: int, wrt: list[int]):
    """(values, active): every value up to `upto` (and every input) as a float, and whether it
    depends on an input in `wrt`; None if some value is not a scalar."""
    ops, operands = graph.flat()
    nodes = graph.nodes
    n = max([upto + 1] + [i + 1 for i in inputs])  # inputs after `upto` too, as evaluate() gives them
    values = [0.0] * n
    active = [False] * n
    for i, v in inputs.items():
        if v.ndim or nodes[i].dtype != FLOAT:
            return None
        values[i] = float(v)
    for w in wrt:
        active[w] = True
    forward = _FORWARD
    for i in range(upto + 1):
        op = ops[i]
        if op == INPUT:
            continue
        if op == CONST:
            data = nodes[i].data
            if data.ndim or data.dtype != np.float64:
                return None
            values[i] = float(data)
            continue
        rule = forward.get(op)
        if rule is None or nodes[i].params:
            return None
        args = operands[i]
        if len(args) == 2:
            a, b = args
            values[i] = rule(values[a], values[b])
            active[i] = active[a] or active[b]
        else:
            a = args[0]
            values[i] = rule(values[a])
            active[i] = active[a]
    return values, active


def scalar_backward(graph: Graph, values: list, active: list, output: int, wrt: list[int]) -> dict:
    """Reverse mode over float values, as adcli.reverse.backward does it: operands right to left,
    each contribution ḡ·∂ₖ added to the accumulator (absent until its first contribution)."""
    grads: dict = {output: 1.0} if active[output] else {}
    scalar_sweep(graph, values, grads, active, output, 0, set(wrt))
    return {w: np.array(grads.get(w, 0.0), dtype=np.float64) for w in wrt}


def scalar_sweep(graph: Graph, values, grads: dict, active, hi: int, lo: int, keep) -> None:
    """Pass on the accumulators of nodes hi down to lo; an accumulator is dropped once passed on,
    unless its node is in `keep` (the inputs differentiated)."""
    ops, operands = graph.flat()
    derivs = _DERIVS
    for i in range(hi, lo - 1, -1):
        g = grads.get(i)
        if g is None:
            continue
        rule = derivs.get(ops[i])
        if rule is None:  # an input or a constant: nothing to pass on
            continue
        args = operands[i]
        ans = values[i]
        if len(args) == 2:
            a, b = args
            x, y = values[a], values[b]
            if active[b]:
                d = rule[1](ans, x, y)
                c = g * d
                if c - c != 0 and (g == 0 or d == 0):  # 0·∞ is 0 in the chain rule, as in the engine
                    c = 0.0
                before = grads.get(b)
                grads[b] = c if before is None else before + c
            if active[a]:
                d = rule[0](ans, x, y)
                c = g * d
                if c - c != 0 and (g == 0 or d == 0):
                    c = 0.0
                before = grads.get(a)
                grads[a] = c if before is None else before + c
        else:
            a = args[0]
            d = rule[0](ans, values[a])
            c = g * d
            if c - c != 0 and (g == 0 or d == 0):
                c = 0.0
            before = grads.get(a)
            grads[a] = c if before is None else before + c
        if i not in keep:
            del grads[i]  # this accumulator has passed everything on


def scalar_checkpointed(graph: Graph, inputs: dict, output: int, wrt: list[int], schedule):
    """scalar_pass by a checkpointing schedule: the forward pass keeps only the schedule's values,
    the backward pass recomputes each segment before sweeping it. Values live in dicts, so memory
    follows what is held, not the length of the program. None where scalar_pass would be."""
    try:
        with np.errstate(all="ignore"):
            return _checkpointed(graph, inputs, output, wrt, schedule)
    except (ArithmeticError, ValueError):
        return None


def _static(graph: Graph, output: int, wrt: list[int], schedule):
    """What a scalar checkpointed pass reads but never changes, made once per schedule: each
    node's rule, last use and activity (or None when the graph is not all scalar rules)."""
    key = ("scalar", tuple(wrt))
    if key in schedule.cache:
        return schedule.cache[key]
    ops, operands = graph.flat()
    nodes = graph.nodes
    made = None
    if all(op in (INPUT, CONST) or (op in _FORWARD and not nodes[i].params) for i, op in enumerate(ops[:output + 1])) \
            and all(nodes[i].data.ndim == 0 and nodes[i].data.dtype == np.float64
                    for i in range(output + 1) if ops[i] == CONST):
        last = [-1] * (output + 1)
        for i in range(output + 1):
            for a in operands[i]:
                last[a] = i
        active = [False] * (output + 1)
        for w in wrt:
            if w <= output:
                active[w] = True
        for i in range(output + 1):
            if ops[i] not in (INPUT, CONST) and any(active[a] for a in operands[i]):
                active[i] = True
        made = (last, active)
    schedule.cache[key] = made
    return made


def _checkpointed(graph: Graph, inputs: dict, output: int, wrt: list[int], schedule):
    static = _static(graph, output, wrt, schedule)
    if static is None or any(v.ndim or graph.nodes[i].dtype != FLOAT for i, v in inputs.items()):
        return None
    last, active = static
    ops, operands = graph.flat()
    nodes, kept, forward = graph.nodes, schedule.kept, _FORWARD
    vals = {i: float(v) for i, v in inputs.items()}

    def compute(i):
        op = ops[i]
        if op == CONST:
            return float(nodes[i].data)
        args = operands[i]
        if len(args) == 2:
            return forward[op](vals[args[0]], vals[args[1]])
        return forward[op](vals[args[0]])

    for i in range(output + 1):
        if ops[i] == INPUT:
            continue
        vals[i] = compute(i)
        for a in operands[i]:
            if last[a] == i and not kept[a] and ops[a] != INPUT and a in vals:
                del vals[a]
    value = vals[output]
    grads: dict = {output: 1.0} if active[output] else {}
    keep = set(wrt)
    for lo, hi in reversed(schedule.segments):
        for i in range(lo, hi + 1):
            if ops[i] != INPUT and i not in vals:
                vals[i] = compute(i)
        scalar_sweep(graph, vals, grads, active, hi, lo, keep)
        for i in range(lo, hi + 1):
            if ops[i] != INPUT and i != output:
                del vals[i]
    return np.float64(value), {w: np.array(grads.get(w, 0.0), dtype=np.float64) for w in wrt}
