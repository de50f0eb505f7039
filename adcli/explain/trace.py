"""Traces as data: every step of a reverse- or forward-mode computation, for the renderers to print.

A trace is a list of plain dataclasses holding labels, registry operation names and numpy values,
never text: `adcli.explain.formats` turns them into plain text, Markdown, LaTeX, JSON or Rich output.
The reverse trace follows the lecture's algorithm: initialise an accumulator per value while going
forward, seed the output, then record every accumulator update of `reverse.backward` in its order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.forward import push_tangent
from adcli.engine.reverse import backward
from adcli.errors import InputError, ShapeError
from adcli.language.graph import CONST, FLOAT, INPUT, LEAVES, Graph
from adcli.numbers import format_value
from adcli.operations import OPS, fmt_shape

# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------


@dataclass
class Arg:
    """An operand as a step shows it: a labelled value, or a constant written as itself."""

    node: int
    label: str  # the graph label (x, h', U1), or a constant's text (1, pi, [1, 2])
    value: object
    const: bool


@dataclass
class Given:
    """An input's value, listed before the steps."""

    node: int
    label: str
    value: object


@dataclass
class Init:
    """An accumulator set to zero: ∂y/∂x ← 0."""

    phase: ClassVar[str] = "forward"
    kind: ClassVar[str] = "init"
    node: int
    label: str
    value: object  # zeros in the value's shape


@dataclass
class Compute:
    """One value computed from its operands: u = x + 1 = 17 + 1 = 18."""

    phase: ClassVar[str] = "forward"
    kind: ClassVar[str] = "compute"
    node: int
    label: str
    op: str
    args: list[Arg]
    params: dict
    value: object
    line: int
    col: int
    temporary: bool = False  # a value the file does not name (U1, U2, ...)


@dataclass
class Seed:
    """The output's accumulator set to one: ∂y/∂y ← 1."""

    phase: ClassVar[str] = "backward"
    kind: ClassVar[str] = "seed"
    node: int
    label: str
    value: object


@dataclass
class Accumulate:
    """One accumulator update: operand `k` of `source` receives its share of the upstream gradient."""

    phase: ClassVar[str] = "backward"
    kind: ClassVar[str] = "accumulate"
    node: int  # the operand whose accumulator grows
    label: str
    source: int  # the node whose gradient flows back
    source_label: str
    k: int  # which operand of `source` this is
    op: str
    args: list[Arg]  # all operands of `source`, for the formulas
    params: dict
    before: object  # None when the accumulator still held its initial zero
    upstream: object
    contribution: object
    after: object
    local: object  # the local derivative as a number (scalar form only), else None
    summed_axes: tuple  # axes of the upstream gradient summed away because the operand was broadcast
    scalar: bool  # every operand and the result are scalars: the lecture's notation applies
    line: int
    col: int


@dataclass
class Recompute:
    """Checkpointing: a segment's values computed again before its backward steps."""

    phase: ClassVar[str] = "backward"
    kind: ClassVar[str] = "recompute"
    node: int  # the segment's last node
    labels: list[str]  # the values recomputed, in order
    checkpoints: list[str]  # the values kept by the forward pass that they are computed from
    inputs: list[str]  # and the inputs they read
    line: int = 0


@dataclass
class Result:
    """An input's final gradient."""

    phase: ClassVar[str] = "backward"
    kind: ClassVar[str] = "result"
    node: int
    label: str
    value: object


@dataclass
class Trace:
    """A reverse-mode trace: the output, the given inputs, and the steps in order."""

    mode: ClassVar[str] = "reverse"
    file: str
    output: str
    output_node: int
    value: object
    given: list[Given]
    steps: list = field(default_factory=list)
    contexts: dict = field(default_factory=dict)  # node -> "t = 2; in cell, called at ...", where not top level
    hidden: dict = field(default_factory=dict)  # node -> the loop iteration folding leaves it out of listings
    folding: str = "all"  # the iterations listed (--iterations), "all" with --unroll

    def where(self, step) -> str:
        """The loop iteration and call a step belongs to ("" at the top level of the file)."""
        return step_context(self, step)


# ---- forward mode -----------------------------------------------------------------------------


@dataclass
class TangentInput:
    """An input with its seeded tangent: x = 17, ẋ = 1."""

    phase: ClassVar[str] = "forward"
    kind: ClassVar[str] = "input"
    node: int
    label: str
    value: object
    tangent: object


@dataclass
class TangentCompute:
    """A value and its tangent: u = x + 1 = 18, u̇ = ẋ + 0 = 1."""

    phase: ClassVar[str] = "forward"
    kind: ClassVar[str] = "compute"
    node: int
    label: str
    op: str
    args: list[Arg]
    arg_tangents: list  # each operand's tangent (zeros for a constant)
    params: dict
    value: object
    tangent: object
    terms: list  # operand k's share of the tangent, the jvp with only tangent k non-zero
    locals: list  # operand k's local derivative as a number (all-scalar steps only), else None
    line: int
    col: int


@dataclass
class TangentResult:
    """The output's value and tangent: the directional derivative along the seed."""

    phase: ClassVar[str] = "forward"
    kind: ClassVar[str] = "result"
    node: int
    label: str
    value: object
    tangent: object


@dataclass
class ForwardTrace:
    """A forward-mode trace: the tangent seed, the given inputs, and every (value, tangent) pair."""

    mode: ClassVar[str] = "forward"
    file: str
    output: str
    output_node: int
    value: object
    tangent: object
    wrt: str  # as given: x, or x[1, 0] for one element
    wrt_label: str  # the input's label
    seed: str  # "one" (scalar), "ones" (every element) or "one-hot" (one element)
    index: tuple | None
    given: list[Given]
    steps: list = field(default_factory=list)
    contexts: dict = field(default_factory=dict)
    hidden: dict = field(default_factory=dict)
    folding: str = "all"

    def where(self, step) -> str:
        return step_context(self, step)


def step_context(trace, step) -> str:
    """The context of the node a step is about: the operation it computes or differentiates."""
    node = step.source if step.kind == "accumulate" else step.node
    return trace.contexts.get(node, "") if step.kind in ("compute", "accumulate", "init") else ""


def contexts_of(graph: Graph, upto: int) -> dict:
    """node -> its context in words, for the nodes made inside a loop or a function call."""
    return {i: graph.where(i) for i in range(upto + 1) if graph.nodes[i].ctx}


# ---------------------------------------------------------------------------------------------
# Building the reverse trace
# ---------------------------------------------------------------------------------------------


def make_arg(graph: Graph, index: int, values: list) -> Arg:
    """Operand `index` as shown in a step: constants by their own text or value, others by label."""
    node = graph.nodes[index]
    if node.op == CONST:
        text = node.label if np.ndim(node.data) == 0 and node.label else None
        return Arg(index, text or format_value(node.data), values[index], True)
    return Arg(index, node.label, values[index], False)


def summed_axes(operand_shape, result_shape) -> tuple:
    """The axes of the result that broadcasting added or stretched for an operand: where its share is summed."""
    lead = len(result_shape) - len(operand_shape)
    stretched = [lead + j for j, n in enumerate(operand_shape) if n == 1 and result_shape[lead + j] != 1]
    return tuple(range(lead)) + tuple(stretched)


def inputs_and_values(program, given: dict, out: int) -> tuple[dict, list]:
    """Every input's value (node -> value), and every node's value up to the output."""
    bound = bind_inputs(program.graph, given)
    return bound, evaluate(program.graph, bound, out)


def require_scalar_output(graph: Graph, name: str, index: int, value) -> None:
    """Reverse mode starts from one number; say how to get one, or to use forward mode."""
    shape = np.shape(value)
    if int(np.prod(shape)) != 1:
        raise ShapeError(f"a reverse-mode trace needs a scalar output, but '{name}' has shape "
                         f"{fmt_shape(shape)}; reduce it first, for example sum({name}), or trace "
                         "forward mode with --mode forward --wrt NAME", graph.span(index))


def reverse_trace(program, given: dict, of: str | None = None, wrt=None, schedule=None) -> Trace:
    """The lecture's listing for `program` at the given inputs: forward, backward, result. With a
    checkpointing schedule, the backward phase says where each segment is recomputed."""
    graph = program.graph
    name, out = program.output_node(of)
    bound, values = inputs_and_values(program, given, out)
    require_scalar_output(graph, name, out, values[out])
    wrt_nodes = program.wrt_nodes(wrt)
    nodes = graph.nodes
    trace = Trace(graph.file, name, out, values[out], [Given(i, nodes[i].label, bound[i]) for i in graph.inputs],
                  contexts=contexts_of(graph, out))
    steps = trace.steps
    for w in wrt_nodes:
        steps.append(Init(w, nodes[w].label, np.zeros(np.shape(bound[w]))))
    for i in range(out + 1):
        node = nodes[i]
        if node.op in LEAVES:
            continue
        steps.append(Compute(i, node.label, node.op, [make_arg(graph, a, values) for a in node.args],
                             dict(node.params or {}), values[i], node.line, node.col, node.name is None))
        if node.dtype == FLOAT:  # integers, booleans and constants made from shapes have no accumulator
            steps.append(Init(i, node.label, np.zeros(np.shape(values[i]))))
    if nodes[out].op != CONST:  # a constant output has no accumulator to seed
        steps.append(Seed(out, nodes[out].label, np.ones_like(values[out], dtype=np.float64)))

    def record(i, k, a, before, upstream, contribution, after):
        """backward's on_update hook: one Accumulate step per accumulator update."""
        node = nodes[i]
        op = OPS[node.op]
        xs = [values[j] for j in node.args]
        scalar = np.ndim(values[i]) == 0 and all(np.ndim(x) == 0 for x in xs)
        local = None
        if scalar:  # the local derivative alone: the vjp of a unit upstream gradient
            local = op.vjp(k, np.float64(1.0), values[i], xs, node.params or {})
        axes = summed_axes(np.shape(values[a]), np.shape(values[i])) if op.elementwise else ()
        steps.append(Accumulate(a, nodes[a].label, i, node.label, k, node.op,
                                [make_arg(graph, j, values) for j in node.args], dict(node.params or {}),
                                before, upstream, contribution, after, local, axes, scalar,
                                node.line, node.col))

    used = [w for w in wrt_nodes if w <= out]  # an input first used after the output (--of) cannot affect it
    with np.errstate(all="ignore"):
        if schedule is None:
            grads = backward(graph, values, out, used, on_update=record)
        else:
            from adcli.engine.checkpoint import grad as checkpointed

            def recompute(lo, hi, again):
                sources = sorted({a for i in again for a in nodes[i].args if nodes[a].op != CONST} - set(again))
                steps.append(Recompute(hi, [nodes[i].label for i in again],
                                       [nodes[a].label for a in sources if nodes[a].op != INPUT],
                                       [nodes[a].label for a in sources if nodes[a].op == INPUT]))
            grads = checkpointed(graph, bound, out, used, schedule, on_segment=recompute, on_update=record)[1]
    for w in wrt_nodes:
        steps.append(Result(w, nodes[w].label, grads[w] if w <= out else np.zeros(np.shape(bound[w]))))
    return trace


# ---------------------------------------------------------------------------------------------
# Building the forward trace
# ---------------------------------------------------------------------------------------------

WRT_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*'*)\s*(?:\[([-0-9,\s]*)\])?\s*$")


def parse_wrt(text: str) -> tuple[str, tuple | None]:
    """`x` or `x[1, 0]` -> (name, index or None)."""
    match = WRT_PATTERN.match(text)
    if not match:
        raise InputError(f"--wrt {text}: expected NAME or NAME[i, j, ...], such as x or W[0, 1]")
    name, index = match.group(1), match.group(2)
    if index is None:
        return name, None
    try:
        return name, tuple(int(part) for part in index.split(","))
    except ValueError:
        raise InputError(f"--wrt {text}: the index must be whole numbers separated by commas") from None


def tangent_seed(text: str, name: str, index, value) -> tuple[np.ndarray, str, tuple | None]:
    """The seeded input's tangent: 1 for a scalar, all ones for an array, or one-hot at `index`."""
    shape = np.shape(value)
    if index is None:
        return np.ones(shape), ("one" if shape == () else "ones"), None
    if len(index) != len(shape):
        raise InputError(f"--wrt {text}: '{name}' has shape {fmt_shape(shape)}, so the index needs "
                         f"{len(shape)} number{'s' if len(shape) != 1 else ''}, not {len(index)}")
    for i, n in zip(index, shape):
        if not -n <= i < n:
            raise InputError(f"--wrt {text}: index {i} is out of range for a dimension of size {n}")
    index = tuple(i % n for i, n in zip(index, shape))
    seed = np.zeros(shape)
    seed[index] = 1.0
    return seed, "one-hot", index


def forward_trace(program, given: dict, wrt: str | None, of: str | None = None) -> ForwardTrace:
    """Every value with its tangent along the seeded input, in evaluation order (dual numbers)."""
    graph = program.graph
    nodes = graph.nodes
    if wrt is None:
        if len(graph.inputs) != 1:
            names = ", ".join(graph.input_names()) or "none"
            raise InputError(f"forward mode traces one input's tangent: give --wrt NAME (inputs: {names})")
        wrt = nodes[graph.inputs[0]].label
    name, index = parse_wrt(wrt)
    (seeded,) = program.wrt_nodes([name])
    out_name, out = program.output_node(of)
    bound, values = inputs_and_values(program, given, out)
    seed, kind, index = tangent_seed(wrt, name, index, bound[seeded])
    trace = ForwardTrace(graph.file, out_name, out, values[out], None, wrt.strip(), nodes[seeded].label,
                         kind, index, [Given(i, nodes[i].label, bound[i]) for i in graph.inputs],
                         contexts=contexts_of(graph, out))
    # None marks a value that does not depend on the seeded input: its tangent is 0, and the
    # jvp rules skip it rather than multiply 0 by a local derivative that may be infinite.
    tangents: list = [None] * (out + 1)
    with np.errstate(all="ignore"):
        for i in range(out + 1):
            node = nodes[i]
            if node.op == INPUT:
                tangents[i] = seed if i == seeded else None
                trace.steps.append(TangentInput(i, node.label, values[i], shown(tangents[i], values[i])))
            elif node.op != CONST:
                tangents[i] = tangent_step(graph, i, values, tangents, trace.steps)
    trace.tangent = shown(tangents[out], values[out])
    trace.steps.append(TangentResult(out, nodes[out].label, values[out], trace.tangent))
    return trace


def shown(tangent, value) -> np.ndarray:
    """A tangent as listed: zeros in the value's shape for one that does not depend on the seed."""
    return np.zeros(np.shape(value)) if tangent is None else np.asarray(tangent, dtype=np.float64)


def tangent_step(graph: Graph, i: int, values: list, tangents: list, steps: list):
    """Append node i's TangentCompute step and return its tangent (None if it has none)."""
    node = graph.nodes[i]
    op = OPS[node.op]
    params = node.params or {}
    xs = [values[a] for a in node.args]
    ts = [tangents[a] for a in node.args]
    total = push_tangent(op, ts, values[i], xs, params)
    terms = []  # the jvp is linear in the tangents: operand k's term has only tangent k
    for k in range(len(xs)):
        only_k = [t if j == k else None for j, t in enumerate(ts)]
        terms.append(shown(push_tangent(op, only_k, values[i], xs, params), values[i]))
    scalar = np.ndim(values[i]) == 0 and all(np.ndim(x) == 0 for x in xs)
    locals_ = [op.vjp(k, np.float64(1.0), values[i], xs, params) if scalar else None for k in range(len(xs))]
    steps.append(TangentCompute(i, node.label, node.op, [make_arg(graph, a, values) for a in node.args],
                                [shown(t, x) for t, x in zip(ts, xs)], dict(params), values[i],
                                shown(total, values[i]), terms, locals_, node.line, node.col))
    return total
