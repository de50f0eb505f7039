"""Targets: how numpy's names are spelled in each framework, and the kernels each writes its own way."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NUMPY_PREFIX = re.compile(r"(?<![\w.])np\.")
SCALAR = re.compile(r"(?<![\w.])np\.(float64|int64|bool_)\(")  # a constant number: np.float64(2.5)
SUBSCRIPT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\[(I\d+_*)\]")  # a value indexed by a module's index constant


@dataclass(frozen=True)
class Target:
    """One framework: its imports, the namespace numpy's names live in, and kernel overrides."""

    name: str
    title: str
    imports: list[str]
    namespace: str  # what `np.` becomes
    overrides: dict[str, str] = field(default_factory=dict)
    float_array: str = "np.array({}, dtype=np.float64)"
    int_array: str = "np.array({}, dtype=np.int64)"
    kernel_note: str = ""
    picks: bool = False  # subscripts x[I1] become pick(x, I1) (torch has no negative steps)
    scalars: dict[str, str] = field(default_factory=dict)  # numpy's scalar types as the target makes them

    def rename(self, text: str) -> str:
        """numpy's spelling as the target's: np.exp -> jnp.exp, np.float64(2.5) -> t(2.5) for torch."""
        text = SUBSCRIPT.sub(r"pick(\1, \2)", text) if self.picks else text
        text = SCALAR.sub(lambda m: self.scalars.get(m[1], m[0]), text)
        return text if self.namespace == "np" else NUMPY_PREFIX.sub(self.namespace + ".", text)

    def array(self, values: str, kind: str) -> str:
        return self.rename((self.int_array if kind in "iub" else self.float_array).format(values))

    def tangent(self, name: str) -> str:
        """A tangent argument as the target's array (a user may pass a list or a number)."""
        return self.rename(f"np.asarray({name}, dtype=np.float64)")


# ---------------------------------------------------------------------------------------------
# The engine's strong zero for rules that are not elementwise (adcli.operations.core.Op.vjp, Op.jvp)
# ---------------------------------------------------------------------------------------------

def framework_strong(ns: str, shim: str) -> dict[str, str]:
    """The strong zero without a branch on values (jit and torch.compile trace them): each case
    computed, and the engine's choice made elementwise by `where`."""
    return {
        "strong_vjp": f'''
def strong_vjp(share, g, shape):
    """An operand's share of ḡ. A vjp is linear in ḡ: a zero ḡ passes zero on, even where the rule
    meets an infinite value (0·∞ is 0 here)."""
    return {shim}.where({ns}.all(g == 0), {shim}.zeros(shape), share)''',
        "strong_jvp": f'''
def strong_jvp(tangent, tangents, shape, terms=None):
    """A result's tangent. A jvp is linear in the tangents: zero tangents give zero (0·∞ is 0 here),
    and a bilinear rule's terms (one per operand) are taken apart, so the operand that does not
    move cannot poison the one that does."""
    finite = {ns}.all({ns}.isfinite(tangent))
    still = [{ns}.all(t == 0) for t in tangents]
    idle = still[0]
    for s in still[1:]:
        idle = idle & s
    chosen = tangent
    if terms is not None:
        split = sum({shim}.where(s, 0.0, term()) for s, term in zip(still, terms))
        chosen = {shim}.where(finite, tangent, split)
    return {shim}.where(finite | ~idle, chosen, {shim}.zeros(shape))''',
    }


def framework_static(shim: str) -> dict[str, str]:
    """Kernels whose numpy text works out static things (a permutation, the array under a dual
    number) with array functions a framework keeps for arrays: here in plain Python."""
    return {
        "transpose_back": f'''
def transpose_back(g, axes=None):
    """The transpose of transpose(x, axes): the inverse permutation, worked out in Python (axes are static)."""
    if axes is None:
        return {shim}.transpose(g)
    n = {shim}.ndim(g)
    return {shim}.transpose(g, tuple(sorted(range(len(axes)), key=lambda i: axes[i] % n)))''',
        "plain_value": '''
def plain_value(x):
    """The array itself: the framework's own transformations carry no dual numbers here."""
    return x''',
        "exclusive_products": f'''
def exclusive_products(x):
    """Running products along the last axis: the framework's own cumprod (no dual numbers here)."""
    return {shim}.cumprod(x, axis=-1)''',
    }


def framework_linalg(ns: str, shim: str) -> dict[str, str]:
    """Linear algebra as the framework gives it: no try/except in code that jit or torch.compile
    traces (the framework gives NaN, or raises, by itself), and sizes as plain ints. The chain
    rule's products without a branch on values (which tracing cannot take): 0·∞ = 0 elementwise,
    and matrix products as the framework's own."""
    return {
        "chain": f'''
def chain(a, b):
    """a·b where an exact zero factor wins (0·∞ = 0)."""
    return {shim}.where((a == 0) | (b == 0), 0.0, a * b)''',
        "cofactors": f'''
def cofactors(a):
    """adj(A)ᵀ = ∂det(A)/∂A: by minors up to 4×4, as adcli computes it (exact where A is singular or an
    entry is infinite outside the minor); above, from A = U S Vᵀ: det(U) det(V) U diag(Πⱼ≠ᵢ sⱼ) Vᵀ."""
    n = a.shape[-1]
    if n <= 1:
        return {ns}.ones_like(a)
    if n <= 4:
        others = [[k for k in range(n) if k != i] for i in range(n)]
        rows = [{ns}.stack([(-1.0) ** (i + j) * {ns}.linalg.det(a[..., others[i], :][..., others[j]])
                            for j in range(n)], -1) for i in range(n)]
        return {ns}.stack(rows, -2)
    u, s, vh = {ns}.linalg.svd(a)
    sign = {ns}.linalg.det(u) * {ns}.linalg.det(vh)
    return sign[..., None, None] * matmul(u * {shim}.expand_dims(prod_others(s, -1), -2), vh)''',
        "solve_apart": '''
def solve_apart(a, b):
    """A⁻¹b as the framework solves it (a NaN in one equation may reach every unknown: traced code
    cannot choose equations by their values)."""
    return solve(a, b)''',
        "chain_matmul": '''
def chain_matmul(a, b):
    """The matrix product (0·∞ inside a sum stays the framework's NaN)."""
    return matmul(a, b)''',
        "inv": f'''
def inv(a):
    """A⁻¹."""
    return {ns}.linalg.inv(a)''',
        "cholesky": f'''
def cholesky(a):
    """The lower Cholesky factor of the symmetric part of A."""
    return {ns}.linalg.cholesky(symmetric(a))''',
        "eigvalsh": f'''
def eigvalsh(a):
    """The eigenvalues of the symmetric part of A, ascending."""
    return {ns}.linalg.eigvalsh(symmetric(a))''',
        "eigenvectors": f'''
def eigenvectors(a):
    """The eigenvectors of the symmetric part of A, as columns."""
    return {ns}.linalg.eigh(symmetric(a))[1]''',
        "size_of": '''
def size_of(shape, axis=None):
    """A dimension's size (or the number of elements) as a number."""
    return math.prod(shape) if axis is None else shape[axis]''',
    }


# ---------------------------------------------------------------------------------------------
# JAX: jax.numpy, float64 switched on, and functional updates instead of in-place writes
# ---------------------------------------------------------------------------------------------

JAX_OVERRIDES = {
    "erf": '''
def erf(x):
    """The error function, elementwise."""
    return jax.scipy.special.erf(x)''',
    "erfc": '''
def erfc(x):
    """The complementary error function 1 - erf(x), exact in the tail."""
    return jax.scipy.special.erfc(x)''',
    "index_vjp": '''
def index_vjp(g, shape, index):
    """The transpose of basic indexing: ḡ placed into zeros of the operand's shape."""
    return jnp.zeros(shape).at[index].set(g)''',
    "set_at": '''
def set_at(x, v, index):
    """x with x[index] replaced by v, as a new array: JAX's functional update."""
    return jnp.asarray(x).at[index].set(v)''',
    "zero_at": '''
def zero_at(g, index):
    """ḡ with 0 at x[index]: the overwritten elements pass nothing back to the old x."""
    return jnp.asarray(g).at[index].set(0.0)''',
    "gather": '''
def gather(xs, layout):
    """Integer-array indexing (numpy's advanced indexing)."""
    return xs[0][index_of(layout, xs)]''',
    "gather_vjp": '''
def gather_vjp(g, xs, layout):
    """The transpose of a gather: ḡ added into zeros of the operand's shape, repeats summed."""
    return jnp.zeros(jnp.shape(xs[0])).at[index_of(layout, xs)].add(g)''',
    "one_hot": '''
def one_hot(y, k):
    """1.0 where the last axis equals y, 0.0 elsewhere (labels are checked by the caller: jit
    cannot raise on a value)."""
    return jnp.where(jnp.expand_dims(y, -1) == jnp.arange(k), 1.0, 0.0)''',
    "solve": '''
def solve(a, b):
    """A⁻¹b for b a vector or a matrix."""
    if jnp.ndim(b) == jnp.ndim(a) - 1:
        return jnp.linalg.solve(a, b[..., None])[..., 0]
    return jnp.linalg.solve(a, b)''',
}

JAX_OVERRIDES["iterate"] = '''
def iterate(advance, start, tol, max_iter, f, what, points=False):
    """advance applied from start until it settles, as a lax.while_loop (jit traces it), which stops
    where adcli's does; NaN where it does not settle within max_iter (jit cannot raise on a value)."""
    def moving(new, old):
        return jnp.any(~((new == old) | (jnp.abs(new - old) <= tol * jnp.abs(new)) | jnp.isnan(new)))

    def unsettled(state):
        count, old, new = state
        return (count < max_iter) & moving(new, old)

    def once_more(state):
        count, _, new = state
        return count + 1, new, advance(new)

    start = jnp.asarray(start, dtype=jnp.float64)
    _, old, new = jax.lax.while_loop(unsettled, once_more, (1, start, advance(start)))
    return jnp.where(moving(new, old), jnp.nan, new)'''
JAX_OVERRIDES["loop_run"] = '''
def loop_run(f, c, params, start, step, count, every=1):
    """The carried value after count steps, as a lax.fori_loop: jit traces the body once."""
    c = jnp.asarray(c, dtype=jnp.float64)
    return jax.lax.fori_loop(0, count, lambda k, c: f.value(start + k * step, c, *params), c)'''
JAX_OVERRIDES["loop_adjoint"] = '''
def loop_adjoint(f, c, params, g, start, step, count, every=1):
    """Each share of ḡ: the carried values kept by a lax.scan, then each step's vjp by a scan from the
    last step back, the parameters' shares summed (jit traces the body once)."""
    ts = start + step * jnp.arange(count)

    def ahead(c, t):
        return f.value(t, c, *params), c

    def back(carry, item):
        g, shares = carry
        t, c = item
        _, g, *each = f.vjp(t, [c, *params], g)
        return (g, [s + e for s, e in zip(shares, each)]), None

    _, states = jax.lax.scan(ahead, jnp.asarray(c, dtype=jnp.float64), ts)
    zeros = [jnp.zeros(jnp.shape(p)) for p in params]
    (g, shares), _ = jax.lax.scan(back, (jnp.asarray(g, dtype=jnp.float64), zeros), (ts, states), reverse=True)
    return [g] + shares'''
JAX_OVERRIDES["loop_tangent"] = '''
def loop_tangent(f, c, params, dc, dparams, start, step, count):
    """The carried value's tangent, carried along with it by a lax.fori_loop."""
    def once(k, state):
        c, dc = state
        t = start + k * step
        return f.value(t, c, *params), f.jvp(t, [c, *params], [None, dc, *dparams])

    c = jnp.asarray(c, dtype=jnp.float64)
    dc = jnp.zeros(jnp.shape(c)) if dc is None else jnp.asarray(dc, dtype=jnp.float64)
    return jax.lax.fori_loop(0, count, once, (c, dc))[1]'''
JAX_OVERRIDES["while_going"] = '''
def while_going(test, k, c, params, points=False, going=None):
    """Whether the condition holds before step k, and held before (a traced boolean: jit cannot branch)."""
    now = jnp.reshape(test.value(k, c, *params), ()) != 0
    return now if going is None else going & now'''
JAX_OVERRIDES["while_run"] = '''
def while_run(f, test, c, params, split, max_iter, warn=False, points=False):
    """The carried value once the condition fails, as a lax.fori_loop over max_iter steps in which a
    step whose condition failed keeps the value (jit traces it, grad differentiates it); NaN where the
    condition still holds after max_iter (jit cannot raise on a value), or with `warn` the value then."""
    def once(k, state):
        c, going = state
        going = while_going(test, k, c, params[split:], going=going)
        return jnp.where(going, f.value(k, c, *params[:split]), c), going

    c, going = jax.lax.fori_loop(0, max_iter, once, (jnp.asarray(c, dtype=jnp.float64), jnp.asarray(True)))
    if warn:
        return c
    going = while_going(test, max_iter, c, params[split:], going=going)
    return jnp.where(going, jnp.nan, c)'''
JAX_OVERRIDES["while_adjoint"] = '''
def while_adjoint(f, test, c, params, g, split, max_iter, warn=False, points=False, every=1):
    """Each share of ḡ through the steps that ran: the carried values and whether each step ran kept
    by a lax.scan over max_iter steps, then each step's vjp, where it ran, by a scan from the last back."""
    body, told = params[:split], params[split:]
    ks = jnp.arange(max_iter)

    def ahead(state, k):
        c, going = state
        going = while_going(test, k, c, told, going=going)
        return (jnp.where(going, f.value(k, c, *body), c), going), (c, going)

    def back(carry, item):
        g, shares = carry
        k, c, going = item
        _, h, *each = f.vjp(k, [c, *body], g)
        return (jnp.where(going, h, g), [s + jnp.where(going, e, 0.0) for s, e in zip(shares, each)]), None

    start = (jnp.asarray(c, dtype=jnp.float64), jnp.asarray(True))
    _, (states, goings) = jax.lax.scan(ahead, start, ks)
    zeros = [jnp.zeros(jnp.shape(p)) for p in body]
    (g, shares), _ = jax.lax.scan(back, (jnp.asarray(g, dtype=jnp.float64), zeros), (ks, states, goings), reverse=True)
    return [g] + shares + [jnp.zeros(jnp.shape(p)) for p in told]'''
JAX_OVERRIDES["while_tangent"] = '''
def while_tangent(f, test, c, params, dc, dparams, split, max_iter, warn=False, points=False):
    """The carried value's tangent through the steps that ran, carried by a lax.fori_loop."""
    body, dbody = params[:split], dparams[:split]

    def once(k, state):
        c, dc, going = state
        going = while_going(test, k, c, params[split:], going=going)
        moved = f.jvp(k, [c, *body], [None, dc, *dbody])
        return jnp.where(going, f.value(k, c, *body), c), jnp.where(going, moved, dc), going

    c = jnp.asarray(c, dtype=jnp.float64)
    dc = jnp.zeros(jnp.shape(c)) if dc is None else jnp.asarray(dc, dtype=jnp.float64)
    return jax.lax.fori_loop(0, max_iter, once, (c, dc, jnp.asarray(True)))[1]'''
JAX_OVERRIDES.update(framework_linalg("jnp", "jnp"))
JAX_OVERRIDES.update(framework_strong("jnp", "jnp"))
JAX_OVERRIDES.update(framework_static("jnp"))

JAX = Target("jax", "JAX (jax.numpy, usable under jit, vmap and grad)",
             ["import jax", "import jax.numpy as jnp", "import jax.scipy.special", "",
              "jax.config.update(\"jax_enable_x64\", True)  # adcli computes in float64"],
             "jnp", JAX_OVERRIDES, "jnp.array({}, dtype=jnp.float64)", "jnp.array({}, dtype=jnp.int64)",
             " (jax.numpy; scatters as .at[] updates)")

# ---------------------------------------------------------------------------------------------
# PyTorch: a small namespace with numpy's names over torch's, so the same expressions read the same
# ---------------------------------------------------------------------------------------------

TORCH_NAMESPACE = '''
def t(x):
    """A tensor: a number (a constant written in the code) as a float64 tensor."""
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float64)


def common(*xs):
    """Tensors of one dtype, promoted as numpy promotes: torch's products do not (int64 @ float64 fails)."""
    xs = [t(x) for x in xs]
    dtype = xs[0].dtype
    for x in xs[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    return [x.to(dtype) for x in xs]


def tensors(function):
    """A torch function that also takes Python numbers (as float64 tensors), as numpy's do."""
    def call(*args):
        return function(*(a if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=torch.float64)
                          for a in args))
    return staticmethod(call)


class same_names(type):
    """A numpy function the namespace does not spell out is torch's function of the same name, its
    array first as a float64 tensor: torch's roll(x, shifts, dims) reads as numpy's roll(x, shift,
    axis), so an operation written with such a function exports with no line added here."""

    def __getattr__(cls, name):
        function = getattr(torch, name)  # an AttributeError names what neither has
        return lambda x, *rest, **kw: function(t(x), *rest, **kw)


class xp(metaclass=same_names):
    """numpy's names over torch, float64, for the expressions and kernels below."""

    nan, inf, float64, int64 = math.nan, math.inf, torch.float64, torch.int64
    exp, log, sin, cos, tan, tanh, sqrt = (tensors(f) for f in (torch.exp, torch.log, torch.sin, torch.cos,
                                                                torch.tan, torch.tanh, torch.sqrt))
    abs = absolute = tensors(torch.abs)
    sign, floor, ceil, round = tensors(torch.sign), tensors(torch.floor), tensors(torch.ceil), tensors(torch.round)
    log1p, expm1, log2, log10, exp2 = (tensors(f) for f in (torch.log1p, torch.expm1, torch.log2, torch.log10,
                                                            torch.exp2))
    square, reciprocal, sinh, cosh = tensors(torch.square), tensors(torch.reciprocal), tensors(torch.sinh), \\
        tensors(torch.cosh)
    arcsinh, arccosh, arctanh = tensors(torch.asinh), tensors(torch.acosh), tensors(torch.atanh)
    arcsin, arccos, arctan = tensors(torch.asin), tensors(torch.acos), tensors(torch.atan)
    arctan2, hypot, logaddexp = tensors(torch.atan2), tensors(torch.hypot), tensors(torch.logaddexp)
    maximum, minimum, power = tensors(torch.maximum), tensors(torch.minimum), tensors(torch.pow)
    isfinite, isnan, diff = tensors(torch.isfinite), tensors(torch.isnan), tensors(torch.diff)

    @staticmethod
    def matmul(a, b):
        return torch.matmul(*common(a, b))

    @staticmethod
    def asarray(x, dtype=None):
        return torch.as_tensor(x, dtype=dtype)

    @staticmethod
    def cbrt(x):
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)

    @staticmethod
    def clip(x, lo, hi):
        return torch.minimum(torch.maximum(t(x), t(lo)), t(hi))

    @staticmethod
    def where(c, a, b):
        # integers only when both branches are: an int64 branch beside a float64 one promotes, as in numpy
        ints = all(x.dtype == torch.int64 if isinstance(x, torch.Tensor) else type(x) is int for x in (a, b))
        t = torch.int64 if ints else torch.float64
        return torch.where(torch.as_tensor(c), torch.as_tensor(a, dtype=t), torch.as_tensor(b, dtype=t))

    @staticmethod
    def shape(x):
        return tuple(x.shape) if isinstance(x, torch.Tensor) else ()

    @staticmethod
    def ndim(x):
        return x.dim() if isinstance(x, torch.Tensor) else 0

    @staticmethod
    def size(x):
        return x.numel()

    @staticmethod
    def dims(axis):
        return None if axis is None else (axis if isinstance(axis, int) else tuple(axis))

    @staticmethod
    def reduced(axis):
        """amax's and amin's dim: () is every axis (axis 0 is an axis, not "none given")."""
        return () if axis is None else xp.dims(axis)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        x = torch.as_tensor(x)
        return x.sum() if axis is None and not keepdims else x.sum(dim=xp.dims(axis), keepdim=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        x = torch.as_tensor(x)
        return x.mean() if axis is None and not keepdims else x.mean(dim=xp.dims(axis), keepdim=keepdims)

    @staticmethod
    def max(x, axis=None, keepdims=False, initial=None):
        return xp.extreme(torch.amax, torch.maximum, x, axis, keepdims, initial)

    @staticmethod
    def min(x, axis=None, keepdims=False, initial=None):
        return xp.extreme(torch.amin, torch.minimum, x, axis, keepdims, initial)

    @staticmethod
    def extreme(reduce, pair, x, axis, keepdims, initial):
        """numpy's max or min: with `initial`, the reduction starts there (an empty axis gives it)."""
        x = t(x)
        if initial is None:
            return reduce(x, dim=xp.reduced(axis), keepdim=keepdims)
        shaped = x.sum(dim=xp.dims(axis), keepdim=keepdims) if axis is not None or keepdims else x.sum()
        start = torch.full_like(shaped, initial)
        return start if x.numel() == 0 else pair(reduce(x, dim=xp.reduced(axis), keepdim=keepdims), start)

    @staticmethod
    def frexp(x):
        return torch.frexp(t(x))

    @staticmethod
    def ldexp(x, e):
        x, e = torch.broadcast_tensors(t(x), torch.as_tensor(e))  # torch's ldexp writes into x's shape
        return torch.ldexp(x, e)

    @staticmethod
    def prod(x, axis=None, keepdims=False):
        x = t(x)
        if axis is None:
            out = x.prod()
            return out.reshape((1,) * x.dim()) if keepdims else out
        # the last axis first, counted from the front: reducing dim -1 first would renumber -2
        for a in sorted({a % x.dim() for a in ((axis,) if isinstance(axis, int) else axis)}, reverse=True):
            x = x.prod(dim=a, keepdim=keepdims)
        return x

    @staticmethod
    def var(x, axis=None, ddof=0, keepdims=False):
        return torch.var(t(x), dim=xp.dims(axis), correction=ddof, keepdim=keepdims)

    @staticmethod
    def std(x, axis=None, ddof=0, keepdims=False):
        return torch.std(t(x), dim=xp.dims(axis), correction=ddof, keepdim=keepdims)

    @staticmethod
    def cumsum(x, axis=None):
        x = t(x)
        return torch.cumsum(x.reshape(-1) if axis is None else x, dim=0 if axis is None else axis)

    @staticmethod
    def cumprod(x, axis=None):
        x = t(x)
        return torch.cumprod(x.reshape(-1) if axis is None else x, dim=0 if axis is None else axis)

    @staticmethod
    def concatenate(xs, axis=0):
        return torch.cat([torch.as_tensor(x) for x in xs], dim=axis)

    @staticmethod
    def stack(xs, axis=0):
        return torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in xs], dim=axis)

    @staticmethod
    def reshape(x, shape):
        return torch.reshape(torch.as_tensor(x), tuple(shape) if not isinstance(shape, int) else (shape,))

    @staticmethod
    def broadcast_to(x, shape):
        return torch.broadcast_to(torch.as_tensor(x), tuple(shape))

    @staticmethod
    def expand_dims(x, axis):
        return torch.unsqueeze(t(x), axis)

    @staticmethod
    def squeeze(x, axis=None):
        return torch.squeeze(t(x)) if axis is None else torch.squeeze(t(x), axis)

    @staticmethod
    def moveaxis(x, a, b):
        return torch.movedim(t(x), a, b)

    @staticmethod
    def swapaxes(x, a, b):
        return torch.swapaxes(t(x), a, b)

    @staticmethod
    def transpose(x, axes=None):
        x = t(x)
        return x if x.dim() == 0 else x.permute(*(range(x.dim() - 1, -1, -1) if axes is None else axes))

    @staticmethod
    def argsort(axes):
        return sorted(range(len(axes)), key=lambda i: axes[i])

    @staticmethod
    def sort(x, axis=-1):
        x = t(x)  # torch's sort gives (values, indices); numpy's the values
        return torch.sort(x.reshape(-1) if axis is None else x, dim=0 if axis is None else axis).values

    @staticmethod
    def flip(x, axis=None):
        x = t(x)
        return torch.flip(x, tuple(range(x.dim())) if axis is None else ((axis,) if isinstance(axis, int) else axis))

    # numpy's (x, k) over torch's, a number taken as a tensor
    tril, triu, diag, diagonal = (staticmethod(lambda x, k=0, f=f: f(t(x), k))
                                  for f in (torch.tril, torch.triu, torch.diag, torch.diagonal))

    @staticmethod
    def trace(x, axis1=0, axis2=1):
        return torch.diagonal(t(x), 0, axis1, axis2).sum(-1)

    @staticmethod
    def eye(n, m=None, k=0):
        rows, cols = torch.arange(n).unsqueeze(1), torch.arange(n if m is None else m).unsqueeze(0)
        return (cols - rows == k).to(torch.float64)

    @staticmethod
    def zeros(shape):
        return torch.zeros(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=torch.float64)

    @staticmethod
    def ones(shape):
        return torch.ones(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=torch.float64)

    @staticmethod
    def full(shape, value):
        return torch.full(tuple(shape), value, dtype=torch.float64)

    @staticmethod
    def ones_like(x):
        return torch.ones_like(torch.as_tensor(x, dtype=torch.float64))

    @staticmethod
    def arange(n):
        return torch.arange(n)

    @staticmethod
    def einsum(spec, *xs, optimize=False):
        return torch.einsum(spec, *common(*xs))

    @staticmethod
    def dot(a, b):
        a, b = t(a), t(b)
        return xp.matmul(a, b) if a.dim() and b.dim() else a * b

    class linalg:
        solve, inv, det, cholesky = torch.linalg.solve, torch.linalg.inv, torch.linalg.det, torch.linalg.cholesky
        eigvalsh, eigh, svd = torch.linalg.eigvalsh, torch.linalg.eigh, torch.linalg.svd

        @staticmethod
        def slogdet(a):
            return torch.linalg.slogdet(a)
'''

TORCH_OVERRIDES = {
    "erf": '''
def erf(x):
    """The error function, elementwise."""
    return torch.special.erf(torch.as_tensor(x, dtype=torch.float64))''',
    "erfc": '''
def erfc(x):
    """The complementary error function 1 - erf(x), exact in the tail."""
    return torch.special.erfc(torch.as_tensor(x, dtype=torch.float64))''',
    "pick": '''
def pick(x, index):
    """x[index] with numpy's meaning; torch has no negative steps, so those axes are flipped first."""
    index = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(i, slice) and i.step is not None and i.step < 0 for i in index):
        return x[index]
    out, axis = [], 0
    for i in index:
        if i is Ellipsis:
            axis += x.dim() - sum(1 for j in index if j is not None and j is not Ellipsis)
        elif i is not None:
            if isinstance(i, slice) and i.step is not None and i.step < 0:
                n = x.shape[axis]
                kept = range(*i.indices(n))
                x = x.flip(axis)  # position p of x is n - 1 - p of the flipped axis
                i = slice(n - 1 - kept[0], n - kept[-1], -i.step) if len(kept) else slice(0, 0)
            axis += 1
        out.append(i)
    return x[tuple(out)]''',
    "positions": '''
def positions(shape, index):
    """The flat position of every element an index picks (static: shapes and constant indices)."""
    return pick(torch.arange(math.prod(shape)).reshape(tuple(shape)), index)''',
    "index_vjp": '''
def index_vjp(g, shape, index):
    """The transpose of basic indexing: ḡ added at the picked positions of zeros (no in-place write)."""
    flat = torch.zeros(math.prod(shape), dtype=torch.float64)
    return flat.index_add(0, positions(shape, index).reshape(-1), g.reshape(-1)).reshape(tuple(shape))''',
    "gather_vjp": '''
def gather_vjp(g, xs, layout):
    """The transpose of a gather: ḡ added into zeros of the operand's shape, repeats summed."""
    shape = tuple(xs[0].shape)
    flat = torch.zeros(math.prod(shape), dtype=torch.float64)
    picked = positions(shape, index_of(layout, xs)).reshape(-1)
    return flat.index_add(0, picked, g.reshape(-1)).reshape(shape)''',
    "gather": '''
def gather(xs, layout):
    """Integer-array indexing (numpy's advanced indexing)."""
    return pick(xs[0], index_of(layout, xs))''',
    "set_at": '''
def set_at(x, v, index):
    """x with x[index] replaced by v, as a new tensor: index_put on a flat copy (x itself is never
    written, so autograd and torch.func follow it)."""
    x = torch.as_tensor(x)
    shape = tuple(x.shape)
    where = positions(shape, index)
    values = torch.broadcast_to(torch.as_tensor(v, dtype=x.dtype), tuple(where.shape))
    return x.reshape(-1).index_put((where.reshape(-1),), values.reshape(-1)).reshape(shape)''',
    "zero_at": '''
def zero_at(g, index):
    """ḡ with 0 at x[index]: the overwritten elements pass nothing back to the old x."""
    return set_at(g, torch.zeros((), dtype=torch.float64), index)''',
    "one_hot": '''
def one_hot(y, k):
    """1.0 where the last axis equals y, 0.0 elsewhere."""
    return (y.unsqueeze(-1) == torch.arange(k)).to(torch.float64)''',
}

TORCH_OVERRIDES.update(framework_linalg("torch", "xp"))
TORCH_OVERRIDES.update(framework_strong("torch", "xp"))
TORCH_OVERRIDES.update(framework_static("xp"))
# torch.linalg raises on a singular or indefinite matrix, where adcli's numbers are NaN: the _ex
# forms report failure per matrix instead, and those results become NaN, as the engine's are.
TORCH_OVERRIDES.update({
    "failed_nan": '''
def failed_nan(result, info):
    """NaN in each matrix's result whose factorisation failed (info != 0), the result elsewhere."""
    bad = (info != 0).reshape(info.shape + (1,) * (result.dim() - info.dim()))
    return torch.where(bad, torch.full_like(result, math.nan), result)''',
    "inv": '''
def inv(a):
    """A⁻¹; NaN where A is singular."""
    return failed_nan(*torch.linalg.inv_ex(a))''',
    "cholesky": '''
def cholesky(a):
    """The lower Cholesky factor of the symmetric part of A; NaN where it is not positive definite."""
    return failed_nan(*torch.linalg.cholesky_ex(symmetric(a)))''',
    "solve": '''
def solve(a, b):
    """A⁻¹b for b a vector or a matrix; NaN where A is singular."""
    if b.dim() == a.dim() - 1:
        return failed_nan(*torch.linalg.solve_ex(a, b.unsqueeze(-1))).squeeze(-1)
    return failed_nan(*torch.linalg.solve_ex(a, b))''',
})

TORCH = Target("torch", "PyTorch (float64; usable under torch.func and torch.compile)",
               ["import math", "", "import torch", "", TORCH_NAMESPACE.strip("\n")], "xp", TORCH_OVERRIDES,
               "torch.tensor({}, dtype=torch.float64)", "torch.tensor({}, dtype=torch.int64)",
               " (over torch; scatters as index_add)", picks=True,
               scalars={"float64": "t(", "int64": "torch.tensor(", "bool_": "torch.tensor("})

# A module exported for one value of an int input (range(n)) checks it: another value is an error,
# never the numbers of the loop it was not exported for. Traced (under jit), the value is unknown.
EXPORTED_FOR = '''
def exported_for(x, value, name):
    """Check an input the module was exported for one value of (a number the file needs as it is read)."""
    if x.ndim:
        raise ValueError(f"{name} must be one whole number, not an array of shape {list(x.shape)}")
    try:
        given = int(x)
    except TypeError:  # a traced value (jit): not known until the function runs
        return
    if given != value:
        raise ValueError(f"{name} = {given}: this module was exported for {name} = {value}, a number the file "
                         "needs as it is read; export the file again with this value")'''
for overrides in (JAX_OVERRIDES, TORCH_OVERRIDES):
    overrides["exported_for"] = EXPORTED_FOR

NUMPY = Target("numpy", "numpy (it needs numpy only)", ["import numpy as np"], "np",  # adcli's own kernels
               {"exported_for": EXPORTED_FOR})

TARGETS = {t.name: t for t in (NUMPY, JAX, TORCH)}
