"""Random well-formed programs (hypothesis): they parse as written, and their derivatives are right.

A program is drawn as a small syntax tree over the whole language: inputs of several shapes
(declared, with numbers or named dimensions, or used without a declaration), constants, pi, array
literals, every operator, every function (reductions with and without an axis, given by keyword
or by position), transposes, reuse of values and reassignment of names. Each program is

* printed by this file's own printer (minimal parentheses, random spacing, comments, `;` and
  line continuations) and parsed; adcli's value of every assignment must equal this file's own
  numpy evaluation of the tree, which checks precedence and associativity;
* printed back from its graph and parsed again: the graph (operations, operands, parameters,
  labels, constants, inputs, assignments) must be the same;
* evaluated at random points away from kinks and singularities (a point is rejected when any
  operand of relu/abs/max/min lies within MARGIN of a tie or of 0, when the argument of log,
  sqrt, a power's base or a divisor lies within MARGIN of 0, where tan nears a pole, or when any
  value exceeds LIMIT), where reverse mode must agree
  - with five-point central differences, step h = 1e-6·max(1, |x|), to FD_RTOL relative plus
    FD_ATOL·(1 + |output|) absolute (the truncation and rounding error of the difference), and
  - with forward mode (adcli.forward, one pass per input element) to 1e-10 relative to the
    largest gradient element.

CI runs a fixed, derandomized set of EXAMPLES programs. `pytest -m slow tests/test_random_programs.py`
runs a fresh random set of ADCLI_RANDOM_EXAMPLES programs (default 5,000).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import adcli
from adcli.graph import CONST, INPUT
from adcli.registry import OPS

EXAMPLES = 1000
SLOW_EXAMPLES = int(os.environ.get("ADCLI_RANDOM_EXAMPLES", "5000"))
MARGIN = 1e-3
LIMIT = 1e4
FD_RTOL = 1e-5
FD_ATOL = 1e-7
FORWARD_RTOL = 1e-10

SHAPES = [(), (2,), (3,), (1,), (2, 3), (3, 2), (1, 3), (2, 1), (2, 2, 3)]
DIM_NAMES = {1: "one", 2: "n", 3: "k"}  # a named dimension always stands for the same size
UNARY = ["relu", "exp", "log", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt", "abs"]
POSITIVE_UNARY = ["exp", "sigmoid"]  # positive whatever their operand
NEEDS_POSITIVE = ["log", "sqrt"]
REDUCTIONS = ["sum", "mean", "max", "min"]
ALONG_AXIS = ["softmax", "logsumexp"]

# The registry operations the generator can produce; a new operation must be added here.
GENERATED_OPS = {"add", "sub", "mul", "div", "pow", "neg", "relu", "exp", "log", "sin", "cos", "tan",
                 "tanh", "sigmoid", "sqrt", "abs", "maximum", "minimum", "matmul", "transpose", "stack",
                 "sum", "mean", "amax", "amin", "softmax", "logsumexp"}


def test_the_generator_covers_every_registry_operation():
    assert GENERATED_OPS == set(OPS)


# ---------------------------------------------------------------------------------------------
# Drawing programs: a tree is a tuple ("num", x) | ("pi",) | ("name", n) | ("list", items) |
# ("bin", symbol, a, b) | ("neg", a) | ("pos", a) | ("T", a) | ("call", f, args, axis, style)
# ---------------------------------------------------------------------------------------------

class Scope:
    """The names a program can use so far: name -> (shape, positive)."""

    def __init__(self, inputs):
        self.vars = dict(inputs)

    def having(self, shape, positive):
        return sorted(n for n, (s, p) in self.vars.items() if s == shape and (p or not positive))


def broadcast_partner(draw, shape):
    """A shape that broadcasts with `shape` to `shape`: itself, a scalar, its trailing part, or
    any of those with some dimensions stretched from 1."""
    options = [shape, ()] + [shape[k:] for k in range(1, len(shape))]
    partner = draw(st.sampled_from(options))
    return tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in partner)


@st.composite
def expression(draw, scope: Scope, shape: tuple, positive: bool, depth: int):
    """A tree whose value has `shape` (and is positive, if asked)."""
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        return draw(leaf(scope, shape, positive))
    kinds = ["unary", "binary", "reduce", "transpose", "stack", "pow", "along"]
    if not positive:
        kinds += ["neg", "matmul", "unary", "binary"]
    kind = draw(st.sampled_from(kinds))
    sub = lambda s, p=False: expression(scope, s, p, depth - 1)  # noqa: E731
    if kind == "unary":
        if positive:
            f = draw(st.sampled_from(POSITIVE_UNARY + ["sqrt"]))
        else:
            f = draw(st.sampled_from(UNARY))
        return ("call", f, [draw(sub(shape, f in NEEDS_POSITIVE))], None, None)
    if kind == "neg":
        return (draw(st.sampled_from(["neg", "neg", "pos"])), draw(sub(shape)))
    if kind == "binary":
        symbol = draw(st.sampled_from(["+", "-", "*", "/", "max", "min"] if not positive else
                                      ["+", "*", "/", "max", "min"]))
        left, right = broadcast_partner(draw, shape), broadcast_partner(draw, shape)
        if draw(st.booleans()):
            left = shape
        else:
            right = shape
        a = draw(sub(left, positive))
        b = draw(sub(right, positive or symbol == "/"))
        if symbol in ("max", "min"):
            return ("call", symbol, [a, b], None, None)
        return ("bin", symbol, a, b)
    if kind == "pow":
        base = draw(sub(shape, True))
        exponent = draw(st.one_of(st.sampled_from([("num", 2.0), ("num", 3.0), ("num", 0.5),
                                                   ("neg", ("num", 1.0))]),
                                  sub(broadcast_partner(draw, shape))))
        return ("bin", "**", base, exponent)
    if kind == "matmul":
        inner = draw(st.sampled_from([2, 3]))
        if len(shape) == 0:
            left, right = (inner,), (inner,)
            if draw(st.integers(0, 3)) == 0:  # a scalar on either side multiplies
                left, right = (), ()
        elif len(shape) == 1:
            left, right = draw(st.sampled_from([((shape[0], inner), (inner,)), ((inner,), (inner, shape[0]))]))
        else:  # batches of matrices broadcast against a matrix
            left, right = shape[:-1] + (inner,), (inner, shape[-1])
            if len(shape) > 2 and draw(st.booleans()):
                left, right = shape[-2:-1] + (inner,), shape[:-2] + (inner, shape[-1])
        return ("bin", "@", draw(sub(left)), draw(sub(right)))
    if kind == "transpose":
        operand = draw(sub(tuple(reversed(shape)), positive))
        return ("T", operand) if draw(st.booleans()) else ("call", "transpose", [operand], None, None)
    if kind == "stack" and shape:
        return ("list", [draw(sub(shape[1:], positive)) for _ in range(shape[0])])
    if kind == "reduce":
        f = draw(st.sampled_from(REDUCTIONS))
        if len(shape) < 2 and draw(st.booleans()):  # over an added axis
            k = draw(st.integers(0, len(shape)))
            operand_shape = shape[:k] + (draw(st.sampled_from([2, 3])),) + shape[k:]
            axis = k - len(operand_shape) if draw(st.booleans()) else k
            style = "positional" if f in ("sum", "mean") and draw(st.booleans()) else "keyword"
            return ("call", f, [draw(sub(operand_shape, positive))], axis, style)
        if shape == ():  # over everything
            return ("call", f, [draw(sub(draw(st.sampled_from(SHAPES[1:])), positive))], None, None)
    if kind == "along" and shape and (positive or draw(st.booleans())):  # softmax is positive
        k = draw(st.integers(0, len(shape) - 1))
        axis = draw(st.sampled_from([None, k, k - len(shape)])) if k == len(shape) - 1 else k
        return ("call", "softmax", [draw(sub(shape))], axis, "keyword")
    if kind == "along" and len(shape) < 2 and not positive:
        k = draw(st.integers(0, len(shape)))
        operand_shape = shape[:k] + (draw(st.sampled_from([2, 3])),) + shape[k:]
        axis = None if k == len(shape) and draw(st.booleans()) else k
        return ("call", "logsumexp", [draw(sub(operand_shape))], axis, "keyword")
    return draw(leaf(scope, shape, positive))


@st.composite
def leaf(draw, scope: Scope, shape: tuple, positive: bool):
    """A name of that shape, or a constant: a number, pi, or an array literal of numbers."""
    names = scope.having(shape, positive)
    if names and draw(st.integers(0, 3)) > 0:
        return ("name", draw(st.sampled_from(names)))
    if shape == ():
        if draw(st.integers(0, 5)) == 0:
            return ("pi",)
        x = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 0.25, 1e-1, 2.5e0]))
        return ("num", x) if positive or draw(st.booleans()) else ("neg", ("num", x))
    rows = [draw(leaf(Scope({}), shape[1:], positive)) for _ in range(shape[0])]
    return ("list", rows)


@st.composite
def programs(draw):
    """(statements, inputs): `input` declarations, then assignments; the last is a scalar."""
    n_inputs = draw(st.integers(1, 4))
    inputs, declarations = {}, []
    for i in range(n_inputs):
        name = draw(st.sampled_from(["x", "y", "W", "b", "a", "v", "theta", "z_1"]))
        if name in inputs:
            continue
        shape = draw(st.sampled_from(SHAPES))
        positive = draw(st.booleans())
        inputs[name] = (shape, positive)
        if draw(st.booleans()):  # declared, with numbers or named dimensions
            dims = [DIM_NAMES[d] if draw(st.booleans()) else str(d) for d in shape]
            declarations.append(("input", name, dims if dims or draw(st.booleans()) else None))
    scope = Scope(inputs)
    statements = list(declarations)
    assigned = []
    for _ in range(draw(st.integers(1, 8))):
        shape = draw(st.sampled_from(SHAPES))
        positive = draw(st.integers(0, 3)) == 0
        tree = draw(expression(scope, shape, positive, depth=draw(st.integers(2, 5))))
        # A new name, or an earlier one again (reassignment makes versions h, h', h'').
        pool = ["h", "u", "out", "g2"] + [n for n in assigned]
        name = draw(st.sampled_from(pool))
        statements.append(("assign", name, tree))
        scope.vars[name] = (shape, positive)
        assigned.append(name)
    # The output: a scalar reading the last values, so every statement can matter.
    parts = []
    for name in dict.fromkeys(reversed(assigned)):
        shape, _ = scope.vars[name]
        parts.append(("name", name) if shape == () else ("call", "sum", [("name", name)], None, None))
    total = parts[0]
    for part in parts[1:3]:
        total = ("bin", "+", total, part)
    statements.append(("assign", "loss", total))
    return statements, inputs


# ---------------------------------------------------------------------------------------------
# Printing a tree as .ad text, with minimal parentheses and some harmless noise
# ---------------------------------------------------------------------------------------------

# Precedence levels of the grammar, loosest first: sum, product, unary, power, postfix, atom.
SUM, PRODUCT, UNARY_LEVEL, POWER, POSTFIX, ATOM = range(6)
LEVELS = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "@": PRODUCT, "**": POWER}


def number_text(x: float) -> str:
    return repr(float(x))


def render(tree, noise) -> tuple[str, int]:
    """(text, precedence level) of a tree; `noise()` returns True now and then for extra parens."""
    kind = tree[0]

    def at_least(sub, level):
        text, own = render(sub, noise)
        return f"({text})" if own < level or (noise() and own < ATOM) else text

    if kind == "num":
        return number_text(tree[1]), ATOM
    if kind == "pi":
        return "pi", ATOM
    if kind == "name":
        return tree[1], ATOM
    if kind == "list":
        return "[" + ", ".join(render(item, noise)[0] for item in tree[1]) + "]", ATOM
    if kind in ("neg", "pos"):
        sign = "-" if kind == "neg" else "+"
        return sign + at_least(tree[1], UNARY_LEVEL), UNARY_LEVEL
    if kind == "T":
        return at_least(tree[1], POSTFIX) + ".T", POSTFIX
    if kind == "bin":
        symbol, a, b = tree[1:]
        level = LEVELS[symbol]
        if symbol == "**":  # right-associative; its left operand is a postfix expression
            return f"{at_least(a, POSTFIX)} ** {at_least(b, UNARY_LEVEL)}", POWER
        return f"{at_least(a, level)} {symbol} {at_least(b, level + 1)}", level
    if kind == "call":
        f, args, axis, style = tree[1:]
        texts = [render(a, noise)[0] for a in args]
        if axis is not None:
            texts.append(str(axis) if style == "positional" else f"axis={axis}")
        return f"{f}({', '.join(texts)})", ATOM
    raise ValueError(kind)


def print_program(statements, rng) -> str:
    """The program as .ad text, with random spacing, comments, ';' and line continuations."""
    noise = lambda: rng.random() < 0.1  # noqa: E731
    lines = []
    for statement in statements:
        if statement[0] == "input":
            _, name, dims = statement
            text = f"input {name}" + ("" if dims is None else ": [" + ", ".join(dims) + "]")
        else:
            _, name, tree = statement
            text = f"{name} = {render(tree, noise)[0]}"
            if rng.random() < 0.1 and " + " in text:  # continue the line after a '+'
                text = text.replace(" + ", " + \\\n    ", 1)
        if rng.random() < 0.1:  # another statement follows on the same line
            lines.append(text + "; ")
            continue
        if rng.random() < 0.2:
            text += "  # a comment"
        lines.append(text + "\n")
        if rng.random() < 0.1:
            lines.append("\n# between statements\n\n")
    return "".join(lines)


# ---------------------------------------------------------------------------------------------
# This file's own evaluation of a tree with numpy (independent of adcli's registry)
# ---------------------------------------------------------------------------------------------

def softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


ELEMENTWISE = {"relu": lambda x: np.maximum(x, 0.0), "exp": np.exp, "log": np.log, "sin": np.sin,
               "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
               "sqrt": np.sqrt, "abs": np.abs, "transpose": np.transpose}
REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


def reference(tree, env):
    kind = tree[0]
    if kind == "num":
        return np.float64(tree[1])
    if kind == "pi":
        return np.float64(np.pi)
    if kind == "name":
        return env[tree[1]]
    if kind == "list":
        return np.array([reference(item, env) for item in tree[1]])
    if kind == "neg":
        return -reference(tree[1], env)
    if kind == "pos":
        return reference(tree[1], env)
    if kind == "T":
        return np.transpose(reference(tree[1], env))
    if kind == "bin":
        a, b = reference(tree[2], env), reference(tree[3], env)
        if tree[1] == "@":
            return a * b if np.ndim(a) == 0 or np.ndim(b) == 0 else np.matmul(a, b)
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}[tree[1]](a, b)
    f, args, axis = tree[1], [reference(a, env) for a in tree[2]], tree[3]
    if f in ELEMENTWISE:
        return ELEMENTWISE[f](args[0])
    if f in ("max", "min") and len(args) == 2:
        return (np.maximum if f == "max" else np.minimum)(*args)
    if f in REDUCE:
        return REDUCE[f](args[0], axis=axis)
    return (softmax if f == "softmax" else logsumexp)(args[0], -1 if axis is None else axis)


def reference_values(statements, given):
    env, out = dict(given), {}
    with np.errstate(all="ignore"):
        for statement in statements:
            if statement[0] == "assign":
                env[statement[1]] = reference(statement[2], env)
                out.setdefault(statement[1], []).append(env[statement[1]])
    return out


# ---------------------------------------------------------------------------------------------
# Printing a graph back as .ad text, and comparing graphs
# ---------------------------------------------------------------------------------------------

GRAPH_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@", "pow": "**"}
GRAPH_FUNCTIONS = {"maximum": "max", "minimum": "min", "amax": "max", "amin": "min"}


def base_name(label: str) -> str:
    return label.split("'")[0]


def assignment_index(label: str) -> int:
    """Which assignment of its name a label stands for, from 0: h, h', h'' and so on, then h'4."""
    marks = label[len(base_name(label)):]
    return int(marks[1:]) if marks[1:].isdigit() else len(marks)


def print_graph(graph) -> str:
    """The graph as canonical .ad text: declarations, then one assignment per `assigned` entry,
    with unnamed values written inline, fully parenthesized."""
    nodes = graph.nodes
    lines, env = [], {}  # name -> the node it reaches now
    # Inputs made before any other node are declared: a declaration, or a first use that comes
    # first, makes the same node either way.
    leading = next((i for i, n in enumerate(nodes) if n.op != INPUT), len(nodes))
    for i in graph.inputs:
        if nodes[i].data is not None or i < leading:
            shape = "" if nodes[i].data is None else ": [" + ", ".join(map(str, nodes[i].data)) + "]"
            lines.append(f"input {nodes[i].label}{shape}")
            env[nodes[i].label] = i

    def text(i):
        node = nodes[i]
        names = [name for name, j in env.items() if j == i]
        if names:
            return names[0]
        if node.op == INPUT:  # first use of an undeclared input
            env[node.label] = i
            return node.label
        if node.op == CONST:
            if node.data.ndim == 0:
                return node.label if "pi" in node.label else f"({number_text(node.data)})"
            return repr(node.data.tolist())
        args = [text(a) for a in node.args]
        axis = (node.params or {}).get("axis")
        if node.op in GRAPH_SYMBOLS:
            return f"({args[0]} {GRAPH_SYMBOLS[node.op]} {args[1]})"
        if node.op == "neg":
            return f"(-{args[0]})"
        if node.op == "stack":
            return "[" + ", ".join(args) + "]"
        f = GRAPH_FUNCTIONS.get(node.op, node.op)
        return f"{f}({', '.join(args + ([f'axis={axis}'] if axis is not None else []))})"

    for label, index in graph.assigned:
        name = base_name(label)
        lines.append(f"{name} = {text(index)}")
        env[name] = index
    return "\n".join(lines) + "\n"


def graph_summary(graph):
    """Everything a graph says, as comparable plain data."""
    nodes = [(n.op, tuple(n.args), tuple(sorted((n.params or {}).items())), n.name, n.label,
              None if n.data is None else (tuple(n.data) if n.op == INPUT else n.data.tolist()))
             for n in graph.nodes]
    return nodes, list(graph.inputs), list(graph.assigned), dict(graph.names)


# ---------------------------------------------------------------------------------------------
# Points away from kinks and singularities
# ---------------------------------------------------------------------------------------------

def too_close(op, ans, xs, params) -> bool:
    """Whether an operation's operands lie within MARGIN of a kink, a pole or the edge of its domain."""
    if op in ("relu", "abs"):
        return bool(np.any(np.abs(xs[0]) < MARGIN))
    if op in ("maximum", "minimum"):
        return bool(np.any(np.abs(xs[0] - xs[1]) < MARGIN))
    if op in ("log", "sqrt"):
        return bool(np.any(xs[0] < MARGIN))
    if op == "div":
        return bool(np.any(np.abs(xs[1]) < MARGIN))
    if op == "pow":
        return bool(np.any(xs[0] < MARGIN))
    if op == "tan":
        return bool(np.any(np.abs(np.cos(xs[0])) < 0.1))
    if op in ("amax", "amin"):
        x = np.asarray(xs[0])
        axis = params.get("axis")
        flat = x.reshape(-1) if axis is None else np.moveaxis(x, axis, -1)
        if flat.shape[-1] < 2:
            return False
        ordered = np.sort(flat if op == "amin" else -flat, axis=-1)
        return bool(np.any(ordered[..., 1] - ordered[..., 0] < MARGIN))
    return False


def acceptable(graph, values) -> bool:
    for i, node in enumerate(graph.nodes):
        v = np.asarray(values[i])
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) > LIMIT):
            return False
        if node.op not in (INPUT, CONST):
            if too_close(node.op, values[i], [values[a] for a in node.args], node.params or {}):
                return False
    return True


def draw_values(program, inputs, seed):
    rng = np.random.default_rng(seed)
    given = {}
    for name in program.inputs:
        shape, positive = inputs[name]
        given[name] = rng.uniform(0.5, 2.0, shape) if positive else rng.uniform(-2.0, 2.0, shape)
    return given


def central_differences(program, given, name):
    x = np.asarray(given[name], dtype=np.float64)
    grad = np.zeros(x.shape)
    for j in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(float(x[j])))
        f = {}
        for k in (-2, -1, 1, 2):
            moved = x.copy()
            moved[j] += k * h
            f[k] = float(program.eval(of="loss", **{**given, name: moved})["loss"])
        # The five-point stencil: its error is O(h^4), so fast oscillation (sin of a large value)
        # stays within tolerance where the two-point difference would not.
        grad[j] = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
    return grad


# ---------------------------------------------------------------------------------------------
# The properties
# ---------------------------------------------------------------------------------------------

def check_program(statements, inputs, seed):
    source = print_program(statements, np.random.default_rng(seed))
    program = adcli.parse(source, "random.ad")

    # Printed back from its graph and parsed again, the program is the same graph.
    again = adcli.parse(print_graph(program.graph), "printed.ad")
    assert graph_summary(again.graph) == graph_summary(program.graph), source

    given = draw_values(program, inputs, seed)
    values = program.values(given)
    assume(acceptable(program.graph, values))

    # adcli's value of every assignment is this file's own evaluation of the tree.
    expected = reference_values(statements, given)
    got = program.eval(**given)
    for label, index in program.graph.assigned:
        np.testing.assert_allclose(got[label], expected[base_name(label)][assignment_index(label)],
                                   rtol=1e-12, atol=1e-12,
                                   err_msg=f"{label} in\n{source}")

    result = program.grad(of="loss", **given)
    scale = max([1.0] + [float(np.max(np.abs(g))) for g in result.grad.values() if np.size(g)])
    for name, g in result.grad.items():
        numeric = central_differences(program, given, name)
        tolerance = FD_RTOL * np.abs(g) + FD_ATOL * (1.0 + abs(float(result.value)))
        assert np.all(np.abs(numeric - g) <= tolerance), (name, g, numeric, source, given)

    forward = pytest.importorskip("adcli.forward")
    by_forward = forward.forward_grad(program, of="loss", **given)
    for name, g in result.grad.items():
        assert np.all(np.abs(by_forward.grad[name] - g) <= FORWARD_RTOL * scale), (name, g, by_forward.grad[name], source)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), st.integers(0, 2**32 - 1))
def test_random_programs(program, seed):
    statements, inputs = program
    check_program(statements, inputs, seed)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), st.integers(0, 2**32 - 1))
def test_many_random_programs(program, seed):
    statements, inputs = program
    check_program(statements, inputs, seed)
