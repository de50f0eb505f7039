"""`adcli graph`: the graph as plain data, its tree, DOT and Mermaid texts, and image files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adcli.cli.main import app
from adcli.engine.program import load, parse
from adcli.explain import graphview
from adcli.explain.graphview import build_view, dot_record, to_dot, to_mermaid, tree_text

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RELU = str(SAMPLES / "relu.ad")
LECTURE = ["--set", "W=2", "x=3", "b=1"]
# Characters that records and Mermaid labels must escape: |x| (abs), x.T, **, [..] literals, 1/x.
AWKWARD = "input v: [n]\nm = max(abs(v) - [1, 2, 3], 0.5)\nq = sum(m ** 2) / 2\n"


def lecture_view():
    program = load(RELU)
    return build_view(program.graph, program.values({"W": 2.0, "x": 3.0, "b": 1.0}))


# ---------------------------------------------------------------------------------------------
# The plain data
# ---------------------------------------------------------------------------------------------

def test_one_node_per_value_and_edges_from_operand_to_result():
    view = lecture_view()
    assert [(n.label, n.kind, n.op, n.formula) for n in view.nodes] == [
        ("W", "input", "input", ""), ("x", "input", "input", ""), ("U1", "op", "matmul", "W·x"),
        ("b", "input", "input", ""), ("U2", "op", "add", "U1 + b"), ("H", "op", "relu", "ReLU(U2)")]
    assert view.edges == [(0, 2), (1, 2), (2, 4), (3, 4), (4, 5)]
    h = view.nodes[5]
    assert (h.output, h.shape, h.line, h.col, h.value, h.grad) == (True, "scalar", 2, 5, "7", "∂H/∂H = 1")
    assert [n.grad for n in view.nodes[:2]] == ["∂H/∂W = 3", "∂H/∂x = 2"]


def test_shapes_come_from_declarations_without_values():
    program = load(str(SAMPLES / "mlp.ad"))
    view = build_view(program.graph)
    shapes = {n.label: n.shape for n in view.nodes}
    assert shapes["X"] == "[n, d]" and shapes["U1"] == "[n, h]" and shapes["P"] == "[n, k]"
    assert shapes["loss"] == "scalar"
    assert all(n.value is None and n.grad is None for n in view.nodes)


def test_undeclared_inputs_leave_shapes_unknown():
    view = build_view(load(RELU).graph)
    assert [n.shape for n in view.nodes] == [None] * 6
    assert view.nodes[2].formula == "W @ x"  # not known to be scalars


def test_non_finite_values_are_marked():
    program = parse("y = log(x) + 1\n")
    view = build_view(program.graph, program.values({"x": 0.0}))
    assert [n.nonfinite for n in view.nodes] == [True, True, False, True]  # x: its gradient is inf
    assert view.nodes[1].value == "-inf"
    assert tree_text(view).splitlines()[0].endswith("[output, non-finite]")


def test_no_gradients_for_an_array_output():
    program = parse("y = x * [1, 2]\n")
    view = build_view(program.graph, program.values({"x": 3.0}))
    assert [n.grad for n in view.nodes] == [None, None, None]
    assert view.nodes[2].value == "[3, 6]"


# ---------------------------------------------------------------------------------------------
# Tree
# ---------------------------------------------------------------------------------------------

def test_lecture_tree():
    assert tree_text(lecture_view()) == (
        "H = ReLU(U2)  relu · scalar · 2:5  value 7  ∂H/∂H = 1  [output]\n"
        "└─ U2 = U1 + b  add · scalar · 2:16  value 7  ∂H/∂U2 = 1\n"
        "   ├─ U1 = W·x  matmul · scalar · 2:12  value 6  ∂H/∂U1 = 1\n"
        "   │  ├─ W  input · scalar · 2:10  value 2  ∂H/∂W = 3  [input]\n"
        "   │  └─ x  input · scalar · 2:14  value 3  ∂H/∂x = 2  [input]\n"
        "   └─ b  input · scalar · 2:18  value 1  ∂H/∂b = 1  [input]\n")


def test_shared_values_are_shown_once_and_ascii_works():
    program = parse("a = x + 1\nb = a * a\nc = b + a\n")
    text = tree_text(build_view(program.graph), ascii_only=True)
    assert text.splitlines() == [
        "c = b + a  add · 3:7  [output]",
        "|- b = a·a  mul · 2:7",
        "|  |- a = x + 1  add · 1:7",
        "|  |  |- x  input · 1:5  [input]",
        "|  |  `- 1  const · scalar · 1:9",
        "|  `- a (shown above)",
        "`- a (shown above)",
    ]


def test_deep_graphs_do_not_recurse():
    source = "y = x\n" + "y = y + 1\n" * 3000
    text = tree_text(build_view(parse(source).graph))
    lines = text.splitlines()
    # every value drawn once; a subtree too deep to draw in place is continued below, once
    assert sum("add · " in line for line in lines) == 3000
    assert sum("(continued below)" in line for line in lines) == sum("continued from above" in line for line in lines)
    assert max(len(line) for line in lines) < 120


def test_tree_text_grows_linearly_with_depth():
    """A chain h = sin(h) + x drew a prefix as wide as its depth on every line: 1,000 lines made 12 MB."""
    sizes = []
    for n in (500, 2000):
        source = "input x\nh = x\n" + "h = sin(h) + x\n" * n
        sizes.append(len(tree_text(build_view(parse(source).graph))))
    assert sizes[1] < 4.5 * sizes[0]
    text = tree_text(build_view(parse("input x\ny = sin(x) + x * x\n").graph))
    assert text.count("x  input") == 1 and text.count("x (shown above)") == 2  # an input is drawn once too


# ---------------------------------------------------------------------------------------------
# DOT
# ---------------------------------------------------------------------------------------------

def test_record_labels_are_escaped():
    assert dot_record('|v| {a} <b> "c" \\') == '\\|v\\| \\{a\\} \\<b\\> \\"c\\" \\\\'


def test_dot_text():
    dot = to_dot(lecture_view())
    lines = dot.splitlines()
    assert lines[:2] == ["digraph adcli {", "  rankdir=LR;"]
    assert ('  n5 [label="H = ReLU(U2)|relu · scalar · 2:5|value 7|∂H/∂H = 1", fillcolor="#dcfce7", '
            'color="#15803d", penwidth=2.5];') in lines
    assert [line.strip() for line in lines if "->" in line] == [
        "n0 -> n2;", "n1 -> n2;", "n2 -> n4;", "n3 -> n4;", "n4 -> n5;"]
    assert lines[-1] == "}"


def dot_inputs():
    views = []
    for sample in sorted(SAMPLES.glob("*.ad")):
        views.append((sample.name, build_view(load(str(sample)).graph, caption=sample.name)))
    program = parse(AWKWARD, "awkward.ad")
    views.append(("awkward", build_view(program.graph, program.values({"v": np.array([0.0, -2.0, 4.0])}),
                                         caption='"quoted" {caption}')))
    return views


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("name, view", dot_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_graphviz_accepts_the_dot(name, view):
    done = subprocess.run(["dot", "-Tsvg"], input=to_dot(view).encode("utf-8"), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""  # no warnings either
    svg = done.stdout.decode("utf-8")
    assert svg.count('class="node"') == len(view.nodes)
    assert svg.count('class="edge"') == len(view.edges)


# ---------------------------------------------------------------------------------------------
# Mermaid, checked structurally
# ---------------------------------------------------------------------------------------------

NODE = re.compile(r'^    (n\d+)\["([^"]*)"\]$')
EDGE = re.compile(r"^    (n\d+) --> (n\d+)$")
CLASSDEF = re.compile(r"^    classDef (\w+) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}(,stroke-width:\dpx)?$")
CLASS = re.compile(r"^    class (n\d+(?:,n\d+)*) (\w+)$")


@pytest.mark.parametrize("name, view", dot_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_mermaid_structure(name, view):
    lines = to_mermaid(view).splitlines()
    assert lines[0] == "flowchart LR"
    nodes, edges, defined, used = [], [], [], []
    for line in lines[1:]:
        if m := NODE.match(line):
            nodes.append(m.group(1))
            label = m.group(2)
            assert not re.search(r"[<>]", label.replace("<br/>", "")), label
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        elif m := CLASSDEF.match(line):
            defined.append(m.group(1))
        elif m := CLASS.match(line):
            used.append(m.group(2))
            assert set(m.group(1).split(",")) <= set(nodes)
        else:
            pytest.fail(f"not a Mermaid flowchart line: {line!r}")
    assert nodes == [f"n{i}" for i in range(len(view.nodes))]
    assert edges == [(f"n{a}", f"n{r}") for a, r in view.edges]
    assert used == defined and "output" in used


def test_mermaid_escapes_quotes_and_angles():
    text = graphview.mermaid_text('say "hi" <b> #1')
    assert text == "say #quot;hi#quot; #lt;b#gt; #35;1"


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------

def test_graph_command_tree():
    result = runner.invoke(app, ["graph", RELU, *LECTURE])
    assert result.exit_code == 0
    assert result.stdout == tree_text(lecture_view())


def test_graph_command_dot_and_mermaid_are_deterministic():
    for fmt, render in (("dot", to_dot), ("mermaid", to_mermaid)):
        first = runner.invoke(app, ["graph", RELU, *LECTURE, "--format", fmt])
        second = runner.invoke(app, ["graph", RELU, *LECTURE, "--format", fmt])
        assert first.exit_code == 0 and first.stdout == second.stdout
        assert first.stdout.startswith("digraph adcli {" if fmt == "dot" else "flowchart LR")


def test_graph_writes_text_files(tmp_path):
    for suffix, start in ((".dot", "digraph adcli {"), (".mmd", "flowchart LR"), (".txt", "H = ReLU(U2)")):
        path = tmp_path / f"g{suffix}"
        result = runner.invoke(app, ["graph", RELU, *LECTURE, "-o", str(path)])
        assert result.exit_code == 0 and result.stdout == ""
        assert path.read_text(encoding="utf-8").startswith(start)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_draws_svg_and_png(tmp_path):
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    assert runner.invoke(app, ["graph", RELU, *LECTURE, "-o", str(svg)]).exit_code == 0
    assert runner.invoke(app, ["graph", RELU, *LECTURE, "-o", str(png)]).exit_code == 0
    assert "<svg" in svg.read_text(encoding="utf-8") and "∂H/∂W = 3" in svg.read_text(encoding="utf-8")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again.svg"
    runner.invoke(app, ["graph", RELU, *LECTURE, "-o", str(again)])
    assert again.read_bytes() == svg.read_bytes()


def test_missing_graphviz_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(graphview.shutil, "which", lambda name: None)
    result = runner.invoke(app, ["graph", RELU, "-o", str(tmp_path / "g.svg")])
    assert result.exit_code == 2
    assert "needs Graphviz's 'dot' program, which is not installed" in result.stderr
    assert not (tmp_path / "g.svg").exists()


def test_unknown_extension_and_conflicting_format(tmp_path):
    result = runner.invoke(app, ["graph", RELU, "-o", str(tmp_path / "g.bmp")])
    assert result.exit_code == 2 and "cannot tell the format from '.bmp'" in result.stderr
    result = runner.invoke(app, ["graph", RELU, "--format", "mermaid", "-o", str(tmp_path / "g.dot")])
    assert result.exit_code == 2 and "does not match" in result.stderr


def test_partial_values_are_an_error():
    result = runner.invoke(app, ["graph", RELU, "--set", "W=2"])
    assert result.exit_code == 2 and "no value given for input 'x'" in result.stderr
