"""fixed_point() and root(): solutions of equations, differentiated by the implicit function theorem,
in every command: values and gradients against closed forms, Hessians, forward mode, orders, batch,
traces, exports to numpy, JAX and PyTorch, and the errors a user can meet."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.forward import forward_grad
from adcli.engine.higher import derivatives
from adcli.engine.matrices import hessian
from adcli.export import export_source, load_module

runner = CliRunner()

NEWTON = "def newton(r, a) = r - (r * r - a) / (2 * r)\ninput a\ny = fixed_point(newton, 1.0, a)\n"
CUBIC = "def g(x, p, q) = x**3 + p * x - q\ninput p\ninput q\nx = root(g, 1.0, p, q)\nz = x * x\n"
DEQ = """# a deep-equilibrium layer: z = tanh(W z + b)
input W: [3, 3]
input b: [3]
def layer(z, W) = tanh(W @ z + b)
z = fixed_point(layer, zeros([3]), W)
loss = sum(z * z)
"""
DEQ_VALUES = {"W": np.array([[0.2, -0.1, 0.3], [0.0, 0.25, -0.2], [0.1, 0.1, 0.1]]), "b": np.array([0.5, -0.3, 0.8])}


def run(tmp_path, source, *args, name="m.ad"):
    path = tmp_path / name
    path.write_text(source)
    return runner.invoke(app, [args[0], str(path), *args[1:]])


# ---------------------------------------------------------------------------------------------
# Values and derivatives against closed forms
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a", [2.0, 0.25, 1e-20, 1e20, 1e-200, 7.0])
def test_newton_square_root_and_its_derivatives(a):
    """d√a/da = 1/(2√a) and d²√a/da² = -a^(-3/2)/4 from the converged point alone."""
    program = adcli.parse(NEWTON)
    result = program.grad(a=a)
    assert result.value == pytest.approx(math.sqrt(a), rel=4e-16)
    assert result.grad["a"] == pytest.approx(0.5 / math.sqrt(a), rel=1e-15)
    assert forward_grad(program, a=a).grad["a"] == pytest.approx(0.5 / math.sqrt(a), rel=1e-15)
    second = hessian(program, a=a, dense=True).blocks[("a", "a")]
    assert float(second) == pytest.approx(-0.25 * a ** -1.5, rel=1e-14)
    orders = derivatives(program, "a", 2, a=a).derivatives
    assert float(orders[1]) == pytest.approx(-0.25 * a ** -1.5, rel=1e-14)


def test_root_of_a_cubic_by_newton():
    """x³ + px - q = 0 at p = 2, q = 3 is x = 1: x_p = -x/(3x² + p), x_q = 1/(3x² + p)."""
    program = adcli.parse(CUBIC)
    result = program.grad(p=2.0, q=3.0)
    assert result.value == 1.0
    assert result.grad == {"p": pytest.approx(-0.4, rel=1e-15), "q": pytest.approx(0.4, rel=1e-15)}
    h = hessian(program, p=2.0, q=3.0, dense=True).blocks
    # z = x²: z_pp = 2x_p² + 2x·x_pp with x_pp = 0.032; z_qq = 2x_q² + 2x·x_qq with x_qq = -0.048
    assert float(h[("p", "p")]) == pytest.approx(0.144, rel=1e-14)
    assert float(h[("q", "q")]) == pytest.approx(0.08 - 0.096, rel=1e-13)
    assert float(h[("p", "q")]) == pytest.approx(float(h[("q", "p")]), rel=1e-14)


def test_a_vector_fixed_point_against_the_implicit_function_theorem_by_hand():
    """z = tanh(Wz + b): b̄ = D(I - WᵀD)⁻¹ 2z and W̄ = b̄ zᵀ, D = diag(1 - z²), with z solved by numpy."""
    W, b = DEQ_VALUES["W"], DEQ_VALUES["b"]
    z = np.zeros(3)
    for _ in range(200):
        z = np.tanh(W @ z + b)
    D = np.diag(1 - z * z)
    u = np.linalg.solve(np.eye(3) - (D @ W).T, 2 * z)
    b_bar = D @ u
    result = adcli.parse(DEQ).grad(**DEQ_VALUES)
    assert result.value == pytest.approx(float(z @ z), rel=1e-15)
    np.testing.assert_allclose(result.grad["b"], b_bar, rtol=1e-13)
    np.testing.assert_allclose(result.grad["W"], np.outer(b_bar, z), rtol=1e-13)
    H = hessian(adcli.parse(DEQ), wrt=["b"], dense=True, **DEQ_VALUES).blocks[("b", "b")]
    np.testing.assert_allclose(H, H.T, rtol=1e-13, atol=1e-15)


def test_check_passes_and_forward_mode_agrees(tmp_path):
    path = tmp_path / "deq.ad"
    path.write_text(DEQ)
    (tmp_path / "deq.json").write_text(json.dumps({k: v.tolist() for k, v in DEQ_VALUES.items()}))
    result = runner.invoke(app, ["check", str(path), "--inputs", str(tmp_path / "deq.json")])
    assert result.exit_code == 0, result.output
    assert "ok: 2 pass" in result.stdout and "forward mode too" in result.stdout


def test_the_file_s_values_a_function_reads_are_differentiated_too():
    """A def reading the file's input c (a closure): the solution moves with c, and c's gradient says so."""
    source = "input a\ninput c\ndef f(x, a) = 0.5 * sin(x) + a * c\ny = fixed_point(f, 0.0, a)\n"
    program = adcli.parse(source)
    result = program.grad(a=1.5, c=2.0)
    x = result.value
    slope = 1 / (1 - 0.5 * math.cos(x))  # x = 0.5 sin x + ac: x_a = c·slope, x_c = a·slope
    assert x == pytest.approx(0.5 * math.sin(x) + 3.0, rel=1e-15)
    assert result.grad["a"] == pytest.approx(2.0 * slope, rel=1e-14)
    assert result.grad["c"] == pytest.approx(1.5 * slope, rel=1e-14)


def test_in_loops_in_functions_and_nested():
    """A fixed point in each iteration of a loop, inside a function, and one whose function solves another."""
    source = """input a
def inner(y, s) = 0.5 * cos(y) + s
def outer(x, a) = 0.25 * fixed_point(inner, 0.0, x) + a
def solve_in(a) = fixed_point(outer, 0.0, a)
h = a
for t in range(3):
    h = solve_in(h)
"""
    program = adcli.parse(source)
    result = program.grad(a=0.3)
    eps = 1e-6
    numeric = (program.eval(of="h'''", a=0.3 + eps)["h'''"] - program.eval(of="h'''", a=0.3 - eps)["h'''"]) / (2 * eps)
    assert result.grad["a"] == pytest.approx(float(numeric), rel=1e-8)
    assert forward_grad(program, a=0.3).grad["a"] == pytest.approx(result.grad["a"], rel=1e-14)


def test_a_nan_input_gives_nan_not_an_error():
    result = adcli.parse(NEWTON).grad(a=float("nan"))
    assert math.isnan(result.value) and math.isnan(result.grad["a"])


def test_a_nan_in_one_element_stays_in_that_element():
    """An elementwise equation's NaN element leaves the others' solutions and derivatives as each
    alone gives them: Newton's step and the implicit function theorem's systems leave out the
    equations that are not finite when no other equation reads their unknowns."""
    root = adcli.parse("def g(x, p) = x + 0.25 * sin(x) - p\ninput a: [3]\ninput x0: [3]\n"
                       "r = root(g, x0, a)\ny = sum(r)\n")
    fixed = adcli.parse("def c(x, p) = 0.5 * tanh(x) + p\ninput a: [3]\nr = fixed_point(c, zeros(3), a)\n"
                        "y = sum(r)\n")
    for program, given in ((root, {"x0": np.array([np.nan, 1.0, 2.0])}), (fixed, {})):
        a = np.array([np.nan, -0.5, np.pi]) if program is fixed else np.array([-1.0, -0.5, np.pi])
        together = program.grad(a=a, **given)
        assert math.isnan(together.grad["a"][0])
        for k in (1, 2):
            alone = program.grad(a=np.full(3, a[k]), **{n: np.full(3, v[k]) for n, v in given.items()})
            assert together.grad["a"][k] == pytest.approx(alone.grad["a"][k], rel=1e-14)
        assert forward_grad(program, a=a, **given).grad["a"][1:] == pytest.approx(together.grad["a"][1:], rel=1e-14)


# ---------------------------------------------------------------------------------------------
# Every command
# ---------------------------------------------------------------------------------------------

def test_batch_gives_each_point_the_bits_it_gets_alone(tmp_path):
    for source, batched, values in [(NEWTON, "a", {"a": [1.0, 2.0, 1e-20, 9.0]}),
                                    (CUBIC, "p", {"p": [1.0, 2.0, 5.0], "q": 3.0})]:
        (tmp_path / "in.json").write_text(json.dumps(values))
        out = run(tmp_path, source, "grad", "--inputs", str(tmp_path / "in.json"), "--batch", batched, "--json")
        assert out.exit_code == 0, out.output
        batch = json.loads(out.stdout)
        program = adcli.parse(source)
        for k, point in enumerate(values[batched]):
            alone = program.grad(**{**values, batched: point})
            assert batch["value"][k] == float(alone.value)
            for name, g in alone.grad.items():
                assert batch["grad"][name][k] == float(g), (source, k, name)


def test_trace_graph_cost_lint_and_orders(tmp_path):
    trace = run(tmp_path, NEWTON, "trace", "--set", "a=2", "--format", "plain").stdout
    assert "y = fixed_point(newton, 1, a) = fixed_point(newton, 1, 2) = 1.4142136" in trace
    assert "∂fixed_point(newton, 1, a)/∂a = 0 + 1 · ((1 - ∂newton/∂x)⁻¹ ∂newton/∂p) = 0 + 1 · 0.35355339" in trace
    assert trace.rstrip().endswith("∂y/∂a = 0.35355339")
    as_json = json.loads(run(tmp_path, NEWTON, "trace", "--set", "a=2", "--json").stdout)
    assert as_json["grad"]["a"] == pytest.approx(0.5 / math.sqrt(2), rel=1e-15)
    graph = run(tmp_path, NEWTON, "graph", "--set", "a=2").stdout
    assert "y = fixed_point(newton, 1, a)" in graph
    cost = run(tmp_path, NEWTON, "cost", "--set", "a=2").stdout
    assert "fixed_point" in cost
    assert run(tmp_path, NEWTON, "lint").exit_code == 0
    third = run(tmp_path, NEWTON, "derivative", "--wrt", "a", "--order", "3", "--set", "a=2")
    assert third.exit_code == 2 and "twice at most" in third.stderr and "m.ad:3:5" in third.stderr


def exported_agrees(program, values: dict, target: str) -> None:
    """The exported module's grad_f and jvp_f against the engine: numpy's bits equal, the others to 1e-12."""
    if target != "numpy":
        pytest.importorskip(target)
    module = load_module(export_source(program, target, mode="forward"))
    want = program.grad(**values)
    convert = np.asarray
    if target == "torch":
        import torch
        convert = lambda v: torch.as_tensor(np.asarray(v, dtype=np.float64))
    args = [convert(values[name]) for name in program.inputs]
    value, grads = module.grad_f(*args)
    as_np = [np.asarray(v.detach().numpy() if hasattr(v, "detach") else v) for v in (value, *grads.values())]
    if target == "numpy":  # the same operations in the same order
        assert np.array_equal(as_np[0], want.value)
        for got, name in zip(as_np[1:], grads):
            assert np.array_equal(got, want.grad[name]), name
    else:
        np.testing.assert_allclose(as_np[0], want.value, rtol=1e-13)
        for got, name in zip(as_np[1:], grads):
            np.testing.assert_allclose(got, want.grad[name], rtol=1e-12, atol=1e-15)
    first = program.inputs[0]  # forward mode along the first input's every element
    ones = [convert(np.ones(np.shape(values[name])) if name == first else np.zeros(np.shape(values[name])))
            for name in program.inputs]
    tangent = module.jvp_f(*args, *ones)[1]
    engine = forward_grad(program, wrt=[first], **values).grad[first]
    np.testing.assert_allclose(np.asarray(tangent.detach().numpy() if hasattr(tangent, "detach") else tangent),
                               np.sum(engine), rtol=1e-12)


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("source,values", [(NEWTON, {"a": 2.0}), (CUBIC, {"p": 2.0, "q": 3.0}), (DEQ, DEQ_VALUES)])
def test_exports_carry_the_function_and_its_implicit_derivative(target, source, values):
    exported_agrees(adcli.parse(source), values, target)


def test_jax_export_runs_under_jit_and_vmap():
    jax = pytest.importorskip("jax")
    module = load_module(export_source(adcli.parse(NEWTON), "jax"))
    _, grads = jax.jit(module.grad_f)(2.0)
    assert float(grads["a"]) == pytest.approx(0.5 / math.sqrt(2), rel=1e-15)
    _, batch = jax.vmap(module.grad_f)(np.array([1.0, 4.0, 9.0]))
    np.testing.assert_allclose(batch["a"], [0.5, 0.25, 1 / 6], rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# Errors: one message, the place in the file, an exit code
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source,phrase,where", [
    ("def f(x, a) = 2 * x + a\ninput a\ny = fixed_point(f, 1.0, a, max_iter=50)\n",
     "did not settle in 50 iterations", "3:5"),
    ("def f(x, a) = sum(x) + a\ninput a\ny = fixed_point(f, [1.0, 2.0], a)\n", "returns shape [] for an x of shape [2]",
     "3:5"),
    ("def f(x) = x / 2\ny = fixed_point(f, 1.0, 3)\n", "f() takes 1 argument", "2:5"),
    ("input a\ny = fixed_point(a, 1.0, a)\n", "takes a function defined with def first", "2:17"),
    ("def f(x, a) = x / 2 + a\ninput a\ny = fixed_point(f, 1.0, a, rtol=1)\n", "has no argument 'rtol'", "3:33"),
    ("def f(x, a) = x / 2 + a\ninput a\ny = fixed_point(f, 1.0, a, tol=-1)\n", "tol", "3:5"),
    ("def f(x, a) = x / 2 + a\ninput a\ny = f + 1\n", "'f' is a function", "3:5"),
    # a name the function reads and the file never defines is an input of the file, as anywhere else
    ("def f(x, a) = x / 2 + q\ninput a\ny = fixed_point(f, 1.0, a)\n", "no value given for input 'q'", "3:5"),
    ("def g(x, a) = x * x + 1 + a\ninput a\ny = root(g, 1.0, a, max_iter=30)\n", "Newton's method on g did not settle",
     "3:5"),
])
def test_errors_are_one_message_at_their_place(tmp_path, source, phrase, where):
    one_error(run(tmp_path, source, "grad", "--set", "a=1"), phrase, where)


def one_error(result, phrase: str, where: str) -> None:
    """Exit 2 and one message with the phrase at m.ad:LINE:COL, never a traceback."""
    assert result.exit_code == 2, result.output
    assert phrase in result.stderr and f"m.ad:{where}" in result.stderr, result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_a_whole_number_start_still_iterates_and_differentiates_in_floats():
    """fixed_point(f, 1, a): x0 is the integer 1, x is a float, and ∂f/∂x is not lost."""
    program = adcli.parse(NEWTON.replace("1.0", "1"))
    result = program.grad(a=2.0)
    assert result.grad["a"] == pytest.approx(0.5 / math.sqrt(2), rel=1e-15)
    cubic = adcli.parse(CUBIC.replace("1.0", "2")).grad(p=2.0, q=3.0)
    assert cubic.grad["p"] == pytest.approx(-0.4, rel=1e-15)


def test_empty_arrays_and_empty_batches(tmp_path):
    """An x with no elements solves to an empty result (no Jacobian to build), in every mode; a batch of
    no points gives no values."""
    source = "def f(x, a) = 0.5 * sin(x) + a\ninput a: [0]\ny = sum(fixed_point(f, zeros([0]), a)) + sum(root(f, zeros([0]), a))\n"
    program = adcli.parse(source)
    empty = np.zeros(0)
    assert program.grad(a=empty).value == 0.0 and program.grad(a=empty).grad["a"].shape == (0,)
    assert forward_grad(program, a=empty).grad["a"].shape == (0,)
    assert hessian(program, a=empty, dense=True).blocks[("a", "a")].shape == (0, 0)
    out = run(tmp_path, NEWTON, "grad", "--batch", "a", "--set", "a=[]", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout) == {"output": "y", "value": [], "grad": {"a": []}}
