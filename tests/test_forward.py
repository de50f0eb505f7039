"""Forward mode: every operation on duals, graph tangents, forward against reverse, the jvp command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import op_cases  # noqa: E402
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.app import expand_multi_values
from adcli.cli.main import app
from adcli.engine.dual import Dual, apply, fresh_tag, tangent_at, value_at
from adcli.engine.forward import forward_grad, jvp, tangents
from adcli.operations import OPS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()

# ---------------------------------------------------------------------------------------------
# Every registry operation, run on duals
# ---------------------------------------------------------------------------------------------

def points(name):
    """The registry's cases for `name`, with a random tangent for each float operand."""
    for i, (xs, params) in enumerate(op_cases.points(name)):
        rng = np.random.default_rng(100 + i + sum(map(ord, name)))
        vs = [rng.normal(size=x.shape) if x.dtype == np.float64 else None for x in xs]
        yield xs, vs, params, rng


def lifted(xs, vs, tag):
    """Each float operand as a dual along its tangent; integer data as it is."""
    return [x if v is None else Dual(x, v, tag) for x, v in zip(xs, vs)]


WITH_DERIVATIVES = [name for name in sorted(OPS) if name not in op_cases.NO_DERIVATIVE]
SECOND_ORDER = [name for name in WITH_DERIVATIVES if OPS[name].second_order]


def moved(xs, vs, step):
    return [x if v is None else x + step * v for x, v in zip(xs, vs)]


@pytest.mark.parametrize("name", WITH_DERIVATIVES)
def test_dual_tangent_matches_vjp_and_finite_differences(name):
    op = OPS[name]
    for xs, vs, params, rng in points(name):
        tag = fresh_tag()
        out = apply(name, *lifted(xs, vs, tag), **params)
        value, tangent = value_at(out, tag), tangent_at(out, tag)
        np.testing.assert_array_equal(value, op.forward(*xs, **params))
        # ⟨u, J v⟩ == ⟨Jᵀ u, v⟩: the dual's tangent against the registry's vjp
        u = rng.normal(size=np.shape(value))
        left = float(np.sum(u * tangent))
        right = sum(float(np.sum(op.vjp(k, u, value, xs, params) * v)) for k, v in enumerate(vs) if v is not None)
        assert left == pytest.approx(right, rel=1e-11, abs=1e-14)
        h = 1e-6
        plus, minus = op.forward(*moved(xs, vs, h), **params), op.forward(*moved(xs, vs, -h), **params)
        np.testing.assert_allclose(tangent, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_vjp_rules_run_on_duals(name):
    """Forward over reverse, one rule at a time: the tangent of vjp(u) at x + εv is ∂vjp/∂x·v."""
    op = OPS[name]
    for xs, vs, params, rng in points(name):
        u = rng.normal(size=np.shape(op.forward(*xs, **params)))
        tag = fresh_tag()
        duals = lifted(xs, vs, tag)
        ans = apply(name, *duals, **params)
        h = 1e-6
        for k in op_cases.floats(xs):
            got = tangent_at(op.vjp(k, u, ans, duals, params), tag)
            ends = [op.vjp(k, u, op.forward(*m, **params), m, params) for m in (moved(xs, vs, h), moved(xs, vs, -h))]
            np.testing.assert_allclose(np.broadcast_to(got, np.shape(xs[k])), (ends[0] - ends[1]) / (2 * h),
                                       rtol=1e-5, atol=1e-7, err_msg=f"{name} operand {k}")


# ---------------------------------------------------------------------------------------------
# Graph evaluation in forward mode
# ---------------------------------------------------------------------------------------------

def test_lecture_product_tangents():
    """y = x·(x+1) at x = 17: u̇ = ẋ + 0 = 1, ẏ = ẋ·u + x·u̇ = 18 + 17 = 35."""
    program = adcli.load(str(SAMPLES / "product.ad"))
    graph = program.graph
    values = program.values({"x": 17.0})
    x = graph.inputs[0]
    ts = tangents(graph, values, graph.output, {x: np.float64(1.0)})
    by_label = {graph.nodes[i].label: t for i, t in enumerate(ts)}
    assert by_label["x"] == 1.0 and by_label["u"] == 1.0 and by_label["y"] == 35.0
    assert by_label["1"] is None  # a constant carries no tangent


def test_jvp_any_shape_and_inputs_without_tangent_get_zero():
    program = adcli.parse("input W: [2, 3]\ninput x: [3]\ny = W @ x")
    W, x = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    only_x = jvp(program, {"x": [1.0, 0.0, 0.0]}, W=W, x=x)
    assert only_x.value.tolist() == [8.0, 26.0] and only_x.tangent.tolist() == [0.0, 3.0]
    only_w = jvp(program, {"W": [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]}, W=W, x=x)
    assert only_w.tangent.tolist() == [1.0, 3.0]
    both = jvp(program, {"W": 1.0, "x": 1.0}, W=W, x=x)  # a scalar tangent fills the input
    assert both.tangent.tolist() == [6.0 + 3.0, 6.0 + 12.0]
    with pytest.raises(adcli.AdError, match="does not fit"):
        jvp(program, {"x": [1.0, 2.0]}, W=W, x=x)
    with pytest.raises(adcli.AdError, match="did you mean 'x'"):
        jvp(program, {"xx": 1.0}, W=W, x=x)


def test_forward_gradient_takes_one_pass_per_element():
    program = adcli.parse("input v: [3]\ny = sum(v * v)")
    result = forward_grad(program, v=[1.0, 2.0, 3.0])
    assert result.output == "y" and result.value == 14.0 and result.grad["v"].tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(adcli.AdError, match="scalar output"):
        forward_grad(adcli.parse("y = v * 2"), v=[1.0, 2.0])


def sample_inputs(path: Path, program) -> dict:
    """The sample's own values (NAME.json beside it), else a scalar for each input."""
    values = path.with_suffix(".json")
    if values.exists():
        return {k: np.asarray(v, dtype=np.float64) for k, v in json.loads(values.read_text()).items()}
    rng = np.random.default_rng(5)
    return {name: rng.uniform(0.5, 2.0) for name in program.inputs}


def assert_same_gradient(forward, reverse):
    assert forward.output == reverse.output and forward.value == reverse.value
    assert list(forward.grad) == list(reverse.grad)
    for name in reverse.grad:
        f, r = forward.grad[name], reverse.grad[name]
        scale = max(float(np.max(np.abs(r), initial=0.0)), 1e-300)
        assert np.max(np.abs(f - r), initial=0.0) <= 1e-12 * scale, (name, f, r)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.ad")), ids=lambda p: p.name)
def test_forward_equals_reverse_on_every_sample(path):
    program = adcli.load(str(path))
    given = sample_inputs(path, program)
    assert_same_gradient(forward_grad(program, **given), program.grad(**given))


UNARY = ["sin", "cos", "tanh", "sigmoid", "exp", "relu", "abs"]
SAFE = ["log(1 + {0}*{0})", "sqrt(1 + {0}*{0})", "exp(tanh({0}))", "{0} / (2 + sin({0}))", "max({0}, 0.1)"]


def generated_program(seed: int) -> str:
    """A random program over a scalar a, a vector v[3] and a matrix M[2, 3], ending in a scalar."""
    rng = random.Random(seed)
    lines = ["input a: []", "input v: [3]", "input M: [2, 3]"]
    vectors, scalars = ["v"], ["a"]
    for i in range(rng.randint(3, 7)):
        x, s = rng.choice(vectors), rng.choice(scalars)
        kind = rng.randrange(6)
        if kind == 0:
            expr = f"{rng.choice(UNARY)}({x}) * {s}"
        elif kind == 1:
            expr = rng.choice(SAFE).format(x) + f" - {rng.choice(vectors)}"
        elif kind == 2:
            expr = f"transpose(M) @ tanh(M @ {x})"
        elif kind == 3:
            expr = f"softmax({x} * {s}) + {x} ** 2"
        elif kind == 4:
            expr = f"{x} * {rng.choice(vectors)} + [{s}, 1, {s} * {s}]"
        else:
            name = f"s{i}"
            lines.append(f"{name} = {rng.choice(['sum', 'mean', 'max', 'logsumexp'])}({x}) * {s}")
            scalars.append(name)
            continue
        name = f"h{i}"
        lines.append(f"{name} = {expr}")
        vectors.append(name)
    lines.append(f"y = sum({vectors[-1]} * {vectors[-1]}) + {scalars[-1]}")
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(25))
def test_forward_equals_reverse_on_generated_files(seed):
    program = adcli.parse(generated_program(seed))
    rng = np.random.default_rng(seed)
    given = {"a": rng.uniform(0.5, 1.5), "v": rng.normal(size=3), "M": rng.normal(size=(2, 3)) * 0.5}
    assert_same_gradient(forward_grad(program, **given), program.grad(**given))


# ---------------------------------------------------------------------------------------------
# The jvp command and grad --mode forward
# ---------------------------------------------------------------------------------------------

def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_jvp_command_table_and_json():
    code, out, _ = run("jvp", SAMPLES / "product.ad", "--set", "x=17", "--tangent", "x=1")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert ["x", "input", "scalar", "17", "1"] in rows and ["y", "output", "scalar", "306", "35"] in rows
    code, out, _ = run("jvp", SAMPLES / "relu.ad", "--set", "W=2", "x=3", "b=1", "--tangent", "W=1", "x=0.5", "--json")
    assert code == 0
    assert json.loads(out) == {"output": "H", "value": 7.0, "tangent": 4.0, "tangents": {"W": 1.0, "x": 0.5}}


def test_jvp_command_on_arrays(tmp_path):
    path = tmp_path / "lin.ad"
    path.write_text("input W: [2, 2]\ninput x: [2]\ny = W @ x\n")
    code, out, _ = run("jvp", path, "--set", "W=[[1, 2], [3, 4]]", "x=[1, 1]", "--tangent", "W=[[1, 0], [0, 0]]",
                       "--json")
    assert code == 0 and json.loads(out)["tangent"] == [1.0, 0.0] and json.loads(out)["value"] == [3.0, 7.0]


def test_jvp_command_errors():
    code, _, err = run("jvp", SAMPLES / "product.ad", "--set", "x=17")
    assert code == 2 and "--tangent" in err
    code, _, err = run("jvp", SAMPLES / "product.ad", "--set", "x=17", "--tangent", "y=1")
    assert code == 2 and "'y' is not an input" in err
    code, _, err = run("jvp", SAMPLES / "product.ad", "--set", "x=17", "--tangent", "x=[1, 2]")
    assert code == 2 and "does not fit" in err
    code, _, err = run("jvp", SAMPLES / "product.ad", "--set", "x=17", "--tangent", "x=one")
    assert code == 2 and "--tangent x" in err and "Traceback" not in err


def test_tangent_takes_several_items():
    assert expand_multi_values(["jvp", "f.ad", "--tangent", "W=1", "x=2", "--json"]) == [
        "jvp", "f.ad", "--tangent", "W=1", "--tangent", "x=2", "--json"]


def test_grad_mode_forward_matches_reverse():
    args = ["grad", SAMPLES / "relu.ad", "--set", "W=2", "x=3", "b=1", "--json"]
    code_f, forward, _ = run(*args, "--mode", "forward")
    code_r, reverse, _ = run(*args, "--mode", "reverse")
    assert code_f == code_r == 0
    assert json.loads(forward)["grad"] == json.loads(reverse)["grad"] == {"W": 3.0, "x": 2.0, "b": 1.0}
    code, out, _ = run("grad", SAMPLES / "product.ad", "--set", "x=17", "--mode", "forward")
    assert code == 0 and "35" in out
    code, _, err = run("grad", SAMPLES / "product.ad", "--set", "x=17", "--mode", "sideways")
    assert code == 2 and "sideways" in err


@pytest.mark.parametrize("command", [["jvp", "--tangent", "x=1"], ["derivative", "--wrt", "x", "--order", "2"],
                                     ["jacobian"], ["hessian"]])
def test_forward_commands_never_show_a_non_finite_result_as_clean(tmp_path, command):
    path = tmp_path / "sqrt.ad"
    path.write_text("y = sqrt(x)\n")  # finite value at 0, infinite derivatives
    runner = CliRunner()
    base = [command[0], str(path), "--set", "x=0", *command[1:]]
    warned = runner.invoke(app, base + ["--json"])
    assert warned.exit_code == 0
    json.loads(warned.stdout)  # still valid JSON, with the non-finite numbers as strings
    assert warned.stderr.startswith("adcli: warning: ") and "not finite" in warned.stderr
    strict = runner.invoke(app, base + ["--strict"])
    assert strict.exit_code == 1
    assert strict.stdout == ""
    assert f"{path}:1:5: error: " in strict.stderr and "not finite" in strict.stderr
    clean = runner.invoke(app, [command[0], str(path), "--set", "x=4", *command[1:], "--strict"])
    assert clean.exit_code == 0 and clean.stderr == ""


def test_the_python_api_refuses_tangents_for_data_and_integers():
    """jvp() refuses a tangent for what is never differentiated, as the command line does."""
    from adcli.engine.forward import jvp as api_jvp
    from adcli.errors import InputError
    program = adcli.parse("data d\ninput n: int[]\ninput x\ny = d * x * n\n")
    for name in ("d", "n"):
        with pytest.raises(InputError, match=f"--tangent {name}: '{name}' cannot be differentiated"):
            api_jvp(program, {name: 1.0}, d=2.0, n=3, x=1.0)
    assert float(api_jvp(program, {"x": 1.0}, d=2.0, n=3, x=1.0).tangent) == 6.0
