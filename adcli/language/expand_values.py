"""The values the expander holds before they become graph nodes (literals, `[a, b]` displays,
markers such as None and strings), and the functions, calls and loops it runs: plain data."""

from __future__ import annotations

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

    __slots__ = ("name", "params", "positions", "start", "end", "line", "col", "size", "assigns", "rule")

    def __init__(self, name, params, positions, start, end, line, col, size=0, assigns=None):
        self.name, self.params, self.positions = name, params, positions
        self.start, self.end, self.line, self.col = start, end, line, col
        self.size = size  # about how many operations one call makes (its body, and the calls in it)
        self.assigns = assigns or {}  # name -> line of its first assignment in the body: local throughout
        self.rule = None  # its derivative rule (def f.vjp), if the file gives one


class Call:
    """A function call being expanded: its local names, and where to go on when it returns."""

    __slots__ = ("function", "env", "back", "line", "col")

    def __init__(self, function, env, back, line, col):
        self.function, self.env, self.back, self.line, self.col = function, env, back, line, col


class Loop:
    """A `for` being unrolled: the variable, the values still to come, where the body starts, how
    many nodes there were when it began (to foresee the whole loop's size), and its scope."""

    __slots__ = ("var", "values", "at", "start", "nodes_before", "line", "col", "call", "gaps", "listed", "done")

    def __init__(self, var, values, start, nodes_before, line, col, call=None):
        self.var, self.values, self.at, self.start = var, values, 0, start
        self.nodes_before, self.line, self.col = nodes_before, line, col
        self.call = call  # the function call whose local it is (None: the file's)
        # For a trace of a very long loop: the runs of iterations it does not list, (start, stop), each
        # kept as a loop, and how many it unrolls; and how many iterations it has unrolled so far.
        self.gaps: list[tuple[int, int]] = []
        self.listed, self.done = len(values), 0
