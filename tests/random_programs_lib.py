"""The machinery of tests/test_random_programs.py: drawing random .ad programs (hypothesis),
printing them, this file's own numpy evaluation of them, printing a graph back, the points where
derivatives are checked, and the checks themselves. The test module's docstring says what is
drawn and what is checked; this module does it.

Nothing here uses adcli's registry, kernels or evaluator to compute an expected value: the
reference evaluator below is written against numpy alone.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption

import adcli
from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.forward import forward_grad
from adcli.engine.reverse import backward
from adcli.language.graph import CONST, INPUT

MARGIN = 1e-3
LIMIT = 1e4
FD_RTOL = 1e-5
FD_ATOL = 1e-7
FORWARD_RTOL = 1e-10  # well-scaled points: forward against reverse, relative to the largest gradient element
HOSTILE_RTOL = 1e-9  # hostile points: the same, elementwise, where both are finite
OVERFLOW_ORDER = 1e100  # hostile points: a finite gradient this large may be another order's infinity
COND_LIMIT = 1e4  # matrices worse conditioned than this are not a point for finite differences
VALUE_TRIES = 4  # well-scaled mode: value draws tried before a program is rejected

SHAPES = [(), (2,), (3,), (1,), (2, 3), (3, 2), (1, 3), (2, 1), (2, 2, 3), (2, 2), (3, 3), (2, 3, 3)]
DIM_NAMES = {1: "one", 2: "n", 3: "k"}  # a named dimension always stands for the same size
INPUT_NAMES = ["x", "y", "W", "b", "a", "v", "theta", "z_1"]
DATA_NAMES = ["D", "X_data"]
INT_NAMES = ["lab", "idx"]
ASSIGN_NAMES = ["h", "u", "out", "g2"]
LOCAL_NAMES = ["tmp", "acc", "q2"]  # new names made inside a loop body, forgotten after it
FUNCTION_NAMES = ["f", "g", "layer", "mix"]
PARAM_NAMES = ["a", "b", "c"]
LOOP_VARS = ["t", "i", "j"]  # top-level loops
BODY_LOOP_VARS = ["r", "s"]  # loops inside a function body (never active where it is called)

WELL_SCALED_CONSTANTS = [0.5, 1.0, 1.5, 2.0, 3.0, 0.25, 0.1, 2.5]
HOSTILE_CONSTANTS = [0.0, -0.0, 2.5, 1e300, 1e-300, 0.5, 3.0, 1e10, -1.0, 1.0, 2.0, 5e-324]
HOSTILE_VALUES = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -4.0, 2.5, -2.5, 1e-300, -1e-300, 5e-324,
                  1e-8, 1e10, -1e10, 1e200, -1e200, 1.7976931348623157e308, math.inf, -math.inf, math.nan,
                  math.pi / 2]


# ---------------------------------------------------------------------------------------------
# What a program can use: names (with shape and sign), functions, loop variables, dimensions
# ---------------------------------------------------------------------------------------------

class Var:
    """A name in scope: its shape, whether its values are positive, and its kind: float, data
    (a float input that is not differentiated) or int (labels in [lo, hi))."""

    __slots__ = ("shape", "pos", "kind", "lo", "hi")

    def __init__(self, shape, pos=False, kind="float", lo=0, hi=0):
        self.shape, self.pos, self.kind, self.lo, self.hi = tuple(shape), pos, kind, lo, hi


class Fn:
    __slots__ = ("name", "params", "shape", "pos")

    def __init__(self, name, params, shape, pos):
        self.name, self.params, self.shape, self.pos = name, params, tuple(shape), pos


class Ctx:
    """Everything the expression generator may refer to at one point of a program."""

    def __init__(self, hostile=False, scalar=False):
        self.hostile, self.scalar = hostile, scalar
        self.vars: dict[str, Var] = {}
        self.functions: dict[str, Fn] = {}
        self.loops: dict[str, tuple] = {}  # loop variable -> every value it can take
        self.dims: dict[str, int] = {}  # declared named dimensions, readable as numbers
        self.in_function = False
        self.solved: set[str] = set()  # fixed_point, root or rule met: IMPLICIT_SOURCES then go first

    def child(self):
        c = Ctx(self.hostile, self.scalar)
        c.vars, c.functions, c.loops = dict(self.vars), dict(self.functions), dict(self.loops)
        c.dims, c.in_function, c.solved = dict(self.dims), self.in_function, self.solved
        return c

    def floats(self, shape, pos):
        return sorted(n for n, v in self.vars.items()
                      if v.kind != "int" and v.shape == tuple(shape) and (v.pos or not pos))

    def ints(self, shape=None):
        return sorted(n for n, v in self.vars.items() if v.kind == "int" and (shape is None or v.shape == shape))


def prod(shape):
    return int(np.prod(shape)) if shape else 1


# ---------------------------------------------------------------------------------------------
# Expressions. A tree is a tuple:
#   ("num", x) | ("int", k) | ("const", "pi" | "inf") | ("name", n) | ("list", items)
#   ("bin", symbol, a, b)        symbol one of + - * / ** @ < <= > >= == !=
#   ("neg", a) | ("pos", a) | ("T", a)
#   ("call", f, args, params)    params: [(name, value, "kw" | "pos"), ...]
#   ("einsum", spec, args)
#   ("ctor", "eye" | "arange" | "zeros" | "ones", size or shape, items)  items: per size None (the
#                                number) or a ("dim", n) / ("size", ...) tree that writes it
#   ("index", base, items)       items: ("i", int tree) | ("s", start, stop, step) | ("none",) | ("arr", int tree)
#   ("setitem", base, items, method, value)   base.at[items].method(value), method set | add | multiply | max | min
#   ("fcall", name, args) | ("lv", var) | ("size", tree, axis, style) | ("dim", name)
# ---------------------------------------------------------------------------------------------

def number(draw, ctx, pos):
    if ctx.hostile and draw(st.integers(0, 2)) == 0:
        if not pos and draw(st.integers(0, 9)) == 0:
            return ("neg", ("const", "inf")) if draw(st.booleans()) else ("const", "inf")
        x = draw(st.sampled_from(HOSTILE_CONSTANTS))
        return ("num", abs(x) if pos and x != 0 else x)
    if draw(st.integers(0, 7)) == 0:
        return ("const", "pi")
    x = draw(st.sampled_from(WELL_SCALED_CONSTANTS))
    return ("num", x if pos or draw(st.booleans()) else -x)


@st.composite
def leaf(draw, ctx, shape, pos):
    """A name of that shape, or a constant: a number, pi, an array literal, ones([...])."""
    names = ctx.floats(shape, pos)
    if names and draw(st.integers(0, 3)) > 0:
        return ("name", draw(st.sampled_from(names)))
    if draw(st.integers(0, 2)) > 0:
        derived = from_name(draw, ctx, shape, pos)
        if derived is not None:
            return derived
    if shape == ():
        if ctx.loops and not pos and draw(st.integers(0, 5)) == 0:
            return loop_scalar(draw, ctx)
        return number(draw, ctx, pos)
    if len(shape) >= 1 and draw(st.integers(0, 6)) == 0:
        return ctor(draw, ctx, "ones" if pos or draw(st.booleans()) else "zeros", shape)
    if len(shape) == 2 and shape[0] == shape[1] and not pos and draw(st.integers(0, 4)) == 0:
        return ctor(draw, ctx, "eye", shape[0])
    sub = Ctx(ctx.hostile, ctx.scalar)
    return ("list", [draw(leaf(sub, shape[1:], pos)) for _ in range(shape[0])])


def from_name(draw, ctx, shape, pos):
    """A value of `shape` made from a name of another shape, so that inputs reach most leaves:
    broadcast, reshaped, reduced, or indexed down to a scalar first."""
    names = sorted(n for n, v in ctx.vars.items() if v.kind != "int" and (v.pos or not pos))
    if not names:
        return None
    name = draw(st.sampled_from(names))
    have = ctx.vars[name].shape
    tree = ("name", name)
    if have == shape:
        return tree
    if prod(have) == prod(shape) and draw(st.booleans()):
        return ("call", "reshape", [tree], [("shape", shape, draw(st.sampled_from(["pos", "kw"])))])
    if not broadcasts_to(have, shape):
        if have and draw(st.booleans()):  # one element
            tree = ("index", tree, [("i", ("int", draw(st.integers(-n, n - 1)))) for n in have])
        else:
            tree = ("call", draw(st.sampled_from(["sum", "mean", "max", "min"])), [tree], [])
    if shape == ():
        return tree
    if draw(st.booleans()):
        return ("call", "broadcast_to", [tree], [("shape", shape, "kw")])
    return ("bin", "*", tree, ctor(draw, ctx, "ones", shape))


def ctor(draw, ctx, name, size):
    """zeros([2, 3]), eye(3), arange(3); a size may be written as a declared dimension (eye(n)) or
    as size(x, k) of a name in scope, which makes adcli's `filled` operation."""
    sizes = size if isinstance(size, tuple) else (size,)
    items = []
    for d in sizes:
        dims = [n for n, m in sorted(ctx.dims.items()) if m == d] if not ctx.in_function else []
        axes = [(n, k) for n, v in sorted(ctx.vars.items()) if v.kind != "int" for k, m in enumerate(v.shape)
                if m == d]
        choice = draw(st.integers(0, 5))
        if dims and choice <= 1:
            items.append(("dim", draw(st.sampled_from(dims))))
        elif axes and choice == 2:
            n, k = draw(st.sampled_from(axes))
            items.append(("size", ("name", n), k - len(ctx.vars[n].shape) if draw(st.booleans()) else k,
                          draw(st.sampled_from(["pos", "kw"]))))
        else:
            items.append(None)
    return ("ctor", name, size, tuple(items))


def loop_scalar(draw, ctx):
    """A loop variable, or a small integer expression of one: folded to a number before evaluation."""
    var = draw(st.sampled_from(sorted(ctx.loops)))
    form = draw(st.integers(0, 3))
    if form == 0:
        return ("lv", var)
    if form == 1:
        return ("bin", "+", ("lv", var), ("int", draw(st.integers(1, 2))))
    if form == 2:
        return ("bin", "-", ("lv", var), ("int", 1))
    return ("bin", "*", ("int", 2), ("lv", var))


def broadcasts_to(small, shape) -> bool:
    try:
        return tuple(np.broadcast_shapes(small, shape)) == tuple(shape)
    except ValueError:
        return False


def broadcast_partner(draw, shape):
    """A shape that broadcasts with `shape` to `shape`: itself, a scalar, its trailing part, or
    any of those with some dimensions stretched from 1."""
    options = [shape, ()] + [shape[k:] for k in range(1, len(shape))]
    partner = draw(st.sampled_from(options))
    return tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in partner)


def partners(draw, shape, n):
    """n operand shapes broadcasting to `shape`, one of them `shape` itself."""
    shapes = [broadcast_partner(draw, shape) for _ in range(n)]
    shapes[draw(st.integers(0, n - 1))] = shape
    return shapes


@st.composite
def expression(draw, ctx, shape, pos, depth):
    """A tree whose value has `shape` (and is positive, if asked)."""
    shape = tuple(shape)
    if depth <= 0 or draw(st.integers(0, 6)) == 0:
        return draw(leaf(ctx, shape, pos))
    kinds = SCALAR_KINDS if ctx.scalar and shape == () else KINDS
    for _ in range(3):
        kind, _, op = draw(st.sampled_from(kinds)).partition(":")
        tree = GENERATORS[kind](draw, ctx, shape, pos, depth, op or None)
        if tree is not None:
            return tree
    return draw(leaf(ctx, shape, pos))


def sub(draw, ctx, shape, pos, depth):
    return draw(expression(ctx, tuple(shape), pos, depth - 1))


def params_of(draw, pairs, positional_ok=True):
    """[(name, value, style)]: the leading ones maybe by position, the rest by keyword."""
    out, by_position = [], positional_ok
    for name, value in pairs:
        by_position = by_position and draw(st.booleans())
        out.append((name, value, "pos" if by_position else "kw"))
    return out


# ---- elementwise functions ----------------------------------------------------------------------

# name: (operand domain, whether the result is positive)
UNARY = {
    "relu": ("any", False), "exp": ("any", True), "log": ("pos", False), "sin": ("any", False),
    "cos": ("any", False), "tan": ("any", False), "tanh": ("any", False), "sigmoid": ("any", True),
    "sqrt": ("pos", True), "abs": ("any", False), "log1p": ("pos", True), "expm1": ("any", False),
    "log2": ("pos", False), "log10": ("pos", False), "exp2": ("any", True), "square": ("any", False),
    "cbrt": ("any", False), "reciprocal": ("nonzero", False), "sinh": ("any", False), "cosh": ("any", True),
    "asinh": ("any", False), "acosh": ("ge1", True), "atanh": ("unit", False), "asin": ("unit", False),
    "acos": ("unit", True), "atan": ("any", False), "erf": ("any", False), "erfc": ("any", True),
    "softplus": ("any", True), "gelu": ("any", False), "silu": ("any", False), "elu": ("any", False),
    "leaky_relu": ("any", False), "sign": ("any", False), "floor": ("any", False), "ceil": ("any", False),
    "round": ("any", False), "log_sigmoid": ("any", False), "gammaln": ("pos", False), "digamma": ("pos", False),
    "sinc": ("any", False),
}
SPELLINGS = {"gammaln": "lgamma", "digamma": "psi", "log_sigmoid": "log_expit"}  # scipy's other names, now and then


def operand_in(draw, ctx, shape, domain, depth):
    """An operand in a function's domain: positive, above 1, or inside (-1, 1), built so in
    well-scaled programs; a hostile program sometimes leaves it unconstrained."""
    if ctx.hostile and domain != "any" and draw(st.integers(0, 2)) == 0:
        return sub(draw, ctx, shape, False, depth)
    if domain == "pos":
        return sub(draw, ctx, shape, True, depth)
    if domain == "ge1":
        return ("bin", "+", ("num", draw(st.sampled_from([1.0, 1.5]))), sub(draw, ctx, shape, True, depth))
    if domain == "unit":
        squash = draw(st.sampled_from(["tanh", "sin", "cos", "erf"]))
        return ("bin", "*", ("num", 0.9), ("call", squash, [sub(draw, ctx, shape, False, depth)], []))
    return sub(draw, ctx, shape, domain == "nonzero" and draw(st.booleans()), depth)


def gen_unary(draw, ctx, shape, pos, depth, op=None):
    name = op or draw(st.sampled_from(sorted(UNARY)))
    domain, positive = UNARY[name]
    if pos and not positive:
        return None
    x = operand_in(draw, ctx, shape, "pos" if pos and name == "reciprocal" else domain, depth)
    params = []
    if name == "elu" and draw(st.booleans()):
        params = params_of(draw, [("alpha", draw(st.sampled_from([0.5, 1.0, 2.0])))])
    if name == "leaky_relu" and draw(st.booleans()):
        params = params_of(draw, [("slope", draw(st.sampled_from([0.2, 0.01, 1.0, -0.5])))])
    if name == "digamma" and draw(st.booleans()):  # polygamma's orders
        params = params_of(draw, [("n", draw(st.sampled_from([0, 1, 2, 3])))])
    if name in SPELLINGS and draw(st.integers(0, 3)) == 0:
        name = SPELLINGS[name]
    return ("call", name, [x], params)


def gen_neg(draw, ctx, shape, pos, depth, op=None):
    if pos:
        return None
    operand = sub(draw, ctx, shape, False, depth)
    if operand[0] in ("num", "int", "const", "list", "ctor"):  # -3 is a number, not a negation
        operand = from_name(draw, ctx, shape, False) or operand
    return (draw(st.sampled_from(["neg", "neg", "pos"])), operand)


def gen_arith(draw, ctx, shape, pos, depth, op=None):
    symbol = op or draw(st.sampled_from(["+", "-", "*", "/"]))
    if pos and symbol == "-":
        return None
    left, right = partners(draw, shape, 2)
    a = sub(draw, ctx, left, pos, depth)
    b = sub(draw, ctx, right, pos or (symbol == "/" and not (ctx.hostile and draw(st.booleans()))), depth)
    return ("bin", symbol, a, b)


BINARY_FUNCTIONS = ["max", "min", "atan2", "hypot", "logaddexp", "xlogy", "xlog1py"]


def gen_binary_function(draw, ctx, shape, pos, depth, op=None):
    name = op or draw(st.sampled_from(BINARY_FUNCTIONS))
    if pos and name in ("atan2", "logaddexp", "xlogy", "xlog1py"):
        return None
    left, right = partners(draw, shape, 2)
    # xlogy's y inside log's domain (xlog1py's too), unless a hostile program leaves it anywhere
    logarithm = name in ("xlogy", "xlog1py") and not (ctx.hostile and draw(st.integers(0, 2)) == 0)
    return ("call", name, [sub(draw, ctx, left, pos, depth), sub(draw, ctx, right, pos or logarithm, depth)], [])


def gen_pow(draw, ctx, shape, pos, depth, op=None):
    base = sub(draw, ctx, shape, not (ctx.hostile and draw(st.booleans())), depth)
    choices = [("num", 2.0), ("num", 3.0), ("num", 0.5), ("neg", ("num", 1.0)), ("int", 2)]
    if ctx.hostile:
        choices += [("num", 2.5), ("num", 0.0), ("neg", ("num", 0.5)), ("num", 1e-300), ("int", 0)]
    if ctx.loops:
        choices.append(("lv", draw(st.sampled_from(sorted(ctx.loops)))))
    exponent = draw(st.one_of(st.sampled_from(choices),
                              expression(ctx, broadcast_partner(draw, shape), False, depth - 1)))
    return ("bin", "**", base, exponent)


def gen_clip(draw, ctx, shape, pos, depth, op=None):
    if pos:
        return None
    sx, slo, shi = partners(draw, shape, 3)
    form = draw(st.integers(0, 7))
    if form > 3:
        sx = shape
    x = sub(draw, ctx, sx, False, depth)
    if form == 0:  # bounds in any order
        lo, hi = sub(draw, ctx, slo, False, depth), sub(draw, ctx, shi, False, depth)
    elif form <= 3:  # lo < hi by construction
        lo = sub(draw, ctx, slo, False, depth)
        hi = ("bin", "+", lo, sub(draw, ctx, shi, True, depth))
    else:
        c = draw(st.sampled_from([0.5, 1.0, 2.0]))
        lo, hi = ("neg", ("num", c)), ("num", c)
    return ("call", "clip", [x, lo, hi], [])


COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]


def comparison(draw, ctx, shape, depth, symbol=None):
    """A boolean tree of exactly `shape`."""
    symbol = symbol or draw(st.sampled_from(COMPARISONS))
    ints = [n for n in ctx.ints(tuple(shape))]
    if ints and draw(st.integers(0, 2)) == 0:
        n = draw(st.sampled_from(ints))
        return ("bin", symbol, ("name", n), ("int", draw(st.integers(ctx.vars[n].lo, ctx.vars[n].hi - 1))))
    left, right = partners(draw, shape, 2)
    if draw(st.booleans()):
        left, right = shape, ()
    a = sub(draw, ctx, left, False, depth)
    b = number(draw, ctx, False) if right == () and draw(st.booleans()) else sub(draw, ctx, right, False, depth)
    return ("bin", symbol, a, b)


def gen_where(draw, ctx, shape, pos, depth, op=None):
    sc, sa, sb = partners(draw, shape, 3)
    cond = comparison(draw, ctx, sc, depth, op)
    return ("call", "where", [cond, sub(draw, ctx, sa, pos, depth), sub(draw, ctx, sb, pos, depth)], [])


def gen_mask(draw, ctx, shape, pos, depth, op=None):
    """A comparison used as numbers: (x > 0) * h."""
    if pos:
        return None
    sc, sv = partners(draw, shape, 2)
    cond = comparison(draw, ctx, sc, depth, op)
    value = sub(draw, ctx, sv, False, depth)
    return ("bin", "*", cond, value) if draw(st.booleans()) else ("bin", "*", value, cond)


# ---- products ---------------------------------------------------------------------------------

def gen_matmul(draw, ctx, shape, pos, depth, op=None):
    if pos:
        return None
    inner = draw(st.sampled_from([1, 2, 3]))
    if len(shape) == 0:
        left, right = (inner,), (inner,)
        if ctx.scalar or draw(st.integers(0, 3)) == 0:  # a scalar on either side multiplies
            left, right = (), ()
    elif len(shape) == 1:
        left, right = draw(st.sampled_from([((shape[0], inner), (inner,)), ((inner,), (inner, shape[0]))]))
        if draw(st.integers(0, 5)) == 0:
            left, right = draw(st.sampled_from([((), shape), (shape, ())]))
    else:  # batches of matrices broadcast against a matrix
        left, right = shape[:-1] + (inner,), (inner, shape[-1])
        if len(shape) > 2 and draw(st.booleans()):
            left, right = shape[-2:-1] + (inner,), shape[:-2] + (inner, shape[-1])
    return ("bin", "@", sub(draw, ctx, left, False, depth), sub(draw, ctx, right, False, depth))


def gen_dot(draw, ctx, shape, pos, depth, op=None):
    if pos or len(shape) > 2:
        return None
    inner = draw(st.sampled_from([1, 2, 3]))
    if len(shape) == 0:
        left, right = draw(st.sampled_from([((inner,), (inner,)), ((), ())]))
    elif len(shape) == 1:
        left, right = draw(st.sampled_from([((shape[0], inner), (inner,)), ((inner,), (inner, shape[0])),
                                            ((), shape)]))
    else:
        left, right = draw(st.sampled_from([((shape[0], inner), (inner, shape[1])), (shape, ())]))
    return ("call", "dot", [sub(draw, ctx, left, False, depth), sub(draw, ctx, right, False, depth)], [])


def gen_outer(draw, ctx, shape, pos, depth, op=None):
    if len(shape) != 2:
        return None

    def flat(n):
        options = [(n,), (1, n), (n, 1)] + ([()] if n == 1 else [])
        return draw(st.sampled_from(options))
    return ("call", "outer", [sub(draw, ctx, flat(shape[0]), pos, depth), sub(draw, ctx, flat(shape[1]), pos, depth)],
            [])


def gen_kron(draw, ctx, shape, pos, depth, op=None):
    """kron: each of the result's axes split into a's factor and b's (d·1 or 1·d), and now and then
    an operand of lower rank, its leading axes of length 1 left out (numpy pads them back)."""
    if len(shape) > 3:
        return None
    split = [draw(st.sampled_from([(d, 1), (1, d)])) for d in shape]
    left, right = tuple(a for a, _ in split), tuple(b for _, b in split)
    # numpy's result has the larger operand rank: only one operand may lose leading axes
    shorten_left = draw(st.booleans())
    for _ in range(2):
        if shorten_left and left and left[0] == 1 and draw(st.booleans()):
            left = left[1:]
        if not shorten_left and right and right[0] == 1 and draw(st.booleans()):
            right = right[1:]
    return ("call", "kron", [sub(draw, ctx, left, pos, depth), sub(draw, ctx, right, pos, depth)], [])


def gen_einsum(draw, ctx, shape, pos, depth, op=None):
    if pos or len(shape) > 3:
        return None
    letters = list("ijklm")
    out = letters[:len(shape)]
    sizes = dict(zip(out, shape))
    for c in letters[len(shape):len(shape) + draw(st.integers(0, 2))]:
        sizes[c] = draw(st.sampled_from([1, 2, 3]))
    pool = sorted(sizes)
    subs = []
    for _ in range(draw(st.integers(1, 3))):
        chosen = [c for c in pool if draw(st.booleans())][:3]
        subs.append(chosen)
    for c in out:  # every output letter in some operand
        if not any(c in s for s in subs):
            room = [s for s in subs if len(s) < 3] or subs
            room[draw(st.integers(0, len(room) - 1))].append(c)
    subs = [draw(st.permutations(s)) if len(s) > 1 else s for s in subs]
    spec = ",".join("".join(s) for s in subs) + "->" + "".join(out)
    args = [sub(draw, ctx, tuple(sizes[c] for c in s), False, depth) for s in subs]
    return ("einsum", spec, args)


# ---- structure --------------------------------------------------------------------------------

def gen_transpose(draw, ctx, shape, pos, depth, op=None):
    form = draw(st.integers(0, 2))
    if form == 2 and len(shape) >= 2:
        perm = list(draw(st.permutations(range(len(shape)))))
        operand = [0] * len(shape)  # the result's axis k is the operand's axis perm[k]
        for k, p in enumerate(perm):
            operand[p] = shape[k]
        axes = tuple(p - len(shape) if draw(st.integers(0, 3)) == 0 else p for p in perm)
        return ("call", "transpose", [sub(draw, ctx, tuple(operand), pos, depth)], [("axes", axes, "kw")])
    operand = sub(draw, ctx, tuple(reversed(shape)), pos, depth)
    if form == 0:
        return ("T", operand)
    return ("call", "transpose", [operand], [("axes", None, "kw")] if draw(st.integers(0, 5)) == 0 else [])


def gen_stack(draw, ctx, shape, pos, depth, op=None):
    if not shape:
        return None
    if draw(st.booleans()):  # an array literal of expressions stacks along axis 0
        return ("list", [sub(draw, ctx, shape[1:], pos, depth) for _ in range(shape[0])])
    k = draw(st.integers(0, len(shape) - 1))
    item = shape[:k] + shape[k + 1:]
    items = [sub(draw, ctx, item, pos, depth) for _ in range(shape[k])]
    axis = k - len(shape) if draw(st.booleans()) else k
    params = [] if axis == 0 and draw(st.booleans()) else params_of(draw, [("axis", axis)])
    return ("call", "stack", [("list", items)], params)


def gen_concat(draw, ctx, shape, pos, depth, op=None):
    if not shape:
        return None
    k = draw(st.integers(0, len(shape) - 1))
    left, parts = shape[k], []
    while left > 0:
        n = draw(st.integers(1, left))
        parts.append(n)
        left -= n
    items = [sub(draw, ctx, shape[:k] + (n,) + shape[k + 1:], pos, depth) for n in parts]
    axis = k - len(shape) if draw(st.booleans()) else k
    name = draw(st.sampled_from(["concat", "concat", "concatenate"]))
    params = [] if axis == 0 and draw(st.booleans()) else params_of(draw, [("axis", axis)])
    return ("call", name, [("list", items)], params)


def gen_reshape(draw, ctx, shape, pos, depth, op=None):
    size = prod(shape)
    options = [s for s in SHAPES + [(size,), (1, size), (size, 1)] if prod(s) == size]
    operand = draw(st.sampled_from(sorted(set(options))))
    target = list(shape)
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return ("call", "reshape", [sub(draw, ctx, operand, pos, depth)], params_of(draw, [("shape", tuple(target))]))


def gen_expand_dims(draw, ctx, shape, pos, depth, op=None):
    ones = [k for k, d in enumerate(shape) if d == 1]
    if not ones:
        return None
    k = draw(st.sampled_from(ones))
    operand = shape[:k] + shape[k + 1:]
    axis = k - len(shape) if draw(st.booleans()) else k
    params = [] if axis == 0 and draw(st.booleans()) else params_of(draw, [("axis", axis)])
    return ("call", "expand_dims", [sub(draw, ctx, operand, pos, depth)], params)


def gen_squeeze(draw, ctx, shape, pos, depth, op=None):
    if len(shape) >= 3:
        return None
    k = draw(st.integers(0, len(shape)))
    operand = shape[:k] + (1,) + shape[k:]
    if 1 not in shape and draw(st.booleans()):
        params = []
    else:
        axis = k - len(operand) if draw(st.booleans()) else k
        params = params_of(draw, [("axis", axis)])
    return ("call", "squeeze", [sub(draw, ctx, operand, pos, depth)], params)


def gen_flip(draw, ctx, shape, pos, depth, op=None):
    form = draw(st.integers(0, 2))
    if form == 0 or not shape:
        params = []
    elif form == 1:
        k = draw(st.integers(0, len(shape) - 1))
        params = params_of(draw, [("axis", k - len(shape) if draw(st.booleans()) else k)])
    else:
        axes = tuple(k for k in range(len(shape)) if draw(st.booleans())) or (0,)
        params = [("axis", axes, "kw")]
    return ("call", "flip", [sub(draw, ctx, shape, pos, depth)], params)


def gen_roll(draw, ctx, shape, pos, depth, op=None):
    """roll by any whole number of places (past the length too), flat or along an axis."""
    shift = draw(st.integers(-7, 7))
    if shape and draw(st.booleans()):
        k = draw(st.integers(0, len(shape) - 1))
        params = params_of(draw, [("shift", shift), ("axis", k - len(shape) if draw(st.booleans()) else k)])
    else:
        params = params_of(draw, [("shift", shift)])
    return ("call", "roll", [sub(draw, ctx, shape, pos, depth)], params)


def gen_broadcast_to(draw, ctx, shape, pos, depth, op=None):
    operand = broadcast_partner(draw, shape)
    return ("call", "broadcast_to", [sub(draw, ctx, operand, pos, depth)], params_of(draw, [("shape", shape)]))


def diag_length(rows, cols, k):
    return max(0, min(rows, cols - k) if k >= 0 else min(rows + k, cols))


def gen_diag(draw, ctx, shape, pos, depth, op=None):
    if len(shape) == 2 and shape[0] == shape[1] and not pos:
        k = draw(st.sampled_from([k for k in (-1, 0, 1) if shape[0] - abs(k) >= 1]))
        operand = (shape[0] - abs(k),)
    elif len(shape) == 1:
        options = [(r, c, k) for r in (1, 2, 3) for c in (1, 2, 3) for k in (-1, 0, 1)
                   if diag_length(r, c, k) == shape[0]]
        if not options:
            return None
        r, c, k = draw(st.sampled_from(options))
        operand = (r, c)
    else:
        return None
    params = [] if k == 0 and draw(st.booleans()) else params_of(draw, [("k", k)])
    return ("call", "diag", [sub(draw, ctx, operand, pos, depth)], params)


def gen_trace(draw, ctx, shape, pos, depth, op=None):
    if shape != ():
        return None
    operand = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return ("call", "trace", [sub(draw, ctx, operand, pos, depth)], [])


def gen_triangle(draw, ctx, shape, pos, depth, op=None):
    if len(shape) < 2 or pos:
        return None
    name = op or draw(st.sampled_from(["tril", "triu"]))
    k = draw(st.sampled_from([-1, 0, 0, 1]))
    params = [] if k == 0 and draw(st.booleans()) else params_of(draw, [("k", k)])
    return ("call", name, [sub(draw, ctx, shape, False, depth)], params)


def gen_cumsum(draw, ctx, shape, pos, depth, op=None):
    """cumsum, cumprod or logcumsumexp (running along an axis, or of the flattened operand), or sort,
    whose default axis is the last: of the flattened operand it is written axis=None."""
    name = op or "cumsum"
    if pos and name == "logcumsumexp":
        return None
    if len(shape) == 1 and draw(st.booleans()):  # of the flattened operand
        options = [s for s in SHAPES if prod(s) == shape[0] and s] or [shape]  # diff's operands: lengths 4 to 6
        operand = draw(st.sampled_from(options))
        params = [("axis", None, "kw")] if name == "sort" or draw(st.booleans()) else []
        return ("call", name, [sub(draw, ctx, operand, pos, depth)], params)
    if not shape:
        return None
    k = draw(st.integers(0, len(shape) - 1))
    if name == "sort" and k == len(shape) - 1 and draw(st.booleans()):
        return ("call", name, [sub(draw, ctx, shape, pos, depth)], [])
    return ("call", name, [sub(draw, ctx, shape, pos, depth)],
            params_of(draw, [("axis", k - len(shape) if draw(st.booleans()) else k)]))


def gen_diff(draw, ctx, shape, pos, depth, op=None):
    """diff, n times (0 to 3) along an axis: the operand longer by n there (the last by default)."""
    if not shape or pos:
        return None
    n, k = draw(st.integers(0, 3)), draw(st.integers(0, len(shape) - 1))
    operand = shape[:k] + (shape[k] + n,) + shape[k + 1:]
    pairs = [] if n == 1 and draw(st.booleans()) else [("n", n)]
    if k != len(shape) - 1 or draw(st.booleans()):
        pairs.append(("axis", k - len(shape) if draw(st.booleans()) else k))
    # diff(x, n, axis): an axis without n goes by keyword
    return ("call", "diff", [sub(draw, ctx, operand, False, depth)], params_of(draw, pairs, pairs[:1] != [] and
                                                                               pairs[0][0] == "n"))


def gen_argmax(draw, ctx, shape, pos, depth, op=None):
    """A value plus (or times) the index of an operand's largest or smallest element: along an
    inserted axis, kept (keepdims) where the result has a 1, or of the whole flattened operand."""
    name = op or draw(st.sampled_from(["argmax", "argmin"]))
    if len(shape) >= 3:
        return None
    form, pairs = draw(st.integers(0, 3)), []
    ones = [k for k, d in enumerate(shape) if d == 1]
    if shape == () and form == 0:
        operand = draw(st.sampled_from(SHAPES[1:9]))
        pairs = [("axis", None)] if draw(st.booleans()) else []
    elif ones and form == 1:
        k = draw(st.sampled_from(ones))
        operand = shape[:k] + (draw(st.sampled_from([2, 3])),) + shape[k + 1:]
        pairs = [("axis", k - len(shape) if draw(st.booleans()) else k), ("keepdims", True)]
    else:
        k = draw(st.integers(0, len(shape)))
        operand = shape[:k] + (draw(st.sampled_from([1, 2, 3])),) + shape[k:]
        pairs = [("axis", k - len(operand) if draw(st.booleans()) else k)]
    index = ("call", name, [sub(draw, ctx, operand, False, depth)], params_of(draw, pairs))
    return ("bin", "+" if pos or draw(st.booleans()) else "*", sub(draw, ctx, shape, pos, depth), index)


# ---- reductions and the softmax family ------------------------------------------------------------

REDUCTIONS = ["sum", "mean", "max", "min", "prod", "var", "std", "norm"]


def reduced_operand(draw, shape):
    """(operand shape, axis, keepdims) such that reducing the operand gives `shape`."""
    form = draw(st.integers(0, 5))
    if shape == () and form == 0:
        return draw(st.sampled_from(SHAPES[1:9])), None, False
    if shape and all(d == 1 for d in shape) and form == 1:  # everything, keeping the axes
        return tuple(draw(st.sampled_from([1, 2, 3])) for _ in shape), None, True
    ones = [k for k, d in enumerate(shape) if d == 1]
    if ones and form == 2:  # along axes of length 1 of the result, kept
        chosen = [k for k in ones if draw(st.booleans())] or ones[:1]
        operand = tuple(draw(st.sampled_from([2, 3])) if k in chosen else d for k, d in enumerate(shape))
        axes = tuple(chosen)
        keep = True
    else:
        if len(shape) >= 3:
            return None
        count = draw(st.integers(1, min(2, 3 - len(shape))))
        operand, axes = list(shape), []
        for _ in range(count):
            k = draw(st.integers(0, len(operand)))
            operand.insert(k, draw(st.sampled_from([1, 2, 3, 3])))
            axes = [a + 1 if a >= k else a for a in axes] + [k]
        operand, axes, keep = tuple(operand), tuple(sorted(axes)), False
    n = len(operand)
    axes = tuple(a - n if draw(st.integers(0, 2)) == 0 else a for a in axes)
    if len(axes) > 1:
        axes = tuple(draw(st.permutations(axes)))
    axis = axes[0] if len(axes) == 1 and draw(st.booleans()) else axes
    return operand, axis, keep


def gen_reduce(draw, ctx, shape, pos, depth, op=None):
    f = op or draw(st.sampled_from(REDUCTIONS))
    found = reduced_operand(draw, shape)
    if found is None:
        return None
    operand, axis, keep = found
    pairs = []
    if axis is not None or draw(st.integers(0, 3)) == 0:
        pairs.append(("axis", axis))
    if f in ("var", "std") and draw(st.booleans()):
        pairs.append(("ddof", draw(st.sampled_from([0, 1]))))
    if keep or draw(st.integers(0, 4)) == 0:
        pairs.append(("keepdims", keep))
    if not pairs or pairs[0][0] != "axis":
        params = [(name, value, "kw") for name, value in pairs]
    else:  # max(x, 0) would be the elementwise maximum: max and min take their axis by keyword
        params = fix_positional(params_of(draw, pairs, positional_ok=f not in ("max", "min")), f)
    return ("call", f, [sub(draw, ctx, operand, pos and f not in ("var", "std", "norm"), depth)], params)


def fix_positional(params, f):
    """Positional parameters must follow the function's own parameter order."""
    order = {"var": ["axis", "ddof", "keepdims"], "std": ["axis", "ddof", "keepdims"]}.get(f, ["axis", "keepdims"])
    out, positional = [], True
    for k, (name, value, style) in enumerate(params):
        positional = positional and style == "pos" and k < len(order) and order[k] == name
        out.append((name, value, "pos" if positional else "kw"))
    return out


def gen_softmax(draw, ctx, shape, pos, depth, op=None):
    if not shape:
        return None
    name = op or draw(st.sampled_from(["softmax", "log_softmax"]))
    if pos and name != "softmax":
        return None
    k = draw(st.integers(0, len(shape) - 1))
    if k == len(shape) - 1 and draw(st.booleans()):
        params = []
    else:
        params = params_of(draw, [("axis", k - len(shape) if draw(st.booleans()) else k)])
    return ("call", name, [sub(draw, ctx, shape, False, depth)], params)


def gen_logsumexp(draw, ctx, shape, pos, depth, op=None):
    if pos or len(shape) >= 3:
        return None
    ones = [k for k, d in enumerate(shape) if d == 1]
    if ones and draw(st.integers(0, 2)) == 0:
        k = draw(st.sampled_from(ones))
        operand = shape[:k] + (draw(st.sampled_from([2, 3])),) + shape[k + 1:]
        keep = True
    else:
        k = draw(st.integers(0, len(shape)))
        operand = shape[:k] + (draw(st.sampled_from([1, 2, 3])),) + shape[k:]
        keep = False
    n = len(operand)
    pairs = []
    if k != n - 1 or keep or draw(st.booleans()):
        pairs.append(("axis", k - n if draw(st.booleans()) else k))
    if keep:
        pairs.append(("keepdims", True))
    return ("call", "logsumexp", [sub(draw, ctx, operand, False, depth)], params_of(draw, pairs))


# ---- linear algebra: well-conditioned operands built inside the program ----------------------------

def matrix(draw, ctx, n, batch, kind, depth):
    """A square matrix (or a batch): symmetric positive definite (P Pᵀ + n I), diagonally
    dominant (tanh(M) + c I), or anything (hostile programs, now and then)."""
    full = tuple(batch) + (n, n)
    if kind == "raw" or (ctx.hostile and draw(st.integers(0, 3)) == 0):
        return sub(draw, ctx, full, False, depth)
    eye = ("bin", "*", ("num", float(n + 1)), ctor(draw, ctx, "eye", n))
    if kind == "dd":
        m = sub(draw, ctx, full, False, depth - 1)
        return ("bin", "+", ("call", draw(st.sampled_from(["tanh", "sin"])), [m], []), eye)
    m = draw(st.sampled_from([1, n, n + 1]))
    p = sub(draw, ctx, tuple(batch) + (n, m), False, depth - 1)
    if batch:  # one or more batch axes: P Pᵀ over the last two
        form, b = draw(st.integers(0, 1)), len(batch)
        lead = "abcdefgh"[:b]
        swapped = tuple(range(b)) + (b + 1, b)
        ppt = ("einsum", f"{lead}ij,{lead}kj->{lead}ik", [p, p]) if form == 0 else \
            ("bin", "@", p, ("call", "transpose", [p], [("axes", swapped, "kw")]))
    else:
        pt = ("T", p) if draw(st.booleans()) else ("call", "transpose", [p], [])
        ppt = ("bin", "@", p, pt) if draw(st.booleans()) else ("call", "dot", [p, pt], [])
    return ("bin", "+", ppt, eye)


def gen_solve(draw, ctx, shape, pos, depth, op=None):
    if pos or not shape or len(shape) > 3 or ctx.scalar:
        return None
    options = []
    if len(shape) == 1:
        options.append(((), shape[0]))
    if len(shape) == 2:
        options += [((), shape[0]), ((shape[0],), shape[1])]
    if len(shape) == 3:
        options.append(((shape[0],), shape[1]))
    batch, n = draw(st.sampled_from(options))
    name = op or draw(st.sampled_from(["solve", "solve_triangular"]))
    a = matrix(draw, ctx, n, batch, draw(st.sampled_from(["spd", "dd", "dd"])), depth)
    b = sub(draw, ctx, shape, False, depth)
    params = []
    if name == "solve_triangular" and draw(st.booleans()):
        params = params_of(draw, [("lower", draw(st.booleans()))])
    return ("call", name, [a, b], params)


def gen_inverse(draw, ctx, shape, pos, depth, op=None):
    if pos or len(shape) < 2 or shape[-1] != shape[-2] or ctx.scalar:
        return None
    name = op or draw(st.sampled_from(["inv", "cholesky"]))
    kind = "spd" if name == "cholesky" or draw(st.booleans()) else "dd"
    return ("call", name, [matrix(draw, ctx, shape[-1], shape[:-2], kind, depth)], [])


def gen_det(draw, ctx, shape, pos, depth, op=None):
    if len(shape) > 1 or ctx.scalar:
        return None
    name = op or draw(st.sampled_from(["det", "logdet"]))
    n = draw(st.sampled_from([1, 2, 3]))
    # det is a polynomial, differentiable at a singular matrix too (x * ones([2, 2]), say)
    kind = draw(st.sampled_from(["spd", "dd", "spd", "dd", "raw"] if name == "det" else ["spd", "dd"]))
    if pos and not (name == "det" and kind == "spd"):
        return None
    return ("call", name, [matrix(draw, ctx, n, shape, kind, depth)], [])


def gen_eigvalsh(draw, ctx, shape, pos, depth, op=None):
    if not shape or len(shape) > 2 or ctx.scalar:
        return None
    return ("call", "eigvalsh", [matrix(draw, ctx, shape[-1], shape[:-1], "spd", depth)], [])


# ---- indexing ---------------------------------------------------------------------------------

def slices_of_length(n, length):
    out = []
    bounds = [None] + list(range(-n, n + 1))
    for step in (None, 1, 2, -1, -2):
        for start in bounds:
            for stop in bounds:
                if len(range(*slice(start, stop, step).indices(n))) == length:
                    out.append((start, stop, step))
    return out


def int_tree(k):
    return ("int", k)


def static_index(draw, ctx, n):
    """An int index valid for an axis of size n: a number, or a loop-variable expression valid
    for every value the loop variable takes."""
    usable = []
    for var, values in sorted(ctx.loops.items()):
        if not values:
            continue
        for c in (0, -1, 1, -2):
            if all(-n <= v + c < n for v in values):
                usable.append((var, c))
    if usable and draw(st.booleans()):
        var, c = draw(st.sampled_from(usable))
        if c == 0:
            return ("lv", var)
        return ("bin", "+" if c > 0 else "-", ("lv", var), ("int", abs(c)))
    return ("int", draw(st.integers(-n, n - 1)))


def loop_slice(draw, ctx, n, length):
    """x[t:t + length] for a loop variable t, when it fits for every value of t."""
    usable = []
    for var, values in sorted(ctx.loops.items()):
        for c in (0, 1, -1):
            if values and all(0 <= v + c and v + c + length <= n for v in values):
                usable.append((var, c))
    if not usable:
        return None
    var, c = draw(st.sampled_from(usable))
    start = ("lv", var) if c == 0 else ("bin", "+" if c > 0 else "-", ("lv", var), ("int", abs(c)))
    return ("s", start, ("bin", "+", start, ("int", length)), None)


def gen_getitem(draw, ctx, shape, pos, depth, op=None):
    if ctx.scalar:
        return None
    items, base, i = [], [], 0
    while len(items) < 4 and len(base) < 4:
        choice = draw(st.integers(0, 4))
        if choice == 0:  # an int index removes an axis
            n = draw(st.sampled_from([1, 2, 3, 4]))
            items.append(("i", static_index(draw, ctx, n)))
            base.append(n)
        elif i < len(shape) and choice == 1 and shape[i] == 1:
            items.append(("none",))
            i += 1
        elif i < len(shape) and choice in (1, 2, 3):
            n = shape[i] + draw(st.integers(0, 2))
            item = loop_slice(draw, ctx, n, shape[i]) if ctx.loops and draw(st.booleans()) else None
            if item is None:
                start, stop, step = draw(st.sampled_from(slices_of_length(n, shape[i])))
                item = ("s", *(None if v is None else int_tree(v) for v in (start, stop, step)))
            items.append(item)
            base.append(n)
            i += 1
        else:
            break
    if not items:
        return None
    base = tuple(base) + tuple(shape[i:])
    if len(base) > 4:
        return None
    return ("index", sub(draw, ctx, base, pos, depth), items)


AT_METHODS = ["set", "set", "set", "set", "add", "add", "multiply", "max", "min"]


def gen_setitem(draw, ctx, shape, pos, depth, op=None):
    """base.at[items].set(v), an update as a value (the registry's setitem), now and then .add(v),
    .multiply(v), .max(v) or .min(v) (the part read, combined with v, placed back). The items are
    ints (loop variables too), slices (t:t + k too) and a None, never arrays; v's shape broadcasts to
    the part's."""
    if ctx.scalar or not shape:
        return None
    items, part, i, nones = [], [], 0, 0
    while i < len(shape) and len(items) < 4:
        choice = draw(st.integers(0, 6))
        n = shape[i]
        if choice <= 1:  # an int: the axis is not in the part
            items.append(("i", static_index(draw, ctx, n)))
            i += 1
        elif choice == 2 and not nones:  # None: an axis of length 1 in the part
            items.append(("none",))
            part.append(1)
            nones += 1
        elif choice <= 5:
            length = draw(st.integers(1, n))
            item = loop_slice(draw, ctx, n, length) if ctx.loops and draw(st.booleans()) else None
            if item is None:
                start, stop, step = draw(st.sampled_from(slices_of_length(n, length)))
                item = ("s", *(None if v is None else int_tree(v) for v in (start, stop, step)))
            items.append(item)
            part.append(length)
            i += 1
        else:  # the remaining axes whole
            break
    if not items:
        return None
    part = tuple(part) + tuple(shape[i:])
    method = draw(st.sampled_from(AT_METHODS))
    base = sub(draw, ctx, shape, pos, depth)
    return ("setitem", base, items, method, sub(draw, ctx, broadcast_partner(draw, part), pos, depth))


def int_array(draw, ctx, shape):
    """(tree, lo, hi): integer data of `shape` with values in [lo, hi)."""
    options = []
    for n in ctx.ints(shape):
        options.append(("name", n))
    if len(shape) == 1:
        options.append(("arange",))
    if not options:
        return None
    choice = draw(st.sampled_from(options))
    if choice[0] == "name":
        var = ctx.vars[choice[1]]
        shift = draw(st.sampled_from([0, 0, 0, -1, 1]))
        tree = ("name", choice[1])
        if shift:
            tree = ("bin", "+" if shift > 0 else "-", tree, ("int", abs(shift)))
        return tree, var.lo + shift, var.hi + shift
    return ctor(draw, ctx, "arange", shape[0]), 0, shape[0]


def gen_gather(draw, ctx, shape, pos, depth, op=None):
    if not shape or ctx.scalar:
        return None
    form = draw(st.integers(0, 3))
    if form == 1 and len(shape) <= 2:  # Z[I1, I2]: both over axis pairs
        first, second = int_array(draw, ctx, shape[:1]), int_array(draw, ctx, shape[:1])
        if first is None or second is None:
            return None
        (i1, lo1, hi1), (i2, lo2, hi2) = first, second
        base = (max(hi1, -lo1, 1) + draw(st.integers(0, 1)), max(hi2, -lo2, 1)) + shape[1:]
        items = [("arr", i1), ("arr", i2)]
    elif form == 2 and len(shape) >= 2:  # Z[:, I]
        k = draw(st.integers(1, min(2, len(shape) - 1)))
        found = int_array(draw, ctx, shape[1:1 + k])
        if found is None:
            return None
        i1, lo, hi = found
        base = (shape[0], max(hi, -lo, 1) + draw(st.integers(0, 1))) + shape[1 + k:]
        items = [("s", None, None, None), ("arr", i1)]
    elif form == 3 and len(shape) >= 2 and shape[1] == 1:  # E[I, None]
        found = int_array(draw, ctx, shape[:1])
        if found is None:
            return None
        i1, lo, hi = found
        base = (max(hi, -lo, 1),) + shape[2:]
        items = [("arr", i1), ("none",)]
    else:  # E[I]
        k = draw(st.integers(1, min(2, len(shape))))
        found = int_array(draw, ctx, shape[:k])
        if found is None:
            return None
        i1, lo, hi = found
        base = (max(hi, -lo, 1) + draw(st.integers(0, 1)),) + shape[k:]
        items = [("arr", i1)]
        if len(base) > 1 and draw(st.integers(0, 3)) == 0:
            items.append(("s", None, None, None))
    if len(base) > 4:
        return None
    return ("index", sub(draw, ctx, base, pos, depth), items)


def gen_one_hot(draw, ctx, shape, pos, depth, op=None):
    if len(shape) < 2 or pos or ctx.scalar:
        return None
    found = int_array(draw, ctx, shape[:-1])
    if found is None or found[1] < 0 or found[2] > shape[-1]:  # a label outside [0, k) is an error
        return None
    return ("call", "one_hot", [found[0]], params_of(draw, [("k", shape[-1])]))


def gen_size(draw, ctx, shape, pos, depth, op=None):
    """A value divided or multiplied by a size: size(x), size(x, axis), or a declared dimension."""
    dims = sorted(ctx.dims) if not ctx.in_function else []
    if dims and draw(st.booleans()):
        factor = ("dim", draw(st.sampled_from(dims)))
    else:
        of = draw(st.sampled_from(SHAPES[1:9]))
        operand = sub(draw, ctx, of, False, 1) if draw(st.booleans()) or not ctx.floats(of, False) \
            else ("name", draw(st.sampled_from(ctx.floats(of, False))))
        if draw(st.booleans()):
            k = draw(st.integers(0, len(of) - 1))
            factor = ("size", operand, k - len(of) if draw(st.booleans()) else k, draw(st.sampled_from(["pos", "kw"])))
        else:
            factor = ("size", operand, None, None)
    return ("bin", draw(st.sampled_from(["*", "/"])), sub(draw, ctx, shape, pos, depth), factor)


def gen_filled(draw, ctx, shape, pos, depth, op=None):
    """h * ones([n, 3]): a constructor sized by a declared dimension or size(x, k)."""
    if not shape:
        return None
    made = ctor(draw, ctx, "ones", shape)
    if all(item is None for item in made[3]):
        return None
    return ("bin", "*", sub(draw, ctx, shape, pos, depth), made)


def gen_loop_number(draw, ctx, shape, pos, depth, op=None):
    if not ctx.loops or pos:
        return None
    return ("bin", draw(st.sampled_from(["+", "*", "-"])), sub(draw, ctx, shape, False, depth), loop_scalar(draw, ctx))


def gen_fcall(draw, ctx, shape, pos, depth, op=None):
    options = sorted(n for n, f in ctx.functions.items() if f.shape == shape and (f.pos or not pos))
    if not options:
        return None
    fn = ctx.functions[draw(st.sampled_from(options))]
    return ("fcall", fn.name, [sub(draw, ctx, s, p, depth) for _, s, p in fn.params])


# fixed_point, root and a function with its derivative rule, each with a function of a fixed form
# (a contraction, an equation with one root, a rule that is its function's true derivative), defined
# at the top of any program that uses them.
IMPLICIT_SOURCES = [
    "def contract(x, p) = 0.5 * tanh(x) + p",
    "def monotone(x, p) = x + 0.25 * sin(x) - p",  # slope in [0.75, 1.25]: Newton's error shrinks from anywhere
    "def smooth(x, p) = x * p + sin(x)",
    "def smooth.vjp(x, p, g) = g * (p + cos(x)), g * x",
    # a loop kept as a loop (64 steps: the fewest kept), contracting for every p (slope 0.5 to 0.75 in h):
    # an expanding step would amplify x's digits 1.3**64-fold, a steepness no point check sees
    "def drift(x, p):\n    h = x\n    for r in range(64):\n        h = 0.5 * h + 0.25 * tanh(h + p)\n    return h",
    # a while loop to h = 0.5·tanh(h + p), whose count the values decide: bounded after one step and
    # contracting (slope at most 0.5), it ends for every x and p, a NaN's residual ending it at once
    ("def settle(x, p):\n    h = x\n    while max(abs(h - 0.5 * tanh(h + p))) > 1e-9, max_iter=100:\n"
     "        h = 0.5 * tanh(h + p)\n    return h"),
]
SOLVED_BY = {"fixed_point": "contract", "root": "monotone"}


def gen_implicit(draw, ctx, shape, pos, depth, op=None):
    if pos:
        return None
    kind = op or draw(st.sampled_from(["fixed_point", "root", "rule", "loop", "while"]))
    ctx.solved.add(kind)
    x, p = sub(draw, ctx, shape, False, depth), sub(draw, ctx, shape, False, depth)
    if kind in ("rule", "loop", "while"):
        return ("fcall", {"rule": "smooth", "loop": "drift", "while": "settle"}[kind], [x, p])
    return ("solve", kind, SOLVED_BY[kind], x, p)


def reference_solve(kind, x0, p):
    """What fixed_point(contract, x0, p) and root(monotone, x0, p) give, by this file's own numpy:
    the same iteration and stopping rule (relative 1e-14; an equal, or a NaN, value has settled)."""
    x = np.asarray(x0, dtype=np.float64) + 0.0
    for _ in range(10000):
        new = 0.5 * np.tanh(x) + p if kind == "fixed_point" else x - (x + 0.25 * np.sin(x) - p) / (1 + 0.25 * np.cos(x))
        if np.all((new == x) | (np.abs(new - x) <= 1e-14 * np.abs(new)) | np.isnan(new)):
            return new
        x = new
    raise AssertionError(f"{kind} did not settle from {x0!r} at {p!r}")


GENERATORS = {
    "unary": gen_unary, "neg": gen_neg, "arith": gen_arith, "binary_function": gen_binary_function,
    "pow": gen_pow, "clip": gen_clip, "where": gen_where, "mask": gen_mask, "matmul": gen_matmul,
    "dot": gen_dot, "outer": gen_outer, "einsum": gen_einsum, "transpose": gen_transpose, "stack": gen_stack,
    "concat": gen_concat, "reshape": gen_reshape, "expand_dims": gen_expand_dims, "squeeze": gen_squeeze,
    "flip": gen_flip, "roll": gen_roll, "kron": gen_kron, "diff": gen_diff, "argmax": gen_argmax,
    "broadcast_to": gen_broadcast_to, "diag": gen_diag, "trace": gen_trace,
    "triangle": gen_triangle, "cumsum": gen_cumsum, "reduce": gen_reduce, "softmax": gen_softmax,
    "logsumexp": gen_logsumexp, "solve": gen_solve, "inverse": gen_inverse, "det": gen_det,
    "eigvalsh": gen_eigvalsh, "getitem": gen_getitem, "setitem": gen_setitem, "gather": gen_gather,
    "one_hot": gen_one_hot,
    "size": gen_size, "loop_number": gen_loop_number, "fcall": gen_fcall, "filled": gen_filled,
    "implicit": gen_implicit,
}
# What the generator tries at a node: one entry per registry operation (or operator spelling),
# so that each is drawn about as often as any other; shape-bound ones now and then more.
KINDS = ([f"unary:{name}" for name in sorted(UNARY)]
         + [f"arith:{c}" for c in "+-*/"] + [f"binary_function:{f}" for f in BINARY_FUNCTIONS]
         + ["neg", "neg", "neg", "pow", "pow", "clip", "clip", "where", "where"] + [f"mask:{c}" for c in COMPARISONS]
         + ["matmul", "matmul", "dot", "outer", "einsum", "einsum", "transpose", "transpose", "stack", "stack",
            "concat", "concat", "reshape", "expand_dims", "expand_dims", "expand_dims", "squeeze", "flip",
            "roll", "broadcast_to", "diag", "diag", "trace", "trace", "trace", "triangle:tril", "triangle:tril",
            "triangle:triu", "triangle:triu", "cumsum", "cumsum:cumprod", "cumsum:logcumsumexp", "cumsum:sort",
            "cumsum:sort", "diff", "diff", "kron", "kron", "argmax:argmax", "argmax:argmin"]
         + [f"reduce:{f}" for f in REDUCTIONS] + ["reduce"]
         + ["softmax:softmax", "softmax:log_softmax", "softmax:log_softmax", "logsumexp", "logsumexp"]
         + ["solve:solve", "solve:solve", "solve:solve_triangular", "solve:solve_triangular", "inverse:inv",
            "inverse:inv", "inverse:inv", "inverse:cholesky", "inverse:cholesky", "det:det", "det:det",
            "det:logdet", "det:logdet", "det:logdet", "eigvalsh", "eigvalsh"]
         + ["getitem"] * 3 + ["setitem"] * 3 + ["gather"] * 3 + ["one_hot"] * 3 + ["size", "filled", "loop_number", "loop_number"]
         + ["fcall"] * 4 + ["implicit:fixed_point", "implicit:root", "implicit:rule",
                                 "implicit:loop", "implicit:while"])
SYMBOL_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "<": "less", "<=": "less_equal", ">": "greater",
              ">=": "greater_equal", "==": "equal", "!=": "not_equal", "max": "maximum", "min": "minimum"}
REDUCTION_OPS = {"max": "amax", "min": "amin"}


def producers(op: str) -> list[str]:
    """The KINDS entries whose tree's root is operation `op` (for the coverage test)."""
    out = []
    for entry in dict.fromkeys(KINDS):
        kind, _, name = entry.partition(":")
        made = {"arith": SYMBOL_OPS.get(name), "mask": SYMBOL_OPS.get(name),
                "binary_function": SYMBOL_OPS.get(name, name), "reduce": REDUCTION_OPS.get(name, name),
                "unary": name, "triangle": name, "softmax": name, "solve": name, "inverse": name,
                "det": name, "cumsum": name or kind, "argmax": name, "implicit": name}.get(kind, kind)
        if made == op or (kind == "where" and op == "where") or (kind == "matmul" and op == "matmul"):
            out.append(entry)
    return out


# Scalar programs: what runs on the scalar fast path (elementwise operations of one or two
# operands without parameters, and a scalar @), with a few others now and then.
SCALAR_KINDS = ([f"unary:{name}" for name in sorted(UNARY) if name not in ("elu", "leaky_relu")]
                + [f"arith:{c}" for c in "+-*/"] * 2 + [f"binary_function:{f}" for f in BINARY_FUNCTIONS]
                + ["neg", "neg", "pow", "pow", "pow", "matmul", "matmul", "fcall", "fcall", "fcall", "loop_number",
                   "where", "clip"])


# ---------------------------------------------------------------------------------------------
# Statements: declarations, assignments, functions (def), loops (for)
#   ("input", name, dims, kind) kind: float | int | data
#   ("assign", name, tree)
#   ("def", name, params, body, return tree, inline)
#   ("for", var, bounds, body)
# ---------------------------------------------------------------------------------------------

def range_values(bounds):
    return list(range(*bounds))


@st.composite
def loop_statement(draw, ctx, level, vars_pool):
    var = draw(st.sampled_from([v for v in vars_pool if v not in ctx.loops and v not in ctx.vars]))
    form = draw(st.integers(0, 5))
    outer = sorted(ctx.loops)
    if outer and form >= 4:  # bounds from an outer loop variable: range(i + 1, 3), range(i)
        u = draw(st.sampled_from(outer))
        shape = draw(st.integers(0, 2))
        top = max(ctx.loops[u], default=0)
        if shape == 0:
            bounds_tree = [("bin", "+", ("lv", u), ("int", 1)), ("int", top + 1)]
            make = lambda x: (x + 1, top + 1)  # noqa: E731
        elif shape == 1:
            bounds_tree = [("lv", u)]
            make = lambda x: (x,)  # noqa: E731
        else:
            bounds_tree = [("int", 0), ("bin", "+", ("lv", u), ("int", 1))]
            make = lambda x: (0, x + 1)  # noqa: E731
        values = sorted({v for x in ctx.loops[u] for v in range(*make(x))})
    else:
        bounds = draw(st.sampled_from([(3,), (2,), (4,), (1,), (0,), (1, 3), (-1, 2), (3, 0, -1), (0, 4, 2),
                                       (2, 4)]))
        bounds_tree = [("int", b) for b in bounds]
        values = range_values(bounds)
    body_ctx = ctx.child()
    body_ctx.loops[var] = tuple(values)
    body = []
    for _ in range(draw(st.integers(1, 3))):
        body.append(draw(body_statement(body_ctx, level, vars_pool)))
    return ("for", var, bounds_tree, body)


@st.composite
def body_statement(draw, ctx, level, vars_pool):
    """A statement inside a loop: a name reassigned with its shape (and sign) kept, a new local
    name, or (two levels at most) a nested loop."""
    choice = draw(st.integers(0, 5))
    if choice == 0 and level < 1 and not ctx.scalar:
        return draw(loop_statement(ctx, level + 1, vars_pool))
    existing = sorted(n for n, v in ctx.vars.items() if v.kind != "int")
    if existing and choice <= 3:
        name = draw(st.sampled_from(existing))
        var = ctx.vars[name]
        tree = draw(expression(ctx, var.shape, var.pos, draw(st.integers(1, 3))))
        ctx.vars[name] = Var(var.shape, var.pos)
        return ("assign", name, tree)
    name = draw(st.sampled_from([n for n in LOCAL_NAMES if n not in ctx.vars] or ["tmp9"]))
    shape = () if ctx.scalar else draw(st.sampled_from(SHAPES[:9]))
    pos = draw(st.integers(0, 3)) == 0
    tree = draw(expression(ctx, shape, pos, draw(st.integers(1, 3))))
    ctx.vars[name] = Var(shape, pos)
    return ("assign", name, tree)


@st.composite
def function_def(draw, ctx):
    name = draw(st.sampled_from([f for f in FUNCTION_NAMES if f not in ctx.functions]))
    body_ctx = Ctx(ctx.hostile, ctx.scalar)
    body_ctx.functions, body_ctx.in_function, body_ctx.solved = dict(ctx.functions), True, ctx.solved
    params = []
    for p in PARAM_NAMES[:draw(st.integers(1, 3))]:
        shape = () if ctx.scalar else draw(st.sampled_from(SHAPES[:9]))
        pos = draw(st.integers(0, 3)) == 0
        params.append((p, shape, pos))
        body_ctx.vars[p] = Var(shape, pos)
    shape = () if ctx.scalar else draw(st.sampled_from([s for _, s, _ in params] + SHAPES[:5]))
    pos = draw(st.integers(0, 3)) == 0
    inline = draw(st.booleans())
    body = []
    if not inline:
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.integers(0, 4)) == 0 and not ctx.scalar:
                body.append(draw(loop_statement(body_ctx, 1, BODY_LOOP_VARS)))
                continue
            target = draw(st.sampled_from(["h", "z", "a"]))
            if target in body_ctx.vars:  # a local reassigned, or a parameter: its shape kept
                old = body_ctx.vars[target]
                tree = draw(expression(body_ctx, old.shape, old.pos, draw(st.integers(1, 3))))
            else:
                old = Var(() if ctx.scalar else draw(st.sampled_from(SHAPES[:9])), draw(st.booleans()))
                tree = draw(expression(body_ctx, old.shape, old.pos, draw(st.integers(1, 3))))
            body.append(("assign", target, tree))
            body_ctx.vars[target] = Var(old.shape, old.pos)
    ret = draw(expression(body_ctx, shape, pos, draw(st.integers(1, 3))))
    ctx.functions[name] = Fn(name, params, shape, pos)
    return ("def", name, [p for p, _, _ in params], body, ret, inline)


@st.composite
def programs(draw, hostile=False, root=None):
    """(statements, inputs, values): declarations, then definitions, loops and assignments; the
    last assignment, `loss`, is a scalar. `values` is None (well-scaled: drawn from a seed) or,
    in hostile mode, the input values, drawn here so that hypothesis can shrink them."""
    scalar = draw(st.integers(0, 9)) < (4 if hostile else 2)  # every value a scalar: the fast path
    ctx = Ctx(hostile, scalar)
    inputs, statements = {}, []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(INPUT_NAMES))
        if name in inputs:
            continue
        shape = () if scalar else draw(st.sampled_from(SHAPES))
        pos = draw(st.booleans())
        inputs[name] = Var(shape, pos)
        if draw(st.booleans()):  # declared, with numbers or named dimensions
            dims = [DIM_NAMES[d] if d in DIM_NAMES and draw(st.booleans()) else str(d) for d in shape]
            statements.append(("input", name, dims if dims or draw(st.booleans()) else None, "float"))
            ctx.dims.update({DIM_NAMES[d]: d for d, text in zip(shape, dims) if text == DIM_NAMES[d]})
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(DATA_NAMES))
        shape = () if scalar else draw(st.sampled_from(SHAPES[:9]))
        inputs[name] = Var(shape, draw(st.booleans()), "data")
        statements.append(("input", name, [str(d) for d in shape], "data"))
    if not scalar and draw(st.booleans()):
        for name in INT_NAMES[:draw(st.integers(1, 2))]:
            shape = draw(st.sampled_from([(2,), (3,), (2, 3), (1,)]))
            k = draw(st.sampled_from([1, 2, 3]))
            lo = -k if draw(st.integers(0, 3)) == 0 else 0
            inputs[name] = Var(shape, False, "int", lo, k)
            dims = [DIM_NAMES[d] if draw(st.booleans()) else str(d) for d in shape]
            ctx.dims.update({DIM_NAMES[d]: d for d, text in zip(shape, dims) if text == DIM_NAMES[d]})
            statements.append(("input", name, dims, "int"))
    ctx.vars.update(inputs)
    assigned = []
    defs = 0
    if root is not None:  # the coverage test's forced first assignment
        kind, _, op = root.partition(":")
        for _ in range(20):
            shape = () if scalar else draw(st.sampled_from(SHAPES))
            tree = GENERATORS[kind](draw, ctx, shape, False, 3, op or None)
            if tree is not None:
                statements.append(("assign", "h", tree))
                ctx.vars["h"] = Var(shape, False)
                assigned.append("h")
                break
    for _ in range(draw(st.integers(2, 7))):
        kind = draw(st.integers(0, 9))
        if kind <= 1 and defs < 2:
            statements.append(draw(function_def(ctx)))
            defs += 1
            continue
        if kind <= 3:
            before = dict(ctx.vars)
            statements.append(draw(loop_statement(ctx, 0, LOOP_VARS)))
            # reassigned names keep their shape and sign; names new in the body are forgotten
            # (an empty range never makes them)
            ctx.vars = {n: v for n, v in ctx.vars.items() if n in before}
            continue
        shape = () if scalar else draw(st.sampled_from(SHAPES))
        pos = draw(st.integers(0, 3)) == 0
        tree = draw(expression(ctx, shape, pos, draw(st.integers(2, 4))))
        # A new name, or an earlier one again (reassignment makes versions h, h', h'').
        reassigned_inputs = [n for n in inputs if inputs[n].kind == "float"] if draw(st.integers(0, 5)) == 0 else []
        pool = ASSIGN_NAMES + assigned + reassigned_inputs
        name = draw(st.sampled_from(pool))
        statements.append(("assign", name, tree))
        ctx.vars[name] = Var(shape, pos)
        assigned.append(name)
    # The output: a scalar reading the last values (and every float name still in scope, now and
    # then), so that every statement can matter.
    names = [n for n in dict.fromkeys(reversed(assigned)) if ctx.vars.get(n) and ctx.vars[n].kind != "int"]
    extra = sorted(n for n, v in ctx.vars.items() if v.kind == "float" and n not in names)
    names += extra[:2]
    parts = [("name", n) if ctx.vars[n].shape == () else ("call", "sum", [("name", n)], []) for n in names[:4]]
    if not parts:
        parts = [draw(expression(ctx, (), False, 2))]
    total = parts[0]
    for part in parts[1:]:
        total = ("bin", "+", total, part)
    statements.append(("assign", "loss", total))
    if ctx.solved:  # the functions fixed_point, root and the rule use, after the declarations
        first = next(i for i, statement in enumerate(statements) if statement[0] != "input")
        statements[first:first] = [("raw", text) for text in IMPLICIT_SOURCES]
    values = draw(hostile_values(inputs)) if hostile else None
    return statements, inputs, values


@st.composite
def hostile_values(draw, inputs):
    """Input values with zeros, signed zeros, ties, tiny and huge magnitudes, infinities and NaN;
    integer labels within their declared range (repeats and negative labels included)."""
    values, seen = {}, []
    for name, var in inputs.items():
        if var.kind == "int":
            data = [draw(st.integers(var.lo, var.hi - 1)) for _ in range(prod(var.shape))]
            values[name] = np.array(data, dtype=np.int64).reshape(var.shape)
            continue
        data = []
        for _ in range(prod(var.shape)):
            kind = draw(st.integers(0, 9))
            if kind <= 3:
                x = draw(st.sampled_from(HOSTILE_VALUES))
            elif kind <= 5 and seen:  # an exact tie with a value drawn before
                x = draw(st.sampled_from(seen))
            elif kind <= 7:
                x = float(draw(st.integers(-3, 3)))
            else:
                x = draw(st.floats(-3.0, 3.0, allow_nan=False, width=64))
            data.append(x)
            seen.append(x)
        values[name] = np.array(data, dtype=np.float64).reshape(var.shape)
    return values


# ---------------------------------------------------------------------------------------------
# Printing a tree as .ad text, with minimal parentheses and some harmless noise
# ---------------------------------------------------------------------------------------------

# Precedence levels of the grammar, loosest first: comparison, sum, product, unary, power, postfix, atom.
COMPARE, SUM, PRODUCT, UNARY_LEVEL, POWER, POSTFIX, ATOM = range(7)
LEVELS = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "@": PRODUCT, "**": POWER,
          **{c: COMPARE for c in COMPARISONS}}


def number_text(x: float) -> str:
    return repr(float(x))


def value_text(value) -> str:
    """A parameter as a file writes it: 1, -1, True, [2, 3], None, 0.5."""
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return repr(value)


def render(tree, noise) -> tuple[str, int]:
    """(text, precedence level) of a tree; `noise()` returns True now and then for extra parens."""
    kind = tree[0]

    def at_least(sub, level):
        text, own = render(sub, noise)
        return f"({text})" if own < level or (noise() and own < ATOM) else text

    def plain(sub):
        return render(sub, noise)[0]

    if kind == "num":
        x = tree[1]
        if x < 0 or (x == 0 and math.copysign(1.0, x) < 0):
            return "-" + number_text(-x), UNARY_LEVEL
        return number_text(x), ATOM
    if kind == "int":
        return str(tree[1]), ATOM if tree[1] >= 0 else UNARY_LEVEL
    if kind == "const":
        return tree[1], ATOM
    if kind in ("name", "lv", "dim"):
        return tree[1], ATOM
    if kind == "list":
        return "[" + ", ".join(plain(item) for item in tree[1]) + "]", ATOM
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
        if level == COMPARE:  # sum COMPARE sum: no chains
            return f"{at_least(a, SUM)} {symbol} {at_least(b, SUM)}", COMPARE
        return f"{at_least(a, level)} {symbol} {at_least(b, level + 1)}", level
    if kind == "call":
        f, args, params = tree[1:]
        texts = [plain(a) for a in args]
        for name, value, style in params:
            texts.append(value_text(value) if style == "pos" else f"{name}={value_text(value)}")
        return f"{f}({', '.join(texts)})", ATOM
    if kind == "einsum":
        return f'einsum("{tree[1]}", ' + ", ".join(plain(a) for a in tree[2]) + ")", ATOM
    if kind == "ctor":
        size, items = tree[2], tree[3] if len(tree) > 3 else ()
        sizes = size if isinstance(size, tuple) else (size,)
        texts = [plain(item) if item is not None else str(d) for d, item in zip(sizes, items or (None,) * len(sizes))]
        return f"{tree[1]}({'[' + ', '.join(texts) + ']' if isinstance(size, tuple) else texts[0]})", ATOM
    if kind == "fcall":
        return f"{tree[1]}(" + ", ".join(plain(a) for a in tree[2]) + ")", ATOM
    if kind == "solve":
        return f"{tree[1]}({tree[2]}, {plain(tree[3])}, {plain(tree[4])})", ATOM
    if kind == "size":
        _, operand, axis, style = tree
        if axis is None:
            return f"size({plain(operand)})", ATOM
        return f"size({plain(operand)}, {'axis=' if style == 'kw' else ''}{axis})", ATOM
    def subscript(items):
        parts = []
        for item in items:
            if item[0] == "i" or item[0] == "arr":
                parts.append(plain(item[1]))
            elif item[0] == "none":
                parts.append("None")
            else:
                start, stop, step = (("" if v is None else plain(v)) for v in item[1:])
                parts.append(f"{start}:{stop}" + (f":{step}" if step or noise() else ""))
        return ", ".join(parts)

    if kind == "index":
        base, items = tree[1:]
        parts = subscript(items)
        return at_least(base, POSTFIX) + "[" + parts + "]", POSTFIX
    if kind == "setitem":
        base, items, method, value = tree[1:]
        return f"{at_least(base, POSTFIX)}.at[{subscript(items)}].{method}({plain(value)})", POSTFIX
    raise ValueError(kind)


def print_program(statements, rng) -> str:
    """The program as .ad text, with random spacing, comments, ';', line continuations,
    one-line bodies, and an indentation of 4, 2 or 1 spaces."""
    noise = lambda: rng.random() < 0.1  # noqa: E731
    unit = ["    ", "  ", " "][int(rng.integers(0, 3))]
    lines: list[str] = []

    def simple(statement):
        _, name, tree = statement
        text = f"{name} = {render(tree, noise)[0]}"
        if rng.random() < 0.1 and " + " in text:  # continue the line after a '+'
            text = text.replace(" + ", " + \\\n    ", 1)
        return text

    def block(statements, indent):
        pad = unit * indent
        pending = None  # an assignment waiting to be joined with the next by ';'
        for statement in statements:
            kind = statement[0]
            if kind in ("assign",):
                text = simple(statement)
                if pending is not None:
                    text = pending + "; " + text
                    pending = None
                if rng.random() < 0.1:
                    pending = text
                    continue
                if rng.random() < 0.2:
                    text += "  # a comment"
                lines.append(pad + text + "\n")
                if rng.random() < 0.05:
                    lines.append("\n# between statements\n\n")
                continue
            if pending is not None:
                lines.append(pad + pending + "\n")
                pending = None
            if kind == "input":
                _, name, dims, dtype = statement
                word = "data" if dtype == "data" else "input"
                shape = "" if dims is None else ": " + ("int" if dtype == "int" else "") + "[" + ", ".join(dims) + "]"
                lines.append(pad + f"{word} {name}{shape}\n")
            elif kind == "for":
                _, var, bounds, body = statement
                head = f"for {var} in range({', '.join(render(b, noise)[0] for b in bounds)}):"
                if len(body) == 1 and body[0][0] == "assign" and rng.random() < 0.3:
                    lines.append(pad + head + " " + simple(body[0]).replace("\\\n", "") + "\n")
                else:
                    lines.append(pad + head + "\n")
                    block(body, indent + 1)
            elif kind == "def":
                _, name, params, body, ret, inline = statement
                head = f"def {name}({', '.join(params)})"
                if inline:
                    lines.append(pad + f"{head} = {render(ret, noise)[0]}\n")
                elif not body and rng.random() < 0.5:
                    lines.append(pad + f"{head}: return {render(ret, noise)[0]}\n")
                else:
                    lines.append(pad + head + ":\n")
                    block(body + [("return", ret)], indent + 1)
            elif kind == "return":
                lines.append(pad + f"return {render(statement[1], noise)[0]}\n")
            elif kind == "raw":
                lines.append(pad + statement[1] + "\n")
        if pending is not None:
            lines.append(pad + pending + "\n")

    block(statements, 0)
    return "".join(lines)


# ---------------------------------------------------------------------------------------------
# This file's own evaluation of a program with numpy (independent of adcli's registry)
# ---------------------------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def erf(x):
    return _erf(x)[()] if np.size(x) else np.zeros(np.shape(x))


def erfc(x):
    return _erfc(x)[()] if np.size(x) else np.zeros(np.shape(x))


def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def shift(x, axis):
    """The maximum along axis, kept, as the shift of logsumexp; 0 where it is not finite."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


def softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis):
    s = x - shift(x, axis)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def logsumexp(x, axis=-1, keepdims=False):
    m = shift(x, axis)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def lgamma(x):
    """log |Γ(x)| by math.lgamma, inf at the poles (where it raises) and past float64's range."""
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf


def cot_derivative(n, u):
    """dⁿ/duⁿ cot u at u, by mpmath."""
    import mpmath
    return mpmath.cot(u) if n == 0 else mpmath.diff(mpmath.cot, u, n)


def polygamma(x, n=0):
    """ψ⁽ⁿ⁾(x) by mpmath at 40 digits; below 0 by the reflection (-1)ⁿψ⁽ⁿ⁾(1 - x) - πⁿ⁺¹ cot⁽ⁿ⁾(πx)
    (mpmath's own recurrence would take |x| steps). At ±0 the limit from that side, at -1, -2, …
    inf where ψ⁽ⁿ⁾ keeps one sign around the pole (odd n), NaN where it does not, as adcli says."""
    import mpmath  # a test dependency, as in tests/derivative_facts.py
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf if n == 0 else 0.0
    if x == 0:
        return math.inf if math.copysign(1.0, x) < 0 or n % 2 else -math.inf
    if x < 0 and x == math.floor(x):
        return math.inf if n % 2 else math.nan
    with mpmath.workdps(40):
        v = mpmath.mpf(x)
        if x > 0:
            return float(mpmath.polygamma(n, v))
        return float((-1) ** n * mpmath.polygamma(n, 1 - v) - mpmath.pi ** (n + 1) * cot_derivative(n, mpmath.pi * v))


_lgamma = np.vectorize(lgamma, otypes=[np.float64])
_polygamma = np.vectorize(polygamma, otypes=[np.float64])


def xlogy(x, y, log=np.log):
    """x·log y, 0 where x = 0 and y is a number (scipy's xlogy)."""
    return np.where((x == 0) & ~np.isnan(y), 0.0, x * log(y))


def linalg(f, shape, nan_in=False):
    """numpy.linalg's answer matrix by matrix, NaN for a matrix it refuses (a singular one) and,
    with `nan_in`, for a matrix holding NaN (whose eigenvalues numpy makes up)."""
    def one(*args, **kwargs):
        if nan_in and np.isnan(args[0]).any():
            return np.full(shape(*args, **kwargs), np.nan)
        try:
            return f(*args, **kwargs)
        except np.linalg.LinAlgError:
            return np.full(shape(*args, **kwargs), np.nan)

    def run(*args, **kwargs):
        lead = np.shape(args[0])[:-2]
        if not lead:
            return one(*args, **kwargs)
        out = np.full(shape(*args, **kwargs), np.nan)
        for index in np.ndindex(*lead):
            out[index] = one(*(x[index] for x in args), **kwargs)
        return out
    return run


def sym(a):
    return (a + np.swapaxes(a, -1, -2)) * 0.5


def ref_solve(a, b):
    if np.ndim(b) == np.ndim(a) - 1:
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


def ref_matmul(a, b):
    return a * b if np.ndim(a) == 0 or np.ndim(b) == 0 else np.matmul(a, b)


def ref_reduce(f):
    def run(x, axis=None, keepdims=False, ddof=None):
        if isinstance(axis, tuple) or isinstance(axis, list):
            axis = tuple(axis)
        if ddof is not None:
            return f(x, axis=axis, ddof=ddof, keepdims=keepdims)
        return f(x, axis=axis, keepdims=keepdims)
    return run


def ref_norm(x, axis=None, keepdims=False):
    """√Σx² without the overflow (or underflow) of squaring huge (or tiny) elements, as adcli's norm
    promises, by another scaling than adcli's: the largest magnitude itself, not a power of two."""
    axis = tuple(axis) if isinstance(axis, (tuple, list)) else axis
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        big = np.max(np.abs(x), axis=axis, keepdims=True, initial=0.0)
        scale = np.where((big > 0) & np.isfinite(big), big, 1.0)  # 0, inf and NaN: as they are
        out = np.sqrt(np.sum((x / scale) ** 2, axis=axis, keepdims=True)) * scale
    return out if keepdims else np.sum(out, axis=axis)  # a sum over axes of length 1 drops them


FUNCTIONS = {
    "relu": lambda x: np.maximum(x, 0.0), "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "tanh": np.tanh, "sigmoid": sigmoid, "sqrt": np.sqrt, "abs": np.abs,
    "log1p": np.log1p, "expm1": np.expm1, "log2": np.log2, "log10": np.log10, "exp2": np.exp2,
    "square": np.square, "cbrt": np.cbrt, "reciprocal": lambda x: 1.0 / x, "sinh": np.sinh, "cosh": np.cosh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "erf": erf, "erfc": erfc, "softplus": lambda x: np.logaddexp(0.0, x),
    "gelu": lambda x: x * (0.5 * erfc(-x / math.sqrt(2.0))), "silu": lambda x: x * sigmoid(x),
    "elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(x)),
    "leaky_relu": lambda x, slope=0.01: np.where(x > 0, x, slope * x),
    "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "max2": np.maximum, "min2": np.minimum, "atan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp,
    "clip": np.clip,  # numpy's own (a signed zero between bounds of 0 keeps its sign)
    "where": np.where,
    "dot": np.dot, "outer": lambda a, b: np.outer(a, b),
    "transpose": lambda x, axes=None: np.transpose(x, axes),
    "stack": lambda xs, axis=0: np.stack(xs, axis=axis),
    "concat": lambda xs, axis=0: np.concatenate(xs, axis=axis),
    "concatenate": lambda xs, axis=0: np.concatenate(xs, axis=axis),
    "reshape": lambda x, shape: np.reshape(x, shape), "expand_dims": lambda x, axis=0: np.expand_dims(x, axis),
    "squeeze": lambda x, axis=None: np.squeeze(x, axis), "flip": lambda x, axis=None: np.flip(x, axis),
    "roll": lambda x, shift=0, axis=None: np.roll(x, shift, axis),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape), "diag": lambda x, k=0: np.diag(x, k),
    "trace": np.trace, "tril": lambda x, k=0: np.tril(x, k), "triu": lambda x, k=0: np.triu(x, k),
    "cumsum": lambda x, axis=None: np.cumsum(x, axis=axis),
    "log_sigmoid": lambda x: -np.logaddexp(0.0, -x), "log_expit": lambda x: -np.logaddexp(0.0, -x),
    "gammaln": _lgamma, "lgamma": _lgamma, "digamma": _polygamma, "psi": _polygamma, "sinc": np.sinc,
    "xlogy": xlogy, "xlog1py": lambda x, y: xlogy(x, y, np.log1p), "kron": np.kron,
    "cumprod": lambda x, axis=None: np.cumprod(x, axis=axis),
    "logcumsumexp": lambda x, axis=None: np.logaddexp.accumulate(np.ravel(x) if axis is None else x,
                                                                 axis=0 if axis is None else axis),
    "diff": lambda x, n=1, axis=-1: np.diff(x, n, axis), "sort": lambda x, axis=-1: np.sort(x, axis=axis),
    "argmax": lambda x, axis=None, keepdims=False: np.argmax(x, axis=axis, keepdims=keepdims),
    "argmin": lambda x, axis=None, keepdims=False: np.argmin(x, axis=axis, keepdims=keepdims),
    "sum": ref_reduce(np.sum), "mean": ref_reduce(np.mean), "max": ref_reduce(np.max), "min": ref_reduce(np.min),
    "prod": ref_reduce(np.prod), "var": ref_reduce(np.var), "std": ref_reduce(np.std), "norm": ref_norm,
    "softmax": lambda x, axis=-1: softmax(x, axis), "log_softmax": lambda x, axis=-1: log_softmax(x, axis),
    "logsumexp": logsumexp,
    "solve": linalg(ref_solve, lambda a, b: np.shape(b)),
    "inv": linalg(np.linalg.inv, np.shape), "det": np.linalg.det, "logdet": lambda a: np.linalg.slogdet(a)[1],
    "cholesky": linalg(lambda a: np.linalg.cholesky(sym(a)), np.shape),
    "eigvalsh": linalg(lambda a: np.linalg.eigvalsh(sym(a)), lambda a: np.shape(a)[:-1], nan_in=True),
    "solve_triangular": linalg(lambda a, b, lower=True: ref_solve(np.tril(a) if lower else np.triu(a), b),
                               lambda a, b, lower=True: np.shape(b)),
    "one_hot": lambda y, k=1: (np.expand_dims(y, -1) == np.arange(k)) * 1.0,
}
BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "**": np.power, "@": ref_matmul,
          "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
          "!=": np.not_equal}
PARAM_ORDER = {"var": ["axis", "ddof", "keepdims"], "std": ["axis", "ddof", "keepdims"],
               "logsumexp": ["axis", "keepdims"], "elu": ["alpha"], "leaky_relu": ["slope"],
               "solve_triangular": ["lower"], "one_hot": ["k"], "diag": ["k"], "tril": ["k"], "triu": ["k"],
               "reshape": ["shape"], "broadcast_to": ["shape"], "transpose": ["axes"], "roll": ["shift", "axis"],
               "digamma": ["n"], "psi": ["n"], "diff": ["n", "axis"]}


class Reference:
    """Runs a program's statements: every assignment's value, in the order adcli makes them."""

    def __init__(self, statements, given):
        self.statements = statements
        self.functions = {}
        self.record: list[tuple[str, object]] = []  # (name, or function.name, value)
        self.dims = {}
        for statement in statements:
            if statement[0] == "input" and statement[2]:
                name = statement[1]
                for d, size in zip(statement[2], np.shape(given[name]) if name in given else ()):
                    if not d.isdigit():
                        self.dims[d] = size

    def run(self, given):
        env = dict(given)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.block(self.statements, env, None)
        return self.record

    def block(self, statements, env, function):
        for statement in statements:
            kind = statement[0]
            if kind == "assign":
                value = self.ev(statement[2], env)
                env[statement[1]] = value
                self.record.append((f"{function}.{statement[1]}" if function else statement[1], value))
            elif kind == "def":
                self.functions[statement[1]] = statement
            elif kind == "for":
                _, var, bounds, body = statement
                for value in range(*[int(self.ev(b, env)) for b in bounds]):
                    env[var] = value
                    self.block(body, env, function)
                env.pop(var, None)

    def call(self, name, args):
        _, _, params, body, ret, _ = self.functions[name]
        env = dict(zip(params, args))
        self.block(body, env, name)
        return self.ev(ret, env)

    def ev(self, tree, env):
        kind = tree[0]
        if kind == "num":
            return np.float64(tree[1])
        if kind == "int":
            return tree[1]
        if kind == "const":
            return np.float64({"pi": math.pi, "inf": math.inf}[tree[1]])
        if kind in ("name", "lv"):
            return env[tree[1]]
        if kind == "dim":
            return self.dims[tree[1]]
        if kind == "list":
            return np.array([self.ev(item, env) for item in tree[1]])
        if kind == "neg":
            return -self.ev(tree[1], env)
        if kind == "pos":
            return self.ev(tree[1], env)
        if kind == "T":
            return np.transpose(self.ev(tree[1], env))
        if kind == "bin":
            a, b = self.ev(tree[2], env), self.ev(tree[3], env)
            if isinstance(a, int) and isinstance(b, int):  # loop-variable arithmetic, folded as adcli folds it
                if tree[1] in ("/", "**"):
                    return BINARY[tree[1]](np.float64(a), np.float64(b))
                return {"+": a + b, "-": a - b, "*": a * b, "@": a * b}.get(tree[1], None) \
                    if tree[1] in ("+", "-", "*", "@") else BINARY[tree[1]](a, b)
            return BINARY[tree[1]](a, b)
        if kind == "einsum":
            return np.einsum(tree[1], *[self.ev(a, env) for a in tree[2]], optimize=True)
        if kind == "ctor":
            name, size = tree[1:3]
            return {"eye": lambda: np.eye(size), "arange": lambda: np.arange(size),
                    "zeros": lambda: np.zeros(size), "ones": lambda: np.ones(size)}[name]()
        if kind == "fcall" and tree[1] == "smooth":  # IMPLICIT_SOURCES' function with a rule
            x, p = (self.ev(a, env) for a in tree[2])
            return x * p + np.sin(x)
        if kind == "fcall" and tree[1] == "drift":  # IMPLICIT_SOURCES' loop kept as a loop
            h, p = (self.ev(a, env) for a in tree[2])
            for _ in range(64):
                h = 0.5 * h + 0.25 * np.tanh(h + p)
            return h
        if kind == "fcall" and tree[1] == "settle":  # IMPLICIT_SOURCES' while loop
            x, p = (self.ev(a, env) for a in tree[2])
            h = x
            for _ in range(100):
                if not np.max(np.abs(h - 0.5 * np.tanh(h + p))) > 1e-9:
                    break
                h = 0.5 * np.tanh(h + p)
            return h
        if kind == "fcall":
            return self.call(tree[1], [self.ev(a, env) for a in tree[2]])
        if kind == "solve":
            return reference_solve(tree[1], self.ev(tree[3], env), self.ev(tree[4], env))
        if kind == "size":
            x = np.shape(self.ev(tree[1], env))
            return int(np.prod(x)) if tree[2] is None else x[tree[2]]
        if kind == "index":
            base = self.ev(tree[1], env)
            return base[self.subscript(tree[2], env)]
        if kind == "setitem":  # a copy of the base with the part replaced (or combined with v)
            _, base, items, method, value = tree
            out = np.array(self.ev(base, env))
            index = self.subscript(items, env)
            v = self.ev(value, env)
            if method == "set":
                out[index] = v
            elif method == "add":
                out[index] += v
            elif method == "multiply":
                out[index] *= v
            else:
                out[index] = (np.maximum if method == "max" else np.minimum)(out[index], v)
            return out
        if kind == "call":
            f, args, params = tree[1:]
            if f in ("stack", "concat", "concatenate"):  # a list of arrays, not an array literal
                values = [[self.ev(item, env) for item in args[0][1]]]
            else:
                values = [self.ev(a, env) for a in args]
            if f in ("max", "min") and len(values) == 2:
                f += "2"
            kwargs = {}
            order = PARAM_ORDER.get(f, ["axis", "keepdims"])
            k = 0
            for name, value, style in params:
                kwargs[name if style == "kw" else order[k]] = value
                k += 1
            if f == "transpose" and kwargs.get("axes") is not None:
                kwargs["axes"] = tuple(kwargs["axes"])
            return FUNCTIONS[f](*values, **kwargs)
        raise ValueError(kind)

    def subscript(self, items, env):
        """An index tree's items as numpy's index tuple."""
        index = []
        for item in items:
            if item[0] in ("i", "arr"):
                index.append(self.ev(item[1], env))
            elif item[0] == "none":
                index.append(None)
            else:
                index.append(slice(*(None if v is None else int(self.ev(v, env)) for v in item[1:])))
        return tuple(index)


def versioned(name: str, version: int) -> str:
    """The label of a name's version-th assignment: h, h', h'', h''', then h'4, h'5, ..."""
    if version <= 1:
        return name
    return name + ("'" * (version - 1) if version <= 4 else f"'{version - 1}")


def reference_values(statements, given) -> list[tuple[str, object]]:
    """(label, value) of every assignment, in order, labelled as adcli labels versions."""
    counts: dict[str, int] = {name: 1 for name in given}  # an input is its name's first version
    out = []
    for key, value in Reference(statements, given).run(given):
        counts[key] = counts.get(key, 0) + 1
        out.append((versioned(key, counts[key]), value))
    return out


# ---------------------------------------------------------------------------------------------
# Printing a graph back as .ad text, and comparing graphs
# ---------------------------------------------------------------------------------------------

GRAPH_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@", "pow": "**", "less": "<",
                 "less_equal": "<=", "greater": ">", "greater_equal": ">=", "equal": "==", "not_equal": "!="}
GRAPH_FUNCTIONS = {"maximum": "max", "minimum": "min", "amax": "max", "amin": "min"}
NONE_WRITTEN = {("sort", "axis")}  # a parameter whose None is not its default: written out


def index_items(items, arrays) -> str:
    parts = []
    for item in items:
        if item is None:
            parts.append("None")
        elif isinstance(item, slice):
            start, stop, step = ("" if v is None else str(v) for v in (item.start, item.stop, item.step))
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        elif isinstance(item, tuple):
            parts.append(arrays[item[1]])
        elif item is Ellipsis:
            parts.append("...")
        else:
            parts.append(str(item))
    return ", ".join(parts)


def const_text(data) -> str:
    """A constant as a file writes it, so that it reads back with its value and element type."""
    data = np.asarray(data)
    if data.ndim and data.dtype.kind in "iu":  # integer arrays come from arange() alone
        assert data.ndim == 1 and np.array_equal(data, np.arange(len(data))), data
        return f"arange({len(data)})"
    if data.ndim:
        return "[" + ", ".join(const_text(item) for item in data) + "]"
    if data.dtype.kind == "b":
        return str(bool(data))
    if data.dtype.kind in "iu":  # a whole number known as the file is read, as loop arithmetic made it
        return f"int({int(data)})"
    x = float(data)
    if math.isinf(x):
        return "(inf)" if x > 0 else "(-inf)"
    return f"({number_text(x)})"


def print_graph(graph) -> str:
    """The graph as straight-line .ad text, in node order: inputs declared where they stand,
    every operation on a line of its own (N7 = ...), each constant written inside the one
    operation that takes it (or on its own line when it stands alone). Functions and loops are
    unrolled; names are not kept."""
    nodes = graph.nodes
    consumers: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for a in node.args:
            consumers.setdefault(a, []).append(i)

    def inline(c):
        """Whether constant c was made by its one consumer placing its operands (so written inside
        it, it is made at the same point): it and every node up to the consumer are constants
        only the consumer takes, made in the order of its operands."""
        users = consumers.get(c, [])
        if len(users) != 1 or nodes[users[0]].args.count(c) != 1:
            return False
        user = nodes[users[0]]
        if user.op == "neg":  # -[1.0, 2.0] is a literal of its own, not a negation
            return False
        if user.op in GRAPH_SYMBOLS and all(nodes[a].op == CONST for a in user.args) and c == user.args[0]:
            return False  # 2.0 + 2 written out folds to 4.0; N2 = 2.0, then N2 + 2, does not (nor g = 2.0, g + b)
        between = list(range(c, users[0]))
        if not all(nodes[j].op == CONST and consumers.get(j) == [users[0]] and user.args.count(j) == 1
                   for j in between):
            return False
        # a gather places its index arrays (in its subscript) before its base
        order = user.args[1:] + user.args[:1] if user.op == "gather" else user.args
        return [a for a in order if a in between] == between

    def dimension(before, owner, axis):
        """The size node (a dimension's name, or size(x, k)) a constructor read its size from."""
        for j in range(before - 1, -1, -1):
            if nodes[j].op == "size" and nodes[j].args == (owner,) and (nodes[j].params or {}).get("axis") == axis:
                return ref[j]
        return f"size({ref[owner]}, axis={axis})"

    ref, lines = {}, []
    for i, node in enumerate(nodes):
        if node.op == INPUT:
            shape = "" if node.data is None else \
                ": " + ("int" if node.dtype == "i" else "") + "[" + ", ".join(map(str, node.data)) + "]"
            lines.append(f"{'data' if node.extra == 'data' else 'input'} {node.label}{shape}")
            ref[i] = node.label
            continue
        if node.op == CONST:
            if inline(i):
                ref[i] = const_text(node.data)
            else:
                lines.append(f"N{i} = {const_text(node.data)}")
                ref[i] = f"N{i}"
            continue
        args = [ref[a] for a in node.args]
        params = dict(node.params or {})
        if node.op in GRAPH_SYMBOLS:
            text = f"{args[0]} {GRAPH_SYMBOLS[node.op]} {args[1]}"
        elif node.op == "neg":
            text = f"-{args[0]}"
        elif node.op == "getitem":
            text = f"{args[0]}[{index_items(params['index'], args)}]"
        elif node.op == "setitem":
            text = f"{args[0]}.at[{index_items(params['index'], args)}].set({args[1]})"
        elif node.op == "gather":
            text = f"{args[0]}[{index_items(params['layout'], args)}]"
        elif node.op == "einsum":
            text = f'einsum("{params["spec"]}", {", ".join(args)})'
        elif node.op in ("fixed_point", "root"):
            text = f"{node.op}({params['body'].name}, {', '.join(args)})"
        elif node.op == "rule":
            text = f"{params['body'].name}({', '.join(args)})"
        elif node.op == "loop":  # the generator's only long loop is drift's (IMPLICIT_SOURCES)
            text = f"drift({', '.join(args + drift_constant(params['body']))})"
        elif node.op == "while":  # and its only while loop settle's (x and p have one shape)
            xp = args[:2] if params["split"] else args[:1] + drift_constant(params["body"])
            text = f"settle({', '.join(xp)})"
        elif node.op == "filled":
            sizes = [str(d) if not isinstance(d, tuple) else dimension(i, node.args[d[1]], d[2])
                     for d in params["shape"]]
            kind = params["kind"]
            text = f"{kind}({sizes[0] if kind in ('eye', 'arange') else '[' + ', '.join(sizes) + ']'})"
        else:
            shown = "".join(f", {k}={value_text(v)}" for k, v in params.items()
                            if v is not None or (node.op, k) in NONE_WRITTEN)
            f = GRAPH_FUNCTIONS.get(node.op, node.op)
            if node.op in ("stack", "concat"):
                text = f"{f}([{', '.join(args)}]{shown})"
            else:
                text = f"{f}({', '.join(args)}{shown})"
        lines.append(f"N{i} = {text}")
        ref[i] = f"N{i}"
    lines.append(f"output = {ref[graph.output]}")  # an alias: no node, but a file must assign something
    if any(n.op in ("fixed_point", "root", "rule", "loop", "while") for n in nodes):
        lines[:0] = IMPLICIT_SOURCES
    return "\n".join(lines) + "\n"


def drift_constant(body) -> list[str]:
    """drift's p where it is a number written in the file: the body holds it as a constant (h + p)."""
    graph = body.graph
    for node in graph.nodes:
        if node.op == "add" and node.args[0] == graph.inputs[1] and graph.nodes[node.args[1]].op == CONST:
            return [value_text(graph.nodes[node.args[1]].data.tolist())]
    return []


def graph_summary(graph):
    """What a graph computes, as comparable plain data: every node's operation, operands,
    parameters, constant value, element type, and each input's name, declared shape and role."""
    def summary(n):
        if n.op == CONST:
            return (n.op, n.data.tolist())
        if n.op == INPUT:
            return (n.op, n.label, None if n.data is None else tuple(n.data), n.dtype, n.extra)
        params = {k: v.name if k in ("body", "rule") else v for k, v in (n.params or {}).items()}  # a function by name
        if n.op == "loop":  # a loop's body is named by its line; by its variable and carried names here
            params["body"] = f"loop over {', '.join(n.params['body'].params)}"
        if n.op == "while":  # a while loop's body and condition alike
            params["body"] = params["test"] = f"while over {', '.join(n.params['body'].params)}"
        if n.op == "filled":  # the label a size was read from is not part of the value
            params["shape"] = tuple(d[:3] if isinstance(d, tuple) else d for d in params["shape"])
        return (n.op, tuple(n.args), tuple(sorted(params.items())), n.dtype)
    return [summary(n) for n in graph.nodes], list(graph.inputs)


# ---------------------------------------------------------------------------------------------
# Points away from kinks, singularities and the edges of domains
# ---------------------------------------------------------------------------------------------

def whole_distance(x):
    return np.abs(x - np.round(x))


def ties(x, axis, smallest):
    """Whether the extreme along `axis` (None: all; an int or a tuple) is within MARGIN of the next."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        return False
    axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in ((axis,) if isinstance(axis, int)
                                                                               else axis))
    rest = [a for a in range(x.ndim) if a not in axes]
    flat = np.transpose(x, rest + list(axes)).reshape([x.shape[a] for a in rest] + [-1])
    if flat.shape[-1] < 2:
        return False
    ordered = np.sort(flat if smallest else -flat, axis=-1)
    return bool(np.any(ordered[..., 1] - ordered[..., 0] < MARGIN))


def ill_conditioned(a) -> bool:
    a = np.asarray(a)
    if not np.all(np.isfinite(a)):
        return True
    with np.errstate(all="ignore"):
        return bool(np.any(np.linalg.cond(a) > COND_LIMIT))


def too_close(op, ans, xs, params) -> bool:
    """Whether an operation's operands lie within MARGIN of a kink, a jump, a pole, the edge of
    its domain, or (linear algebra) near a singular matrix or a repeated eigenvalue."""
    x = xs[0] if xs else None
    if op in ("relu", "abs", "sign", "cbrt", "reciprocal", "elu", "leaky_relu"):
        return bool(np.any(np.abs(x) < MARGIN))
    if op in ("floor", "ceil"):
        return bool(np.any(whole_distance(x) < MARGIN))
    if op == "round":
        return bool(np.any(np.abs(whole_distance(x) - 0.5) < MARGIN))
    if op in ("maximum", "minimum"):
        return bool(np.any(np.abs(xs[0] - xs[1]) < MARGIN))
    if op in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"):
        if np.asarray(xs[0]).dtype.kind == "f" or np.asarray(xs[1]).dtype.kind == "f":
            return bool(np.any(np.abs(np.asarray(xs[0], dtype=float) - np.asarray(xs[1], dtype=float)) < MARGIN))
        return False
    if op == "clip":
        return bool(np.any(np.abs(xs[0] - xs[1]) < MARGIN) or np.any(np.abs(xs[0] - xs[2]) < MARGIN)
                    or np.any(np.abs(xs[1] - xs[2]) < MARGIN))
    if op in ("log", "sqrt", "log2", "log10"):
        return bool(np.any(x < MARGIN))
    if op == "log1p":
        return bool(np.any(x < -1 + MARGIN))
    if op == "acosh":
        return bool(np.any(x < 1 + MARGIN))
    if op in ("atanh", "asin", "acos"):
        return bool(np.any(np.abs(x) > 1 - MARGIN))
    if op == "div":
        return bool(np.any(np.abs(xs[1]) < MARGIN))
    if op == "pow":
        return bool(np.any(xs[0] < MARGIN))
    if op == "tan":
        return bool(np.any(np.abs(np.cos(x)) < 0.1))
    if op == "atan2":  # atan2(y, x): the origin, and the jump along the negative x axis
        y, x = xs
        return bool(np.any(np.hypot(x, y) < MARGIN) or np.any((x < MARGIN) & (np.abs(y) < MARGIN)))
    if op == "hypot":
        return bool(np.any(ans < MARGIN))
    if op in ("amax", "amin", "argmax", "argmin"):
        return ties(x, params.get("axis"), op in ("amin", "argmin"))
    if op in ("gammaln", "digamma"):  # the poles 0, -1, -2, …
        return bool(np.any((x < MARGIN) & (whole_distance(x) < MARGIN)))
    if op == "xlogy":
        return bool(np.any(xs[1] < MARGIN))
    if op == "xlog1py":
        return bool(np.any(xs[1] < -1 + MARGIN))
    if op == "sort":  # a tie anywhere along the axis swaps places
        axis = params.get("axis", -1)
        ordered = np.sort(np.ravel(x)) if axis is None else np.sort(x, axis=axis)
        return bool(np.any(np.diff(ordered, axis=-1 if axis is None else axis) < MARGIN))
    if op in ("norm", "std"):
        return bool(np.any(ans < MARGIN))
    if op == "det":  # a polynomial: smooth at a singular matrix too, but not near one (det·A⁻¹ loses digits)
        with np.errstate(all="ignore"):
            singular = np.all(np.isfinite(x)) and np.all(np.linalg.det(x) == 0)
        return not singular and ill_conditioned(x)
    if op in ("solve", "inv", "logdet"):
        return ill_conditioned(x)
    if op == "solve_triangular":
        return ill_conditioned(np.tril(x) if params.get("lower", True) else np.triu(x))
    if op in ("cholesky", "eigvalsh"):
        s = (x + np.swapaxes(x, -1, -2)) * 0.5
        if ill_conditioned(s):
            return True
        eig = np.linalg.eigvalsh(s)
        scale = max(1.0, float(np.max(np.abs(eig))))
        if op == "cholesky":
            return bool(np.any(eig < MARGIN * scale))
        return bool(np.any(np.diff(eig, axis=-1) < MARGIN * scale))
    return False


def acceptable(graph, values) -> bool:
    """Every value finite and within LIMIT, every operation away from its kinks."""
    for i, node in enumerate(graph.nodes):
        v = np.asarray(values[i])
        if v.dtype.kind == "f" and (not np.all(np.isfinite(v)) or np.any(np.abs(v) > LIMIT)):
            return False
        if node.op not in (INPUT, CONST):
            with np.errstate(all="ignore"):
                if too_close(node.op, values[i], [values[a] for a in node.args], node.params or {}):
                    return False
    return True


def well_scaled_values(program, inputs, seed):
    rng = np.random.default_rng(seed)
    given = {}
    for name in program.inputs:
        var = inputs[name]
        if var.kind == "int":
            given[name] = rng.integers(var.lo, var.hi, var.shape)
        else:
            given[name] = rng.uniform(0.5, 2.0, var.shape) if var.pos else rng.uniform(-2.0, 2.0, var.shape)
    return given


def central_differences(program, out, given, name, step=1e-6):
    x = np.asarray(given[name], dtype=np.float64)
    grad = np.zeros(x.shape)
    for j in np.ndindex(x.shape):
        h = step * max(1.0, abs(float(x[j])))
        f = {}
        for k in (-2, -1, 1, 2):
            moved = x.copy()
            moved[j] += k * h
            f[k] = float(program.values({**given, name: moved}, upto=out)[out])
        # The five-point stencil: its error is O(h^4), so fast oscillation (sin of a large value)
        # stays within tolerance where the two-point difference would not.
        grad[j] = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
    return grad


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------

def strict(call, *args, **kwargs):
    """Run an adcli call with every warning an error: none may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


def operand_scales(graph, values) -> dict[str, float]:
    """For each assignment, the largest finite magnitude its statement's operations read.

    At hostile points a statement may cancel huge terms (sum of [-2.6e8, 2.6e8, ...] giving -2):
    its result is then only as exact as a few ulps of those terms, and two correct evaluations
    that add in different orders differ by that much, not by ulps of the result."""
    scales, start = {}, 0
    for label, index in graph.assigned:
        largest = 0.0
        for node in graph.nodes[start:index + 1]:
            for a in node.args:
                v = np.asarray(values[a])
                if v.dtype.kind == "f" and v.size:
                    finite = np.abs(v[np.isfinite(v)])
                    largest = max(largest, float(finite.max(initial=0.0)))
        scales[label], start = largest, max(start, index + 1)
    return scales


def same_values(got, expected, hostile, operand_scale=0.0) -> bool:
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        return False
    if got.dtype.kind in "biu" or expected.dtype.kind in "biu":
        return bool(np.array_equal(got, expected))
    if hostile:
        return bool(np.allclose(got, expected, rtol=1e-9, atol=0.0, equal_nan=True)) or \
            bool(np.allclose(got, expected, rtol=1e-9, atol=1e-9 * max(1.0, float(np.nanmax(np.abs(
                np.where(np.isfinite(expected), expected, 0.0)), initial=0.0))), equal_nan=True)) or \
            bool(np.allclose(got, expected, rtol=1e-9, atol=1e-12 * operand_scale, equal_nan=True))
    return bool(np.allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True))


CANCELLATION_ORDER = 1e250


def overflowed(graph, values, out, wrt, given, name, r, f) -> bool:
    """Whether each side that is not finite where the other is went through an infinity of its
    own making: a finite contribution or tangent that overflowed, which the other mode, multiplying
    the same factors in another order, may never meet (1e300·1e300 - 1e300·1e300 against
    (1e300 - 1e300)·1e300). Then neither mode is wrong."""
    from adcli.engine.forward import tangents, unit
    r, f = np.asarray(r, dtype=np.float64), np.asarray(f, dtype=np.float64)
    seen = {"reverse": False}

    def watch(node, k, operand, before, upstream, contribution, after):
        if not np.all(np.isfinite(contribution)) or (after is not None and not np.all(np.isfinite(after))):
            seen["reverse"] = True
    backward(graph, values, out, wrt, on_update=watch)
    w = next(i for i in wrt if graph.nodes[i].label == name)
    forward_seen = False
    for index in np.ndindex(np.shape(values[w])):
        ts = tangents(graph, values, out, {w: unit(np.shape(values[w]), index)})
        if any(t is not None and not np.all(np.isfinite(t)) for t in ts):
            forward_seen = True
            break
    bad_r = ~np.isfinite(r) & np.isfinite(f)
    bad_f = ~np.isfinite(f) & np.isfinite(r)
    return (not bad_r.any() or seen["reverse"]) and (not bad_f.any() or forward_seen) and (bad_r.any() or bad_f.any())


def cancelled(graph, values, out, wrt, name, r, f) -> bool:
    """Whether the modes differ by no more than the rounding of the terms that cancelled on the way:
    the largest adjoint (reverse) or tangent (forward) on the paths from this input to the output.
    Where those are 1e16 and the derivative is 0, each mode's answer is rounding of 1e16 · 2⁻⁵³ and
    no digit can be compared (an ill-conditioned solve at a hostile point)."""
    from adcli.engine.forward import tangents, unit
    w = next(i for i in wrt if graph.nodes[i].label == name)
    largest = [0.0]

    def note(*arrays):
        for a in arrays:
            a = np.asarray(a, dtype=np.float64) if a is not None else np.zeros(0)
            finite = np.abs(a[np.isfinite(a)])
            largest[0] = max(largest[0], float(finite.max(initial=0.0)))

    backward(graph, values, out, [w],
             on_update=lambda node, k, operand, before, upstream, contribution, after: note(upstream, contribution))
    for index in np.ndindex(np.shape(values[w])):
        note(*tangents(graph, values, out, {w: unit(np.shape(values[w]), index)}))
    r, f = np.asarray(r, dtype=np.float64), np.asarray(f, dtype=np.float64)
    both = np.isfinite(r) & np.isfinite(f)
    return bool(np.all(np.isfinite(r) == np.isfinite(f))) and \
        bool(np.all(np.abs(r[both] - f[both]) <= 1e-12 * largest[0]))


MATRIX_OPS = ("det", "logdet", "inv", "solve", "cholesky", "solve_triangular", "eigvalsh")


def conditioned(graph, values, r, f) -> bool:
    """Whether the modes differ by no more than the rounding an ill-conditioned matrix amplifies: a
    factorisation of a matrix of condition number κ carries a relative error of about κ·2⁻⁵³, and
    the modes factor it along different paths (det of P Pᵀ + 3I with P of 1e6 is κ ≈ 1e13: the
    two answers agree to 3 digits, and each is right to that)."""
    kappa = 0.0
    for i, node in enumerate(graph.nodes[:len(values)]):
        if node.op in MATRIX_OPS and values[node.args[0]] is not None:
            a = np.asarray(values[node.args[0]], dtype=np.float64)
            if a.ndim >= 2 and a.size and np.all(np.isfinite(a)):
                with np.errstate(all="ignore"):
                    kappa = max(kappa, float(np.max(np.linalg.cond(a))))
    r, f = np.asarray(r, dtype=np.float64), np.asarray(f, dtype=np.float64)
    both = np.isfinite(r) & np.isfinite(f)
    return bool(np.all(np.isfinite(r) == np.isfinite(f))) and \
        bool(np.all(np.abs(r[both] - f[both]) <= 10 * kappa * 2.0 ** -53 * np.maximum(np.abs(r[both]), np.abs(f[both]))))


def modes_agree(r, f, hostile, scale) -> str | None:
    """Why reverse mode (r) and forward mode (f) disagree, or None. Well-scaled points: every
    element finite and within FORWARD_RTOL of the largest gradient element. Hostile points,
    elementwise: NaN for NaN; inf for inf with its sign, except that a finite value of at least
    OVERFLOW_ORDER against an infinity is the order of a product (the modes multiply the same
    factors from opposite ends, so one may overflow where the other does not); and where both are
    finite, within HOSTILE_RTOL of each other."""
    r, f = np.asarray(r, dtype=np.float64), np.asarray(f, dtype=np.float64)
    if r.shape != f.shape:
        return f"shapes {r.shape} and {f.shape}"
    if not hostile:
        if not np.all(np.isfinite(r)):
            return "not finite at a well-scaled point"
        return None if np.all(np.abs(f - r) <= FORWARD_RTOL * scale) else "they differ"
    # NaN against an infinity is the order of a sum: ∞ - ∞ in one mode is (a - a)·∞ = 0·∞ in the
    # other, and neither is wrong; NaN against a finite number is a bug.
    if np.any(np.isnan(r) & np.isfinite(f)) or np.any(np.isnan(f) & np.isfinite(r)):
        return "NaN in one mode where the other has a number"
    one_inf = (np.isinf(r) != np.isinf(f)) & ~np.isnan(r) & ~np.isnan(f)
    finite_side = np.where(np.isinf(r), f, r)
    if np.any(one_inf & ~((np.abs(finite_side) >= OVERFLOW_ORDER) & (np.sign(r) == np.sign(f)))):
        return "inf in one mode where the other has a finite number"
    both_inf = np.isinf(r) & np.isinf(f)
    if np.any(both_inf & (r != f)):
        return "infinities of opposite signs"
    both = np.isfinite(r) & np.isfinite(f)
    local = max([1e-300] + [float(np.max(np.abs(v[both]))) for v in (r, f) if np.any(both)])
    if local >= CANCELLATION_ORDER:
        # Terms near the overflow limit that cancel leave rounding of their own size (1e300 · 2⁻⁵³),
        # which forward and reverse mode make in different places: no digit can be compared.
        return None
    with np.errstate(all="ignore"):
        close = np.abs(r[both] - f[both]) <= HOSTILE_RTOL * (np.abs(r[both]) + np.abs(f[both])) + 1e-12 * max(1.0, local)
    return None if np.all(close) else "they differ where both are finite"


CHECKPOINTS = ("sqrt", 1, 3)
EXPORT_EVERY = 6  # JAX and PyTorch modules take a compile each: one program in six (well-scaled)


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def transformations(program, given, result, hostile, seed, context):
    """Checkpointing (each schedule, the scalar path and the general one) gives the plain pass's
    bits; two points at once give each point's own gradients; the numpy export gives adcli's bits
    and JAX's and PyTorch's agree to 1e-12 (well-scaled points)."""
    from adcli.engine import checkpoint
    graph = program.graph
    _, out = program.output_node("loss")
    wrt = program.wrt_nodes(None)
    bound = bind_inputs(graph, given)
    for kind in CHECKPOINTS:
        schedule = checkpoint.choose(graph, out, wrt, kind)
        for fast in (True, False):  # the scalar fast path when it applies, and the general one
            value, grads = strict(checkpoint.grad, graph, bound, out, wrt, schedule, fast=fast)
            assert same_bits(value, result.value), f"checkpoint {kind}: value {value!r}{context}"
            for w in wrt:
                label = graph.nodes[w].label
                assert same_bits(grads[w], result.grad[label]), \
                    f"checkpoint {kind}: ∂loss/∂{label} {grads[w]!r}, plain {result.grad[label]!r}{context}"
    check_batch(program, given, result, hostile, context)
    if not hostile:
        check_export(program, given, result, seed, context)


def check_batch(program, given, result, hostile, context):
    """The point itself and a second one (floats halved), batched over every input that may be."""
    from adcli.errors import ShapeError
    graph = program.graph
    names = list(program.inputs)
    second = {n: (np.asarray(v) * 0.5 if np.asarray(v).dtype.kind == "f" else np.asarray(v)) for n, v in given.items()}
    batched = {n: np.stack([np.asarray(given[n]), second[n]]) for n in names}
    try:
        many = strict(program.batch(*names).grad, of="loss", **batched)
    except ShapeError as e:  # an int input used as an index cannot be batched: batch the others
        assert "is used here as an index" in e.message, e.message + context
        names = [n for n in names if graph.nodes[graph.inputs[program.inputs.index(n)]].dtype != "i"]
        batched = {n: (np.stack([np.asarray(given[n]), second[n]]) if n in names else given[n]) for n in given}
        second = {n: (second[n] if n in names else given[n]) for n in given}
        if not names:
            return
        many = strict(program.batch(*names).grad, of="loss", **batched)
    for k, point in enumerate((given, second)):
        one = result if k == 0 else strict(program.grad, of="loss", **point)
        for label, g in one.grad.items():
            got, want = np.asarray(many.grad[label][k]), np.asarray(g)
            ok = np.allclose(got, want, rtol=1e-12, atol=1e-12 * max(1.0, float(np.nanmax(np.abs(np.where(
                np.isfinite(want), want, 0.0)), initial=0.0))), equal_nan=True) and \
                np.array_equal(np.isinf(got), np.isinf(want))
            assert ok, f"batched ∂loss/∂{label} at point {k}: {got!r}, alone {want!r}{context}"


def check_export(program, given, result, seed, context):
    """numpy's module gives adcli's bits; now and then JAX's and PyTorch's agree to 1e-12."""
    from adcli.export import export_source, load_module
    args = [given[n] for n in program.inputs]
    module = load_module(strict(export_source, program, "numpy", "loss"))
    value, grads = strict(module.grad_f, *args)
    assert same_bits(value, result.value), f"exported numpy: value {value!r}{context}"
    for label, g in result.grad.items():
        assert same_bits(grads[label], g), f"exported numpy: ∂loss/∂{label} {grads[label]!r}, adcli {g!r}{context}"
    if seed % EXPORT_EVERY:
        return
    for target in ("jax", "torch"):
        try:
            framework = __import__(target)
        except ImportError:
            continue
        module = load_module(export_source(program, target, "loss"))
        convert = (lambda v: framework.numpy.asarray(v)) if target == "jax" else \
            (lambda v: framework.as_tensor(np.array(v)))
        value, grads = module.grad_f(*(convert(a) for a in args))
        for label, g in result.grad.items():
            got = np.asarray(grads[label].detach().numpy() if hasattr(grads[label], "detach") else grads[label],
                             dtype=np.float64)
            scale = max(1.0, float(np.max(np.abs(g), initial=0.0)))
            assert np.allclose(got, g, rtol=1e-12, atol=1e-12 * scale), \
                f"exported {target}: ∂loss/∂{label} {got!r}, adcli {g!r}{context}"


def check_program(statements, inputs, seed, hostile_given=None, replay=None):
    """Every check of the test module's docstring, for one program (hostile when values are given);
    an exception from adcli (a crash) fails with the program and its values, and any failure ends
    with the program's text and `replay`, the command that runs it again (by default, the running
    test's own, which replays a derandomized test)."""
    source = print_program(statements, np.random.default_rng(seed))
    replay = replay or current_test_command()
    state: dict = {}
    try:
        return checks(source, statements, inputs, seed, hostile_given, state)
    except UnsatisfiedAssumption:
        raise
    except AssertionError as e:
        if source not in str(e):  # most messages carry the program already
            add_note(e, f"program:\n{source}values: {state.get('given')}")
        if replay:
            add_note(e, f"replay: {replay}")
        raise
    except Exception as e:
        failure = AssertionError(f"{type(e).__name__}: {e}\n{source}\nvalues: {state.get('given')}")
        if replay:
            add_note(failure, f"replay: {replay}")
        raise failure from e


def current_test_command() -> str | None:
    """`python -m pytest FILE -k TEST` for the test running now, which pytest names in PYTEST_CURRENT_TEST."""
    node = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    if "::" not in node:
        return None
    path, test = node.split("::", 1)
    return f"python -m pytest {path} -k {test.split('[')[0]}"


def add_note(error: BaseException, text: str) -> None:
    """An exception note (Python 3.11 on); on Python 3.10 the text joins the message."""
    if hasattr(error, "add_note"):
        error.add_note(text)
    else:
        error.args = (f"{error.args[0] if error.args else ''}\n{text}", *error.args[1:])


OPS_SEEN: set[str] = set()  # every operation of every program checked so far in this session


def checks(source, statements, inputs, seed, hostile_given, state):
    hostile = hostile_given is not None
    program = strict(adcli.parse, source, "random.ad")
    graph = program.graph
    OPS_SEEN.update(n.op for n in graph.nodes if n.op not in (INPUT, CONST))

    # Printed back from its graph and parsed again, the program is the same graph.
    printed = print_graph(graph)
    again = strict(adcli.parse, printed, "printed.ad")
    assert graph_summary(again.graph) == graph_summary(graph), (source, printed)

    out_name, out = program.output_node("loss")
    if hostile:
        given = state["given"] = {name: hostile_given[name] for name in program.inputs}
        values = strict(program.values, given)
        smooth = acceptable(graph, values)
    else:
        for attempt in range(VALUE_TRIES):
            given = state["given"] = well_scaled_values(program, inputs, seed + attempt)
            values = strict(program.values, given)
            smooth = acceptable(graph, values)
            if smooth:
                break
        assume(smooth)
    state["given"] = given
    context = f"\n{source}\nvalues: {given}"

    # adcli's value of every assignment is this file's own evaluation of the program.
    expected = reference_values(statements, given)
    got = strict(program.eval, **given)
    # (drift's and settle's own names are not the reference's: it computes them in one piece, as
    # IMPLICIT_SOURCES' others)
    assert [label for label, _ in graph.assigned if not label.startswith(("drift.", "settle."))] == \
        [label for label, _ in expected], context
    scales = operand_scales(graph, values) if hostile else {}
    for label, value in expected:
        assert same_values(got[label], value, hostile, scales.get(label, 0.0)), \
            f"{label}: adcli {got[label]!r}, numpy {value!r}{context}"

    # The scalar fast path (program.grad) and the general engine give the same bits.
    result = strict(program.grad, of="loss", **given)
    wrt = program.wrt_nodes(None)
    differentiable = [n for n in program.inputs if inputs[n].kind == "float"]  # not data, not int
    assert list(result.grad) == differentiable, f"gradients of {list(result.grad)}{context}"
    full = strict(evaluate, graph, bind_inputs(graph, given), out)
    general = strict(backward, graph, full, out, wrt)
    assert np.array_equal(np.asarray(result.value), np.asarray(full[out]), equal_nan=True), \
        f"value: grad {result.value!r}, evaluate {full[out]!r}{context}"
    for w in wrt:
        label = graph.nodes[w].label
        a, b = np.asarray(result.grad[label]), np.asarray(general[w])
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), \
            f"∂loss/∂{label}: program.grad {a!r}, general engine {b!r}{context}"

    # Forward mode agrees with reverse mode (NaN for NaN and inf for inf at hostile points).
    by_forward = strict(forward_grad, program, of="loss", **given)
    scale = max([1.0] + [float(np.max(np.abs(g))) for g in result.grad.values()
                         if np.size(g) and np.all(np.isfinite(g))])
    for name, g in result.grad.items():
        why = modes_agree(g, by_forward.grad[name], hostile, scale)
        if why is not None and hostile and (overflowed(graph, full, out, wrt, given, name, g, by_forward.grad[name])
                                            or cancelled(graph, full, out, wrt, name, g, by_forward.grad[name])
                                            or conditioned(graph, full, g, by_forward.grad[name])):
            why = None
        assert why is None, \
            f"∂loss/∂{name}: reverse mode {g!r}, forward mode {by_forward.grad[name]!r}: {why}{context}"

    # The same gradients by every checkpointing schedule, to the bit; at many points at once; exported.
    transformations(program, given, result, hostile, seed, context)

    # Finite differences, where every value is finite and every operation is away from its kinks.
    if smooth:
        for name, g in result.grad.items():
            if not np.all(np.isfinite(g)):
                assert False, f"∂loss/∂{name} = {g!r} is not finite at a smooth point{context}"
            numeric = strict(central_differences, program, out, given, name)
            tolerance = FD_RTOL * np.abs(g) + FD_ATOL * (1.0 + abs(float(result.value)))
            if not np.all(np.abs(numeric - g) <= tolerance):
                # Finite differences' own error, estimated from a second step 4 times larger: where
                # the two disagree (a function that turns fast, rounding at a steep point), a miss
                # within that spread says nothing against the derivative; one beyond it does.
                coarse = strict(central_differences, program, out, given, name, step=4e-6)
                tolerance = tolerance + 2 * np.abs(numeric - coarse)
            assert np.all(np.abs(numeric - g) <= tolerance), \
                f"∂loss/∂{name}: reverse {g!r}, finite differences {numeric!r}{context}"
    return smooth


def operations_of(statements) -> set[str]:
    """The registry operations adcli makes of a program (parsed, not evaluated; a program adcli
    refuses, which the other tests report, counts for nothing)."""
    source = print_program(statements, np.random.default_rng(0))
    try:
        graph = adcli.parse(source).graph
    except Exception:
        return set()
    return {n.op for n in graph.nodes if n.op not in (INPUT, CONST)}
