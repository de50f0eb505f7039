"""The .ad language: the grammar, precedence, statements, inputs, labels, folding, and scale."""

from __future__ import annotations

import numpy as np
import pytest
from lark import Lark
from lark.exceptions import GrammarError

import adcli
from adcli.errors import InputError, NameResolutionError, ParseError, ShapeError
from adcli.language.expand import expand
from adcli.language.graph import CONST, INPUT
from adcli.language.parser import grammar_path, lark_parser, parse_source


def value(source, **inputs):
    """The value of the last assignment."""
    return float(list(adcli.parse(source).eval(**inputs).values())[-1])


def labels(graph):
    return [node.label for node in graph.nodes]


# ---------------------------------------------------------------------------------------------
# The grammar itself
# ---------------------------------------------------------------------------------------------

def test_grammar_builds_in_strict_mode():
    pytest.importorskip("interegular")
    parser, compiler, layout = lark_parser(strict=True)
    source = "def f(a):\n    return a[1:] - 1\nfor t in range(2):\n    y = f(x)[t] - 4 - 2 < 3\n"
    compiler.reset("strict.ad", source)
    layout.reset("strict.ad", source)
    parser.parse(source)
    assert expand(compiler.code, "strict.ad", source).output_name == "y'"  # assigned once per iteration


def test_strict_mode_would_catch_a_conflict():
    """The check above means something: strict mode refuses an ambiguous LALR grammar."""
    pytest.importorskip("interegular")
    with pytest.raises(GrammarError):
        Lark('start: e\ne: e "-" e | NUMBER\n%import common.NUMBER', parser="lalr", strict=True)


def test_grammar_file_is_found():
    assert grammar_path().name == "adcli.lark"
    assert "?power" in grammar_path().read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Precedence and associativity, checked by evaluating
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("y = 8 - 4 - 2", 2.0),                 # - is left-associative
    ("y = 2 ** 3 ** 2", 512.0),             # ** is right-associative
    ("y = 2 ** -1", 0.5),                   # a signed exponent
    ("y = -2 ** 2", -4.0),                  # ** binds tighter than a unary minus on its left
    ("y = (-2) ** 2", 4.0),
    ("y = 2 ** -1 ** 2", 0.5),              # 2 ** (-(1 ** 2))
    ("y = 8 / 4 / 2", 1.0),                 # / is left-associative
    ("y = 2 + 3 * 4", 14.0),
    ("y = (2 + 3) * 4", 20.0),
    ("y = 2 * 3 ** 2", 18.0),
    ("y = 12 / 2 * 3", 18.0),
    ("y = 3 - -2", 5.0),
    ("y = - - 3", 3.0),
    ("y = +3 - +2", 1.0),
    ("y = 2 @ 3 * 4", 24.0),                # scalar @ multiplies, same level as *
    ("y = 1 - 2 + 3", 2.0),
    ("y = 3. + .5 + 1e-3 + 1E+2 + 2.5e1", 128.501),
])
def test_precedence_of_constants(source, expected):
    assert value(source) == expected


def test_precedence_with_names():
    assert value("y = -x**2", x=3.0) == -9.0
    assert value("y = -(x**2)", x=3.0) == -9.0
    assert value("y = (-x)**2", x=3.0) == 9.0
    assert value("y = a / b / c", a=8.0, b=4.0, c=2.0) == 1.0
    assert value("y = a / (b / c)", a=8.0, b=4.0, c=2.0) == 4.0
    assert value("y = a - -b", a=1.0, b=2.0) == 3.0
    assert value("y = a - b - c", a=1.0, b=2.0, c=3.0) == -4.0
    assert value("y = a ** b ** c", a=2.0, b=3.0, c=2.0) == 512.0
    assert value("y = x ** -y", x=2.0, y=2.0) == 0.25


def test_transpose_binds_tightest():
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = adcli.parse("a = x.T\nb = transpose(x)\nc = -x.T\nd = x.T @ x\ne = x.T.T\nf = 2 * x.T").eval(x=m)
    assert out["a"].tolist() == m.T.tolist()
    assert out["b"].tolist() == m.T.tolist()
    assert out["c"].tolist() == (-m.T).tolist()
    assert out["d"].tolist() == (m.T @ m).tolist()
    assert out["e"].tolist() == m.tolist()
    assert out["f"].tolist() == (2 * m.T).tolist()
    assert adcli.parse("y = x.T ** 2").eval(x=m)["y"].tolist() == (m.T ** 2).tolist()


# ---------------------------------------------------------------------------------------------
# Statements, comments, line structure
# ---------------------------------------------------------------------------------------------

def test_statements_comments_blank_lines_and_continuations():
    source = (
        "# a comment on its own line\n"
        "\n"
        "a = 1; b = 2  # two statements and a trailing comment\n"
        "\n\n"
        "c = a + \\\n"
        "    b\n"
        "W = [[1, 2],\n"
        "     [3, 4]]  # an array literal over two lines\n"
        "v = [a,\n"
        "     # a comment inside brackets\n"
        "     b]\n"
        "s = sum(W @ v,\n"
        "        axis=0);\n"
        ";\n"
    )
    out = adcli.parse(source).eval()
    assert list(out) == ["a", "b", "c", "W", "v", "s"]
    assert float(out["c"]) == 3.0
    assert out["W"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert out["v"].tolist() == [1.0, 2.0]
    assert float(out["s"]) == 16.0


def test_windows_line_endings_and_no_final_newline():
    out = adcli.parse("a = 2\r\nb = a * \\\r\n 3\r\nc = b + 1").eval()
    assert float(out["c"]) == 7.0


def test_statement_must_end_at_a_newline():
    with pytest.raises(ParseError) as info:
        adcli.parse("y = 1 z = 2")
    assert "unexpected name 'z'" in info.value.message
    assert (info.value.span.line, info.value.span.col) == (1, 7)


def test_a_file_must_assign_something():
    for source in ("", "\n\n", "# only a comment\n", "input x\n"):
        with pytest.raises(ParseError, match="assigns no value"):
            adcli.parse(source)


@pytest.mark.parametrize("source, line, col, phrase", [
    ("y = 2 +\n", 1, 8, "unexpected end of line; expected an expression"),
    ("y = x +* 2", 1, 8, "unexpected '*'; expected an expression"),
    ("y = (x + 1\nz = 3", 1, 5, "'(' is never closed (expected ')')"),
    ("y = [1, 2", 1, 5, "'[' is never closed (expected ']')"),
    ("y = x $ 2", 1, 7, "unexpected character '$'"),
    ("y == 2", 1, 4, "'==' compares two values; a statement assigns with one '='"),
    ("y = x == 2 == 3", 1, 12, "unexpected '=='; expected"),
    ("= 3", 1, 1, "unexpected '='"),
    ("a = 1\n\ny = 3x", 3, 6, "unexpected name 'x'"),
    ("input = 3", 1, 1, "'input' is a keyword"),
    ("y = 1e999", 1, 5, "too large for float64"),
    ("input x: [2.5]\ny = x", 1, 11, "a dimension must be a whole number or a name"),
])
def test_syntax_errors_point_at_the_problem(source, line, col, phrase):
    with pytest.raises(ParseError) as info:
        adcli.parse(source, "f.ad")
    error = info.value
    assert phrase in error.message
    assert (error.span.file, error.span.line, error.span.col) == ("f.ad", line, col)


def test_a_binary_operator_is_not_followed_by_the_end_of_a_line():
    """After '+' only an expression can come; the message must not offer 'the end of the line'."""
    with pytest.raises(ParseError) as info:
        adcli.parse("y = x +* 2")
    assert info.value.message == "unexpected '*'; expected an expression"


@pytest.mark.parametrize("source, error, phrase", [
    ("y = relux(x)", NameResolutionError, "unknown function 'relux'; did you mean 'relu'?"),
    ("y = foo(x)", NameResolutionError, "unknown function 'foo'"),
    ("y = sum", NameResolutionError, "'sum' is a function; call it as sum(...)"),
    ("True = 3", NameResolutionError, "cannot assign to 'True': it is a built-in constant"),
    ("def f(a) = a\nf = 3", NameResolutionError, "cannot assign to 'f': it is the name of a function defined at line 1"),
    ("y = x\ninput x", NameResolutionError, "input 'x' is declared after its first use at line 1"),
    ("y = max(a, b, c)", NameResolutionError, "max() takes 1 or 2 arguments"),
    ("y = relu(a, b)", NameResolutionError, "relu() takes 1 argument, but 2 were given"),
    ("y = sum(x, axis=y)", NameResolutionError, "the axis of sum() must be a whole number"),
    ("y = sum(x, 0.5)", NameResolutionError, "the axis of sum() must be a whole number"),
    ("y = exp(x, axis=0)", NameResolutionError, "exp() has no argument 'axis'"),
    ("y = sum(x, axis=0, axis=1)", NameResolutionError, "sum() got 'axis' twice"),
    ("y = [1, [2, 3]]", ShapeError, "array literal items must have one shape, but found [] and [2]"),
])
def test_name_and_call_errors(source, error, phrase):
    with pytest.raises(error) as info:
        adcli.parse(source)
    assert phrase in info.value.message


# ---------------------------------------------------------------------------------------------
# Inputs: declarations, named dimensions, order
# ---------------------------------------------------------------------------------------------

NAMED_DIMS = "input W: [c, d]\ninput x: [d]\ninput b: [c]\nH = relu(W @ x + b)\n"


def test_named_dimensions_consistent():
    out = adcli.parse(NAMED_DIMS).eval(W=np.ones((2, 3)), x=[1.0, 2.0, 3.0], b=[-10.0, 1.0])
    assert out["H"].tolist() == [0.0, 7.0]


def test_named_dimensions_inconsistent():
    with pytest.raises(InputError) as info:
        adcli.parse(NAMED_DIMS, "f.ad").eval(W=np.ones((2, 3)), x=[1.0, 2.0], b=[1.0, 1.0])
    assert info.value.message == "dimension 'd' is 3 in input 'W' but 2 in input 'x'"
    assert (info.value.span.line, info.value.span.col) == (2, 7)


def test_declared_shape_and_rank_are_checked():
    with pytest.raises(InputError, match=r"input 'W' is declared with shape \[c, d\] but its value has shape \[3\]"):
        adcli.parse(NAMED_DIMS).eval(W=[1.0, 2.0, 3.0], x=[1.0], b=[1.0])
    with pytest.raises(InputError, match=r"input 'v' is declared with shape \[2\] but its value has shape \[3\]"):
        adcli.parse("input v: [2]\ny = sum(v)").eval(v=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match=r"input 's' is declared with shape \[\] but its value has shape \[1\]"):
        adcli.parse("input s: []\ny = s").eval(s=[1.0])
    assert float(adcli.parse("input s: []\ny = s * 2").eval(s=4.0)["y"]) == 8.0


def test_inputs_are_ordered_declared_first_then_by_first_use():
    program = adcli.parse("input b\ninput W: [2]\ny = a * b + c\nz = d + y + a\n")
    assert program.inputs == ["b", "W", "a", "c", "d"]
    grad = program.grad(a=1.0, b=2.0, c=3.0, d=4.0, W=[1.0, 1.0])
    assert list(grad.grad) == ["b", "W", "a", "c", "d"]


# ---------------------------------------------------------------------------------------------
# Names, versions, temporaries, constants
# ---------------------------------------------------------------------------------------------

def test_reassignment_uses_the_old_value():
    program = adcli.parse("h = h * h")
    assert labels(program.graph) == ["h", "h'"]
    assert program.inputs == ["h"]
    assert {k: float(v) for k, v in program.eval(h=3.0).items()} == {"h'": 9.0}
    result = program.grad(h=3.0)
    assert (result.output, float(result.value), float(result.grad["h"])) == ("h'", 9.0, 6.0)


def test_versions_of_a_name():
    program = adcli.parse("h = 2 * x\nh = h + 1\nh = h * h\nh = h - x\nh = h / 2\n")
    assigned = [label for label, _ in program.graph.assigned]
    assert assigned == ["h", "h'", "h''", "h'''", "h'4"]
    # At x = 3: h = 6, 7, 49, 46, 23; d/dx = ((2·7·2) - 1)/2.
    result = program.grad(x=3.0)
    assert (float(result.value), float(result.grad["x"])) == (23.0, 13.5)
    # --of h means the latest h; an earlier version by its label.
    assert float(program.grad(of="h''", x=3.0).value) == 49.0


def test_temporaries_never_collide_with_names_in_the_file():
    program = adcli.parse("y = U1 * x + U2 * U1 + exp(U3)\n")
    graph = program.graph
    names = labels(graph)
    assert len(names) == len(set(names)), names
    temporaries = [node.label for node in graph.nodes if node.name is None and node.op != CONST]
    assert temporaries == ["U4", "U5", "U6", "U7"]
    assert program.inputs == ["U1", "x", "U2", "U3"]
    result = program.grad(U1=2.0, x=3.0, U2=5.0, U3=0.0)
    assert float(result.value) == 2 * 3 + 5 * 2 + 1
    assert {k: float(v) for k, v in result.grad.items()} == {"U1": 8.0, "x": 2.0, "U2": 2.0, "U3": 1.0}


def test_temporaries_follow_the_lecture():
    graph = adcli.parse("H = relu(W @ x + b)").graph
    assert labels(graph) == ["W", "x", "U1", "b", "U2", "H"]


def test_pi():
    assert value("y = pi") == np.pi
    assert value("y = 2 * pi") == 2 * np.pi
    assert float(adcli.parse("y = pi * x").grad(x=1.0).grad["x"]) == np.pi
    graph = adcli.parse("y = -pi * x").graph
    assert [(n.op, n.label) for n in graph.nodes] == [(INPUT, "x"), (CONST, "-pi"), ("mul", "y")]


def test_literals_fold_into_one_constant():
    graph = adcli.parse("y = -3").graph
    assert [(n.op, n.label) for n in graph.nodes] == [(CONST, "y")]
    assert float(graph.nodes[0].data) == -3.0
    graph = adcli.parse("y = x * -3").graph
    assert [n.op for n in graph.nodes] == [INPUT, CONST, "mul"]
    assert graph.nodes[1].label == "-3"
    graph = adcli.parse("y = x + [[1, 2], [-3, 4]]").graph
    assert [n.op for n in graph.nodes] == [INPUT, CONST, "add"]
    assert graph.nodes[1].data.tolist() == [[1.0, 2.0], [-3.0, 4.0]]
    assert graph.nodes[1].data.dtype == np.float64
    assert adcli.parse("y = []").eval()["y"].shape == (0,)


def test_array_literals_of_expressions_differentiate():
    program = adcli.parse("v = [x, 2 * x, x * x]\ny = sum(v * [1, 2, 3])")
    assert "stack" in [n.op for n in program.graph.nodes]
    result = program.grad(x=2.0)
    assert float(result.value) == 2 + 8 + 12
    assert float(result.grad["x"]) == 1 + 4 + 3 * 2 * 2

    program = adcli.parse("M = [[a, b], [c, 1]]\ny = sum(M @ [1, 2])")
    result = program.grad(a=1.0, b=2.0, c=3.0)
    assert float(result.value) == (1 + 4) + (3 + 2)
    assert {k: float(v) for k, v in result.grad.items()} == {"a": 1.0, "b": 2.0, "c": 1.0}

    program = adcli.parse("S = [u, [1, 2], u * u]\ny = sum(S.T @ [1, 10, 100])")
    result = program.grad(u=[3.0, 4.0])
    np.testing.assert_array_equal(result.grad["u"], [1 + 100 * 6, 1 + 100 * 8])


def test_array_literal_items_must_share_a_shape():
    with pytest.raises(ShapeError, match=r"one shape, but found \[2\] and \[3\]"):
        adcli.parse("y = sum([u, v])").eval(u=[1.0, 2.0], v=[1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------------------------
# Scale: no recursion over user-sized structures
# ---------------------------------------------------------------------------------------------

DEPTH = 10_000


@pytest.mark.parametrize("source, slope", [
    ("y = " + "(" * DEPTH + "x" + ")" * DEPTH, 1.0),
    ("y = " + "-(" * DEPTH + "x" + ")" * DEPTH, 1.0),  # an even number of minus signs
    ("y = " + "-(" * (DEPTH - 1) + "x" + ")" * (DEPTH - 1), -1.0),
    ("y = " + "x+(" * DEPTH + "x" + ")" * DEPTH, DEPTH + 1.0),
    ("y = " + "-" * DEPTH + "x", 1.0),
    ("y = " + "sum(" * DEPTH + "x" + ")" * DEPTH, 1.0),
    ("y = x" + ".T" * DEPTH, 1.0),
    ("y = " + "x**" * DEPTH + "1", 1.0),  # x**(x**(…**1)) = x at x = 1, slope 1
])
def test_deep_nesting_parses_and_differentiates(source, slope):
    result = adcli.parse(source).grad(x=1.0)
    assert float(result.grad["x"]) == slope


def test_deep_nesting_error_is_reported_not_a_recursion_error():
    with pytest.raises(ParseError) as info:
        adcli.parse("y = " + "(" * DEPTH + "x +" + ")" * DEPTH)
    assert info.value.message == "unexpected ')'; expected an expression"
    assert info.value.span.col == 4 + DEPTH + 4


def test_a_100000_line_file_parses():
    lines = ["y = 0"] + [f"x = x + {i % 7}" for i in range(100_000)]
    program = adcli.parse("\n".join(lines) + "\n")
    assert len(program.graph.assigned) == 100_001
    result = program.grad(x=1.0)
    assert float(result.value) == 1.0 + sum(i % 7 for i in range(100_000))
    assert float(result.grad["x"]) == 1.0
    assert result.output == "x'100000"


def test_parse_source_keeps_file_name_and_source():
    graph = parse_source("y = x\n", "name.ad")
    assert graph.file == "name.ad" and graph.source == "y = x\n"
    assert graph.span(0).line == 1 and graph.span(0).col == 5
