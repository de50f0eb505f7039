"""Long loops folded in traces: which iterations are listed, what the summary says, and that the
listed steps are exactly the unrolled trace's."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adcli.cli.main import app
from adcli.explain.folding import parse_iterations, picked

LONG = "input a\nh = 0.5\nfor t in range(1000):\n    h = h + 0.001 * sin(a * h)\n"
NESTED = "input x\ns = 0\nfor i in range(10):\n    for j in range(i + 1):\n        s = s + x * (i - j)\n"

runner = CliRunner()


def run(tmp_path, source, *args):
    path = tmp_path / "loop.ad"
    path.write_text(source)
    return runner.invoke(app, ["trace", str(path), *args])


def as_json(tmp_path, source, *args) -> dict:
    result = run(tmp_path, source, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_picked_follows_python_slices():
    assert picked(parse_iterations("0:3,-2:"), 10) == {0, 1, 2, 8, 9}
    assert picked(parse_iterations("5"), 10) == {5}
    assert picked(parse_iterations("::4,-1"), 10) == {0, 4, 8, 9}
    assert picked(parse_iterations("-1"), 10) == {9}
    assert picked(None, 6) == set(range(6))  # short loops whole by default
    assert picked(None, 7) == {0, 1, 5, 6}
    assert picked(parse_iterations("0:2"), 0) == set()


@pytest.mark.parametrize("bad", ["x", "1:2:3:4", "::0", "", "0:a", "1,,2"])
def test_bad_iterations_are_one_message(tmp_path, bad):
    result = run(tmp_path, LONG, "--set", "a=2", "--iterations", bad)
    assert result.exit_code == 2
    assert "--iterations" in result.stderr and "Traceback" not in result.output


def test_unroll_and_iterations_together_are_refused(tmp_path):
    result = run(tmp_path, LONG, "--set", "a=2", "--unroll", "--iterations", "0:1")
    assert result.exit_code == 2 and "give one of them" in result.stderr


def test_default_folds_a_long_loop_to_its_first_and_last_two_iterations(tmp_path):
    folded = as_json(tmp_path, LONG, "--set", "a=2")
    whole = as_json(tmp_path, LONG, "--set", "a=2", "--unroll")
    assert "folded" not in whole and folded["folded"] == {"iterations": "0:2,-2:", "steps": 13944}
    assert folded["grad"] == whole["grad"] and folded["value"] == whole["value"]
    runs = [s for s in folded["steps"] if s["kind"] == "folded"]
    assert [(r["phase"], r["iterations"], r["values"], r["count"]) for r in runs] == [
        ("forward", [2, 997], [2, 997], 996), ("backward", [997, 2], [997, 2], 996)]
    # every step is either listed, the same as unrolled, or counted in a fold, in the same order
    listed = [s for s in folded["steps"] if s["kind"] != "folded"]
    assert len(listed) + sum(r["steps"] for r in runs) == len(whole["steps"])
    shown = {s["where"] for s in listed if "where" in s}
    assert shown == {"t = 0", "t = 1", "t = 998", "t = 999"}
    it = iter(whole["steps"])
    assert all(any(step == other for other in it) for step in listed)  # a subsequence of the whole


def test_iterations_choose_which_are_listed(tmp_path):
    trace = as_json(tmp_path, LONG, "--set", "a=2", "--iterations", "3,-1")
    shown = [s["where"] for s in trace["steps"] if "where" in s]
    assert set(shown) == {"t = 3", "t = 999"}
    runs = [(s["iterations"], s["count"]) for s in trace["steps"] if s["kind"] == "folded"]
    assert runs == [([0, 2], 3), ([4, 998], 995), ([998, 4], 995), ([2, 0], 3)]


def test_nested_loops_fold_each_run_of_the_inner_loop(tmp_path):
    trace = as_json(tmp_path, NESTED, "--set", "x=1.5", "--iterations", "0,-1")
    whole = as_json(tmp_path, NESTED, "--set", "x=1.5", "--unroll")
    assert trace["grad"] == whole["grad"] == {"x": sum(i - j for i in range(10) for j in range(i + 1))}
    places = {s["where"] for s in trace["steps"] if "where" in s}
    # the outer loop's first and last iterations, and in each the inner loop's first and last
    assert places == {"i = 0; j = 0", "i = 9; j = 0", "i = 9; j = 9"}
    runs = [(s["loop"], s["iterations"]) for s in trace["steps"] if s["kind"] == "folded" and s["phase"] == "forward"]
    assert runs == [("i", [1, 8]), ("j", [1, 8])]


def test_forward_mode_folds_too(tmp_path):
    trace = as_json(tmp_path, LONG, "--set", "a=2", "--mode", "forward")
    whole = as_json(tmp_path, LONG, "--set", "a=2", "--mode", "forward", "--unroll")
    assert trace["tangent"] == whole["tangent"]
    runs = [s for s in trace["steps"] if s["kind"] == "folded"]
    assert [(r["iterations"], r["steps"]) for r in runs] == [([2, 997], 996 * 4)]


def test_the_listing_says_what_it_folded(tmp_path):
    plain = run(tmp_path, LONG, "--set", "a=2", "--format", "plain").stdout
    assert "… 996 iterations folded (t = 2 … 997, the loop at line 3): 7,968 steps; --unroll lists them" in plain
    assert "… 996 iterations folded (t = 997 … 2, the loop at line 3): 5,976 steps" in plain
    assert len(plain.splitlines()) < 120
    ascii_ = run(tmp_path, LONG, "--set", "a=2", "--format", "plain", "--ascii").stdout
    assert "... 996 iterations folded (t = 2 ... 997" in ascii_
    latex = run(tmp_path, LONG, "--set", "a=2", "--format", "latex").stdout
    assert r"\intertext{\emph{\ldots{} 996 iterations folded (t = 2 \ldots{} 997" in latex
    markdown = run(tmp_path, LONG, "--set", "a=2", "--format", "markdown").stdout
    assert "*… 996 iterations folded (t = 2 … 997, the loop at line 3): 7,968 steps; --unroll lists them*" in markdown
    # the same bytes every time
    assert run(tmp_path, LONG, "--set", "a=2", "--format", "plain").stdout == plain


def test_short_loops_are_listed_whole(tmp_path):
    source = "input x\ny = x\nfor t in range(6):\n    y = y * x\n"
    trace = as_json(tmp_path, source, "--set", "x=1.1")
    assert "folded" not in trace
    assert trace["grad"]["x"] == pytest.approx(7 * 1.1 ** 6, rel=1e-15)


VERY_LONG = "input a\nh = 0.5\nfor t in range(20000):\n    h = h + 0.001 * sin(a * h)\ny = h + 0.0001 * t\n"


@pytest.mark.parametrize("chosen, listed, kept", [
    ("0:3,-1", {0, 1, 2, 19999}, ["range(3, 19999)"]),
    ("5", {5}, ["range(6, 20000)"]),  # the five before it are too few to keep: unrolled, folded
    ("10:12,100:102", {10, 11, 100, 101}, ["range(10)", "range(12, 100)", "range(102, 20000)"]),
    ("-2:", {19998, 19999}, ["range(19998)"]),
    ("0:2", {0, 1}, ["range(2, 20000)"]),  # t read after the loop: its last value, 19999
    ("5:5", set(), ["range(20000)"]),  # nothing listed: the whole loop one step
])
def test_a_very_long_loop_unrolls_only_the_iterations_listed(tmp_path, chosen, listed, kept):
    """A trace of a loop of 10,000 iterations or more unrolls the iterations --iterations lists; each
    run of eight or more of the others is one loop node. The numbers are those of `grad`."""
    import adcli
    trace = as_json(tmp_path, VERY_LONG, "--set", "a=1.3", "--iterations", chosen)
    want = adcli.parse(VERY_LONG).grad(a=1.3)
    assert trace["value"] == pytest.approx(want.value, rel=1e-15)
    assert trace["grad"]["a"] == pytest.approx(want.grad["a"], rel=1e-12)
    shown = {s["where"] for s in trace["steps"] if s["kind"] != "folded" and s.get("where", "").startswith("t = ")}
    assert shown == {f"t = {k}" for k in listed}
    text = json.dumps([s for s in trace["steps"] if s["kind"] == "compute"], ensure_ascii=False)
    assert [f"for t in {r} from" in text for r in kept] == [True] * len(kept)
    assert text.count("for t in range(") == len(kept)
