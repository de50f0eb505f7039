"""--batch: many points at once equal one point at a time, for every operation, every sample and the
commands; chunks change nothing; bad uses are one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import op_cases
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.forward import jvp
from adcli.errors import AdError, InputError, ShapeError
from adcli.operations import OPS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()
B = 3
RTOL = 1e-12


def close(got, want, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=1.0))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def points_of(program, base: dict, batched: list[str], draw) -> dict:
    """B points: each batched input a stack of B values from `draw(k)`, the others `base`'s."""
    given = dict(base)
    for name in batched:
        given[name] = np.stack([draw(k)[name] for k in range(B)])
    return given


def agree_with_points(program, given: dict, batched: list[str], directions=None):
    """grad, eval and jvp over every point at once equal the same at each point alone."""
    many = program.batch(*batched)
    result = many.grad(**given)
    values = many.eval(**given)
    rng = np.random.default_rng(7)
    directions = directions or {n: rng.normal(size=(B,) + np.shape(given[n])[1:]) if n in batched
                                else rng.normal(size=np.shape(given[n])) for n in result.grad}
    tangent = many.jvp(directions, **given)
    for k in range(B):
        point = many.point(given, k)
        one = program.grad(**point)
        close(result.value[k], one.value, f"value at point {k}")
        for name, g in one.grad.items():
            close(result.grad[name][k], g, f"gradient {name} at point {k}")
        for label, v in program.eval(**point).items():
            close(values[label][k], v, f"eval {label} at point {k}")
        dirs = {n: t[k] if n in batched else t for n, t in directions.items()}
        close(tangent.tangent[k], jvp(program, dirs, **point).tangent, f"jvp at point {k}")


def batchable(program) -> list[list[str]]:
    """The batches to try: each input alone, and all of them together."""
    names = program.inputs
    return [[n] for n in names] + ([names] if len(names) > 1 else [])


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_operation_batches(name):
    domain, shape_cases = op_cases.checked_cases(name)
    for case, (xs, params) in enumerate(op_cases.points(name)):
        program, values = op_cases.op_program(name, xs, params)
        shapes = [x.shape for x in xs]

        def draw(k):
            rng = np.random.default_rng(100 * case + k)
            fresh = [np.asarray(x) for x in domain(rng, shapes)]
            out = {chr(ord("a") + j): (np.where(x, 1.0, -1.0) if x.dtype == bool else
                                       x.astype(np.float64) if x.dtype.kind == "f" else x)
                   for j, x in enumerate(fresh)}
            out["W"] = values["W"] * (k + 1)
            return out
        for batched in batchable(program):
            if name == "gather" and any(n != "a" for n in batched):
                continue  # a batched index is refused: test_a_batched_index_is_refused
            agree_with_points(program, points_of(program, values, batched, draw), batched)


@pytest.mark.parametrize("name", sorted(p.stem for p in SAMPLES.glob("*.ad")))
def test_every_sample_batches(name):
    from test_export import sample_values
    program = adcli.load(str(SAMPLES / f"{name}.ad"))
    values = sample_values(name)
    rng = np.random.default_rng(len(name))
    graph = program.graph
    for batched in [[n] for n in program.inputs] + [program.inputs]:
        batched = [n for n in batched if graph.nodes[graph.inputs[program.inputs.index(n)]].dtype != "i"]
        if not batched:
            continue

        def draw(k):  # the sample's values, moved a little (an int input stays as it is)
            return {n: v + 0.05 * k * rng.normal(size=np.shape(v)) if v.dtype.kind == "f" else v
                    for n, v in values.items()}
        agree_with_points(program, points_of(program, values, batched, draw), batched)


def test_chunks_change_nothing():
    program = adcli.load(str(SAMPLES / "mlp.ad"))
    from test_export import sample_values
    values = sample_values("mlp")
    rng = np.random.default_rng(3)
    given = {**values, "X": rng.normal(size=(10,) + values["X"].shape)}
    whole = program.batch("X").grad(**given)
    seen = []
    for chunk in (1, 3, 10, 64):
        parts = program.batch("X", chunk=chunk, progress=lambda done, total: seen.append((done, total))).grad(
            **given)
        close(parts.value, whole.value, f"chunk {chunk}")
        for name in whole.grad:
            close(parts.grad[name], whole.grad[name], f"chunk {chunk}: {name}")
    assert seen[:10] == [(k, 10) for k in range(1, 11)]  # one report per chunk of one point


def test_hostile_values_at_some_points():
    """Zeros, negative bases, huge and tiny values and a kink at some points: each point as alone."""
    program = adcli.parse("input x: []\ninput y: [2]\nz = sum(abs(x) * y ** 3 + sqrt(y * y) + relu(x) * log1p(y * y))"
                          " + x ** 2.5 + max(y) * exp(-x)\n")
    x = np.array([-4.0, 0.0, 1e-300, 5e-324, 700.0, 2.0])
    y = np.array([[1.0, 1.0], [-2.0, 0.0], [1e200, -1e-200], [3.0, -3.0], [0.0, 0.0], [np.inf, 1.0]])
    many = program.batch("x", "y")
    result = many.grad(x=x, y=y)
    for k in range(len(x)):
        one = program.grad(x=x[k], y=y[k])
        np.testing.assert_array_equal(result.value[k], one.value)  # same operations, same bits
        for name in one.grad:
            np.testing.assert_array_equal(result.grad[name][k], one.grad[name])
    assert result.kinked.tolist() == [True, True, False, False, True, False]  # max's tie, relu at 0


def test_per_example_gradients_of_shared_weights():
    """The shared inputs' gradients are per point: summing them gives the batch loss's gradient."""
    program = adcli.load(str(SAMPLES / "mlp.ad"))
    from test_export import sample_values
    values = sample_values("mlp")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(6,) + values["X"].shape)
    per_example = program.batch("X").grad(**{**values, "X": X}).grad
    assert per_example["W1"].shape == (6,) + values["W1"].shape
    summed = sum(program.grad(**{**values, "X": X[k]}).grad["W1"] for k in range(6))
    close(per_example["W1"].sum(axis=0), summed, "summed per-example gradients")


def test_a_batched_index_is_refused():
    program = adcli.parse("input E: [5, 3]\ninput k: int[2]\ny = sum(E[k] * E[k])\n", "lookup.ad")
    with pytest.raises(ShapeError, match="'k' is used here as an index, and an index cannot differ"):
        program.batch("k").grad(E=np.ones((5, 3)), k=np.array([[0, 1], [2, 3]]))
    # the table itself may be batched, and an int input used as a number may be too
    result = program.batch("E").grad(E=np.ones((4, 5, 3)), k=np.array([0, 4]))
    assert result.grad["E"].shape == (4, 5, 3)
    counted = adcli.parse("input x: []\ninput n: int[]\ny = x * n\n")
    assert counted.batch("n").grad(x=2.0, n=np.array([1, 2, 3])).grad["x"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("names, given, message", [
    (["q"], {"x": np.ones(3)}, "--batch q: 'q' is not an input of this file (its inputs are x)"),
    (["x"], {"x": 2.0}, "--batch x: input 'x' is a scalar; a batched input has its points along a leading axis"),
])
def test_bad_batches_are_one_clear_error(names, given, message):
    program = adcli.parse("input x: []\ny = x * x\n")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        program.batch(*names).grad(**given)


def test_batch_sizes_must_agree_and_shapes_are_of_one_point():
    program = adcli.parse("input x: [2]\ninput w: [2]\ny = sum(x * w)\n")
    with pytest.raises(InputError, match="input 'w' has 4 points along its first axis, but 'x' has 3"):
        program.batch("x", "w").grad(x=np.ones((3, 2)), w=np.ones((4, 2)))
    with pytest.raises(InputError, match=r"declared with shape \[2\] but its value has shape \[3\]"):
        program.batch("x").grad(x=np.ones((5, 3)), w=np.ones(2))


def test_empty_batch():
    program = adcli.parse("input x: [2]\ny = sum(x * x)\n")
    result = program.batch("x").grad(x=np.ones((0, 2)))
    assert result.value.shape == (0,) and result.grad["x"].shape == (0, 2)


# ---------------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------------

def test_grad_eval_and_jvp_commands(tmp_path):
    points = tmp_path / "points.npz"
    W, x = np.array([2.0, -1.0, 0.5]), np.array([3.0, 3.0, -2.0])
    np.savez(points, W=W, x=x, b=np.array(1.0))
    relu = str(SAMPLES / "relu.ad")
    out = runner.invoke(app, ["grad", relu, "--inputs", str(points), "--batch", "W", "--batch", "x", "--json"])
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    kinks = data.pop("kinks")  # W·x + b = 0 at the third point: relu's kink, there alone
    assert data == {"output": "H", "value": [7.0, 0.0, 0.0], "grad": {"W": [3.0, 0.0, 0.0], "x": [2.0, 0.0, 0.0],
                                                                    "b": [1.0, 0.0, 0.0]}}
    assert [(k["point"], k["points"], k["convention"]) for k in kinks] == [(2, 1, "relu′(0) taken as 0")]
    shown = runner.invoke(app, ["grad", relu, "--inputs", str(points), "--batch", "W", "--batch", "x"])
    assert shown.stdout.startswith("3 points (W, x batched; other inputs shared): values and gradients per point\n")
    values = json.loads(runner.invoke(app, ["eval", relu, "--inputs", str(points), "--set", "x=3", "--batch", "W",
                                            "--json"]).stdout)
    assert values["values"]["H"] == [7.0, 0.0, 2.5]  # W batched, x = 3 shared: relu(3W + 1)
    tangent = json.loads(runner.invoke(app, ["jvp", relu, "--inputs", str(points), "--batch", "W", "--batch", "x",
                                             "--tangent", "W=1", "--json"]).stdout)
    assert tangent["tangent"] == [3.0, 0.0, 0.0]


def test_kinks_and_strict_name_the_point(tmp_path):
    points = tmp_path / "points.npz"
    np.savez(points, x=np.array([4.0, 0.0, 1.0, -1.0]))
    src = tmp_path / "root.ad"
    src.write_text("y = sqrt(x) + relu(x - 1)\n")
    out = runner.invoke(app, ["grad", str(src), "--inputs", str(points), "--batch", "x"])
    assert out.exit_code == 0
    assert "adcli: warning: at point 1 (one of 2 points with a result that is not finite): ∂y/∂x is not finite" \
        in out.stderr
    assert "adcli: note: at point 2: relu′(0) taken as 0" in out.stderr
    strict = runner.invoke(app, ["grad", str(src), "--inputs", str(points), "--batch", "x", "--strict"])
    assert strict.exit_code == 1 and "at point 1:" in strict.stderr and "Traceback" not in strict.stderr


@pytest.mark.parametrize("args, message", [
    (["--batch", "W", "--engine", "torch"], "--batch runs on adcli's own engine: leave out --engine torch"),
    (["--batch", "W", "--engine", "jax", "--mode", "forward"], "--engine jax --batch runs the exported module"),
    (["--batch", "W", "--mode", "forward"], "--batch computes gradients by reverse mode: leave out --mode forward"),
    (["--batch", "W", "--chunk", "0"], "--chunk 0: a chunk holds at least one point"),
    (["--batch", "Q"], "--batch Q: 'Q' is not an input of this file (its inputs are W, x, b)"),
])
def test_bad_options_exit_2(tmp_path, args, message):
    points = tmp_path / "points.npz"
    np.savez(points, W=np.array([2.0, -1.0]), x=np.array(3.0), b=np.array(1.0))
    out = runner.invoke(app, ["grad", str(SAMPLES / "relu.ad"), "--inputs", str(points), *args])
    assert out.exit_code == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_no_progress_bar_on_a_pipe(tmp_path):
    points = tmp_path / "points.npz"
    np.savez(points, W=np.linspace(-1, 1, 50), x=np.array(3.0), b=np.array(1.0))
    out = runner.invoke(app, ["grad", str(SAMPLES / "relu.ad"), "--inputs", str(points), "--batch", "W",
                              "--chunk", "7", "--json"])
    assert out.exit_code == 0 and out.stderr == ""
    assert len(json.loads(out.stdout)["value"]) == 50


def test_every_operation_has_a_batching_rule():
    assert all(op.batch is not None for op in OPS.values())
    with pytest.raises(AdError):
        adcli.parse("input x: []\ny = x\n").batch("x").grad(x=np.ones((2, 2)))


def test_a_point_whose_upstream_gradient_is_zero_passes_zero_on_as_alone():
    """The strong zero point by point: det's rule meets an infinity at point 0, where c = 0 makes ḡ
    zero; point 1's ḡ is not zero, and point 0 still gets the zeros it gets alone, not 0·inf = NaN."""
    program = adcli.parse("input v: [2, 2]\ninput c\nloss = det(v) * c\n")
    v = np.array([[[4.0, 2.0], [3.0, np.inf]], [[1.0, 2.0], [3.0, 4.0]]])
    c = np.array([0.0, 1.0])
    many = program.batch("v", "c").grad(v=v, c=c)
    for k in range(2):
        alone = program.grad(v=v[k], c=c[k])
        np.testing.assert_array_equal(many.grad["v"][k], alone.grad["v"])
    assert not np.isnan(many.grad["v"][0]).any()


def test_an_integer_input_the_output_never_reads_may_be_batched():
    """Made after the output (here the output is the input y itself), it indexes nothing the output needs."""
    program = adcli.parse("input y\ninput lab: int[2]\nloss = y\n")
    many = program.batch("y", "lab").grad(y=np.array([1.0, 3.0]), lab=np.array([[0, 1], [1, 0]]))
    np.testing.assert_array_equal(many.value, [1.0, 3.0])
    np.testing.assert_array_equal(many.grad["y"], [1.0, 1.0])
