"""Describing a node for a message: its expression, an element, what numpy said went wrong."""

from __future__ import annotations

import warnings

import numpy as np

from adcli.language.graph import LEAVES, Graph
from adcli.numbers import format_number, format_value
from adcli.operations import OPS

# ---------------------------------------------------------------------------------------------
# Describing nodes
# ---------------------------------------------------------------------------------------------

def expression(graph: Graph, index: int, values: list | None = None) -> str:
    """`label = formula` for an operation (W·x when `values` shows scalars), the label for a leaf."""
    node = graph.nodes[index]
    if node.op in LEAVES:
        return node.label or format_value(node.data, full=True)
    labels = [graph.nodes[a].label for a in node.args]
    scalar = values is not None and all(np.ndim(values[a]) == 0 for a in node.args)
    # a function compiled on its own (fixed_point's, a loop's body) is shown as the file writes it
    shown = node.params if node.params and "body" in node.params else None
    return f"{node.label} = {OPS[node.op].formula(labels, scalar=scalar, params=shown)}"


def first_bad(value) -> tuple[tuple, float]:
    """The index and value of the first non-finite element, in C order."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return (), float(a)
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    return index, float(a[index])


def at(value, shape, index) -> str:
    """One operand's value at the element `index` of a result of `shape`, or the whole value."""
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        return format_number(v)
    if v.shape == tuple(shape):
        return format_number(v[index])
    if v.size <= 6:
        return format_value(v, full=True)
    return f"an array of shape {list(v.shape)}"


def suffix(value, shape, index) -> str:
    """`[1]` after an operand's name when a single element of it is shown."""
    v = np.asarray(value)
    return f"[{', '.join(map(str, index))}]" if v.ndim and v.shape == tuple(shape) else ""


def distinct(args) -> list[int]:
    """Operand indices without repeats, in order: x/x shows x once."""
    seen: list[int] = []
    for a in args:
        if a not in seen:
            seen.append(a)
    return seen


CAUSES = {"divide by zero": "division by zero", "overflow": "overflow: beyond float64's range, about 1.8e308",
          "invalid value": "no value: such as 0/0, inf - inf or sqrt of a negative number"}


def numpy_cause(compute, empty: bool = False) -> str:
    """Why a step gave NaN or inf, in adcli's words ("division by zero", "overflow: ..."), found by
    redoing the step with numpy's floating-point errors raised; `empty` when an operand had no
    elements (the mean of nothing is 0/0)."""
    if empty:
        return "an empty array: its mean (0/0) has no value"
    with np.errstate(all="raise", under="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compute()
        except FloatingPointError as e:
            kind = next((k for k in CAUSES if str(e).startswith(k)), None)
            return CAUSES[kind] if kind else ""
        except (ValueError, ArithmeticError, TypeError):
            return ""
    return ""
