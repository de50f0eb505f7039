"""CI formats: `--format github` annotations, `adcli lint` (text, JSON, GitHub), JUnit XML, pre-commit hooks."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adcli.cli.main import app
from adcli.errors import Span
from adcli.explain.annotations import Annotation, command, escape_message, escape_property, limited
from adcli.language.lint import lint_source

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# A reader of GitHub's workflow-command syntax
# ---------------------------------------------------------------------------------------------

COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def unescape(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


def annotations(stdout: str) -> list[dict]:
    """Every workflow command in the output as {level, message, and its properties}."""
    found = []
    for line in stdout.splitlines():
        match = COMMAND.match(line)
        if not match:
            continue
        level, props, message = match.groups()
        item = {"level": level, "message": unescape(message)}
        for prop in (props or "").split(","):
            key, _, value = prop.partition("=")
            item[key] = unescape(value)
        found.append(item)
    return found


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def write(tmp_path, source, name="f.ad"):
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def only(result, level="error") -> dict:
    (found,) = [a for a in annotations(result.stdout) if a["level"] == level]
    return found


# ---------------------------------------------------------------------------------------------
# The syntax itself
# ---------------------------------------------------------------------------------------------

def test_escaping_follows_github():
    assert escape_message("50% a:b,c\r\nd") == "50%25 a:b,c%0D%0Ad"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = command(Annotation("error", "100% wrong,\nreally", Span(2, 5, "dir/a:b,c.ad", "x\ny = foo(x)\n"), "t:1"))
    assert line == "::error file=dir/a%3Ab%2Cc.ad,line=2,col=5,endColumn=8,title=t%3A1::100%25 wrong,%0Areally"
    assert annotations(line) == [{"level": "error", "message": "100% wrong,\nreally", "file": "dir/a:b,c.ad",
                                  "line": "2", "col": "5", "endColumn": "8", "title": "t:1"}]


def test_no_span_gives_a_title_only():
    assert command(Annotation("error", "no such file")) == "::error title=adcli::no such file"


def test_ten_of_each_then_one_notice():
    many = [Annotation("error", f"e{i}") for i in range(13)] + [Annotation("warning", f"w{i}") for i in range(11)]
    lines = limited(many)
    assert len(lines) == 21 and lines[:10] == [f"::error title=adcli::e{i}" for i in range(10)]
    assert lines[-1].startswith("::notice::3 more errors and 1 more warning not shown")
    assert limited([Annotation("warning", "w", priority=1), Annotation("warning", "first")])[0].endswith("::first")


# ---------------------------------------------------------------------------------------------
# Errors of every command, at their place
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, line, col, end, title", [
    ("y = (1 +\n", 1, 5, 6, "adcli parse error"),
    ("input x\ny = relux(x)\n", 2, 5, 10, "adcli name error"),
    ("y = sum([1, 2, 3] @ [1, 2])\n", 1, 19, 20, "adcli shape error"),
])
@pytest.mark.parametrize("cmd", ["grad", "eval", "check", "trace", "cost", "export", "lint", "graph", "jacobian"])
def test_errors_are_annotations_at_their_place(tmp_path, source, line, col, end, title, cmd):
    path = write(tmp_path, source)
    result = run(cmd, path, "--format", "github")
    assert result.exit_code == 2, result.stdout + result.stderr
    found = only(result)
    assert (found["file"], found["line"], found["col"], found["endColumn"], found["title"]) == \
        (str(path), str(line), str(col), str(end), title)
    assert result.stderr == "" and "^" not in result.stdout  # no caret lines: only the annotation


def test_an_error_without_a_place_and_standard_input(tmp_path):
    missing = run("grad", tmp_path / "nope.ad", "--format", "github")
    assert missing.exit_code == 2 and only(missing)["title"] == "adcli input error" and "file" not in only(missing)
    stdin = run("eval", "-", "--format", "github", input="y = foo(1)\n")
    found = only(stdin)
    assert "file" not in found and found["message"].startswith("<stdin>:1:5: unknown function 'foo'")


def test_json_and_github_do_not_mix(tmp_path):
    result = run("grad", write(tmp_path, "y = x * 2\n"), "--set", "x=1", "--json", "--format", "github")
    assert result.exit_code == 2 and "give one of them" in result.stderr


def test_text_format_is_unchanged(tmp_path):
    result = run("grad", write(tmp_path, "y = foo(1)\n"), "--format", "text")
    assert result.exit_code == 2 and result.stdout == "" and ":1:5: error: unknown function 'foo'" in result.stderr


# ---------------------------------------------------------------------------------------------
# check and the warnings of grad and trace
# ---------------------------------------------------------------------------------------------

def test_a_failing_check_is_an_error_at_the_input(tmp_path):
    # A jump at the point: finite differences see a step of 1 across 2e-6, reverse mode the slope 1.
    path = write(tmp_path, "input x\ny = where(x > 0, x + 1, x)\n")
    result = run("check", path, "--set", "x=0", "--format", "github")
    assert result.exit_code == 1
    assert "FAIL: x" in result.stdout  # the table is still in the log
    found = only(result)
    assert (found["line"], found["col"], found["title"]) == ("1", "7", "adcli check y")
    assert found["message"].startswith("∂y/∂x is wrong: reverse mode gives 1 but finite differences 500001")


def test_kinks_and_an_undefined_point_are_warnings(tmp_path):
    kink = run("check", write(tmp_path, "input x\ny = relu(x) * 2 + abs(x)\n"), "--set", "x=0", "--format", "github")
    assert kink.exit_code == 0
    assert [(a["level"], a["line"], a["col"]) for a in annotations(kink.stdout)] == \
        [("warning", "2", "5"), ("warning", "2", "19")]
    assert "relu′(0) taken as 0" in annotations(kink.stdout)[0]["message"]
    log = run("check", write(tmp_path, "input x\ny = log(x)\n"), "--set", "x=-1", "--format", "github")
    assert log.exit_code == 3
    messages = [a["message"] for a in annotations(log.stdout) if a["level"] == "warning"]
    assert any("not defined at this point" in m for m in messages) and any("not finite" in m for m in messages)
    assert all(a["line"] == "2" for a in annotations(log.stdout))


def test_grad_and_trace_warn_at_the_kink(tmp_path):
    path = write(tmp_path, "input x\ny = relu(x) * 2\n")
    for cmd in ("grad", "trace"):
        result = run(cmd, path, "--set", "x=0", "--format", "github")
        assert result.exit_code == 0 and result.stderr == ""
        found = only(result, "warning")
        assert (found["line"], found["col"]) == ("2", "5") and found["message"].startswith("relu′(0) taken as 0")
    trace = run("trace", path, "--set", "x=0", "--format", "github")
    assert "backward" in trace.stdout  # the plain trace, then the annotations


def test_strict_stops_with_an_error_where_the_nan_arose(tmp_path):
    path = write(tmp_path, "input x\ny = sqrt(x) + x\n")
    result = run("check", path, "--set", "x=0", "--strict", "--format", "github")
    assert result.exit_code == 1
    found = only(result)
    assert (found["line"], found["col"], found["title"]) == ("2", "5", "adcli non-finite error")
    assert found["message"].startswith("non-finite gradient: ∂y/∂x through U1 = √x is inf")
    warned = run("grad", path, "--set", "x=0", "--format", "github")  # without --strict: a warning, same place
    assert warned.exit_code == 0 and (only(warned, "warning")["line"], only(warned, "warning")["col"]) == ("2", "5")


def test_junit_xml_of_a_failing_check(tmp_path):
    path = write(tmp_path, "input x\ninput b\ny = where(x > 0, x + 1, x) + b\n")
    result = run("check", path, "--set", "x=0", "b=1", "--junit-xml", tmp_path / "out.xml", "--format", "github")
    assert result.exit_code == 1
    root = ET.parse(tmp_path / "out.xml").getroot()
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures")) == ("3", "1")
    (suite,) = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["x", "b", "dot-product test"]
    assert (cases["x"].get("file"), cases["x"].get("line"), cases["x"].get("classname")) == (str(path), "1", "f.ad.y")
    assert cases["x"].find("failure").get("type") == "GradientMismatch" and cases["b"].find("failure") is None


# ---------------------------------------------------------------------------------------------
# lint
# ---------------------------------------------------------------------------------------------

MANY = ("input W: [3, 4]\ninput x: [5]\n"
        "h = W @ x\n"           # 3:7 shape
        "y = foo(x)\n"          # 4:5 name
        "z = y * 2\n"           # reads y, which failed: no second error
        "w = x + [1, 2]\n"      # 6:7 shape
        "for t in range(3):\n"
        "    k = nope(t)\n"     # 8:9 name, once for three iterations
        "s = k + 1\n"           # reads k, which failed
        "v = h + 1\n")          # h's shape is unknown after its error: nothing more


def test_lint_reports_every_independent_error():
    found = [(e.span.line, e.span.col, type(e).__name__) for e in lint_source(MANY, "m.ad")]
    assert found == [(3, 7, "ShapeError"), (4, 5, "NameResolutionError"), (6, 7, "ShapeError"),
                     (8, 9, "NameResolutionError")]


def test_lint_a_function_body_error_once_and_clean_files():
    source = "input x: [5]\ninput W: [3, 4]\ndef f(a) = a @ W\nu = f(x)\nv = f(x)\n"
    (error,) = lint_source(source, "f.ad")
    assert (error.span.line, error.span.col) == (3, 14)
    assert lint_source("input x\ny = x * 2\n") == []
    # A syntax error no longer stops its file: the parser resynchronises at the next statement.
    parse, name = lint_source("y = (1 +\nz = foo(1)\n")
    assert (parse.span.line, parse.span.col, name.span.line, name.span.col) == (1, 5, 2, 5)
    assert "never closed" in parse.message and "unknown function 'foo'" in name.message


def test_lint_text_json_and_exit_codes(tmp_path):
    bad, clean = write(tmp_path, MANY, "bad.ad"), write(tmp_path, "y = 2 * x\n", "ok.ad")
    ok = run("lint", clean)
    assert ok.exit_code == 0 and ok.stdout == "" and ok.stderr == ""
    text = run("lint", bad, clean)
    assert text.exit_code == 2 and text.stdout.startswith(f"{bad}:3:7: error: '@' cannot multiply")
    assert text.stdout.count(": error: ") == 4 and text.stderr == "Found 4 errors in 1 of 2 files.\n"
    as_json = run("lint", tmp_path, "--json")  # a directory: every .ad file under it
    assert as_json.exit_code == 2
    rows = json.loads(as_json.stdout)
    assert [(r["line"], r["col"], r["kind"]) for r in rows] == [(3, 7, "shape"), (4, 5, "name"), (6, 7, "shape"),
                                                                (8, 9, "name")]
    assert set(rows[0]) == {"file", "line", "col", "message", "kind"} and rows[0]["file"] == str(bad)
    assert json.loads(run("lint", clean, "--json").stdout) == []
    missing = json.loads(run("lint", tmp_path / "none.ad", "--json").stdout)
    assert missing[0]["line"] is None and missing[0]["kind"] == "input"


def test_lint_twelve_bad_files_shows_ten_and_a_notice(tmp_path):
    paths = [write(tmp_path, f"y{i} = nope(1)\n", f"b{i:02}.ad") for i in range(12)]
    result = run("lint", *paths, "--format", "github")
    assert result.exit_code == 2
    found = annotations(result.stdout)
    assert [a["level"] for a in found] == ["error"] * 10 + ["notice"]
    assert [a["file"] for a in found[:10]] == [str(p) for p in paths[:10]]
    assert found[-1]["message"].startswith("2 more errors not shown")
    assert run("lint", paths[0].parent / "none", "--format", "github").exit_code == 2


# ---------------------------------------------------------------------------------------------
# pre-commit
# ---------------------------------------------------------------------------------------------

def test_pre_commit_hooks():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: adcli-lint" in text and "entry: adcli lint" in text and "files: \\.ad$" in text
