"""Forward evaluation: bind input values, then run every node's numpy forward in order."""

from __future__ import annotations

import difflib

import numpy as np

from .errors import InputError, ShapeError
from .graph import CONST, INPUT, LEAVES, Graph
from .registry import OPS, Mismatch, fmt_shape


def bind_inputs(graph: Graph, given: dict) -> dict[int, np.ndarray]:
    """Input node -> float64 value, checking names, declared shapes and named dimensions."""
    names = {graph.nodes[i].label: i for i in graph.inputs}
    for name in given:
        if name not in names:
            raise InputError(unknown_input_message(name, list(names)))
    bound: dict[int, np.ndarray] = {}
    dims: dict[str, tuple[int, str]] = {}  # named dimension -> (size, the input that fixed it)
    for name, index in names.items():
        if name not in given:
            raise InputError(f"no value given for input '{name}'", graph.span(index))
        value = np.asarray(given[name], dtype=np.float64)
        declared = graph.nodes[index].data
        if declared is not None:
            check_declared(graph, index, name, value.shape, declared, dims)
        bound[index] = value
    return bound


def check_declared(graph, index, name, shape, declared, dims) -> None:
    """A value must have its declaration's shape; a named dimension one size everywhere."""
    if len(shape) != len(declared):
        raise InputError(f"input '{name}' is declared with shape {fmt_shape(declared)} but its value has "
                         f"shape {fmt_shape(shape)}", graph.span(index))
    for size, dim in zip(shape, declared):
        if isinstance(dim, int):
            if size != dim:
                raise InputError(f"input '{name}' is declared with shape {fmt_shape(declared)} but its value has "
                                 f"shape {fmt_shape(shape)}", graph.span(index))
        elif dim in dims and dims[dim][0] != size:
            other_size, other = dims[dim]
            raise InputError(f"dimension '{dim}' is {other_size} in input '{other}' but {size} in input '{name}'",
                             graph.span(index))
        else:
            dims.setdefault(dim, (size, name))


def unknown_input_message(name: str, inputs: list[str]) -> str:
    message = f"'{name}' is not an input of this file"
    close = difflib.get_close_matches(name, inputs, n=1)
    if close:
        return message + f"; did you mean '{close[0]}'?"
    return message + (f" (its inputs are {', '.join(inputs)})" if inputs else " (it has no inputs)")


def run_op(name: str, *args, **params):
    """An operation's numpy forward."""
    return OPS[name].forward(*args, **params)


def evaluate(graph: Graph, inputs: dict, upto: int | None = None, keep: list[bool] | None = None,
             apply=run_op) -> list:
    """The value of every node up to `upto` (default: all) and of every input, in evaluation order.

    `apply(name, *args, **params)` runs each operation: numpy's forward, or (adcli.dual.apply,
    with dual inputs) forward mode by dual numbers.

    With `keep`, a computed value not marked in it is released after its last use as an operand:
    reverse mode keeps only what its backward pass reads. What stays in its place holds the shape
    (which derivative rules may read) and NaN, so a rule that wrongly read it would show.
    """
    nodes = graph.nodes
    stop = len(nodes) if upto is None else upto + 1
    last_use = None if keep is None else last_uses(graph, stop)
    # Inputs first used after `upto` still get their values: their gradient is zeros of their shape.
    values: list = [None] * max([stop] + [i + 1 for i in inputs])
    for i in inputs:
        values[i] = inputs[i]
    # NaN and inf propagate as values; reporting them is a separate, explicit pass.
    with np.errstate(all="ignore"):
        for i in range(stop):
            node = nodes[i]
            if node.op == INPUT:
                values[i] = inputs[i]
            elif node.op == CONST:
                values[i] = node.data
            else:
                args = [values[a] for a in node.args]
                try:
                    values[i] = apply(node.op, *args, **(node.params or {}))
                except (ValueError, IndexError) as e:
                    raise shape_error(graph, i, args, e) from None
                if last_use is not None:
                    for a in node.args:
                        if last_use[a] == i and not keep[a] and nodes[a].op not in LEAVES:
                            values[a] = np.broadcast_to(np.nan, np.shape(values[a]))
    return values


def last_uses(graph: Graph, stop: int) -> list[int]:
    """For each node before `stop`, the last node before `stop` that takes it as an operand (-1: none)."""
    last = [-1] * stop
    for i in range(stop):
        for a in graph.nodes[i].args:
            last[a] = i
    return last


def shape_error(graph: Graph, index: int, args, cause: Exception) -> ShapeError:
    """Explain a failed forward in the operation's own words, at its place in the source."""
    node = graph.nodes[index]
    try:
        OPS[node.op].shape(*(np.shape(a) for a in args), **(node.params or {}))
        message = f"{node.op} failed: {cause}"
    except Mismatch as e:
        message = str(e)
    return ShapeError(message, graph.span(index))
