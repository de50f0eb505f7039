"""Dual numbers: a value and its tangent, whose arithmetic is each operation's jvp rule in the registry.

`Dual(3.0, 1.0)` stands for 3 + ε with ε² = 0. Every operator and numpy function on a dual looks up
the registry entry for it and runs that entry's forward on the values and its jvp on the tangents, so
forward mode reads the same rules as reverse mode. The registry's own rules are written with numpy
ufuncs and linear array functions, so they run on duals too: reverse mode over dual values gives
Hessians (forward over reverse), and duals whose parts are duals give higher derivatives.

Each dual carries a perturbation tag. An operation splits only the duals with the newest tag among
its operands and treats all others (older perturbations) as constants, so nested derivatives never
mix their ε's up ("perturbation confusion").
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from adcli.engine.forward import push_tangent  # forward mode's one step, shared with graph evaluation
from adcli.operations import OPS

# ---------------------------------------------------------------------------------------------
# How numpy calls map onto the registry: the dispatch tables every lifted number shares
# ---------------------------------------------------------------------------------------------

# Ufuncs that are registry operations (np.sin -> "sin"), read off the registry itself; comparisons
# give booleans, so they look at the values alone.
UFUNC_OPS = {op.ufunc: name for name, op in OPS.items() if op.ufunc is not None and op.dtype != "bool"}

# Ufuncs that give booleans or integers: applied to the plain values.
VALUE_UFUNCS = frozenset([
    np.trunc, np.signbit, np.isfinite, np.isnan, np.isinf,
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
])

# Functions linear in their first argument (the others are shapes, axes, flags).
LINEAR_FUNCTIONS = frozenset([
    np.sum, np.mean, np.expand_dims, np.broadcast_to, np.swapaxes, np.transpose, np.reshape,
    np.squeeze, np.moveaxis, np.ravel, np.copy, np.diagonal, np.trace, np.cumsum, np.flip, np.tril, np.triu,
    np.diag, np.take, np.rot90,
])

# Numpy functions that are registry operations (np.prod -> "prod"), read off the registry's entries.
FUNCTION_OPS = {function: name for name, op in OPS.items() for function in op.array_functions}

# Functions linear in every array of their first argument, a sequence.
SEQUENCE_FUNCTIONS = frozenset([np.stack, np.concatenate])

# Functions of the plain values only: shapes, fresh arrays, index searches.
VALUE_FUNCTIONS = frozenset([
    np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like, np.full_like,
    np.argmax, np.argmin, np.argsort, np.isclose, np.allclose, np.array_equal, np.count_nonzero,
])

# What an arithmetic operator may meet on its other side.
OPERANDS = (numbers.Number, np.ndarray, np.generic, list, tuple)


def base(x):
    """The plain number or array under any number of dual (or series) layers."""
    while isinstance(x, Lifted):
        x = x.value
    return x


def binary_operator(name: str, reflected: bool = False):
    """The method behind a binary operator: registry operation `name`, operands in source order."""
    def method(self, other):
        if not isinstance(other, OPERANDS if reflected else OPERANDS + (Lifted,)):
            return NotImplemented
        return type(self).lift(name, (other, self) if reflected else (self, other), {})
    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


class Lifted:
    """A number that carries derivatives: operators and numpy calls go through the registry.

    Subclasses say how to run one registry operation (`lift`), how a linear function acts on them
    (`linear`, `combine`, `choose`); everything else here is shared.
    """

    __slots__ = ()

    # --- what a subclass provides ---
    @classmethod
    def lift(cls, name, args, params):
        raise NotImplementedError

    @classmethod
    def linear(cls, func, x, args, kwargs):
        raise NotImplementedError

    @classmethod
    def combine(cls, func, items, args, kwargs):
        raise NotImplementedError

    @classmethod
    def choose(cls, mask, a, b):
        raise NotImplementedError

    # --- numpy's protocols ---
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return NotImplemented
        if ufunc in UFUNC_OPS:
            return type(self).lift(UFUNC_OPS[ufunc], inputs, {})
        if ufunc in VALUE_UFUNCS:
            return ufunc(*(base(x) for x in inputs))
        if ufunc is np.positive:
            return inputs[0]
        return NotImplemented

    def __array_function__(self, func, types, args, kwargs):
        cls = type(self)
        if func in LINEAR_FUNCTIONS and isinstance(args[0], cls):
            return cls.linear(func, args[0], args[1:], kwargs)
        if func in SEQUENCE_FUNCTIONS:
            return cls.combine(func, list(args[0]), args[1:], kwargs)
        if func is np.where and len(args) == 3:
            return cls.choose(base(args[0]), args[1], args[2])
        if func in VALUE_FUNCTIONS:
            return func(*(base(a) for a in args), **kwargs)
        if func in FUNCTION_OPS:
            return registered(cls, OPS[FUNCTION_OPS[func]], args, kwargs)
        if func is np.einsum and isinstance(args[0], str):
            return cls.lift("einsum", args[1:], {"spec": args[0]})
        return NotImplemented

    # --- Python's operators: each one a registry operation ---
    __add__, __radd__ = binary_operator("add"), binary_operator("add", reflected=True)
    __sub__, __rsub__ = binary_operator("sub"), binary_operator("sub", reflected=True)
    __mul__, __rmul__ = binary_operator("mul"), binary_operator("mul", reflected=True)
    __truediv__, __rtruediv__ = binary_operator("div"), binary_operator("div", reflected=True)
    __pow__, __rpow__ = binary_operator("pow"), binary_operator("pow", reflected=True)
    __matmul__, __rmatmul__ = binary_operator("matmul"), binary_operator("matmul", reflected=True)

    def __neg__(self):
        return type(self).lift("neg", (self,), {})

    def __pos__(self):
        return self

    def __abs__(self):
        return type(self).lift("abs", (self,), {})

    # Comparisons look at the values: a branch on x > 0 follows the value, as in the program.
    def __lt__(self, other):
        return base(self) < base(other)

    def __le__(self, other):
        return base(self) <= base(other)

    def __gt__(self, other):
        return base(self) > base(other)

    def __ge__(self, other):
        return base(self) >= base(other)

    def __eq__(self, other):
        return base(self) == base(other)

    def __ne__(self, other):
        return base(self) != base(other)

    __hash__ = None  # == compares values elementwise, as numpy's does

    def __bool__(self):
        return bool(base(self))

    # --- indexing and shape, all linear ---
    def __getitem__(self, index):
        return type(self).linear(lambda x, i: x[i], self, (index,), {})

    def __setitem__(self, index, v):
        """x[i] = v, as on a numpy array: the registry's update (its rules carry the derivative
        parts), whose result this number becomes."""
        index = index if isinstance(index, tuple) else (index,)
        updated = type(self).lift("setitem", (self, v), {"index": index})
        for slot in type(self).__slots__:
            setattr(self, slot, getattr(updated, slot))

    def __len__(self):
        return len(base(self))

    @property
    def shape(self) -> tuple:
        return np.shape(base(self))

    @property
    def ndim(self) -> int:
        return np.ndim(base(self))

    @property
    def size(self) -> int:
        return int(np.size(base(self)))

    @property
    def T(self):
        return type(self).linear(np.transpose, self, (), {})


def registered(cls, op, args, kwargs):
    """A numpy function that is registry operation `op` (np.max is amax), on lifted numbers: its
    operands first, then its parameters by position or name; NotImplemented for an argument the
    operation does not take (np.max's initial=, out=)."""
    params = dict(zip(op.param_names, args[op.nargs:]))
    if len(args) > op.nargs + len(op.params) or not set(kwargs) <= set(op.param_names) - set(params):
        return NotImplemented
    return cls.lift(op.name, args[:op.nargs], {**params, **kwargs})


# ---------------------------------------------------------------------------------------------
# Dual numbers
# ---------------------------------------------------------------------------------------------

_tags = itertools.count(1)


def fresh_tag() -> int:
    """A perturbation tag newer than every tag in use, so its duals nest inside all others."""
    return next(_tags)


def tag_of(x) -> int:
    return x.tag if isinstance(x, Dual) else -1


def plain(x):
    """A float64 number or array (a dual stays as it is)."""
    if isinstance(x, Lifted):
        return x
    return np.float64(x) if np.ndim(x) == 0 else np.asarray(x, dtype=np.float64)


def shown(x) -> str:
    """repr without numpy's scalar wrapper: 10.0, not np.float64(10.0)."""
    return repr(float(x)) if isinstance(x, np.floating) else repr(x)


class Dual(Lifted):
    """value + tangent·ε with ε² = 0, for the perturbation `tag`.

    Duals built without a tag share tag 0, one perturbation, which is what `f(Dual(3.0, 1.0))`
    needs; a dual built around other duals gets a fresh tag that nests inside theirs.
    """

    __slots__ = ("value", "tangent", "tag")

    def __init__(self, value, tangent=0.0, tag: int | None = None):
        value, tangent = plain(value), plain(tangent)
        inner = max(tag_of(value), tag_of(tangent))
        if tag is None:
            tag = 0 if inner < 0 else fresh_tag()
        elif tag <= inner:
            raise ValueError(f"a dual with tag {tag} cannot hold a dual with the newer tag {inner}")
        if np.shape(tangent) != np.shape(value):
            tangent = np.broadcast_to(tangent, np.shape(value))
        self.value = value
        self.tangent = tangent
        self.tag = tag

    def __repr__(self):
        tag = f", tag={self.tag}" if self.tag else ""
        return f"Dual({shown(self.value)}, {shown(self.tangent)}{tag})"

    @classmethod
    def lift(cls, name, args, params):
        return apply(name, *args, **params)

    @classmethod
    def linear(cls, func, x, args, kwargs):
        return Dual(func(x.value, *args, **kwargs), func(x.tangent, *args, **kwargs), x.tag)

    @classmethod
    def combine(cls, func, items, args, kwargs):
        tag = newest(items)
        values = [value_at(x, tag) for x in items]
        tangents = [tangent_at(x, tag) for x in items]
        return Dual(func(values, *args, **kwargs), func(tangents, *args, **kwargs), tag)

    @classmethod
    def product(cls, rule, a, b):
        """A product rule (the chain rule's strong-zero product) on duals: (a·b)′ = a′·b + a·b′."""
        tag = newest((a, b))
        va, vb = value_at(a, tag), value_at(b, tag)
        return Dual(rule(va, vb), rule(tangent_at(a, tag), vb) + rule(va, tangent_at(b, tag)), tag)

    @classmethod
    def choose(cls, mask, a, b):
        tag = newest((a, b))
        return Dual(np.where(mask, value_at(a, tag), value_at(b, tag)),
                    np.where(mask, tangent_at(a, tag), tangent_at(b, tag)), tag)


def newest(args) -> int | None:
    """The newest perturbation tag among args, None if none is a dual."""
    tags = [a.tag for a in args if isinstance(a, Dual)]
    return max(tags) if tags else None


def value_at(x, tag):
    """x without perturbation `tag` (older perturbations stay)."""
    return x.value if isinstance(x, Dual) and x.tag == tag else x


def tangent_at(x, tag):
    """∂x along perturbation `tag`: its tangent, or zeros when x does not carry that perturbation."""
    if not isinstance(x, Dual) or x.tag < tag:
        return np.zeros(np.shape(x))
    if x.tag == tag:
        return x.tangent
    # x carries a newer perturbation too (a nested dual escaped its derivative): keep that one.
    return Dual(tangent_at(x.value, tag), tangent_at(x.tangent, tag), x.tag)


def apply(name: str, *args, **params):
    """Registry operation `name` on numbers, arrays or duals: its forward on the values and its
    jvp rule on the tangents of the newest perturbation (older ones ride along in the values)."""
    op = OPS[name]
    tag = newest(args)
    if tag is None:
        return op.forward(*args, **params)
    if not op.differentiable:  # a comparison, a count or a shaped constant: plain values in, plain out
        return op.forward(*(base(a) for a in args), **params)
    xs = [value_at(a, tag) for a in args]
    ts = [a.tangent if isinstance(a, Dual) and a.tag == tag else None for a in args]
    ans = op.forward(*xs, **params)
    return Dual(ans, push_tangent(op, ts, ans, xs, params), tag)


# ---------------------------------------------------------------------------------------------
# Derivatives of Python functions
# ---------------------------------------------------------------------------------------------

def jvp(f, x, tangent):
    """(f(x), the derivative of f at x along `tangent`) by one forward pass."""
    tag = fresh_tag()
    out = f(Dual(x, tangent, tag))
    return value_at(out, tag), tangent_at(out, tag)


def derivative(f, x, order: int = 1):
    """The order-th derivative of f at a scalar x, by `order` nested duals (cost grows as 2**order)."""
    return derivatives(f, x, order)[-1]


def derivatives(f, x, order: int):
    """[f'(x), f''(x), ...] up to `order`, from one evaluation of f on nested duals.

    x + ε₁ + ε₂ + … + εₖ, each εᵢ its own perturbation; the coefficient of ε₁ε₂…εⱼ in f of it is
    the j-th derivative. Cost and memory double with each order: for large orders use
    adcli.engine.higher.taylor_derivatives, which is quadratic.
    """
    if order < 1:
        raise ValueError("order must be at least 1")
    tags = [fresh_tag() for _ in range(order)]
    point = x
    for tag in tags:
        point = Dual(point, 1.0, tag)
    out = f(point)
    result = []
    for j in range(1, order + 1):
        y = out
        for tag in reversed(tags[j:]):  # drop the perturbations beyond the j-th
            y = value_at(y, tag)
        for tag in reversed(tags[:j]):  # then take ∂/∂εⱼ … ∂/∂ε₁
            y = tangent_at(y, tag)
        result.append(y)
    return result
