"""adcli against PyTorch (float64) for every registry operation, at edge values, and for the
language's constructs (indexing, gathers, where, labels, def, loops, data), in reverse and forward mode.

Every registry operation is applied to the cases of tests/op_cases.py inside a small .ad file
whose loss weights the result with fixed random numbers, and the same function is written by hand
in PyTorch (the mapping TORCH below, which must name every differentiable operation). Edge values
(zeros, infinities, NaN, 1e200, 1e-300, exact ties) are compared element by element, NaN for NaN
and inf for inf; where adcli deliberately gives another number than PyTorch, the expected adcli
number is written out with the reason. Skipped where PyTorch is not installed.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import op_cases
import pytest

import adcli
from adcli.engine.forward import forward_grad, jvp
from adcli.operations import OPS

torch = pytest.importorskip("torch")
F = torch.nn.functional
# torch.func.jvp scripts a helper with the deprecated torch.jit.script: PyTorch's warning, not adcli's.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

RTOL = 1e-9  # relative to the largest element of the reference (random points)
TINY = 1e-300  # absolute tolerance of the element-by-element edge comparisons
SEEDS = range(4)


# ---------------------------------------------------------------------------------------------
# Helpers: tensors, PyTorch gradients, comparisons
# ---------------------------------------------------------------------------------------------

def tensor(value, grad: bool = False):
    """A numpy value as a float64 (or int64) tensor, tracked by autograd if `grad`."""
    array = np.asarray(value)
    if array.dtype.kind in "iu":
        return torch.tensor(array, dtype=torch.int64)
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


def torch_gradients(loss, tracked: dict) -> dict:
    """∂loss/∂t for every tracked tensor, zeros where loss does not depend on it."""
    names = list(tracked)
    grads = torch.autograd.grad(loss, [tracked[n] for n in names], allow_unused=True)
    return {n: (np.zeros(tuple(tracked[n].shape)) if g is None else g.detach().numpy())
            for n, g in zip(names, grads)}


def numbers(t) -> np.ndarray:
    """A tensor (or number) as a float64 numpy array."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy().astype(np.float64)
    return np.asarray(t, dtype=np.float64)


def assert_close(ours, theirs, what: str, rtol: float = RTOL) -> None:
    """Equal shapes, and values within rtol of the largest reference element."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1e-300)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, err_msg=what)


def scaled_norm(t, dim=None):
    """torch's vector norm of t scaled by a power of two near its largest magnitude: no overflow."""
    keep = dim is not None
    big = t.detach().abs().amax(dim=dim, keepdim=True) if keep else t.detach().abs().amax()
    scale = torch.ldexp(torch.ones_like(big), torch.frexp(big).exponent)
    out = torch.linalg.vector_norm(t / scale, dim=dim, keepdim=keep) * scale
    return out.squeeze(dim) if keep else out


def assert_same(ours, theirs, what: str, rtol: float = RTOL) -> None:
    """Element by element: NaN where NaN, +inf and -inf where they are, finite values within rtol."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{what}: NaN pattern")
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs), err_msg=f"{what}: +inf pattern")
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs), err_msg=f"{what}: -inf pattern")
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=rtol, atol=TINY, err_msg=what)


def f64(*values):
    """A float64 constant tensor: f64(1, 2) a vector, f64(3.0) a scalar."""
    return torch.tensor(values if len(values) > 1 else values[0], dtype=torch.float64)


def source_text(source: str) -> str:
    """A program written indented in this file, as a .ad file."""
    return textwrap.dedent(source).strip() + "\n"


def weights(shape, seed: int) -> np.ndarray:
    """A fixed random cotangent, so that the gradient is not a plain sum."""
    return np.random.default_rng(seed).normal(size=shape)


def data_names(source: str) -> set:
    """The inputs a source declares as data (never differentiated)."""
    return {line.split()[1].rstrip(":") for line in source.splitlines() if line.startswith("data ")}


def check_program(source: str, values: dict, fn, what: str, compare=assert_close, modes=("reverse", "forward")):
    """adcli's value and gradients of `source` against PyTorch's `fn(**tensors)`, in each mode;
    the gradients are those of every float input except data, in both."""
    program = adcli.parse(source, f"{what}.ad")
    tensors = {n: tensor(v, grad=np.asarray(v).dtype.kind == "f") for n, v in values.items()}
    loss = fn(**tensors)
    parameters = {n for n, t in tensors.items() if t.requires_grad} - data_names(source)
    theirs = torch_gradients(loss, {n: tensors[n] for n in parameters})
    for mode in modes:
        result = program.grad(**values) if mode == "reverse" else forward_grad(program, **values)
        assert set(result.grad) == parameters, (what, mode, sorted(result.grad))
        compare(result.value, numbers(loss), f"{what}: value ({mode} mode)")
        for n, g in theirs.items():
            compare(result.grad[n], g, f"{what}: {mode} ∂/∂{n}")
    return program, tensors, loss


# ---------------------------------------------------------------------------------------------
# Every registry operation written in PyTorch: name -> f(operands, params)
# ---------------------------------------------------------------------------------------------

def dims(x, p):
    """The reduced axes as PyTorch takes them: every axis for axis=None (never `()`, which
    torch.sum reads as every axis but other functions as none)."""
    axis = p.get("axis")
    return tuple(range(x.ndim)) if axis is None else axis


def keep(p) -> bool:
    """The keepdims parameter."""
    return bool(p.get("keepdims", False))


def matmul(a, b):
    """numpy's matmul, where a scalar on either side multiplies (adcli's @ and dot)."""
    return a * b if a.ndim == 0 or b.ndim == 0 else torch.matmul(a, b)


def prod(x, p):
    """torch.prod takes one axis: every axis is a flattened product."""
    if p.get("axis") is None:
        out = x.reshape(-1).prod(0)
        return out.reshape((1,) * x.ndim) if keep(p) else out
    return torch.prod(x, dim=p["axis"], keepdim=keep(p))


def cumsum(x, p):
    """numpy's cumsum: of the flattened array without an axis."""
    return x.reshape(-1).cumsum(0) if p.get("axis") is None else torch.cumsum(x, dim=p["axis"])


def cbrt(x):
    """PyTorch has no cube root: sign(x)·|x|^(1/3) (its derivative at 0 is NaN, not inf)."""
    return torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)


def basic_index(x, index):
    """numpy's basic indexing in PyTorch, whose slices cannot step backwards: such an axis is
    taken by an explicit list of positions instead."""
    if not any(isinstance(i, slice) and (i.step or 1) < 0 for i in index):
        return x[index]
    positions = np.ascontiguousarray(np.arange(x.numel()).reshape(tuple(x.shape))[index])
    return x.reshape(-1)[torch.tensor(positions, dtype=torch.int64)]


def set_part(x, v, index):
    """x with x[index] replaced by v (broadcast to the part), out of place: a clone, then assignment
    (autograd's CopySlices gives the overwritten elements of x no gradient). An index with a slice
    that steps backwards, which PyTorch's slices cannot, writes into the positions of the part, as
    `basic_index` reads them: x flattened, with those positions put by index_put (out of place)."""
    if not any(isinstance(i, slice) and (i.step or 1) < 0 for i in index):
        out = x.clone()
        out[index] = v
        return out
    positions = np.ascontiguousarray(np.arange(x.numel()).reshape(tuple(x.shape))[index])
    positions = torch.tensor(positions, dtype=torch.int64)
    flat = x.reshape(-1).index_put((positions,), torch.broadcast_to(v, tuple(positions.shape)))
    return flat.reshape(tuple(x.shape))


def gather(xs, layout):
    """Integer-array indexing: layout items are ints, slices, None or ("array", k) for xs[k]."""
    return xs[0][tuple(xs[item[1]] if isinstance(item, tuple) else item for item in layout)]


def running(fn, x, p):
    """numpy's running functions (cumprod, logcumsumexp): of the flattened array without an axis."""
    return fn(x.reshape(-1), 0) if p.get("axis") is None else fn(x, p["axis"])


def differences(x, p):
    """numpy's diff: n = 0 is x itself (torch.diff wants n ≥ 1)."""
    n = p.get("n", 1)
    return x if n == 0 else torch.diff(x, n=n, dim=p.get("axis", -1))


def digamma(x, p):
    """ψ⁽ⁿ⁾: torch.polygamma, digamma itself for n = 0."""
    n = p.get("n", 0)
    return torch.polygamma(n, x) if n else torch.digamma(x)


def solve_triangular(a, b, p):
    """PyTorch's solve_triangular takes matrices only: a vector b is a one-column matrix."""
    vector = b.ndim == a.ndim - 1
    x = torch.linalg.solve_triangular(a, b.unsqueeze(-1) if vector else b, upper=not p.get("lower", True))
    return x.squeeze(-1) if vector else x


def unary(fn):
    """f(operands, params) from a function of one tensor."""
    return lambda xs, p: fn(xs[0])


def binary(fn):
    """f(operands, params) from a function of two tensors."""
    return lambda xs, p: fn(xs[0], xs[1])


TORCH = {
    # operators and comparisons' neighbours
    "add": binary(torch.add),
    "sub": binary(torch.sub),
    "mul": binary(torch.mul),
    "div": binary(torch.div),
    "pow": binary(torch.pow),
    "neg": unary(torch.neg),
    "matmul": binary(matmul),
    "where": lambda xs, p: torch.where(xs[0], xs[1], xs[2]),
    "clip": lambda xs, p: torch.clamp(xs[0], xs[1], xs[2]),
    # elementwise of two operands
    "maximum": binary(torch.maximum),
    "minimum": binary(torch.minimum),
    "atan2": binary(torch.atan2),
    "hypot": binary(torch.hypot),
    "logaddexp": binary(torch.logaddexp),
    # elementwise of one operand
    "relu": unary(torch.relu),
    "abs": unary(torch.abs),
    "exp": unary(torch.exp),
    "log": unary(torch.log),
    "sqrt": unary(torch.sqrt),
    "sin": unary(torch.sin),
    "cos": unary(torch.cos),
    "tan": unary(torch.tan),
    "tanh": unary(torch.tanh),
    "sigmoid": unary(torch.sigmoid),
    "log1p": unary(torch.log1p),
    "expm1": unary(torch.expm1),
    "log2": unary(torch.log2),
    "log10": unary(torch.log10),
    "exp2": unary(torch.exp2),
    "square": unary(torch.square),
    "cbrt": unary(cbrt),
    "reciprocal": unary(torch.reciprocal),
    "sinh": unary(torch.sinh),
    "cosh": unary(torch.cosh),
    "asinh": unary(torch.asinh),
    "acosh": unary(torch.acosh),
    "atanh": unary(torch.atanh),
    "asin": unary(torch.asin),
    "acos": unary(torch.acos),
    "atan": unary(torch.atan),
    "erf": unary(torch.erf),
    "erfc": unary(torch.erfc),
    "softplus": unary(F.softplus),
    "gelu": unary(lambda x: F.gelu(x, approximate="none")),
    "silu": unary(F.silu),
    "elu": lambda xs, p: F.elu(xs[0], alpha=p.get("alpha", 1.0)),
    "leaky_relu": lambda xs, p: F.leaky_relu(xs[0], negative_slope=p.get("slope", 0.01)),
    "log_sigmoid": unary(F.logsigmoid),
    "gammaln": unary(torch.lgamma),
    "digamma": lambda xs, p: digamma(xs[0], p),
    "xlogy": binary(torch.xlogy),
    "xlog1py": binary(torch.special.xlog1py),
    "sinc": unary(torch.sinc),
    "sign": unary(torch.sign),
    "floor": unary(torch.floor),
    "ceil": unary(torch.ceil),
    "round": unary(torch.round),  # halves to even, as numpy
    # products and structure
    "dot": binary(matmul),  # numpy's dot is matmul for scalars, vectors and matrices
    "outer": binary(lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1))),
    "kron": binary(torch.kron),
    "einsum": lambda xs, p: torch.einsum(p["spec"], *xs),
    "transpose": lambda xs, p: xs[0].permute(
        tuple(reversed(range(xs[0].ndim))) if p.get("axes") is None else tuple(p["axes"])),
    "stack": lambda xs, p: torch.stack(xs, dim=p.get("axis", 0)),
    "concat": lambda xs, p: torch.cat(xs, dim=p.get("axis", 0)),
    "reshape": lambda xs, p: xs[0].reshape(p["shape"]),
    "expand_dims": lambda xs, p: xs[0].unsqueeze(p.get("axis", 0)),
    "squeeze": lambda xs, p: xs[0].squeeze() if p.get("axis") is None else xs[0].squeeze(p["axis"]),
    "roll": lambda xs, p: torch.roll(xs[0], p.get("shift", 0), p.get("axis")),
    "flip": lambda xs, p: torch.flip(xs[0], dims=dims(xs[0], p) if p.get("axis") is None else (p["axis"],)),
    "broadcast_to": lambda xs, p: torch.broadcast_to(xs[0], p["shape"]),
    "diag": lambda xs, p: torch.diag(xs[0], p.get("k", 0)),
    "trace": lambda xs, p: torch.diagonal(xs[0]).sum(),
    "tril": lambda xs, p: torch.tril(xs[0], p.get("k", 0)),
    "triu": lambda xs, p: torch.triu(xs[0], p.get("k", 0)),
    # reductions and the softmax family
    "sum": lambda xs, p: torch.sum(xs[0], dim=dims(xs[0], p), keepdim=keep(p)),
    "mean": lambda xs, p: torch.mean(xs[0], dim=dims(xs[0], p), keepdim=keep(p)),
    "amax": lambda xs, p: torch.amax(xs[0], dim=dims(xs[0], p), keepdim=keep(p)),  # ties split evenly
    "amin": lambda xs, p: torch.amin(xs[0], dim=dims(xs[0], p), keepdim=keep(p)),
    "prod": lambda xs, p: prod(xs[0], p),
    "var": lambda xs, p: torch.var(xs[0], dim=dims(xs[0], p), correction=p.get("ddof", 0), keepdim=keep(p)),
    "std": lambda xs, p: torch.std(xs[0], dim=dims(xs[0], p), correction=p.get("ddof", 0), keepdim=keep(p)),
    "norm": lambda xs, p: torch.linalg.vector_norm(xs[0], ord=2, dim=dims(xs[0], p), keepdim=keep(p)),
    "cumsum": lambda xs, p: cumsum(xs[0], p),
    "cumprod": lambda xs, p: running(torch.cumprod, xs[0], p),
    "logcumsumexp": lambda xs, p: running(torch.logcumsumexp, xs[0], p),
    "diff": lambda xs, p: differences(xs[0], p),
    "sort": lambda xs, p: running(lambda x, dim: torch.sort(x, dim=dim).values, xs[0], {"axis": -1, **p}),
    "softmax": lambda xs, p: torch.softmax(xs[0], dim=p.get("axis", -1)),
    "log_softmax": lambda xs, p: torch.log_softmax(xs[0], dim=p.get("axis", -1)),
    "logsumexp": lambda xs, p: torch.logsumexp(xs[0], dim=p.get("axis", -1), keepdim=keep(p)),
    # linear algebra (cholesky and eigvalsh are fed symmetric matrices)
    "solve": binary(torch.linalg.solve),
    "inv": unary(torch.linalg.inv),
    "det": unary(torch.linalg.det),
    "logdet": unary(lambda a: torch.linalg.slogdet(a)[1]),
    "cholesky": unary(torch.linalg.cholesky),
    "eigvalsh": unary(torch.linalg.eigvalsh),
    "solve_triangular": lambda xs, p: solve_triangular(xs[0], xs[1], p),
    # indexing
    "getitem": lambda xs, p: basic_index(xs[0], p["index"]),
    "setitem": lambda xs, p: set_part(xs[0], xs[1], p["index"]),
    "gather": lambda xs, p: gather(xs, p["layout"]),
    # fixed_point and root, with op_cases' functions, differentiated through the iterations unrolled
    # (autograd through every step), where adcli uses the implicit function theorem at the solution
    "fixed_point": lambda xs, p: unrolled(xs, lambda x, a: 0.5 * torch.sin(x) + a, 1100),  # 0.5**1100 is 0
    "root": lambda xs, p: unrolled(xs, lambda x, a: x - (x + 0.5 * torch.sin(x) - a) / (1 + 0.5 * torch.cos(x)), 60),
    "rule": lambda xs, p: xs[0] * xs[1] + torch.sin(xs[0]),  # op_cases' smooth, differentiated by autograd
    # op_cases' loop kept as a loop: its 64 steps on autograd's tape
    "loop": lambda xs, p: unrolled(xs, lambda h, b: 0.9 * h + 0.1 * torch.sin(h * b), 64),
    # op_cases' while loop: a Python while on autograd's tape, stopping where adcli's does
    "while": lambda xs, p: shrunk(*xs),
}


def shrunk(h, b):
    """op_cases' shrink(h, b): shrink h while any element is above 0.001 in size."""
    h = h.expand(torch.broadcast_shapes(h.shape, b.shape)) if h.shape != torch.broadcast_shapes(h.shape, b.shape) \
        else h
    for _ in range(500):
        if not bool(torch.max(torch.abs(h)) > 0.001):
            break
        h = 0.5 * h + 0.1 * h * torch.tanh(h * b)
    return h


def unrolled(xs, step, count):
    """x0 broadcast to the solution's shape, then `count` steps, all on autograd's tape."""
    x0, a = xs
    x = x0 + 0.0 * a if x0.dim() < a.dim() else x0
    for _ in range(count):
        x = step(x, a)
    return x


DIFFERENTIABLE = sorted(set(OPS) - op_cases.NO_DERIVATIVE)


def test_every_differentiable_operation_has_a_torch_mapping():
    """A newly registered operation must be written in PyTorch here (or have no derivative)."""
    missing = [name for name in DIFFERENTIABLE if name not in TORCH]
    assert not missing, f"operations with no PyTorch mapping in tests/test_peers_ops.py: {missing}"
    stale = sorted(set(TORCH) - set(OPS))
    assert not stale, f"PyTorch mappings for operations that are not registered: {stale}"
    assert not set(TORCH) & op_cases.NO_DERIVATIVE


# ---------------------------------------------------------------------------------------------
# Every operation at random points, against PyTorch, in both modes
# ---------------------------------------------------------------------------------------------

def op_program(name: str, xs: list, params: dict, seed: int):
    """(program, values, torch loss, tracked tensors) for `y = <op>(a, b, ...)` and
    `loss = sum(y * W)`, W fixed random data of y's shape. A boolean operand (where's
    condition) is the comparison `(a > 0)` of a float input, as in test_trace.case_program."""
    names = [chr(ord("a") + k) for k in range(len(xs))]
    values = {n: np.where(x, 1.0, -1.0) if x.dtype == bool else x for n, x in zip(names, xs)}
    tracked = {n: tensor(v, grad=True) for n, v in values.items() if v.dtype == np.float64}
    operands = [tracked[n] > 0 if x.dtype == bool else tracked[n] if n in tracked else tensor(values[n])
                for n, x in zip(names, xs)]
    y = TORCH[name](operands, params)
    values["W"] = weights(tuple(y.shape), seed)
    loss = (y * tensor(values["W"])).sum()
    lines = [op_cases.declaration(n, values[n]) for n in names]
    if name in op_cases.IMPLICIT_DEFS:  # the function fixed_point() or root() solves with
        lines.insert(0, op_cases.IMPLICIT_DEFS[name])
    lines.append(f"data W: [{', '.join(map(str, y.shape))}]")
    texts = [f"({n} > 0)" if x.dtype == bool else n for n, x in zip(names, xs)]
    lines.append(f"y = {op_cases.call_text(name, params, texts)}")
    lines.append("loss = sum(y * W)")
    return adcli.parse("\n".join(lines) + "\n", f"{name}.ad"), values, y, loss, tracked


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_operation_matches_pytorch(name):
    """Value, reverse-mode and forward-mode gradients of every case of the operation."""
    assert name in TORCH, f"no PyTorch mapping for '{name}'"
    for case, (xs, params) in enumerate(op_cases.points(name)):
        what = f"{name} case {case} {[x.shape for x in xs]} {params}"
        program, values, y, loss, tracked = op_program(name, xs, params, seed=100 + case)
        assert_close(program.eval(of="y", **values)["y"], numbers(y), f"{what}: value")
        theirs = torch_gradients(loss, tracked)
        reverse = program.grad(**values)
        forward = forward_grad(program, **values)
        assert_close(reverse.value, numbers(loss), f"{what}: loss")
        assert set(reverse.grad) == set(forward.grad) == set(tracked), what  # not W (data), not int labels
        for n, g in theirs.items():
            assert_close(reverse.grad[n], g, f"{what}: reverse ∂loss/∂{n}")
            assert_close(forward.grad[n], g, f"{what}: forward ∂loss/∂{n}")


def torch_hessian(loss, tracked: dict) -> dict:
    """∂²loss/∂a∂b for every pair of tracked tensors, each a.shape + b.shape, by double backward."""
    names = list(tracked)
    grads = torch.autograd.grad(loss, [tracked[n] for n in names], create_graph=True, allow_unused=True)
    blocks = {}
    for a, g in zip(names, grads):
        flat = torch.zeros(tuple(tracked[a].shape), dtype=torch.float64).reshape(-1) if g is None else g.reshape(-1)
        rows = []
        for k in range(flat.numel()):
            second = torch.autograd.grad(flat[k], [tracked[n] for n in names], retain_graph=True, allow_unused=True) \
                if flat.requires_grad else [None] * len(names)
            rows.append([np.zeros(tuple(tracked[n].shape)) if d is None else d.detach().numpy()
                         for n, d in zip(names, second)])
        for j, b in enumerate(names):
            blocks[(a, b)] = np.reshape(np.array([row[j] for row in rows]), tuple(tracked[a].shape) + tuple(tracked[b].shape))
    return blocks


@pytest.mark.parametrize("name", ["loop", "while", "fixed_point", "root", "rule"])
def test_second_derivatives_of_loops_and_equations_match_pytorch(name):
    """The Hessian of every case of a loop, a while loop, an equation and a user's rule, against
    PyTorch's double backward through the same steps on its tape (the equations: their iterations,
    run to convergence)."""
    from adcli.engine.matrices import hessian
    for case, (xs, params) in enumerate(op_cases.points(name)):
        what = f"{name} case {case} {[x.shape for x in xs]} {params}"
        program, values, _, loss, tracked = op_program(name, xs, params, seed=100 + case)
        ours, theirs = hessian(program, **values).blocks, torch_hessian(loss, tracked)
        assert any(np.any(block != 0) for block in theirs.values()), what  # a curved case, not a linear one
        for pair, block in theirs.items():
            assert_close(ours[pair], block, f"{what}: ∂²loss/∂{pair[0]}∂{pair[1]}", rtol=1e-7)


# ---------------------------------------------------------------------------------------------
# Edge values of elementwise operations: each value alone (scalar path and forward mode) and
# all together in one array (the numpy engine), element by element against PyTorch
# ---------------------------------------------------------------------------------------------

INF, NAN = math.inf, math.nan
BIG, HUGE, SMALL = 1e10, 1e200, 1e-300

# (operation, params, edge values): only values where PyTorch and adcli define the same number,
# or where adcli's deliberate difference is written in ADCLI_DERIVATIVE below.
EDGE_UNARY = [
    ("neg", {}, [0.0, -0.0, INF, -INF, HUGE]),
    ("relu", {}, [0.0, -0.0, -3.0, 3.0, HUGE, -HUGE, SMALL, -SMALL, INF, -INF]),
    ("abs", {}, [0.0, -0.0, -3.0, 3.0, HUGE, -HUGE, SMALL, -SMALL, INF, -INF]),
    ("exp", {}, [0.0, 1000.0, -1000.0, 709.0, 710.0, -745.0, INF, -INF, SMALL]),
    ("log", {}, [0.0, SMALL, HUGE, 1.0, -1.0, INF]),
    ("sqrt", {}, [0.0, SMALL, HUGE, 4.0, -1.0, INF]),
    ("sin", {}, [0.0, SMALL, -SMALL, 1e3, -BIG]),
    ("cos", {}, [0.0, SMALL, 1e3, -BIG, math.pi]),
    ("tan", {}, [0.0, SMALL, -1e3, math.pi / 2]),
    ("tanh", {}, [0.0, SMALL, 0.5, -3.0, 20.0, -20.0, 40.0, -40.0, 1000.0, -1000.0, INF, -INF]),
    ("sigmoid", {}, [0.0, SMALL, 2.0, -40.0, 40.0, -800.0, 800.0, 1000.0, -1000.0, INF, -INF]),
    ("log1p", {}, [-1.0, 0.0, SMALL, -SMALL, -2.0, HUGE, INF]),
    ("expm1", {}, [0.0, SMALL, -SMALL, 1000.0, -1000.0, 1e-10]),
    ("log2", {}, [0.0, SMALL, HUGE, -1.0, 8.0]),
    ("log10", {}, [0.0, SMALL, HUGE, -1.0, 1000.0]),
    ("exp2", {}, [0.0, 1024.0, -1100.0, -1074.0, 3.0]),
    ("square", {}, [0.0, HUGE, -HUGE, SMALL, -3.0, INF]),
    ("cbrt", {}, [8.0, -8.0, SMALL, -SMALL, HUGE, -27.0, 0.0]),
    ("reciprocal", {}, [0.0, -0.0, SMALL, -SMALL, HUGE, INF]),
    ("sinh", {}, [0.0, SMALL, 1000.0, -1000.0, 20.0]),
    ("cosh", {}, [0.0, SMALL, 1000.0, -1000.0, -20.0]),
    ("asinh", {}, [0.0, SMALL, -SMALL, BIG, HUGE, -HUGE]),
    ("acosh", {}, [1.0, 2.0, 0.5, BIG, HUGE]),
    ("atanh", {}, [0.0, SMALL, 1.0, -1.0, 2.0, 0.999]),
    ("asin", {}, [0.0, SMALL, 1.0, -1.0, 2.0]),
    ("acos", {}, [0.0, SMALL, 1.0, -1.0, -2.0]),
    ("atan", {}, [0.0, SMALL, BIG, HUGE, -HUGE, INF, -INF]),
    ("erf", {}, [0.0, SMALL, 3.0, -3.0, 6.0, -6.0, 26.0, -26.0, HUGE, INF, -INF]),
    ("erfc", {}, [0.0, SMALL, 3.0, -3.0, 6.0, -6.0, 26.0, -26.0, HUGE, INF, -INF]),
    ("softplus", {}, [0.0, SMALL, 30.0, -30.0, 1000.0, -1000.0, BIG, -BIG]),
    ("gelu", {}, [0.0, SMALL, 3.0, -3.0, 1000.0, -1000.0]),
    ("silu", {}, [0.0, SMALL, 40.0, -40.0, 1000.0, -1000.0]),
    ("elu", {}, [0.0, -0.0, SMALL, -SMALL, 1000.0, -1000.0, -HUGE]),
    ("elu", {"alpha": 0.5}, [0.0, -SMALL, -1000.0, 2.0]),
    ("leaky_relu", {}, [0.0, -0.0, SMALL, -SMALL, HUGE, -HUGE]),
    ("leaky_relu", {"slope": 0.2}, [0.0, -3.0, 3.0]),
    ("log_sigmoid", {}, [0.0, SMALL, 2.0, -3.0, 40.0, -40.0, 800.0, -800.0, 1000.0, -1000.0, INF, -INF]),
    ("gammaln", {}, [1.0, 2.0, 0.5, 1.5, 3.5, SMALL, 1e-8, HUGE, -0.5, -2.5, -1e-8, 0.0, -1.0, -3.0, INF]),
    ("digamma", {}, [1.0, 2.0, 0.5, 3.5, 1e-8, 20.0, HUGE, -0.5, -2.5, -1e-8, 0.0, -1.0]),
    ("digamma", {"n": 1}, [1.0, 0.5, 3.5, 1e-3, 20.0, -0.5, -2.5]),
    ("sinc", {}, [0.0, SMALL, 0.25, 0.5, 1.0, -2.0, 2.5, 1e3]),  # near 0 PyTorch's sinc′ cancels (1e-8: 36% off)
    ("sign", {}, [0.0, -0.0, SMALL, -SMALL, HUGE, -HUGE]),
    ("floor", {}, [0.0, -0.5, 0.5, 2.0, -2.0, HUGE, -SMALL]),
    ("ceil", {}, [0.0, -0.5, 0.5, 2.0, -2.0, HUGE, -SMALL]),
    ("round", {}, [0.0, 0.5, 1.5, 2.5, -0.5, -2.5, HUGE, -SMALL]),
]


def logistic_slope(x: float) -> float:
    """σ′(x) = e/(1+e)², e = exp(-|x|): the exact derivative, with no cancellation."""
    e = math.exp(-abs(x))
    return e / (1.0 + e) ** 2


def tanh_slope(x: float) -> float:
    """tanh′(x) = 4e/(1+e)², e = exp(-2|x|)."""
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / (1.0 + e) ** 2


# (operation, value) -> the derivative adcli gives where PyTorch's differs, and why.
ADCLI_DERIVATIVE = {
    # In the tails PyTorch forms σ(1 - σ) and 1 - tanh², which round to 0 (or lose every digit)
    # once σ or tanh rounds to ±1; adcli's rules are exact there (README, "Conventions").
    ("sigmoid", 40.0): logistic_slope(40.0),
    ("tanh", 20.0): tanh_slope(20.0),
    ("tanh", -20.0): tanh_slope(-20.0),
    ("tanh", 40.0): tanh_slope(40.0),
    ("tanh", -40.0): tanh_slope(-40.0),
    # PyTorch's (x² ± 1)^(-1/2) overflows to 0 for large x; adcli's 1/hypot(x, 1) and
    # 1/(√(x-1)·√(x+1)) give the true derivative 1/|x|.
    ("asinh", HUGE): 1.0 / HUGE,
    ("asinh", -HUGE): 1.0 / HUGE,
    ("acosh", HUGE): 1.0 / HUGE,
    # PyTorch has no cube root; the stand-in sign(x)·|x|^(1/3) has the derivative 0·inf = NaN at
    # 0, where cbrt′(0) = +inf (adcli's registry: "cbrt′(0) = inf").
    ("cbrt", 0.0): INF,
    # At a pole PyTorch's polygamma(1, x) (digamma's derivative) is a large finite number; ψ′(x) =
    # Σ 1/(x + k)² is +inf there, one term infinite and none negative.
    ("digamma", -1.0): INF,
    # sinc′(x) = -π²x/3 + … near 0: PyTorch's formula gives 0 for x this small.
    ("sinc", SMALL): -math.pi ** 2 * SMALL / 3,
}


def unary_reference(name, params, values):
    """PyTorch's values and derivatives at each edge value, with adcli's deliberate differences."""
    x = tensor(np.array(values), grad=True)
    y = TORCH[name]([x], params)
    (dx,) = torch.autograd.grad(y.sum(), [x], allow_unused=True)
    slopes = np.zeros(len(values)) if dx is None else dx.numpy().copy()
    for k, v in enumerate(values):
        if (name, v) in ADCLI_DERIVATIVE and not params:
            slopes[k] = ADCLI_DERIVATIVE[(name, v)]
    return numbers(y), slopes


def edge_weights(n: int) -> np.ndarray:
    """Weights 1, -1.25, 1.5, ...: of both signs, and never 0 (0·inf would make NaN)."""
    return np.array([(1.0 + 0.25 * k) * (-1.0) ** k for k in range(n)])


def edge_id(case):
    """A test id: the operation and its parameters."""
    name, params, _ = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


@pytest.mark.parametrize("case", EDGE_UNARY, ids=edge_id)
def test_unary_edge_values_match_pytorch(case):
    """Each edge value alone (reverse on floats, forward), then all of them in one array (reverse)."""
    name, params, values = case
    value, slope = unary_reference(name, params, values)
    call = op_cases.call_text(name, params, ["x"])
    scalar = adcli.parse(f"input x: []\ny = {call}\n")
    for k, v in enumerate(values):
        what = f"{name}({v})"
        reverse, forward = scalar.grad(x=v), forward_grad(scalar, x=v)
        assert_same(reverse.value, value[k], f"{what}: value")
        assert_same(forward.value, value[k], f"{what}: value (forward mode)")
        assert_same(reverse.grad["x"], slope[k], f"{what}: reverse derivative")
        assert_same(forward.grad["x"], slope[k], f"{what}: forward derivative")
    n = len(values)
    w = edge_weights(n)
    array = adcli.parse(f"input x: [{n}]\ndata W: [{n}]\ny = {call}\nloss = sum(y * W)\n")
    result = array.grad(x=np.array(values), W=w)
    assert_same(array.eval(of="y", x=np.array(values), W=w)["y"], value, f"{name} over {values}: values")
    assert_same(result.grad["x"], w * slope, f"{name} over {values}: reverse gradient")


# (operation, params, edge operand tuples)
EDGE_NARY = [
    ("add", {}, [(INF, -INF), (HUGE, HUGE * 1e108), (SMALL, -SMALL)]),
    ("sub", {}, [(INF, INF), (-HUGE * 1e108, HUGE * 1e108)]),
    ("mul", {}, [(HUGE, HUGE), (0.0, INF), (SMALL, SMALL), (-0.0, 3.0), (NAN, 0.0)]),
    ("div", {}, [(1.0, 0.0), (-1.0, 0.0), (0.0, 0.0), (1.0, -0.0), (HUGE, 1e-200), (SMALL, 10.0), (INF, INF)]),
    ("pow", {}, [(-4.0, 2.5), (0.0, 0.0), (0.0, 2.0), (0.0, 0.5), (0.0, -1.0), (-2.0, 3.0), (-2.0, 0.0),
                 (HUGE, 2.0), (2.0, BIG), (SMALL, 0.5), (4.0, -0.5), (1.0, INF), (-8.0, 1.0 / 3.0)]),
    ("maximum", {}, [(2.0, 2.0), (-0.0, 0.0), (HUGE, HUGE), (INF, INF), (-INF, -INF), (1.0, 3.0), (SMALL, 0.0)]),
    ("minimum", {}, [(2.0, 2.0), (-0.0, 0.0), (HUGE, HUGE), (INF, INF), (-INF, -INF), (1.0, 3.0), (SMALL, 0.0)]),
    # PyTorch's atan2 gradient divides by x² + y², which overflows at (HUGE, HUGE) and gives 0; adcli
    # divides by hypot twice (the true 1/(2·HUGE)), which tests/test_derivative_facts.py checks by mpmath.
    ("atan2", {}, [(1.0, 0.0), (0.0, -1.0), (-0.0, -1.0), (1e-150, 1e-150), (-1.0, -BIG)]),
    # atan2 has no derivative at the origin; PyTorch takes it as 0 (it zeroes the share where
    # y² + x² is 0), and adcli follows PyTorch's conventions where a derivative does not exist.
    pytest.param(("atan2", {}, [(0.0, 0.0), (-0.0, 0.0)]), id="atan2-origin"),
    ("hypot", {}, [(0.0, 0.0), (3.0, 4.0), (HUGE, HUGE), (SMALL, SMALL), (INF, 1.0), (-BIG, 1.0)]),
    ("logaddexp", {}, [(1000.0, 1000.0), (-1000.0, -1000.0), (1000.0, -1000.0), (0.0, 0.0), (-INF, 0.0),
                       (BIG, -BIG), (-745.0, -745.0)]),
    # at a bound (x == lo or x == hi, or lo == hi == x) the gradient goes to x, as PyTorch's clamp
    ("clip", {}, [(-1.0, -1.0, 1.0), (1.0, -1.0, 1.0), (2.0, 2.0, 2.0), (-3.0, -1.0, 1.0), (3.0, -1.0, 1.0),
                  (0.0, -1.0, 1.0), (HUGE, -1.0, INF), (-INF, -INF, 0.0)]),
    ("where", {}, [(1.0, INF, NAN), (-1.0, NAN, -INF), (1.0, 0.0, HUGE)]),
    # x = 0 is left to tests/test_derivative_facts.py: PyTorch takes ∂xlogy/∂x as 0 there (adcli: log y,
    # the partial derivative), and ∂/∂y at (0, 0) as 0/0 = NaN (adcli: 0, as xlogy is 0 all along x = 0)
    ("xlogy", {}, [(2.0, 3.0), (2.0, 0.0), (-1.0, 0.5), (HUGE, 2.0), (1.0, HUGE), (SMALL, SMALL), (1.0, INF)]),
    ("xlog1py", {}, [(2.0, 3.0), (2.0, -1.0), (0.0, 2.0), (-1.0, SMALL), (HUGE, 2.0), (1.0, HUGE)]),
]


def nary_reference(name, params, rows):
    """PyTorch's values and derivatives for each operand tuple (where's first operand is its
    condition: positive for true)."""
    columns = [tensor(np.array(c, dtype=np.float64), grad=True) for c in zip(*rows)]
    operands = [columns[0] > 0] + columns[1:] if name == "where" else columns
    y = TORCH[name](operands, params)
    grads = torch.autograd.grad(y.sum(), columns, allow_unused=True)
    return numbers(y), [np.zeros(len(rows)) if g is None else g.numpy() for g in grads]


@pytest.mark.parametrize("case", EDGE_NARY, ids=edge_id)
def test_binary_and_ternary_edge_values_match_pytorch(case):
    """Each operand tuple alone (reverse on floats, forward), then all of them as arrays (reverse)."""
    name, params, rows = case
    value, slopes = nary_reference(name, params, rows)
    names = ["a", "b", "c"][:len(rows[0])]
    texts = ["(a > 0)" if name == "where" and n == "a" else n for n in names]
    call = op_cases.call_text(name, params, texts)
    scalar = adcli.parse("".join(f"input {n}: []\n" for n in names) + f"y = {call}\n")
    for k, row in enumerate(rows):
        what = f"{call} at {row}"
        given = dict(zip(names, row))
        reverse, forward = scalar.grad(**given), forward_grad(scalar, **given)
        assert_same(reverse.value, value[k], f"{what}: value")
        assert_same(forward.value, value[k], f"{what}: value (forward mode)")
        for n, s in zip(names, slopes):
            assert_same(reverse.grad[n], s[k], f"{what}: reverse ∂/∂{n}")
            assert_same(forward.grad[n], s[k], f"{what}: forward ∂/∂{n}")
    m = len(rows)
    w = edge_weights(m)
    array = adcli.parse("".join(f"input {n}: [{m}]\n" for n in names) + f"data W: [{m}]\n"
                        f"y = {call}\nloss = sum(y * W)\n")
    given = {n: np.array(c, dtype=np.float64) for n, c in zip(names, zip(*rows))}
    result = array.grad(W=w, **given)
    assert_same(array.eval(of="y", W=w, **given)["y"], value, f"{call} over {rows}: values")
    for n, s in zip(names, slopes):
        assert_same(result.grad[n], w * s, f"{call} over {rows}: reverse ∂/∂{n}")


# ---------------------------------------------------------------------------------------------
# Edge values of reductions and the softmax family, and the power's NaN
# ---------------------------------------------------------------------------------------------

WIDE_ROWS = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, 1000.0], [-1000.0, -1000.0, -1000.0],
                      [BIG, 0.0, -BIG], [HUGE, 0.0, -HUGE], [-INF, 0.0, 1.0], [SMALL, -SMALL, 0.0]])
ROW_WEIGHTS = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0], [2.0, 1.0, -0.5], [-1.5, 0.75, 2.5],
                        [1.0, 2.0, 3.0], [-1.0, 0.5, 1.5], [2.0, -3.0, 1.0]])

# name -> (source, values, the same loss in PyTorch)
EDGE_PROGRAMS = {
    "softmax_wide": (
        "input X: [7, 3]\ndata W: [7, 3]\nloss = sum(softmax(X) * W)\n",
        {"X": WIDE_ROWS, "W": ROW_WEIGHTS},
        lambda X, W: (torch.softmax(X, dim=-1) * W).sum()),
    "softmax_wide_axis_0": (
        "input X: [5, 3]\ndata W: [5, 3]\nloss = sum(softmax(X, axis=0) * W)\n",
        {"X": WIDE_ROWS[[0, 1, 2, 3, 6]], "W": ROW_WEIGHTS[:5]},
        lambda X, W: (torch.softmax(X, dim=0) * W).sum()),
    "log_softmax_wide": (
        "input X: [7, 3]\ndata W: [7, 3]\nloss = sum(log_softmax(X) * W)\n",
        {"X": WIDE_ROWS, "W": ROW_WEIGHTS},
        lambda X, W: (torch.log_softmax(X, dim=-1) * W).sum()),
    "logsumexp_wide": (
        "input X: [7, 3]\ndata v: [7]\nloss = sum(logsumexp(X, axis=1) * v) + sum(logsumexp(X[:3], axis=0))\n",
        {"X": WIDE_ROWS, "v": ROW_WEIGHTS[:, 0]},
        lambda X, v: (torch.logsumexp(X, dim=1) * v).sum() + torch.logsumexp(X[:3], dim=0).sum()),
    "softplus_logaddexp_wide": (
        "input x: [4]\ninput y: [4]\nloss = sum(softplus(x) * [1, -2, 3, 0.5]) + sum(logaddexp(x, y))\n",
        {"x": np.array([1000.0, -1000.0, 1000.0, -1000.0]), "y": np.array([1000.0, -1000.0, -1000.0, 1000.0])},
        lambda x, y: (F.softplus(x) * f64(1.0, -2.0, 3.0, 0.5)).sum()
        + torch.logaddexp(x, y).sum()),
    "norm_at_zero": (
        "input x: [3]\ninput M: [3, 2]\ninput s: []\n"
        "loss = norm(x) + sum(norm(M, axis=1) * [1, -2, 3]) + sum(norm(M, axis=0, keepdims=True)) + norm(s)\n",
        {"x": np.zeros(3), "M": np.array([[0.0, 0.0], [3.0, 4.0], [0.0, -0.0]]), "s": 0.0},
        lambda x, M, s: torch.linalg.vector_norm(x)
        + (torch.linalg.vector_norm(M, dim=1) * f64(1.0, -2.0, 3.0)).sum()
        + torch.linalg.vector_norm(M, dim=0, keepdim=True).sum() + torch.linalg.vector_norm(s)),
    # adcli's norm scales by a power of two first, as hypot does, so ‖1e200·(1, 1, -1)‖ does not
    # overflow nor ‖(3e-300, 4e-300)‖ underflow; PyTorch's vector_norm squares first, so the
    # reference scales the same way (the norm does not depend on the scale).
    "norm_large_and_tiny": (
        "input x: [3]\ninput y: [2]\nloss = norm(x) + norm(y) * 2 + sum(norm([y * 1e290, y * 1e300], axis=1))\n",
        {"x": np.array([HUGE, HUGE, -HUGE]), "y": np.array([3e-300, 4e-300])},
        lambda x, y: scaled_norm(x) + scaled_norm(y) * 2 + scaled_norm(torch.stack([y * 1e290, y * 1e300]), 1).sum()),
    "max_min_ties": (
        "input x: [4]\ninput M: [2, 3]\n"
        "loss = max(x) - 2 * min(x) + sum(max(M, axis=1) * [1, -3]) + sum(min(M, axis=0, keepdims=True) * [2, 1, -1])"
        " + 0.5 * max(M) + sum(max(x, 3)) + sum(min(M, 1))\n",
        {"x": np.array([3.0, 1.0, 3.0, 1.0]), "M": np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 5.0]])},
        lambda x, M: torch.amax(x) - 2 * torch.amin(x)
        + (torch.amax(M, dim=1) * f64(1.0, -3.0)).sum()
        + (torch.amin(M, dim=0, keepdim=True) * f64(2.0, 1.0, -1.0)).sum()
        + 0.5 * torch.amax(M) + torch.maximum(x, f64(3.0)).sum()
        + torch.minimum(M, f64(1.0)).sum()),
    "clip_at_bounds": (
        "input x: [5]\ninput lo: []\ninput hi: [5]\nloss = sum(clip(x, lo, hi) * [1, 2, 3, 4, 5])\n",
        {"x": np.array([-1.0, 1.0, 0.0, -2.0, 3.0]), "lo": -1.0, "hi": np.array([1.0, 1.0, 0.0, 1.0, 2.0])},
        lambda x, lo, hi: (torch.clamp(x, lo, hi) * torch.arange(1.0, 6.0, dtype=torch.float64)).sum()),
    "var_constant": (  # var′ = 2(x - mean)/n is 0 where the values are equal
        "input x: [3]\ninput y: [3]\nloss = var(x) + var(y, ddof=1) * 3\n",
        {"x": np.full(3, 2.0), "y": np.full(3, -1e100)},
        lambda x, y: torch.var(x, correction=0) + torch.var(y, correction=1) * 3),
    # std has no derivative where std = 0 (all values equal); PyTorch takes it as 0 there (it
    # zeroes ḡ/(2·std) where std = 0), and adcli follows PyTorch's conventions at such points.
    "std_constant": (
        "input x: [3]\ninput M: [2, 3]\nloss = std(x) + sum(std(M, axis=1, ddof=1) * [1, 2])\n",
        {"x": np.full(3, 2.0), "M": np.array([[-1.0, -1.0, -1.0], [1.0, 2.0, 4.0]])},
        lambda x, M: torch.std(x, correction=0)
        + (torch.std(M, dim=1, correction=1) * f64(1.0, 2.0)).sum()),
    "large_reductions": (
        "input x: [3]\ninput M: [2, 2]\nloss = sum(x) + mean(x) * 2 + sum(cumsum(x) * [1, -1, 2]) + trace(M)"
        " + sum(M @ [1e-200, 1e200])\n",
        {"x": np.array([HUGE, -HUGE, 1e3]), "M": np.array([[HUGE, SMALL], [-SMALL, 1.0]])},
        lambda x, M: x.sum() + x.mean() * 2
        + (torch.cumsum(x, 0) * f64(1.0, -1.0, 2.0)).sum() + torch.trace(M)
        + (M @ f64(1e-200, 1e200)).sum()),
    "sqrt_log_at_zero": (
        "input x: []\nloss = sqrt(x) + log(x)\n", {"x": 0.0},
        lambda x: torch.sqrt(x) + torch.log(x)),
    "relu_abs_at_zero": (
        "input x: [3]\nloss = sum(relu(x) * [1, 2, 3]) + sum(abs(x) * [3, -2, 1]) + relu(x[0]) * abs(x[1])\n",
        {"x": np.array([0.0, -0.0, 0.0])},
        lambda x: (torch.relu(x) * f64(1.0, 2.0, 3.0)).sum()
        + (torch.abs(x) * f64(3.0, -2.0, 1.0)).sum() + torch.relu(x[0]) * torch.abs(x[1])),
}


@pytest.mark.parametrize("name", sorted(EDGE_PROGRAMS))
def test_edge_programs_match_pytorch(name):
    """Reductions, the softmax family, ties and bounds at edge values, element by element."""
    source, values, fn = EDGE_PROGRAMS[name]
    check_program(source, values, fn, name, compare=assert_same)


def test_prod_with_zeros_has_the_exact_gradient():
    """The product of the other elements, with no division: exact where elements are 0."""
    source = ("input x: [3]\ninput z: [3]\ninput M: [2, 3]\n"
              "loss = prod(x) + prod(z) + sum(prod(M, axis=1) * [1, -2]) + sum(prod(M, axis=0, keepdims=True))\n")
    values = {"x": np.array([2.0, 0.0, 3.0]), "z": np.array([0.0, 0.0, 3.0]),
              "M": np.array([[0.0, 1.5, 2.0], [3.0, 4.0, -5.0]])}

    def fn(x, z, M):
        return (x.prod() + z.prod() + (M.prod(dim=1) * f64(1.0, -2.0)).sum()
                + M.prod(dim=0, keepdim=True).sum())

    check_program(source, values, fn, "prod_zeros", compare=lambda a, b, what: np.testing.assert_array_equal(
        np.asarray(a, dtype=np.float64), b, err_msg=what))
    grad = adcli.parse(source).grad(**values).grad
    np.testing.assert_array_equal(grad["x"], [0.0, 6.0, 0.0])
    np.testing.assert_array_equal(grad["z"], [0.0, 0.0, 0.0])
    # row products weighted 1 and -2, plus column products: 1.5·2 + 3, 0·2 + 4, 0·1.5 - 5, ...
    np.testing.assert_array_equal(grad["M"], [[6.0, 4.0, -5.0], [40.0, 31.5, -22.0]])


@pytest.mark.parametrize("source, values, fn", [
    ("input x: [0]\nloss = sum(x)\n", {"x": np.zeros(0)}, lambda x: x.sum()),
    ("input x: [0]\nloss = mean(x)\n", {"x": np.zeros(0)}, lambda x: x.mean()),  # NaN, as numpy
    ("input M: [2, 0]\nloss = sum(sum(M, axis=1) * [1, 2])\n", {"M": np.zeros((2, 0))},
     lambda M: (M.sum(dim=1) * f64(1.0, 2.0)).sum()),
    ("input M: [2, 0]\nloss = sum(mean(M, axis=0))\n", {"M": np.zeros((2, 0))}, lambda M: M.mean(dim=0).sum()),
    ("input N: [0, 3]\nloss = sum(mean(N, axis=0) * [1, 2, 3])\n", {"N": np.zeros((0, 3))},
     lambda N: (N.mean(dim=0) * f64(1.0, 2.0, 3.0)).sum()),
    ("input N: [0, 3]\nloss = sum(N) + mean(sum(N, axis=0))\n", {"N": np.zeros((0, 3))},
     lambda N: N.sum() + N.sum(dim=0).mean()),
], ids=["sum", "mean", "sum_axis", "mean_axis_0_of_none", "mean_axis_0_nan", "sum_then_mean"])
def test_empty_arrays_match_pytorch(source, values, fn):
    """Sums of nothing are 0, means of nothing NaN; gradients are empty arrays of the input's shape."""
    check_program(source, values, fn, "empty", compare=assert_same)


def test_pow_negative_base_fractional_exponent_is_nan():
    """x ** 2.5 at x = -4: value NaN and gradient NaN, never a finite number, in both modes."""
    for source, values, fn in [
        ("input x: []\nloss = x ** 2.5\n", {"x": -4.0}, lambda x: x ** 2.5),
        ("input x: []\ninput p: []\nloss = x ** p\n", {"x": -4.0, "p": 2.5}, lambda x, p: x ** p),
        ("input x: [2]\nloss = sum(x ** 2.5 * [1, 0.5])\n", {"x": np.array([-4.0, -0.5])},
         lambda x: (x ** 2.5 * f64(1.0, 0.5)).sum()),
    ]:
        program, _, loss = check_program(source, values, fn, source.splitlines()[-1], compare=assert_same)
        assert math.isnan(float(loss.detach()))
        for result in (program.grad(**values), forward_grad(program, **values)):
            assert np.isnan(result.value)
            assert all(np.isnan(g).all() for g in result.grad.values()), result
    # The finite element of an array keeps its finite gradient (reverse mode).
    program = adcli.parse("input x: [2]\ny = x ** 2.5\nloss = sum(y * [1, 2])\n")
    result = program.grad(x=np.array([-4.0, 4.0]))
    assert np.isnan(result.grad["x"][0]) and result.grad["x"][1] == 2 * 2.5 * 4.0 ** 1.5


# ---------------------------------------------------------------------------------------------
# Forward mode where one element's local derivative is infinite or NaN
# ---------------------------------------------------------------------------------------------

# source, values, PyTorch's loss, an element whose partial derivative is finite
NON_FINITE_NEIGHBOURS = {
    "sqrt_at_0": ("input x: [2]\nloss = sum(sqrt(x) * [1, 2])\n", {"x": np.array([0.0, 4.0])},
                  lambda x: (torch.sqrt(x) * f64(1.0, 2.0)).sum(), (1,)),
    "log_at_0": ("input x: [2]\nloss = sum(log(x))\n", {"x": np.array([0.0, 2.0])},
                 lambda x: torch.log(x).sum(), (1,)),
    "std_of_a_constant_row": ("input M: [2, 3]\nloss = sum(std(M, axis=1))\n",
                              {"M": np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])},
                              lambda M: torch.std(M, dim=1, correction=0).sum(), (0, 2)),
}


@pytest.mark.parametrize("name", sorted(NON_FINITE_NEIGHBOURS))
def test_forward_mode_keeps_a_non_finite_local_derivative_in_its_element(name):
    """A pass seeded at one element must not take 0·inf = NaN from an element whose local derivative
    is infinite or NaN: the partial derivative exists, and reverse mode and torch.autograd give it.
    (PyTorch's own forward mode, torch.func.jvp and jacfwd, gives the same NaN as adcli here; the
    reference is the partial derivative, which docs/conventions.md says forward mode reproduces.)"""
    source, values, fn, at = NON_FINITE_NEIGHBOURS[name]
    program = adcli.parse(source)
    (x,) = values
    tracked = {x: tensor(values[x], grad=True)}
    theirs = torch_gradients(fn(**tracked), tracked)[x][at]
    what = f"{source.splitlines()[-1]} at {values[x].tolist()}, ∂/∂{x}{list(at)}"
    assert np.isfinite(theirs)
    assert_same(program.grad(**values).grad[x][at], theirs, f"{what}: reverse")
    direction = np.zeros_like(values[x])
    direction[at] = 1.0
    assert_same(forward_grad(program, **values).grad[x][at], theirs, f"{what}: forward")
    assert_same(jvp(program, {x: direction}, **values).tangent, theirs, f"{what}: jvp along that element")


# ---------------------------------------------------------------------------------------------
# The language's constructs against PyTorch: indexing, gathers, where, integer labels,
# functions, loops and data, at several random points, in both modes and along a tangent
# ---------------------------------------------------------------------------------------------

def normal(*shape):
    """A sampler of standard normal values of `shape`."""
    return lambda rng: rng.normal(size=shape)


def labels(k, *shape):
    """A sampler of integer labels in [0, k) of `shape`."""
    return lambda rng: rng.integers(0, k, size=shape)


def repeated(k, n):
    """n indices into an axis of k, negative ones included, with repeats (whose gradients add up)."""
    def sample(rng):
        index = rng.integers(-k, k, size=n)
        index[1] = index[0]
        index[-1] = index[0] - k if index[0] >= 0 else index[0] + k  # the same row, written the other way
        return index
    return sample


def rnn(Wh, Wx, b, h0, Xs, Ys):
    """The unrolled recurrent network of "rnn_loop"."""
    h, total = h0, 0.0
    for t in range(4):
        h = torch.tanh(Wh @ h + Wx @ Xs[t] + b)
        total = total + (h * Ys[t]).sum()
    return total + (h * h).sum()


def nested(x, M):
    """The pairs i < j of "nested_loops"."""
    s = 0.0
    for i in range(3):
        for j in range(i + 1, 3):
            s = s + x[i] * x[j] * M[i, j] + torch.sin(M[j, i] - x[i])
    return s * s + x.sum()


# name -> (.ad source, PyTorch function of the inputs as keyword arguments, input samplers)
CONSTRUCTS = {
    "basic_indexing": (
        """
        input x: [5]
        input A: [3, 4]
        u = x[1:] * x[:-1]
        v = x[::-1] * x + x[0] * x[-1]
        B = A[:, 1] * A[1, :3] + A[-1, ::2][0]
        C = x[:4, None] * A[None, 0, :]
        loss = sum(u * u) + sum(tanh(v)) + sum(B * B) + sum(sin(C)) + sum(A[::2, ::-1] * A[:2, :]) + A[-1, -2] ** 2
        """,
        lambda x, A: ((x[1:] * x[:-1]) ** 2).sum() + torch.tanh(x.flip(0) * x + x[0] * x[-1]).sum()
        + ((A[:, 1] * A[1, :3] + A[-1, ::2][0]) ** 2).sum() + torch.sin(x[:4, None] * A[None, 0, :]).sum()
        + (A[::2].flip(1) * A[:2, :]).sum() + A[-1, -2] ** 2,
        {"x": normal(5), "A": normal(3, 4)},
    ),
    "gathers_with_repeats": (
        """
        input E: [5, 3]
        input idx: int[6]
        input Z: [4, 3]
        input y: int[4]
        R = E[idx]
        s = Z[arange(4), y]
        loss = sum(R * R * [1, 2, 3]) + sum(exp(s)) + sum(E[idx, 1] * E[idx, 2]) + sum(Z[:, y] ** 2 * Z[:, 0])
        """,
        lambda E, idx, Z, y: (E[idx] * E[idx] * f64(1, 2, 3)).sum() + torch.exp(Z[torch.arange(4), y]).sum()
        + (E[idx, 1] * E[idx, 2]).sum() + (Z[:, y] ** 2 * Z[:, 0]).sum(),
        {"E": normal(5, 3), "idx": repeated(5, 6), "Z": normal(4, 3), "y": labels(3, 4)},
    ),
    "where": (
        """
        input x: [6]
        input y: [6]
        a = where(x > 0, x * x, -x)
        b = where(x > y, sin(x), cos(y) * 2)
        c = where(x < 0.3, 1, y)
        d = where(x != y, x, 0) * where(y <= 0, y, exp(y))
        loss = sum(a * y) + sum(b) + sum(c * x) + sum(d)
        """,
        lambda x, y: (torch.where(x > 0, x * x, -x) * y).sum()
        + torch.where(x > y, torch.sin(x), torch.cos(y) * 2).sum() + (torch.where(x < 0.3, 1.0, y) * x).sum()
        + (torch.where(x != y, x, 0.0) * torch.where(y <= 0, y, torch.exp(y))).sum(),
        {"x": normal(6), "y": normal(6)},
    ),
    "cross_entropy_labels": (
        """
        data X: [5, 3]
        input W: [3, 4]
        input b: [4]
        input y: int[5]
        Z = X @ W + b
        ce = -mean(log_softmax(Z)[arange(5), y])
        ce_hot = -mean(sum(one_hot(y, 4) * log_softmax(Z, axis=1), axis=1))
        ce_lse = mean(logsumexp(Z) - Z[arange(5), y])
        loss = ce + 0.5 * ce_hot + 0.25 * ce_lse + 0.01 * sum(W * W)
        """,
        lambda X, W, b, y: F.cross_entropy(X @ W + b, y)
        + 0.5 * -(F.one_hot(y, 4).double() * torch.log_softmax(X @ W + b, dim=1)).sum(dim=1).mean()
        + 0.25 * (torch.logsumexp(X @ W + b, dim=-1) - (X @ W + b)[torch.arange(5), y]).mean()
        + 0.01 * (W * W).sum(),
        {"X": normal(5, 3), "W": normal(3, 4), "b": normal(4), "y": labels(4, 5)},
    ),
    "function_used_twice": (
        """
        def f(z) = tanh(z) * z + 1
        input a: [3]
        input B: [3, 3]
        u = f(a)
        v = f(B @ a)
        loss = sum(u * v) + f(sum(a)) + sum(f(f(B)))
        """,
        lambda a, B: (
            (torch.tanh(a) * a + 1) * (torch.tanh(B @ a) * (B @ a) + 1)).sum()
        + torch.tanh(a.sum()) * a.sum() + 1
        + (torch.tanh(torch.tanh(B) * B + 1) * (torch.tanh(B) * B + 1) + 1).sum(),
        {"a": normal(3), "B": normal(3, 3)},
    ),
    "block_functions": (
        """
        def dense(W, b, h):
            z = W @ h + b
            return tanh(z) + 0.1 * z
        def score(u, v):
            s = u * v
            t = exp(-s * s)
            return sum(t * u)
        input x: [3]
        input W1: [4, 3]
        input b1: [4]
        input W2: [2, 4]
        input b2: [2]
        input c: [2]
        h1 = dense(W1, b1, x)
        h2 = dense(W2, b2, h1)
        loss = score(h2, c) + score(h1, h1[::-1])
        """,
        lambda x, W1, b1, W2, b2, c: (
            lambda dense, score: score(dense(W2, b2, dense(W1, b1, x)), c)
            + score(dense(W1, b1, x), dense(W1, b1, x).flip(0)))(
            lambda W, b, h: torch.tanh(W @ h + b) + 0.1 * (W @ h + b),
            lambda u, v: (torch.exp(-(u * v) * (u * v)) * u).sum()),
        {"x": normal(3), "W1": normal(4, 3), "b1": normal(4), "W2": normal(2, 4), "b2": normal(2), "c": normal(2)},
    ),
    "rnn_loop": (
        """
        input Wh: [3, 3]
        input Wx: [3, 2]
        input b: [3]
        input h0: [3]
        data Xs: [4, 2]
        data Ys: [4, 3]
        h = h0
        total = 0
        for t in range(4):
            h = tanh(Wh @ h + Wx @ Xs[t] + b)
            total = total + sum(h * Ys[t])
        loss = total + sum(h * h)
        """,
        rnn,
        {"Wh": normal(3, 3), "Wx": normal(3, 2), "b": normal(3), "h0": normal(3), "Xs": normal(4, 2),
         "Ys": normal(4, 3)},
    ),
    "nested_loops": (
        """
        input x: [3]
        input M: [3, 3]
        s = 0
        for i in range(3):
            for j in range(i + 1, 3):
                s = s + x[i] * x[j] * M[i, j] + sin(M[j, i] - x[i])
        loss = s * s + sum(x)
        """,
        nested,
        {"x": normal(3), "M": normal(3, 3)},
    ),
    "constants_and_constructors": (
        """
        input x: [3]
        input A: [3, 3]
        z = zeros([3]) + x * pi
        O = ones([3, 3]) * e + eye(3) * A
        m = min(x, inf) + max(x, -inf)
        loss = sum(z * z) + sum(O @ x) + sum(m * [1, 2, 3]) + sum(A[arange(3), arange(3)]) + sum(A[arange(3)] * A)
        """,
        lambda x, A: ((x * math.pi) ** 2).sum() + ((torch.ones(3, 3, dtype=torch.float64) * math.e
                                                    + torch.eye(3, dtype=torch.float64) * A) @ x).sum()
        + (2 * x * f64(1, 2, 3)).sum() + torch.diagonal(A).sum() + (A * A).sum(),
        {"x": normal(3), "A": normal(3, 3)},
    ),
}


def construct(name):
    """(.ad source, PyTorch function, samplers) of a construct."""
    source, fn, samplers = CONSTRUCTS[name]
    return source_text(source), fn, samplers


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_construct_matches_pytorch(name, seed):
    """Value and gradients in reverse and forward mode (data and integer labels get none)."""
    source, fn, samplers = construct(name)
    rng = np.random.default_rng(seed)
    values = {n: sample(rng) for n, sample in samplers.items()}
    program, _, _ = check_program(source, values, fn, f"{name} seed {seed}")
    assert program.inputs == list(samplers)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_construct_jvp_matches_pytorch_forward_mode(name, seed):
    """adcli's jvp along a random tangent against PyTorch's own forward mode (torch.func.jvp)."""
    source, fn, samplers = construct(name)
    rng = np.random.default_rng(100 + seed)
    values = {n: sample(rng) for n, sample in samplers.items()}
    program = adcli.parse(source)
    params = [n for n in program.inputs if n not in data_names(source)
              and np.asarray(values[n]).dtype.kind == "f"]
    directions = {n: rng.normal(size=np.shape(values[n])) for n in params}
    fixed = {n: tensor(v) for n, v in values.items() if n not in params}
    ours = jvp(program, directions, **values)
    value, tangent = torch.func.jvp(lambda *ps: fn(**dict(zip(params, ps)), **fixed),
                                    tuple(tensor(values[n]) for n in params),
                                    tuple(tensor(directions[n]) for n in params))
    assert_close(ours.value, numbers(value), f"{name} seed {seed}: value")
    assert_close(ours.tangent, numbers(tangent), f"{name} seed {seed}: tangent")


def test_repeated_gather_indices_add_up():
    """E[idx] with an index used three times gives that row three times the upstream gradient."""
    program = adcli.parse("input E: [3, 2]\ninput idx: int[4]\nloss = sum(E[idx] * [[1, 2], [3, 4], [5, 6], [7, 8]])\n")
    values = {"E": np.zeros((3, 2)), "idx": np.array([2, -1, 0, 2])}
    expected = np.array([[5.0, 6.0], [0.0, 0.0], [1.0 + 3.0 + 7.0, 2.0 + 4.0 + 8.0]])
    for result in (program.grad(**values), forward_grad(program, **values)):
        np.testing.assert_array_equal(result.grad["E"], expected)
        assert set(result.grad) == {"E"}
