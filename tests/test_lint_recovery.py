"""Lint reports every error of a file: syntax errors are recovered from, statement by statement,
and the names, shapes and types of the statements left are still checked, with no cascade.

- Each row of CASES is a file with errors on several lines and the exact (line, col) of each error
  with a fragment of its message, in file order. The caret is on the offending token: the operator
  or end of line where an expression is missing, the bracket never closed or never opened, the
  attribute or function that does not exist.
- A statement that held a syntax error is left out and the names it defines are forgotten: a later
  statement reading them reports nothing (no shape error from a value that was never built).
- Every error's span reads the original text, so its source line is the file's own line.
- `adcli lint` prints each error with its line and a caret, in file order, exits 2, and --json
  gives one entry per error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import random_programs_lib as lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adcli.errors import AdError, ParseError
from adcli.explain.annotations import error_kind
from adcli.language.lint import lint_source
from adcli.language.source import plain_source

# (id, source, [(line, col, fragment of the message), ...]) in file order.
CASES = [
    ("dangling operators",
     "input x: [3]\ny = x +\nz = x * 2\nw = z *\nv = z\n",
     [(2, 8, "unexpected end of line; expected an expression"),
      (4, 8, "unexpected end of line; expected an expression")]),
    ("unclosed bracket, the next statements still checked",
     "input x: [3]\ny = (x + 1\nz = x.shp\nw = foo(x)\n",
     [(2, 5, "'(' is never closed"),
      (3, 7, "arrays have no attribute 'shp'"),
      (4, 5, "unknown function 'foo'")]),
    ("unclosed call carried over a continuation line",
     "input x: [3]\ny = sum(x * 2\n    + 1\nz = x.shp\n",
     [(2, 8, "'(' is never closed"),
      (4, 7, "arrays have no attribute 'shp'")]),
    ("extra closing brackets",
     "input x: [3]\ny = x + 1)\nz = x * 2\nw = z ]\n",
     [(2, 10, "unexpected ')': there is no '(' to close"),
      (4, 7, "unexpected ']': there is no '[' to close")]),
    ("for without ':', no cascade from its body",
     "input x: [3]\nh = x\nfor t in range(3)\n    h = h * 2\n    h = h.shp\nz = h + 1\nw = x.shp\n",
     [(3, 18, "unexpected end of line"),
      (7, 7, "arrays have no attribute 'shp'")]),
    ("two syntax errors in one def body, and a call of it",
     ("input x: [3]\ndef f(a):\n    b = a +\n    c = b * 2\n    d = c )\n    return d\n"
      "y = f(x)\nz = y @ y @ y\nw = x.shp\n"),
     [(3, 12, "unexpected end of line; expected an expression"),
      (5, 11, "unexpected ')': there is no '(' to close"),
      (9, 7, "arrays have no attribute 'shp'")]),
    ("unexpected indentation",
     "input x: [3]\ny = x\n    z = y.shp\nw = y * 2\nv = x.shp\n",
     [(3, 1, "unexpected indentation: only the body of a def or a for is indented"),
      (5, 7, "arrays have no attribute 'shp'")]),
    ("a tab in the indentation",
     "input x: [3]\n\ty = x\nz = x.shp\n",
     [(2, 1, "a tab in the indentation: indent blocks with spaces"),
      (3, 7, "arrays have no attribute 'shp'")]),
    ("a syntax error, then a name error in an unrelated statement",
     "input x: [3]\ny = x *\nz = foo(x)\n",
     [(2, 8, "unexpected end of line; expected an expression"),
      (3, 5, "unknown function 'foo'")]),
    ("a name defined by a broken statement is forgotten: no shape error from it",
     "input W: [3, 4]\na = W @ +\nb = a @ a\nc = W @ W\n",
     [(2, 10, "unexpected end of line; expected an expression"),
      (4, 7, "'@' cannot multiply shapes [3, 4] and [3, 4]")]),
    ("an error on the second line of a bracketed statement",
     "input x: [3]\ny = [x,\n     x +,\n     x]\nz = x.shp\n",
     [(3, 9, "unexpected ','; expected an expression"),
      (5, 7, "arrays have no attribute 'shp'")]),
    ("an error on the second line of a call",
     "input x: [3]\ny = f(x,\n      + )\nz = x * 2\nw = x.shp\n",
     [(3, 9, "unexpected ')'; expected an expression"),
      (5, 7, "arrays have no attribute 'shp'")]),
    ("CRLF line endings",
     "input x: [3]\r\ny = x +\r\nz = x.shp\r\nw = x * 2)\r\n",
     [(2, 8, "unexpected end of line; expected an expression"),
      (3, 7, "arrays have no attribute 'shp'"),
      (4, 10, "unexpected ')': there is no '(' to close")]),
    ("a syntax error at the very end, no final newline",
     "input x: [3]\ny = x.shp\nz = x * *",
     [(2, 7, "arrays have no attribute 'shp'"),
      (3, 9, "unexpected '*'; expected an expression")]),
    ("a bracket never closed at the very end, no final newline",
     "input x: [3]\ny = x +\nz = (x",
     [(2, 8, "unexpected end of line; expected an expression"),
      (3, 5, "'(' is never closed")]),
    ("a dangling operator at the very end, no final newline",
     "input x: [3]\ny = x.shp\nz = x *",
     [(2, 7, "arrays have no attribute 'shp'"),
      (3, 8, "unexpected end of file; expected an expression")]),
]


def places(errors) -> list[tuple[int, int]]:
    return [(e.span.line, e.span.col) for e in errors]


@pytest.mark.parametrize(("source", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_every_error_is_reported_at_its_token(source, expected):
    errors = lint_source(source, "model.ad")
    assert places(errors) == [(line, col) for line, col, _ in expected], [e.message for e in errors]
    for error, (_, _, fragment) in zip(errors, expected):
        assert fragment in error.message
    # The kinds: a syntax error is a parse error, the others are not.
    for error, (_, _, fragment) in zip(errors, expected):
        syntax = fragment.startswith(("unexpected", "'('", "a tab"))
        assert isinstance(error, ParseError) == syntax, (error_kind(error), error.message)


@pytest.mark.parametrize("source", [case[1] for case in CASES], ids=[case[0] for case in CASES])
def test_every_span_reads_the_original_text(source):
    """Spans carry the file's own text (line endings as the parser reads them), never a copy with
    statements blanked: each error's source line is the file's line."""
    lines = source.splitlines()
    errors = lint_source(source, "model.ad")
    assert errors
    for error in errors:
        assert error.span.file == "model.ad"
        assert error.span.source == plain_source(source)
        assert error.span.source_line() == lines[error.span.line - 1]
        assert error.span.col <= len(lines[error.span.line - 1]) + 1


def test_a_clean_file_has_no_errors():
    source = ("input W: [3, 4]\ninput x: [4]\ninput b: [3]\n# a comment\n"
              "def f(a) = a * a\nh = relu(W @ x + b)\nfor t in range(3):\n    h = h + f(h)\n"
              "def g(v):\n    w = np.exp(v)\n    return w\nL = sum(g(h))\n")
    assert lint_source(source, "model.ad") == []


def test_the_forgotten_name_would_otherwise_be_a_shape_error():
    """The control for the `a = W @ +` row: with `a` built, `b = a @ a` is a shape error, so its
    absence there is recovery forgetting `a`, not a shape check that missed it."""
    errors = lint_source("input W: [3, 4]\na = W\nb = a @ a\n", "model.ad")
    assert places(errors) == [(3, 7)]
    assert error_kind(errors[0]) == "shape"


def test_fifty_broken_lines_give_fifty_errors():
    lines = [f"y{i} = x{i} {'+-*/'[i % 4]}" for i in range(50)]
    source = "\n".join(lines) + "\n"
    errors = lint_source(source, "many.ad")
    assert places(errors) == [(i + 1, len(line) + 1) for i, line in enumerate(lines)]
    assert all(e.message == "unexpected end of line; expected an expression" for e in errors)
    assert all(e.span.source_line() == line for e, line in zip(errors, lines))


def test_a_tab_in_a_block_body_does_not_cascade():
    source = "input x: [3]\nfor t in range(2):\n\tx = x * 2\nw = x\n"
    errors = lint_source(source, "model.ad")
    assert [(e.span.line, e.span.col, e.message) for e in errors] == [
        (3, 1, "a tab in the indentation: indent blocks with spaces")]


def test_a_broken_defs_locals_do_not_hide_a_global():
    source = "b = 1\ndef f(a):\n    b = a +\n    return b\nw = b.shp\n"
    errors = lint_source(source, "model.ad")
    assert places(errors) == [(3, 12), (5, 7)]


# ---- the command line ----------------------------------------------------------------------------

THREE = "input x: [3]\ny = x +\nz = x.shp\nw = x * 2)\n"


def lint(*args, cwd):
    return subprocess.run([sys.executable, "-m", "adcli", "lint", *args], cwd=cwd, check=False,
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_each_error_with_its_line_and_caret(tmp_path):
    (tmp_path / "three.ad").write_text(THREE, encoding="utf-8")
    done = lint("three.ad", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    out = done.stdout.splitlines()
    headers = [k for k, line in enumerate(out) if ": error: " in line]
    assert [out[k].split(": error: ")[0] for k in headers] == ["three.ad:2:8", "three.ad:3:7", "three.ad:4:10"]
    source_lines = THREE.splitlines()
    for k, (line, col) in zip(headers, [(2, 8), (3, 7), (4, 10)]):
        assert out[k + 1] == source_lines[line - 1]
        assert out[k + 2] == " " * (col - 1) + "^"
    assert "Found 3 errors in 1 of 1 file." in done.stderr


def test_cli_json_lists_every_error(tmp_path):
    (tmp_path / "three.ad").write_text(THREE, encoding="utf-8")
    done = lint("--json", "three.ad", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    found = json.loads(done.stdout)
    assert [(e["file"], e["line"], e["col"], e["kind"]) for e in found] == [
        ("three.ad", 2, 8, "parse"), ("three.ad", 3, 7, "name"), ("three.ad", 4, 10, "parse")]
    assert all(set(e) == {"file", "line", "col", "message", "kind"} for e in found)


def test_cli_junit_has_a_failure_per_error_and_a_case_per_clean_file(tmp_path):
    import xml.etree.ElementTree as ET
    (tmp_path / "three.ad").write_text(THREE, encoding="utf-8")
    (tmp_path / "clean.ad").write_text("y = 2 * x\n", encoding="utf-8")
    done = lint("--format", "junit", "three.ad", "clean.ad", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    suite = ET.fromstring(done.stdout).find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("4", "3")
    cases = [(c.get("classname"), c.get("name"), c.find("failure") is not None) for c in suite]
    assert cases == [("three.ad", "2:8", True), ("three.ad", "3:7", True), ("three.ad", "4:10", True),
                     ("clean.ad", "no errors", False)]
    assert [c.find("failure").get("type") for c in suite if c.find("failure") is not None] == ["parse", "name", "parse"]
    same = lint("--format", "json", "three.ad", cwd=tmp_path)
    assert json.loads(same.stdout) == json.loads(lint("--json", "three.ad", cwd=tmp_path).stdout)
    both = lint("--json", "--format", "junit", "three.ad", cwd=tmp_path)
    assert both.returncode == 2 and both.stdout == "" and "--json and --format junit both write stdout" in both.stderr


def test_a_missing_colon_is_named():
    (error,) = lint_source("for t in range(3)\n    y = t\n")
    assert (error.span.line, error.span.col) == (1, 18) and error.message.endswith("expected ':'")


def programs() -> list:
    """Every sample and documented program: the statements compiled one by one must be the file compiled whole."""
    root = Path(__file__).resolve().parent.parent
    return sorted([*root.glob("samples/*.ad"), *root.glob("bench/programs/*.ad"), *root.glob("tests/**/*.ad")])


def test_compiling_statement_by_statement_equals_compiling_the_file():
    from adcli.language.parser import compile_source, plain_source
    from adcli.language.recovery import compile_parts
    compared = 0
    for path in programs():
        source = plain_source(path.read_text(encoding="utf-8"))
        try:
            whole = compile_source(source, path.name)
        except AdError:
            continue
        parts: dict = {}
        assert compile_parts(source, path.name, parts) == whole, path
        # Kept parts are reused: an edit of one statement recompiles it alone, and the result still agrees.
        edited = source.replace("\n", "  \n", 1)
        assert compile_parts(edited, path.name, parts) == compile_source(edited, path.name), path
        compared += 1
    assert compared >= 20


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.booleans().flatmap(lambda hostile: lib.programs(hostile)), st.integers(0, 2**32 - 1))
def test_random_programs_compile_alike_by_statements(case, seed):
    """Random programs (defs, loops, numpy spellings): by statements, as the language server compiles, or whole."""
    from adcli.language.parser import compile_source
    from adcli.language.recovery import compile_parts
    statements, _, _ = case
    source = lib.print_program(statements, np.random.default_rng(seed))
    assert compile_parts(source, "random.ad", {}) == compile_source(source, "random.ad")
    assert lint_source(source) == []
