"""The strong zero (0·∞ and 0·NaN taken as 0 in the chain rule): one rule in every mode and order,
and a warning, or under --strict an error, wherever a reported derivative depends on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.forward import forward_grad, jvp
from adcli.engine.higher import derivatives
from adcli.engine.matrices import hessian, jacobian

runner = CliRunner()


def run(tmp_path, source: str, *args):
    path = tmp_path / "f.ad"
    path.write_text(source)
    result = runner.invoke(app, [str(a) for a in (args[0], path, *args[1:])])
    return result.exit_code, result.stdout, result.stderr


# Programs where an exact zero meets an infinity or NaN in the chain rule at the point, and whether
# the result depends on the convention (True) or the zero is exact: the element is chosen away
# near the point (an unchosen where branch, relu's flat side), so 0 is the true derivative.
DECIDED = [
    ("y = cbrt(x ** 3)", 0.0),  # 3x² = 0 meets cbrt′(0) = inf: the true derivative is 1
    ("y = square(sqrt(x))", 0.0),  # 2√x = 0 meets sqrt′(0) = inf: the true derivative is 1
    ("y = x * sqrt(x)", 0.0),  # x = 0 meets sqrt′(0) = inf: here 0 happens to be right
    ("y = sqrt(x * x)", 0.0),  # 2x = 0 meets sqrt′(0) = inf: |x| has no derivative at 0
]
EXACT = [
    ("y = where(x > 0, sqrt(x), 0 * x)", 0.0),
    ("y = where(x > 0, sqrt(x), 0 * x)", -1.0),  # sqrt′(-1) is NaN, in the branch not chosen
    ("y = relu(sqrt(x) - 1)", 0.0),  # relu is flat below 0: sqrt′(0) = inf meets a zero that is exact
    ("y = where(x < 1, x * x, log(x - 1))", 0.5),
    ("y = 0 * sqrt(x)", 0.0),  # a product with a constant zero does not move
    ("y = sqrt(relu(x)) + x", -1.0),  # relu′ = 0 on its flat side meets sqrt′(0) = inf
    ("y = sum(sqrt(x * eye(2)))", 4.0),  # a constant mask: the off-diagonal elements never move
]
COMMANDS = [("grad",), ("grad", "--mode", "forward"), ("trace",), ("jvp", "--tangent", "x=1"),
            ("derivative", "--wrt", "x", "--order", "2"), ("jacobian",), ("hessian",)]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
@pytest.mark.parametrize("source,x", DECIDED, ids=[s for s, _ in DECIDED])
def test_a_decided_strong_zero_is_warned_and_strict_stops(tmp_path, source, x, command):
    code, _, err = run(tmp_path, source, *command, "--set", f"x={x}")
    assert code == 0, err
    assert "depends on the strong zero at" in err and "f.ad:1:" in err, err
    code, _, err = run(tmp_path, source, *command, "--set", f"x={x}", "--strict")
    assert code == 1 and "error:" in err, err


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
@pytest.mark.parametrize("source,x", EXACT, ids=[f"{s} at {x}" for s, x in EXACT])
def test_an_exact_zero_is_not_warned(tmp_path, source, x, command):
    code, _, err = run(tmp_path, source, *command, "--set", f"x={x}")
    assert code == 0 and "strong zero" not in err, err


@pytest.mark.parametrize("source,x", DECIDED + EXACT, ids=[f"{s} at {x}" for s, x in DECIDED + EXACT])
def test_every_mode_and_order_applies_the_same_rule(source, x):
    """Reverse, forward, Jacobian, nested duals (Hessian) and Taylor series (order 2) agree."""
    program = adcli.parse(source)
    reverse = float(program.grad(x=x).grad["x"])
    assert float(forward_grad(program, x=x).grad["x"]) == reverse
    assert float(jvp(program, {"x": 1.0}, x=x).tangent) == reverse
    assert float(jacobian(program, x=x).blocks["x"]) == reverse
    first, second = derivatives(program, "x", 2, x=x).derivatives
    assert float(first) == reverse
    assert float(hessian(program, x=x).blocks[("x", "x")]) == pytest.approx(float(second), nan_ok=True)


def test_a_nan_in_the_branch_not_chosen_two_operations_deep_spoils_no_order():
    """The Hessian (reverse over duals) and the Taylor series agree: 2, the chosen branch's."""
    program = adcli.parse("y = where(x > 0, x * x, sqrt(log(x) - 1) * 2)")
    assert float(hessian(program, x=1.0).blocks[("x", "x")]) == 2.0
    assert [float(d) for d in derivatives(program, "x", 2, x=1.0).derivatives] == [2.0, 2.0]


def test_array_elements_are_counted_and_located(tmp_path):
    code, _, err = run(tmp_path, "input x: [3]\ny = sum(cbrt(x ** 3))\n", "grad", "--set", "x=[1, 0, 0]")
    assert code == 0
    assert "f.ad:2:16" in err and "at index [1], 2 of 3 elements" in err, err


def test_json_stays_valid_and_the_warning_goes_to_stderr(tmp_path):
    code, out, err = run(tmp_path, "y = cbrt(x ** 3)\n", "grad", "--set", "x=0", "--json")
    assert code == 0 and json.loads(out)["grad"] == {"x": 0.0}
    assert "strong zero" in err


def test_no_warning_where_nothing_is_infinite(tmp_path):
    code, _, err = run(tmp_path, "y = x * x * sin(x)\n", "grad", "--set", "x=0", "--strict")
    assert code == 0 and err == ""


def test_a_zero_upstream_gradient_through_a_structural_rule_is_noted():
    """A non-elementwise rule (a matrix product with an infinite entry) meeting ḡ = 0 gives 0."""
    program = adcli.parse("input A: [2, 2]\ninput v: [2]\ny = sum(relu(A @ v) * 0)\n")
    grads = program.grad(A=np.array([[np.inf, 1.0], [1.0, 1.0]]), v=np.array([1.0, 0.0])).grad
    assert np.all(np.isfinite(grads["A"])) and np.all(np.isfinite(grads["v"]))
