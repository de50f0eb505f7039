"""Forward evaluation: bind input values, check every shape and size, then run every node's numpy
forward in order."""

from __future__ import annotations

import difflib
import sys
import warnings

import numpy as np

from adcli.errors import InputError, ShapeError
from adcli.language.graph import CONST, FLOAT, INPUT, INT, LEAVES, Graph
from adcli.language.shapes import node_span
from adcli.limits import MAX_DIMENSIONS, check_size
from adcli.operations import CONSTANTS as NAMED_CONSTANTS
from adcli.operations import OPS, Mismatch, fmt_shape


def bind_inputs(graph: Graph, given: dict, batched=frozenset()) -> dict[int, np.ndarray]:
    """Input node -> value (float64, or int64 for int data), checking names, declared shapes and
    named dimensions, whole numbers for int inputs, and the size limit. The `batched` inputs'
    values hold many points along a first axis: the declarations are of one point."""
    names = {graph.nodes[i].label: i for i in graph.inputs}
    for name in given:
        if name not in names:
            raise InputError(unknown_input_message(name, list(names)))
    bound: dict[int, np.ndarray] = {}
    dims: dict[str, tuple[int, str]] = {}  # named dimension -> (size, the input that fixed it)
    for name, index in names.items():
        if name not in given:
            raise InputError(f"no value given for input '{name}'", graph.span(index))
        node = graph.nodes[index]
        # asanyarray: a batch's points mapped from a file stay a np.memmap (or a Zarr array stays one), which
        # a chunk's worker can read itself
        value = given[name]
        if name not in batched:
            value = np.asarray(value)
        elif not hasattr(value, "rows"):
            value = np.asanyarray(value)
        lead = 1 if name in batched else 0
        if value.ndim - lead > MAX_DIMENSIONS:
            raise InputError(f"input '{name}' has {value.ndim} dimensions; arrays have at most {MAX_DIMENSIONS}")
        if node.dtype == INT:
            value = whole_numbers(value, name, graph.span(index))
        else:
            value = value.astype(np.float64, copy=False)
        declared = node.data
        if declared is not None:
            check_declared(graph, index, name, value.shape[lead:], declared, dims)
        bound[index] = value
    return bound


def whole_numbers(value: np.ndarray, name: str, span=None) -> np.ndarray:
    """An int input's value as int64: every element a whole number."""
    if hasattr(value, "rows"):  # a Zarr array of points, read a chunk at a time: integers as they are stored
        return value.astype(np.int64, copy=False)
    if value.dtype.kind in "iu":
        return value.astype(np.int64, copy=False)
    as_float = value.astype(np.float64)
    whole = np.isfinite(as_float) & (as_float == np.round(as_float))
    if not whole.all():
        raise InputError(f"input '{name}' is declared int, but its value holds {as_float[~whole].flat[0]:g}, "
                         f"not a whole number", span)
    huge = np.abs(as_float) >= 2.0**53  # from 2**53 on a float stands for more than one integer
    if huge.any():
        raise InputError(f"input '{name}' is declared int, but its value holds {as_float[huge].flat[0]:g}, a "
                         f"number read as float64, which holds whole numbers exactly only below 2**53 (9007199254740992); "
                         f"give large integers in an integer .npy file", span)
    return as_float.astype(np.int64)


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
    if name in NAMED_CONSTANTS:  # e, pi: the file reads the constant unless it declares the name
        return message + (f": '{name}' is the constant {NAMED_CONSTANTS[name]!r} unless the file binds the name; "
                          f"declare it (input {name}) to make it an input")
    close = difflib.get_close_matches(name, inputs, n=1)
    if close:
        return message + f"; did you mean '{close[0]}'?"
    return message + (f" (its inputs are {', '.join(inputs)})" if inputs else " (it has no inputs)")


# ---------------------------------------------------------------------------------------------
# Shapes before values
# ---------------------------------------------------------------------------------------------


def infer_shapes(graph: Graph, inputs: dict, stop: int, needed=None, check: bool = True) -> list:
    """Every node's shape up to `stop` (or only the `needed` ones), from the input shapes (node ->
    shape) by the registry's shape rules, each checked against the size limit unless `check` is
    False; a ShapeError at the first node whose operands do not fit."""
    nodes = graph.nodes
    shapes: list = [None] * stop
    for i in range(stop):
        if needed is not None and not needed[i]:
            continue
        node = nodes[i]
        op = node.op
        if op == INPUT:
            shapes[i] = tuple(inputs[i]) if i in inputs else None
            continue
        if op == CONST:
            shapes[i] = np.shape(node.data)
            continue
        args = [shapes[a] for a in node.args]
        rule = OPS[op]
        if rule.deriv_code is not None and len(args) == 2 and args[0] == args[1] and not node.params:
            shapes[i] = args[0]  # the common case, without a call into numpy
            continue
        try:
            shape = tuple(rule.shape(*args, **(node.params or {})))
        except Mismatch as e:
            raise ShapeError(str(e), node_span(graph, i, e)) from None
        except (ValueError, TypeError, IndexError, OverflowError) as e:
            raise ShapeError(f"{rule.func or op}() cannot take operands of shapes "
                             f"{', '.join(fmt_shape(a) for a in args)} ({e})", graph.span(i)) from None
        if check:
            check_size(shape, lambda m: ShapeError(m, graph.span(i)), f"'{node.label or 'this value'}'")
        shapes[i] = shape
    return shapes


def plan(graph: Graph, inputs: dict, stop: int) -> None:
    """Check every shape and size up to `stop` once per set of input shapes (cached on the graph)."""
    if graph.__dict__.get("_trusted"):  # a batched graph: its original was checked, point by point
        return
    key = (stop, tuple((i, np.shape(v)) for i, v in inputs.items()))
    cache = graph.__dict__.setdefault("_planned", set())
    if key in cache:
        return
    infer_shapes(graph, {i: np.shape(v) for i, v in inputs.items()}, stop)
    if len(cache) > 64:
        cache.clear()
    cache.add(key)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

def run_op(name: str, *args, **params):
    """An operation's numpy forward."""
    return OPS[name].forward(*args, **params)


def evaluate(graph: Graph, inputs: dict, upto: int | None = None, keep: list[bool] | None = None,
             apply=run_op) -> list:
    """The value of every node up to `upto` (default: all) and of every input, in evaluation order.

    `apply(name, *args, **params)` runs each operation: numpy's forward, or (adcli.engine.dual.apply,
    with dual inputs) forward mode by dual numbers.

    With `keep`, a computed value not marked in it is released after its last use as an operand:
    reverse mode keeps only what its backward pass reads. What stays in its place holds the shape
    (which derivative rules may read) and NaN, so a rule that wrongly read it would show.
    """
    nodes = graph.nodes
    stop = len(nodes) if upto is None else upto + 1
    plan(graph, inputs, stop)
    last_use = None if keep is None else graph.memo(("last uses", stop), lambda: last_uses(graph, stop))
    # Inputs first used after `upto` still get their values: their gradient is zeros of their shape.
    values: list = [None] * max([stop] + [i + 1 for i in inputs])
    for i in inputs:
        values[i] = inputs[i]
    # NaN and inf propagate as values; reporting them is a separate, explicit step, and no warning
    # of numpy's ("Mean of empty slice") reaches the user.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(stop):
            node = nodes[i]
            if node.op == INPUT:
                values[i] = inputs[i]
            elif node.op == CONST:
                values[i] = node.data
            else:
                args = [values[a] for a in node.args]
                try:
                    if node.op == "setitem" and last_use is not None and apply is run_op and \
                            updatable(nodes, values, args, node.args[0], i, last_use, keep):
                        # x[i] = v in a chain of updates (a stencil, a loop): nothing reads the old x
                        # after this and nothing else holds it, so the update writes into it: O(part)
                        values[i] = update_into(args[0], args[1], node.params["index"])
                    else:
                        values[i] = apply(node.op, *args, **(node.params or {}))
                except (ValueError, IndexError, TypeError, ArithmeticError) as e:
                    raise shape_error(graph, i, args, e) from None
                if last_use is not None:
                    for a in node.args:
                        if last_use[a] == i and not keep[a] and nodes[a].op not in LEAVES:
                            values[a] = placeholder(values[a])
    return values


def updatable(nodes, values, args, x: int, i: int, last_use, keep) -> bool:
    """Whether node i, an update of x, may write into x's array: x is an earlier update's own fresh
    array, nothing reads it after node i, and no other value holds it (a view of it holds a
    reference: the four expected are the values list's, args', `held`'s and getrefcount's own)."""
    held = args[0]
    return (last_use[x] == i and not keep[x] and nodes[x].op == "setitem" and isinstance(held, np.ndarray)
            and held.flags.owndata and held.flags.writeable and held.dtype == np.float64
            and np.result_type(held, args[1]) == np.float64 and sys.getrefcount(held) == 4)


def update_into(x: np.ndarray, v, index) -> np.ndarray:
    """x[index] = v, in x's own memory (see updatable), with set_at's result."""
    x[index] = v
    return x


_PLACEHOLDERS: dict = {}


def placeholder(value):
    """A released value's stand-in: NaN in its shape (one shared read-only array per shape)."""
    shape = value.shape if isinstance(value, np.ndarray) else np.shape(value)
    held = _PLACEHOLDERS.get(shape)
    if held is None:
        if len(_PLACEHOLDERS) > 256:
            _PLACEHOLDERS.clear()
        held = _PLACEHOLDERS[shape] = np.broadcast_to(np.nan, shape)
    return held


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
        message = str(cause) if isinstance(cause, IndexError) else f"{OPS[node.op].func or node.op}() failed: {cause}"
    except Mismatch as e:
        return ShapeError(str(e), node_span(graph, index, e))
    return ShapeError(message, graph.span(index))


__all__ = ["FLOAT", "INT", "bind_inputs", "evaluate", "infer_shapes", "plan", "unknown_input_message"]
