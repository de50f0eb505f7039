"""The computational graph as plain data, and its text renderings: tree, Graphviz DOT, Mermaid."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from adcli.engine.reverse import backward
from adcli.errors import AdError
from adcli.language.graph import CONST, INPUT, Graph
from adcli.language.shapes import symbolic_shapes
from adcli.numbers import format_short
from adcli.operations import OPS, fmt_shape

# ---------------------------------------------------------------------------------------------
# The view: one plain record per node, edges from operand to result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewNode:
    """What a picture of one value shows."""

    index: int
    id: str  # "n0": labels of constants may repeat, indices never do
    label: str  # W, U1, h', 3
    kind: str  # "input", "const" or "op"
    op: str  # "input", "const" or the registry name
    formula: str  # "W·x" from operand labels; "" for a leaf
    shape: str | None  # "[n, 3]", "scalar", or None when unknown
    line: int
    col: int
    value: str | None  # formatted, when values were given
    grad: str | None  # ∂output/∂this, for a scalar output with values given
    output: bool
    nonfinite: bool

    @property
    def title(self) -> str:
        """`U1 = W·x` for an operation, the label alone for a leaf."""
        return f"{self.label} = {self.formula}" if self.formula else self.label

    def details(self) -> str:
        """`matmul · scalar · 2:12`: operation, shape, source position."""
        return " · ".join(part for part in (self.op, self.shape, f"{self.line}:{self.col}") if part)

    def marks(self) -> list[str]:
        """Words that set the node apart: input, output, non-finite."""
        return ([self.kind] if self.kind == "input" else []) + (["output"] if self.output else []) + \
            (["non-finite"] if self.nonfinite else [])


@dataclass(frozen=True)
class GraphView:
    """The nodes in evaluation order and the edges (operand, result) in stable order."""

    file: str
    nodes: list[ViewNode]
    edges: list[tuple[int, int]]
    output: int
    caption: str  # "relu.ad · W = 2, x = 3, b = 1"
    # Boxes around the nodes of a loop iteration or a function call: (id, label, path, member node
    # ids), a path being the context's parts from the outermost (("t = 0",), ("t = 0", "in cell")).
    clusters: list = field(default_factory=list)


NODE_WIDTH = 40  # characters of a value in a node: a picture needs the size of an array, not all of it


def compact(value) -> str:
    """A value short enough for a node: a number to 8 significant digits, an array abbreviated
    (fewer elements, then fewer digits) until it fits NODE_WIDTH characters."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return format_short(a)
    text = ""
    for digits, edge in ((8, 2), (4, 2), (4, 1), (3, 1)):
        text = np.array2string(a, separator=", ", formatter={"float_kind": lambda x, d=digits: format_short(x, d)},
                               threshold=0 if a.size > 4 else 1000, edgeitems=edge, max_line_width=10**9)
        text = " ".join(part.strip() for part in text.split("\n"))
        if len(text) <= NODE_WIDTH:
            break
    return text


def shape_name(shape) -> str:
    return "scalar" if len(shape) == 0 else fmt_shape(shape)


def node_gradients(graph: Graph, values: list, output: int) -> dict[int, object]:
    """∂output/∂node for every node the output depends on through an input (reverse mode)."""
    grads: dict[int, object] = {output: np.ones_like(values[output])}

    def keep(node, k, operand, before, upstream, contribution, after):
        grads[operand] = after  # the last update leaves the accumulator complete

    backward(graph, values, output, list(graph.inputs), on_update=keep)
    return grads


def build_view(graph: Graph, values: list | None = None, output: int | None = None,
               caption: str = "") -> GraphView:
    """The view of `graph`; with `values` (every node's), values and, for a scalar output, gradients."""
    output = graph.output if output is None else output
    out_label = graph.nodes[output].label
    shapes = symbolic_shapes(graph) if values is None else [tuple(np.shape(v)) for v in values]
    grads = {}
    if values is not None and np.size(values[output]) == 1:
        grads = node_gradients(graph, values, output)
    nodes, edges = [], []
    for i, node in enumerate(graph.nodes):
        kind = node.op if node.op in (INPUT, CONST) else "op"
        formula = ""
        if kind == "op":
            labels = [graph.nodes[a].label for a in node.args]
            scalar = all(shapes[a] == () for a in node.args)
            # as the file wrote it: ones([n]), not the internal filled(x) that reads x's shape
            formula = OPS[node.op].formula(labels, scalar=scalar, params=node.params or {})
            edges.extend((a, i) for a in node.args)
        value = None if values is None else values[i]
        grad = None if i not in grads else f"∂{out_label}/∂{node.label} = {compact(grads[i])}"
        bad = (value is not None and not np.isfinite(value).all()) or (
            i in grads and not np.isfinite(grads[i]).all())
        shown_op = (node.params or {}).get("kind", node.op) if node.op == "filled" else node.op
        nodes.append(ViewNode(i, f"n{i}", node.label, kind, shown_op, formula,
                              None if shapes[i] is None else shape_name(shapes[i]), node.line, node.col,
                              None if value is None else compact(value), grad, i == output, bool(bad)))
    return GraphView(graph.file, nodes, edges, output, caption)


# ---------------------------------------------------------------------------------------------
# Tree text: the output's operands below it, shared values shown once
# ---------------------------------------------------------------------------------------------

GLYPHS = {"unicode": ("├─ ", "└─ ", "│  ", "   "), "ascii": ("|- ", "`- ", "|  ", "   ")}


@dataclass(frozen=True)
class TreeLine:
    """One line of the tree: the drawing before it, the node, and how it relates to other lines."""

    prefix: str
    node: int
    note: str = ""  # "shown above", "continued below" (too deep to draw here), "continued" (from above)

    @property
    def repeat(self) -> bool:
        return self.note == "shown above"


MAX_DEPTH = 12  # deeper operands start a tree of their own below, so the drawing stays linear in size


def tree_lines(view: GraphView, ascii_only: bool = False) -> list[TreeLine]:
    """Each value that nothing else uses is a root; below it, its operands, depth first.

    A value (an input too) is drawn once; later uses say "shown above". Past MAX_DEPTH levels an
    operand is drawn as a root of its own further down ("continued below"), so every line's
    drawing is at most MAX_DEPTH levels wide and the text grows linearly with the graph, however
    deep the nesting.
    """
    tee, last, bar, blank = GLYPHS["ascii" if ascii_only else "unicode"]
    used = [False] * len(view.nodes)
    operands: list[list[int]] = [[] for _ in view.nodes]
    for a, r in view.edges:
        used[a] = True
        operands[r].append(a)
    roots = [n.index for n in view.nodes if not used[n.index]]
    lines: list[TreeLine] = []
    shown = [False] * len(view.nodes)
    deferred: list[int] = []  # subtrees too deep to draw where they are used, drawn later as roots
    queue = list(reversed(roots))
    while queue or deferred:
        start = queue.pop() if queue else deferred.pop(0)
        continued = not queue and start not in roots
        # An explicit stack of (node, prefix, prefix for its children, depth): deep files cannot overflow.
        stack = [(start, "", "", 0)]
        while stack:
            index, prefix, child_prefix, depth = stack.pop()
            node = view.nodes[index]
            if shown[index] and node.kind != "const":
                lines.append(TreeLine(prefix, index, "shown above"))
                continue
            if depth >= MAX_DEPTH and node.kind == "op":
                lines.append(TreeLine(prefix, index, "continued below"))
                deferred.append(index)
                continue
            lines.append(TreeLine(prefix, index, "continued" if depth == 0 and continued else ""))
            shown[index] = True
            kids = operands[index]
            for j in range(len(kids) - 1, -1, -1):
                end = j == len(kids) - 1
                stack.append((kids[j], child_prefix + (last if end else tee),
                              child_prefix + (blank if end else bar), depth + 1))
    return lines


def node_text(node: ViewNode, note: str = "") -> str:
    """A node on one line: title, details, value, gradient and marks (or a reference to it)."""
    if note in ("shown above", "continued below"):
        return f"{node.label} ({note})"
    parts = [node.title, node.details()]
    if node.value is not None:
        parts.append(f"value {node.value}")
    if node.grad is not None:
        parts.append(node.grad)
    marks = node.marks() + (["continued from above"] if note == "continued" else [])
    return "  ".join(parts) + (f"  [{', '.join(marks)}]" if marks else "")


def tree_text(view: GraphView, ascii_only: bool = False) -> str:
    """The whole tree as plain text, one node per line."""
    return "\n".join(line.prefix + node_text(view.nodes[line.node], line.note)
                     for line in tree_lines(view, ascii_only)) + "\n"


# ---------------------------------------------------------------------------------------------
# Graphviz DOT and Mermaid
# ---------------------------------------------------------------------------------------------

COLOURS = {  # fill, border
    "input": ("#dbeafe", "#1d4ed8"),
    "const": ("#f3f4f6", "#6b7280"),
    "op": ("#ffffff", "#374151"),
    "output": ("#dcfce7", "#15803d"),
    "nonfinite": ("#fee2e2", "#b91c1c"),
}


def style_of(node: ViewNode) -> str:
    """The colour class: non-finite over output over the node's kind."""
    return "nonfinite" if node.nonfinite else "output" if node.output else node.kind


def fields(node: ViewNode) -> list[str]:
    """The lines of a node's box."""
    parts = [node.title, node.details()]
    if node.value is not None:
        parts.append(f"value {node.value}")
    if node.grad is not None:
        parts.append(node.grad)
    return parts


def dot_record(text: str) -> str:
    """Escape text for a field of a Graphviz record label inside a quoted string."""
    out = []
    for ch in text:
        if ch in '\\{}|<>"':
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def dot_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(view: GraphView, ids: bool = False) -> str:
    """Valid Graphviz: left to right, one record per node, edges from operand to result. With `ids`,
    every node and edge carries an id a page can find in the SVG (n3; e5-1: operand 1 of node 5)."""
    lines = ["digraph adcli {", "  rankdir=LR;",
             '  node [shape=record, fontname="Helvetica", fontsize=11, style="rounded,filled"];',
             '  edge [color="#4b5563", arrowsize=0.7];']
    if view.caption:
        lines.append(f'  label="{dot_string(view.caption)}"; labelloc=t; fontname="Helvetica"; fontsize=12;')
    for node in view.nodes:
        fill, border = COLOURS[style_of(node)]
        label = "|".join(dot_record(f) for f in fields(node))  # with rankdir=LR, bare fields stack
        extra = ", penwidth=2.5" if node.output or node.nonfinite else ""
        ident = f'id="{node.id}", ' if ids else ""
        lines.append(f'  {node.id} [{ident}label="{label}", fillcolor="{fill}", color="{border}"{extra}];')
    lines += cluster_lines(view.clusters)
    operand = {}  # result -> how many of its operands' edges are written: edges come in operand order
    for a, r in view.edges:
        k = operand[r] = operand.get(r, -1) + 1
        lines.append(f'  n{a} -> n{r} [id="e{r}-{k}"];' if ids else f"  n{a} -> n{r};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def cluster_lines(clusters: list) -> list[str]:
    """Nested `subgraph cluster_…` blocks naming their nodes, written without recursion: sorted by
    path, a cluster follows the one it is inside, and a stack closes each when the next is not in it."""
    lines, open_paths = [], []
    for ident, label, path, members in sorted(clusters, key=lambda c: c[2]):
        while open_paths and path[:len(open_paths[-1])] != open_paths[-1]:
            open_paths.pop()
            lines.append("  " * (len(open_paths) + 1) + "}")
        pad = "  " * (len(open_paths) + 1)
        lines.append(f'{pad}subgraph cluster_{ident} {{ id="{ident}"; label="{dot_string(label)}"; '
                     'style="rounded,dashed"; color="#9ca3af"; fontname="Helvetica"; fontsize=10;')
        if members:
            lines.append(f"{pad}  {'; '.join(members)};")
        open_paths.append(path)
    while open_paths:
        open_paths.pop()
        lines.append("  " * (len(open_paths) + 1) + "}")
    return lines


MERMAID_ESCAPES = {'"': "#quot;", "#": "#35;", "<": "#lt;", ">": "#gt;"}


def mermaid_text(text: str) -> str:
    """Escape text for a quoted Mermaid label (entity codes, which Mermaid decodes)."""
    return "".join(MERMAID_ESCAPES.get(ch, ch) for ch in text)


def to_mermaid(view: GraphView) -> str:
    """A valid Mermaid `flowchart LR` with quoted labels and a class per kind of node."""
    lines = ["flowchart LR"]
    for node in view.nodes:
        label = "<br/>".join(mermaid_text(f) for f in fields(node))
        lines.append(f'    {node.id}["{label}"]')
    for a, r in view.edges:
        lines.append(f"    n{a} --> n{r}")
    for style, (fill, border) in COLOURS.items():
        members = [n.id for n in view.nodes if style_of(n) == style]
        if members and style != "op":
            width = ",stroke-width:3px" if style in ("output", "nonfinite") else ""
            lines.append(f"    classDef {style} fill:{fill},stroke:{border}{width}")
            lines.append(f"    class {','.join(members)} {style}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Writing files
# ---------------------------------------------------------------------------------------------

TEXT_FORMATS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".txt": "tree"}
IMAGE_FORMATS = {".svg": "svg", ".png": "png"}


# Graphviz's layout is superlinear: a 3,000-line chain (6,000 nodes) takes it 20 s, and 60 lines that
# all read one input (180 nodes, long edges) take it longer than a minute and gigabytes of memory.
# So a picture is refused up front beyond these sizes, and dot is stopped after LAYOUT_SECONDS.
LAYOUT_NODES = 2000  # nodes dot is asked to lay out, at most
LAYOUT_EDGES = 4000  # edges, at most
LAYOUT_SECONDS = 30.0  # dot's time limit; ADCLI_LAYOUT_SECONDS sets another (tests set a tiny one)
PROGRESS_AFTER = 1.0  # seconds of layout before a terminal is told that dot is at work
SMALLER = ("draw a smaller part with --of NAME, or write text that needs no layout with --format mermaid "
           "or --format dot")


def layout_seconds() -> float:
    """dot's time limit in seconds: ADCLI_LAYOUT_SECONDS when set, else LAYOUT_SECONDS."""
    setting = os.environ.get("ADCLI_LAYOUT_SECONDS", "").strip()
    if not setting:
        return LAYOUT_SECONDS
    try:
        seconds = float(setting)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise AdError(f"ADCLI_LAYOUT_SECONDS={setting!r}: expected a positive number of seconds such as 30")
    return seconds


def dot_size(dot_text: str) -> tuple[int, int]:
    """The nodes and edges of a text `to_dot` wrote: one statement a line, `  n3 [` or `  n1 -> n3`."""
    return (len(re.findall(r"^  n\d+ \[", dot_text, re.MULTILINE)),
            len(re.findall(r"^  n\d+ -> ", dot_text, re.MULTILINE)))


def then(advice: str) -> str:
    return f"; {advice}" if advice else ""


def render_image(dot_text: str, image_format: str, timeout: float | None = None, advice: str = SMALLER) -> bytes:
    """An SVG or PNG drawn by Graphviz's `dot` program. An AdError, ending with `advice`, when the
    graph is beyond LAYOUT_NODES or LAYOUT_EDGES, when dot is missing or fails, or when it takes
    longer than `timeout` seconds (by default layout_seconds()); it is then stopped."""
    nodes, edges = dot_size(dot_text)
    if nodes > LAYOUT_NODES or edges > LAYOUT_EDGES:
        raise AdError(f"the graph has {nodes:,} nodes and {edges:,} edges, more than Graphviz's dot lays out in "
                      f"reasonable time (at most {LAYOUT_NODES:,} nodes and {LAYOUT_EDGES:,} edges){then(advice)}")
    program = shutil.which("dot")
    if program is None:
        raise AdError(f"drawing a .{image_format} needs Graphviz's 'dot' program, which is not installed; "
                      "install Graphviz (for example 'apt-get install graphviz' or 'brew install graphviz'), "
                      "or write the text with -o graph.dot")
    timeout = layout_seconds() if timeout is None else timeout
    try:
        process = subprocess.Popen([program, f"-T{image_format}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
    except OSError as e:
        raise AdError(f"Graphviz's dot could not be run ({e.strerror or e})") from None
    started = time.monotonic()
    with process:
        try:
            try:  # a first short wait, so that only a slow layout says anything
                out, err = process.communicate(dot_text.encode("utf-8"), timeout=min(PROGRESS_AFTER, timeout))
            except subprocess.TimeoutExpired:
                if sys.stderr is not None and sys.stderr.isatty():
                    print(f"adcli: Graphviz's dot is laying out {nodes:,} nodes (stopped after {timeout:g} s)...",
                          file=sys.stderr, flush=True)
                out, err = process.communicate(timeout=max(timeout - (time.monotonic() - started), 0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise AdError(f"Graphviz's dot took longer than {timeout:g} s to lay out the graph ({nodes:,} nodes, "
                          f"{edges:,} edges) and was stopped{then(advice)}") from None
    if process.returncode != 0:
        reason = err.decode("utf-8", "replace").strip() or f"exit status {process.returncode}"
        raise AdError(f"Graphviz's dot failed: {reason}{then(advice)}")
    return out
