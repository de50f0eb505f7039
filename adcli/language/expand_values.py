"""The values the expander holds before they become graph nodes (literals, `[a, b]` displays,
markers such as None and strings, functions, calls and loops being run), and the integer
arithmetic done while a file is read."""

from __future__ import annotations

import operator

import numpy as np

from adcli.language.graph import BOOL, FLOAT, INT

# ---------------------------------------------------------------------------------------------
# Values not yet in the graph
# ---------------------------------------------------------------------------------------------


class Literal:
    """A constant not yet placed in the graph, so `-3` and `[1, 2]` fold into one constant.

    A whole number written in the file (3, not 3.0), a loop variable and `+ - * @` on them hold a
    Python int: exact however large, until it is placed in the graph. `static` marks a loop
    variable or arithmetic on one: folded here, never a node of its own.
    """

    __slots__ = ("value", "line", "col", "text", "static")

    def __init__(self, value, line, col, text=None, static=False):
        self.value, self.line, self.col, self.text, self.static = value, line, col, text, static


class Display:
    """`[a, b, ...]` before it is known whether it is an array or a list of operands."""

    __slots__ = ("items", "line", "col", "depth")

    def __init__(self, items, line, col, depth):
        self.items, self.line, self.col, self.depth = items, line, col, depth


class Marker:
    """`None` (a new axis in a subscript) or a string (einsum's spec): meaningful only in one place."""

    __slots__ = ("kind", "value", "line", "col")

    def __init__(self, kind, value, line, col):
        self.kind, self.value, self.line, self.col = kind, value, line, col


class Function:
    """A `def`: its parameters and where its body's instructions are."""

    __slots__ = ("name", "params", "positions", "start", "end", "line", "col", "size")

    def __init__(self, name, params, positions, start, end, line, col, size=0):
        self.name, self.params, self.positions = name, params, positions
        self.start, self.end, self.line, self.col = start, end, line, col
        self.size = size  # about how many operations one call makes (its body, and the calls in it)


class Call:
    """A function call being expanded: its local names, and where to go on when it returns."""

    __slots__ = ("function", "env", "back", "line", "col")

    def __init__(self, function, env, back, line, col):
        self.function, self.env, self.back, self.line, self.col = function, env, back, line, col


class Loop:
    """A `for` being unrolled: the variable, the values still to come, where the body starts, and
    how many nodes there were when it began (to foresee the whole loop's size)."""

    __slots__ = ("var", "values", "at", "start", "nodes_before", "line", "col")

    def __init__(self, var, values, start, nodes_before, line, col):
        self.var, self.values, self.at, self.start = var, values, 0, start
        self.nodes_before, self.line, self.col = nodes_before, line, col


def iterations(*bounds) -> int:
    """len(range(*bounds)), for bounds too large for a range's length."""
    start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else (*bounds, 1)[:3]
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // -step)


INT64 = (-2**63, 2**63 - 1)
EXACT_FLOAT = 2**53  # from here on float64 skips whole numbers: a float this large may not be the one meant
# Integer arithmetic done while the file is read: exact on Python ints (`@` of scalars multiplies).
INTEGER_FOLDS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "matmul": operator.matmul}
FOLD_WORDS = {"add": "sum", "sub": "difference", "mul": "product", "matmul": "product"}


def is_integer(x) -> bool:
    """Held as an integer (a Python int, or numpy integers), not as a float or a boolean."""
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "iu" or x.dtype.kind == "O" and all(type(v) is int for v in x.flat)
    return type(x) is int or isinstance(x, np.integer)


def is_whole(x) -> bool:
    if is_integer(x):
        return np.ndim(x) == 0
    return np.ndim(x) == 0 and np.isfinite(x) and float(x).is_integer()


def dtype_of(value) -> str:
    kind = np.asarray(value).dtype.kind
    return BOOL if kind == "b" else INT if kind in "iu" else FLOAT
