"""`adcli export`: every sample and every registry operation, exported to numpy, JAX and PyTorch.

numpy's module must give adcli's own numbers to the bit; JAX's and PyTorch's agree to 1e-12 and
work under their transformations (jit, vmap, grad; torch.func, torch.compile). The JAX module is
lowered for a GPU on this machine without one, which proves the code is GPU-ready.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import op_cases  # noqa: E402
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.forward import jvp
from adcli.export import export_source, load_module
from adcli.operations import OPS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()
RTOL = 1e-12


def sample_values(name: str) -> dict:
    data = SAMPLES / f"{name}.json"
    if data.exists():
        return {k: np.array(v) for k, v in json.loads(data.read_text()).items()}
    return {"product": {"x": np.array(17.0)}, "relu": {"W": np.array(2.0), "x": np.array(3.0), "b": np.array(1.0)},
            "black_scholes": {"S": np.array(100.0), "K": np.array(95.0), "T": np.array(0.5), "r": np.array(0.02),
                              "sigma": np.array(0.25)}}[name]


SAMPLE_NAMES = sorted(p.stem for p in SAMPLES.glob("*.ad"))


def convert(target: str, value):
    """A value as the target's array."""
    if target == "jax":
        return pytest.importorskip("jax.numpy").asarray(value)
    if target == "torch":
        return pytest.importorskip("torch").as_tensor(np.array(value))
    return value


def framework_args(target: str, program, values: dict) -> list:
    """The inputs, in the module's order, as the target's arrays."""
    return [convert(target, values[name]) for name in program.inputs]


def as_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().numpy()
    return np.asarray(x, dtype=np.float64)


def agree(got, want, target: str, what: str):
    got, want = as_numpy(got), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if target == "numpy":  # the same operations in the same order: the same bits
        assert np.array_equal(got, want, equal_nan=True), (what, got, want)
    else:
        scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=1.0))
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def compare(program, values: dict, target: str, of=None):
    """f, grad_f, values and jvp_f of the exported module against adcli's engine."""
    if target != "numpy":  # the module imports its framework at the top
        pytest.importorskip(target)
    module = load_module(export_source(program, target, of=of, mode="forward"))
    args = framework_args(target, program, values)
    result = program.grad(of=of, **values)
    agree(module.f(*args), result.value, target, "f")
    value, grads = module.grad_f(*args)
    agree(value, result.value, target, "grad_f value")
    assert list(grads) == list(result.grad)
    for name, g in result.grad.items():
        agree(grads[name], g, target, f"grad_f {name}")
    again = module.grad_f(*args)[1]  # pure: a second call gives the same
    for name in grads:
        agree(again[name], as_numpy(grads[name]), "numpy", f"second call {name}")
    if of is None:
        everything = module.values(*args)
        for label, v in program.eval(**values).items():
            agree(everything[label], v, target, f"values {label}")
    rng = np.random.default_rng(5)
    directions = {name: rng.normal(size=np.shape(values[name])) for name in result.grad}
    engine = jvp(program, directions, of=of, **values)
    _, tangent = module.jvp_f(*args, *(convert(target, t) for t in directions.values()))
    # forward mode's zero tangents are written as np.where(t == 0, 0.0, ...): equal, if not always the same bits
    agree(tangent, engine.tangent, target if target != "numpy" else "jax", "jvp_f")
    return module


# ---------------------------------------------------------------------------------------------
# Every sample and every operation, in every target
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_samples_export_and_agree(name, target):
    compare(adcli.load(str(SAMPLES / f"{name}.ad")), sample_values(name), target)


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_operation_exports_and_agrees(name, target):
    for case, (xs, params) in enumerate(op_cases.points(name)):
        if case > 2:
            break
        program, values = op_cases.op_program(name, xs, params)
        compare(program, values, target)


# Programs that reach what frameworks differ on: negative steps (torch has none), 0-d tensors
# beside n-d ones (torch keeps the n-d one's dtype), ties, zeros, negative bases, loops and calls.
HOSTILE = {
    "negative steps": ("input A: [3, 4]\ny = sum(A[::-1, 3::-2] * A[-1::-1, :2]) + sum(A[..., ::-3]) + sum(A[1:1:-1, ...])\n",
                       {"A": np.arange(12.0).reshape(3, 4) - 5.5}),
    "ties beside a scalar": ("input x: [4]\ninput s: []\ny = s * max(x) + sum(clip(x, s, 2.0) * s) + "
                             "max(x, axis=0) * min(x)\n",
                             {"x": np.array([2.0, -1.0, 2.0, -1.0]), "s": np.array(-0.5)}),
    "zeros and negative bases": ("input x: [4]\ny = sum(abs(x) + x ** 3 + relu(x) * x ** 2 + sqrt(x * x + 1))\n",
                                 {"x": np.array([-4.0, 0.0, -0.0, 3.0])}),
    "where, loops and calls": ("input x: [3]\ninput h0: []\ndef cell(h, u) = tanh(h * 0.5 + u)\nh = h0\n"
                               "for t in range(3):\n    h = cell(h, x[t])\ny = where(h > 0, h, -h) + sum(x[::-1] * x)\n",
                               {"x": np.array([0.3, -1.2, 2.0]), "h0": np.array(-0.25)}),
    "a branch not taken": ("input x: [5]\ny = sum(elu(x) + elu(x, alpha=0.5) * x)\n",  # expm1(1e3) is never computed
                           {"x": np.array([1e3, 800.0, -800.0, 0.0, -0.0])}),
    "huge and tiny": ("input x: [3]\ny = sum(log1p(x) + expm1(-x) + x * 1e300)\n",
                      {"x": np.array([1e-300, 5e-324, 1e3])}),
}


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_programs_export_and_agree(case, target):
    text, values = HOSTILE[case]
    with warnings.catch_warnings():  # the engine's numbers are finite here: no module may warn on the way
        warnings.simplefilter("error")
        compare(adcli.parse(text, "hostile.ad"), values, target)


def test_an_accumulator_left_transposed_sums_as_the_module_does():
    """g's accumulator is first a broadcast ḡ, then + a transposed share (Fortran order), then x[1, 0]'s
    share: the engine adds that in place, and must leave the order + gives, since the sum back to s
    adds in memory order (the module's bits differed at a quarter of points)."""
    program = adcli.parse("input s: [3, 2]\ng = broadcast_to(sum(s), shape=[3, 3])\n"
                          "y = g[1, 0] * 3.7 + sum(sin(g.T) * [[1.0, 2.0, 3.0]]) + sum(g)\n")
    module = load_module(export_source(program, "numpy"))
    rng = np.random.default_rng(0)
    for _ in range(40):
        s = rng.normal(size=(3, 2))
        assert np.array_equal(module.grad_f(s)[1]["s"], program.grad(s=s).grad["s"])


# ---------------------------------------------------------------------------------------------
# The module itself: deterministic, documented, pure
# ---------------------------------------------------------------------------------------------

def test_same_input_same_bytes_and_a_header():
    program = adcli.load(str(SAMPLES / "mlp.ad"))
    first, second = export_source(program, "numpy"), export_source(program, "numpy")
    assert first == second
    assert f"Generated by adcli {adcli.__version__} from " in first and "sha256 " in first
    assert "do not edit it" in first and "Differentiated (reverse mode): X, Y, W1, b1, W2, b2." in first
    assert ("g_W1 = strong_vjp(matmul_vjp_right(g_U1, X, W1.shape), g_U1, np.shape(W1))  "
            "# ∂loss/∂W1 ← ∂loss/∂W1 + Xᵀ ḡ") in first
    import ast
    ast.parse(first)  # it compiles as written: nothing to edit by hand


def test_names_are_stable_and_never_clash():
    program = adcli.parse("input np: []\ndef cell(h) = tanh(h)\nh = np\nh = cell(h)\nh_2 = h * 2\nf = h_2 + h\n")
    text = export_source(program, "numpy")
    module = load_module(text)
    assert module.f(0.5) == program.grad(np=0.5).value
    assert "def f(np_):" in text and "h_2_ = " in text or "h_2 = " in text


def test_arguments_are_not_modified():
    program = adcli.load(str(SAMPLES / "mlp.ad"))
    values = sample_values("mlp")
    copies = {k: v.copy() for k, v in values.items()}
    module = load_module(export_source(program, "numpy"))
    module.grad_f(*[values[n] for n in program.inputs])
    assert all(np.array_equal(values[k], copies[k]) for k in values)


def test_a_construct_that_cannot_be_exported_is_named():
    pytest.importorskip("jax")
    program = adcli.parse("y = sum(x * x)\n")
    assert "def grad_f(x):" in export_source(program, "jax")
    with pytest.raises(adcli.AdError, match="--to fortran: expected one of numpy, jax, torch"):
        export_source(program, "fortran")


# ---------------------------------------------------------------------------------------------
# JAX: jit, vmap, jax.grad, and lowering for a GPU
# ---------------------------------------------------------------------------------------------

def test_jax_jit_vmap_and_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    program = adcli.load(str(SAMPLES / "softmax_ce.ad"))
    values = sample_values("softmax_ce")
    module = load_module(export_source(program, "jax"))
    args = [jnp.asarray(values[n]) for n in program.inputs]
    value, grads = module.grad_f(*args)
    jitted_value, jitted = jax.jit(module.grad_f)(*args)
    for name in grads:
        np.testing.assert_allclose(jitted[name], grads[name], rtol=1e-13)
    # JAX's own derivative of f agrees with adcli's reverse sweep (away from kinks)
    by_jax = jax.grad(module.f, argnums=tuple(range(len(args))))(*args)
    for name, g in zip(program.inputs, by_jax):
        np.testing.assert_allclose(g, grads[name], rtol=1e-12, atol=1e-15)
    # vmap over 8 points equals 8 single calls
    rng = np.random.default_rng(0)
    W = jnp.asarray(rng.normal(size=(8,) + np.shape(values["W"])))
    batched = jax.vmap(module.grad_f, in_axes=(None, None, 0, None))(*args[:2], W, args[3])
    for i in range(8):
        single = module.grad_f(args[0], args[1], W[i], args[3])
        np.testing.assert_allclose(batched[0][i], single[0], rtol=1e-13)
        np.testing.assert_allclose(batched[1]["W"][i], single[1]["W"], rtol=1e-13)


def test_jax_lowers_for_a_gpu():
    """The exported module lowers for CUDA on a machine without one: the code is GPU-ready."""
    jax = pytest.importorskip("jax")
    export = pytest.importorskip("jax.export")
    program = adcli.load(str(SAMPLES / "mlp.ad"))
    values = sample_values("mlp")
    module = load_module(export_source(program, "jax"))
    args = [jax.numpy.asarray(values[n]) for n in program.inputs]
    exported = export.export(jax.jit(module.grad_f), platforms=("cuda",))(*args)
    assert exported.platforms == ("cuda",)
    assert "stablehlo" in exported.mlir_module() or "func.func" in exported.mlir_module()


# ---------------------------------------------------------------------------------------------
# PyTorch: torch.func and torch.compile
# ---------------------------------------------------------------------------------------------

def test_torch_func_grad_vmap_and_compile():
    torch = pytest.importorskip("torch")
    program = adcli.load(str(SAMPLES / "mlp.ad"))
    values = sample_values("mlp")
    module = load_module(export_source(program, "torch"))
    args = [torch.as_tensor(values[n]) for n in program.inputs]
    value, grads = module.grad_f(*args)
    by_torch = torch.func.grad(module.f, argnums=tuple(range(len(args))))(*args)
    for name, g in zip(program.inputs, by_torch):
        # relu's kink may differ from PyTorch's only exactly at 0, which these values never hit
        np.testing.assert_allclose(g.numpy(), grads[name].numpy(), rtol=1e-12, atol=1e-15)
    W1 = torch.as_tensor(np.random.default_rng(1).normal(size=(8,) + values["W1"].shape))
    batched = torch.func.vmap(module.grad_f, in_dims=(None, None, 0, None, None, None))(
        args[0], args[1], W1, *args[3:])
    for i in range(8):
        single = module.grad_f(args[0], args[1], W1[i], *args[3:])
        np.testing.assert_allclose(batched[1]["W1"][i].numpy(), single[1]["W1"].numpy(), rtol=1e-13)
    compiled = torch.compile(module.grad_f, backend="aot_eager")
    again = compiled(*args)
    np.testing.assert_allclose(again[1]["W2"].numpy(), grads["W2"].numpy(), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------

def test_export_command_writes_a_module(tmp_path):
    out = tmp_path / "relu_numpy.py"
    result = runner.invoke(app, ["export", str(SAMPLES / "relu.ad"), "--to", "numpy", "-o", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    module = load_module(out.read_text())
    assert module.grad_f(2.0, 3.0, 1.0)[1] == {"W": 3.0, "x": 2.0, "b": 1.0}
    printed = runner.invoke(app, ["export", str(SAMPLES / "relu.ad"), "--mode", "forward", "--wrt", "W"])
    assert "def jvp_f(W, x, b, d_W=None):" in printed.stdout


@pytest.mark.parametrize("engine", ["jax", "torch"])
def test_grad_and_eval_run_in_another_engine(engine):
    pytest.importorskip(engine)
    for name in ("mlp", "gp", "xent_labels", "rnn"):
        args = ["--inputs", str(SAMPLES / f"{name}.json"), "--json"]
        mine = json.loads(runner.invoke(app, ["grad", str(SAMPLES / f"{name}.ad"), *args]).stdout)
        theirs = json.loads(runner.invoke(app, ["grad", str(SAMPLES / f"{name}.ad"), *args, "--engine", engine]).stdout)
        assert mine.keys() == theirs.keys() and mine["grad"].keys() == theirs["grad"].keys()
        np.testing.assert_allclose(theirs["value"], mine["value"], rtol=1e-12)
        for k in mine["grad"]:
            np.testing.assert_allclose(np.array(theirs["grad"][k]), np.array(mine["grad"][k]), rtol=1e-11,
                                       atol=1e-14)
        values = json.loads(runner.invoke(app, ["eval", str(SAMPLES / f"{name}.ad"), *args, "--engine", engine]).stdout)
        reference = json.loads(runner.invoke(app, ["eval", str(SAMPLES / f"{name}.ad"), *args]).stdout)
        assert values.keys() == reference.keys() and values["values"].keys() == reference["values"].keys()


def test_a_missing_engine_says_what_to_install(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_jax(name, *args, **kwargs):
        if name.startswith("jax"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jax)
    result = runner.invoke(app, ["grad", str(SAMPLES / "relu.ad"), "--set", "W=2", "x=3", "b=1", "--engine", "jax"])
    assert result.exit_code == 2
    assert "--engine jax needs JAX, which is not installed: pip install 'adcli[jax]'" in result.stderr
