"""Numeric kernels: the helpers the registry's rules call, written once for every engine.

Each kernel is a small function of arrays written against `np` alone, with no value-dependent
Python branches, so the same text serves adcli's numpy engine, dual numbers (numpy dispatches
their calls back to the registry), and the exported modules, which copy a kernel's source with
`np` bound to numpy, jax.numpy or a torch namespace. Edge cases get named helpers here, and
docs/conventions.md lists each one.
"""

from __future__ import annotations

import functools
import math

import numpy as np


def linear(kernel):
    """Mark a kernel linear in its first argument, so a dual number (or a Taylor series), which
    numpy cannot place into an array, is mapped part by part through its own `linear` method."""
    @functools.wraps(kernel)
    def apply(g, *args, **kwargs):
        lifted = getattr(type(g), "linear", None)
        if lifted is not None:
            return lifted(kernel, g, args, kwargs)
        return kernel(g, *args, **kwargs)
    return apply


def product_rule(kernel):
    """Mark a kernel as the chain rule's product, so a dual number (or a Taylor series) applies it
    part by part through its own `product` method: the strong zero then holds in every
    coefficient, as it does for plain numbers, and higher orders agree with first ones."""
    @functools.wraps(kernel)
    def apply(a, b):
        lifted = getattr(type(a), "product", None) or getattr(type(b), "product", None)
        if lifted is not None:
            return lifted(apply, a, b)
        return kernel(a, b)
    return apply


def operation(name, operands=1, params=()):
    """Mark a kernel as the forward of registry operation `name` (its leading `operands`, then the
    operation's `params` by position): on dual numbers and Taylor series, which cannot follow its
    branches and series, it is the operation itself, whose rules give every order of derivative."""
    def mark(kernel):
        @functools.wraps(kernel)
        def apply(*args):
            for x in args[:operands]:
                lift = getattr(type(x), "lift", None)
                if lift is not None:
                    return lift(name, args[:operands], dict(zip(params, args[operands:])))
            return kernel(*args)
        return apply
    return mark

# ---------------------------------------------------------------------------------------------
# Broadcasting and reductions
# ---------------------------------------------------------------------------------------------


def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting added or stretched, giving it `shape`."""
    if np.shape(g) == tuple(shape):
        return g
    lead = np.ndim(g) - len(shape)  # np.ndim and np.shape, not np.asarray: g may be a dual
    if lead > 0:
        g = np.sum(g, axis=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and np.shape(g)[i] != 1)
    if stretched:
        g = np.sum(g, axis=stretched, keepdims=True)
    return g


def axes_of(ndim, axis):
    """An axis argument (None, an int or a tuple) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else a for a in axis)


def expand(g, shape, axis=None, keepdims=False):
    """Broadcast a reduction's gradient g back to the reduced operand's shape."""
    if not keepdims:
        g = np.reshape(g, tuple(1 if i in axes_of(len(shape), axis) else n for i, n in enumerate(shape)))
    return np.broadcast_to(g, shape)


@product_rule
def chain(a, b):
    """a·b for the chain rule, where an exact zero factor wins: 0·∞ and 0·NaN are 0 (the element is
    not moved at all), so both modes agree whatever order they multiply in."""
    product = a * b
    if nonfinite_array(product):
        return strong_zero(a, b, product)
    return product


def strong_zero(a, b, product):
    """The product a·b with 0 wherever either factor is exactly 0 (docs/conventions.md)."""
    return np.where((a == 0) | (b == 0), 0.0, product)


def strong_vjp(share, g, shape):
    """An operand's share of ḡ. A vjp is linear in ḡ: a zero ḡ passes zero on, even where the rule
    meets an infinite value (0·∞ is 0 here)."""
    if nonfinite_array(share) and all_zero(g):
        return np.zeros(shape)
    return share


def strong_jvp(tangent, tangents, shape, terms=None):
    """A result's tangent. A jvp is linear in the tangents: zero tangents give zero (0·∞ is 0 here),
    and a bilinear rule's terms (one per operand, called only when needed) are taken apart, so the
    operand that does not move cannot poison the one that does."""
    if not nonfinite_array(tangent):
        return tangent
    moving = [k for k, t in enumerate(tangents) if not all_zero(t)]
    if not moving:
        return np.zeros(shape)
    if terms is None:
        return tangent
    total = None
    for k in moving:
        total = terms[k]() if total is None else total + terms[k]()
    return total


def relu_float(x: float) -> float:
    """np.maximum(x, 0.0) on a Python float, to the bit: 0.0 for -0.0 and -inf, a NaN kept as it is."""
    return x if x > 0.0 else 0.0 if x == x else x


def relu_slope_float(ans: float) -> float:
    """np.sign of relu's result on a Python float: 1.0 above 0, 0.0 at 0, a NaN kept."""
    return 1.0 if ans > 0.0 else 0.0 if ans == ans else ans


def nonfinite_array(x) -> bool:
    """Whether a float array (or number) holds a NaN or infinity; False for anything else (duals)."""
    return isinstance(x, (np.ndarray, np.generic, float)) and not np.all(np.isfinite(x))


def all_zero(x) -> bool:
    """Whether every element is exactly zero (a number, an array; never a dual number)."""
    return isinstance(x, (np.ndarray, np.generic, float, int)) and not np.any(x)


def masked(a, mask):
    """a·mask where the mask is non-zero, 0 where it is zero (even where a is infinite)."""
    return np.where(mask == 0, 0.0, a * mask)


def reduced_size(shape, axis=None):
    """How many elements a reduction over `axis` (None: all) combines into one."""
    return math.prod(shape[a] for a in axes_of(len(shape), axis))


def ties_mask(ans, x, axis=None, keepdims=False):
    """1/k at each of the k elements equal to the extreme value, 0 elsewhere."""
    hit = np.where(x == expand(ans, np.shape(x), axis, keepdims), 1.0, 0.0)
    return hit / expand(np.sum(hit, axis=axis, keepdims=keepdims), np.shape(x), axis, keepdims)


def ties_count(ans, x, axis=None, keepdims=False):
    """How many elements share each extreme value (more than one is a kink)."""
    return np.sum(x == expand(ans, np.shape(x), axis, keepdims), axis=axis, keepdims=keepdims)


def prod_others(x, axis=None):
    """The product of every other element along `axis` (None: all; a tuple: those axes as one),
    exact where x holds zeros (no ans/x): exclusive running products from the left and from the
    right, multiplied."""
    shape = np.shape(x)
    axes = axes_of(len(shape), axis)
    if not axes or math.prod(shape[a] for a in axes) == 0:  # nothing reduced, or nothing to reduce
        return np.ones(shape)
    ends = tuple(range(-len(axes), 0))
    moved = np.moveaxis(x, axes, ends)
    x = np.reshape(moved, np.shape(moved)[:len(shape) - len(axes)] + (-1,))
    ones = np.ones(np.shape(x)[:-1] + (1,))
    left = exclusive_products(np.concatenate([ones, x[..., :-1]], axis=-1))
    right = np.flip(exclusive_products(np.concatenate([ones, np.flip(x, -1)[..., :-1]], axis=-1)), -1)
    return np.moveaxis(np.reshape(left * right, np.shape(moved)), ends, axes)


def exclusive_products(x):
    """Running products along the last axis: numpy's cumprod on arrays; on dual numbers and Taylor
    series (which have no cumprod) a product at a time, so higher orders of prod run too."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.cumprod(x, axis=-1)
    running = [x[..., 0]]
    for k in range(1, np.shape(x)[-1]):
        running.append(running[-1] * x[..., k])
    return np.stack(running, axis=-1)


def centered(x, axis=None):
    """x minus its mean along `axis`, in x's shape."""
    return x - np.mean(x, axis=axis, keepdims=True)


def var_slope(x, axis=None, ddof=0):
    """∂var/∂x = 2(x - mean)/(N - ddof); with ddof ≥ N, inf or negative as numpy's var itself."""
    return centered(x, axis) * (2.0 / np.asarray(reduced_size(np.shape(x), axis) - ddof, dtype=np.float64))


def plain_value(x):
    """The number or array under any dual-number or Taylor-series layers."""
    while not isinstance(x, (np.ndarray, np.generic, float, int)):
        x = x.value
    return x


def norm(x, axis=None, keepdims=False):
    """√Σx² along `axis` without overflow or underflow: x is scaled by the power of two nearest its
    largest magnitude, as hypot does. Scaling by a power of two is exact, so within float64's
    normal range the result has the bits of √Σx² itself; the scale is a constant (the norm does not
    depend on it), so dual numbers pass through unchanged."""
    big = np.max(np.abs(plain_value(x)), axis=axis, keepdims=True, initial=0.0)
    # 2**(e-1) with big = m·2**e, ½ ≤ m < 1 (2**e itself overflows for big near 1.8e308): the
    # scaled elements lie in [-2, 2]; e is 0 for 0, inf and NaN, which need no scaling
    scale = np.ldexp(1.0, np.frexp(big)[1] - 1)
    y = x / scale
    out = np.sqrt(np.sum(y * y, axis=axis, keepdims=True)) * scale
    return out if keepdims else np.sum(out, axis=axis)  # a sum over axes of length 1 drops them


def norm_direction(x, ans, axis=None, keepdims=False):
    """x/‖x‖ in x's shape, 0 where the norm is 0: divided before any product, so neither ḡ·x nor
    the second derivative's 1/‖x‖² leaves float64's range for huge or tiny x."""
    r = expand(ans, np.shape(x), axis, keepdims)
    return np.where(r == 0, 0.0, x / np.where(r == 0, 1.0, r))


def cumsum_vjp(g, axis=None, shape=()):
    """The transpose of a running sum: running sums of g from the other end."""
    if axis is None:
        return np.reshape(np.flip(np.cumsum(np.flip(g))), shape)
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


# ---------------------------------------------------------------------------------------------
# Elementwise helpers
# ---------------------------------------------------------------------------------------------


def tie_weight(x, y):
    """∂max(x, y)/∂x: 1 where x wins, ½ on a tie (the gradient is split evenly), else 0."""
    # A NaN operand neither wins nor ties: its derivative is NaN, never a clean 0.
    return np.where(x > y, 1.0, np.where(x == y, 0.5, np.where(x < y, 0.0, np.nan)))


def pow_dbase(x, y):
    """∂(x**y)/∂x = y·x^(y-1), taken as 0 where y == 0 (x**0 is constant), as PyTorch does: a
    strong-zero product rather than a choice, so its own derivative in y (x^(y-1) at y = 0: the
    mixed partial 1/x) is kept.

    np.power, never Python's **: on a negative float base with a fractional exponent ** gives a
    complex number, where numpy (and the value itself) gives NaN.
    """
    return chain(y, np.power(x, y - 1.0))


def pow_dexp(ans, x, y):
    """∂(x**y)/∂y = x**y·log x, taken as 0 at x == 0 for y >= 0 (the limit), as PyTorch does;
    at x == 0 for y < 0 it is inf·(-inf) = -inf, as in PyTorch."""
    return np.where((x == 0) & (y >= 0), 0.0, ans * np.log(x))


def minus_abs(x):
    """-|x| as a choice between -x and x, never through abs: at 0, abs′ is a convention (0), so
    exp(-|x|) would have a derivative of 0 there; each branch here is smooth, and the derivatives of
    the even functions built on it (σ′, sech²) come out right at 0 to every order."""
    return np.where(x >= 0, -x, x)


def sigmoid(x):
    """The logistic function, without overflow for large |x|."""
    e = np.exp(minus_abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logistic_slope(x):
    """σ′(x) = e/(1+e)² with e = exp(-|x|): exact in both tails, unlike σ(1-σ) for large x."""
    e = np.exp(minus_abs(x))
    return e / ((1.0 + e) * (1.0 + e))


def sech2(x):
    """tanh′(x) = 4e/(1+e)² with e = exp(-2|x|): exact in both tails, unlike 1 - tanh²."""
    e = np.exp(2.0 * minus_abs(x))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def logaddexp_weight(x, y):
    """∂logaddexp(x, y)/∂x = σ(x - y), never exp(x - logaddexp(x, y)): at large equal arguments the
    sum's log2 rounds away and that gives 1 for each. Equal infinities weigh ½ each, not NaN."""
    d = x - y
    return sigmoid(np.where(np.isnan(d) & (x == y), 0.0, d))


def softplus(x):
    """log(1 + eˣ) without overflow for large x or loss of the tail for very negative x."""
    return np.logaddexp(0.0, x)


def silu_slope(x):
    """silu′(x) = σ(x)(1 + x(1 - σ(x))), with 1 - σ(x) = σ(-x) exact in the tail."""
    return sigmoid(x) * (1.0 + x * sigmoid(-x))


_ERF = np.frompyfunc(math.erf, 1, 1)  # the C library's erf, accurate to an ulp; numpy has none
_ERFC = np.frompyfunc(math.erfc, 1, 1)  # erfc(x) for large x, where 1 - erf(x) is 0


def erf(x):
    """The error function, elementwise."""
    return floats(_ERF(x))


def erfc(x):
    """The complementary error function 1 - erf(x), exact in the tail."""
    return floats(_ERFC(x))


def floats(y):
    """A Python-function ufunc's object result as float64 (a dual number, already lifted, as it is)."""
    if isinstance(y, (np.ndarray, float, int)):
        return np.asarray(y, dtype=np.float64)[()]
    return y


SQRT_2 = 1.4142135623730951
TWO_OVER_SQRT_PI = 1.1283791670955126
INV_SQRT_2PI = 0.3989422804014327


def gelu(x):
    """x·Φ(x) with the exact normal CDF Φ(x) = erfc(-x/√2)/2 (PyTorch's default gelu)."""
    return x * (0.5 * erfc(-x / SQRT_2))


def gelu_slope(x):
    """gelu′(x) = Φ(x) + x·φ(x)."""
    return 0.5 * erfc(-x / SQRT_2) + x * (INV_SQRT_2PI * np.exp(-0.5 * x * x))


# ---------------------------------------------------------------------------------------------
# Special functions: log Γ, digamma and its derivatives, xlogy, sinc (numpy alone, no scipy)
# ---------------------------------------------------------------------------------------------

HALF_LOG_2PI = 0.9189385332046728  # log √(2π)
LOG_PI = 1.1447298858494002
DIGAMMA_ROOT = 1.4616321449683622  # ψ's positive zero x₀ as x₀ + DIGAMMA_ROOT_LOW, to twice float64's digits
DIGAMMA_ROOT_LOW = 9.549995429965697e-17


def polynomial(coefficients, t):
    """Σ cₖ tᵏ by Horner's rule, c₀ first."""
    out = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        out = out * t + c
    return out


def log_gamma_positive(z):
    """log Γ(z) for z > 0: Stirling's series from 10 on; below it Γ's recurrence down (or up) to
    [1.5, 2.5), where the Taylor series of log Γ about 2 keeps every digit near its zeros at 1 and 2
    (the series' argument is formed exactly, never as z + 1 - 2)."""
    big = z >= 10.0
    far = np.where(big, z, 10.0)
    t = 1.0 / far
    # B₂ₖ/(2k(2k - 1)), k = 1..8: the last term left out is below 2e-18 at z = 10
    tail = t * polynomial((1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
                           -3617 / 122400), t * t)
    stirling = (far - 0.5) * np.log(far) - far + HALF_LOG_2PI + tail
    y = np.where(big, 2.0, z)
    product = 1.0
    for _ in range(8):  # log Γ(y) = log Γ(y - 1) + log(y - 1), from [9.5, 10) down to [1.5, 2.5)
        down = y >= 2.5
        product = np.where(down, product * (y - 1.0), product)
        y = np.where(down, y - 1.0, y)
    # and up from (0, 1.5): log Γ(y) = log Γ(y + 1) - log y (twice below 0.5, then log1p(y) for log(y + 1))
    low, lower = y < 1.5, y < 0.5
    e = np.where(lower, y, np.where(low, y - 1.0, y - 2.0))
    up = np.where(low, np.log(np.where(low, y, 1.0)), 0.0) + np.where(lower, np.log1p(np.where(lower, y, 0.0)), 0.0)
    # (-1)ᵏ(ζ(k) - 1)/k for k ≥ 2 after 1 - γ: log Γ(2 + e) = Σ cₖ eᵏ, |e| ≤ 0.5
    series = e * polynomial((
        0.42278433509846713, 0.3224670334241132, -0.0673523010531981, 0.020580808427784546, -0.007385551028673986,
        0.0028905103307415234, -0.001192753911703261, 0.0005096695247430425, -0.00022315475845357939,
        9.945751278180853e-05, -4.492623673813314e-05, 2.050721277567069e-05, -9.439488275268397e-06,
        4.374866789907488e-06, -2.039215753801366e-06, 9.55141213040742e-07, -4.492469198764566e-07,
        2.1207184805554665e-07, -1.0043224823968099e-07, 4.7698101693639804e-08, -2.2711094608943164e-08,
        1.0838659214896955e-08, -5.183475041970047e-09, 2.4836745438024785e-09, -1.1921401405860912e-09,
        5.731367241678862e-10, -2.7595228851242334e-10, 1.330476437424449e-10, -6.4229645638381e-11,
        3.1044247747322276e-11), e)
    return np.where(big, stirling, series + np.log(product) - up)


def log_sin_pi(r):
    """log |sin πr| - log π for |r| ≤ ½ (0 where r = 0): below 1e-9 as log |r|, since (πr)²/6 is
    then below float64's rounding and πr itself may be a denormal, which keeps few digits."""
    tiny = np.abs(r) < 1e-9
    s = np.abs(np.sin(math.pi * np.where(tiny, 0.5, r)))
    return np.where(tiny, np.log(np.where(r == 0, 1.0, np.abs(r))), np.log(s) - LOG_PI)


@operation("gammaln")
def gammaln(x):
    """log |Γ(x)|, as scipy's gammaln: inf at the poles 0, -1, -2, … and at ±inf; below 0 by the
    reflection Γ(x)Γ(1 - x) = π/sin πx, sin πx taken from x's distance to the nearest whole number
    (exact), so the poles are found exactly even for huge x."""
    positive = log_gamma_positive(np.where(x > 0, x, 1.0 - x))
    r = x - np.round(x)
    reflected = -log_sin_pi(r) - positive
    pole = np.isinf(x) | ((x <= 0) & (r == 0))
    return np.where(pole, np.inf, np.where(x > 0, positive, reflected))


def digamma_positive(z):
    """ψ(z) for z > 0: the asymptotic series from 10 on; below it ψ's recurrence to [1, 2), where
    ψ(1 + u) = (1 + u - x₀)·S(u - ½), S a Taylor series, keeps full relative precision at the zero x₀."""
    big = z >= 10.0
    far = np.where(big, z, 10.0)
    t = 1.0 / far
    w = t * t
    # B₂ₖ/(2k), k = 1..10: the first term left out is below 1e-19 at z = 10
    tail = w * polynomial((1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12, -3617 / 8160,
                           43867 / 14364, -174611 / 6600), w)
    asymptotic = np.log(far) - 0.5 * t - tail
    y = np.where(big, 1.5, z)
    total = 0.0
    for _ in range(8):  # ψ(y) = ψ(y - 1) + 1/(y - 1), from [9, 10) down to [1, 2)
        down = y >= 2.0
        total = total + np.where(down, 1.0 / np.where(down, y - 1.0, 1.0), 0.0)
        y = np.where(down, y - 1.0, y)
    low = y < 1.0  # ψ(y) = ψ(y + 1) - 1/y
    total = total - np.where(low, 1.0 / np.where(low, y, 1.0), 0.0)
    u = np.where(low, y, y - 1.0)  # exact: ψ(y) is ψ(1 + u) beside the total
    # S: the Taylor coefficients of ψ(x)/(x - x₀) about 1.5 (radius 1.5, so |u - ½| ≤ ½ needs 36)
    s = polynomial((
        0.9510558760318328, -0.42362742128146047, 0.24054248424078692, -0.1484049230539173, 0.09498872445291465,
        -0.06192213327171349, 0.040760833938329535, -0.026975796840077344, 0.017907248437506736,
        -0.011908215333609005, 0.007927018615303358, -0.005280014185795069, 0.003518157850605974,
        -0.002344701932661479, 0.0015628410937104098, -0.0010417769686899712, 0.0006944712314060526,
        -0.00046296214730758635, 0.00030863396931739794, -0.00020575299671310953, 0.0001371674719282049,
        -9.144450443342827e-05, 6.096281226237019e-05, -4.0641798577849375e-05, 2.7094501883612494e-05,
        -1.806298905619866e-05, 1.2041987824630763e-05, -8.0279899313766e-06, 5.3519925069259e-06,
        -3.567994692361215e-06, 2.3786630033404885e-06, -1.5857752856007968e-06, 1.0571835037502243e-06,
        -7.047889945067422e-07, 4.6985932647381265e-07, -3.132395497036062e-07), u - 0.5)
    core = ((u - (DIGAMMA_ROOT - 1.0)) - DIGAMMA_ROOT_LOW) * s
    return np.where(big, asymptotic, core + total)


def polygamma_positive(z, n):
    """ψ⁽ⁿ⁾(z) for z > 0 and a whole n ≥ 1: the recurrence ψ⁽ⁿ⁾(z) = ψ⁽ⁿ⁾(z + 1) + (-1)ⁿ⁺¹ n!/zⁿ⁺¹ up
    to 10 + 2n, then the asymptotic series (-1)ⁿ⁺¹(n - 1)!/zⁿ·(1 + n/(2z) + Σ B₂ₖ (2k + n - 1)!/((2k)!
    (n - 1)!) z⁻²ᵏ). The terms of the recurrence all have one sign: nothing cancels."""
    top = 10.0 + 2 * n
    y, total = z, 0.0
    for _ in range(int(top)):
        up = y < top
        total = total + np.where(up, np.where(up, y, 1.0) ** -(n + 1), 0.0)
        y = np.where(up, y + 1.0, y)
    ratios = []
    for k, b in enumerate((1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
                           -174611 / 330), start=1):
        ratio = b / math.factorial(2 * k)
        for j in range(n, 2 * k + n):
            ratio *= j
        ratios.append(ratio)
    scale = 1.0
    for j in range(1, n):  # (n - 1)! in floats: inf rather than an error for a huge n
        scale *= j
    t = 1.0 / y
    w = t * t
    value = scale * t ** n * (1.0 + 0.5 * n * t + w * polynomial(ratios, w)) + (scale * n) * total
    return value if n % 2 else -value


def cot_pi(r):
    """cot πr for |r| ≤ ½, to full relative precision: near ±½ as tan π(½ - |r|) (½ - |r| exact),
    where cos πr/sin πr would keep cos(π/2)'s rounding, 6e-17, in place of 0."""
    far = np.abs(r) > 0.25
    return np.where(far, np.sign(r) * np.tan(math.pi * (0.5 - np.abs(r))), 1.0 / np.tan(math.pi * np.where(far, 0.25, r)))


@operation("digamma", params=("n",))
def digamma(x, n=0):
    """ψ⁽ⁿ⁾(x), digamma's n-th derivative: scipy's psi for n = 0, polygamma(n, x) above. Below 0 by
    the reflection ψ(1 - x) - ψ(x) = π cot πx differentiated n times (dⁿ/duⁿ cot u a polynomial in
    cot u); at ±0 the limit from that side, at -1, -2, … inf, or NaN where the two sides of the
    pole have infinities of opposite signs (n even, digamma itself included)."""
    z = np.where(x > 0, x, 1.0 - x)
    positive = digamma_positive(z) if n == 0 else polygamma_positive(z, n)
    r = x - np.round(x)
    c = cot_pi(np.where(r == 0, 0.5, r))
    p = [0.0, 1.0]  # cot itself; Pₖ₊₁(c) = -(1 + c²)·Pₖ′(c)
    for _ in range(n):
        d = [k * a for k, a in enumerate(p)][1:] + [0.0, 0.0]
        p = [-d[k] - (d[k - 2] if k >= 2 else 0.0) for k in range(len(d))]
    reflected = (-1.0) ** n * positive - math.pi ** (n + 1) * polynomial(p, c)
    at_zero = np.where(np.signbit(x), np.inf, np.inf if n % 2 else -np.inf)
    return np.where(x > 0, positive, np.where(x == 0, at_zero, np.where(r == 0, np.inf if n % 2 else np.nan,
                                                                                 reflected)))


@operation("reciprocal")
def reciprocal(y):
    """1/y; on dual numbers the registry's reciprocal, whose rule -1/y² keeps every order of 1/y at
    0 an infinity (the quotient rule there makes 0/0 from the third order on)."""
    return 1.0 / y


@operation("xlogy", operands=2)
def xlogy(x, y):
    """x·log y, and 0 wherever x is 0, whatever y is (a NaN stays NaN), as scipy's xlogy."""
    return x * np.log(np.where((x == 0) & ~np.isnan(y), 1.0, y))


@operation("xlog1py", operands=2)
def xlog1py(x, y):
    """x·log(1 + y), and 0 wherever x is 0, whatever y is (a NaN stays NaN), as scipy's xlog1py."""
    return x * np.log1p(np.where((x == 0) & ~np.isnan(y), 0.0, y))


def sinc_slope(x):
    """sinc′(x) = (cos πx - sinc x)/x, by its Taylor series Σₖ (-1)ᵏ 2k π²ᵏ x²ᵏ⁻¹/(2k + 1)! below
    |x| = ½, where the difference cancels: exact at 0 to every order the series holds."""
    near = np.abs(x) < 0.5
    coefficients = [(-1) ** k * 2 * k * math.pi ** (2 * k) / math.factorial(2 * k + 1) for k in range(1, 13)]
    series = x * polynomial(coefficients, x * x)
    far = np.where(near, 1.0, x)
    return np.where(near, series, (np.cos(math.pi * far) - np.sinc(far)) / far)


# ---------------------------------------------------------------------------------------------
# Along an axis: softmax and its relatives
# ---------------------------------------------------------------------------------------------


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along axis, shifted by the maximum so nothing overflows."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def finite_max(x, axis=None):
    """The maximum along `axis` kept as a dimension, with infinities replaced by 0 (the shift
    that keeps logsumexp finite must itself be finite)."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


def logsumexp(x, axis=-1, keepdims=False):
    """log Σ exp(x) along axis, shifted by the maximum so nothing overflows."""
    m = finite_max(x, axis)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along axis, computed from the shifted values so nothing overflows."""
    shifted = x - finite_max(x, axis)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# ---------------------------------------------------------------------------------------------
# Running operations along an axis (cumprod, logcumsumexp), differences, sorting: the axis is
# moved last (or the array flattened), and a loop runs along it, its length a shape: fixed
# ---------------------------------------------------------------------------------------------


def along_last(x, axis=None):
    """x with `axis` moved last; without an axis, x flattened (numpy's running functions)."""
    return np.reshape(x, (-1,)) if axis is None else np.moveaxis(x, axis, -1)


def put_back(y, axis=None, shape=None):
    """A result along the last axis moved back to `axis`; without an axis, flat (or in `shape`)."""
    if axis is None:
        return y if shape is None else np.reshape(y, shape)
    return np.moveaxis(y, -1, axis)


def cumprod_vjp(g, x, axis=None):
    """The transpose of a running product, exact where x holds zeros (no division): element k's share
    is Eₖ·Sₖ, Eₖ the product of the elements before it and Sₖ = ḡₖ + xₖ₊₁·Sₖ₊₁ (ḡ summed from the
    end, each term times the elements in between)."""
    xs, gs = along_last(x, axis), along_last(g, axis)
    n = np.shape(xs)[-1]
    if n == 0:
        return np.zeros(np.shape(x))
    before = exclusive_products(np.concatenate([np.ones(np.shape(xs)[:-1] + (1,)), xs[..., :-1]], axis=-1))
    sums = [gs[..., n - 1]]
    for k in range(n - 2, -1, -1):
        sums.append(gs[..., k] + chain(xs[..., k + 1], sums[-1]))
    return put_back(chain(before, np.stack(sums[::-1], axis=-1)), axis, np.shape(x))


def cumprod_jvp(dx, x, ans, axis=None):
    """The tangent of a running product, yₖ = yₖ₋₁xₖ: dyₖ = dyₖ₋₁·xₖ + yₖ₋₁·dxₖ (no division)."""
    xs, ds, ys = along_last(x, axis), along_last(dx, axis), along_last(ans, axis)
    n = np.shape(xs)[-1]
    if n == 0:
        return np.zeros(np.shape(ans))
    out = [ds[..., 0]]
    for k in range(1, n):
        out.append(chain(out[-1], xs[..., k]) + chain(ys[..., k - 1], ds[..., k]))
    return put_back(np.stack(out, axis=-1), axis)


def logcumsumexp(x, axis=None):
    """log Σⱼ≤ₖ exp(xⱼ) along `axis` (of the flattened array without one), one logaddexp at a time:
    nothing overflows, and nothing small is lost next to something large that comes later."""
    xs = along_last(x, axis)
    n = np.shape(xs)[-1]
    if n == 0:
        return put_back(np.zeros(np.shape(xs)), axis)
    out = [xs[..., 0]]
    for k in range(1, n):
        out.append(np.logaddexp(out[-1], xs[..., k]))
    return put_back(np.stack(out, axis=-1), axis)


def logcumsumexp_weights(x, ans, axis=None):
    """(∂yₖ/∂yₖ₋₁, ∂yₖ/∂xₖ) for k ≥ 1 of yₖ = logaddexp(yₖ₋₁, xₖ): σ(yₖ₋₁ - xₖ) and σ(xₖ - yₖ₋₁),
    logaddexp's own weights (½ each at equal infinities or huge equal values)."""
    xs, ys = along_last(x, axis), along_last(ans, axis)
    return logaddexp_weight(ys[..., :-1], xs[..., 1:]), logaddexp_weight(xs[..., 1:], ys[..., :-1])


def logcumsumexp_vjp(g, x, ans, axis=None):
    """The transpose of logcumsumexp, by the chain of logaddexps backwards: ḡ carried from yₖ₊₁ to yₖ
    with weight σ(yₖ - xₖ₊₁), and passed to xₖ with weight σ(xₖ - yₖ₋₁) (x₀ takes it whole)."""
    gs = along_last(g, axis)
    n = np.shape(gs)[-1]
    if n == 0:
        return np.zeros(np.shape(x))
    carry, take = logcumsumexp_weights(x, ans, axis)
    sums = [gs[..., n - 1]]
    for k in range(n - 2, -1, -1):
        sums.append(gs[..., k] + chain(carry[..., k], sums[-1]))
    total = np.stack(sums[::-1], axis=-1)
    share = np.concatenate([total[..., :1], chain(take, total[..., 1:])], axis=-1)
    return put_back(share, axis, np.shape(x))


def logcumsumexp_jvp(dx, x, ans, axis=None):
    """The tangent of logcumsumexp: dyₖ = σ(yₖ₋₁ - xₖ)·dyₖ₋₁ + σ(xₖ - yₖ₋₁)·dxₖ."""
    ds = along_last(dx, axis)
    n = np.shape(ds)[-1]
    if n == 0:
        return np.zeros(np.shape(ans))
    carry, take = logcumsumexp_weights(x, ans, axis)
    out = [ds[..., 0]]
    for k in range(1, n):
        out.append(chain(carry[..., k - 1], out[-1]) + chain(take[..., k - 1], ds[..., k]))
    return put_back(np.stack(out, axis=-1), axis)


def differences(x, n=1, axis=-1):
    """numpy's diff: x[1:] - x[:-1] along `axis`, n times (by slices, the same in every framework)."""
    y = np.moveaxis(x, axis, -1)
    for _ in range(n):
        y = y[..., 1:] - y[..., :-1]
    return np.moveaxis(y, -1, axis)


def differences_vjp(g, shape, n=1, axis=-1):
    """The transpose of diff: each step's ḡ added to the later element of its pair and taken from
    the earlier, steps undone last first (a step from no elements to none gives none back)."""
    h = np.moveaxis(g, axis, -1)
    for length in reversed([max(shape[axis] - k, 0) for k in range(n)]):
        if length:
            zero = np.zeros(np.shape(h)[:-1] + (1,))
            h = np.concatenate([zero, h], axis=-1) - np.concatenate([h, zero], axis=-1)
    return np.moveaxis(h, -1, axis)


def sort_vjp(g, x, ans, axis=-1):
    """The transpose of a sort: each element gets the gradient of its place in the sorted order;
    tied elements share the mean of their places' gradients (as max splits a tie evenly), and a
    NaN, equal to no place, gets NaN. Compares every element with every place: n² per row."""
    xs, ys, gs = along_last(x, axis), along_last(ans, axis), along_last(g, axis)
    same = xs[..., :, None] == ys[..., None, :]
    count = np.sum(np.where(same, 1.0, 0.0), axis=-1)
    total = np.sum(np.where(same, gs[..., None, :], 0.0), axis=-1)
    return put_back(np.where(count == 0, np.nan, total / np.where(count == 0, 1.0, count)), axis, np.shape(x))


def sort_jvp(dx, x, ans, axis=-1):
    """The tangent of a sort: each place takes its element's tangent, the mean of them at a tie."""
    xs, ys, ds = along_last(x, axis), along_last(ans, axis), along_last(dx, axis)
    same = xs[..., :, None] == ys[..., None, :]
    count = np.sum(np.where(same, 1.0, 0.0), axis=-2)
    total = np.sum(np.where(same, ds[..., :, None], 0.0), axis=-2)
    return put_back(np.where(count == 0, np.nan, total / np.where(count == 0, 1.0, count)), axis)


def sort_ties(ans, axis=-1):
    """The places of the sorted values that hold a tie (where sort has no derivative)."""
    ys = along_last(ans, axis)
    same = ys[..., 1:] == ys[..., :-1]
    edge = np.zeros(np.shape(ys)[:-1] + (1,), dtype=bool)
    return put_back(np.concatenate([same, edge], axis=-1) | np.concatenate([edge, same], axis=-1), axis)


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------


def matmul(a, b):
    """numpy's matmul, except that a scalar on either side multiplies (W@x with W = 2, x = 3)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return np.matmul(a, b)


STRONG_LIMIT = 2**24  # elements of the product terms a strong matmul may spell out


def chain_matmul(a, b):
    """np.matmul for the chain rule, where 0·∞ counts as 0: recomputed term by term (within a
    size limit) only when numpy's product holds a NaN, as a matrix with an infinity meets a zero."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:  # a scalar side multiplies elementwise
        return chain(a, b)
    out = matmul(a, b)
    if not isinstance(out, np.ndarray) or not np.isnan(out).any():
        return out
    a2 = a[None, :] if np.ndim(a) == 1 else a
    b2 = b[:, None] if np.ndim(b) == 1 else b
    left, right = np.expand_dims(a2, -1), np.expand_dims(b2, -3)
    if np.size(left) * np.shape(right)[-1] > STRONG_LIMIT:
        return out
    exact = np.sum(chain(left, right), axis=-2)
    return np.reshape(exact, np.shape(out))


def _reshaped(x, shape):
    """x in `shape`, without making a view when it already has it (a view would be copied later)."""
    return x if np.shape(x) == tuple(shape) else np.reshape(x, shape)


def matmul_vjp_left(g, b, a_shape):
    """ḡ bᵀ, summed back over broadcast batch dimensions (a itself is never read, only its shape)."""
    if len(a_shape) == 0:
        return np.sum(chain(g, b))
    if np.ndim(b) == 0:
        return chain(g, b)
    if np.ndim(b) == 1:  # b's axis first: it is the last one, and for vector @ vector g is a scalar
        b, g = b[:, None], np.expand_dims(g, -1)
    if len(a_shape) == 1:
        g = np.expand_dims(g, -2)
    a2 = (1,) + tuple(a_shape) if len(a_shape) == 1 else tuple(a_shape)
    return _reshaped(unbroadcast(chain_matmul(g, np.swapaxes(b, -1, -2)), a2), a_shape)


def matmul_vjp_right(g, a, b_shape):
    """aᵀ ḡ, summed back over broadcast batch dimensions (b itself is never read, only its shape)."""
    if len(b_shape) == 0:
        return np.sum(chain(g, a))
    if np.ndim(a) == 0:
        return chain(g, a)
    if len(b_shape) == 1:
        g = np.expand_dims(g, -1)
    if np.ndim(a) == 1:
        a, g = a[None, :], np.expand_dims(g, -2)
    b2 = tuple(b_shape) + (1,) if len(b_shape) == 1 else tuple(b_shape)
    return _reshaped(unbroadcast(chain_matmul(np.swapaxes(a, -1, -2), g), b2), b_shape)


def dot(a, b):
    """numpy's dot for scalars, vectors and matrices."""
    return np.dot(a, b)


def dot_vjp_left(g, b, a_shape):
    """The transpose of dot with respect to its left operand."""
    if np.ndim(b) == 0 and len(a_shape):
        return chain(g, b)
    return matmul_vjp_left(g, b, a_shape)


def dot_vjp_right(g, a, b_shape):
    """The transpose of dot with respect to its right operand."""
    if np.ndim(a) == 0 and len(b_shape):
        return chain(g, a)
    return matmul_vjp_right(g, a, b_shape)


def outer(a, b):
    """numpy's outer product of the flattened operands."""
    return np.reshape(a, (-1, 1)) * np.reshape(b, (1, -1))


def outer_vjp_left(g, b, a_shape):
    return np.reshape(np.sum(chain(g, np.reshape(b, (1, -1))), axis=1), a_shape)


def outer_vjp_right(g, a, b_shape):
    return np.reshape(np.sum(chain(g, np.reshape(a, (-1, 1))), axis=0), b_shape)


def kron_shapes(a_shape, b_shape):
    """numpy's kron as a broadcast product: a as [a₀, 1, a₁, 1, …] and b as [1, b₀, 1, b₁, …] (the
    lower rank first padded with leading ones), and the result's shape [a₀b₀, a₁b₁, …]."""
    rank = max(len(a_shape), len(b_shape))
    a = (1,) * (rank - len(a_shape)) + tuple(a_shape)
    b = (1,) * (rank - len(b_shape)) + tuple(b_shape)
    return (tuple(v for m in a for v in (m, 1)), tuple(v for m in b for v in (1, m)),
            tuple(m * k for m, k in zip(a, b)))


def kron(a, b):
    """numpy's Kronecker product: a block of b times each element of a."""
    left, right, out = kron_shapes(np.shape(a), np.shape(b))
    return np.reshape(np.reshape(a, left) * np.reshape(b, right), out)


def kron_vjp_left(g, b, a_shape):
    """∂/∂a of Σ ḡ·kron(a, b): each block of ḡ against b, summed."""
    left, right, _ = kron_shapes(a_shape, np.shape(b))
    terms = chain(np.reshape(g, tuple(m * k for m, k in zip(left, right))), np.reshape(b, right))
    return np.reshape(np.sum(terms, axis=tuple(range(1, len(left), 2))), a_shape)


def kron_vjp_right(g, a, b_shape):
    """∂/∂b of Σ ḡ·kron(a, b): the blocks of ḡ, each times its element of a, summed."""
    left, right, _ = kron_shapes(np.shape(a), b_shape)
    terms = chain(np.reshape(g, tuple(m * k for m, k in zip(left, right))), np.reshape(a, left))
    return np.reshape(np.sum(terms, axis=tuple(range(0, len(left), 2))), b_shape)


def einsum_vjp(g, k, spec, *operands):
    """Operand k's share of an einsum: the einsum of ḡ with the other operands onto k's indices,
    broadcast over indices that appear in k alone (summed away in the forward)."""
    inputs, output = spec.split("->")
    subs = inputs.split(",")
    mine = subs[k]
    others = [s for j, s in enumerate(subs) if j != k]
    present = "".join(c for c in mine if c in output or any(c in s for s in others))
    terms = ",".join([output] + others) + "->" + present
    part = np.einsum(terms, g, *[x for j, x in enumerate(operands) if j != k])
    shape = np.shape(operands[k])
    sizes = dict(zip(mine, shape))
    part = np.reshape(part, tuple(sizes[c] if c in present else 1 for c in mine))
    return np.broadcast_to(part, shape) if np.shape(part) != tuple(shape) else part


# ---------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------


def stack_part(g, k, axis=0):
    """Item k of a stack: the slice of ḡ at index k of the stacked axis."""
    return np.moveaxis(g, axis, 0)[k]


def concat_part(g, k, sizes, axis=0):
    """Item k of a concatenation: its block of ḡ along the joined axis."""
    start = sum(sizes[:k])
    return np.moveaxis(np.moveaxis(g, axis, 0)[start:start + sizes[k]], 0, axis)


def diag(x, k=0):
    """numpy's diag: a vector's diagonal matrix, or a matrix's diagonal."""
    return np.diag(x, k)


def diag_vjp(g, shape, k=0):
    """The transpose of diag: the diagonal of ḡ for a vector, ḡ placed on the k-th diagonal of
    zeros in the matrix's shape (which need not be square) for a matrix."""
    if len(shape) == 1:
        return np.diagonal(g, k)
    rows, cols = shape
    first = max(-k, 0)  # the row the k-th diagonal starts on
    column = np.concatenate([np.zeros(first), g, np.zeros(rows - first - np.shape(g)[0])])[:, None]
    return np.where(np.eye(rows, cols, k) == 1, column, 0.0)


def trace_vjp(g, shape):
    """∂tr(A)/∂A = I, scaled by ḡ."""
    return g * np.eye(shape[0], shape[1])


def transpose_back(g, axes=None):
    """The transpose of np.transpose(x, axes): the inverse permutation (negative axes counted from the end)."""
    if axes is None:
        return np.transpose(g)
    return np.transpose(g, np.argsort([a % np.ndim(g) for a in axes]))


def flip_axes(x, axis=None):
    """numpy's flip; `axis` None flips every axis."""
    return np.flip(x, axis)


def symmetric(a):
    """The symmetric part (A + Aᵀ)/2 of a stack of square matrices (A itself when A is symmetric)."""
    return (a + np.swapaxes(a, -1, -2)) * 0.5


def sym_part(a):
    """(A + Aᵀ)/2: the gradient of a function of a symmetric matrix, symmetrized."""
    return symmetric(a)


# ---------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------


@linear
def index_vjp(g, shape, index):
    """The transpose of basic indexing: ḡ placed into zeros of the operand's shape."""
    out = np.zeros(shape)
    out[index] = g
    return out


@operation("setitem", operands=2, params=("index",))
def set_at(x, v, index):
    """x with x[index] replaced by v, as a new array: numpy's `x = x.copy(); x[index] = v`."""
    out = np.array(x, dtype=np.result_type(x, v))
    out[index] = v
    return out


@linear
def zero_at(g, index):
    """ḡ with 0 at x[index]: the overwritten elements pass nothing back to the old x."""
    out = np.array(g, dtype=np.float64)
    out[index] = 0.0
    return out


def one_hot(y, k):
    """1.0 where the last axis equals y, 0.0 elsewhere: labels to a [..., k] float array. A label
    outside 0..k-1 is refused (it would make a row of zeros, as if the example had no class)."""
    if np.size(y) and (np.min(y) < 0 or np.max(y) >= k):
        bad = np.min(y) if np.min(y) < 0 else np.max(y)
        raise IndexError(f"one_hot() label {int(bad)} is out of range: with k = {k} classes the labels are "
                         f"0 to {k - 1}")
    return np.where(np.expand_dims(y, -1) == np.arange(k), 1.0, 0.0)


# ---------------------------------------------------------------------------------------------
# Linear algebra (derivatives by the matrix identities, not by differentiating numpy's algorithm)
# ---------------------------------------------------------------------------------------------


def each_matrix(function, shape, *stacks):
    """After numpy refused a whole stack (one singular matrix fails them all): `function` one
    matrix at a time, NaN only where it fails; a lone matrix that failed is all NaN."""
    out = np.full(shape, np.nan)
    lead = np.shape(stacks[0])[:-2]
    for index in np.ndindex(*lead) if lead else ():
        try:
            out[index] = function(*(s[index] for s in stacks))
        except np.linalg.LinAlgError:
            pass
    return out


def solve(a, b):
    """A⁻¹b for b a vector or a matrix; NaN where A is singular (never an exception)."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0] if np.ndim(b) == np.ndim(a) - 1 else np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return each_matrix(solve, np.shape(b), a, b)


def solve_apart(a, b):
    """A⁻¹b as solve gives it, except where some equations are not finite (a NaN or an infinity in
    A's row or in b) and the others never read their unknowns: then those unknowns alone are NaN (0
    where b is 0, as the chain rule's strong zero has it), the others solved without them, as a NaN
    in one element of an elementwise equation stays in that element when each is solved alone
    (Newton's steps, and the implicit function theorem's systems)."""
    if np.ndim(a) == 3 and np.ndim(b) in (2, 3) and len(a):  # a batch: each point's system apart
        return np.stack([solve_apart(a[k], b[k]) for k in range(len(a))])
    if np.ndim(a) != 2 or np.ndim(b) not in (1, 2) or not isinstance(b, np.ndarray) or not np.size(b):
        return solve(a, b)
    rows = np.reshape(b, (len(b), -1))  # b a vector, or a column per direction
    bad = ~np.all(np.isfinite(rows), axis=1) | ~np.all(np.isfinite(a), axis=1)
    good = ~bad
    if not bad.any() or not good.any() or np.any(a[np.ix_(good, bad)] != 0):
        return solve(a, b)
    x = np.where(b == 0, 0.0, np.nan)  # a zero right-hand side moves nothing: the strong zero
    x[good] = solve(a[np.ix_(good, good)], b[good])
    return x


def solve_vjp_common(g, a):
    """b̄ = A⁻ᵀḡ, shared by both operands' shares."""
    return solve(np.swapaxes(a, -1, -2), g)


def matmul_any(m, x, b_shape):
    """M x for x shaped like solve's b: a vector (one fewer axis than M) or a matrix."""
    if len(b_shape) == np.ndim(m) - 1:
        return np.matmul(m, x[..., None])[..., 0]
    return np.matmul(m, x)


def solve_vjp_a(c, ans, a_shape):
    """Ā = -b̄ xᵀ, with x = A⁻¹b the solution (an outer product when b is a vector)."""
    if np.ndim(ans) == len(a_shape) - 1:
        return -chain(c[..., :, None], ans[..., None, :])
    return -chain_matmul(c, np.swapaxes(ans, -1, -2))


def inv(a):
    """A⁻¹; NaN where A is singular."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return each_matrix(np.linalg.inv, np.shape(a), a)


def inv_vjp(g, ans):
    """Ā = -A⁻ᵀ ḡ A⁻ᵀ."""
    t = np.swapaxes(ans, -1, -2)
    return -np.matmul(np.matmul(t, g), t)


def det(a):
    """The determinant."""
    return np.linalg.det(a)


def finite_matrices(a):
    """Per matrix of a stack, whether every element is finite (LAPACK answers for NaN all the same)."""
    return np.isfinite(a).all(axis=(-2, -1))


def cofactors(a):
    """The cofactor matrix adj(A)ᵀ = ∂det(A)/∂A, also where A is singular: by minors for small or
    lifted A; otherwise from A = U S Vᵀ it is det(U) det(V) U diag(Πⱼ≠ᵢ sⱼ) Vᵀ, never det(A)·A⁻ᵀ
    (NaN at a singular A)."""
    if not isinstance(a, (np.ndarray, np.generic)) or np.shape(a)[-1] <= MINORS_UP_TO:
        return minor_cofactors(a)
    ok = finite_matrices(a)
    try:
        u, s, vh = np.linalg.svd(np.where(ok[..., None, None], a, 0.0))
    except np.linalg.LinAlgError:
        return each_matrix(cofactors, np.shape(a), a)
    sign = np.linalg.det(u) * np.linalg.det(vh)
    out = sign[..., None, None] * np.matmul(u * np.expand_dims(prod_others(s, -1), -2), vh)
    return np.where(ok[..., None, None], out, np.nan)


MINORS_UP_TO = 4  # cofactors by minors up to this size (n² determinants of size n - 1)
WELL_CONDITIONED = 1e8


def minor_cofactors(a):
    """adj(A)ᵀ entry by entry, (-1)^(i+j) times the determinant of A without row i and column j:
    exact for small matrices and, on dual numbers or series, differentiable where A is singular
    (det's second and higher derivatives). A large, well-conditioned lifted A takes det(A)·A⁻ᵀ."""
    n = np.shape(a)[-1]
    if n > MINORS_UP_TO and np.all(np.linalg.cond(plain_value(a)) < WELL_CONDITIONED):
        return np.expand_dims(np.expand_dims(det(a), -1), -1) * np.swapaxes(inv(a), -1, -2)
    if n <= 1:
        return np.ones(np.shape(a))
    others = [[k for k in range(n) if k != i] for i in range(n)]
    rows = [np.stack([(-1.0) ** (i + j) * det(a[..., others[i], :][..., others[j]]) for j in range(n)], axis=-1)
            for i in range(n)]
    return np.stack(rows, axis=-2)


def det_vjp(g, a):
    """Ā = ḡ·adj(A)ᵀ."""
    return g[..., None, None] * cofactors(a)


def logdet(a):
    """log |det A| (numpy's slogdet, never the log of an overflowing det)."""
    return np.linalg.slogdet(a)[1]


def logdet_vjp(g, a):
    """Ā = ḡ·A⁻ᵀ (d log|det A| = tr(A⁻¹ dA))."""
    return g[..., None, None] * np.swapaxes(inv(a), -1, -2)


def cholesky(a):
    """The lower Cholesky factor of the symmetric part of A; NaN where it is not positive definite."""
    try:
        return np.linalg.cholesky(symmetric(a))
    except np.linalg.LinAlgError:
        return each_matrix(cholesky, np.shape(a), a)


def phi(x):
    """The lower triangle with its diagonal halved (the Cholesky derivative's projection)."""
    return np.tril(x) - 0.5 * x * np.eye(np.shape(x)[-1])


def tri_solve(l, b, lower=True, trans=False):
    """L⁻¹B (or L⁻ᵀB) for a triangular L, by numpy's general solver on the triangle alone."""
    t = np.tril(l) if lower else np.triu(l)
    if trans:
        t = np.swapaxes(t, -1, -2)
    return solve(t, b)


def cholesky_vjp(g, ans):
    """Ā = ½ sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹) (Murray 2016), the symmetric gradient PyTorch and JAX give."""
    p = phi(np.matmul(np.swapaxes(ans, -1, -2), g))
    x = tri_solve(ans, np.swapaxes(tri_solve(ans, p, True, True), -1, -2), True, True)
    return symmetric(np.swapaxes(x, -1, -2))


def cholesky_jvp(da, ans):
    """dL = L Φ(L⁻¹ sym(dA) L⁻ᵀ)."""
    inner = tri_solve(ans, np.swapaxes(tri_solve(ans, symmetric(da), True), -1, -2), True)
    return np.matmul(ans, phi(np.swapaxes(inner, -1, -2)))


def eigvalsh(a):
    """The eigenvalues of the symmetric part of A, ascending; NaN where they cannot be found (a 1×1
    matrix is its own eigenvalue, infinite or not)."""
    if np.shape(a)[-1] == 1:
        return a[..., 0]
    ok = finite_matrices(a)
    try:
        values = np.linalg.eigvalsh(symmetric(np.where(ok[..., None, None], a, 0.0)))
    except np.linalg.LinAlgError:
        values = each_matrix(eigvalsh, np.shape(a)[:-1], a)
    return np.where(ok[..., None], values, np.nan)


def eigenvectors(a):
    """The eigenvectors of the symmetric part of A, as columns; NaN where they cannot be found."""
    if np.shape(a)[-1] == 1:
        return np.ones(np.shape(a))
    ok = finite_matrices(a)
    try:
        vectors = np.linalg.eigh(symmetric(np.where(ok[..., None, None], a, 0.0)))[1]
    except np.linalg.LinAlgError:
        vectors = each_matrix(eigenvectors, np.shape(a), a)
    return np.where(ok[..., None, None], vectors, np.nan)


def eigvalsh_vjp(g, a):
    """Ā = V diag(ḡ) Vᵀ from the eigenvectors V: exact while the eigenvalues are distinct."""
    v = eigenvectors(a)
    return symmetric(np.matmul(v * np.expand_dims(g, -2), np.swapaxes(v, -1, -2)))


def eigvalsh_jvp(da, a):
    """dλᵢ = vᵢᵀ sym(dA) vᵢ."""
    v = eigenvectors(a)
    return np.sum(v * np.matmul(symmetric(da), v), axis=-2)


def eigvalsh_ties(ans):
    """How many eigenvalues equal their neighbour (a repeated eigenvalue is a kink)."""
    return np.sum(np.diff(ans, axis=-1) == 0, axis=-1)


def tri(x, lower=True):
    """The lower (or upper) triangle of x."""
    return np.tril(x) if lower else np.triu(x)


def solve_triangular(a, b, lower=True):
    """A⁻¹b for a triangular A (scipy's spelling; only the named triangle of A is read)."""
    return tri_solve(a, b, lower)


def solve_triangular_vjp_common(g, a, lower=True):
    """b̄ = A⁻ᵀḡ on the triangle."""
    return tri_solve(a, g, lower, True)


def solve_triangular_vjp_a(c, ans, a_shape, lower=True):
    """Ā = -tri(b̄ xᵀ) on the triangle that was read."""
    return tri(solve_vjp_a(c, ans, a_shape), lower)


# ---------------------------------------------------------------------------------------------
# Piecewise functions
# ---------------------------------------------------------------------------------------------

LN2 = 0.6931471805599453
LN10 = 2.302585092994046


def step(x, right, left):
    """`right` where x > 0, `left` where x <= 0, NaN where x is NaN (a NaN is never hidden)."""
    return np.where(x > 0, right, np.where(x <= 0, left, np.nan))


def clip_inside(x, lo, hi):
    """∂clip/∂x: 1 where lo <= x <= hi (at a bound the gradient goes to x), else 0."""
    return np.where((x >= lo) & (x <= hi), 1.0, 0.0)


def atan2_slope(top, x, y):
    """top/(x² + y²), the partials of atan2(y, x), taken as 0 at the origin (as PyTorch does);
    divided twice by hypot(x, y) where x² + y² would underflow to 0 (a false origin) for tiny x
    and y, or overflow for huge ones."""
    r2 = x * x + y * y
    normal = (r2 > 1e-290) & (r2 < 1e290)  # x² + y² exact to rounding: the plain formula
    r = np.hypot(x, y)
    safe = np.where(r == 0, 1.0, r)
    return np.where(r == 0, 0.0, np.where(normal, top / np.where(normal, r2, 1.0), top / safe / safe))


def zeros_like(x):
    """The derivative of a piecewise-constant function (sign, floor, ceil, round): 0."""
    return np.zeros(np.shape(x))


# ---------------------------------------------------------------------------------------------
# Indexing with integer arrays
# ---------------------------------------------------------------------------------------------


def spell_out(index, ndim):
    """An index with its `...` written out as the full slices it stands for (numpy's meaning)."""
    at = next((k for k, item in enumerate(index) if item is Ellipsis), None)
    if at is None:
        return index
    named = sum(1 for item in index if item is not None and item is not Ellipsis)
    return index[:at] + (slice(None),) * max(ndim - named, 0) + index[at + 1:]


def index_of(layout, xs):
    """The index tuple of a gather: layout items are ints, slices, None, or ("array", k) for xs[k]."""
    return tuple(xs[item[1]] if isinstance(item, tuple) else item for item in layout)


def gather(xs, layout):
    """xs[0] indexed by integer arrays (numpy's advanced indexing); out-of-range indices refused."""
    x = xs[0]
    for axis, item in enumerate(i for i in spell_out(layout, np.ndim(x)) if i is not None):
        if isinstance(item, tuple):
            n = np.shape(x)[axis]
            index = xs[item[1]]
            if np.size(index) and (np.max(index) >= n or np.min(index) < -n):
                bad = np.max(index) if np.max(index) >= n else np.min(index)
                raise IndexError(f"index {int(bad)} is out of range for axis {axis} of size {n}")
    return x[index_of(layout, xs)]


@linear
def gather_vjp(g, xs, layout):
    """The transpose of a gather: ḡ added into zeros of the operand's shape, repeats summed."""
    out = np.zeros(np.shape(xs[0]))
    np.add.at(out, index_of(layout, xs), g)
    return out


def filled(xs, kind, shape):
    """zeros/ones/eye/arange whose sizes are ints or (dim, operand, axis): an operand's dimension."""
    sizes = tuple(np.shape(xs[d[1]])[d[2]] if isinstance(d, tuple) else d for d in shape)
    if kind == "eye":
        return np.eye(sizes[0])
    if kind == "arange":
        return np.arange(sizes[0])
    return np.zeros(sizes) if kind == "zeros" else np.ones(sizes)


def size_of(shape, axis=None):
    """A dimension's size (or the number of elements) as a number."""
    return np.int64(math.prod(shape) if axis is None else shape[axis])


# ---------------------------------------------------------------------------------------------
# Implicit functions: fixed points and roots, differentiated through the solution alone
# ---------------------------------------------------------------------------------------------
# `f` is a function of the file compiled once (adcli's engine, or the exported module, gives it):
# f.value(x, *params), f.vjp(x, params, cotangent) -> a cotangent per argument (x first), and
# f.jvp(x, params, tangents) -> the result's tangent (None: an argument that does not move). The
# loops below stop on the values, so they are the one place a kernel branches on them.

class NotConverged(ArithmeticError):
    """An iteration that did not settle within its bound."""


def number_parts(x):
    """The plain arrays inside a number: itself, or each part of a dual (its value and tangent)."""
    stack, out = [x], []
    while stack:
        y = stack.pop()
        if hasattr(y, "tangent"):
            stack += [y.value, y.tangent]
        else:
            out.append(np.asarray(y, dtype=np.float64))
    return out


def settled(new, old, tol, points=False):
    """Whether every element (and every part of a dual) moved by at most tol relative to its size
    (an element settling at 0 stops once it is 0: tiny solutions keep their every digit); with
    `points`, per point along the first axis. A NaN has settled: NaN in gives NaN out, as every
    operation's does, rather than max_iter iterations and an error."""
    done = True
    for a, b in zip(number_parts(new), number_parts(old)):
        still = (a == b) | (np.abs(a - b) <= tol * np.abs(a)) | np.isnan(a)  # an infinity settles too
        if points:  # per point: (points, elements of one), which holds for no points too
            done = done & np.all(np.reshape(still, (np.shape(still)[0], math.prod(np.shape(still)[1:]))), axis=1)
        else:
            done = done & np.all(still)
    return done


def at_points(mask, x):
    """A batch's mask of points (one flag each) shaped to select whole points of x in np.where."""
    return np.reshape(mask, np.shape(mask) + (1,) * (np.ndim(x) - 1))


def iterate(advance, start, tol, max_iter, f, what, points=False):
    """advance applied from start until it settles (its last value). With `points` (a batch), a
    point that has settled keeps its value while the others go on, as it would alone. Past max_iter,
    f's own error if it has one (adcli's, at the call in the file), else NotConverged."""
    x = start
    done = False
    for _ in range(max_iter):
        new = advance(x)
        if points:
            now = done | settled(new, x, tol, True)
            keep = at_points(done, x)
            new = np.where(keep, x, new)
            done = now
            if np.all(done):
                return new
        elif settled(new, x, tol):
            return new
        x = new
    change = max(float(np.max(np.abs(a - b))) if np.size(a) else 0.0
                 for a, b in zip(number_parts(advance(x)), number_parts(x)))
    raise getattr(f, "not_settled", NotConverged)(
        f"{what} did not settle in {max_iter} iterations (the last step moved it by {change:.3g}; tol={tol:g}): "
        "raise max_iter=, loosen tol=, or start nearer")


DIRECT_UP_TO = 256  # elements of x (per point): up to here the linear systems are solved directly


def per_point(x, points):
    """(the leading batch axis, or none; the number of elements of x at one point)."""
    lead = (np.shape(x)[0],) if points else ()
    return lead, math.prod(np.shape(x)[len(lead):])


def fixed_point_solve(f, x0, params, tol, max_iter, points=False):
    """The x with x = f(x, *params), by iterating f from x0."""
    return iterate(lambda x: f.value(x, *params), x0 + 0.0, tol, max_iter, f, f"the iteration of {f.name}", points)


def fixed_point_adjoint(f, x, params, g, tol, max_iter, points=False):
    """Each argument's share of ḡ at the fixed point x (implicit function theorem): u solves
    (I - ∂f/∂x)ᵀu = ḡ, directly for a small x (exact to rounding), else by iterating u = ḡ + uᵀ∂f/∂x
    (which converges as the forward iteration does); then uᵀ∂f/∂params. x0 gets 0."""
    lead, n = per_point(x, points)
    if n <= DIRECT_UP_TO:
        system = np.eye(n) - np.swapaxes(jacobian_in_x(f, x, params, points), -1, -2)
        u = np.reshape(solve_apart(system, np.reshape(g, lead + (n,))), np.shape(x))
    else:
        u = iterate(lambda u: g + f.vjp(x, params, u)[0], g, tol, max_iter, f, f"the adjoint of {f.name}", points)
    return [np.zeros(np.shape(x))] + list(f.vjp(x, params, u)[1:])


def fixed_point_tangent(f, x, params, dparams, tol, max_iter, points=False):
    """The fixed point's tangent t: (I - ∂f/∂x)t = ∂f/∂params·ṗ, directly or by iteration (as the adjoint)."""
    lead, n = per_point(x, points)
    moved = f.jvp(x, params, [None] + list(dparams))
    if n <= DIRECT_UP_TO:
        system = np.eye(n) - jacobian_in_x(f, x, params, points)
        return np.reshape(solve_apart(system, np.reshape(moved, lead + (n,))), np.shape(x))
    return iterate(lambda t: moved + f.jvp(x, params, [t] + [None] * len(params)), moved, tol, max_iter, f,
                   f"the tangent of {f.name}", points)


def jacobian_in_x(f, x, params, points=False):
    """∂f/∂x at x as a matrix over x's flattened elements, one jvp per element (with `points`, one
    matrix per point along the first axis)."""
    lead, n = per_point(x, points)
    if n == 0:  # an empty x: an empty matrix
        return np.zeros(lead + (0, 0))
    basis = np.eye(n)
    columns = [np.reshape(f.jvp(x, params, [np.broadcast_to(np.reshape(basis[j], np.shape(x)[len(lead):]), np.shape(x))]
                                + [None] * len(params)), lead + (n,)) for j in range(n)]
    return np.stack(columns, axis=-1)


def root_solve(f, x0, params, tol, max_iter, points=False):
    """The x with f(x, *params) = 0, by Newton's method from x0."""
    def newton(x):
        lead, n = per_point(x, points)
        move = solve_apart(jacobian_in_x(f, x, params, points), np.reshape(f.value(x, *params), lead + (n,)))
        return x - np.reshape(move, np.shape(x))
    return iterate(newton, x0 + 0.0, tol, max_iter, f, f"Newton's method on {f.name}", points)


def root_adjoint(f, x, params, g, points=False):
    """Each argument's share of ḡ at the root x: u = -(∂f/∂x)⁻ᵀ ḡ, then uᵀ∂f/∂params; x0 gets 0."""
    lead, n = per_point(x, points)
    u = -solve_apart(np.swapaxes(jacobian_in_x(f, x, params, points), -1, -2), np.reshape(g, lead + (n,)))
    return [np.zeros(np.shape(x))] + list(f.vjp(x, params, np.reshape(u, np.shape(x)))[1:])


def root_tangent(f, x, params, dparams, points=False):
    """The root's tangent: -(∂f/∂x)⁻¹ ∂f/∂params·ṗ."""
    lead, n = per_point(x, points)
    moved = f.jvp(x, params, [None] + list(dparams))
    return -np.reshape(solve_apart(jacobian_in_x(f, x, params, points), np.reshape(moved, lead + (n,))),
                       np.shape(x))


# ---------------------------------------------------------------------------------------------
# A function with its derivative rule (def f.vjp): f's value, the rule's cotangents
# ---------------------------------------------------------------------------------------------
# xs holds f's arguments, then the constants f reads, then those the rule reads: split = (the
# number of arguments, the number of f's constants).

def rule_value(f, xs, split):
    """f(*args) by f's own graph."""
    n, closed = split
    return f.value(*xs[:n + closed])


def rule_shares(rule, xs, g, split, points=False):
    """Each operand's share of ḡ by the file's rule: its cotangent for each argument of f, 0 for the
    constants. As numpy's broadcasting would have it, a cotangent in the result's shape, where f
    broadcast the argument, is summed back to the argument's (g * x for a scalar y), and a smaller one
    is broadcast to it; any other shape is the rule's mistake."""
    n, closed = split
    given = rule.results(*xs[:n], g, *xs[n + closed:])
    shares = []
    for k, x in enumerate(xs):
        if k >= n:
            shares.append(np.zeros(np.shape(x)))
            continue
        share = given[k]
        lead = 1 if points else 0  # a batch's axis of points comes first in both
        have, want = np.shape(share)[lead:], np.shape(x)[lead:]
        if have != want:
            # wider: in the result's shape, where the argument was broadcast in f (g * x for a scalar y)
            wider = have == np.shape(g)[lead:] and all(b in (1, a) for a, b in zip(have[::-1], want[::-1]))
            narrower = len(have) <= len(want) and all(a in (1, b) for a, b in zip(have[::-1], want[::-1]))
            if not (wider or narrower):
                raise getattr(rule, "refuse", ValueError)(
                    f"{rule.name}() gives a cotangent of shape {list(have)} for argument {k + 1}, whose shape is "
                    f"{list(want)}: a rule returns each argument's cotangent in that argument's shape")
            if wider:  # summed over the axes broadcasting added or stretched (after the points' axis)
                extra = tuple(range(lead, lead + len(have) - len(want)))
                share = np.sum(share, axis=extra) if extra else share
                stretched = tuple(lead + i for i, n in enumerate(want) if n == 1 and np.shape(share)[lead + i] != 1)
                share = np.sum(share, axis=stretched, keepdims=True) if stretched else share
            else:
                share = np.broadcast_to(np.reshape(share, np.shape(share)[:lead] + (1,) * (len(want) - len(have))
                                                   + tuple(have)), np.shape(x))
        shares.append(share)
    return shares


def rule_tangent(rule, xs, dxs, ans, split, points=False):
    """Forward mode through a rule written for reverse mode: row i of the Jacobian is the rule's
    cotangents for the unit ḡ eᵢ, and the tangent's element i its inner product with the tangents."""
    n, _ = split
    lead, m = per_point(ans, points)
    if m == 0:
        return np.zeros(np.shape(ans))
    basis = np.eye(m)
    rows = []
    for i in range(m):
        unit = np.broadcast_to(np.reshape(basis[i], np.shape(ans)[len(lead):]), np.shape(ans))
        shares = rule_shares(rule, xs, unit, split, points)
        total = np.zeros(lead)
        for share, dx in zip(shares[:n], dxs[:n]):
            if dx is not None:
                moved = share * dx
                each = math.prod(np.shape(moved)[1:])
                total = total + (np.sum(np.reshape(moved, lead + (each,)), axis=-1) if points else np.sum(moved))
        rows.append(total)
    return np.reshape(np.stack(rows, axis=-1), np.shape(ans))


# ---------------------------------------------------------------------------------------------
# A loop kept as a loop: c = f(t, c, *params) for t = start, start + step, … (count steps)
# ---------------------------------------------------------------------------------------------

def loop_run(f, c, params, start, step, count, every=1):
    """The carried value after count steps of c = f(t, c, *params)."""
    fast = getattr(f, "run_loop", None)  # the engine's: a body of scalars on floats
    found = None if fast is None else fast(c, params, start, step, count, every)
    if found is not None:
        return found
    for k in range(count):
        c = f.value(np.int64(start + k * step), c, *params)
    return c


def checkpoint_every(count: int) -> int:
    """⌈√N⌉ for N steps: a checkpointed loop keeps its carried value before every this-many-th step."""
    return math.isqrt(max(count - 1, 0)) + 1


def loop_states(f, c, params, start, step, count, every=1):
    """The carried value before each step (before every `every`-th one, with the last step's
    result at the end): what reverse mode reads, or recomputes from."""
    states = [c]
    for k in range(count):
        c = f.value(np.int64(start + k * step), c, *params)
        if (k + 1) % every == 0 or k + 1 == count:
            states.append(c)
    return states


def loop_adjoint(f, c, params, g, start, step, count, every=1):
    """The carried start's and each parameter's share of ḡ: the steps run again keeping the carried
    values (every `every`-th, the others recomputed a stretch at a time, as checkpointing does), then
    each step's vjp from the last back, the parameters' shares summed over the steps."""
    fast = getattr(f, "loop_adjoint", None)  # the engine's, as loop_run's
    found = None if fast is None else fast(c, params, g, start, step, count, every)
    if found is not None:
        return found
    kept = loop_states(f, c, params, start, step, count, every)
    shares = [np.zeros(np.shape(p)) for p in params]
    for s in range((count + every - 1) // every - 1, -1, -1):
        first = s * every
        # every value kept (every = 1): the stretch is already there; else recomputed from the kept one
        stretch = kept[s:s + 2] if every == 1 else \
            loop_states(f, kept[s], params, start + first * step, step, min(every, count - first))
        for k in range(len(stretch) - 2, -1, -1):
            _, g, *each = f.vjp(np.int64(start + (first + k) * step), [stretch[k], *params], g)
            shares = [a + b for a, b in zip(shares, each)]
    return [g] + shares


def loop_tangent(f, c, params, dc, dparams, start, step, count):
    """The carried value's tangent after count steps, carried along with it (forward mode)."""
    fast = getattr(f, "loop_tangent", None)  # the engine's, as loop_run's
    found = None if fast is None else fast(c, params, dc, dparams, start, step, count)
    if found is not None:
        return found
    for k in range(count):
        t = np.int64(start + k * step)
        dc = f.jvp(t, [c, *params], [None, dc, *dparams])
        c = f.value(t, c, *params)
    return dc


def primal(v):
    """A number's value without its tangents or series (a while loop's condition reads only that)."""
    while hasattr(v, "value") and not isinstance(v, np.ndarray):
        v = v.value
    return v


def while_going(test, k, c, params, points=False, going=None):
    """Whether the condition holds before step k (per point, and only where it held before, with points)."""
    now = np.asarray(primal(test.value(np.int64(k), primal(c), *[primal(p) for p in params])))
    if not points:
        return bool(now)
    now = np.reshape(now, (-1,)) != 0
    return now if going is None else now & going


def while_states(f, test, c, params, split, max_iter, warn=False, points=False, keep=True):
    """(the carried value before each step that ran and after the last, or only the last without
    `keep`; the points still going at each step, with points, else the count of steps). Past
    max_iter with the condition still holding: test's own error (adcli's, at the while line), or
    with `warn` the steps that ran (the warning is the diagnosis's, which sees the values)."""
    body, told = params[:split], params[split:]
    states, masks, going = [c], [], None
    for k in range(max_iter + 1):
        going = while_going(test, k, c, told, points, going)
        if not np.any(going):
            return states, (masks if points else k)
        if k == max_iter and warn:
            return states, (masks if points else k)
        if k == max_iter:
            raise getattr(test, "not_settled", NotConverged)(
                f"this while loop's condition still holds after max_iter={max_iter} iterations: raise max_iter=, "
                "check that the loop moves toward ending, or write on_max_iter=\"warn\" to take the value after "
                "max_iter steps")
        nxt = f.value(np.int64(k), c, *body)
        if points:  # a point whose condition failed keeps its value, as it would alone
            nxt = np.where(at_points(going, c), nxt, c)
            masks.append(going)
        c = nxt
        if keep:
            states.append(c)
        else:
            states[0] = c
    return states, masks  # not reached: the last pass returns or raises


def while_run(f, test, c, params, split, max_iter, warn=False, points=False):
    """The carried value once the condition fails (or, with `warn`, after max_iter steps)."""
    return while_states(f, test, c + 0.0, params, split, max_iter, warn, points, keep=False)[0][-1]


def while_adjoint(f, test, c, params, g, split, max_iter, warn=False, points=False, every=1):
    """Each share of ḡ through the steps that ran (as loop_adjoint for their count; per point, a
    step counts where that point was still going); the condition's values get 0. With every=0
    (checkpointing), the carried value is kept before every ⌈√N⌉-th of the N steps that ran."""
    zeros = [np.zeros(np.shape(p)) for p in params[split:]]
    if not points:
        count = while_states(f, test, c + 0.0, params, split, max_iter, warn, keep=False)[1]
        every = every or checkpoint_every(count)
        return loop_adjoint(f, c + 0.0, params[:split], g, 0, 1, count, every) + zeros
    states, masks = while_states(f, test, c + 0.0, params, split, max_iter, warn, True)
    body = params[:split]
    shares = [np.zeros(np.shape(p)) for p in body]
    for k in range(len(masks) - 1, -1, -1):
        _, h, *each = f.vjp(np.int64(k), [states[k], *body], g)
        mask = masks[k]
        g = np.where(at_points(mask, g), h, g)
        shares = [s + np.where(at_points(mask, e), e, 0.0) for s, e in zip(shares, each)]
    return [g] + shares + zeros


def while_tangent(f, test, c, params, dc, dparams, split, max_iter, warn=False, points=False):
    """The carried value's tangent through the steps that ran (forward mode)."""
    if not points:
        count = while_states(f, test, c + 0.0, params, split, max_iter, warn, keep=False)[1]
        return loop_tangent(f, c + 0.0, params[:split], dc, dparams[:split], 0, 1, count)
    states, masks = while_states(f, test, c + 0.0, params, split, max_iter, warn, True)
    body, dbody = params[:split], dparams[:split]
    dc = np.zeros(np.shape(c)) if dc is None else dc
    for k, mask in enumerate(masks):
        moved = f.jvp(np.int64(k), [states[k], *body], [None, dc, *dbody])
        dc = np.where(at_points(mask, dc), moved, dc)
    return dc
