"""`adcli check`: reverse mode against finite differences and forward mode, kinks, broken rules."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adcli.cli.main import app
from adcli.engine.check import FAIL, KINK, OUTSIDE, PASS, SKIPPED, UNSURE, check_gradients, forward_mode
from adcli.engine.program import load, parse
from adcli.operations import OPS

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample_inputs(path: Path) -> list[str]:
    """Command-line values for a sample: its .json beside it, a `--set` in its comments, or 0.5, 1.5, ..."""
    data = path.with_suffix(".json")
    if data.exists():
        return ["--inputs", str(data)]
    text = path.read_text(encoding="utf-8")
    found = re.search(r"--set ((?:\w+=\S+ ?)+)", text)
    if found:
        return ["--set", *found.group(1).split()]
    program = load(str(path))
    return ["--set", *[f"{name}={k + 0.5}" for k, name in enumerate(program.inputs)]]


def invoke(*args):
    return runner.invoke(app, ["check", *map(str, args)])


def write(tmp_path, source):
    path = tmp_path / "f.ad"
    path.write_text(source, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Every sample passes
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.ad")), ids=lambda p: p.name)
def test_every_sample_passes(sample):
    result = invoke(sample, *sample_inputs(sample), "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert {row["status"] for row in report["inputs"]} <= {PASS, KINK}


def test_the_lecture_example_in_a_table():
    result = invoke(SAMPLES / "relu.ad", "--set", "W=2", "x=3", "b=1")
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:5]}
    assert set(rows) == {"W", "x", "b"}
    assert all(row[-1] == "pass" for row in rows.values())
    assert rows["x"][1:4] == ["1", "0.0e+00", "0.0e+00"]
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "dot-product test of forward against reverse mode: " in result.stdout
    assert result.stdout.splitlines()[-1] == "ok: 3 pass (eps 1e-06, rtol 1e-06, atol 1e-08; forward mode too)"


def test_errors_and_worst_element_are_measured():
    program = load(str(SAMPLES / "mlp.ad"))
    given = {k: np.array(v) for k, v in json.loads((SAMPLES / "mlp.json").read_text()).items()}
    report = check_gradients(program, given)
    assert [c.name for c in report.inputs] == ["X", "Y", "W1", "b1", "W2", "b2"]
    x = report.inputs[0]
    assert (x.shape, x.mode, x.probes, x.compared) == ((4, 3), "elements", 12, 12)
    assert 0 < x.max_abs < 1e-8 and x.max_rel < 1e-6
    # The worst elements come first: the largest error relative to atol + rtol·|reverse|.
    assert len(x.worst) == 5 and [p.ratio for p in x.worst] == sorted((p.ratio for p in x.worst), reverse=True)
    assert 0 < abs(x.worst[0].reverse - x.worst[0].numeric) <= x.max_abs
    assert report.dot is not None and report.dot.passed


# ---------------------------------------------------------------------------------------------
# A deliberately broken rule fails
# ---------------------------------------------------------------------------------------------

def test_a_broken_derivative_fails_with_exit_1(tmp_path, monkeypatch):
    broken = dataclasses.replace(OPS["mul"], deriv_code=("{y}", "2 * {x}"))
    monkeypatch.setitem(OPS, "mul", broken)
    path = write(tmp_path, "y = a * b + a\n")
    result = invoke(path, "--set", "a=3", "b=5", "--json")
    assert result.exit_code == 1
    rows = {row["name"]: row for row in json.loads(result.stdout)["inputs"]}
    assert rows["a"]["status"] == PASS  # ∂(a·b)/∂a is still right
    assert rows["b"]["status"] == FAIL
    (worst,) = rows["b"]["worst"]
    assert worst["index"] == [] and worst["reverse"] == 6.0 and worst["numeric"] == pytest.approx(3.0, rel=1e-8)
    assert worst["abs_error"] == pytest.approx(3.0, rel=1e-8) and worst["rel_error"] == pytest.approx(0.5, rel=1e-8)
    assert rows["b"]["max_abs_error"] == pytest.approx(3.0, rel=1e-8)
    table = invoke(path, "--set", "a=3", "b=5")
    assert table.exit_code == 1
    assert "  b: 6 vs 2.99999999964, abs 3.0e+00, rel 5.0e-01  FAIL" in table.stdout  # the worst, under the table
    assert "FAIL" in table.stdout and table.stdout.splitlines()[-1].startswith("FAIL: b (1 of 2 inputs")


def test_a_broken_array_rule_names_the_worst_element(monkeypatch):
    rule = OPS["sum"]
    monkeypatch.setitem(OPS, "sum", dataclasses.replace(
        rule, vjp_code=("np.broadcast_to({g}, {x.shape}) * np.array([1.0, 1.0, 1.5])",)))
    report = check_gradients(parse("y = sum(x * x)\n"), {"x": np.array([1.0, 2.0, 3.0])})
    (x,) = report.inputs
    assert x.status == FAIL and x.worst[0].where == (2,) and [p.where for p in x.failures] == [(2,)]
    assert x.worst[0].reverse == 9.0 and x.worst[0].numeric == pytest.approx(6.0)


def test_forward_mode_disagreeing_with_reverse_fails(monkeypatch):
    forward = pytest.importorskip("adcli.engine.forward")
    if not hasattr(forward, "tangents"):
        pytest.skip("forward mode offers no graph-level tangents")
    real = forward.tangents
    monkeypatch.setattr(forward, "tangents", lambda *a: [None if t is None else 2 * t for t in real(*a)])
    report = check_gradients(parse("y = x * x\n"), {"x": np.array(3.0)})
    assert report.forward and report.inputs[0].forward_failed and report.inputs[0].status == FAIL
    assert report.inputs[0].forward_max_abs == 6.0


def test_without_forward_mode_the_column_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "adcli.engine.forward", None)  # importing it now raises ImportError
    program = parse("y = x * x\n")
    assert forward_mode(program, {}, None) is None
    report = check_gradients(program, {"x": np.array(3.0)})
    assert report.forward is False and report.inputs[0].forward_max_abs is None
    assert report.inputs[0].status == PASS


# ---------------------------------------------------------------------------------------------
# Kinks are "not differentiable here", not failures
# ---------------------------------------------------------------------------------------------

def test_relu_at_zero(tmp_path):
    result = invoke(SAMPLES / "relu.ad", "--set", "W=2", "x=3", "b=-6", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)["inputs"]
    assert [row["status"] for row in rows] == [KINK] * 3
    assert rows[0]["kinks"] == [{"node": "H", "op": "relu", "convention": "relu′(0) taken as 0",
                                 "line": 2, "col": 5, "probes": 1, "at_point": 1, "first": []}]
    assert rows[0]["max_abs_error"] is None and rows[0]["compared"] == 0
    # Sitting on the kink, the one-sided derivatives are compared: H = W·x + b moves by x per unit of W.
    (side,) = rows[0]["one_sided"]
    assert side["index"] == [] and side["kinks"] == ["H"] and side["reverse"] == 0.0 and side["reverse_is"] == "= left"
    assert side["left"] == pytest.approx(0.0, abs=1e-9) and side["right"] == pytest.approx(3.0, rel=1e-8)
    assert [(row["one_sided_compared"], row["skipped"]) for row in rows] == [(1, 0)] * 3
    table = invoke(SAMPLES / "relu.ad", "--set", "W=2", "x=3", "b=-6")
    assert "b: not differentiable here: relu′(0) taken as 0 at line 2, col 5 (H)" in table.stdout
    assert "at a kink   left   right   reverse   reverse is" in table.stdout
    assert re.search(r"^W +0 +3 +0 += left$", table.stdout, re.M)


def test_within_eps_of_a_kink_counts_as_the_kink():
    # The stencil straddles the kink: no central difference, and no one-sided ones either (the point
    # itself is differentiable): nothing is compared, which is not a pass.
    program = load(str(SAMPLES / "relu.ad"))
    near = check_gradients(program, {"W": 2.0, "x": 3.0, "b": -6.0 + 4e-7})
    assert [c.status for c in near.inputs] == [SKIPPED] * 3 and near.status == SKIPPED
    assert [(k.probes, k.at_centre) for k in near.inputs[0].kinks] == [(1, 0)]
    far = check_gradients(program, {"W": 2.0, "x": 3.0, "b": -6.0 + 4e-5})
    assert [c.status for c in far.inputs] == [PASS] * 3


def test_abs_at_zero_and_a_tie_in_max(tmp_path):
    path = write(tmp_path, "y = sum(abs(v)) + max(a, b)\n")
    result = invoke(path, "--set", "v=[0, 2, 0]", "a=1", "b=1", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)["inputs"]}
    assert rows["v"]["status"] == KINK
    assert rows["v"]["compared"] == 1  # v[1] = 2 is checked normally
    assert [(k["convention"], k["probes"], k["first"]) for k in rows["v"]["kinks"]] == [
        ("abs′(0) taken as 0", 2, [0])]
    for name in "ab":
        assert rows[name]["status"] == KINK
        assert rows[name]["kinks"][0]["convention"] == "a tie in max splits the gradient evenly"


def test_a_tie_in_a_max_reduction():
    report = check_gradients(parse("y = max(v)\n"), {"v": np.array([1.0, 3.0, 3.0])})
    (v,) = report.inputs
    assert v.status == KINK and v.compared == 1
    assert [(k.op, k.probes, k.first) for k in v.kinks] == [("amax", 2, (1,))]


def test_a_failure_elsewhere_outranks_a_kink(monkeypatch):
    broken = dataclasses.replace(OPS["mul"], deriv_code=("{y}", "2 * {x}"))
    monkeypatch.setitem(OPS, "mul", broken)
    report = check_gradients(parse("y = sum(relu(v) * w)\n"), {"v": np.array([0.0, 1.0]), "w": np.array([1.0, 2.0])})
    assert [c.status for c in report.inputs] == [KINK, FAIL]


# Per operation with a kink rule: a program using it, an ordinary point (no kink anywhere near the
# stencil, chosen where an old check saw kinks at every point: elu for x < 0, norm, atan2), and
# points exactly on a kink.
KINK_CASES = {
    "relu": ("y = relu(x)", {"x": -0.7}, [{"x": 0.0}]),
    "abs": ("y = abs(x)", {"x": -0.7}, [{"x": 0.0}]),
    "elu": ("y = elu(x, alpha=0.5)", {"x": -0.7}, [{"x": 0.0}]),
    "leaky_relu": ("y = leaky_relu(x)", {"x": -0.7}, [{"x": 0.0}]),
    "sign": ("y = sign(x) + x", {"x": -0.7}, [{"x": 0.0}]),
    "floor": ("y = floor(x) + x", {"x": 1.3}, [{"x": 2.0}]),
    "ceil": ("y = ceil(x) + x", {"x": 1.3}, [{"x": 2.0}]),
    "round": ("y = round(x) + x", {"x": 1.3}, [{"x": 2.5}]),
    "maximum": ("y = max(a, b)", {"a": 1.0, "b": 2.0}, [{"a": 1.5, "b": 1.5}]),
    "minimum": ("y = min(a, b)", {"a": 1.0, "b": 2.0}, [{"a": 1.5, "b": 1.5}]),
    "atan2": ("y = atan2(a, b)", {"a": 1.0, "b": 2.0}, [{"a": 0.0, "b": 0.0}, {"a": 0.0, "b": -1.0}]),
    "clip": ("y = clip(x, lo, hi)", {"x": 0.5, "lo": 0.0, "hi": 1.0},
             [{"x": 0.0, "lo": 0.0, "hi": 1.0}, {"x": 1.0, "lo": 0.0, "hi": 1.0}]),
    "amax": ("y = max(v)", {"v": [1.0, 3.0, 2.0]}, [{"v": [1.0, 3.0, 3.0]}]),
    "amin": ("y = min(v)", {"v": [1.0, 3.0, 2.0]}, [{"v": [2.0, 1.0, 1.0]}]),
    "std": ("y = std(v)", {"v": [1.0, 2.0, 4.0]}, [{"v": [2.0, 2.0, 2.0]}]),
    "norm": ("y = norm(v)", {"v": [1.0, -2.0, 3.0]}, [{"v": [0.0, 0.0, 0.0]}]),
    # x·log y is 0 all along x = 0 (smooth there for y > 0); at y ≤ 0 it jumps to ∓inf or NaN beside x = 0
    "xlogy": ("y = xlogy(a, b)", {"a": 0.0, "b": 2.0}, [{"a": 0.0, "b": 0.0}, {"a": 0.0, "b": -1.0}]),
    "xlog1py": ("y = xlog1py(a, b)", {"a": 0.0, "b": 1.0}, [{"a": 0.0, "b": -1.0}, {"a": 0.0, "b": -2.0}]),
    "sort": ("y = sum(sort(v) * [1, 2, 3])", {"v": [1.0, 3.0, 2.0]}, [{"v": [2.0, 2.0, 1.0]}]),
    "eigvalsh": ("y = sum(eigvalsh(A) * [1, 2])", {"A": [[2.0, 1.0], [1.0, 3.0]]}, [{"A": [[1.0, 0.0], [0.0, 1.0]]}]),
}


def test_every_kink_rule_has_a_case():
    assert sorted(KINK_CASES) == sorted(name for name, op in OPS.items() if op.kink is not None)


@pytest.mark.parametrize("name", sorted(KINK_CASES))
def test_kinks_are_reported_only_where_they_are(name):
    source, ordinary, on_kinks = KINK_CASES[name]
    program = parse(source + "\n")
    assert [program.graph.nodes[i].op for i in range(len(program.graph.nodes))].count(name) == 1
    away = check_gradients(program, {k: np.array(v) for k, v in ordinary.items()})
    for c in away.inputs:
        assert (c.kinks, c.status, c.compared, c.skipped) == ([], PASS, c.probes, 0), (c.name, c.kinks)
    for point in on_kinks:
        report = check_gradients(program, {k: np.array(v) for k, v in point.items()})
        hits = [k for c in report.inputs for k in c.kinks]
        assert hits and {k.op for k in hits} == {name}, point
        assert any(k.at_centre for k in hits), point  # on the kink, not merely near it
        # At the kink itself, one-sided derivatives (or a jump) are reported, and adcli's convention agrees.
        assert all(o.verdict != OUTSIDE for c in report.inputs for o in c.one_sided), point
        assert not report.failed and any(c.one_sided for c in report.inputs), point


def test_one_sided_derivatives_at_a_kink():
    report = check_gradients(parse("y = sum(abs(v)) + max(a, b)\n"),
                             {"v": np.array([0.0, 2.0, 0.0]), "a": np.array(1.0), "b": np.array(1.0)})
    v, a, b = report.inputs
    assert [(o.where, o.verdict) for o in v.one_sided] == [((0,), "between"), ((2,), "between")]
    assert [(o.left, o.right) for o in v.one_sided] == [pytest.approx((-1.0, 1.0))] * 2
    assert (v.compared, v.one_sided_compared, v.skipped, v.status) == (1, 2, 0, KINK)
    (side,) = a.one_sided
    assert (side.left, side.right, side.reverse, side.verdict) == (pytest.approx(0.0, abs=1e-9), pytest.approx(1.0),
                                                                    0.5, "between")


def test_a_convention_outside_the_one_sided_derivatives_fails(tmp_path, monkeypatch):
    # relu(x) - relu(-x) is x, with derivative 1 everywhere; at 0 the conventions relu′(0) = 0 give 0.
    path = write(tmp_path, "y = relu(x) - relu(-x)\n")
    result = invoke(path, "--set", "x=0", "--json", "--junit-xml", tmp_path / "out.xml")
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)["inputs"]
    assert row["status"] == FAIL and row["one_sided"][0]["reverse_is"] == OUTSIDE
    assert row["one_sided"][0]["left"] == pytest.approx(1.0) and row["one_sided"][0]["right"] == pytest.approx(1.0)
    failure = ET.parse(tmp_path / "out.xml").getroot().find(".//testcase[@name='x']/failure")
    assert failure is not None and "outside the one-sided derivatives" in failure.get("message")
    assert "x[]: at a kink, left 1.0" in failure.text and "(outside)" in failure.text
    table = invoke(path, "--set", "x=0")
    assert re.search(r"^x +1 +1 +0 +OUTSIDE$", table.stdout, re.M)
    assert table.stdout.splitlines()[-1].startswith("FAIL: x (1 of 1 inputs")
    # A rule whose value at the kink is no derivative from either side fails the same way.
    five = dataclasses.replace(OPS["relu"], deriv_code=("np.where({x} == 0, 5.0, np.sign({ans}))",), pyderivs=None)
    monkeypatch.setitem(OPS, "relu", five)
    (x,) = check_gradients(parse("y = relu(x)\n"), {"x": np.array(0.0)}).inputs
    assert x.status == FAIL and [(o.reverse, o.verdict) for o in x.one_sided] == [(5.0, OUTSIDE)]


def test_a_jump_has_no_one_sided_derivative():
    program = parse("y = floor(x) + x\n")
    (on,) = check_gradients(program, {"x": np.array(2.0)}).inputs
    ((side,),) = [on.one_sided]
    assert side.verdict == "jumps" and side.left is None and side.right == pytest.approx(1.0)
    assert (on.status, on.skipped_at_kinks) == (SKIPPED, 1)
    # Straddling the jump (not on it) is caught too: a central difference there would see 1/2h.
    (near,) = check_gradients(program, {"x": np.array(2.0 + 4e-7)}).inputs
    assert near.status == SKIPPED and [(k.op, k.at_centre) for k in near.kinks] == [("floor", 0)]


def test_nothing_compared_is_not_ok(tmp_path):
    path = write(tmp_path, "y = relu(x * w)\n")
    args = (path, "--set", "x=4e-7", "w=1")  # along x the stencil x ± 1e-6 straddles relu's kink at 0
    result = invoke(*args, "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 3 and report["status"] == SKIPPED and report["nothing_compared"] == ["x"]
    rows = {row["name"]: row for row in report["inputs"]}
    assert (rows["x"]["status"], rows["x"]["compared"], rows["x"]["skipped_at_kinks"]) == (SKIPPED, 0, 1)
    assert rows["w"]["status"] == PASS  # w moves x·w by 4e-13: far from the kink
    table = invoke(*args)
    assert table.exit_code == 3 and re.search(r"^x +1 +- +- +\S+ +nothing compared$", table.stdout, re.M)
    assert "x: a kink within the stencil: relu′(0) taken as 0" in table.stdout
    assert "\nnothing compared: x (1 of 2 inputs; 1 pass; eps 1e-06" in table.stdout
    allowed = invoke(*args, "--allow-skipped", "--junit-xml", tmp_path / "out.xml")
    assert allowed.exit_code == 0 and "allowed by --allow-skipped" in allowed.stdout
    root = ET.parse(tmp_path / "out.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "0", "1")
    skipped = root.find(".//testcase[@name='x']/skipped")
    assert skipped is not None and skipped.get("message").startswith("nothing compared; 1 of 1 elements skipped")
    assert root.find(".//testcase[@name='w']/skipped") is None
    github = invoke(*args, "--format", "github")
    assert github.exit_code == 3
    (error,) = [line for line in github.stdout.splitlines() if line.startswith("::error ")]
    assert "line=1,col=10," in error and "∂y/∂x was not checked: nothing compared" in error  # at x
    assert any(line.startswith("::warning ") and "was not checked" in line
               for line in invoke(*args, "--format", "github", "--allow-skipped").stdout.splitlines())
    # --allow-skipped accepts only that: a function not defined at the point still exits 3.
    assert invoke(write(tmp_path, "y = log(x)\n"), "--set", "x=-1", "--allow-skipped").exit_code == 3


def test_some_compared_and_some_skipped_says_how_many(tmp_path):
    path = write(tmp_path, "y = sum(relu(v))\n")
    result = invoke(path, "--set", "v=[4e-7, 2, -1]", "--json")
    assert result.exit_code == 0
    (row,) = json.loads(result.stdout)["inputs"]
    assert (row["status"], row["compared"], row["skipped"], row["skipped_at_kinks"]) == (KINK, 2, 1, 1)
    table = invoke(path, "--set", "v=[4e-7, 2, -1]")
    assert "v: compared 2 of 3 elements; 1 of 3 elements skipped (1 at or across a kink" in table.stdout


# ---------------------------------------------------------------------------------------------
# Large inputs, tolerances and errors
# ---------------------------------------------------------------------------------------------

def test_large_inputs_use_seeded_random_directions():
    program = parse("y = sum(sin(x) * x)\n")
    given = {"x": np.linspace(-2.0, 2.0, 40)}
    first = check_gradients(program, given, max_elements=10, directions=5, seed=3)
    again = check_gradients(program, given, max_elements=10, directions=5, seed=3)
    other = check_gradients(program, given, max_elements=10, directions=5, seed=4)
    (x,) = first.inputs
    assert (x.mode, x.probes, x.status) == ("directions", 5, PASS)
    assert all(isinstance(p.where, int) and 1 <= p.where <= 5 for p in x.worst)
    assert (x.max_abs, x.worst) == (again.inputs[0].max_abs, again.inputs[0].worst)
    assert x.max_abs != other.inputs[0].max_abs


def test_rounding_noise_is_inconclusive_not_a_failure():
    # exp(30) ≈ 1e13 swamps the difference quotient of exp(-5) ≈ 0.0067 at eps = 1e-6.
    report = check_gradients(parse("y = sum(exp(x))\n"), {"x": np.array([-5.0, 30.0])})
    (x,) = report.inputs
    assert x.status == UNSURE and not report.failed
    assert x.unsure >= 1


def test_tolerances_are_options(tmp_path):
    path = write(tmp_path, "y = x ** 3\n")
    assert invoke(path, "--set", "x=2").exit_code == 0
    # Truncation error of a central difference is eps²·f‴/6 = 1e-2·6/6: larger than rtol·12 = 1.2e-5.
    assert invoke(path, "--set", "x=2", "--eps", "0.1").exit_code == 1
    assert invoke(path, "--set", "x=2", "--eps", "0.1", "--rtol", "1e-2").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--eps", "0"], "--eps 0: the step must be a finite number between 0 and 1"),
    (["--eps", "inf"], "--eps inf: the step must be a finite number"),
    (["--eps", "1e-320"], None),  # a step lost to rounding everywhere: nothing compared, not an error
    (["--directions", "0"], "--directions must be from 1 to 100,000"),
    (["--directions", "100000000000000000000"], "--directions must be from 1 to 100,000"),
    (["--seed", "-1"], "--seed must be a whole number from 0 to 4294967295"),
    (["--rtol", "nan"], "--rtol and --atol must be finite and not negative"),
])
def test_bad_settings_exit_2(tmp_path, args, message):
    result = invoke(write(tmp_path, "y = x * x\n"), "--set", "x=1", *args)
    if message is None:
        assert result.exit_code == 3 and "x: nothing compared; 1 of 1 elements skipped (1 with a value" in result.stdout
        return
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_non_scalar_output_exits_2(tmp_path):
    result = invoke(write(tmp_path, "y = x * [1, 2]\n"), "--set", "x=1")
    assert result.exit_code == 2 and "grad needs a scalar output" in result.stderr


def test_strict_stops_at_the_first_nan(tmp_path):
    path = write(tmp_path, "y = sqrt(x) + x\n")
    result = invoke(path, "--set", "x=0", "--strict")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:1:5: error: non-finite gradient: ∂y/∂x through U1 = √x is inf")
    plain = invoke(path, "--set", "x=0")  # sqrt(-eps) is NaN and the gradient inf: nothing to compare
    assert plain.exit_code == 3 and "adcli: warning: ∂y/∂x is not finite" in plain.stderr
    assert "nothing compared: x (1 of 1 inputs;" in plain.stdout


@pytest.mark.parametrize("value", ["1e10", "1e300", "-1e300", "1e-300", "0"])
def test_the_step_is_relative_to_the_value(tmp_path, value):
    """x ± 1e-6 rounds to x at 1e300 (a division by zero once); the step follows the value's size."""
    result = invoke(write(tmp_path, "y = x * 3\n"), "--set", f"x={value}", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["inputs"][0]["status"] == PASS, result.stdout + result.stderr


def test_a_function_not_defined_at_the_point_is_not_a_failure(tmp_path):
    result = invoke(write(tmp_path, "y = log(x)\n"), "--set", "x=-1")
    assert result.exit_code == 3
    assert "y = nan: the function is not defined at this point" in result.stdout and "FAIL" not in result.stdout
    report = json.loads(invoke(write(tmp_path, "y = log(x)\n"), "--set", "x=-1", "--json").stdout)
    assert report["status"] == "not defined at this point" and report["inputs"] == []


def test_no_inputs_says_so(tmp_path):
    result = invoke(write(tmp_path, "y = 3\n"))
    assert result.exit_code == 0 and "this file has no inputs to differentiate: nothing to check" in result.stdout
    data = invoke(write(tmp_path, "data t\ny = t * 2\n"), "--set", "t=1")
    assert "(only data)" in data.stdout


def test_wrt_and_data_inputs(tmp_path):
    path = write(tmp_path, "data X: [2]\ny = sum(X * w) + b\n")
    report = json.loads(invoke(path, "--set", "X=[1, 2]", "w=[3, 4]", "b=1", "--wrt", "w", "--json").stdout)
    assert [row["name"] for row in report["inputs"]] == ["w"] and report["not_checked"] == ["X"]
    bad = invoke(path, "--set", "X=[1, 2]", "w=[3, 4]", "b=1", "--wrt", "X")
    assert bad.exit_code == 2 and "declared as data" in bad.stderr


def test_float32_inputs_are_noted(tmp_path):
    np.savez(tmp_path / "v.npz", x=np.float32(1.5))
    result = invoke(write(tmp_path, "y = x * x\n"), "--inputs", tmp_path / "v.npz")
    assert result.exit_code == 0 and "x: given as float32 and widened to float64" in result.stdout


def test_junit_xml(tmp_path, monkeypatch):
    import xml.etree.ElementTree as ET
    broken = dataclasses.replace(OPS["mul"], deriv_code=("{y}", "2 * {x}"))
    monkeypatch.setitem(OPS, "mul", broken)
    path = write(tmp_path, "y = a * b + a\n")
    result = invoke(path, "--set", "a=3", "b=5", "--junit-xml", tmp_path / "out.xml")
    assert result.exit_code == 1
    root = ET.parse(tmp_path / "out.xml").getroot()
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"a", "b", "dot-product test"}
    failure = cases["b"].find("failure")
    assert failure is not None and "b[]: reverse 6.0, numeric" in failure.text
    assert cases["a"].find("failure") is None
