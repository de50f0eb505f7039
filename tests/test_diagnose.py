"""Non-finite provenance (--strict and warnings) and the kinks a derivative passes through."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.diagnose import (NonFiniteWatch, first_nonfinite_gradient, first_nonfinite_value, inspect_grad,
                                   require_finite)
from adcli.engine.kinks import find_kinks
from adcli.engine.program import parse
from adcli.engine.reverse import backward
from adcli.errors import NonFiniteError

runner = CliRunner()


def run(tmp_path, source, *args):
    path = tmp_path / "f.ad"
    path.write_text(source, encoding="utf-8")
    return runner.invoke(app, [args[0], str(path), *args[1:]]), str(path)


def values_of(source, **given):
    program = parse(source, "f.ad")
    return program.graph, program.values(given)


# ---------------------------------------------------------------------------------------------
# --strict names the origin: node, operation, operand values, FILE:LINE:COL and a caret
# ---------------------------------------------------------------------------------------------

STRICT_CASES = [
    # (source, values, command, line:col, message fragments, caret line)
    ("p = x - 1\ny = log(p) * 2\n", ["x=1"], "eval", "2:5",
     ["non-finite value: U1 = log(p) is -inf where p = 0", "division by zero"],
     "    ^"),
    ("y = x / x\n", ["x=0"], "eval", "1:7",
     ["non-finite value: y = x/x is nan where x = 0", "no value: such as 0/0, inf - inf or sqrt of a negative number"], "      ^"),
    ("y = sqrt(x) + x\n", ["x=0"], "grad", "1:5",
     ["non-finite gradient: ∂y/∂x through U1 = √x is inf where x = 0, ∂y/∂U1 = 1",
      "local derivative 1/(2√x) = inf"], "    ^"),
    ("a = exp(x)\ny = a - a\n", ["x=1000"], "grad", "1:5",
     ["non-finite value: a = exp(x) is inf where x = 1000 (overflow: beyond float64's range, about 1.8e308)",
      "the first nan follows at line 2, col 7: y = a - a where a = inf (no value: such as 0/0, inf - inf or sqrt of a negative number)"],
     "    ^"),
    ("y = 2 * exp(x)\n", ["x=710"], "eval", "1:9",
     ["U1 = exp(x) is inf where x = 710 (overflow: beyond float64's range, about 1.8e308)"], "        ^"),
]


@pytest.mark.parametrize("source, given, command, where, fragments, caret", STRICT_CASES)
def test_strict_pinpoints_the_origin(tmp_path, source, given, command, where, fragments, caret):
    result, path = run(tmp_path, source, command, "--set", *given, "--strict")
    assert result.exit_code == 1
    assert result.stdout == ""
    head, text, mark = result.stderr.rstrip("\n").split("\n")
    assert head.startswith(f"{path}:{where}: error: ")
    for fragment in fragments:
        assert fragment in head
    line = int(where.split(":")[0])
    assert text == source.splitlines()[line - 1]
    assert mark == caret


def test_zero_times_infinity_in_the_backward_pass_is_zero():
    """x·√x at 0: the chain rule's 0·∞ is 0 (the element does not move), so ∂y/∂x = 0, its true value."""
    graph, values = values_of("y = x * sqrt(x)\n", x=0.0)
    assert first_nonfinite_gradient(graph, values, graph.output, graph.inputs) is None
    assert adcli.parse("y = x * sqrt(x)\n").grad(x=0.0).grad == {"x": 0.0}


def test_an_infinite_gradient_is_named_where_it_arises():
    graph, values = values_of("y = 2 * sqrt(x)\n", x=0.0)
    problem = first_nonfinite_gradient(graph, values, graph.output, graph.inputs)
    assert problem.phase == "gradient"
    assert np.isinf(problem.result)
    assert problem.span.col == 9  # sqrt, not the product
    assert "local derivative 1/(2√x) = inf" in problem.where


def test_the_first_bad_element_of_an_array_is_named():
    graph, values = values_of("y = sum(log(p))\n", p=np.array([1.0, 0.0, 2.0]))
    problem = first_nonfinite_value(graph, values)
    assert problem.index == (1,)
    assert problem.summary() == ("U1 = log(p) is -inf at index [1] where p[1] = 0 "
                                 "(division by zero)")


def test_finite_programs_pass_strict():
    graph, values = values_of("H = relu(W @ x + b)\n", W=2.0, x=3.0, b=1.0)
    assert first_nonfinite_value(graph, values) is None
    require_finite(graph, values, graph.output, graph.inputs)  # raises nothing


def test_require_finite_raises_the_typed_error():
    graph, values = values_of("y = log(x)\n", x=0.0)
    with pytest.raises(NonFiniteError) as caught:
        require_finite(graph, values)
    assert caught.value.exit_code == 1
    assert caught.value.span.line == 1 and caught.value.span.col == 5


def test_watch_chains_with_another_hook():
    graph, values = values_of("y = sqrt(x) + x\n", x=0.0)
    watch = NonFiniteWatch(graph, values, graph.output)
    seen = []

    def hook(*update):
        seen.append(update[:3])
        watch(*update)

    grads = backward(graph, values, graph.output, graph.inputs, on_update=hook)
    assert np.isinf(grads[graph.inputs[0]])
    assert len(seen) == 3
    assert watch.first.node == 1 and watch.first.phase == "gradient"


# ---------------------------------------------------------------------------------------------
# Without --strict: a one-line warning, results and exit code unchanged
# ---------------------------------------------------------------------------------------------

def test_eval_warns_once_and_keeps_exit_code(tmp_path):
    result, path = run(tmp_path, "p = x - 1\ny = log(p) * 2\n", "eval", "--set", "x=1", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"values": {"p": 0.0, "y": "-Infinity"}}
    assert result.stderr == (f"adcli: warning: y is not finite; the first non-finite value appeared at {path}:2:5: "
                             "U1 = log(p) is -inf where p = 0 (division by zero) "
                             "(use --strict to stop there)\n")


def test_grad_warns_about_a_gradient(tmp_path):
    result, path = run(tmp_path, "y = sqrt(x) + x\n", "grad", "--set", "x=0", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["grad"] == {"x": "Infinity"}
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"adcli: warning: ∂y/∂x is not finite; the first non-finite gradient "
                                    f"appeared at {path}:1:5: ∂y/∂x through U1 = √x is inf")


def test_finite_results_print_no_warning(tmp_path):
    result, _ = run(tmp_path, "y = x * (x + 1)\n", "grad", "--set", "x=17")
    assert result.exit_code == 0 and result.stderr == ""


def test_strict_is_quiet_when_everything_is_finite(tmp_path):
    result, _ = run(tmp_path, "y = log(x)\n", "eval", "--set", "x=2", "--strict", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout) == {"values": {"y": float(np.log(2.0))}}


# ---------------------------------------------------------------------------------------------
# Kinks
# ---------------------------------------------------------------------------------------------

def test_grad_notes_relu_at_zero(tmp_path):
    source = "# the lecture's first example\n\nH = relu(W @ x + b)\n"
    result, _ = run(tmp_path, source, "grad", "--set", "W=2", "x=3", "b=-6", "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert {k: out[k] for k in ("output", "value", "grad")} == {
        "output": "H", "value": 0.0, "grad": {"W": 0.0, "x": 0.0, "b": 0.0}}
    assert list(out) == ["output", "value", "grad", "kinks"]
    assert out["kinks"] == [{"op": "relu", "node": "H", "expression": "H = ReLU(U2)",
                             "convention": "relu′(0) taken as 0", "line": 3, "col": 5, "count": 1, "size": 1}]
    assert result.stderr == "adcli: note: relu′(0) taken as 0 at line 3, col 5 (H = ReLU(U2))\n"


def test_grad_json_without_kinks_is_unchanged(tmp_path):
    result, _ = run(tmp_path, "H = relu(W @ x + b)\n", "grad", "--set", "W=2", "x=3", "b=1", "--json")
    assert result.stdout == '{"output": "H", "value": 7.0, "grad": {"W": 3.0, "x": 2.0, "b": 1.0}}\n'
    assert result.stderr == ""


def test_abs_and_ties_are_noted_with_their_conventions():
    graph, values = values_of("y = sum(abs(v)) + max(a, b) + max(v)\n", v=np.array([0.0, 2.0, 2.0, 0.0]),
                              a=1.0, b=1.0)
    kinks = find_kinks(graph, values, graph.output)
    assert [(k.op, k.convention, k.count, k.size) for k in kinks] == [
        ("abs", "abs′(0) taken as 0", 2, 4),
        ("maximum", "a tie in max splits the gradient evenly", 1, 1),
        ("amax", "a tie in max() splits the gradient evenly", 1, 1),
    ]
    assert kinks[0].note() == "abs′(0) taken as 0 at line 1, col 9 (2 of 4 elements, U1 = |v|)"


def test_kinks_off_the_derivative_path_are_not_noted():
    graph, values = values_of("h = relu(x)\ny = 2 * z\n", x=0.0, z=1.0)
    assert find_kinks(graph, values, graph.output) == []  # y does not depend on h
    out = graph.names["h"]
    assert [k.op for k in find_kinks(graph, values, out)] == ["relu"]
    z = graph.nodes.index(next(n for n in graph.nodes if n.label == "z"))
    assert find_kinks(graph, values, out, wrt=[z]) == []  # no derivative with respect to x asked for


def test_inspect_grad_computes_the_gradient_itself_for_trace():
    program = parse("y = sqrt(x) + relu(x)\n", "f.ad")
    warning, kinks = inspect_grad(program, {"x": 0.0})
    assert warning.startswith("adcli: warning: ∂y/∂x is not finite; the first non-finite gradient appeared at f.ad:1:5")
    assert [k.note() for k in kinks] == ["relu′(0) taken as 0 at line 1, col 15 (U2 = ReLU(x))"]
    with pytest.raises(NonFiniteError):
        inspect_grad(program, {"x": 0.0}, strict=True)
    assert inspect_grad(program, {"x": 4.0}) == (None, [])


def test_the_warning_names_a_value_the_output_is_computed_from():
    program = parse("y = log(x)\nz = 1/x\n", "f.ad")
    warning, _ = inspect_grad(program, {"x": 0.0})
    # y = log(0) comes first in the file, but z does not depend on it
    assert "f.ad:2:6: z = 1/x is inf" in warning
    with pytest.raises(NonFiniteError) as caught:
        inspect_grad(program, {"x": 0.0}, strict=True)
    assert (caught.value.span.line, caught.value.span.col) == (2, 6)


@pytest.mark.parametrize("source,given", [
    ("H = relu(W * x + b)\n", {"W": 2.0, "x": 3.0, "b": -6.0}),
    ("u = relu(x - 1) + abs(x - 1)\ny = u + sqrt(x - 5) * max(x, 1)\n", {"x": 1.0}),
    ("y = max(x, 1) * 1e308 * 10 + min(x, 2)\n", {"x": 2.0}),
])
@pytest.mark.parametrize("strict", [False, True])
def test_diagnostics_read_the_scalar_passes_values_as_a_second_pass_would(source, given, strict):
    """grad's own values (kept by the scalar path) give the same warnings, kinks and --strict stop as
    evaluating the program again."""
    import dataclasses

    from adcli import parse
    from adcli.engine.diagnose import inspect_grad
    from adcli.errors import AdError
    program = parse(source)
    values = {k: np.array(v) for k, v in given.items()}
    result = program.grad(**values)
    assert result.values is not None  # the scalar path ran

    def outcome(r):
        try:
            warning, kinks = inspect_grad(program, values, result=r, strict=strict)
            return warning, [k.to_json() for k in kinks]
        except AdError as e:
            return type(e).__name__, str(e)
    assert outcome(result) == outcome(dataclasses.replace(result, values=None))


def test_a_nan_before_a_where_that_feeds_nodes_past_the_output(tmp_path):
    """The where-branch diagnosis followed a NaN's consumers past the output, whose values were
    never computed (an IndexError in `check`, found by the fuzzer): it stops there instead."""
    source = ("input v1: [3]\nh5 = where(std(1.0, axis=None, keepdims=True) != 3.0, min(v1), 2.27) + var(sum(v1), None, 1)\n"
              "acc = [[2.0, 0.5], [1.0, 0.25]]\nfor t in range(1, 4, 2):\n    acc = acc * 0.1 + acc\nH = erfc(h5)\nout = h5\n")
    path = tmp_path / "m.ad"
    path.write_text(source)
    result = CliRunner().invoke(app, ["check", str(path), "--set", "v1=[-1.0, 0.5, 2.0]"])
    assert result.exit_code == 3, result.output  # the function is NaN at the point: nothing checked
    assert "internal error" not in result.output and "not defined at this point" in result.output
