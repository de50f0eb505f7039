"""The computational graph: a flat list of nodes in evaluation (topological) order."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field

from adcli.errors import Span

INPUT = "input"
CONST = "const"
LEAVES = (INPUT, CONST)


FLOAT, INT, BOOL = "f", "i", "b"
SHAPED = "c"  # a float made from shapes alone (zeros([n, 3]), eye(n)): a constant, never differentiated


class Node:
    """One value: an input, a constant, or an operation applied to earlier nodes."""

    __slots__ = ("op", "args", "params", "name", "label", "line", "col", "data", "dtype", "ctx", "extra")

    def __init__(self, op, args=(), params=None, name=None, label=None, line=0, col=0, data=None,
                 dtype=FLOAT, ctx=0, extra=None):
        self.op = op  # "input", "const", or a registry operation name
        self.args = args  # operand node indices, all smaller than this node's
        self.params = params  # {"axis": k} for reductions, else None
        self.name = name  # the name the file gives it, None for a temporary
        self.label = label  # unique display label: x, h′, U1, 3
        self.line = line  # where the operator, function name or literal stands
        self.col = col
        self.data = data  # a constant's value, or an input's declared shape
        self.dtype = dtype  # FLOAT, INT or BOOL: only floats are differentiated
        self.ctx = ctx  # which loop iteration and function call made it (Graph.contexts)
        self.extra = extra  # an input's role ("data"), or where each index of a subscript stands

    def __repr__(self):
        return f"Node({self.label!r}, {self.op!r}, {self.args!r})"


@dataclass
class Graph:
    """The nodes, which of them are inputs and outputs, and the source they came from."""

    nodes: list[Node]
    inputs: list[int]  # input order: declared first, then by first use
    assigned: list[tuple[str, int]]  # (label, node) for every assignment, in file order
    names: dict[str, int]  # each name's latest binding
    file: str = "<input>"
    source: str = ""
    # Loop iterations and calls, by Node.ctx: 0 is the top level, any other (the context around it,
    # its frame), so a chain of 10,000 calls holds 10,000 entries, not 10,000 tuples of up to 10,000.
    contexts: list[tuple] = field(default_factory=lambda: [()])
    _flat: tuple | None = field(default=None, repr=False)
    _heads: tuple | None = field(default=None, repr=False)

    @property
    def output(self) -> int:
        """The default output: the node of the last assignment."""
        return self.assigned[-1][1]

    @property
    def output_name(self) -> str:
        return self.assigned[-1][0]

    def input_names(self) -> list[str]:
        return [self.nodes[i].label for i in self.inputs]

    def differentiable(self, index: int) -> bool:
        """Whether an input is a parameter: a float input not declared as data."""
        node = self.nodes[index]
        return node.dtype == FLOAT and node.extra != "data"

    def parameters(self) -> list[int]:
        """The inputs differentiated by default: every float input not declared as data."""
        return [i for i in self.inputs if self.differentiable(i)]

    def where(self, index: int) -> str:
        """Which loop iterations and function calls made node `index`: "t = 2", "in dense (call at 7:5)"."""
        return self.context_words(self.nodes[index].ctx)

    def frames(self, ctx: int) -> tuple:
        """A context's frames, outermost first: ("call", name, line, col), ("for", var, value, line, ...)."""
        chain = []
        while ctx:
            ctx, frame = self.contexts[ctx]
            chain.append(frame)
        return tuple(reversed(chain))

    def context_words(self, ctx: int, short: bool = False) -> str:
        """context_text (with `short`, context_short) of a context, in time independent of its depth:
        the outermost three frames are kept per context, the innermost three are its own and its
        parents'."""
        if self._heads is None:
            depth, head = [0], [()]
            for parent, frame in self.contexts[1:]:
                depth.append(depth[parent] + 1)
                head.append(head[parent] + (frame,) if depth[parent] < 3 else head[parent])
            self._heads = (depth, head)
        depth, head = self._heads
        words = context_short if short else context_text
        if depth[ctx] <= 6:
            return words(self.frames(ctx))
        tail, at = [], ctx
        for _ in range(3):
            at, frame = self.contexts[at]
            tail.append(frame)
        return words(head[ctx] + tuple(reversed(tail)), depth[ctx])

    def flat(self) -> tuple[list[str], list[tuple]]:
        """(ops, operands): each node's operation and operand indices as two plain lists, made once.

        Fast paths read these instead of Node attributes, which cost more than the arithmetic.
        """
        if self._flat is None:
            self._flat = ([node.op for node in self.nodes], [node.args for node in self.nodes])
        return self._flat

    def memo(self, key: tuple, compute):
        """What a pass derives from the graph alone (last uses, activity, schedules), made once and
        reused: calls on the same program then allocate only their values. A few dozen are kept."""
        cache = self.__dict__.setdefault("_memo", {})
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[key] = compute()
        return cache[key]

    def span(self, index: int) -> Span:
        """The source position of node `index`, for error messages (with the call that made it)."""
        node = self.nodes[index]
        return Span(node.line, node.col, self.file, self.source, self.where(index))


def context_short(frames: tuple, depth: int | None = None) -> str:
    """A node's context in a few characters, for a table column: t=2, cell@14:9, while@3 (with
    `depth`, `frames` are the outermost three and innermost three of that many)."""
    parts = [f"{f[1]}@{f[2]}:{f[3]}" if f[0] == "call" else f"while@{f[3]}" if f[0] == "while" else f"{f[1]}={f[2]}"
             for f in frames]
    depth = len(parts) if depth is None else depth
    if depth > 6:  # deep nesting: the outermost and the innermost, the middle counted
        parts = parts[:3] + [f"… {depth - 6} more …"] + parts[-3:]
    return ", ".join(parts)


def context_text(frames: tuple, depth: int | None = None) -> str:
    """A node's context in words: the calls and loop iterations around it, outermost first (with
    `depth`, `frames` are the outermost three and innermost three of that many)."""
    parts = []
    for frame in frames:
        if frame[0] == "call":
            _, name, line, col = frame
            parts.append(f"in {name}, called at line {line}, col {col}")
        elif frame[0] == "while":
            parts.append(f"in the while loop of line {frame[3]}")
        else:
            parts.append(f"{frame[1]} = {frame[2]}")  # ("for", variable, value, line[, (iteration, count)])
    depth = len(parts) if depth is None else depth
    if depth > 6:  # deep nesting: the outermost and the innermost, the middle counted
        parts = parts[:3] + [f"… {depth - 6} more …"] + parts[-3:]
    return "; ".join(parts)


def is_count(node: Node) -> bool:
    """Whether a node is a scalar int input (input n: int), which the file may need as a number as
    it is read (range(n)): the program is then specialised to its value."""
    return node.op == INPUT and node.dtype == INT and node.data == ()


def versioned(name: str, version: int) -> str:
    """The label of a name's version-th assignment: h, h', h'', h''', then h'4, h'5, ..."""
    if version <= 1:
        return name
    return name + ("'" * (version - 1) if version <= 4 else f"'{version - 1}")


def label_temporaries(graph: Graph, prefix: str = "U") -> None:
    """Name unnamed computed nodes U1, U2, ... in evaluation order, skipping names the file uses."""
    taken = set(graph.names)
    k = 0
    for node in graph.nodes:
        if node.label is None:
            k += 1
            while f"{prefix}{k}" in taken:
                k += 1
            node.label = f"{prefix}{k}"


@contextmanager
def paused_gc():
    """Pause the cycle collector: graphs make no cycles, and its full passes over millions of
    fresh nodes would make building and evaluating a large graph quadratic."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
