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
    each contribution ḡ·∂ₖ added to the accumulator (None until its first contribution)."""
    ops, operands = graph.flat()
    derivs = _DERIVS
    keep = set(wrt)
    grads: list = [None] * (output + 1)
    if active[output]:
        grads[output] = 1.0
    for i in range(output, -1, -1):
        g = grads[i]
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
                c = g * rule[1](ans, x, y)
                grads[b] = c if grads[b] is None else grads[b] + c
            if active[a]:
                c = g * rule[0](ans, x, y)
                grads[a] = c if grads[a] is None else grads[a] + c
        else:
            a = args[0]
            c = g * rule[0](ans, values[a])
            grads[a] = c if grads[a] is None else grads[a] + c
        if i not in keep:
            grads[i] = None  # this accumulator has passed everything on
    return {w: np.array(grads[w] if w <= output and grads[w] is not None else 0.0, dtype=np.float64)
            for w in wrt}
