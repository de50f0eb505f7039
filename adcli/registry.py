"""The operation registry: one entry per operation, holding everything adcli knows about it.

An entry gives the forward computation (numpy), the derivative rules (jvp and vjp), the shape
rule, and the text that traces print. Elementwise operations give only their local partial
derivatives; their jvp (Σ ṫₖ·∂ₖ) and vjp (ḡ·∂ₖ, summed back over broadcast axes) follow from them.
The rules use numpy ufuncs, operators and linear array functions only, so they also run on duals.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np


class Mismatch(ValueError):
    """A shape rule's refusal; the evaluator adds the source position."""


@dataclass(frozen=True)
class Op:
    """An operation: its name, numpy forward, derivative rules, shape rule and trace text."""

    name: str
    forward: Callable[..., Any]
    shape: Callable[..., tuple]
    text: str  # the formula, with {0}, {1} for operands: "{0}·{1}"
    partials: Sequence[str]  # scalar local derivative per operand: ∂(x·u)/∂u = "{0}"
    vjp_text: Sequence[str]  # the vector–Jacobian product per operand, ḡ the upstream gradient
    nargs: int = 1  # number of operands; -1 for any number
    func: str | None = None  # the name a .ad file calls it by
    derivs: Sequence[Callable] | None = None  # elementwise: ∂ₖ(ans, *xs)
    vjps: Sequence[Callable] | None = None  # otherwise: vjps[k](g, ans, *xs, **params)
    jvp_rule: Callable | None = None  # otherwise: jvp_rule(tangents, ans, *xs, **params)
    axis: bool = False  # takes an `axis` parameter
    kink: Callable | None = None  # kink(ans, *xs) -> mask of points with no derivative
    convention: str = ""  # what adcli uses at a kink
    scalar_text: str | None = None  # the formula when every operand is a scalar
    pyfunc: Callable | None = None  # a Python operator giving numpy's exact result on floats
    # Per operand k, the forward values its vjp reads: "ans" and/or operand indices (every rule
    # may read operand shapes). Reverse mode frees all other values early; the last entry covers
    # any further operands.
    reads: tuple = ((),)

    @property
    def elementwise(self) -> bool:
        return self.derivs is not None

    def vjp(self, k: int, g, ans, xs: Sequence, params: dict):
        """Operand k's share of the upstream gradient g, in operand k's shape."""
        if self.derivs is not None:
            deriv = self.derivs[k]
            # ḡ·1 is ḡ, bit for bit: pass it on rather than spend an array on the product.
            local = g if deriv is one else g * deriv(ans, *xs)
            return unbroadcast(local, np.shape(xs[k]))
        return self.vjps[k](g, ans, *xs, **params)

    def jvp(self, tangents: Sequence, ans, xs: Sequence, params: dict):
        """The result's tangent, given one tangent per operand (None: a constant operand)."""
        if self.derivs is not None:
            total = None
            for t, d in zip(tangents, self.derivs):
                if t is None:  # skipped, not 0·∂: ∂(x**2)/∂2 is NaN at x < 0 and would poison the sum
                    continue
                term = t * d(ans, *xs)
                total = term if total is None else total + term
            return total
        return self.jvp_rule(tangents, ans, *xs, **params)

    def reads_for(self, k: int) -> tuple:
        """The forward values operand k's vjp reads."""
        return self.reads[min(k, len(self.reads) - 1)]

    def formula(self, labels: Sequence[str], scalar: bool = False) -> str:
        """The forward formula with operand labels filled in."""
        text = self.scalar_text if scalar and self.scalar_text else self.text
        if self.nargs == -1:
            return "[" + ", ".join(labels) + "]"
        return text.format(*labels)


# ---------------------------------------------------------------------------------------------
# Named edge-case helpers (the README's table of conventions lists each one)
# ---------------------------------------------------------------------------------------------

def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting added or stretched, giving it `shape`."""
    if np.shape(g) == shape:
        return g
    lead = np.ndim(g) - len(shape)  # np.ndim and np.shape, not np.asarray: g may be a dual
    if lead > 0:
        g = np.sum(g, axis=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and np.shape(g)[i] != 1)
    if stretched:
        g = np.sum(g, axis=stretched, keepdims=True)
    return g


def tie_weight(x, y):
    """∂max(x, y)/∂x: 1 where x wins, ½ on a tie (the gradient is split evenly), else 0."""
    # A NaN operand neither wins nor ties: its derivative is NaN, never a clean 0.
    return np.where((x > y) | (x <= y), (x > y) * 1.0 + (x == y) * 0.5, np.nan)


def pow_dbase(x, y):
    """∂(x**y)/∂x = y·x^(y-1), taken as 0 where y == 0 (x**0 is constant), as PyTorch does."""
    return np.where(y == 0, 0.0, y * x ** (y - 1.0))


def pow_dexp(ans, x, y):
    """∂(x**y)/∂y = x**y·log x, taken as 0 at x == 0 for y >= 0 (the limit), as PyTorch does;
    at x == 0 for y < 0 it is inf·(-inf) = -inf, as in PyTorch."""
    return np.where((x == 0) & (y >= 0), 0.0, ans * np.log(x))


def logistic_slope(x):
    """σ′(x) = e/(1+e)² with e = exp(-|x|): exact in both tails, unlike σ(1-σ) for large x."""
    e = np.exp(-np.abs(x))
    return e / ((1.0 + e) * (1.0 + e))


def sech2(x):
    """tanh′(x) = 4e/(1+e)² with e = exp(-2|x|): exact in both tails, unlike 1 - tanh²."""
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def sigmoid(x):
    """The logistic function, without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def expand(g, shape, axis):
    """Broadcast a reduction's gradient g back to the reduced operand's shape."""
    if axis is not None:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


def reduced_size(shape, axis):
    """How many elements a reduction over `axis` (None: all) combines into one."""
    return int(np.prod(shape)) if axis is None else shape[axis]


def ties_mask(ans, x, axis):
    """1/k at each of the k elements equal to the extreme value, 0 elsewhere."""
    hit = (x == expand(ans, np.shape(x), axis)) * 1.0
    return hit / expand(np.sum(hit, axis=axis), np.shape(x), axis)


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along axis, shifted by the maximum so nothing overflows."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(x, axis=-1):
    """log Σ exp(x) along axis, shifted by the maximum so nothing overflows."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


def matmul(a, b):
    """numpy's matmul, except that a scalar on either side multiplies (W@x with W = 2, x = 3)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return np.matmul(a, b)


def _as_matrices(a, b, g):
    """Promote 1-D operands of a matmul to matrices, and its gradient to match."""
    # b's axis first: it is the last one, and for vector @ vector g starts as a scalar.
    if np.ndim(b) == 1:
        b, g = b[:, None], np.expand_dims(g, -1)
    if np.ndim(a) == 1:
        a, g = a[None, :], np.expand_dims(g, -2)
    return a, b, g


def _reshaped(x, shape):
    """x in `shape`, without making a view when it already has it (a view would be copied later)."""
    return x if np.shape(x) == shape else np.reshape(x, shape)


def matmul_vjp_left(g, ans, a, b):
    if np.ndim(a) == 0:
        return np.sum(g * b)
    if np.ndim(b) == 0:
        return g * b
    a2, b2, g2 = _as_matrices(a, b, g)
    return _reshaped(unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), np.shape(a2)), np.shape(a))


def matmul_vjp_right(g, ans, a, b):
    if np.ndim(b) == 0:
        return np.sum(g * a)
    if np.ndim(a) == 0:
        return g * a
    a2, b2, g2 = _as_matrices(a, b, g)
    return _reshaped(unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), np.shape(b2)), np.shape(b))


# ---------------------------------------------------------------------------------------------
# Shape rules
# ---------------------------------------------------------------------------------------------

def fmt_shape(shape) -> str:
    """A shape as users write it: [3, 4], [] for a scalar."""
    return "[" + ", ".join(str(n) for n in shape) + "]"


def same_shape(s):
    return tuple(s)


def broadcast_shape(symbol):
    def rule(a, b):
        try:
            return tuple(np.broadcast_shapes(a, b))
        except ValueError:
            raise Mismatch(
                f"operands of '{symbol}' have shapes {fmt_shape(a)} and {fmt_shape(b)}, "
                "which do not broadcast together"
            ) from None
    return rule


def matmul_shape(a, b):
    if len(a) == 0 or len(b) == 0:
        return tuple(np.broadcast_shapes(a, b))
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise Mismatch(
            f"'@' cannot multiply shapes {fmt_shape(a)} and {fmt_shape(b)}: the left operand's "
            f"last dimension ({a2[-1]}) differs from the right operand's "
            f"{'only' if len(b) == 1 else 'second-to-last'} dimension ({b2[-2]})"
        )
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError:
        raise Mismatch(f"'@' cannot broadcast the batch dimensions of {fmt_shape(a)} and {fmt_shape(b)}") from None
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def transpose_shape(s):
    return tuple(reversed(s))


def check_axis(name, shape, axis):
    """The axis, made non-negative, or a Mismatch naming the valid range."""
    n = len(shape)
    if not -n <= axis < n:
        valid = "it has no axes" if n == 0 else f"valid axes are {-n} to {n - 1}"
        raise Mismatch(f"axis {axis} is out of range for {name}() of shape {fmt_shape(shape)}: {valid}")
    return axis % n


def reduce_shape(name):
    def rule(s, axis=None):
        if axis is None:
            return ()
        k = check_axis(name, s, axis)
        return tuple(s[:k]) + tuple(s[k + 1:])
    return rule


def along_axis_shape(name, keep):
    def rule(s, axis=-1):
        if len(s) == 0:
            raise Mismatch(f"{name}() needs an array with at least one axis, not a scalar")
        k = check_axis(name, s, axis)
        return tuple(s) if keep else tuple(s[:k]) + tuple(s[k + 1:])
    return rule


def stack_shape(*shapes):
    for s in shapes[1:]:
        if tuple(s) != tuple(shapes[0]):
            raise Mismatch(
                f"array literal items must have one shape, but found {fmt_shape(shapes[0])} and {fmt_shape(s)}"
            )
    return (len(shapes),) + (tuple(shapes[0]) if shapes else ())


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------

OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    OPS[op.name] = op
    return op


def one(ans, *xs):
    return 1.0


def minus_one(ans, *xs):
    return -1.0


def binary(name, symbol, forward, derivs, text, partials, vjp_text, **kw):
    return register(Op(name, forward, broadcast_shape(symbol), text, partials, vjp_text,
                       nargs=2, derivs=derivs, **kw))


def unary(name, forward, deriv, text, partial, vjp_text, **kw):
    return register(Op(name, forward, same_shape, text, (partial,), (vjp_text,),
                       func=kw.pop("func", name), derivs=(deriv,), **kw))


# ---- arithmetic ---------------------------------------------------------------------------------
binary("add", "+", np.add, (one, one), "{0} + {1}", ("1", "1"), ("ḡ", "ḡ"), pyfunc=operator.add,
       reads=((), ()))
binary("sub", "-", np.subtract, (one, minus_one), "{0} - {1}", ("1", "-1"), ("ḡ", "-ḡ"),
       pyfunc=operator.sub, reads=((), ()))
binary("mul", "*", np.multiply, (lambda ans, x, y: y, lambda ans, x, y: x),
       "{0}·{1}", ("{1}", "{0}"), ("ḡ ⊙ {1}", "ḡ ⊙ {0}"), pyfunc=operator.mul,
       reads=((1,), (0,)))
binary("div", "/", np.divide, (lambda ans, x, y: 1.0 / y, lambda ans, x, y: -ans / y),
       "{0}/{1}", ("1/{1}", "-{0}/{1}²"), ("ḡ / {1}", "-ḡ ⊙ {0}/{1}²"),
       pyfunc=operator.truediv, reads=((1,), ("ans", 1)))
binary("pow", "**", np.power, (lambda ans, x, y: pow_dbase(x, y), pow_dexp),
       "{0}^{1}", ("{1}·{0}^({1}-1)", "log({0})·{0}^{1}"),
       ("ḡ ⊙ {1}·{0}^({1}-1)", "ḡ ⊙ log({0})·{0}^{1}"), reads=((0, 1), ("ans", 0, 1)))
unary("neg", np.negative, minus_one, "-{0}", "-1", "-ḡ", func=None, pyfunc=operator.neg)

# ---- elementwise functions ----------------------------------------------------------------------
unary("relu", lambda x: np.maximum(x, 0.0), lambda ans, x: np.sign(ans),  # 1, 0, or NaN at NaN
      "ReLU({0})", "ReLU′({0})", "ḡ ⊙ [{0} > 0]",
      kink=lambda ans, x: x == 0, convention="relu′(0) taken as 0", reads=(("ans",),))
unary("exp", np.exp, lambda ans, x: ans, "exp({0})", "exp({0})", "ḡ ⊙ exp({0})", reads=(("ans",),))
unary("log", np.log, lambda ans, x: 1.0 / x, "log({0})", "1/{0}", "ḡ / {0}", reads=((0,),))
unary("sin", np.sin, lambda ans, x: np.cos(x), "sin({0})", "cos({0})", "ḡ ⊙ cos({0})", reads=((0,),))
unary("cos", np.cos, lambda ans, x: -np.sin(x), "cos({0})", "-sin({0})", "-ḡ ⊙ sin({0})", reads=((0,),))
unary("tan", np.tan, lambda ans, x: 1.0 + ans * ans, "tan({0})", "1 + tan²({0})", "ḡ ⊙ (1 + tan²({0}))",
      reads=(("ans",),))
unary("tanh", np.tanh, lambda ans, x: sech2(x), "tanh({0})", "1 - tanh²({0})", "ḡ ⊙ (1 - tanh²({0}))",
      reads=((0,),))
unary("sigmoid", sigmoid, lambda ans, x: logistic_slope(x),
      "σ({0})", "σ({0})(1 - σ({0}))", "ḡ ⊙ σ({0})(1 - σ({0}))", reads=((0,),))
unary("sqrt", np.sqrt, lambda ans, x: 0.5 / ans, "√{0}", "1/(2√{0})", "ḡ / (2√{0})", reads=(("ans",),))
unary("abs", np.abs, lambda ans, x: np.sign(x), "|{0}|", "sign({0})", "ḡ ⊙ sign({0})",
      kink=lambda ans, x: x == 0, convention="abs′(0) taken as 0", reads=((0,),))
binary("maximum", "max", np.maximum, (lambda ans, x, y: tie_weight(x, y), lambda ans, x, y: tie_weight(y, x)),
       "max({0}, {1})", ("[{0} > {1}] + ½[{0} = {1}]", "[{1} > {0}] + ½[{0} = {1}]"),
       ("ḡ ⊙ ([{0} > {1}] + ½[{0} = {1}])", "ḡ ⊙ ([{1} > {0}] + ½[{0} = {1}])"),
       func="max", kink=lambda ans, x, y: x == y, convention="a tie in max splits the gradient evenly",
       reads=((0, 1), (0, 1)))
binary("minimum", "min", np.minimum, (lambda ans, x, y: tie_weight(y, x), lambda ans, x, y: tie_weight(x, y)),
       "min({0}, {1})", ("[{0} < {1}] + ½[{0} = {1}]", "[{1} < {0}] + ½[{0} = {1}]"),
       ("ḡ ⊙ ([{0} < {1}] + ½[{0} = {1}])", "ḡ ⊙ ([{1} < {0}] + ½[{0} = {1}])"),
       func="min", kink=lambda ans, x, y: x == y, convention="a tie in min splits the gradient evenly",
       reads=((0, 1), (0, 1)))

# ---- linear algebra and structure ---------------------------------------------------------------
register(Op(
    "matmul", matmul, matmul_shape, "{0} @ {1}", ("{1}", "{0}"), ("ḡ {1}ᵀ", "{0}ᵀ ḡ"), nargs=2,
    vjps=(matmul_vjp_left, matmul_vjp_right),
    jvp_rule=lambda ts, ans, a, b: matmul(ts[0], b) + matmul(a, ts[1]),
    scalar_text="{0}·{1}", pyfunc=operator.mul, reads=((1,), (0,)),
))
register(Op(
    "transpose", np.transpose, transpose_shape, "{0}ᵀ", ("1",), ("ḡᵀ",), func="transpose",
    vjps=(lambda g, ans, x: np.transpose(g),),
    jvp_rule=lambda ts, ans, x: np.transpose(ts[0]),
))
class ItemVjps(Sequence):
    """The vjps of an array literal: item k receives row k of the gradient, however many items."""

    def __getitem__(self, k):
        return lambda g, ans, *xs: g[k]

    def __len__(self):
        return 0


register(Op(
    "stack", lambda *xs: np.stack(xs), stack_shape, "[…]", ("1",), ("ḡ[k]",), nargs=-1,
    vjps=ItemVjps(), jvp_rule=lambda ts, ans, *xs: np.stack(ts),
))

# ---- reductions ---------------------------------------------------------------------------------
register(Op(
    "sum", lambda x, axis=None: np.sum(x, axis=axis), reduce_shape("sum"), "Σ{0}", ("1",),
    ("ḡ broadcast to the shape of {0}",), func="sum", axis=True,
    vjps=(lambda g, ans, x, axis=None: expand(g, np.shape(x), axis),),
    jvp_rule=lambda ts, ans, x, axis=None: np.sum(ts[0], axis=axis),
))
register(Op(
    "mean", lambda x, axis=None: np.mean(x, axis=axis), reduce_shape("mean"), "mean({0})", ("1/n",),
    ("ḡ/n broadcast to the shape of {0}",), func="mean", axis=True,
    vjps=(lambda g, ans, x, axis=None: expand(g, np.shape(x), axis) / reduced_size(np.shape(x), axis),),
    jvp_rule=lambda ts, ans, x, axis=None: np.mean(ts[0], axis=axis),
))
for _name, _np_fn, _word in (("amax", np.max, "max"), ("amin", np.min, "min")):
    register(Op(
        _name, (lambda f: lambda x, axis=None: f(x, axis=axis))(_np_fn), reduce_shape(_word),
        _word + "({0})", (f"[{{0}} = {_word}]/#ties",), (f"ḡ ⊙ [{{0}} = {_word}]/#ties",),
        func=_word, axis=True,
        vjps=(lambda g, ans, x, axis=None: expand(g, np.shape(x), axis) * ties_mask(ans, x, axis),),
        jvp_rule=lambda ts, ans, x, axis=None: np.sum(ts[0] * ties_mask(ans, x, axis), axis=axis),
        kink=lambda ans, x, axis=None: np.sum(x == expand(ans, np.shape(x), axis), axis=axis) > 1,
        convention=f"a tie in {_word}() splits the gradient evenly", reads=(("ans", 0),),
    ))
register(Op(
    "softmax", softmax, along_axis_shape("softmax", keep=True), "softmax({0})", ("s(1 - s)",),
    ("s ⊙ (ḡ - Σ ḡ ⊙ s), s = softmax({0})",), func="softmax", axis=True,
    vjps=(lambda g, ans, x, axis=-1: ans * (g - np.sum(g * ans, axis=axis, keepdims=True)),),
    jvp_rule=lambda ts, ans, x, axis=-1: ans * (ts[0] - np.sum(ts[0] * ans, axis=axis, keepdims=True)),
    reads=(("ans",),),
))
register(Op(
    "logsumexp", logsumexp, along_axis_shape("logsumexp", keep=False), "logsumexp({0})", ("softmax({0})",),
    ("ḡ ⊙ softmax({0})",), func="logsumexp", axis=True,
    vjps=(lambda g, ans, x, axis=-1: expand(g, np.shape(x), axis) * softmax(x, axis),),
    jvp_rule=lambda ts, ans, x, axis=-1: np.sum(ts[0] * softmax(x, axis), axis=axis),
    reads=((0,),),
))


# Operator symbols and the functions a .ad file can call, for the parser.
BINARY_SYMBOLS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "**": "pow"}
FUNCTIONS: dict[str, list[Op]] = {}
for _op in OPS.values():
    if _op.func:
        FUNCTIONS.setdefault(_op.func, []).append(_op)
CONSTANTS = {"pi": float(np.pi)}
