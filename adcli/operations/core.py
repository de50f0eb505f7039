"""The shape of a registry entry, and the helpers every family of operations shares.

An operation's rules are code templates: `np.exp({x})`, `{g} * {y}`. Placeholders name operands
(`{x}`, `{y}`), the result (`{ans}`), the upstream gradient (`{g}`), tangents (`{dx}`), a value
shared by the operands' vjps (`{c}`) and parameters (`{axis}`); `{x.shape}` reads only a shape.
adcli's engine compiles each template once into a function over numpy (and dual numbers, which
numpy hands back to the registry); the exporters write the same text into generated modules, so
exported code computes exactly what the engine computes. Which values a vjp reads follows from
its template, so reverse mode frees everything else early.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence

import numpy as np

from adcli.operations import kernels, patterns


class Mismatch(ValueError):
    """A shape rule's refusal; the evaluator adds the source position."""


def fmt_shape(shape) -> str:
    """A shape as users write it: [3, 4], [] for a scalar."""
    return "[" + ", ".join(str(n) for n in shape) + "]"


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{(\w+)((?:\.\w+)*)\}")
SHAPE_ONLY = (".shape", ".ndim")


def fill(template: str, names: dict[str, str]) -> str:
    """A template with each placeholder replaced by its name's text (attributes kept)."""
    return PLACEHOLDER.sub(lambda m: names[m[1]] + m[2], template)


def mentions(template: str | None) -> list[str]:
    """The placeholders whose values a template reads (a `.shape` alone is not a read)."""
    if not template:
        return []
    return [m[1] for m in PLACEHOLDER.finditer(template) if m[2] not in SHAPE_ONLY]


NAMESPACE: dict[str, Any] = {"np": np, "math": math}
NAMESPACE.update({name: value for name, value in vars(kernels).items() if not name.startswith("__")})


def compile_lambda(parameters: str, body: str, where: str) -> Callable:
    """A function from adcli's own template text (never from user input)."""
    code = compile(f"lambda {parameters}: {body}", f"<registry {where}>", "eval")
    return eval(code, NAMESPACE)  # noqa: S307 - the text is the registry's, fixed at import


# ---------------------------------------------------------------------------------------------
# Cost rules: floating-point operations, estimates (one per element per arithmetic step)
# ---------------------------------------------------------------------------------------------

def size(shape) -> int:
    return math.prod(shape)


def per_element(factor: int = 1):
    """Forward flops: `factor` per result element."""
    return lambda out, args, params: factor * size(out)


def per_operand_element(factor: int = 1):
    """Forward flops: `factor` per element of the first operand (reductions)."""
    return lambda out, args, params: factor * size(args[0]) if args else 0


def local_partial(factor: int):
    """Derivative flops of an elementwise rule: ḡ·∂ₖ, then a sum where the operand was broadcast."""
    def rule(k, out, args, params):
        return factor * size(out) + (size(out) if tuple(args[k]) != tuple(out) else 0)
    return rule


def operand_elements(factor: int = 1):
    """Derivative flops: `factor` per element of the operand receiving the gradient."""
    return lambda k, out, args, params: factor * size(args[k])


def no_flops(*_):
    return 0


def cubic(factor: float = 1.0):
    """Matrix factorisations: about factor·n³ for an n×n matrix (times any batch)."""
    def rule(*args):
        shapes = args[-2]
        a = shapes[0]
        if len(a) < 2:
            return 0
        return int(factor * a[-1] ** 3 * size(a[:-2]))
    return rule


# ---------------------------------------------------------------------------------------------
# The strong zero: the chain rule's 0·∞ is 0, and a witness of where it decided
# ---------------------------------------------------------------------------------------------

class StrongZeroLog:
    """Which operations' strong zero turned a NaN or an infinity into 0, since the process began:
    the command line then locates each one and warns (the result depends on the convention)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget what was noted (a new command begins)."""
        self.count = 0
        self.ops: dict[str, None] = {}  # names in the order first met

    def note(self, name: str) -> None:
        self.count += 1
        self.ops.setdefault(name, None)


STRONG_ZEROS = StrongZeroLog()


def chained(name: str, a, b):
    """kernels.chain(a, b) in operation `name`'s rule, noting when its strong zero decided an element."""
    lifted = getattr(type(a), "product", None) or getattr(type(b), "product", None)
    if lifted is not None:  # dual numbers and series: part by part, each part noted the same way
        return lifted(lambda x, y: chained(name, x, y), a, b)
    product = a * b
    if not kernels.nonfinite_array(product):
        return product
    zero = (a == 0) | (b == 0)
    if np.any(zero & ~np.isfinite(product)):
        STRONG_ZEROS.note(name)
    return kernels.strong_zero(a, b, product)


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Op:
    """An operation: its name, rules as code templates, shape rule, trace text and cost rules."""

    name: str
    forward_code: str  # "np.exp({x})"
    shape: Callable[..., tuple]  # operand shapes (and params) -> result shape, or Mismatch
    text: str  # the formula traces show, with {0}, {1} for operands: "{0}·{1}"
    partials: Sequence[str]  # scalar local derivative per operand, as text: ∂(x·u)/∂u = "{0}"
    vjp_text: Sequence[str]  # the vector–Jacobian product per operand, ḡ the upstream gradient
    args: tuple = ("x",)  # operand names in the templates; ("*xs",) for a list of operands
    params: tuple = ()  # ((name, default), ...): parameters, fixed in the file (axis=0)
    func: str | None = None  # the name a .ad file calls it by
    aliases: tuple = ()  # other names for the same function (concatenate for concat)
    deriv_code: Sequence[str] | None = None  # elementwise: ∂ₖ as a template of ans and operands
    vjp_code: Sequence[str] | None = None  # otherwise: operand k's share of ḡ
    common_code: str | None = None  # computed once per backward step, read by vjps as {c}
    jvp_code: str | None = None  # otherwise: the result's tangent from operand tangents {dx}, ...
    kink_code: str | None = None  # a mask of the points with no derivative
    convention: str = ""  # what adcli uses at a kink
    scalar_text: str | None = None  # the formula when every operand is a scalar
    pyfunc: Callable | None = None  # a Python operator giving numpy's exact result on floats
    pyderivs: tuple | None = None  # the local derivatives on Python floats, to numpy's bit (scalar path)
    dtype: str = "float"  # the result's type: float, bool, int, or same (int for int operands)
    doc: str = ""  # one line of meaning, for `adcli functions`
    signature: str = ""  # as a file writes the call: clip(x, lo, hi)
    ufunc: Any = None  # the numpy ufunc it implements, for dual numbers
    array_functions: tuple = ()  # numpy functions that compute it (np.prod), for dual numbers and series
    scalar_as: str | None = None  # on scalars alone, the operation whose rules it takes (a scalar matmul is a mul)
    linear: bool = False  # linear in its operands: Taylor coefficients map one to one (higher orders)
    bilinear: bool = False  # linear in each operand: a vjp's term holds the other operand still
    chain_product: Callable | None = None  # bilinear: the product the chain rule takes (the strong zero),
    #   whose Cauchy sums give Taylor coefficients beyond the value
    second_order: bool = True  # its rules run on dual numbers (Hessians, Taylor series)
    series: bool = True  # its rules run on Taylor series (derivative --order K)
    flops: Callable = field(default_factory=lambda: per_element(1))
    deriv_flops: Callable = field(default_factory=lambda: local_partial(1))
    show: Callable | None = None  # show(labels, params) -> the formula, where params shape it (x[1:])
    kinds: tuple = ()  # per operand, a required element type: "bool" (where's condition), "int" (labels)
    batch: Callable | None = None  # the batching rule (registry/batching.py): the op on a leading batch axis
    pattern: Callable | None = None  # the sparsity rule (operations/patterns.py): which elements each result reads
    curved: bool = True  # whether its second derivatives may be non-zero (relu, max, sort are piecewise linear)

    # --- the operands and parameters as the templates name them ----------------------------
    @property
    def variadic(self) -> bool:
        return self.args[:1] == ("*xs",)

    @property
    def nargs(self) -> int:
        """The number of operands; -1 for a list of any length."""
        return -1 if self.variadic else len(self.args)

    @property
    def elementwise(self) -> bool:
        return self.deriv_code is not None

    @property
    def differentiable(self) -> bool:
        """Whether its result carries a derivative: not a comparison, a count, or a constant made
        from shapes alone (zeros([n]) reads only x's shape, so x's tangent never reaches it)."""
        return self.dtype not in ("bool", "int", "constant")

    @property
    def param_names(self) -> tuple:
        return tuple(name for name, _ in self.params)

    def _signature(self, *lead: str) -> str:
        operands = "*xs" if self.variadic else ", ".join(self.args)
        params = ", ".join(f"{name}={default!r}" for name, default in self.params)
        return ", ".join(part for part in (*lead, operands, params) if part)

    def _names(self, *extra: str) -> dict[str, str]:
        names = {name: name for name in ("ans", "g", "c", "k", *extra)}
        operands = ("xs",) if self.variadic else self.args
        names.update({a: a for a in operands})
        names.update({"d" + a: "d" + a for a in operands})
        names.update({p: p for p in self.param_names})
        return names

    # --- compiled rules ----------------------------------------------------------------------
    @cached_property
    def forward(self) -> Callable:
        """The numpy forward: forward(*operands, **params)."""
        return compile_lambda(self._signature(), fill(self.forward_code, self._names()), f"{self.name} forward")

    @cached_property
    def derivs(self) -> list[Callable] | None:
        """Elementwise local derivatives ∂ₖ(ans, *operands)."""
        if self.deriv_code is None:
            return None
        head = "ans, " + ", ".join(self.args) + "".join(f", {p}={d!r}" for p, d in self.params)
        return [compile_lambda(head, fill(code, self._names()), f"{self.name} ∂{k}")
                for k, code in enumerate(self.deriv_code)]

    @cached_property
    def vjps(self) -> list[Callable] | None:
        """vjps[k](g, ans, *operands, c=..., k=..., **params): operand k's share of ḡ."""
        if self.vjp_code is None:
            return None
        head = self._signature("g", "ans")
        head += ", c=None" + (", k=0" if self.variadic else "")
        return [compile_lambda(head, fill(code, self._names()), f"{self.name} vjp{k}")
                for k, code in enumerate(self.vjp_code)]

    @cached_property
    def common(self) -> Callable | None:
        if self.common_code is None:
            return None
        return compile_lambda(self._signature("g", "ans"), fill(self.common_code, self._names()),
                              f"{self.name} common")

    @cached_property
    def jvp_fn(self) -> Callable | None:
        if self.jvp_code is None:
            return None
        tangents = "dxs" if self.variadic else ", ".join("d" + a for a in self.args)
        return compile_lambda(self._signature(tangents, "ans"), fill(self.jvp_code, self._names()),
                              f"{self.name} jvp")

    @cached_property
    def kink(self) -> Callable | None:
        """kink(ans, *operands, **params) -> mask of points where the derivative does not exist."""
        if self.kink_code is None:
            return None
        return compile_lambda(self._signature("ans"), fill(self.kink_code, self._names()), f"{self.name} kink")

    @cached_property
    def ones(self) -> list[bool]:
        """Per operand: whether the local derivative is exactly 1, so ḡ passes on unchanged."""
        return [code.strip() in ("1", "1.0") for code in (self.deriv_code or ())]

    # --- applying the rules ------------------------------------------------------------------
    def vjp_code_for(self, k: int) -> str:
        codes = self.vjp_code
        return codes[min(k, len(codes) - 1)]

    def vjp(self, k: int, g, ans, xs: Sequence, params: dict, c=None):
        """Operand k's share of the upstream gradient g, in operand k's shape."""
        if self.deriv_code is not None:
            # ḡ·1 is ḡ, bit for bit: pass it on rather than spend an array on the product.
            local = g if self.ones[k] else chained(self.name, g, self.derivs[k](ans, *xs, **params))
            return kernels.unbroadcast(local, np.shape(xs[k]))
        share = self.vjp_rule(k, g, ans, xs, params, c)
        out = kernels.strong_vjp(share, g, np.shape(xs[k]))  # the exported modules call it too
        if out is not share:
            STRONG_ZEROS.note(self.name)
        return out

    def vjp_rule(self, k: int, g, ans, xs: Sequence, params: dict, c=None):
        """The registry's vjp template for operand k applied, as written (no strong zero)."""
        if self.common_code is not None and c is None:
            c = self.common(g, ans, *xs, **params)
        rule = self.vjps[min(k, len(self.vjps) - 1)]
        return rule(g, ans, *xs, c=c, k=k, **params) if self.variadic else rule(g, ans, *xs, c=c, **params)

    def shared(self, g, ans, xs: Sequence, params: dict):
        """The value all operands' vjps share for one backward step (None if there is none)."""
        return None if self.common_code is None else self.common(g, ans, *xs, **params)

    def jvp(self, tangents: Sequence, ans, xs: Sequence, params: dict):
        """The result's tangent, given one tangent per operand (None: a constant operand)."""
        if self.deriv_code is not None:
            total = None
            for t, d in zip(tangents, self.derivs):
                if t is None:  # skipped, not 0·∂: ∂(x**2)/∂2 is NaN at x < 0 and would poison the sum
                    continue
                # Where the direction does not move an element its tangent is 0, whatever the local
                # derivative: a one-hot seed must not turn sqrt′(0) = inf in another element into NaN.
                term = chained(self.name, t, d(ans, *xs, **params))
                total = term if total is None else total + term
            return total
        tangent = self.jvp_rule(tangents, ans, xs, params)
        if not kernels.nonfinite_array(tangent):  # the common case: nothing for the strong zero to decide
            return tangent
        terms = None
        if self.bilinear and not self.variadic:  # operand k's term alone: the other operand held still
            terms = [lambda k=k: self.jvp_rule(
                [t if j == k else np.zeros(np.shape(x)) for j, (t, x) in enumerate(zip(tangents, xs))], ans,
                [np.zeros(np.shape(x)) if j == k else x for j, x in enumerate(xs)], params) for k in range(len(xs))]
        out = kernels.strong_jvp(tangent, [np.zeros(()) if t is None else t for t in tangents], np.shape(ans), terms)
        if out is not tangent:
            STRONG_ZEROS.note(self.name)
        return out

    def jvp_rule(self, tangents: Sequence, ans, xs: Sequence, params: dict):
        """The registry's jvp template applied."""
        if self.variadic:
            return self.jvp_fn(list(tangents), ans, *xs, **params)
        return self.jvp_fn(*tangents, ans, *xs, **params)

    @cached_property
    def reads(self) -> tuple:
        """Per operand k, the forward values its vjp reads: "ans" and operand indices."""
        names = ["xs"] if self.variadic else list(self.args)
        codes = list(self.deriv_code or self.vjp_code or ())
        out = []
        for code in codes:
            seen = mentions(code) + mentions(self.common_code)
            entry = []
            if "ans" in seen:
                entry.append("ans")
            for j, name in enumerate(names):
                if name in seen:
                    entry.append("*" if self.variadic else j)
            out.append(tuple(entry))
        return tuple(out) or ((),)

    def reads_for(self, k: int) -> tuple:
        """The forward values operand k's vjp reads ("*": every operand of a list)."""
        return self.reads[min(k, len(self.reads) - 1)]

    def formula(self, labels: Sequence[str], scalar: bool = False, params: dict | None = None) -> str:
        """The forward formula with operand labels filled in."""
        if self.show is not None and params is not None:
            return self.show(labels, params)
        text = self.scalar_text if scalar and self.scalar_text else self.text
        if self.variadic and "{0}" not in text:
            return text.replace("…", ", ".join(labels))
        return text.format(*labels)


OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add an operation to the registry (one entry per operation), its templates checked first."""
    if op.name in OPS:
        raise ValueError(f"operation {op.name} is registered twice")
    if op.batch is None:
        raise ValueError(f"operation {op.name} has no batching rule")
    check_templates(op)
    if op.pattern is None:
        op.pattern = default_pattern(op)
    if op.func and not op.signature:
        op.signature = f"{op.func}({', '.join(('[a, b, ...]',) if op.variadic else op.args)}" + \
            "".join(f", {name}={default!r}" for name, default in op.params) + ")"
    OPS[op.name] = op
    return op


def default_pattern(op: Op) -> Callable:
    """The sparsity rule an entry need not spell out: none for a result without a derivative
    (comparisons, counts; floor, whose derivative is 0 everywhere), elementwise for the rest of the
    elementwise family. Any other operation must give its own."""
    if not op.differentiable or (op.elementwise and all(d == "zeros_like({x})" for d in op.deriv_code)):
        return patterns.constant
    if op.elementwise:
        return patterns.elementwise
    raise ValueError(f"operation {op.name} has no sparsity rule")


CODE_FIELDS = ("forward_code", "deriv_code", "vjp_code", "common_code", "jvp_code", "kink_code")
TEXT_FIELDS = ("text", "partials", "vjp_text", "scalar_text")
TEXT_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_templates(op: Op) -> None:
    """A ValueError, at import, for a template that cannot be what its author meant: a code
    template's placeholder that is no operand, tangent, parameter or ans/g/c/k, an unbalanced
    bracket, or a trace text's operand {k} beyond the operands (a typo fails a test, not a user).
    Whether the filled code parses is checked where it is compiled, once, on first use."""
    code = [t for f in CODE_FIELDS for t in as_list(getattr(op, f))]
    text = [t for f in TEXT_FIELDS for t in as_list(getattr(op, f))]
    joined = "\n".join(code)
    operands = ("xs",) if op.variadic else op.args
    known = {"ans", "g", "c", "k", *operands, *("d" + a for a in operands), *op.param_names}
    bare = PLACEHOLDER.sub("", joined)
    if not {m[1] for m in PLACEHOLDER.finditer(joined)} <= known or any(
            bare.count(a) != bare.count(b) for a, b in ("{}", "()", "[]")):
        bad = [t for t in code if not {m[1] for m in PLACEHOLDER.finditer(t)} <= known or any(
            PLACEHOLDER.sub("", t).count(a) != PLACEHOLDER.sub("", t).count(b) for a, b in ("{}", "()", "[]"))]
        raise ValueError(f"operation {op.name}: the code template {bad[0]!r} names a placeholder the rule "
                         f"does not have ({', '.join(sorted(known))}) or has an unbalanced bracket")
    words = {*op.param_names, "n", "ddof", *(str(k) for k in range(10 if op.variadic else len(op.args)))}
    if not set(TEXT_PLACEHOLDER.findall("\n".join(text))) <= words:
        raise ValueError(f"operation {op.name}: a trace text of {text} names an operand or parameter it "
                         f"does not have ({', '.join(sorted(words))})")


def as_list(value) -> list[str]:
    """A template field as a list of templates (None: none; one string: one)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def with_functions(text: str, params: dict) -> str:
    """A rule's text with the names of the file's functions it is about (fixed_point's f as {body},
    a derivative rule as {rule}) filled in: (1 - ∂newton/∂x)⁻¹."""
    for name in ("body", "rule", "test"):
        if "{" + name + "}" in text:
            text = text.replace("{" + name + "}", params[name].name)
    return text


def wrap(text: str) -> str:
    """A derivative's text as a factor: in parentheses unless it reads as one unit."""
    return text if re.fullmatch(r"[\w.′]+(\(.*\))?|\{\d\}|\[.*\]", text) else f"({text})"


# ---------------------------------------------------------------------------------------------
# Shape rules shared by several families
# ---------------------------------------------------------------------------------------------

def same_shape(s, **_):
    return tuple(s)


def within_rank(*shapes) -> None:
    """A Mismatch for a shape with more dimensions than arrays may have (numpy's own limit is 64, and
    32 for some of its functions), named as such rather than as a failure to broadcast."""
    from adcli.limits import MAX_DIMENSIONS
    for s in shapes:
        if len(s) > MAX_DIMENSIONS:
            raise Mismatch(f"shape {fmt_shape(s)} has {len(s)} dimensions; arrays have at most {MAX_DIMENSIONS}")


def broadcast_shapes(*shapes) -> tuple:
    """Numpy's broadcasting rule on shapes alone: ValueError if they do not broadcast. Computed in
    Python, as numpy's np.broadcast_shapes builds arrays and so fails for shapes that do broadcast
    but hold more than 2**63 elements, or have more than 32 dimensions."""
    within_rank(*shapes)
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        for axis, n in enumerate(s, rank - len(s)):
            if n != 1 and out[axis] not in (1, n):
                raise ValueError(f"shapes {', '.join(fmt_shape(t) for t in shapes)} do not broadcast")
            if n != 1:
                out[axis] = n
    return tuple(out)


def broadcast_shape(symbol: str):
    """Numpy broadcasting of any number of operands, or a Mismatch naming the operator."""
    def rule(*shapes, **_):
        try:
            return broadcast_shapes(*shapes)
        except Mismatch:
            raise
        except ValueError:
            listed = " and ".join(fmt_shape(s) for s in shapes)
            where = f"operands of '{symbol}'" if not symbol[0].isalpha() else f"the operands of {symbol}()"
            raise Mismatch(f"{where} have shapes {listed}, which do not broadcast together") from None
    return rule


def check_axis(name: str, shape, axis: int) -> int:
    """The axis, made non-negative, or a Mismatch naming the valid range."""
    n = len(shape)
    if not -n <= axis < n:
        valid = "it has no axes" if n == 0 else f"valid axes are {-n} to {n - 1}"
        raise Mismatch(f"axis {axis} is out of range for {name}() of shape {fmt_shape(shape)}: {valid}")
    return axis % n


def check_axes(name: str, shape, axis) -> tuple:
    """An int or a tuple of axes, each checked and made non-negative; repeats refused."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = tuple(check_axis(name, shape, a) for a in axes)
    if len(set(out)) != len(out):
        raise Mismatch(f"{name}() got the axis {axis} with a repeated axis")
    return out


def reduce_shape(name: str, empty_ok: bool = True):
    """The shape after reducing over `axis` (None: every axis), keeping them with keepdims."""
    def rule(s, axis=None, keepdims=False, **_):
        axes = tuple(range(len(s))) if axis is None else check_axes(name, s, axis)
        if not empty_ok and any(s[a] == 0 for a in axes):
            raise Mismatch(f"{name}() of an empty array has no value (shape {fmt_shape(s)}, "
                           + ("every axis" if axis is None else f"axis {axis}") + " reduced)")
        if keepdims:
            return tuple(1 if i in axes else n for i, n in enumerate(s))
        return tuple(n for i, n in enumerate(s) if i not in axes)
    return rule


def along_axis_shape(name: str, keep: bool):
    """Operations along one axis (softmax, logsumexp): the shape kept, or that axis removed."""
    def rule(s, axis=-1, keepdims=False, **_):
        if len(s) == 0:
            raise Mismatch(f"{name}() needs an array with at least one axis, not a scalar")
        k = check_axis(name, s, axis)
        if s[k] == 0 and not keep:
            raise Mismatch(f"{name}() along an axis with no elements has no value")
        if keep or keepdims:
            return tuple(1 if i == k and not keep else n for i, n in enumerate(s))
        return tuple(s[:k]) + tuple(s[k + 1:])
    return rule
