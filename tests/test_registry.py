"""Every operation in the registry, checked the same way: text, shapes, vjp, jvp, conventions.

The generic tests are parametrized over `OPS` itself, so a new operation is tested as soon as it is
registered; `CASES` must then say on which shapes and at which points to check it.
"""

from __future__ import annotations

import numpy as np
import pytest
from op_cases import ALL_OPS, CASES, NO_DERIVATIVE, SPARSE, floats, points  # noqa: E402

import adcli
from adcli.operations import FUNCTIONS, OPS, Mismatch, fmt_shape
from adcli.operations.kernels import unbroadcast


def assert_close(actual, expected, rtol, what):
    """Elementwise agreement to `rtol`, relative to the largest expected element."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def forward(op, xs, params):
    return np.asarray(op.forward(*xs, **params), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# The registry itself
# ---------------------------------------------------------------------------------------------

def test_every_op_has_cases_and_no_case_is_stale():
    assert sorted(CASES) == ALL_OPS


@pytest.mark.parametrize("name", ALL_OPS)
def test_entry_is_complete(name):
    op = OPS[name]
    assert op.name == name
    n = op.nargs if op.nargs > 0 else 1  # a list's items share one rule (the last covers the rest)
    assert len(op.partials) in (n, len(op.vjp_code or ())) and len(op.vjp_text) >= min(n, 1)
    if op.elementwise:
        assert len(op.derivs) == op.nargs and op.vjp_code is None and op.jvp_code is None
    else:
        assert op.jvp_code is not None and op.vjp_code is not None
        if op.nargs > 0:
            assert len(op.vjps) == op.nargs
    assert (op.kink is None) == (op.convention == ""), "a kink needs its convention, and vice versa"
    if op.func:
        assert op in FUNCTIONS[op.func] and op.doc and op.signature
    assert op.flops is not None and op.deriv_flops is not None


@pytest.mark.parametrize("name", ALL_OPS)
def test_formulas_render_with_labels(name):
    op = OPS[name]
    labels = ["a1", "b2", "c3"][: op.nargs if op.nargs > 0 else 3]
    for scalar in (False, True):
        text = op.formula(labels, scalar=scalar)
        assert "{" not in text and "}" not in text, text
        for label in labels[:1 if op.show else 3]:
            assert label in text, f"{name}: '{label}' missing from {text!r}"
    for template in (*op.partials, *op.vjp_text):
        text = template.replace("{n}", "4").replace("{ddof}", "0").replace("{body}", "f").replace("{rule}", "f.vjp")
        text = text.format(*labels)
        assert text and "{" not in text and "}" not in text, text
    if name not in NO_DERIVATIVE and name not in {"less", "where"}:
        for template in op.vjp_text[:max(op.nargs, 1)]:
            assert "ḡ" in template or template == "0", f"{name}: a vjp text must show ḡ: {template!r}"


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_OPS)
def test_forward_shape_matches_shape_rule(name):
    op = OPS[name]
    for xs, params in points(name):
        out = forward(op, xs, params)
        assert out.shape == op.shape(*(x.shape for x in xs), **params), (name, [x.shape for x in xs], params)


def test_shape_rule_examples():
    assert OPS["add"].shape((2, 3), (3,)) == (2, 3)
    assert OPS["mul"].shape((4, 1, 3), (2, 1)) == (4, 2, 3)
    assert OPS["matmul"].shape((3,), (3,)) == ()
    assert OPS["matmul"].shape((2, 3), (3,)) == (2,)
    assert OPS["matmul"].shape((3,), (3, 4)) == (4,)
    assert OPS["matmul"].shape((2, 1, 2, 3), (5, 3, 4)) == (2, 5, 2, 4)
    assert OPS["matmul"].shape((), (2, 3)) == (2, 3)
    assert OPS["sum"].shape((2, 3, 4), axis=-1) == (2, 3)
    assert OPS["amax"].shape((2, 3, 4)) == ()
    assert OPS["softmax"].shape((2, 3), axis=0) == (2, 3)
    assert OPS["logsumexp"].shape((2, 3), axis=0) == (3,)
    assert OPS["stack"].shape((2,), (2,), (2,)) == (3, 2)
    assert OPS["transpose"].shape((2, 3, 4)) == (4, 3, 2)


# Shapes each rule must refuse, and words its message must contain.
BROADCAST = [("add", "'+'"), ("sub", "'-'"), ("mul", "'*'"), ("div", "'/'"), ("pow", "'**'"), ("maximum", "max()"),
             ("minimum", "min()"), ("atan2", "atan2()"), ("hypot", "hypot()"), ("logaddexp", "logaddexp()"),
             ("less", "'<'"), ("less_equal", "'<='"), ("greater", "'>'"), ("greater_equal", "'>='"),
             ("equal", "'=='"), ("not_equal", "'!='"), ("xlogy", "xlogy()"), ("xlog1py", "xlog1py()")]
AXIS = [(((2, 3),), {"axis": 2}, ["axis 2", "[2, 3]", "-2 to 1"]), (((2, 3),), {"axis": -3}, ["axis -3"]),
        (((),), {"axis": 0}, ["axis 0", "no axes"])]
SQUARE = [(((2, 3),), {}, ["square", "[2, 3]"]), (((3,),), {}, ["square", "[3]"])]
BAD_SHAPES = {
    **{name: [(((2, 3), (4,)), {}, ["[2, 3]", "[4]", "broadcast", symbol]),
              (((2, 3), (3, 2)), {}, ["[2, 3]", "[3, 2]"])] for name, symbol in BROADCAST},
    "where": [(((2,), (3,), ()), {}, ["where()", "[2]", "[3]"])],
    "clip": [(((2, 3), (4,), ()), {}, ["clip()", "[4]"])],
    "matmul": [(((2, 3), (4,)), {}, ["[2, 3]", "[4]", "(3)", "(4)"]),
               (((2, 3), (2, 3)), {}, ["[2, 3]", "second-to-last"]),
               (((3,), (4,)), {}, ["[3]", "[4]"]),
               (((2, 2, 3), (3, 3, 4)), {}, ["batch", "[2, 2, 3]", "[3, 3, 4]"])],
    "dot": [(((2, 3), (4,)), {}, ["dot()", "[2, 3]", "[4]"]), (((2, 2, 3), (3,)), {}, ["dot()", "einsum"])],
    "einsum": [(((2, 3),), {"spec": "ij"}, ["spec", "->"]), (((2, 3), (4, 5)), {"spec": "ij,jk->ik"}, ["index 'j'"]),
               (((2, 3),), {"spec": "ii->i"}, ["repeat"]), (((2, 3),), {"spec": "ij,jk->ik"}, ["2 operand"]),
               (((2, 3),), {"spec": "ijk->i"}, ["'ijk'", "[2, 3]"])],
    "stack": [(((2,), (3,)), {}, ["[2]", "[3]", "one shape"]), (((), (2,)), {}, ["[]", "[2]"]),
              (((2,), (2,)), {"axis": 3}, ["axis 3"])],
    "concat": [(((2, 3), (2, 4)), {"axis": 0}, ["[2, 3]", "[2, 4]"]), (((), ()), {"axis": 0}, ["scalar"]),
               (((2, 3),), {"axis": 2}, ["axis 2"])],
    "reshape": [(((2, 3),), {"shape": (4, 2)}, ["[2, 3]", "[4, 2]", "6"]), (((2, 3),), {"shape": (-1, -1)}, ["one -1"]),
                (((2, 3),), {"shape": (4, -1)}, ["cannot fit"])],
    "expand_dims": [(((2, 3),), {"axis": 3}, ["axis 3"])],
    "squeeze": [(((2, 3),), {"axis": 0}, ["length 1", "length 2"])],
    "flip": [(((2, 3),), {"axis": 2}, ["axis 2"])],
    "roll": [(((2, 3),), {"shift": 1, "axis": 2}, ["axis 2"]), (((3,),), {"shift": 1, "axis": (0, 0)}, ["one axis"])],
    "broadcast_to": [(((3,),), {"shape": (2, 4)}, ["[3]", "[2, 4]"]), (((2, 3),), {"shape": (3,)}, ["[2, 3]"])],
    "diag": [(((2, 3, 4),), {"k": 0}, ["vector", "[2, 3, 4]"])],
    "trace": [(((3,),), {}, ["matrix", "[3]"])],
    "tril": [(((3,),), {"k": 0}, ["matrix"])],
    "triu": [(((),), {"k": 0}, ["matrix"])],
    **{name: AXIS for name in ("sum", "mean", "prod", "var", "std", "norm")},
    **{name: AXIS + [(((0,),), {}, ["empty"]), (((2, 0),), {"axis": 1}, ["empty", "axis 1"])]
       for name in ("amax", "amin")},
    **{name: [(((2, 3),), {"axis": 2}, ["axis 2", name])] for name in ("cumsum", "cumprod", "logcumsumexp")},
    "diff": [(((),), {}, ["scalar"]), (((3,),), {"n": -1}, ["n = -1"]), (((2, 3),), {"axis": 2}, ["axis 2"])],
    "sort": [(((2, 3),), {"axis": 2}, ["axis 2"]), (((),), {"axis": -1}, ["scalar"])],
    **{name: AXIS + [(((0,),), {}, ["empty"]), (((2, 3),), {"axis": (0, 1)}, ["one axis"])]
       for name in ("argmax", "argmin")},
    "digamma": [(((2,),), {"n": -1}, ["n = -1", "0 to 170"]), (((),), {"n": 171}, ["n = 171"])],
    **{name: [(((),), {}, ["scalar"]), (((2, 3),), {"axis": 5}, ["axis 5", "[2, 3]"])]
       for name in ("softmax", "log_softmax", "logsumexp")},
    "solve": [(((2, 3), (2,)), {}, ["square", "[2, 3]"]), (((3, 3), (4,)), {}, ["[3, 3]", "[4]", "3 rows"])],
    "solve_triangular": [(((3, 3), (2, 2)), {}, ["3 rows"])],
    **{name: SQUARE for name in ("inv", "det", "logdet", "cholesky", "eigvalsh")},
    "getitem": [(((3,),), {"index": (3,)}, ["index 3", "size 3", "-3 to 2"]),
                (((3,),), {"index": (-4,)}, ["index -4"]), (((3,),), {"index": (0, 0)}, ["too many"]),
                (((3,),), {"index": (slice(None, None, 0),)}, ["step", "0"])],
    "setitem": [(((3,), ()), {"index": (3,)}, ["index 3", "size 3", "-3 to 2"]),
                (((2, 3), ()), {"index": (0, -4)}, ["index -4", "axis 1"]), (((3,), ()), {"index": (0, 0)}, ["too many"]),
                (((3,), ()), {"index": (slice(None, None, 0),)}, ["step", "0"]),
                (((3,), (2,)), {"index": (slice(None),)}, ["[2]", "[3]", "cannot be placed"]),
                (((4,), (1, 2)), {"index": (slice(1, 3),)}, ["[1, 2]", "[2]", "[4]"]),
                (((2, 3), (3,)), {"index": (0, slice(1, None))}, ["[3]", "[2]", "[2, 3]", "[0, 1:]"]),
                (((2, 3), (2, 1)), {"index": (slice(None, None, -1), 0)}, ["[2, 1]", "[2]", "[::-1, 0]"])],
    "gather": [(((3,), (2,), (2,)), {"layout": (("array", 1), ("array", 2))}, ["too many"]),
               (((3, 3), (2,), (3,)), {"layout": (("array", 1), ("array", 2))}, ["broadcast", "[2]", "[3]"])],
    "size": [(((2, 3),), {"axis": 2}, ["axis 2"])],
    "one_hot": [(((3,),), {"k": 0}, ["class"])],
    "filled": [],  # its sizes are the operands' own dimensions: nothing to refuse
    "fixed_point": [(((), ()), {"max_iter": 0}, ["max_iter", "at least 1"]), (((3,),), {"tol": -1.0}, ["tol", "-1"])],
    "root": [(((), ()), {"max_iter": 0}, ["max_iter", "at least 1"]), (((3,),), {"tol": float("nan")}, ["tol", "nan"])],
    "rule": [],  # its shapes are its function's: the function's own operations refuse, at their places
    "loop": [(((3,), (2,)), {"body": __import__("op_cases").IMPLICIT_PARAMS["loop"]["body"]},
              ["broadcast", "[3]", "[2]"])],  # its body's own operations refuse (h·b of [3] and [2])
    "while": [(((3,), (2,)), __import__("op_cases").IMPLICIT_PARAMS["while"],
               ["broadcast", "[3]", "[2]"]),
              (((3,), ()), {"max_iter": 0}, ["max_iter", "at least 1"])],
}
# Rules with nothing to refuse: any shape is fine.
ANY_SHAPE = {"neg", "relu", "abs", "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "transpose", "log1p",
             "expm1", "log2", "log10", "exp2", "square", "cbrt", "reciprocal", "sinh", "cosh", "asinh", "acosh",
             "atanh", "asin", "acos", "atan", "erf", "erfc", "softplus", "gelu", "silu", "elu", "leaky_relu", "sign",
             "floor", "ceil", "round", "outer", "log_sigmoid", "gammaln", "sinc", "kron"}


def test_every_op_is_in_one_shape_table():
    assert sorted(set(BAD_SHAPES) | ANY_SHAPE) == ALL_OPS
    assert not set(BAD_SHAPES) & ANY_SHAPE


@pytest.mark.parametrize("name", ALL_OPS)
def test_shape_rule_refuses_bad_shapes_readably(name):
    op = OPS[name]
    if name in ANY_SHAPE:
        for s in [(), (0,), (1,), (2, 3, 4, 5, 6)]:
            assert len(op.shape(*[s] * op.nargs)) == (2 if name == "outer" else len(s))
        return
    for shapes, params, phrases in BAD_SHAPES[name]:
        with pytest.raises(Mismatch) as info:
            op.shape(*shapes, **params)
        message = str(info.value)
        for phrase in phrases:
            assert phrase in message, f"{name}{shapes}: {phrase!r} not in {message!r}"


def test_fmt_shape():
    assert fmt_shape(()) == "[]"
    assert fmt_shape((3,)) == "[3]"
    assert fmt_shape((2, 3)) == "[2, 3]"


# ---------------------------------------------------------------------------------------------
# Derivatives against central finite differences in float64
# ---------------------------------------------------------------------------------------------

def numeric_vjp(op, xs, params, cotangent, k):
    """∂⟨cotangent, f(xs)⟩/∂xs[k] by central differences, one element at a time."""
    x = xs[k]
    grad = np.zeros(x.shape)
    for j in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[j]))
        values = []
        for step in (h, -h):
            moved = x.copy()
            moved[j] += step
            args = list(xs)
            args[k] = moved
            values.append(np.sum(cotangent * forward(op, args, params)))
        grad[j] = (values[0] - values[1]) / (2 * h)
    return grad


def numeric_jvp(op, xs, params, tangents):
    h = 1e-6
    plus = forward(op, [x + h * t for x, t in zip(xs, tangents)], params)
    minus = forward(op, [x - h * t for x, t in zip(xs, tangents)], params)
    return (plus - minus) / (2 * h)


DIFFERENTIABLE = [name for name in ALL_OPS if name not in NO_DERIVATIVE]
IMPLICIT = {"fixed_point", "root"}  # defined by an equation, solved from a starting point


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_vjp_matches_finite_differences(name):
    op = OPS[name]
    for xs, params in points(name):
        ans = op.forward(*xs, **params)
        cotangent = np.random.default_rng(7).normal(size=np.shape(ans))
        for k in floats(xs):
            got = np.asarray(op.vjp(k, cotangent, ans, xs, params))
            assert got.shape == xs[k].shape, (name, k, [x.shape for x in xs], got.shape)
            if name in IMPLICIT and k == 0:  # the solution does not depend on where the iteration starts:
                assert not np.any(got)  # differences would measure only the tolerance it stops at
                continue
            want = numeric_vjp(op, xs, params, cotangent, k)
            assert_close(got, want, 1e-6, f"{name} vjp {k} at shapes {[x.shape for x in xs]} {params}")


def tangents_for(rng, xs):
    return [rng.normal(size=x.shape) if x.dtype == np.float64 else None for x in xs]


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_jvp_matches_finite_differences(name):
    op = OPS[name]
    for xs, params in points(name):
        ans = op.forward(*xs, **params)
        tangents = tangents_for(np.random.default_rng(11), xs)
        filled = [np.zeros(x.shape) if t is None else t for t, x in zip(tangents, xs)]
        got = np.asarray(op.jvp(tangents if op.elementwise else filled, ans, xs, params))
        h = 1e-6
        moved = [x + h * t if t is not None else x for x, t in zip(xs, tangents)]
        back = [x - h * t if t is not None else x for x, t in zip(xs, tangents)]
        want = (forward(op, moved, params) - forward(op, back, params)) / (2 * h)
        assert_close(np.broadcast_to(got, want.shape), want, 1e-6, f"{name} jvp at {[x.shape for x in xs]} {params}")
        assert got.shape == np.shape(ans) or op.elementwise, (name, got.shape, np.shape(ans))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_vjp_and_jvp_agree(name):
    """⟨vjp(u), v⟩ == ⟨u, jvp(v)⟩: the two rules are transposes of one linear map."""
    op = OPS[name]
    for xs, params in points(name):
        ans = op.forward(*xs, **params)
        rng = np.random.default_rng(13)
        u = rng.normal(size=np.shape(ans))
        vs = tangents_for(rng, xs)
        filled = [np.zeros(x.shape) if v is None else v for v, x in zip(vs, xs)]
        left = sum(float(np.sum(np.asarray(op.vjp(k, u, ans, xs, params)) * vs[k])) for k in floats(xs))
        right = float(np.sum(u * op.jvp(vs if op.elementwise else filled, ans, xs, params)))
        assert abs(left - right) <= 1e-11 * max(abs(left), abs(right), 1e-300), (name, left, right)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_nan_is_never_hidden(name):
    """A NaN operand gives a NaN result; a NaN cotangent or tangent reaches every element it can."""
    op = OPS[name]
    for xs, params in points(name):
        ans = op.forward(*xs, **params)
        for k in floats(xs):
            poisoned = list(xs)
            poisoned[k] = np.full(xs[k].shape, np.nan)
            with np.errstate(invalid="ignore"):
                out = forward(op, poisoned, params)
            assert np.isnan(out).any() or out.size == 0 or name == "where", (name, k)  # where may not choose k
            if op.elementwise and name not in SPARSE:
                assert np.isnan(out).all(), (name, k)
            nan_cotangent = np.full(np.shape(ans), np.nan)
            with np.errstate(invalid="ignore"):
                back = np.asarray(op.vjp(k, nan_cotangent, ans, xs, params))
            if name in IMPLICIT and k == 0:  # the starting point's share is an exact 0, as a constant's
                assert not np.any(back), (name, k)
            elif op.elementwise:  # NaN wherever the local derivative is not an exact 0 (0·NaN is 0)
                with np.errstate(all="ignore"):
                    d = np.broadcast_to(op.derivs[k](ans, *xs, **params), np.shape(ans))
                moved = unbroadcast(np.where(d != 0, 1.0, 0.0), xs[k].shape) > 0
                assert np.array_equal(np.isnan(back), moved), (name, k)
            else:
                assert (np.isnan(back).any() if name in SPARSE else np.isnan(back).all()) or back.size == 0 \
                    or name == "where", (name, k)  # the branch where does not choose gets an exact 0
        tangents = [np.full(x.shape, np.nan) if x.dtype == np.float64 else np.zeros(x.shape) for x in xs]
        with np.errstate(invalid="ignore"):
            out = np.asarray(op.jvp(tangents, ans, xs, params))
        if op.elementwise:
            with np.errstate(all="ignore"):
                moved = sum(np.broadcast_to(op.derivs[k](ans, *xs, **params), np.shape(ans)) != 0 for k in floats(xs))
            assert np.array_equal(np.isnan(out), np.broadcast_to(moved > 0, np.shape(ans))), name
        else:
            assert (np.isnan(out).any() if name in SPARSE else np.isnan(out).all()) or out.size == 0, name


@pytest.mark.parametrize("name", sorted(NO_DERIVATIVE))
def test_no_derivative_means_zero(name):
    """Comparisons, sizes and one-hot labels carry no derivative: their vjp is zeros, no jvp."""
    op = OPS[name]
    assert op.dtype in ("bool", "int", "constant") or name == "one_hot"
    for xs, params in points(name):
        ans = op.forward(*xs, **params)
        for k in range(len(xs)):
            assert not np.any(op.vjp(k, np.ones(np.shape(ans)), ans, xs, params))


# ---------------------------------------------------------------------------------------------
# Conventions where a derivative does not exist (the same as PyTorch's)
# ---------------------------------------------------------------------------------------------

def grad(source, **values):
    result = adcli.parse(source).grad(**values)
    return float(result.value) if np.ndim(result.value) == 0 else result.value, result.grad


def test_relu_derivative_at_zero_is_zero():
    assert grad("y = relu(x)", x=0.0)[1]["x"] == 0.0
    assert grad("y = sum(relu(x))", x=[-1.0, 0.0, 2.0])[1]["x"].tolist() == [0.0, 0.0, 1.0]
    assert OPS["relu"].jvp([np.array(1.0)], 0.0, [np.array(0.0)], {}) == 0.0


def test_abs_derivative_at_zero_is_zero():
    assert grad("y = abs(x)", x=0.0)[1]["x"] == 0.0
    assert grad("y = sum(abs(x))", x=[-2.0, 0.0, 3.0])[1]["x"].tolist() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize("fn", ["max", "min"])
def test_elementwise_ties_split_evenly(fn):
    value, g = grad(f"y = {fn}(a, b)", a=2.0, b=2.0)
    assert value == 2.0 and g["a"] == 0.5 and g["b"] == 0.5
    # The same value on both sides still gets the whole gradient.
    assert grad(f"y = {fn}(a, a)", a=3.0)[1]["a"] == 1.0
    # The lecture's max(0, ·) at a tie with 0.
    assert grad(f"y = {fn}(0, x)", x=0.0)[1]["x"] == 0.5
    # Broadcast: a scalar tied with two of three elements collects two halves.
    _, g = grad(f"y = sum({fn}(v, s))", v=[1.0, 1.0, 5.0 if fn == "min" else -5.0], s=1.0)
    assert g["v"].tolist() == [0.5, 0.5, 0.0] and g["s"] == 2.0
    # With two positional arguments max and min are elementwise (the lecture's max(0, ·)).
    _, g = grad(f"y = sum({fn}(x, 0))", x=[0.0, 2.0, -2.0])
    assert g["x"].tolist() == ([0.5, 1.0, 0.0] if fn == "max" else [0.5, 0.0, 1.0])
    # Three-way tie through nesting: the outer tie halves, then the inner tie halves again.
    _, g = grad(f"y = {fn}({fn}(a, b), c)", a=1.0, b=1.0, c=1.0)
    assert (g["a"], g["b"], g["c"]) == (0.25, 0.25, 0.5)


@pytest.mark.parametrize("fn", ["max", "min"])
def test_reduction_ties_split_evenly(fn):
    top = 3.0 if fn == "max" else -3.0
    _, g = grad(f"y = {fn}(x)", x=[1.0 if fn == "max" else -1.0, top, top, top])
    np.testing.assert_allclose(g["x"], [0.0, 1 / 3, 1 / 3, 1 / 3], rtol=1e-15)
    # Along an axis each row splits on its own: three ties, two ties, none.
    rows = np.array([[top, top, top], [top, 0.0, top], [0.0, top, 0.0]])
    _, g = grad(f"y = sum({fn}(x, axis=1))", x=rows)
    np.testing.assert_allclose(g["x"], [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]], rtol=1e-15)
    _, g = grad(f"y = sum({fn}(x, axis=0))", x=rows.T)
    np.testing.assert_allclose(g["x"], [[1 / 3, 0.5, 0.0], [1 / 3, 0.0, 1.0], [1 / 3, 0.5, 0.0]], rtol=1e-15)


def test_sqrt_derivative_at_zero_is_infinite():
    assert grad("y = sqrt(x)", x=0.0)[1]["x"] == np.inf


def test_pow_at_zero():
    # d/dy x**y at x = 0 (y >= 0) is the limit 0, not 0·log 0 = NaN.
    assert grad("z = x ** y", x=0.0, y=2.0)[1]["y"] == 0.0
    assert grad("z = x ** y", x=0.0, y=0.0)[1]["y"] == 0.0
    # x**0 is the constant 1, so d/dx is 0, also at x = 0 (not 0·0**-1 = NaN).
    assert grad("z = x ** y", x=0.0, y=0.0)[1]["x"] == 0.0
    assert grad("z = x ** 0", x=5.0)[1]["x"] == 0.0
    # Elsewhere the usual rules; a negative base with an integer exponent is fine.
    value, g = grad("z = x ** y", x=-2.0, y=3.0)
    assert value == -8.0 and g["x"] == 12.0 and np.isnan(g["y"])  # log(-2) does not exist


def test_nan_propagates():
    value, g = grad("y = log(x)", x=-1.0)
    assert np.isnan(value) and g["x"] == -1.0  # the derivative 1/x still exists
    value, g = grad("y = x * x + 1", x=np.nan)
    assert np.isnan(value) and np.isnan(g["x"])
    value, g = grad("y = sum(relu(x)) + max(x) + logsumexp(x) + sum(softmax(x))", x=[1.0, np.nan])
    assert np.isnan(value) and np.isnan(g["x"]).all()
    # A NaN input is never answered with a clean zero, even where a kink rule applies.
    for source in ("y = relu(x)", "y = abs(x)", "y = max(x, 1)", "y = min(x, 1)", "y = max(1, x)"):
        value, g = grad(source, x=np.nan)
        assert np.isnan(value) and np.isnan(g["x"]), source


def test_infinity_propagates():
    value, g = grad("y = 1 / x", x=0.0)
    assert value == np.inf and g["x"] == -np.inf
    value, g = grad("y = exp(x)", x=1000.0)
    assert value == np.inf and g["x"] == np.inf


def test_sigmoid_and_tanh_derivatives_are_exact_in_the_tails():
    value, g = grad("y = sigmoid(x)", x=40.0)
    assert value == 1.0
    np.testing.assert_allclose(g["x"], 4.248354255291589e-18, rtol=1e-12)
    np.testing.assert_allclose(grad("y = sigmoid(x)", x=-40.0)[0], 4.248354255291589e-18, rtol=1e-12)
    np.testing.assert_allclose(grad("y = sigmoid(x)", x=-40.0)[1]["x"], 4.248354255291589e-18, rtol=1e-12)
    np.testing.assert_allclose(grad("y = tanh(x)", x=20.0)[1]["x"], 1.6993417021166355e-17, rtol=1e-12)
    np.testing.assert_allclose(grad("y = tanh(x)", x=-20.0)[1]["x"], 1.6993417021166355e-17, rtol=1e-12)
    assert grad("y = sigmoid(x)", x=-1000.0) == (0.0, {"x": 0.0})


def test_softmax_and_logsumexp_do_not_overflow():
    value, g = grad("y = logsumexp(x)", x=[1000.0, 1000.0])
    np.testing.assert_allclose(value, 1000.0 + np.log(2.0), rtol=1e-15)
    np.testing.assert_allclose(g["x"], [0.5, 0.5], rtol=1e-15)
    value, g = grad("y = sum(softmax(x) * [1, 2])", x=[1000.0, 0.0])
    assert value == 1.0 and np.isfinite(g["x"]).all()


def test_kinks_flag_exactly_the_points_without_a_derivative():
    assert OPS["relu"].kink(None, np.array([-1.0, 0.0, 2.0])).tolist() == [False, True, False]
    assert OPS["maximum"].kink(None, np.array([1.0, 2.0]), np.array([1.0, 3.0])).tolist() == [True, False]
    x = np.array([[3.0, 3.0, 1.0], [1.0, 2.0, 3.0]])
    assert OPS["amax"].kink(np.max(x, axis=1), x, axis=1).tolist() == [True, False]


def test_adcli_functions_lists_every_function_a_file_can_call():
    """Every name FUNCTIONS resolves appears in `adcli functions` (as itself or as the operation it
    is an alias of): the indexing family's entries were registered before the families were
    counted, so size, getitem and gather were missing from the list."""
    from adcli.operations import FAMILIES, function_table
    rows = function_table()
    listed = {row["name"] for row in rows} | {row["operation"] for row in rows}
    assert all(any(op.name in listed for op in FUNCTIONS[name]) for name in FUNCTIONS), \
        sorted(name for name in FUNCTIONS if not any(op.name in listed for op in FUNCTIONS[name]))
    assert sorted(n for family in FAMILIES.values() for n in family) == sorted(OPS)


@pytest.mark.parametrize("field, template, says", [
    ("forward_code", "np.exp({xx})", "np.exp({xx})"),  # a placeholder that is no operand
    ("forward_code", "np.exp({x}", "unbalanced bracket"),
    ("vjp_code", ("{g} * {y}",), "{g} * {y}"),  # an operand the operation does not have
    ("jvp_code", "np.sum({dx}, axis={axes})", "axis={axes}"),  # a parameter misspelt
    ("text", "f({1})", "f({1})"),  # a trace text naming a second operand of a one-operand function
])
def test_a_template_typo_fails_at_registration(field, template, says):
    """A template's placeholders and brackets are checked when the entry is registered (at import),
    so a typo fails here rather than when a user first reaches the rule."""
    from adcli.operations import batching
    from adcli.operations.core import Op, register, same_shape
    entry = dict(forward_code="np.exp({x})", shape=same_shape, text="f({0})", partials=("1",), vjp_text=("ḡ",),
                 params=(("axis", None),), vjp_code=("{g}",), batch=batching.elementwise)
    entry[field] = template
    with pytest.raises(ValueError, match="operation typo") as caught:
        register(Op("typo", **entry))
    assert says in str(caught.value) or says == "unbalanced bracket"
    assert "typo" not in OPS


def test_every_registered_template_compiles():
    """Every rule's filled template is Python that compiles (the import-time check covers names only)."""
    for op in OPS.values():
        for rule in ("forward", "derivs", "vjps", "common", "jvp_fn", "kink"):
            getattr(op, rule)  # compiling raises SyntaxError for a template that is not Python
