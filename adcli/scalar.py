"""The scalar fast path: a graph whose every value is a scalar runs on plain Python floats.

numpy scalars cost a microsecond per operation; floats cost a few dozen nanoseconds. The path
uses the registry's own rules (a Python operator where it rounds exactly as numpy does, else the
numpy forward), visits nodes and operands in the same order as the general engine, and so gives
the same bits. Anything it cannot do exactly (an array, a division by zero raising instead of
giving inf) returns None, and the caller runs the general engine instead.
"""

from __future__ import annotations

import numpy as np

from .graph import CONST, INPUT, Graph
from .registry import OPS
from .reverse import depends_on


def _as_float(forward):
    return lambda *xs: float(forward(*xs))


# A scalar matmul is a multiplication (see registry.matmul), so it takes mul's rules.
_RULES = {name: (op.pyfunc or _as_float(op.forward), op.derivs)
          for name, op in OPS.items() if op.derivs is not None}
_RULES["matmul"] = _RULES["mul"]


def scalar_values(graph: Graph, inputs: dict, upto: int) -> list | None:
    """Every node's value up to `upto` as floats, or None if some value is not a scalar."""
    nodes = graph.nodes
    values = [0.0] * max([upto + 1] + [i + 1 for i in inputs])
    rules = _RULES
    for i, v in inputs.items():  # inputs after `upto` too, as evaluate() gives them
        if v.ndim:
            return None
        values[i] = float(v)
    try:
        with np.errstate(all="ignore"):
            for i in range(upto + 1):
                node = nodes[i]
                op = node.op
                if op == INPUT:
                    continue
                if op == CONST:
                    if node.data.ndim:
                        return None
                    values[i] = float(node.data)
                    continue
                rule = rules.get(op)
                if rule is None:
                    return None
                args = node.args
                if len(args) == 2:
                    values[i] = rule[0](values[args[0]], values[args[1]])
                else:
                    values[i] = rule[0](values[args[0]])
    except (ArithmeticError, ValueError):
        return None
    return values


def scalar_backward(graph: Graph, values: list, output: int, wrt: list[int]) -> dict | None:
    """Reverse mode over float values, as adcli.reverse.backward does it; None if it cannot."""
    nodes = graph.nodes
    active = depends_on(graph, wrt, output)
    keep = set(wrt)
    grads: list = [None] * (output + 1)
    if active[output]:
        grads[output] = 1.0
    rules = _RULES
    try:
        with np.errstate(all="ignore"):
            for i in range(output, -1, -1):
                g = grads[i]
                if g is None:
                    continue
                node = nodes[i]
                rule = rules.get(node.op)
                if rule is None:  # an input or constant: nothing to pass on
                    continue
                derivs = rule[1]
                args = node.args
                ans = values[i]
                xs = [values[a] for a in args]
                for k in range(len(args) - 1, -1, -1):
                    a = args[k]
                    if active[a]:
                        contribution = g * derivs[k](ans, *xs)
                        before = grads[a]
                        grads[a] = contribution if before is None else before + contribution
                if i not in keep:
                    grads[i] = None  # this accumulator has passed everything on
    except (ArithmeticError, ValueError):
        return None
    return {w: np.array(grads[w] if w <= output and grads[w] is not None else 0.0, dtype=np.float64)
            for w in wrt}
