"""Forward mode over a graph: one pass carries each value's tangent beside it, by the jvp rules.

As in the lecture, every value y is paired with ẏ = ∂y/∂(a direction in the inputs), and every
operation is replaced by two: its forward for the value and its jvp rule for the tangent. A
gradient therefore costs one pass per input element, where reverse mode needs one pass in all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from adcli.engine.evaluate import bind_inputs, evaluate, unknown_input_message
from adcli.engine.results import Gradient, require_scalar
from adcli.errors import InputError
from adcli.language.graph import CONST, FLOAT, INPUT, Graph
from adcli.operations import OPS, Op, fmt_shape

if TYPE_CHECKING:  # only in annotations: the engine's modules do not import the Program they serve
    from adcli.engine.program import Program


def push_tangent(op: Op, tangents, ans, xs, params):
    """The result's tangent by `op`'s jvp rule, in the result's shape.

    A tangent of None marks an operand that does not depend on the direction (a constant); the
    result's is None too when no operand has one, so inactive values cost nothing.
    """
    if all(t is None for t in tangents) or not op.differentiable:
        return None  # a constant, or a comparison or count: no tangent
    if not op.elementwise:  # structural rules want every tangent; a constant's is zero
        tangents = [np.zeros_like(x) if t is None else t for t, x in zip(tangents, xs)]
    tangent = op.jvp(tangents, ans, xs, params)
    if np.shape(tangent) != np.shape(ans):  # e.g. ẋ·1 for x + v, a scalar x and a vector v
        tangent = np.broadcast_to(tangent, np.shape(ans))
    return tangent


def tangents(graph: Graph, values: list, output: int, seeds: dict) -> list:
    """Every node's tangent up to `output`, given the values and the seeded inputs' tangents.

    Inputs without a seed, constants, and values that depend on no seeded input get None (zero).
    """
    nodes = graph.nodes
    result: list = [None] * (output + 1)
    with np.errstate(all="ignore"):
        for i in range(output + 1):
            node = nodes[i]
            if node.op == INPUT:
                result[i] = seeds.get(i)
            elif node.op != CONST and node.dtype == FLOAT:
                ts = [result[a] for a in node.args]
                xs = [values[a] for a in node.args]
                result[i] = push_tangent(OPS[node.op], ts, values[i], xs, node.params or {})
    return result


def tangent_or_zeros(tangent, value):
    """A tangent as a float64 array; None (no dependence) becomes zeros of the value's shape."""
    if tangent is None:
        return np.zeros(np.shape(value))
    return np.array(tangent, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# The Python API behind `adcli jvp` and `adcli grad --mode forward`
# ---------------------------------------------------------------------------------------------

@dataclass
class JVP:
    """The output's value and its directional derivative along the given input tangents."""

    output: str
    value: np.ndarray
    tangent: np.ndarray
    seeds: dict[str, np.ndarray]  # input name -> its tangent, for the inputs given one


def require_differentiable(program: Program, name: str, option: str = "--tangent") -> None:
    """A tangent only for an input that is differentiated: data and integers are refused as
    --wrt refuses them, in the words of --tangent (or `option`)."""
    try:
        program.wrt_nodes([name])
    except InputError as e:
        raise InputError(e.message.replace("--wrt", option, 1), e.span) from None


def seed_tangents(program: Program, bound: dict, directions: dict, option: str = "--tangent",
                  what: str = "a tangent") -> dict[int, np.ndarray]:
    """Input node -> tangent, each checked against its input's shape (a scalar broadcasts)."""
    graph = program.graph
    by_name = {graph.nodes[i].label: i for i in graph.inputs}
    seeds = {}
    for name, tangent in directions.items():
        if name not in by_name:
            raise InputError(f"{option} {name}: " + unknown_input_message(name, list(by_name)))
        require_differentiable(program, name, option)
        node = by_name[name]
        shape = np.shape(bound[node])
        t = np.asarray(tangent, dtype=np.float64)
        try:
            seeds[node] = np.array(np.broadcast_to(t, shape))
        except ValueError:
            raise InputError(f"{option} {name}: {what} of shape {fmt_shape(t.shape)} does not fit "
                             f"input '{name}' of shape {fmt_shape(shape)}") from None
    return seeds


def jvp(program: Program, directions: dict, of: str | None = None, **given) -> JVP:
    """Value and directional derivative of the output along `directions` (input name -> tangent);
    inputs without a tangent get 0."""
    name, out = program.output_node(of)
    graph = program.graph
    bound = bind_inputs(graph, given)
    seeds = seed_tangents(program, bound, directions)
    values = evaluate(graph, bound, out)
    tangent = tangents(graph, values, out, seeds)[out]
    return JVP(name, values[out], tangent_or_zeros(tangent, values[out]),
               {graph.nodes[i].label: t for i, t in seeds.items()})


def unit(shape, index) -> np.ndarray:
    """The one-hot array of `shape` with a 1 at `index`."""
    e = np.zeros(shape)
    e[index] = 1.0
    return e


def forward_grad(program: Program, of: str | None = None, wrt=None, **given) -> Gradient:
    """The gradient by forward mode: one pass per element of every input in `wrt`."""
    name, out = program.output_node(of)
    graph = program.graph
    values = evaluate(graph, bind_inputs(graph, given), out)
    require_scalar(graph, name, out, values[out])
    grads = {}
    for w in program.wrt_nodes(wrt):
        shape = np.shape(values[w])
        g = np.zeros(shape)
        for index in np.ndindex(shape):
            t = tangents(graph, values, out, {w: unit(shape, index)})[out]
            g[index] = 0.0 if t is None else float(np.reshape(t, ()))
        grads[graph.nodes[w].label] = g
    value = values[out]
    return Gradient(name, np.float64(value) if np.ndim(value) == 0 else value, grads)

