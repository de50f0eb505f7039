"""Derivative rules written in the file (`def f.vjp(x, ..., g)`, as JAX's custom_vjp): used by reverse
and forward mode, Hessians, batch and exports, shown in traces, and checked one by one by `adcli check`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_implicit import exported_agrees, one_error  # the checks fixed points use too
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.forward import forward_grad
from adcli.engine.matrices import hessian
from adcli.export import export_source

runner = CliRunner()

STRAIGHT_THROUGH = """# rounding, with the straight-through estimator as its derivative
def hard(x) = round(x)
def hard.vjp(x, g) = g
input w: [3]
y = sum(hard(w) * w)
"""
TWO = """def f(x, y) = x * y + sin(x)
def f.vjp(x, y, g) = g * (y + cos(x)), g * x
input a: [3]
input b
z = sum(f(a, b) ** 2)
"""
SAME_WITHOUT_RULE = "def f(x, y) = x * y + sin(x)\ninput a: [3]\ninput b\nz = sum(f(a, b) ** 2)\n"
A, B = np.array([1.0, 2.0, 3.0]), 0.5


def run(tmp_path, source, *args):
    path = tmp_path / "m.ad"
    path.write_text(source)
    return runner.invoke(app, [args[0], str(path), *args[1:]])


def test_the_rule_replaces_the_derivative():
    """round() has derivative 0; the rule says 1, so ∂/∂w sum(round(w)·w) = w + round(w)."""
    w = np.array([0.4, 1.6, -2.5])
    result = adcli.parse(STRAIGHT_THROUGH).grad(w=w)
    np.testing.assert_array_equal(result.grad["w"], w + np.round(w))
    np.testing.assert_array_equal(forward_grad(adcli.parse(STRAIGHT_THROUGH), w=w).grad["w"], w + np.round(w))


def test_a_true_rule_gives_the_same_numbers_as_differentiating_the_function():
    ruled, plain = adcli.parse(TWO), adcli.parse(SAME_WITHOUT_RULE)
    got, want = ruled.grad(a=A, b=B), plain.grad(a=A, b=B)
    assert got.value == want.value
    np.testing.assert_allclose(got.grad["a"], want.grad["a"], rtol=1e-15)
    assert got.grad["b"] == pytest.approx(want.grad["b"], rel=1e-15)
    forward = forward_grad(ruled, a=A, b=B)
    np.testing.assert_allclose(forward.grad["a"], want.grad["a"], rtol=1e-15)
    # second derivatives differentiate the rule itself (forward over reverse on dual numbers)
    h_rule = hessian(ruled, dense=True, a=A, b=B).blocks
    h_plain = hessian(plain, dense=True, a=A, b=B).blocks
    for key in h_plain:
        np.testing.assert_allclose(h_rule[key], h_plain[key], rtol=1e-14, atol=1e-15)


def test_check_names_the_wrong_rule(tmp_path):
    right = run(tmp_path, TWO, "check", "--set", "a=[1, 2, 3]", "b=0.5")
    assert right.exit_code == 0, right.output
    assert "rule f.vjp (line 2) at the call at line 5, col 9: x pass, y pass" in right.stdout
    wrong = run(tmp_path, TWO.replace("y + cos(x)", "y - cos(x)"), "check", "--set", "a=[1, 2, 3]", "b=0.5")
    assert wrong.exit_code == 1
    assert "rule f.vjp (line 2) at the call at line 5, col 9: x FAIL" in wrong.stdout.replace("\n    ", " ")
    assert "the rule f.vjp disagrees with finite differences" in wrong.stdout.replace("\n    ", " ")
    report = json.loads(run(tmp_path, TWO.replace("y + cos(x)", "y - cos(x)"), "check", "--set", "a=[1, 2, 3]",
                            "b=0.5", "--json").stdout)
    assert report["passed"] is False
    (rule,) = report["rules"]
    assert rule["rule"] == "f.vjp" and [a["status"] for a in rule["arguments"]] == ["fail", "pass"]
    # the straight-through rule is not round's derivative: check says so, by name
    estimator = run(tmp_path, STRAIGHT_THROUGH, "check", "--set", "w=[0.4, 1.6, -2.7]")
    assert estimator.exit_code == 1 and "rule hard.vjp (line 3)" in estimator.stdout


def test_trace_shows_the_rule_by_name(tmp_path):
    trace = run(tmp_path, STRAIGHT_THROUGH, "trace", "--set", "w=[0.4, 1.6, -2.5]", "--format", "plain").stdout
    assert "U1: [3] = hard(w)" in trace and "hard.vjp(…, ḡ)" in trace


def test_batch_gives_each_point_the_bits_it_gets_alone(tmp_path):
    (tmp_path / "in.json").write_text(json.dumps({"a": [1.0, 2.0, 3.0], "b": [0.5, 1.5, -2.0]}))
    out = run(tmp_path, TWO, "grad", "--inputs", str(tmp_path / "in.json"), "--batch", "b", "--json")
    assert out.exit_code == 0, out.output
    batch = json.loads(out.stdout)
    for k, b in enumerate([0.5, 1.5, -2.0]):
        alone = adcli.parse(TWO).grad(a=A, b=b)
        assert batch["value"][k] == float(alone.value)
        assert batch["grad"]["a"][k] == alone.grad["a"].tolist() and batch["grad"]["b"][k] == float(alone.grad["b"])


def test_in_a_loop_and_inside_a_solution():
    source = """def f(x, y) = x * y + sin(x)
def f.vjp(x, y, g) = g * (y + cos(x)), g * x
def step(h, c) = 0.5 * f(h, c) / (1 + h * h) + c
input c
h = c
for t in range(3):
    h = f(h, c)
z = fixed_point(step, 0.0, c) + h
"""
    program = adcli.parse(source)
    result = program.grad(c=0.3)
    eps = 1e-6
    numeric = (program.eval(of="z", c=0.3 + eps)["z"] - program.eval(of="z", c=0.3 - eps)["z"]) / (2 * eps)
    assert result.grad["c"] == pytest.approx(float(numeric), rel=1e-8)


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_exports_carry_the_rule(target):
    for source, values in [(TWO, {"a": A, "b": B}), (STRAIGHT_THROUGH, {"w": np.array([0.4, 1.6, -2.5])})]:
        exported_agrees(adcli.parse(source), values, target)
        assert "def results(" in export_source(adcli.parse(source), target)  # the rule is a class of the module


@pytest.mark.parametrize("source,phrase,where", [
    ("def f.vjp(x, g) = g\ndef f(x) = x\ninput a\ny = f(a)\n", "must be defined before it", "1:5"),
    ("def f(x) = x\ndef f.vjp(x) = x\ninput a\ny = f(a)\n", "2 parameters, not 1", "2:5"),
    ("def f(x) = x\ndef f.vjp(x, g) = g\ndef f.vjp(x, g) = g\ninput a\ny = f(a)\n", "defined twice", "3:5"),
    ("def f(x, y) = x * y\ndef f.vjp(x, y, g) = g * y\ninput a\ny = f(a, a)\n", "returns 1 value, but f() takes 2",
     "2:5"),
    ("def f(x) = x * 2\ndef f.vjp(x, g) = g * a\ninput a\ny = f(a)\n", "f.vjp() reads 'a'", "2:5"),
    ("input a\ndef f(x) = x * a\ndef f.vjp(x, g) = g * a\ny = f(a)\n", "f() reads 'a'", "2:5"),
    ("def f(x) = x * 2\ndef f.vjp(x, g) = [g, g]\ninput a\ny = f(a)\n", "cotangent of shape [2] for argument 1",
     "4:5"),
])
def test_errors_are_one_message_at_their_place(tmp_path, source, phrase, where):
    one_error(run(tmp_path, source, "grad", "--set", "a=1"), phrase, where)


def test_lint_takes_a_file_with_rules(tmp_path):
    assert run(tmp_path, TWO, "lint").exit_code == 0
    bad = run(tmp_path, "def f(x) = x\ndef f.vjp(x) = x\ninput a\ny = f(a)\n", "lint")
    assert bad.exit_code == 2 and "2 parameters, not 1" in bad.stdout + bad.stderr


def test_value_is_the_function_s_own():
    w = np.array([0.4, 1.6, -2.5])
    assert adcli.parse(STRAIGHT_THROUGH).grad(w=w).value == pytest.approx(float(np.sum(np.round(w) * w)), rel=1e-15)
    assert math.isfinite(adcli.parse(TWO).grad(a=A, b=B).value)


def test_a_rule_may_call_its_own_function():
    """Inside f.vjp, f is the plain function (inlined), as JAX's backward pass may call the primal."""
    program = adcli.parse("def f(x) = x * x\ndef f.vjp(x, g) = g * 2 * f(x) / x\ninput a\ny = f(a)\n")
    assert program.grad(a=3.0).grad["a"] == 6.0


def test_rules_nested_beyond_the_bound_are_one_message(tmp_path):
    lines = ["def f0(x) = x * 2", "def f0.vjp(x, g) = g * 2"]
    for i in range(1, 80):
        lines += [f"def f{i}(x) = f{i - 1}(x) + 1", f"def f{i}.vjp(x, g) = g * 2"]
    result = run(tmp_path, "\n".join(lines + ["input a", "y = f79(a)"]) + "\n", "grad", "--set", "a=1")
    assert result.exit_code == 2 and "at most that many, one inside another" in result.stderr
    assert "Traceback" not in result.output
