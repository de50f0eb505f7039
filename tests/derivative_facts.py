"""Derivative facts for every registry operation at its special points (data, plus small helpers).

Each row (a `Fact`) applies one operation to inputs a, b, … at a point and names where the
expected derivatives come from:

- "torch": PyTorch autograd in float64 (double and triple backward with create_graph=True);
- "mpmath": mpmath.diff of the mathematical function at 50 digits (`MATH` below), where PyTorch
  has no answer or its answer is wrong (cancellation, thresholds, a formula that divides 0 by 0);
- "closed": a closed form written in the row (`formula` says it in words, `closed` computes it);
- "convention": a closed form that is adcli's documented convention (docs/conventions.md).

When every operand is a scalar, the row checks orders 1 to 3 along each operand (`derivative
--order 3`), the gradient in both modes, and the full Hessian with its mixed partials; otherwise it
checks the gradient and the full Hessian of `loss = sum(out * W)` (W fixed weights, `weights`).

Where a function is infinite at a signed zero (log, reciprocal, x ** -1 at +0), the expected values
are the one-sided limits from the zero's side, as IEEE arithmetic and PyTorch give them. NaN is
expected only where the derivative does not exist (outside the domain, a jump in the derivative
with no convention, 0/0 at the origin of hypot). Tolerances are relative, rtol 1e-12 unless a row
says why not; NaN and ±inf must match exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

INF, NAN = math.inf, math.nan
TINY = 5e-324  # the smallest subnormal: nextafter(0, 1)
SMALL = 1e-300
BIG = 1e150
HUGE = 1e300
MAXF = 1e308
UP1 = float(np.nextafter(1.0, 2.0))  # the neighbours of 1
DOWN1 = float(np.nextafter(1.0, 0.0))
UP_M1 = float(np.nextafter(-1.0, 0.0))  # the neighbour of -1 towards 0
HALF_PI = math.pi / 2


@dataclass(frozen=True)
class Fact:
    """One operation at one point, and where its expected derivatives come from."""

    op: str
    at: tuple  # operand values in the operation's argument order (named a, b, c in the program)
    params: dict = field(default_factory=dict)
    truth: str = "torch"  # "torch", "mpmath", "closed" or "convention"
    closed: Callable | None = None  # at -> expected (see `expected_shape` in the test)
    formula: str = ""
    rtol: float = 1e-12
    why: str = ""
    source: str = ""  # a program's right-hand side for `out`, when the row is not one plain call

    @property
    def scalar(self) -> bool:
        return all(np.ndim(x) == 0 for x in self.at)

    @property
    def id(self) -> str:
        shown = ",".join(short(x) for x in self.at)
        extra = "".join(f",{k}={v}" for k, v in self.params.items())
        return f"{self.op}({shown}{extra})"


def short(x) -> str:
    """A compact text for a point in a test id."""
    if np.ndim(x) == 0:
        return repr(float(x))
    return "[" + " ".join(short(v) for v in np.asarray(x)) + "]"


# ---------------------------------------------------------------------------------------------
# Operations with no derivative at all: booleans, counts, integer data, constants
# ---------------------------------------------------------------------------------------------

NO_DERIVATIVE = {
    "less": "bool result", "less_equal": "bool result", "greater": "bool result",
    "greater_equal": "bool result", "equal": "bool result", "not_equal": "bool result",
    "size": "int result (a count)", "one_hot": "its operand is integer labels",
    "filled": "a constant (zeros, eye, arange of a shape)",
    "argmax": "int result (an index)", "argmin": "int result (an index)",
}

# ---------------------------------------------------------------------------------------------
# The mathematical functions, for mpmath (m is the mpmath module)
# ---------------------------------------------------------------------------------------------

MATH = {
    "exp": lambda m, x: m.exp(x),
    "log": lambda m, x: m.log(x),
    "sqrt": lambda m, x: m.sqrt(x),
    "sin": lambda m, x: m.sin(x),
    "cos": lambda m, x: m.cos(x),
    "tan": lambda m, x: m.tan(x),
    "tanh": lambda m, x: m.tanh(x),
    "sigmoid": lambda m, x: 1 / (1 + m.exp(-x)),
    "log1p": lambda m, x: m.log1p(x),
    "expm1": lambda m, x: m.expm1(x),
    "log2": lambda m, x: m.log(x, 2),
    "log10": lambda m, x: m.log10(x),
    "exp2": lambda m, x: m.power(2, x),
    "square": lambda m, x: x * x,
    "cbrt": lambda m, x: m.sign(x) * m.cbrt(abs(x)),
    "reciprocal": lambda m, x: 1 / x,
    "sinh": lambda m, x: m.sinh(x),
    "cosh": lambda m, x: m.cosh(x),
    "asinh": lambda m, x: m.asinh(x),
    "acosh": lambda m, x: m.acosh(x),
    "atanh": lambda m, x: m.atanh(x),
    "asin": lambda m, x: m.asin(x),
    "acos": lambda m, x: m.acos(x),
    "atan": lambda m, x: m.atan(x),
    "erf": lambda m, x: m.erf(x),
    "erfc": lambda m, x: m.erfc(x),
    "softplus": lambda m, x: m.log1p(m.exp(x)),
    "gelu": lambda m, x: x * (1 + m.erf(x / m.sqrt(2))) / 2,
    "silu": lambda m, x: x / (1 + m.exp(-x)),
    "pow": lambda m, x, y: m.power(x, y),
    "atan2": lambda m, y, x: m.atan2(y, x),
    "hypot": lambda m, x, y: m.hypot(x, y),
    "logaddexp": lambda m, x, y: m.log(m.exp(x) + m.exp(y)),
    "div": lambda m, x, y: x / y,
    "log_sigmoid": lambda m, x: -m.log1p(m.exp(-x)),
    "sinc": lambda m, x: m.sinc(m.pi * x),
}

# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------


def logistic(d: float) -> float:
    """σ(d) = 1/(1 + e^-d), without overflow."""
    if d >= 0:
        return 1.0 / (1.0 + math.exp(-d))
    e = math.exp(d)
    return e / (1.0 + e)


def logaddexp_facts(at):
    """∂/∂a log(eᵃ + eᵇ) = σ(a-b), ∂/∂b = σ(b-a); with s = σ(a-b): ∂²/∂a² = s(1-s) = -∂²/∂a∂b,
    ∂³/∂a³ = s(1-s)(1-2s); d = a - b taken in exact arithmetic (it may overflow in floats)."""
    a, b = at
    exact = Fraction(a) - Fraction(b)
    d = (INF if exact > 0 else -INF) if abs(exact) > Fraction(float(np.finfo(float).max)) else float(exact)
    s, t = logistic(d), logistic(-d)
    h = s * t
    return {"a": [s, h, h * (t - s)], "b": [t, h, h * (s - t)], ("a", "b"): -h}


def det_exact(rows) -> Fraction:
    """det of a small matrix of Fractions, by cofactors along the first row."""
    n = len(rows)
    if n == 1:
        return rows[0][0]
    return sum((-1) ** j * rows[0][j] * det_exact([r[:j] + r[j + 1:] for r in rows[1:]]) for j in range(n))


def det_facts(at):
    """det is affine in each entry, so in exact arithmetic ∂det/∂Aᵢⱼ = det(A + Eᵢⱼ) - det(A) and
    ∂²det/∂Aᵢⱼ∂Aₖₗ = det(A+Eᵢⱼ+Eₖₗ) - det(A+Eᵢⱼ) - det(A+Eₖₗ) + det(A) ((i,j) ≠ (k,l); 0 on the diagonal)."""
    a = np.asarray(at[0])
    n = a.shape[0]
    base = [[Fraction(float(v)) for v in row] for row in a]

    def bumped(*cells):
        rows = [r[:] for r in base]
        for i, j in cells:
            rows[i][j] += 1
        return det_exact(rows)

    d0 = det_exact(base)
    cells = [(i, j) for i in range(n) for j in range(n)]
    first = {c: bumped(c) - d0 for c in cells}
    grad = np.array([float(first[c]) for c in cells]).reshape(n, n)
    hess = np.zeros((n, n, n, n))
    for c in cells:
        for e in cells:
            if c != e:
                hess[c + e] = float(bumped(c, e) - bumped(c) - bumped(e) + d0)
    return {"a": grad, ("a", "a"): hess}


def det_of_scalar_facts(at):
    """det([[a, a], [a, -a]]) = -2a²: derivatives -4a, -4, 0."""
    (a,) = at
    return {"a": [-4.0 * a, -4.0, 0.0]}


def prod_facts(at):
    """∂Π/∂xᵢ = Π_{k≠i} xₖ and ∂²Π/∂xᵢ∂xⱼ = Π_{k≠i,j} xₖ (0 for i = j): no division, exact at zeros."""
    x = [float(v) for v in np.asarray(at[0]).ravel()]
    n = len(x)

    def product(skip):
        out = 1.0
        for k in range(n):
            if k not in skip:
                out *= x[k]
        return out

    grad = np.array([product({i}) for i in range(n)])
    hess = np.array([[0.0 if i == j else product({i, j}) for j in range(n)] for i in range(n)])
    return {"a": grad, ("a", "a"): hess}


def norm_facts(at):
    """‖x‖: gradient x/‖x‖, Hessian (I - uuᵀ)/‖x‖ with u = x/‖x‖; ‖x‖ by math.hypot (no overflow)."""
    x = np.asarray(at[0], dtype=np.float64)
    r = math.hypot(*x.ravel())
    u = x.ravel() / r
    return {"a": u.reshape(x.shape), ("a", "a"): ((np.eye(x.size) - np.outer(u, u)) / r).reshape(x.shape * 2)}


def logsumexp_facts(at):
    """logsumexp: gradient p = softmax(x) (from x - max x), Hessian diag(p) - ppᵀ."""
    x = np.asarray(at[0], dtype=np.float64)
    e = np.exp(x - np.max(x))
    p = e / np.sum(e)
    return {"a": p, ("a", "a"): np.diag(p) - np.outer(p, p)}


def trace_of_eigenvalues_facts(at):
    """With equal weights, Σ eigvalsh(A) = trace(A): gradient I, Hessian 0, also at a repeated eigenvalue."""
    a = np.asarray(at[0])
    return {"a": np.eye(a.shape[0]), ("a", "a"): np.zeros(a.shape * 2)}


def zero_orders(at):
    """A locally constant function (a step between its jumps, and the jumps by convention): every order 0."""
    return {n: [0.0, 0.0, 0.0] for n in "abc"[:len(at)]}


def constant_orders(*orders):
    """The derivatives written out: [f′, f″, f‴] along the one operand."""
    return lambda at: {"a": list(orders)}


def pow_facts(at):
    """x ** p for x > 0, or x < 0 with whole p: ∂/∂x = p·x^(p-1), ∂²/∂x² = p(p-1)x^(p-2),
    ∂³/∂x³ = p(p-1)(p-2)x^(p-3); ∂/∂p = xᵖ log x, ∂²/∂p² = xᵖ log²x, ∂³/∂p³ = xᵖ log³x
    (NaN for x < 0: log x is not real); ∂²/∂x∂p = x^(p-1)(1 + p log x), which is 1/x at p = 0.
    Products with a zero factor are taken as 0 (the derivative of a polynomial term that vanishes)."""
    x, p = (float(v) for v in at)

    def term(c, e):  # c·x^e, with c = 0 giving 0 even where x^e is infinite
        return 0.0 if c == 0 else c * float(np.power(x, e))

    log_x = math.log(x) if x > 0 else NAN
    xp = float(np.power(x, p))
    return {
        "a": [term(p, p - 1), term(p * (p - 1), p - 2), term(p * (p - 1) * (p - 2), p - 3)],
        "b": [xp * log_x, xp * log_x ** 2, xp * log_x ** 3],
        ("a", "b"): NAN if x < 0 else float(np.power(x, p - 1)) * (1 + p * log_x),
    }


# ---------------------------------------------------------------------------------------------
# Special functions: digamma and its derivatives by mpmath.polygamma at 50 digits (not differences)
# ---------------------------------------------------------------------------------------------

DIGAMMA_ROOT = 1.4616321449683622  # ψ's positive zero (the minimum of Γ), rounded to float64


def polygamma(n, x):
    """ψ⁽ⁿ⁾(x) by mpmath at 50 digits, as a float; at a pole the values adcli documents: at ±0 the
    limit from that side, at -1, -2, … inf where ψ⁽ⁿ⁾ keeps one sign around the pole (odd n), NaN
    where its two sides have infinities of opposite signs (even n)."""
    if x == 0:
        return INF if math.copysign(1.0, x) < 0 or n % 2 else -INF
    if x < 0 and x == math.floor(x):
        return INF if n % 2 else NAN
    import mpmath  # a test dependency; this module is data, imported without it
    with mpmath.workdps(50):
        if x > 0:
            return float(mpmath.polygamma(n, x))
        # below 0 by the reflection: mpmath's own recurrence up from x takes |x| steps (-1e10: hours)
        cot = mpmath.cot(mpmath.pi * x) if n == 0 else mpmath.diff(mpmath.cot, mpmath.pi * x, n)
        return float((-1) ** n * mpmath.polygamma(n, 1 - mpmath.mpf(x)) - mpmath.pi ** (n + 1) * cot)


def polygamma_orders(first):
    """The derivatives of ψ⁽ᶠⁱʳˢᵗ⁻¹⁾ (log Γ for first = 0): [ψ⁽ᶠⁱʳˢᵗ⁾, ψ⁽ᶠⁱʳˢᵗ⁺¹⁾, ψ⁽ᶠⁱʳˢᵗ⁺²⁾]."""
    return lambda at: {"a": [polygamma(first + k, float(at[0])) for k in range(3)]}


GAMMA_POINTS = [1.0, 2.0, 0.5, 3.0, DIGAMMA_ROOT, 1e-8, SMALL, 10.0, 100.5, BIG, HUGE, -0.5, -1.5, -2.5, -1e-8,
                -10.3, -10000000000.5, 0.0, -0.0, -1.0, -2.0]
POLYGAMMA = "mpmath.polygamma at 50 digits; at a pole the one-sided limit at ±0, inf or NaN at -1, -2, …"


def implicit_facts(sign: float):
    """fixed_point(f, x0, a) with f(x, a) = 0.5·sin(x) + a solves x - 0.5·sin(x) = a (sign -1);
    root(g, x0, a) with g(x, a) = x + 0.5·sin(x) - a solves x + 0.5·sin(x) = a (sign +1): the
    functions of tests/op_cases.py's IMPLICIT_DEFS. By the
    implicit function theorem x′ = 1/(1 + sign·0.5·cos x) and x″ = sign·0.5·sin(x)·x′³; the starting
    point x0 has no derivative. x is found by mpmath at 50 digits."""
    def closed(at):
        import mpmath
        with mpmath.workdps(50):
            a = mpmath.mpf(float(at[1]))
            x = mpmath.findroot(lambda x: x + sign * mpmath.sin(x) / 2 - a, a)
            slope = 1 / (1 + sign * mpmath.cos(x) / 2)
            curve = sign * mpmath.sin(x) / 2 * slope ** 3
        return {"a": [0.0, 0.0], "b": [float(slope), float(curve)], ("a", "b"): 0.0}
    return closed


POWER_LOOP = "h = a\nfor t in range(64):\n    h = h * b\nout = h"  # the program's lines, not one call


def power_loop_facts(at):
    """h ← h·b, 64 times from h = a (a loop kept as a loop): a·b⁶⁴, so along a b⁶⁴, 0, 0; along b
    64ab⁶³, 4032ab⁶², 249984ab⁶¹; and ∂²/∂a∂b = 64b⁶³. Exact in float64 wherever b is a power of two."""
    a, b = (float(v) for v in at)
    return {"a": [b ** 64, 0.0, 0.0], "b": [64 * a * b ** 63, 4032 * a * b ** 62, 249984 * a * b ** 61],
            ("a", "b"): 64 * b ** 63}


HALVING_LOOP = "h = a\nwhile abs(h) > 1, max_iter=2000:\n    h = h * b\nout = h"  # its count: the values'


def halving_loop_facts(at):
    """h ← h·b while |h| > 1, from h = a: a·bⁿ with n the steps that ran (fixed near the point, so
    differentiated as a constant): along a bⁿ, 0, 0; along b nabⁿ⁻¹, n(n-1)abⁿ⁻², n(n-1)(n-2)abⁿ⁻³;
    ∂²/∂a∂b = nbⁿ⁻¹. No step runs where |a| ≤ 1: then h is a, whatever b."""
    a, b = (float(v) for v in at)
    h, n = a, 0
    while abs(h) > 1:
        h, n = h * b, n + 1
    return {"a": [b ** n, 0.0, 0.0],
            "b": [n * (a * b ** (n - 1)) if n else 0.0, n * (n - 1) * (a * b ** (n - 2)) if n > 1 else 0.0,
                  n * (n - 1) * (n - 2) * (a * b ** (n - 3)) if n > 2 else 0.0],
            ("a", "b"): n * b ** (n - 1) if n else 0.0}


def smooth_facts(at):
    """smooth(x, a) = x·a + sin(x), differentiated by its rule g·(a + cos x), g·x, and the rule's own
    derivatives: along x a + cos x, -sin x; along a x, 0; and ∂²/∂x∂a = 1."""
    x, a = (float(v) for v in at)
    return {"a": [a + math.cos(x), -math.sin(x)], "b": [x, 0.0], ("a", "b"): 1.0}


def xlogy_facts(at, one=0.0):
    """x·log(y + one) (one = 1: xlog1py): linear along x, so [log(y + one), 0, 0]; along y
    [x/(y + one), -x/(y + one)², 2x/(y + one)³], each 0 wherever x = 0 (the function is 0 all along
    x = 0, whatever y); the mixed ∂²/∂x∂y = 1/(y + one). Logs of negatives NaN, of 0 -inf."""
    x, y = (np.float64(v) for v in at)
    z = y + one if one == 0.0 or abs(y) > 0.5 else np.float64(1.0) + y  # 1 + y: exact enough beside log1p
    log = np.log1p(y) if one else np.log(y)

    def along_y(k):
        return 0.0 if x == 0 else float(x * (-1.0) ** (k - 1) * math.factorial(k - 1) / z ** k)
    return {"a": [float(log), 0.0, 0.0], "b": [along_y(1), along_y(2), along_y(3)], ("a", "b"): float(1.0 / z)}


XLOGY_FORMULA = "xlogy_facts: ∂/∂x = log y, ∂ᵏ/∂yᵏ = x·(-1)ᵏ⁻¹(k-1)!/yᵏ (0 at x = 0), ∂²/∂x∂y = 1/y"
AT_ZERO = "at x = 0: ∂/∂x = log y (PyTorch: 0) and ∂/∂y = 0 (the value is 0 all along x = 0; PyTorch: x/y)"

# ---------------------------------------------------------------------------------------------
# One operand: the points of each elementwise function (orders 1..3, mpmath where PyTorch is wrong)
# ---------------------------------------------------------------------------------------------

UNARY_POINTS = {
    "neg": [0.0, 1.0, -1.0, TINY, HUGE, -HUGE],
    "relu": [0.0, TINY, -TINY, 1.0, -1.0, SMALL, HUGE, -HUGE],
    "abs": [0.0, TINY, -TINY, 1.0, -1.0, SMALL, HUGE, -HUGE],
    "exp": [0.0, 1.0, -1.0, TINY, 709.0, 709.782712893384, 710.0, -745.0, HUGE, -HUGE],
    "log": [0.0, TINY, SMALL, 1.0, UP1, DOWN1, 0.5, HUGE, -1.0],
    "sqrt": [0.0, TINY, SMALL, 1.0, 4.0, HUGE, -1.0],
    "sin": [0.0, TINY, SMALL, 1.0, -1.0, HALF_PI, math.pi, BIG, HUGE],
    "cos": [0.0, TINY, SMALL, 1.0, -1.0, HALF_PI, math.pi, BIG, HUGE],
    "tan": [0.0, TINY, 1.0, -1.0, HALF_PI, float(np.nextafter(HALF_PI, 0.0)), BIG],
    "tanh": [0.0, TINY, 1.0, -1.0, 20.0, -20.0, 40.0, 400.0, -400.0, HUGE, -HUGE],
    "sigmoid": [0.0, TINY, 1.0, -1.0, 40.0, -40.0, 800.0, -800.0, HUGE, -HUGE],
    "log1p": [-1.0, UP_M1, 0.0, TINY, SMALL, -SMALL, 1.0, HUGE, -2.0],
    "expm1": [0.0, TINY, SMALL, -SMALL, 1.0, 709.0, 710.0, -800.0],
    "log2": [0.0, TINY, 1.0, 2.0, HUGE, -1.0],
    "log10": [0.0, TINY, 1.0, 10.0, HUGE, -1.0],
    "exp2": [0.0, 1.0, -1.0, 1023.0, 1023.5, -1074.0, -1075.0],
    "square": [0.0, TINY, SMALL, 1.0, -1.0, BIG, -BIG, HUGE],
    "cbrt": [0.0, TINY, -TINY, SMALL, 1.0, -1.0, 8.0, -8.0, HUGE],
    "reciprocal": [0.0, TINY, SMALL, 1.0, -1.0, HUGE, -HUGE],
    "sinh": [0.0, TINY, 1.0, -1.0, 710.0, -710.0, HUGE],
    "cosh": [0.0, TINY, 1.0, -1.0, 710.0, -710.0, HUGE],
    "asinh": [0.0, TINY, 1.0, -1.0, BIG, HUGE, -HUGE],
    "acosh": [1.0, UP1, 2.0, BIG, HUGE, 0.5],
    "atanh": [0.0, TINY, 1.0, -1.0, DOWN1, 0.5, 2.0],
    "asin": [0.0, TINY, 1.0, -1.0, DOWN1, 0.5, 2.0],
    "acos": [0.0, TINY, 1.0, -1.0, DOWN1, 0.5, 2.0],
    "atan": [0.0, TINY, 1.0, -1.0, BIG, HUGE, -HUGE],
    "erf": [0.0, TINY, 1.0, -1.0, 6.0, -6.0, 26.0, -26.0, HUGE],
    "erfc": [0.0, TINY, 1.0, -1.0, 6.0, -6.0, 26.0, -26.0, HUGE],
    "softplus": [0.0, TINY, 1.0, -1.0, 20.0, 30.0, -30.0, 40.0, 800.0, -800.0, HUGE, -HUGE],
    "gelu": [0.0, TINY, 1.0, -1.0, 6.0, -6.0, 40.0, -40.0, HUGE, -HUGE],
    "silu": [0.0, TINY, 1.0, -1.0, 40.0, -40.0, 800.0, -800.0, HUGE, -HUGE],
    "elu": [0.0, TINY, -TINY, 1.0, -1.0, -800.0, HUGE, -HUGE],
    "leaky_relu": [0.0, TINY, -TINY, 1.0, -1.0, HUGE, -HUGE],
    "sign": [0.0, TINY, -TINY, 1.0, HUGE],
    "floor": [0.0, 1.0, -1.0, 0.5, DOWN1, HUGE],
    "ceil": [0.0, 1.0, -1.0, 0.5, DOWN1, HUGE],
    "round": [0.0, 0.5, 1.5, 2.5, -0.5, float(np.nextafter(0.5, 0.0)), HUGE],
    "log_sigmoid": [0.0, TINY, 1.0, -1.0, 40.0, -40.0, 800.0, -800.0, HUGE, -HUGE],
    "sinc": [0.0, TINY, SMALL, 1e-8, 0.1, 0.25, 0.5, -0.5, 1.0, 1.5, 2.5, -3.0, 100.25],
}

UNARY_PARAM_POINTS = [("elu", {"alpha": 0.5}, [0.0, -1.0, 1.0]), ("leaky_relu", {"slope": 0.2}, [0.0, -1.0, 1.0])]

CANCELS = "PyTorch forms 1 - tanh², σ(1 - σ) or a thresholded softplus, which round to 0 here"
OVERFLOWS = "PyTorch's (x² ± 1)^(-1/2) and exp(-x²/2)·x² overflow here"
POWER = "PyTorch's stand-in sign(x)·|x|^(1/3) loses digits here"
LEFT = "at 0 the function is taken on its left branch (docs: the slope on the left)"
# Where no derivative exists and the docs name no convention, adcli's rule is PyTorch's
# (docs/conventions.md): elu″(0) is 0 there (its right branch), after elu′(0) = alpha (its left).

# (op, point) -> (truth, closed form or None, formula, why): where PyTorch is not the truth.
UNARY_TRUTH = {
    **{("tanh", x): ("mpmath", None, "", CANCELS) for x in (20.0, -20.0, 40.0)},
    ("sigmoid", 40.0): ("mpmath", None, "", CANCELS),
    ("softplus", 20.0): ("mpmath", None, "", CANCELS),
    ("softplus", 30.0): ("mpmath", None, "", CANCELS),
    ("softplus", 40.0): ("mpmath", None, "", CANCELS),
    ("asinh", HUGE): ("mpmath", None, "", OVERFLOWS),
    ("asinh", -HUGE): ("mpmath", None, "", OVERFLOWS),
    ("acosh", HUGE): ("mpmath", None, "", OVERFLOWS),
    ("gelu", HUGE): ("mpmath", None, "", OVERFLOWS),
    ("gelu", -HUGE): ("mpmath", None, "", OVERFLOWS),
    **{("cbrt", x): ("mpmath", None, "", POWER) for x in (TINY, -TINY, SMALL)},
    ("asinh", BIG): ("mpmath", None, "", CANCELS),
    ("acosh", BIG): ("mpmath", None, "", CANCELS),
    ("gelu", -6.0): ("mpmath", None, "", "PyTorch loses digits of Φ(x) in the tail"),
    ("silu", 40.0): ("mpmath", None, "", CANCELS),
    ("cbrt", 0.0): ("closed", constant_orders(INF, NAN, INF),
                    "cbrt′ = ⅓x^(-2/3) → +inf from both sides; cbrt″ = -2/9·x^(-5/3) → ∓inf (no limit: NaN); "
                    "cbrt‴ = 10/27·x^(-8/3) → +inf", "PyTorch has no cube root (its stand-in gives NaN)"),
    ("acosh", 1.0): ("closed", constant_orders(INF, -INF, INF),
                     "acosh′ = (x²-1)^(-1/2) → inf, acosh″ = -x(x²-1)^(-3/2) → -inf, "
                     "acosh‴ = (2x²+1)(x²-1)^(-5/2) → inf as x → 1⁺", "PyTorch's third derivative is NaN"),
    ("sqrt", 0.0): ("convention", constant_orders(INF, -INF, INF),
                    "sqrt′(0) = inf (convention); sqrt″ = -¼x^(-3/2) → -inf, sqrt‴ = ⅜x^(-5/2) → inf as x → 0⁺", ""),
    ("relu", 0.0): ("convention", constant_orders(0.0, 0.0, 0.0), "relu′(0) = 0 (convention): the left branch", ""),
    ("abs", 0.0): ("convention", constant_orders(0.0, 0.0, 0.0), "abs′(0) = sign(0) = 0 (convention), "
                   "abs″ = abs‴ = 0 (derivatives of the sign)", ""),
    ("leaky_relu", 0.0): ("convention", constant_orders(0.01, 0.0, 0.0),
                          "leaky_relu = slope·x at 0: [slope, 0, 0]", LEFT),
    **{("sinc", x): ("mpmath", None, "", "PyTorch's sinc′ cancels near 0, and its higher orders there are NaN")
       for x in UNARY_POINTS["sinc"] if x != 0.0},
    ("sinc", 0.0): ("closed", constant_orders(0.0, -np.pi ** 2 / 3, 0.0),
                    "sinc(x) = 1 - (πx)²/6 + … is even: sinc′(0) = sinc‴(0) = 0, sinc″(0) = -π²/3",
                    "PyTorch's sinc′ cancels near 0, and its higher orders there are NaN"),
    **{("log_sigmoid", x): ("mpmath", None, "", CANCELS) for x in (40.0, 800.0)},
}
UNARY_PARAM_TRUTH = {
    ("leaky_relu", 0.0): ("convention", constant_orders(0.2, 0.0, 0.0), "leaky_relu = slope·x at 0: [slope, 0, 0]", LEFT),
}

STEPS = ("sign", "floor", "ceil", "round")


def unary_facts() -> list[Fact]:
    """Every point of UNARY_POINTS, with its truth."""
    rows = []
    for op, points in UNARY_POINTS.items():
        for x in points:
            truth, closed, formula, why = UNARY_TRUTH.get((op, x), ("torch", None, "", ""))
            if op in STEPS:
                truth, closed = "convention", zero_orders
                formula = f"{op} is constant between its jumps; at a jump its derivative is taken as 0"
            rows.append(Fact(op, (x,), truth=truth, closed=closed, formula=formula, why=why))
    for op, params, points in UNARY_PARAM_POINTS:
        for x in points:
            truth, closed, formula, why = UNARY_PARAM_TRUTH.get((op, x), ("torch", None, "", ""))
            rows.append(Fact(op, (x,), params, truth=truth, closed=closed, formula=formula, why=why))
    return rows


def special_facts() -> list[Fact]:
    """log Γ and ψ⁽ⁿ⁾ at positive, tiny, huge and negative non-integer points, at ψ's zero, and at poles."""
    rows = [Fact("gammaln", (x,), truth="closed", closed=polygamma_orders(0), formula=POLYGAMMA)
            for x in GAMMA_POINTS]
    rows += [Fact("digamma", (x,), truth="closed", closed=polygamma_orders(1), formula=POLYGAMMA)
             for x in GAMMA_POINTS]
    rows += [Fact("digamma", (x,), {"n": n}, truth="closed", closed=polygamma_orders(n + 1), formula=POLYGAMMA)
             for n, points in ((1, [1.0, 0.5, 3.5, 1e-8, HUGE, -0.5, -2.5, 0.0, -0.0, -1.0]),
                               (2, [2.0, 0.25, -1.5, 20.0, 0.0, -0.0, -3.0]), (5, [1.0, -0.5, 7.0]))
             for x in points]
    return rows


def facts() -> list[Fact]:
    """The whole table."""
    return unary_facts() + special_facts() + NARY_FACTS + ARRAY_FACTS


# ---------------------------------------------------------------------------------------------
# Several scalar operands: orders 1..3 along each, and the full Hessian with its mixed partials
# ---------------------------------------------------------------------------------------------

def tie_facts(at):
    """A tie in max(a, b) or min(a, b): the gradient split ½/½ (convention); each branch is linear,
    so every higher derivative is 0."""
    return {"a": [0.5, 0.0, 0.0], "b": [0.5, 0.0, 0.0], ("a", "b"): 0.0}


def pow_at_zero(at):
    """0 ** p for p > 0 is 0 near p, so every derivative along p is 0 (at p = 0, ∂/∂p = 0 is the
    convention, and x**p is 0 for p > 0); along x: ∂ᵏ/∂xᵏ = p(p-1)…(p-k+1)·x^(p-k) at x → 0⁺ (0 where
    the factor is 0); the mixed partial exists only for p > 1, where it is 0, and is NaN for p ≤ 1."""
    _, p = at
    out = []
    factor = 1.0
    for k in (1, 2, 3):
        factor *= p - (k - 1)
        e = p - k
        out.append(0.0 if factor == 0 else factor * (0.0 if e > 0 else 1.0 if e == 0 else INF))
    mixed = None if p == 0 else 0.0 if p > 1 else NAN
    return {"a": out, "b": [0.0, 0.0, 0.0], ("a", "b"): mixed}


def all_nan(at):
    """No derivative exists (the function is not real in any neighbourhood): NaN everywhere."""
    names = "abc"[:len(at)]
    found = {n: [NAN, NAN, NAN] for n in names}
    found.update({(n, m): NAN for n in names for m in names if n < m})
    return found


POW_FORMULA = "pow_facts: p·x^(p-1), p(p-1)x^(p-2), …; xᵖ logᵏx; ∂²/∂x∂p = x^(p-1)(1 + p log x) (1/x at p = 0)"
NARY_FACTS = (
    [Fact(op, at) for op in ("add", "sub", "mul")
     for at in [(0.0, 0.0), (1.0, -1.0), (TINY, HUGE), (HUGE, HUGE), (-HUGE, SMALL), (SMALL, SMALL)]]
    + [Fact("div", at) for at in [(1.0, 0.0), (0.0, 1.0), (0.0, 0.0), (1.0, TINY), (HUGE, SMALL), (SMALL, HUGE),
                                  (1.0, 3.0), (-2.0, HUGE), (TINY, TINY)]]
    + [Fact("pow", (x, p), truth="closed", closed=pow_facts, formula=POW_FORMULA)
       for x in (2.0, 0.5, SMALL, HUGE) for p in (0.0, 1.0, 2.0, 3.0, 0.5, 2.5, -1.0)]
    + [Fact("pow", (x, p), truth="closed", closed=pow_facts, formula=POW_FORMULA,
            why="a negative base with a whole exponent: ∂/∂p has no real value (NaN)")
       for x in (-2.0, -0.5) for p in (0.0, 1.0, 2.0, 3.0, -1.0)]
    + [Fact("pow", (-2.0, p), truth="closed", closed=all_nan, formula="(-2)^p is not real for p near a fraction")
       for p in (0.5, 2.5)]
    + [Fact("pow", (0.0, p), truth="closed", closed=pow_at_zero, formula="pow_at_zero")
       for p in (0.0, 1.0, 2.0, 3.0, 0.5, 2.5)]
    + [Fact(op, at, truth="convention", closed=tie_facts, formula="a tie splits the gradient ½/½")
       for op in ("maximum", "minimum") for at in [(1.0, 1.0), (0.0, 0.0), (-0.0, 0.0), (HUGE, HUGE), (-MAXF, -MAXF)]]
    + [Fact(op, at) for op in ("maximum", "minimum") for at in [(1.0, UP1), (DOWN1, 1.0), (TINY, 0.0), (-TINY, 0.0)]]
    + [Fact("atan2", at) for at in [(1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (TINY, 1.0), (1.0, TINY), (1.0, -1.0)]]
    + [Fact("atan2", (0.0, 0.0), why="the origin: ∂ taken as 0 (convention, as PyTorch); no higher derivative "
            "exists there (PyTorch: NaN)")]
    + [Fact("atan2", at, truth="mpmath", why="PyTorch's y² + x² underflows to 0 or overflows here")
       for at in [(SMALL, SMALL), (TINY, TINY), (HUGE, HUGE)]]
    + [Fact("hypot", at) for at in [(3.0, 4.0), (0.0, 1.0), (1.0, 0.0), (HUGE, 1.0), (1.0, -1.0)]]
    + [Fact("hypot", (0.0, 0.0), truth="closed", closed=all_nan,
            formula="hypot is a cone at the origin: no derivative (0/0)")]
    + [Fact("hypot", at, truth="mpmath", why="PyTorch's x/hypot and its square overflow or underflow here")
       for at in [(HUGE, HUGE), (SMALL, SMALL), (TINY, TINY)]]
    + [Fact("logaddexp", at, truth="closed", closed=logaddexp_facts, formula="σ(a - b) and its derivatives")
       for at in [(MAXF, MAXF), (0.0, 0.0), (HUGE, -HUGE), (-HUGE, -HUGE), (1000.0, 1000.0), (-1000.0, -1000.0),
                  (1.0, 2.0), (800.0, -800.0), (MAXF, -MAXF), (-745.0, -745.0)]]
    + [Fact(op, at, truth="convention", closed=tie_facts, formula="a tie splits the gradient ½/½",
            source=f"{op}(a, b)", why="numpy's name for max(a, b) and min(a, b)")
       for op in ("maximum", "minimum") for at in [(3.0, 3.0), (-HUGE, -HUGE)]]
    + [Fact(op, (2.0, -1.0), source=f"{op}(a, b)") for op in ("maximum", "minimum")]
    + [Fact("xlogy", at, truth="closed", closed=xlogy_facts, formula=XLOGY_FORMULA)
       for at in [(2.0, 3.0), (-1.5, 0.5), (2.0, 0.0), (-2.0, 0.0), (1.0, -1.0), (TINY, 1.0), (HUGE, SMALL),
                  (1.0, HUGE), (SMALL, SMALL)]]
    + [Fact("xlogy", at, truth="convention", closed=xlogy_facts, formula=XLOGY_FORMULA, why=AT_ZERO)
       for at in [(0.0, 2.0), (0.0, 0.0), (0.0, -1.0), (-0.0, SMALL), (0.0, HUGE)]]
    + [Fact("xlog1py", at, truth="closed", closed=lambda at: xlogy_facts(at, 1.0), formula=XLOGY_FORMULA)
       for at in [(2.0, 3.0), (-1.5, -0.5), (2.0, -1.0), (1.0, SMALL), (1.0, -SMALL), (HUGE, 1.0), (1.0, HUGE)]]
    + [Fact("xlog1py", at, truth="convention", closed=lambda at: xlogy_facts(at, 1.0), formula=XLOGY_FORMULA,
            why=AT_ZERO.replace("log y", "log(1 + y)").replace("x/y", "x/(1 + y)"))
       for at in [(0.0, 2.0), (0.0, -1.0), (0.0, -2.0), (0.0, TINY)]]
    + [Fact("where", at) for at in [(1.0, 2.0, 3.0), (-1.0, 2.0, 3.0), (0.0, 2.0, 3.0), (1.0, HUGE, -HUGE)]]
    + [Fact("clip", at, why="at a bound the gradient goes to x (convention, as PyTorch's clamp)")
       for at in [(-1.0, -1.0, 1.0), (1.0, -1.0, 1.0), (2.0, 2.0, 2.0), (-3.0, -1.0, 1.0), (3.0, -1.0, 1.0),
                  (0.0, -1.0, 1.0), (HUGE, -1.0, 1.0), (float(np.nextafter(1.0, 2.0)), -1.0, 1.0)]]
)

# ---------------------------------------------------------------------------------------------
# Arrays: the gradient and the full Hessian of sum(out * W)
# ---------------------------------------------------------------------------------------------

V = ((0.0, 1.0, -1.0), (HUGE, TINY, -SMALL))  # zeros, ones, huge and tiny in one 2×3 array
M = ((0.0, 1.0, -1.0), (HUGE, TINY, -SMALL), (2.0, 0.0, 3.0))
ROW = (0.0, HUGE, TINY)
ALMOST_SINGULAR = ((1.0, 1.0), (1.0, 1.0 + 2.0 ** -40))  # det = 2^-40, condition number about 4e12
NEAR = "condition number about 4e12: float64 keeps about 4 digits of the derivatives"
SINGULAR = ((1.0, 2.0), (2.0, 4.0))
NO_INVERSE = "a singular matrix has no inverse: no derivative exists (NaN everywhere)"


def nan_block(at):
    """No derivative exists: NaN for the gradient and every Hessian block (of float operands)."""
    names = [n for n, x in zip("abcd", at) if np.asarray(x).dtype.kind == "f"]
    found = {n: np.full(np.shape(x), NAN) for n, x in zip("abcd", at) if n in names}
    found.update({(n, m): np.full(np.shape(found[n]) + np.shape(found[m]), NAN) for n in names for m in names})
    return found


def unread_upper(at):
    """solve_triangular with a singular lower triangle: NaN, except 0 wherever the strictly upper
    triangle of A (never read) is differentiated."""
    found = nan_block(at)
    upper = np.triu(np.ones(np.shape(at[0])), 1) == 1
    found["a"][upper] = 0.0
    found[("a", "a")][upper] = 0.0
    found[("a", "a")][:, :, upper] = 0.0
    found[("a", "b")][upper] = 0.0
    found[("b", "a")][:, upper] = 0.0
    return found


def std_facts(at):
    """std of n values, σ = √(mean (x - m)²) taken without overflow: gradient (x - m)/(nσ), Hessian
    (I - 11ᵀ/n)/(nσ) - (x - m)(x - m)ᵀ/(n²σ³)."""
    x = np.asarray(at[0], dtype=np.float64)
    n = x.size
    mean = sum(Fraction(float(v)) for v in x) / n  # exact: x may overflow when summed in floats
    d = np.array([float(Fraction(float(v)) - mean) for v in x])
    s = float(np.max(np.abs(d)))
    sigma = s * math.sqrt(float(np.mean((d / s) ** 2)))
    u = d / (n * sigma)
    hess = (np.eye(n) - 1.0 / n) / (n * sigma) - np.outer(u, u) / sigma
    return {"a": u, ("a", "a"): hess}


def std_flat(at):
    """Equal values: std′ taken as 0 (convention, as PyTorch), and its Hessian 0 as PyTorch's (no
    Hessian exists there, so conventions.md's rule is PyTorch's value)."""
    x = np.asarray(at[0], dtype=np.float64)
    return {"a": np.zeros(x.shape), ("a", "a"): np.zeros(x.shape * 2)}


def norm_at_zero(at):
    """norm′(0) taken as 0 (convention); no Hessian exists at the cone's tip (NaN, as PyTorch)."""
    x = np.asarray(at[0], dtype=np.float64)
    return {"a": np.zeros(x.shape), ("a", "a"): np.full(x.shape * 2, NAN)}


def linear(op, *points, **params):
    return [Fact(op, at, params) for at in points]


ARRAY_FACTS = (
    linear("transpose", (V,)) + linear("reshape", (V,), shape=(3, 2)) + linear("expand_dims", (V,), axis=0)
    + linear("squeeze", ((ROW,),)) + linear("flip", (V,), axis=None) + linear("broadcast_to", (ROW,), shape=(2, 3))
    + linear("roll", (V,), shift=1, axis=None) + linear("roll", (V,), shift=-4, axis=1)
    + linear("roll", (V,), shift=7, axis=-2)
    + linear("diag", (M,), k=0) + linear("diag", (ROW,), k=0) + linear("trace", (M,)) + linear("tril", (M,), k=0)
    + linear("triu", (M,), k=0) + linear("getitem", (V,), index=(slice(None), 1))
    # x.at[index].set(v): the overwritten part of x gets no gradient, v the part's (summed where broadcast)
    + linear("setitem", (V, (HUGE, 0.0, -TINY)), index=(1,))
    + linear("setitem", (V, ((TINY, -HUGE), (0.0, SMALL))), index=(slice(None), slice(1, None)))
    + linear("setitem", (ROW, (-HUGE, TINY)), index=(slice(None, None, -2),))
    + linear("setitem", (M, ((0.0, HUGE), (SMALL, -1.0))), index=(slice(None, 0, -1), slice(2, 0, -1)))
    + linear("setitem", (V, HUGE), index=(slice(None), 1)) + linear("setitem", (V, (TINY, 0.0, -HUGE)), index=(0,))
    + linear("setitem", (M, ((0.0, -SMALL, HUGE),)), index=(slice(1, None),))
    + linear("setitem", (V, ((HUGE,), (TINY,))), index=(Ellipsis, slice(None, None, -2)))
    + linear("setitem", (ROW, (SMALL,)), index=(-1, None))
    + linear("gather", ((0.0, HUGE, TINY, -1.0), (1, 1, 3)), layout=(("array", 1),))
    + linear("sum", (V,)) + linear("mean", (V,)) + linear("mean", (V,), axis=1) + linear("cumsum", (V,), axis=1)
    + linear("diff", (V,), n=1, axis=-1) + linear("diff", (V,), n=1, axis=0) + linear("diff", (M,), n=2, axis=1)
    + [Fact("kron", at) for at in [(ROW, (1.0, -2.0)), (((1.0, 2.0), (0.0, -1.0)), ((TINY, HUGE),)), ((2.0,), V)]]
    + [Fact("cumprod", at, {"axis": None}) for at in [((0.0, 2.0, 3.0),), ((2.0, 0.0, 0.0),), ((1.0, -2.0, 0.5),)]]
    + [Fact("cumprod", (M,), {"axis": 0})]
    + [Fact("logcumsumexp", at, {"axis": None}) for at in [((1.0, 2.0, 3.0),), ((1000.0, 1000.0, -1000.0),),
                                                           ((0.0, TINY),), ((-1.0, 1.0, -1.0),)]]
    + [Fact("sort", at, {"axis": -1}) for at in [((3.0, 1.0, 2.0),), ((HUGE, -HUGE, 0.0, TINY),), (V,)]]
    + [Fact("sort", (V,), {"axis": None})]
    + linear("stack", (ROW, (1.0, -1.0, SMALL))) + linear("concat", (ROW, (1.0, -1.0)), axis=0)
    + linear("matmul", (((0.0, 1.0), (HUGE, TINY)), ((1.0, -1.0), (SMALL, 0.0))))
    + linear("dot", (ROW, (1.0, SMALL, HUGE))) + linear("outer", (ROW, (1.0, -1.0)))
    + linear("einsum", (((0.0, 1.0), (HUGE, TINY)), (1.0, SMALL)), spec="ij,j->i")
    + [Fact(op, at, why="ties split evenly among the tied elements (convention, as PyTorch's amax)")
       for op in ("amax", "amin") for at in [((1.0, 1.0, 0.0),), ((HUGE, HUGE, HUGE),), ((0.0, 0.0),),
                                             ((-1.0, -1.0, 0.0),), ((1.0, UP1, DOWN1),)]]
    + [Fact(op, (((1.0, 1.0, 0.0), (2.0, -1.0, 2.0)),), {"axis": 1}, why="ties along an axis split evenly")
       for op in ("amax", "amin")]
    + [Fact("prod", at, truth="closed", closed=prod_facts, formula="Π of the others (no division)")
       for at in [((0.0, 2.0, 3.0),), ((0.0, 0.0, 3.0),), ((0.0, 0.0, 0.0),), ((TINY, 2.0, 3.0),), ((HUGE, HUGE, SMALL),)]]
    + linear("var", ((1.0, 1.0, 1.0),), ((HUGE, -HUGE),), ((0.0, TINY),), ((1.0, 2.0, 3.0),))
    + linear("var", ((1.0, 2.0, 4.0),), ddof=1)
    + [Fact("std", at, truth="closed", closed=std_facts, formula="std_facts: (x - m)/(nσ) and its Jacobian")
       for at in [((3.0, 4.0),), ((HUGE, -HUGE),), ((0.0, SMALL, 2 * SMALL),), ((1.0, 2.0, 4.0),)]]
    + [Fact("std", ((1.0, 1.0, 1.0),), truth="convention", closed=std_flat, formula="std_flat")]
    + [Fact("norm", at, truth="closed", closed=norm_facts, formula="x/‖x‖ and (I - uuᵀ)/‖x‖")
       for at in [((3.0, 4.0),), ((HUGE, HUGE),), ((SMALL, SMALL),), ((TINY, 0.0),), ((MAXF, MAXF, MAXF),)]]
    + [Fact("norm", ((0.0, 0.0),), truth="convention", closed=norm_at_zero, formula="norm_at_zero")]
    + [Fact(op, at) for op in ("softmax", "log_softmax")
       for at in [((1.0, 1.0, 1.0),), ((HUGE, HUGE),), ((1000.0, 1000.0, -1000.0),), ((-HUGE, 0.0, HUGE),), ((0.0, TINY),),
                  ((MAXF, MAXF),)]]
    + [Fact("logsumexp", at, truth="closed", closed=logsumexp_facts, formula="softmax p; diag(p) - ppᵀ")
       for at in [((MAXF, MAXF),), ((1.0, 1.0, 1.0),), ((1000.0, 1000.0, -1000.0),), ((-HUGE, 0.0),), ((0.0, TINY),),
                  ((HUGE, HUGE, -HUGE),)]]
    + [Fact("det", (a,), truth="closed", closed=det_facts, formula="det_facts: exact differences of an affine function")
       for a in [SINGULAR, ((0.0, 0.0), (0.0, 0.0)), ((1.0,) * 3,) * 3, ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0), (7.0, 8.0, 9.0)),
                 ALMOST_SINGULAR, ((SMALL, 0.0, 0.0), (0.0, SMALL, 0.0), (0.0, 0.0, 1.0)),
                 ((BIG, 0.0, 0.0), (0.0, BIG, 0.0), (0.0, 0.0, 1.0)), ((2.0, 1.0), (1.0, 1.0))]]
    + [Fact("det", (a,), truth="closed", closed=det_of_scalar_facts, source="det([[a, a], [a, -a]])",
            formula="-2a²: -4a, -4, 0") for a in (0.0, SMALL, TINY, 1.0)]
    + linear("inv", (((2.0, 1.0), (1.0, 1.0)),), (((1.0, 0.0), (0.0, 1.0)),), (((HUGE, 0.0), (0.0, 1.0)),))
    + [Fact("inv", (ALMOST_SINGULAR,), rtol=1e-3, why=NEAR)]
    + [Fact("inv", (SINGULAR,), truth="closed", closed=nan_block, formula=NO_INVERSE)]
    + linear("solve", (((2.0, 1.0), (1.0, 1.0)), (1.0, -1.0)), (((SMALL, 0.0), (0.0, 1.0)), (SMALL, 2.0)))
    + [Fact("solve", (ALMOST_SINGULAR, (1.0, 2.0)), rtol=1e-3, why=NEAR)]
    + [Fact("solve", (SINGULAR, (1.0, 2.0)), truth="closed", closed=nan_block, formula=NO_INVERSE)]
    + linear("logdet", (((2.0, 1.0), (1.0, 1.0)),), (((0.0, 1.0), (1.0, 0.0)),), (((HUGE, 0.0), (0.0, SMALL)),))
    + [Fact("logdet", (ALMOST_SINGULAR,), rtol=1e-3, why=NEAR)]
    + [Fact("logdet", (SINGULAR,), truth="closed", closed=nan_block,
            formula="log|det| is -inf at a singular matrix: no derivative (NaN)")]
    + linear("cholesky", (((4.0, 2.0), (2.0, 3.0)),), (((1.0, 0.0), (0.0, 1.0)),), (((HUGE, 0.0), (0.0, SMALL)),))
    + [Fact("cholesky", (ALMOST_SINGULAR,), rtol=1e-3, why=NEAR)]
    + linear("eigvalsh", (((2.0, 1.0), (1.0, 2.0)),), (((HUGE, 0.0), (0.0, SMALL)),), (ALMOST_SINGULAR,))
    + [Fact("eigvalsh", (a,), truth="closed", closed=trace_of_eigenvalues_facts, source="sum(eigvalsh(a))",
            formula="Σλ = trace: gradient I, Hessian 0") for a in [((1.0, 0.0), (0.0, 1.0)), ((HUGE, 0.0), (0.0, HUGE))]]
    + linear("solve_triangular", (((1.0, 0.0), (1.0, 1.0)), (1.0, 2.0)), (((1.0, 0.0), (2.0, SMALL)), (1.0, 0.0)))
    + [Fact(op, (x0, a), truth="closed", closed=implicit_facts(sign),
            formula="the implicit function theorem at mpmath's solution: x′ = 1/(1 ± cos(x)/2), x″ = ±sin(x)x′³/2")
       for op, sign in (("fixed_point", -1.0), ("root", 1.0))
       for x0, a in [(0.0, 0.0), (0.0, 1.0), (3.0, -2.5), (0.0, 1e-300), (1.0, TINY), (0.0, 100.0), (-1.0, -1e-8)]]
    + [Fact("loop", at, truth="closed", closed=power_loop_facts, source=POWER_LOOP,
            formula="a·b⁶⁴ by a loop of 64 steps h ← h·b, kept as a loop")
       for at in [(1.0, 0.0), (0.0, 1.0), (3.0, -1.0), (1.0, 0.5), (HUGE, 0.5), (TINY, 2.0), (-2.0, -0.5)]]
    + [Fact("while", at, truth="closed", closed=halving_loop_facts, source=HALVING_LOOP,
            formula="a·bⁿ by a while loop h ← h·b while |h| > 1, n the steps that ran")
       for at in [(3.0, 0.5), (0.5, 0.5), (-5.0, -0.5), (HUGE, 0.5), (1.0, 2.0), (-1.5, 0.25), (1e300, 0.125)]]
    + [Fact("rule", at, truth="closed", closed=smooth_facts, formula="x·a + sin x by its rule g·(a + cos x), g·x")
       for at in [(0.0, 0.0), (1.0, 2.0), (-HALF_PI, TINY), (HUGE, -1.0), (TINY, HUGE)]]
    + [Fact("solve_triangular", (((1.0, 0.0), (1.0, 0.0)), (1.0, 2.0)), truth="closed", closed=unread_upper,
            formula=NO_INVERSE + ", but 0 for the upper triangle, which is never read")]
)
