"""Large inputs: each works, or stops with a clear error, in memory of the order of its size,
and nothing recurses per level of nesting (Python's limit is about 1,000 frames)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.errors import ShapeError

DEEP = 100_000


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def peak_bytes(work) -> int:
    """The most memory Python and numpy held at once while `work()` ran, beyond what was held before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------------
# Nesting 100,000 levels deep
# ---------------------------------------------------------------------------------------------

def test_100000_nested_parentheses():
    program = adcli.parse("y = " + "(" * DEEP + "x" + ")" * DEEP + " * 2")
    result = program.grad(x=3.0)
    assert float(result.value) == 6.0 and float(result.grad["x"]) == 2.0


def test_100000_nested_function_calls():
    """sin(sin(...sin(x)...)): 100,000 nodes in a chain, evaluated and differentiated without recursion."""
    program = adcli.parse("y = " + "sin(" * DEEP + "x" + ")" * DEEP)
    assert len(program.graph.nodes) == DEEP + 1
    result = program.grad(x=0.5)
    value, slope = 0.5, 1.0
    for _ in range(DEEP):  # the same chain rule, by hand
        value, slope = np.sin(value), slope * np.cos(value)
    assert float(result.value) == pytest.approx(value, rel=1e-12)
    assert float(result.grad["x"]) == pytest.approx(slope, rel=1e-9)


def test_10000_nested_calls_of_functions_the_file_defines(tmp_path):
    """f9999 calls f9998 ... calls f0: each call's context is one entry (the call around it, its
    frame), so memory grows with the depth, not its square; errors and traces still name the chain."""
    depth = 10_000
    lines = ["input x", "def f0(a) = sin(a)"] + [f"def f{i}(a) = f{i - 1}(a) * 1.0001" for i in range(1, depth)]
    source = "\n".join(lines + [f"y = f{depth - 1}(x)"]) + "\n"
    peak = peak_bytes(lambda: adcli.parse(source))
    program = adcli.parse(source)
    graph = program.graph
    assert len(graph.contexts) == depth + 1 and all(len(c) == 2 for c in graph.contexts[1:])
    assert peak < 200 * 2**20, peak  # the square, 10^8 frames in tuples, would be some 800 MB
    result = program.grad(x=0.5)
    assert result.value == pytest.approx(np.sin(0.5) * 1.0001 ** (depth - 1), rel=1e-12)
    assert result.grad["x"] == pytest.approx(np.cos(0.5) * 1.0001 ** (depth - 1), rel=1e-12)
    sine = next(i for i, n in enumerate(graph.nodes) if n.op == "sin")
    # f(k - 1) is called on line k + 2, after "def fk(a) = " (col 13 for k < 10, col 16 for four digits)
    assert graph.where(sine) == ("in f9999, called at line 10002, col 5; in f9998, called at line 10001, col 16; "
                                 "in f9997, called at line 10000, col 16; … 9994 more …; in f2, called at line 5, "
                                 "col 13; in f1, called at line 4, col 13; in f0, called at line 3, col 13")
    assert len(graph.frames(graph.nodes[sine].ctx)) == depth
    # a local of every function: eval's "where" column is as short at any depth
    lines = ["input x", "def f0(a):", "    z = sin(a)", "    return z"]
    for i in range(1, 50):
        lines += [f"def f{i}(a):", f"    z = f{i - 1}(a) * 1.0001", "    return z"]
    where = adcli.parse("\n".join(lines + ["y = f49(x)"]) + "\n").where()
    assert where["f0.z"] == "f49@152:5, f48@150:9, f47@147:9, … 44 more …, f2@12:9, f1@9:9, f0@6:9"


def test_100000_unary_minuses_and_right_associative_powers():
    assert float(adcli.parse("y = " + "-" * DEEP + "x").eval(x=2.0)["y"]) == 2.0  # an even count
    tower = adcli.parse("y = " + " ** ".join(["x"] * DEEP))  # x ** (x ** (x ** ...)), right to left
    assert float(tower.eval(x=1.0)["y"]) == 1.0
    assert float(tower.grad(x=1.0).grad["x"]) == 1.0  # d/dx x**x**... at 1 is 1


def test_100000_unclosed_parentheses_is_a_clear_error(tmp_path):
    path = tmp_path / "deep.ad"
    path.write_text("y = " + "(" * DEEP + "x\n")
    result = run("grad", path, "--set", "x=1")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"{path}:1:{DEEP + 4}: error: '(' is never closed (expected ')')"
    assert len(result.stderr) < 1000  # the source line is shown as a window around the column


@pytest.mark.parametrize("item", ["1", "x"])
def test_100000_nested_array_literal_is_a_clear_error(item):
    with pytest.raises(ShapeError) as info:
        adcli.parse("y = " + "[" * DEEP + item + "]" * DEEP)
    assert info.value.message == ("array literals are nested more than 32 levels deep; "
                                  "arrays have at most 32 dimensions")
    assert (info.value.span.line, info.value.span.col) == (1, 4 + DEEP - 32)


def test_100000_nested_values_are_a_clear_error(tmp_path):
    value = "[" * DEEP + "1" + "]" * DEEP
    (tmp_path / "m.ad").write_text("y = x * 2\n")
    (tmp_path / "deep.json").write_text('{"x": ' + value + "}")
    result = run("eval", tmp_path / "m.ad", "--set", f"x={value}")
    assert result.stderr == "adcli: error: --set x: nested 100000 levels deep; arrays have at most 32 dimensions\n"
    result = run("eval", tmp_path / "m.ad", "--inputs", tmp_path / "deep.json")
    assert result.stderr == (f"adcli: error: --inputs {tmp_path / 'deep.json'}: nested 100001 levels deep; "
                             "arrays have at most 32 dimensions\n")


# ---------------------------------------------------------------------------------------------
# Many operations, many terms, many elements
# ---------------------------------------------------------------------------------------------

def chain_source(operations: int) -> str:
    """`h = x` then `operations` reassignments, alternately adding 0.5 and multiplying by 1.0000001."""
    return "h = x\n" + "h = h + 0.5\nh = h * 1.0000001\n" * (operations // 2)


def chain_value(operations: int, x: float) -> tuple[float, float]:
    value, slope = x, 1.0
    for _ in range(operations // 2):
        value, slope = (value + 0.5) * 1.0000001, slope * 1.0000001
    return value, slope


def check_chain(operations: int, measure: bool):
    source = chain_source(operations)
    holder = {}
    work = lambda: holder.update(result=adcli.parse(source).grad(x=1.0))  # noqa: E731
    peak = peak_bytes(work) if measure else work()
    value, slope = chain_value(operations, 1.0)
    result = holder["result"]
    assert float(result.value) == pytest.approx(value, rel=1e-12)
    assert float(result.grad["x"]) == pytest.approx(slope, rel=1e-12)
    if measure:
        # Each operation and its constant cost a few hundred bytes as nodes and values: of the
        # order of the source's own size (about 15 bytes per operation here), nothing quadratic.
        assert peak < 100 * len(source), (peak, len(source))


def test_20000_operation_file_memory():
    check_chain(20_000, measure=True)


def test_100000_operation_file():
    check_chain(100_000, measure=False)


@pytest.mark.slow
def test_1000000_operation_file():
    """About a minute and 1 GB: run with -m slow."""
    check_chain(1_000_000, measure=False)


def test_10000_term_expression(tmp_path):
    terms = 10_000
    path = tmp_path / "terms.ad"
    path.write_text("y = " + " + ".join(f"{k} * x" for k in range(1, terms + 1)) + "\n")
    result = run("grad", path, "--set", "x=2", "--json")
    assert result.exit_code == 0, result.stderr
    total = terms * (terms + 1) // 2
    assert result.stdout == f'{{"output": "y", "value": {2.0 * total}, "grad": {{"x": {float(total)}}}}}\n'


def test_10000_inputs_in_one_expression(tmp_path):
    terms = 10_000
    program = adcli.parse("y = " + " + ".join(f"x{k} * x{k}" for k in range(terms)))
    values = {f"x{k}": float(k) for k in range(terms)}
    result = program.grad(**values)
    assert list(result.grad) == [f"x{k}" for k in range(terms)]
    assert float(result.grad["x9999"]) == 2 * 9999.0


def test_10_million_element_input(tmp_path):
    """An .npz of 10^7 float64 (80 MB): grad works; memory holds a few copies, not dozens."""
    n = 10_000_000
    np.savez(tmp_path / "big.npz", X=np.linspace(-1.0, 1.0, n))
    (tmp_path / "mean.ad").write_text("input X: [n]\nloss = mean(X * X)\n")
    holder = {}
    peak = peak_bytes(lambda: holder.update(result=run("grad", tmp_path / "mean.ad",
                                                       "--inputs", tmp_path / "big.npz")))
    result = holder["result"]
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("loss = 0.33333")
    assert lines[3].split()[:3] == ["X", "[10000000]", "[-2e-07,"]  # abbreviated, as numpy does
    assert peak < 8 * 8 * n, peak / 1e6
