"""Beyond the gradient: derivatives of order K by truncated Taylor series.

Order-K derivatives use truncated Taylor series rather than K nested duals: a K-fold nested dual
holds 2**K numbers and its cost doubles with every order, while a Taylor series holds K + 1
coefficients and costs O(K²) per ring operation. The series still follow the registry: +, -, ·, /
and @ are the ring's own operations on coefficients, and every other operation y = f(x) gets its
coefficients from its jvp rule, because y′(t) = jvp(x′(t)) at x(t) gives k·yₖ = [jvp]ₖ₋₁.
Jacobians and Hessians are in matrices.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from adcli.engine.dual import Lifted, plain
from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.forward import push_tangent
from adcli.engine.reverse import depends_on
from adcli.errors import InputError, ShapeError
from adcli.operations import OPS, fmt_shape

if TYPE_CHECKING:  # only in annotations: the engine's modules do not import the Program they serve
    from adcli.engine.program import Program

MAX_ORDER = 170  # 171! overflows float64: derivatives beyond it cannot be represented

# ---------------------------------------------------------------------------------------------
# Truncated Taylor series, coefficients computed on demand
# ---------------------------------------------------------------------------------------------



class Series(Lifted):
    """c₀ + c₁t + c₂t² + …: a value's Taylor series in one variable t, each cₖ computed when needed.

    `needs(k)` lists the (series, index) pairs that must exist before `compute(k)` gives cₖ;
    `ensure` schedules them with an explicit stack, so no recursion grows with the order.
    """

    __slots__ = ("coefs", "needs", "compute", "memo")

    def __init__(self, value, needs, compute, memo: dict):
        self.coefs = [value]  # c₀ is the ordinary value, known at once
        self.needs = needs
        self.compute = compute
        self.memo = memo  # shared by one computation: f(x) is built once, so sin and cos pair up

    @property
    def value(self):
        return self.coefs[0]

    def __repr__(self):
        return f"Series({self.coefs!r}…)"

    @classmethod
    def lift(cls, name, args, params):
        return series_apply(name, *args, **params)

    @classmethod
    def linear(cls, func, x, args, kwargs):
        return linear_map(lambda c: func(c, *args, **kwargs), [x])

    @classmethod
    def combine(cls, func, items, args, kwargs):
        return linear_map(lambda *cs: func(list(cs), *args, **kwargs), items)

    @classmethod
    def product(cls, rule, a, b):
        """A product rule (the chain rule's strong-zero product) on series: a Cauchy product."""
        return product(rule, a, b)

    @classmethod
    def choose(cls, mask, a, b):
        return linear_map(lambda x, y: np.where(mask, x, y), [a, b])


def memo_of(args) -> dict:
    return next(a.memo for a in args if isinstance(a, Series))


def constant(c, memo: dict) -> Series:
    """c + 0t + 0t² + …"""
    c = plain(c)
    zero = np.zeros(np.shape(c))
    return Series(c, lambda k: (), lambda k: zero, memo)


def variable(x0, memo: dict) -> Series:
    """x₀ + t: the point at which, and the direction in which, derivatives are taken."""
    x0 = plain(x0)
    one, zero = np.ones(np.shape(x0)), np.zeros(np.shape(x0))
    return Series(x0, lambda k: (), lambda k: one if k == 1 else zero, memo)


def linear_map(f, args) -> Series:
    """f(a(t), b(t), …) for f linear in all its operands together: cₖ = f(aₖ, bₖ, …)."""
    memo = memo_of(args)
    ss = [a if isinstance(a, Series) else constant(a, memo) for a in args]
    return Series(f(*(s.value for s in ss)), lambda k: [(s, k) for s in ss],
                  lambda k: f(*(s.coefs[k] for s in ss)), memo)


def product(f, a, b, value_of=None) -> Series:
    """f(a(t), b(t)) for f bilinear (· or @): the Cauchy product cₖ = Σⱼ f(aⱼ, bₖ₋ⱼ), the value
    c₀ by `value_of` when it differs (the plain product, where f is the chain rule's)."""
    memo = memo_of((a, b))
    value = (value_of or f)(a.value if isinstance(a, Series) else a, b.value if isinstance(b, Series) else b)
    if not isinstance(a, Series):
        return Series(value, lambda k: [(b, k)], lambda k: f(a, b.coefs[k]), memo)
    if not isinstance(b, Series):
        return Series(value, lambda k: [(a, k)], lambda k: f(a.coefs[k], b), memo)
    return Series(value, lambda k: [(a, k), (b, k)], lambda k: cauchy(f, a.coefs, b.coefs, k), memo)


def cauchy(f, a: list, b: list, k: int):
    """Σⱼ₌₀..ₖ f(aⱼ, bₖ₋ⱼ): coefficient k of a product of two series."""
    total = f(a[0], b[k])
    for j in range(1, k + 1):
        total = total + f(a[j], b[k - j])
    return total


def quotient(a, b) -> Series:
    """a(t) / b(t): from a = c·b, cₖ = (aₖ - Σⱼ₍ⱼ₌₀..ₖ₋₁₎ cⱼ·bₖ₋ⱼ) / b₀."""
    memo = memo_of((a, b))
    if not isinstance(b, Series):
        return Series(a.value / b, lambda k: [(a, k)], lambda k: a.coefs[k] / b, memo)
    a = a if isinstance(a, Series) else constant(a, memo)
    out = Series(a.value / b.value, None, None, memo)
    out.needs = lambda k: [(a, k), (b, k), (out, k - 1)]
    out.compute = lambda k: (a.coefs[k] - sum(out.coefs[j] * b.coefs[k - j] for j in range(k))) / b.coefs[0]
    return out


def slope(a: Series) -> Series:
    """a′(t) = Σ (k+1)·aₖ₊₁ tᵏ."""
    return Series(a.coefs[1], lambda k: [(a, k + 1)], lambda k: (k + 1) * a.coefs[k + 1], a.memo)


def solved(name: str, args, params: dict) -> Series:
    """y = op(x(t)) for any registry operation: y₀ = op(x₀), then k·yₖ = [jvp(x′) at x(t)]ₖ₋₁.

    The jvp's own series (cos x for sin x, y itself for exp x) are built on first need, and the
    memo returns the same series for the same operation on the same operands.
    """
    memo = memo_of(args)
    key = (name, tuple(id(a) for a in args), repr(sorted(params.items())))  # slices are not hashable
    if key in memo:
        return memo[key][1]
    op = OPS[name]
    out = Series(op.forward(*(a.value if isinstance(a, Series) else a for a in args), **params), None, None, memo)
    memo[key] = (args, out)  # holding args keeps their ids from being reused
    rate: list = []  # the jvp series, once built

    def needs(k):
        if not rate:
            missing = [(a, 1) for a in args if isinstance(a, Series) and len(a.coefs) < 2]
            if missing:  # the slopes' first coefficients must exist before the jvp can be built
                return missing
            ts = [slope(a) if isinstance(a, Series) else None for a in args]
            j = push_tangent(op, ts, out, list(args), params)
            rate.append(j if isinstance(j, Series) else constant(j, memo))
        return [(rate[0], k - 1)]

    out.needs = needs
    out.compute = lambda k: rate[0].coefs[k - 1] / k
    return out


def series_apply(name: str, *args, **params):
    """Registry operation `name` on series, numbers or arrays."""
    if not any(isinstance(a, Series) for a in args):
        return OPS[name].forward(*args, **params)
    if not OPS[name].differentiable:  # a comparison, count or shaped constant: on the values alone
        return OPS[name].forward(*(a.value if isinstance(a, Series) else a for a in args), **params)
    op = OPS[name]
    if op.linear:  # coefficient k of the result is the operation on coefficients k
        return linear_map(lambda *cs: op.forward(*cs, **params), args)
    if op.chain_product is not None:
        # Coefficient k is the Cauchy sum Σⱼ op(aⱼ, bₖ₋ⱼ); beyond the value (k ≥ 1) each term is a
        # derivative's product, taken with the strong zero as the chain rule takes it in every other mode.
        return product(op.chain_product, *args, value_of=op.forward)
    if name == "div":
        return quotient(*args)
    return solved(name, args, params)


def ensure(series: Series, order: int) -> list:
    """Compute coefficients 0..order of `series`, and whatever they need, without recursion."""
    stack = [(series, order)]
    waiting: set = set()  # (series, index) pairs whose needs are pending: meeting one again is a cycle
    while stack:
        s, k = stack[-1]
        n = len(s.coefs)
        if n > k:
            stack.pop()
            continue
        missing = [(d, m) for d, m in s.needs(n) if len(d.coefs) <= m]
        if missing:
            if (id(s), n) in waiting:
                raise RuntimeError(f"a Taylor coefficient depends on itself ({s!r})")
            waiting.add((id(s), n))
            stack.extend(missing)
            continue
        waiting.discard((id(s), n))
        s.coefs.append(s.compute(n))
    return series.coefs[: order + 1]


def taylor_coefficients(f, x, order: int) -> list:
    """[f(x), f′(x), f″(x)/2!, …] up to `order`, for a Python function of one scalar or array x."""
    y = f(variable(x, {}))
    if not isinstance(y, Series):
        return [y] + [np.zeros(np.shape(y))] * order
    return ensure(y, order)


def taylor_derivatives(f, x, order: int) -> list:
    """[f′(x), f″(x), …, f⁽ᵒʳᵈᵉʳ⁾(x)] from one truncated Taylor series."""
    coefs = taylor_coefficients(f, x, order)
    with np.errstate(over="ignore"):  # beyond float64, as the true derivative is
        return [c * float(math.factorial(k)) for k, c in enumerate(coefs)][1:]


# ---------------------------------------------------------------------------------------------
# Programs: derivatives of order K, Jacobians, Hessians
# ---------------------------------------------------------------------------------------------

@dataclass
class Derivatives:
    """The output's derivatives of orders 1..K with respect to one scalar input."""

    output: str
    wrt: str
    at: np.ndarray  # the input's value
    value: np.ndarray
    derivatives: list


def require_second_order(program: Program, out: int, wrt: list[int], what: str) -> None:
    """Derivatives beyond the first run the registry's rules on dual numbers or series; an operation
    whose rules cannot (eigvalsh, prod) is named where the file uses it."""
    graph = program.graph
    active = depends_on(graph, wrt, out)
    for i in range(out + 1):
        node = graph.nodes[i]
        if active[i] and node.op in OPS and not OPS[node.op].second_order:
            raise ShapeError(f"{what} needs second derivatives, and adcli has only the first derivative of "
                             f"{OPS[node.op].func or node.op}() (its rules do not run on dual numbers)", graph.span(i))


def derivatives(program: Program, wrt: str, order: int, of: str | None = None, **given) -> Derivatives:
    """d^k output / d wrt^k for k = 1..order, by one truncated Taylor series."""
    if not 1 <= order <= MAX_ORDER:
        raise InputError(f"--order {order}: give an order from 1 to {MAX_ORDER} "
                         f"(higher orders overflow float64, as {MAX_ORDER + 1}! does)")
    name, out = program.output_node(of)
    graph = program.graph
    (w,) = program.wrt_nodes([wrt])
    if order > 1:
        require_second_order(program, out, [w], f"--order {order}")
    bound = bind_inputs(graph, given)
    if np.size(bound[w]) != 1:
        raise InputError(f"--wrt {wrt}: derivatives of order K are taken along one scalar input, but "
                         f"'{wrt}' has shape {fmt_shape(np.shape(bound[w]))}; use jacobian or hessian")
    solved = without_series(program, out, w)
    if solved is not None:  # fixed_point() and root(): the first two orders by dual numbers
        if order > 2:
            raise ShapeError(f"--order {order}: adcli differentiates {OPS[graph.nodes[solved].op].func}() twice at "
                             "most (the implicit function theorem on dual numbers); give --order 1 or 2",
                             graph.span(solved))
        found = by_duals(graph, bound, out, w)
        return Derivatives(name, wrt, bound[w], found[0], found[1:order + 1])
    lifted = dict(bound)
    lifted[w] = variable(bound[w], {})
    y = evaluate(graph, lifted, out, apply=series_apply)[out]
    with np.errstate(all="ignore"):
        coefs = ensure(y, order) if isinstance(y, Series) else [y] + [np.zeros(np.shape(y))] * order
    found = [np.asarray(c * float(math.factorial(k)), dtype=np.float64) for k, c in enumerate(coefs)]
    return Derivatives(name, wrt, bound[w], found[0], found[1:])


def without_series(program: Program, out: int, w: int) -> int | None:
    """The first node on the way from input w to the output whose rules do not run on Taylor series."""
    graph = program.graph
    active = depends_on(graph, [w], out)
    return next((i for i in range(out + 1) if active[i] and graph.nodes[i].op in OPS
                 and not OPS[graph.nodes[i].op].series), None)


def by_duals(graph, bound: dict, out: int, w: int) -> list:
    """The value, first and second derivative along scalar input w: forward over reverse, one pass."""
    from adcli.engine.dual import Dual, apply, fresh_tag, tangent_at, value_at
    from adcli.engine.reverse import backward
    tag = fresh_tag()
    lifted = dict(bound)
    lifted[w] = Dual(bound[w], np.ones(np.shape(bound[w])), tag)
    with np.errstate(all="ignore"):
        values = evaluate(graph, lifted, out, apply=apply)
        grad = backward(graph, values, out, [w])[w]
    y = values[out]
    return [np.asarray(value_at(y, tag), dtype=np.float64), np.asarray(value_at(grad, tag), dtype=np.float64),
            np.asarray(tangent_at(grad, tag), dtype=np.float64)]
