"""Trust at the edges: integers stay exact or are refused (loop arithmetic, literals, labels from
files, one_hot, how numbers are shown), and LF, CRLF and a lone CR all end a line (parser,
error positions, lint, the Pygments lexer). Exact messages of bad inputs are in tests/bad/cases.jsonl."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark
from test_bad_inputs import expand, load_corpus  # noqa: E402 - the corpus's own reader
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.inputs import load_inputs, parse_value
from adcli.errors import AdError, InputError
from adcli.language.lint import lint_source
from adcli.language.parser import grammar_path, parse_source
from adcli.numbers import SIGNIFICANT, format_number, format_short, format_value

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.ad"))
INT64 = (-2**63, 2**63 - 1)


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result


def constants_assigned(source: str) -> list:
    """The value of every assigned constant, in order (what folding made of each statement)."""
    graph = parse_source(source, "m.ad")
    return [graph.nodes[index].data for _, index in graph.assigned]


# ---------------------------------------------------------------------------------------------
# Integers: arithmetic while the file is read is Python's, or refused beyond 64 bits
# ---------------------------------------------------------------------------------------------

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "@": lambda a, b: a * b}


def written(k: int) -> str:
    return str(k) if k >= 0 else f"({k})"


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(-2**62, 2**62),
       st.lists(st.tuples(st.sampled_from(list(OPS)), st.integers(-2**65, 2**65) | st.integers(-9, 9), st.booleans()),
                min_size=1, max_size=4))
def test_loop_arithmetic_is_exact_or_refused(start, steps):
    """Every step of a chain on the loop variable is Python's exact arithmetic; the first result
    beyond int64 is an error at its operator, never a wrapped number."""
    text, value, refused = "i", start, False
    for op, k, left in steps:
        text = f"({written(k)} {op} {text})" if left else f"({text} {op} {written(k)})"
        value = OPS[op](k, value) if left else OPS[op](value, k)
        refused = refused or not INT64[0] <= value <= INT64[1]
    source = f"for i in range({start}, {start + 1}):\n    y = {text}\n"
    if refused:
        with pytest.raises(AdError, match="beyond the range of 64-bit integers") as info:
            parse_source(source, "m.ad")
        assert info.value.span.line == 2
        return
    (data,) = constants_assigned(source)
    assert data.dtype == np.int64 and int(data) == value


def test_the_issue_index_no_longer_wraps_to_one():
    source = "input x: [4]\nfor i in range(4294967296, 4294967297):\n    y = x[i*i + 1]\n"
    with pytest.raises(AdError, match="this product is 18446744073709551616, beyond") as info:
        parse_source(source, "m.ad")
    assert (info.value.span.line, info.value.span.col) == (3, 12)


def test_an_index_exact_where_float64_is_not():
    # i*i is 9223372030926249001: within int64, but float64 would round it and index elsewhere
    source = ("input x: [4]\nfor i in range(3037000499, 3037000500):\n"
              "    y = x[i*i - 9223372030926249001 + 2]\n")
    assert adcli.parse(source).eval(x=[10.0, 11.0, 12.0, 13.0])["y"] == 12.0


def test_integer_arrays_fold_exactly_too():
    (data,) = constants_assigned("for i in range(2000000000, 2000000001):\n    y = arange(3) * i * i\n")
    assert data.dtype == np.int64 and data.tolist() == [0, 4 * 10**18, 8 * 10**18]
    with pytest.raises(AdError, match="this product is 12000000000000000000, beyond"):
        parse_source("for i in range(2000000000, 2000000001):\n    y = arange(4) * i * i\n", "m.ad")


def test_folding_arrays_of_different_shapes_is_a_shape_error():
    with pytest.raises(AdError, match=r"shapes \[3\] and \[4\]") as info:
        parse_source("for i in range(2):\n    y = (arange(3) * i) + arange(4)\n", "m.ad")
    assert (info.value.span.line, info.value.span.col) == (2, 25)


def test_integer_literals_stay_exact():
    source = "for i in range(9007199254740993, 9007199254740995):\n    y = i\n"
    assert [int(d) for d in constants_assigned(source)] == [9007199254740993, 9007199254740994]
    source = "for i in range(4611686018427387901, 4611686018427387904):\n    y = i + i\n"
    assert [int(d) for d in constants_assigned(source)] == [9223372036854775802, 9223372036854775804,
                                                            9223372036854775806]


def test_a_loop_bound_above_2_53_runs_as_written():
    """Twice round the loop, not four times: the bounds are not rounded to float64."""
    source = "input x\ny = x\nfor i in range(9007199254740993, 9007199254740995):\n    y = y + 1\n"
    result = CliRunner().invoke(app, ["eval", "-", "--set", "x=0", "--json"], input=source)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["values"] == {"y": 0.0, "y'": 1.0, "y''": 2.0}


def test_a_whole_number_beside_floats_is_still_a_float_constant():
    graph = parse_source("y = x * 99999999999999999999 + 3\n", "m.ad")
    constants = [n.data for n in graph.nodes if n.op == "const"]
    assert all(c.dtype == np.float64 for c in constants)
    assert adcli.parse("y = x * 99999999999999999999 + 3\n").eval(x=1.0)["y"] == 1e20 + 3


def test_a_float_beyond_2_53_is_no_index_or_bound():
    for source, what in [("y = x[1e17]\n", "an index"), ("for i in range(2):\n    y = x[2**i * 1e17]\n", "an index"),
                         ("y = sum(x, axis=1e17)\n", "axis")]:
        with pytest.raises(AdError) as info:
            parse_source(source, "m.ad")
        assert "a float" in info.value.message or "out of range" in info.value.message, info.value.message
        assert what in info.value.message


# ---------------------------------------------------------------------------------------------
# Integers from files: never wrapped
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_uint64_labels_beyond_int64_are_refused(tmp_path, suffix):
    labels = np.array([0, 2**64 - 1], dtype=np.uint64)  # int64 would make it -1: the last class
    path = tmp_path / f"labels{suffix}"
    np.save(path, labels) if suffix == ".npy" else np.savez(path, y=labels)
    with pytest.raises(InputError, match=r"holds 18446744073709551615 \(uint64\), beyond the 64-bit signed") as info:
        load_inputs(str(path))
    assert str(path) in info.value.message


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int64])
def test_integers_within_int64_are_read_exactly(tmp_path, dtype):
    top = min(np.iinfo(dtype).max, 2**63 - 1)
    labels = np.array([0, 1, top], dtype=dtype)
    np.save(tmp_path / "y.npy", labels)
    value = list(load_inputs(str(tmp_path / "y.npy")).values())[0]
    assert value.dtype == np.int64 and value.tolist() == [0, 1, int(top)]


def test_one_hot_refuses_a_label_out_of_range_in_every_mode(tmp_path):
    source = "input y: int[n]\ninput x: [n, 3]\nz = sum(one_hot(y, 3) * x)\n"
    path = tmp_path / "m.ad"
    path.write_text(source)
    x = [[1, 2, 3], [4, 5, 6]]
    message = f"{path}:3:9: error: one_hot() label 3 is out of range: with k = 3 classes the labels are 0 to 2"
    for command, extra in [("eval", []), ("grad", []), ("jvp", ["--tangent", "x=1"]), ("jacobian", []),
                           ("hessian", [])]:
        result = run(command, path, "--set", "y=[0, 3]", f"x={x}", *extra)
        assert result.exit_code == 2 and result.stderr.split("\n")[0] == message, (command, result.stderr)
    (tmp_path / "batch.json").write_text(json.dumps({"y": [[0, 1], [2, 7]], "x": x}))
    result = run("grad", path, "--inputs", tmp_path / "batch.json", "--batch", "y")
    assert result.exit_code == 2 and "label 7 is out of range" in result.stderr
    ok = adcli.parse(source).grad(y=[0, 2], x=x)
    assert ok.value == 1 + 6 and ok.grad["x"].tolist() == [[1, 0, 0], [0, 0, 1]]


# ---------------------------------------------------------------------------------------------
# Showing numbers: a rounded whole number never looks exact
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, shown", [
    (123456789, "1.2345679e+08"), (-123456789, "-1.2345679e+08"), (99999999.7, "1e+08"),
    (9007199254740993, "9.0071993e+15"), (2**60, "1.1529215e+18"),
    (100000000, "100000000"), (123456780, "123456780"), (12345678, "12345678"), (18, "18"), (0, "0"),
    (0.1 + 0.2, "0.3"), (-215.6, "-215.6"), (1e20, "1e+20"), (1.23456789e-5, "1.2345679e-05"),
])
def test_format_short(x, shown):
    assert format_short(x) == shown


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.integers(-10**20, 10**20) | st.floats(allow_nan=False, allow_infinity=False))
def test_a_shown_number_is_exact_or_looks_rounded(x):
    """Either the text reads back as the same float64, or it shows at most 8 significant digits and
    a whole number of more than 8 digits carries an exponent."""
    text = format_short(x)
    if float(text) == float(x):
        return
    mantissa = re.sub(r"e.*", "", text).lstrip("-").replace(".", "").strip("0")
    assert len(mantissa) <= SIGNIFICANT, text
    assert not re.fullmatch(r"-?\d{%d,}" % (SIGNIFICANT + 1), text), text


def test_exact_printing_of_integers():
    assert format_number(2**62 + 1) == "4611686018427387905"
    assert format_number(np.int64(2**62 + 1)) == "4611686018427387905"
    assert format_number(np.asarray(-7)) == "-7" and format_number(True) == "1"
    assert format_value([123456789, 1, 2.5]) == "[1.2345679e+08, 1, 2.5]"


def test_eval_shows_a_large_integer_as_rounded_and_full_as_exact():
    short = CliRunner().invoke(app, ["eval", "-"], input="y = 123456789\n")
    assert "1.2345679e+08" in short.stdout and "123456790" not in short.stdout
    full = CliRunner().invoke(app, ["eval", "-", "--full"], input="y = 123456789\n")
    assert "123456789" in full.stdout
    exact = CliRunner().invoke(app, ["eval", "-", "--json"], input="y = 123456789\nz = 12\n")
    assert json.loads(exact.stdout)["values"] == {"y": 123456789.0, "z": 12.0}


# ---------------------------------------------------------------------------------------------
# Values with infinities, as Python's json writes them
# ---------------------------------------------------------------------------------------------

def test_json_inputs_carry_infinities(tmp_path):
    path = tmp_path / "values.json"
    path.write_text(json.dumps({"x": [1.5, float("inf"), -float("inf")], "s": float("-inf")}))
    values = load_inputs(str(path))
    assert values["x"].tolist() == [1.5, np.inf, -np.inf] and float(values["s"]) == -np.inf
    assert parse_value(json.dumps([float("inf"), 2.0]), "--set x").tolist() == [np.inf, 2.0]
    (tmp_path / "m.ad").write_text("input x: [3]\ninput s\ny = x * 2\nz = exp(s)\n")
    result = run("eval", tmp_path / "m.ad", "--inputs", path, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["values"] == {"y": [3.0, "Infinity", "-Infinity"], "z": 0.0}


def test_nan_is_refused_in_every_form(tmp_path):
    (tmp_path / "nan.json").write_text(json.dumps({"x": [1.0, float("nan")]}))
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    for path, says in [("nan.json", "x: NaN is not allowed"), ("nan.npy", "holds NaN values")]:
        with pytest.raises(InputError, match=says):
            load_inputs(str(tmp_path / path))
    for text, says in [("NaN", "NaN is not allowed"), ("[1, NaN]", "NaN is not allowed"), ("0/0", "(NaN)")]:
        with pytest.raises(InputError, match=re.escape(says)):
            parse_value(text, "--set x")


def test_an_infinity_is_no_integer_label(tmp_path):
    (tmp_path / "m.ad").write_text("input y: int[2]\nz = sum(one_hot(y, 3))\n")
    result = run("eval", tmp_path / "m.ad", "--set", "y=[0, Infinity]")
    assert result.exit_code == 2 and "declared int, but its value holds inf, not a whole number" in result.stderr


# ---------------------------------------------------------------------------------------------
# --tangent is refused where --wrt is: data and integers are never differentiated
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("declaration", ["data d", "input d: int[]"])
def test_tangent_refused_as_wrt_is(tmp_path, declaration):
    (tmp_path / "m.ad").write_text(f"{declaration}\ny = x * d\n")
    values = ["--set", "x=1", "d=2"]
    wrt = run("grad", tmp_path / "m.ad", *values, "--wrt", "d")
    tangent = run("jvp", tmp_path / "m.ad", *values, "--tangent", "d=1")
    batched = run("jvp", tmp_path / "m.ad", "--set", "x=[1, 2]", "d=2", "--batch", "x", "--tangent", "d=1")
    assert wrt.exit_code == tangent.exit_code == batched.exit_code == 2
    assert tangent.stderr == wrt.stderr.replace("--wrt d:", "--tangent d:") == batched.stderr
    assert run("jvp", tmp_path / "m.ad", *values, "--tangent", "x=1").exit_code == 0


# ---------------------------------------------------------------------------------------------
# Source text: LF, CRLF and a lone CR all end a line
# ---------------------------------------------------------------------------------------------

ENDINGS = {"CRLF": "\r\n", "CR": "\r"}


def with_endings(text: str, ending: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", ending)


def shape_of_graph(graph) -> list[tuple]:
    return [(n.op, n.args, n.label, n.line, n.col) for n in graph.nodes]


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_means_the_same_with_any_line_ending(sample, ending):
    text = sample.read_text(encoding="utf-8")
    expected = parse_source(text, sample.name)
    got = parse_source(with_endings(text, ENDINGS[ending]), sample.name)
    assert shape_of_graph(got) == shape_of_graph(expected)
    assert got.source == expected.source  # what errors and traces show


def parse_errors() -> list[tuple[str, str]]:
    """(id, source) of every corpus case whose file alone is an error (syntax, names, shapes)."""
    found = []
    for case in load_corpus():
        if "source" not in case or case.get("encoding"):
            continue
        source = expand(case["source"], Path("/tmp"))
        try:
            parse_source(source, "model.ad")
        except AdError:
            found.append((case["id"], source))
    return found


def test_the_corpus_has_many_file_errors():
    assert len(parse_errors()) > 60


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_every_file_error_is_placed_the_same_with_any_line_ending(ending):
    """The same message, line, column, source line and caret, whatever ends the lines."""
    for case_id, source in parse_errors():
        messages = []
        for text in (with_endings(source, "\n"), with_endings(source, ENDINGS[ending])):
            with pytest.raises(AdError) as info:
                parse_source(text, "model.ad")
            messages.append(str(info.value))
        assert messages[0] == messages[1], case_id
        assert "\r" not in messages[1], case_id


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_lint_reports_the_same_with_any_line_ending(ending):
    for source, places in [("input x: [2]\ny = sigmod(x)  # a typo\nz = x @ [1, 2, 3]\n", [(2, 5), (3, 7)]),
                           ("input x: [2]  # fine\n\ny = x +\n", [(3, 8)])]:
        lf = [str(e) for e in lint_source(source, "m.ad")]
        errors = lint_source(with_endings(source, ENDINGS[ending]), "m.ad")
        assert [str(e) for e in errors] == lf
        assert [(e.span.line, e.span.col) for e in errors] == places


def test_a_comment_ends_at_a_lone_cr():
    assert adcli.parse("input x\ny = x # c\rz = y * 2\rw = z - 100\r").eval(x=1.0)["w"] == -98.0
    with pytest.raises(AdError, match="unexpected '-'") as info:  # not w = z - 100
        adcli.parse("input x\ny = x # c\rz = y * 2\rw = z\r- 100\n")
    assert (info.value.span.line, info.value.span.col) == (5, 1)


def test_a_file_of_lone_crs_through_the_cli(tmp_path):
    path = tmp_path / "mac.ad"
    path.write_bytes(b"input x\r# a comment\ry = x * 2 \\\r  + 1\rfor i in range(2):\r    y = y + i\r")
    for _ in range(2):  # parsed, then from the program cache
        result = run("eval", path, "--set", "x=1", "--json")
        assert result.exit_code == 0 and json.loads(result.stdout)["values"]["y''"] == 4.0
    path.write_bytes(b"input x\ry = x # fine\rz = log(y - 5)\r")
    for _ in range(2):
        result = run("eval", path, "--set", "x=1", "--strict")
        assert result.stderr.split("\n")[1:3] == ["z = log(y - 5)", "    ^"], result.stderr


def test_the_grammar_alone_ends_lines_at_cr():
    lexer = Lark(grammar_path().read_text(encoding="utf-8"), parser=None, lexer="basic")
    for ending in ("\n", "\r\n", "\r"):
        tokens = list(lexer.lex(f"y = x # c{ending}z = 1 \\{ending} + 2{ending}"))
        assert [t.value for t in tokens if t.type != "_NL"] == ["y", "=", "x", "z", "=", "1", "+", "2"], ending
        assert [t.type for t in tokens].count("_NL") == 2, ending


def test_the_pygments_lexer_ends_lines_at_cr():
    from adcli.language.highlight import AdLexer
    lexer = AdLexer(stripnl=False, ensurenl=False)
    for sample in SAMPLES:
        text = sample.read_text(encoding="utf-8")
        expected = [(kind, value) for _, kind, value in lexer.get_tokens_unprocessed(text) if value.strip()]
        for ending in ENDINGS.values():
            got = [(kind, value) for _, kind, value in lexer.get_tokens_unprocessed(with_endings(text, ending))
                   if value.strip()]
            assert got == expected, sample.name
