"""Derivatives of order K, Jacobians and Hessians, from Python and from the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli import ops
from adcli.cli.main import app
from adcli.engine.dual import derivatives as dual_derivatives
from adcli.engine.higher import MAX_ORDER, derivatives, taylor_derivatives
from adcli.engine.matrices import hessian, jacobian

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


# ---------------------------------------------------------------------------------------------
# Derivatives of order K against closed forms
# ---------------------------------------------------------------------------------------------

def falling(n: float, k: int) -> float:
    """n (n-1) … (n-k+1): d^k xⁿ/dx^k = falling(n, k)·x^(n-k)."""
    out = 1.0
    for j in range(k):
        out *= n - j
    return out


# source, point, closed form of the k-th derivative
CLOSED_FORMS = [
    ("y = exp(x)", 0.7, lambda x, k: math.exp(x)),
    ("y = sin(x)", 0.4, lambda x, k: math.sin(x + k * math.pi / 2)),
    ("y = x ** 5", 1.3, lambda x, k: falling(5, k) * x ** (5 - k)),
    ("y = x ** 2.5", 1.3, lambda x, k: falling(2.5, k) * x ** (2.5 - k)),
    ("y = log(x)", 1.7, lambda x, k: (-1) ** (k - 1) * math.factorial(k - 1) / x ** k),
]


@pytest.mark.parametrize("source,x,closed", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_order_k_derivatives_of_a_program_match_closed_forms(source, x, closed):
    K = 12
    result = derivatives(adcli.parse(source), "x", K, x=x)
    assert len(result.derivatives) == K
    for k, d in enumerate(result.derivatives, start=1):
        assert float(d) == pytest.approx(closed(x, k), rel=1e-11, abs=1e-12), (source, k)


@pytest.mark.parametrize("source,x,closed", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_nested_duals_and_taylor_series_agree_with_closed_forms(source, x, closed):
    f = {"y = exp(x)": np.exp, "y = sin(x)": np.sin, "y = log(x)": np.log,
         "y = x ** 5": lambda t: t ** 5, "y = x ** 2.5": lambda t: t ** 2.5}[source]
    want = [closed(x, k) for k in range(1, 6)]
    assert [float(d) for d in dual_derivatives(f, x, 5)] == pytest.approx(want, rel=1e-12, abs=1e-13)
    assert [float(d) for d in taylor_derivatives(f, x, 5)] == pytest.approx(want, rel=1e-12, abs=1e-13)


def test_sin_at_zero_and_high_orders():
    result = derivatives(adcli.parse("y = sin(x)"), "x", 5, x=0.0)
    assert [float(d) for d in result.derivatives] == [1.0, 0.0, -1.0, 0.0, 1.0]
    # order 60: a Taylor series handles it where 60 nested duals (2⁶⁰ numbers) could not
    far = derivatives(adcli.parse("y = sin(x)"), "x", 60, x=0.4).derivatives
    assert float(far[59]) == pytest.approx(math.sin(0.4 + 60 * math.pi / 2), rel=1e-9)


def test_taylor_series_agree_with_nested_duals_on_compositions():
    def f(x):
        return ops.sum(ops.softmax(ops.stack([x, 2 * x, x * x])) * ops.tanh(x)) / ops.sqrt(1 + x * x) \
            + ops.sigmoid(x) ** x + ops.logsumexp(ops.stack([x, -x])) + ops.max(ops.stack([x, x ** 3]))

    by_duals = dual_derivatives(f, 0.6, 6)
    by_series = taylor_derivatives(f, 0.6, 6)
    np.testing.assert_allclose(np.array(by_series, dtype=float), np.array(by_duals, dtype=float), rtol=1e-11)


def test_derivatives_of_an_array_output_and_of_a_constant():
    result = derivatives(adcli.parse("input x: []\ny = [x, x * x, x ** 3]"), "x", 3, x=2.0)
    assert [d.tolist() for d in result.derivatives] == [[1.0, 4.0, 12.0], [0.0, 2.0, 12.0], [0.0, 0.0, 6.0]]
    constant = derivatives(adcli.parse("y = a * 2 + b"), "a", 2, a=1.0, b=3.0)
    assert [float(d) for d in constant.derivatives] == [2.0, 0.0]


def test_derivative_errors():
    with pytest.raises(adcli.AdError, match="scalar input"):
        derivatives(adcli.parse("y = sum(v)"), "v", 2, v=[1.0, 2.0])
    with pytest.raises(adcli.AdError, match="order"):
        derivatives(adcli.parse("y = x"), "x", 0, x=1.0)
    with pytest.raises(adcli.AdError, match="order"):
        derivatives(adcli.parse("y = x"), "x", MAX_ORDER + 1, x=1.0)


# ---------------------------------------------------------------------------------------------
# Jacobians
# ---------------------------------------------------------------------------------------------

MLP = "input W: [2, 3]\ninput x: [3]\nh = tanh(W @ x)\ny = sum(h * h)"
W0 = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
X0 = np.array([1.0, -1.0, 2.0])


def numeric_jacobian(program, of, name, given):
    """∂of/∂name by central differences, shaped of.shape + name.shape."""
    x = np.asarray(given[name], dtype=float)
    columns = []
    for index in np.ndindex(x.shape):
        ends = []
        for step in (1e-6, -1e-6):
            moved = dict(given)
            moved[name] = x.copy()
            moved[name][index] += step
            ends.append(program.eval(of=of, **moved)[of])
        columns.append((ends[0] - ends[1]) / 2e-6)
    out_shape = np.shape(columns[0])
    return np.moveaxis(np.array(columns).reshape(x.shape + out_shape), list(range(x.ndim)),
                       list(range(len(out_shape), len(out_shape) + x.ndim)))


def test_jacobian_modes_agree_and_auto_picks_the_cheaper():
    program = adcli.parse(MLP)
    given = {"W": W0, "x": X0}
    fwd = jacobian(program, of="h", mode="forward", dense=True, **given)
    rev = jacobian(program, of="h", mode="reverse", **given)
    auto = jacobian(program, of="h", **given)
    assert (fwd.mode, fwd.passes) == ("forward", 9) and (rev.mode, rev.passes) == ("reverse", 2)
    # compressed: W's two rows never share an output element, so its columns pair up (3 + 3 colours)
    coloured = jacobian(program, of="h", mode="forward", **given)
    assert (coloured.mode, coloured.passes, coloured.sparse.dense_passes) == ("forward", 6, 9)
    for name in ("W", "x"):
        np.testing.assert_array_equal(coloured.blocks[name], fwd.blocks[name])
    assert (auto.mode, auto.passes) == ("reverse", 2)  # 9 input elements, 2 outputs
    assert fwd.blocks["W"].shape == (2, 2, 3) and fwd.blocks["x"].shape == (2, 3)
    for name in ("W", "x"):
        np.testing.assert_allclose(fwd.blocks[name], rev.blocks[name], rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(fwd.blocks[name], numeric_jacobian(program, "h", name, given), rtol=1e-7, atol=1e-9)
    # one input element, three outputs: forward
    wide = jacobian(adcli.parse("input a: []\ny = [a, a * a, sin(a)]"), a=0.5)
    assert (wide.mode, wide.passes) == ("forward", 1)
    np.testing.assert_allclose(wide.blocks["a"], [1.0, 1.0, math.cos(0.5)], rtol=1e-15)


def test_jacobian_of_a_scalar_output_is_the_gradient():
    program = adcli.parse(MLP)
    result = jacobian(program, W=W0, x=X0)
    grad = program.grad(W=W0, x=X0).grad
    for name in grad:
        np.testing.assert_allclose(result.blocks[name], grad[name], rtol=1e-15)
    with pytest.raises(adcli.AdError, match="--mode"):
        jacobian(program, mode="sideways", W=W0, x=X0)


# ---------------------------------------------------------------------------------------------
# Hessians
# ---------------------------------------------------------------------------------------------

HESSIAN_PROGRAMS = [
    (MLP, {"W": W0, "x": X0}),
    ("input v: [3]\ny = logsumexp(v) * sum(softmax(v) * v) + exp(sum(v) / 3)", {"v": [0.3, -1.2, 0.8]}),
    ("input v: [3]\ninput a: []\ny = sum(sigmoid(v * a) ** 2) / sqrt(a) + max(v) * a", {"v": [0.3, -1.2, 0.8], "a": 1.3}),
    ("u = x + 1\ny = x * u", {"x": 17.0}),
]


def numeric_hessian_block(program, a, b, given):
    """∂(∂y/∂b)/∂a by central differences of the reverse-mode gradient."""
    x = np.asarray(given[a], dtype=float)
    block = np.zeros(x.shape + np.shape(given[b]))
    for index in np.ndindex(x.shape):
        ends = []
        for step in (1e-5, -1e-5):
            moved = dict(given)
            moved[a] = x.copy()
            moved[a][index] += step
            ends.append(program.grad(**moved).grad[b])
        block[index] = (ends[0] - ends[1]) / 2e-5
    return block


@pytest.mark.parametrize("source,given", HESSIAN_PROGRAMS, ids=range(len(HESSIAN_PROGRAMS)))
def test_hessian_is_symmetric_and_matches_differences_of_the_gradient(source, given):
    program = adcli.parse(source)
    result = hessian(program, dense=True, **given)
    names = program.inputs
    assert result.passes == sum(np.size(given[n]) for n in names)
    for a in names:
        for b in names:
            block = result.blocks[(a, b)]
            na = np.ndim(given[a])
            mirrored = np.moveaxis(result.blocks[(b, a)], list(range(np.ndim(given[b]))),
                                   list(range(na, na + np.ndim(given[b]))))
            np.testing.assert_allclose(block, mirrored, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(block, numeric_hessian_block(program, a, b, given), rtol=1e-6, atol=1e-8)


def test_hessian_of_the_lecture_examples():
    assert hessian(adcli.load(str(SAMPLES / "product.ad")), x=17.0).blocks[("x", "x")] == 2.0
    relu = hessian(adcli.load(str(SAMPLES / "relu.ad")), W=2.0, x=3.0, b=1.0)
    assert {k: float(v) for k, v in relu.blocks.items()} == {
        ("W", "W"): 0.0, ("W", "x"): 1.0, ("W", "b"): 0.0, ("x", "W"): 1.0, ("x", "x"): 0.0,
        ("x", "b"): 0.0, ("b", "W"): 0.0, ("b", "x"): 0.0, ("b", "b"): 0.0}
    with pytest.raises(adcli.AdError, match="hessian needs a scalar output"):
        hessian(adcli.parse(MLP), of="h", W=W0, x=X0)


# ---------------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------------

def test_derivative_command(tmp_path):
    path = tmp_path / "sin.ad"
    path.write_text("y = sin(x)\n")
    code, out, _ = run("derivative", path, "--wrt", "x", "--order", "5", "--set", "x=0", "--json")
    assert code == 0 and json.loads(out) == [1.0, 0.0, -1.0, 0.0, 1.0]
    code, out, _ = run("derivative", SAMPLES / "product.ad", "--wrt", "x", "--order", "3", "--set", "x=17")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["y", "=", "306", "at", "x", "=", "17"]
    assert ["1", "dy/dx", "scalar", "35"] in lines and ["2", "d²y/dx²", "scalar", "2"] in lines
    assert ["3", "d³y/dx³", "scalar", "0"] in lines
    code, _, err = run("derivative", SAMPLES / "relu.ad", "--wrt", "q", "--set", "W=2", "x=3", "b=1")
    assert code == 2 and "'q' is not an input" in err


def test_jacobian_command(tmp_path):
    path = tmp_path / "mlp.ad"
    path.write_text(MLP + "\n")
    values = ["--set", "W=[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]", "x=[1, -1, 2]"]
    code, out, _ = run("jacobian", path, "--of", "h", *values, "--json")
    data = json.loads(out)
    assert code == 0 and data["mode"] == "reverse" and data["passes"] == 2 and data["output"] == "h"
    want = jacobian(adcli.parse(MLP), of="h", W=W0, x=X0).blocks
    assert data["jacobian"]["x"] == want["x"].tolist() and data["jacobian"]["W"] == want["W"].tolist()
    code, out, _ = run("jacobian", path, "--of", "h", "--mode", "forward", "--dense", *values)
    assert code == 0 and "forward mode: 9 passes, one per input element" in out
    code, out, _ = run("jacobian", path, "--of", "h", "--mode", "forward", *values)
    assert code == 0 and "forward mode: 6 passes, one per colour of columns (dense: 9; 12 stored)" in out
    code, out, _ = run("jacobian", SAMPLES / "product.ad", "--set", "x=17")
    assert code == 0 and "reverse mode: 1 pass" in out and "35" in out


def test_hessian_command():
    code, out, _ = run("hessian", SAMPLES / "relu.ad", "--set", "W=2", "x=3", "b=1", "--json")
    data = json.loads(out)
    # W·x couples W with x only: their columns share no row, so one coloured pass gives the Hessian
    assert code == 0 and data["output"] == "H" and data["value"] == 7.0 and data["passes"] == 1
    assert data["sparse"] == {"colours": 1, "colouring": "distance-2", "stored": 2, "dense_passes": 3}
    assert data["hessian"]["W"] == {"W": 0.0, "x": 1.0, "b": 0.0}
    assert data["hessian"]["x"]["W"] == 1.0 and data["hessian"]["b"]["b"] == 0.0
    code, out, _ = run("hessian", SAMPLES / "relu.ad", "--set", "W=2", "x=3", "b=1", "--json", "--dense")
    assert code == 0 and json.loads(out)["passes"] == 3 and json.loads(out)["hessian"] == data["hessian"]
    code, out, _ = run("hessian", SAMPLES / "product.ad", "--set", "x=17")
    assert code == 0 and ["∂²y/∂x²", "scalar", "2"] in [line.split() for line in out.splitlines()]
    code, _, err = run("hessian", SAMPLES / "product.ad", "--of", "q", "--set", "x=17")
    assert code == 2 and "q" in err


@pytest.mark.parametrize("x, expected", [
    ([1.0, 2.0, 3.0], [[0, 3, 2], [3, 0, 1], [2, 1, 0]]),
    ([0.0, 2.0, 0.0], [[0, 0, 2], [0, 0, 0], [2, 0, 0]]),  # zeros: products of the others, no 0/0
    ([0.0, 0.0, 0.0], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]),
    ([-1.5, 4.0, -2.0], [[0, -2, 4], [-2, 0, -1.5], [4, -1.5, 0]]),
])
def test_prod_has_second_derivatives_exact_at_zeros(x, expected):
    """∂²Πx/∂xᵢ∂xⱼ is the product of the others: by running products, never Πx / (xᵢxⱼ)."""
    program = adcli.parse("input x: [3]\ny = prod(x)\n")
    assert hessian(program, x=np.array(x)).blocks[("x", "x")].tolist() == np.array(expected, dtype=float).tolist()


def test_prod_runs_on_taylor_series_and_nested_duals():
    """prod's rule runs on Taylor series (the fuzzer's `derivative` of a prod, which had no cumprod
    for series) and agrees with the closed form x³ sin x to order 4."""
    program = adcli.parse("input x\ny = prod(stack([x, x * x, sin(x)]))\n")
    got = derivatives(program, "x", 4, x=0.7).derivatives
    s, c, x = math.sin(0.7), math.cos(0.7), 0.7
    closed = [3 * x**2 * s + x**3 * c, 6 * x * s + 6 * x**2 * c - x**3 * s,
              6 * s + 18 * x * c - 9 * x**2 * s - x**3 * c, 24 * c - 36 * x * s - 12 * x**2 * c + x**3 * s]
    assert np.allclose([float(v) for v in got], closed, rtol=1e-13, atol=0)
