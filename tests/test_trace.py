"""`adcli trace`: the lecture's worked examples step by step, JSON replay, every format, forward mode.

Golden files in tests/golden/ hold the plain listings byte for byte; after an intended change,
regenerate them with ADCLI_UPDATE_GOLDEN=1 and read the diff before keeping it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import op_cases  # noqa: E402
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.explain.formats import local_text, render_latex, render_markdown, render_plain, trace_json, vjp_text
from adcli.explain.notation import LINE_WIDTH, Notation
from adcli.explain.trace import forward_trace, reverse_trace
from adcli.operations import OPS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
PRODUCT = str(SAMPLES / "product.ad")
RELU = str(SAMPLES / "relu.ad")
MLP = [str(GOLDEN / "mlp.ad"), "--inputs", str(GOLDEN / "mlp.json")]
runner = CliRunner()


def run(*args, code: int = 0) -> str:
    result = runner.invoke(app, ["trace", *args])
    assert result.exit_code == code, result.output + str(result.exception)
    return result.stdout


def trace_of(*args) -> dict:
    return json.loads(run(*args, "--format", "json"))


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ADCLI_UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert text.encode("utf-8") == path.read_bytes()


def accumulations(data: dict) -> list[tuple[str, float]]:
    return [(s["grad_of"], s["after"]) for s in data["steps"] if s["kind"] == "accumulate"]


# ---------------------------------------------------------------------------------------------
# The lecture's two worked examples
# ---------------------------------------------------------------------------------------------

def test_product_golden_plain():
    golden("product.txt", run(PRODUCT, "--set", "x=17"))


def test_relu_golden_plain():
    golden("relu.txt", run(RELU, "--set", "W=2", "x=3", "b=1", "--format", "plain"))


def test_product_golden_ascii_and_forward():
    golden("product_ascii.txt", run(PRODUCT, "--set", "x=17", "--ascii"))
    golden("product_forward.txt", run(PRODUCT, "--set", "x=17", "--mode", "forward", "--wrt", "x"))


def test_mlp_golden_plain():
    golden("mlp.txt", run(*MLP))


def test_product_steps_are_the_lecture_steps():
    text = run(PRODUCT, "--set", "x=17")
    assert "u = x + 1 = 17 + 1 = 18" in text
    assert "y = x·u = 17·18 = 306" in text
    assert "∂y/∂u ← ∂y/∂u + ∂y/∂y · ∂(x·u)/∂u = 0 + 1 · x = 0 + 1 · 17 = 17" in text
    assert "∂y/∂x ← ∂y/∂x + ∂y/∂u · ∂(x + 1)/∂x = 18 + 17 · 1 = 35" in text
    assert accumulations(trace_of(PRODUCT, "--set", "x=17")) == [("u", 17.0), ("x", 18.0), ("x", 35.0)]


def test_relu_order_and_values():
    """U2, b, U1 as in the lecture; operands are visited right to left, so x comes before W."""
    data = trace_of(RELU, "--set", "W=2", "x=3", "b=1")
    assert accumulations(data) == [("U2", 1.0), ("b", 1.0), ("U1", 1.0), ("x", 2.0), ("W", 3.0)]
    computes = [(s["name"], s["op"], s["args"], s["value"]) for s in data["steps"] if s["kind"] == "compute"]
    assert computes == [("U1", "matmul", ["W", "x"], 6.0), ("U2", "add", ["U1", "b"], 7.0),
                        ("H", "relu", ["U2"], 7.0)]
    assert data["grad"] == {"W": 3.0, "x": 2.0, "b": 1.0}


def test_json_has_the_issue_fields():
    data = trace_of(PRODUCT, "--set", "x=17")
    assert (data["mode"], data["output"]) == ("reverse", "y")
    steps = data["steps"]
    assert {k: steps[0][k] for k in ("phase", "kind", "grad_of", "value")} == \
        {"phase": "forward", "kind": "init", "grad_of": "x", "value": 0}
    assert {k: steps[1][k] for k in ("phase", "kind", "name", "op", "args", "value")} == \
        {"phase": "forward", "kind": "compute", "name": "u", "op": "add", "args": ["x", 1], "value": 18}
    (seed,) = [s for s in steps if s["kind"] == "seed"]
    assert {k: seed[k] for k in ("phase", "grad_of", "value")} == {"phase": "backward", "grad_of": "y", "value": 1}
    first = next(s for s in steps if s["kind"] == "accumulate")
    assert {k: first[k] for k in ("phase", "grad_of", "from", "before", "upstream", "local", "contribution",
                                  "after")} == {"phase": "backward", "grad_of": "u", "from": "y", "before": 0,
                                                "upstream": 1, "local": "x", "contribution": 17, "after": 17}
    assert (steps[1]["line"], steps[1]["col"], steps[1]["shape"]) == (2, 7, [])


# ---------------------------------------------------------------------------------------------
# JSON replay: init + contributions reproduce every `after`, and the result is grad's gradient
# ---------------------------------------------------------------------------------------------

REPLAY_FILES = {
    "reassigned.ad": ("h = x * x\nh = h * h\nh = h + 1\nh = h / 3\n", {"x": 2}),
    "shared.ad": ("a = [x, 2*x, -3]\nb = a + a\nc = sum(b + b)\n", {"x": 2}),
    "functions.ad": ("input v: [3]\ninput M: [2, 3]\n"
                     "s = softmax(v) * log(exp(v) + 1)\n"
                     "m = max(a, b) * tanh(a) - mean(M @ v) + logsumexp(M, axis=1)\n"
                     "y = sum(s) + sum(m) + sigmoid(a) / sqrt(b) + abs(a - b) ** 2 + max(M) - min(v)\n",
                     {"v": [0.5, -1, 2], "M": [[1, 0.5, -1], [0.25, 2, 1]], "a": 0.75, "b": 1.5}),
    "broadcast.ad": ("input X: [2, 3]\ninput c: [2, 1]\ny = mean((X * c - transpose(X).T) ** 2) + sum(c * 3)\n",
                     {"X": [[1, 2, 3], [4, 5, 6]], "c": [[0.5], [-1]]}),
}


def replay_cases(tmp_path):
    yield [PRODUCT, "--set", "x=17"]
    yield [RELU, "--set", "W=2", "x=3", "b=1"]
    yield MLP
    yield [str(SAMPLES / "mlp.ad"), "--inputs", str(SAMPLES / "mlp.json")]
    for name, (source, values) in REPLAY_FILES.items():
        path = tmp_path / name
        path.write_text(source)
        yield [str(path), "--set", *[f"{k}={json.dumps(v)}" for k, v in values.items()]]


def test_json_replay(tmp_path):
    for args in replay_cases(tmp_path):
        data = trace_of(*args)
        acc: dict = {}
        for step in data["steps"]:
            kind = step["kind"]
            if kind in ("init", "seed"):
                acc[step["grad_of"]] = np.asarray(step["value"], dtype=float)
            elif kind == "accumulate":
                name = step["grad_of"]
                np.testing.assert_array_equal(np.asarray(step["before"]), acc[name])
                acc[name] = acc[name] + np.asarray(step["contribution"])
                np.testing.assert_array_equal(acc[name], np.asarray(step["after"]))
            elif kind == "result":
                np.testing.assert_array_equal(acc[step["grad_of"]], np.asarray(step["value"]))
        grad = json.loads(runner.invoke(app, ["grad", *args, "--json"]).stdout)["grad"]
        assert set(grad) == set(data["grad"])
        for name, g in grad.items():
            np.testing.assert_allclose(acc[name], np.asarray(g), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Every operation renders a formula; arrays, broadcasting and reductions
# ---------------------------------------------------------------------------------------------

def case_program(name, xs, params):
    """A file applying operation `name` to inputs a, b, c, ... and summing the result (a boolean
    operand, where's condition, comes from a comparison of a float input with 0)."""
    names = [chr(ord("a") + k) for k in range(len(xs))]
    values = {n: np.where(x, 1.0, -1.0) if x.dtype == bool else x for n, x in zip(names, xs)}
    lines = [op_cases.declaration(n, v) for n, v in values.items()]
    if name == "filled":  # sized by declared dimensions: name them
        dims = {d[2]: d[3] for d in params["shape"] if isinstance(d, tuple)}
        lines[0] = f"input a: [{', '.join(dims.get(i, str(n)) for i, n in enumerate(xs[0].shape))}]"
    operands = [f"({n} > 0)" if x.dtype == bool else n for n, x in zip(names, xs)]
    if name in op_cases.IMPLICIT_DEFS:  # the function fixed_point() or root() solves with
        lines.insert(0, op_cases.IMPLICIT_DEFS[name])
    lines.append(f"y = {op_cases.call_text(name, params, operands)}")
    lines.append(f"z = sum(where(y, {names[0]}, 0))" if OPS[name].dtype == "bool" else "z = sum(y)")
    return adcli.parse("\n".join(lines) + "\n", "op.ad"), values


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_renders_a_formula(name):
    for case, (xs, params) in enumerate(op_cases.points(name)):
        if case > 2:
            break
        program, values = case_program(name, xs, params)
        trace = reverse_trace(program, values)
        # (a loop's node is made inside the function holding it, and is named there: steps.h, shrink.h)
        steps = [s for s in trace.steps if s.kind == "accumulate" and s.op == name and
                 s.source_label == {"loop": "steps.h", "while": "shrink.h"}.get(name, "y")]
        differentiable = [k for k in op_cases.floats(xs) if name not in op_cases.NO_DERIVATIVE]
        assert len(steps) == len(differentiable), (name, params)  # each float operand receives a contribution
        nt = Notation()
        text = render_plain(trace)
        for step in steps:
            formula = local_text(nt, step) if step.scalar else vjp_text(nt, step)
            assert formula.strip() and "{" not in formula
            # a negative share is written as a subtraction: acc - ḡ ⊙ sin(a)
            assert formula in text or (formula.startswith("-") and f"- {formula[1:]}" in text), (formula, text)
        assert render_markdown(trace).count("`") % 2 == 0
        assert render_plain(trace, ascii_only=True).isascii()
        tex = render_latex(trace)
        assert tex.isascii() and tex.count("{") == tex.count("}") and tex.count("(") == tex.count(")"), tex
        if differentiable:
            forward_ = forward_trace(program, values, chr(ord("a") + differentiable[0]))
            assert render_latex(forward_).isascii() and render_plain(forward_, ascii_only=True).isascii()
            made = {"loop": r"steps\.ḣ = \S", "while": r"shrink\.ḣ = \S"}.get(name, r"ẏ = \S")
            assert re.search(made, render_plain(forward_))


def test_mlp_readable_at_80_columns_and_in_markdown():
    text = run(*MLP)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 110
    assert "∂loss/∂b1 ← ∂loss/∂b1 + ḡ, summed over axis 0 (ḡ = ∂loss/∂U2) = [0.25, -0.125, 0]" in text
    assert "U4: [2] = ΣU3 over axis 1 = [0.75, -0.5]" in text
    assert "∂loss/∂W1 ← ∂loss/∂W1 + Xᵀ ḡ (ḡ = ∂loss/∂U1) = [[0.25, -0.125, 0], [0.5, -0.25, 0], [0, 0, 0]]" in text
    markdown = run(*MLP, "--format", "markdown")
    numbered = re.findall(r"^(\d+)\. `", markdown, re.M)
    assert numbered == [str(n) for n in range(1, 46)]
    assert "**Backward**" in markdown and "(line 9)" in markdown


def test_real_mlp_sample_is_abbreviated_to_fit_and_full_is_exact():
    args = [str(SAMPLES / "mlp.ad"), "--inputs", str(SAMPLES / "mlp.json")]
    lines = run(*args).splitlines()
    long = [line for line in lines if len(line) > LINE_WIDTH]
    assert all("ḡ" in line for line in long) and max(len(line) for line in lines) <= 130
    full = run(*args, "--full")
    assert "0.10260000000000001" in full and "..." not in full


# ---------------------------------------------------------------------------------------------
# Labels, constants, options, formats
# ---------------------------------------------------------------------------------------------

def test_reassigned_names_have_distinct_labels(tmp_path):
    path = tmp_path / "h.ad"
    path.write_text("h = x * x\nh = h * h\nh = h + 1\n")
    text = run(str(path), "--set", "x=2")
    assert "h′ = h·h = 4·4 = 16" in text and "h″ = h′ + 1 = 16 + 1 = 17" in text
    assert "∂h″/∂h ← ∂h″/∂h + ∂h″/∂h′ · ∂(h·h)/∂h = 0 + 1 · h = 0 + 1 · 4 = 4" in text
    assert [s["name"] for s in trace_of(str(path), "--set", "x=2")["steps"] if s["kind"] == "compute"] \
        == ["h", "h'", "h''"]


def test_constants_get_no_accumulator_and_temporaries_avoid_names(tmp_path):
    path = tmp_path / "c.ad"
    path.write_text("U1 = x * 2\ny = U1 + x * 3\n")
    data = trace_of(str(path), "--set", "x=1")
    inits = [s["grad_of"] for s in data["steps"] if s["kind"] == "init"]
    assert inits == ["x", "U1", "U2", "y"]
    assert data["grad"] == {"x": 5.0}


def test_only_limits_the_listing():
    forward = run(PRODUCT, "--set", "x=17", "--only", "forward")
    assert "forward" in forward and "backward" not in forward and "result" not in forward
    backward = run(PRODUCT, "--set", "x=17", "--only", "backward")
    assert backward.splitlines()[2:] == run(PRODUCT, "--set", "x=17").splitlines()[8:]
    data = trace_of(PRODUCT, "--set", "x=17", "--only", "backward")
    assert {s["phase"] for s in data["steps"]} == {"backward"}


def test_plain_is_byte_identical_and_ignores_terminal_width():
    narrow = runner.invoke(app, ["trace", *MLP], env={"COLUMNS": "20"}).stdout
    wide = runner.invoke(app, ["trace", *MLP], env={"COLUMNS": "300"}).stdout
    assert narrow == wide == run(*MLP)
    assert "\x1b" not in narrow


def test_ascii_is_ascii():
    for args in ([PRODUCT, "--set", "x=17"], MLP, [PRODUCT, "--set", "x=17", "--mode", "forward"]):
        for fmt in ("plain", "markdown", "rich"):
            text = run(*args, "--ascii", "--format", fmt)
            assert text.isascii(), text
    assert "dy/du <- dy/du + dy/dy * d(x*u)/du = 0 + 1 * x = 0 + 1 * 17 = 17" in run(PRODUCT, "--set", "x=17",
                                                                                        "--ascii")


def test_latex_structure():
    tex = run(PRODUCT, "--set", "x=17", "--format", "latex")
    lines = tex.splitlines()
    assert lines[0] == r"\begin{align*}" and lines[-1] == r"\end{align*}"
    assert tex.count("{") == tex.count("}")
    assert (r"  \frac{\partial y}{\partial u} &\leftarrow \frac{\partial y}{\partial u} + \frac{\partial y}"
            r"{\partial y} \cdot \frac{\partial (x \cdot u)}{\partial u} = 0 + 1 \cdot x = 0 + 1 \cdot 17 = 17 \\"
            ) in lines
    for line in lines[1:-1]:  # every step line is aligned once and ends the row, except before a heading
        assert line.startswith(r"\intertext") or line.count("&") == 1
    mlp = run(*MLP, "--format", "latex")
    assert mlp.count("{") == mlp.count("}") and r"\mathbb{R}^{2 \times 3}" in mlp and "ḡ" not in mlp


def test_rich_format_shows_phases_and_source_lines():
    text = run(RELU, "--set", "W=2", "x=3", "b=1", "--format", "rich")
    assert "Forward" in text and "Backward" in text and "Result" in text
    assert "∂H/∂W = 3" in text


def test_non_scalar_output_is_an_error_in_reverse_mode():
    result = runner.invoke(app, ["trace", *MLP, "--of", "H"])
    assert result.exit_code == 2
    assert "reverse-mode trace needs a scalar output" in result.stderr and "--mode forward" in result.stderr


def test_wrt_limits_reverse_mode():
    data = trace_of(RELU, "--set", "W=2", "x=3", "b=1", "--wrt", "x")
    assert data["grad"] == {"x": 2.0}
    assert accumulations(data) == [("U2", 1.0), ("U1", 1.0), ("x", 2.0)]


# ---------------------------------------------------------------------------------------------
# Forward mode
# ---------------------------------------------------------------------------------------------

def test_forward_trace_of_the_lecture_example():
    text = run(PRODUCT, "--set", "x=17", "--mode", "forward", "--wrt", "x")
    assert "u̇ = ẋ + 0 = 1" in text
    assert "ẏ = ẋ·u + x·u̇ = 18 + 17 = 35" in text
    data = trace_of(PRODUCT, "--set", "x=17", "--mode", "forward", "--wrt", "x")
    assert (data["mode"], data["wrt"], data["tangent"]) == ("forward", "x", 35.0)
    computes = [(s["name"], s["value"], s["tangent"]) for s in data["steps"] if s["kind"] == "compute"]
    assert computes == [("u", 18.0, 1.0), ("y", 306.0, 35.0)]


def test_forward_seeds_one_hot_and_ones_match_reverse():
    grad = trace_of(*MLP)["grad"]["W1"]
    one_hot = trace_of(*MLP, "--mode", "forward", "--wrt", "W1[2, 1]")
    assert (one_hot["seed"], one_hot["index"]) == ("one-hot", [2, 1])
    assert one_hot["tangent"] == pytest.approx(grad[2][1], abs=1e-15)
    ones = trace_of(*MLP, "--mode", "forward", "--wrt", "b1")
    assert ones["seed"] == "ones"
    assert ones["tangent"] == pytest.approx(sum(trace_of(*MLP)["grad"]["b1"]), abs=1e-15)
    text = run(*MLP, "--mode", "forward", "--wrt", "W1[2, 1]")
    assert "seed Ẇ1 = 1 at W1[2, 1]; 0 elsewhere and in every other input" in text
    assert "U̇1: " not in text and "U̇1 = Ẋ @ W1 + X @ Ẇ1 = " in text


def test_forward_mode_errors():
    run(RELU, "--set", "W=2", "x=3", "b=1", "--mode", "forward", code=2)  # which input?
    run(*MLP, "--mode", "forward", "--wrt", "W1[3, 0]", code=2)
    run(*MLP, "--mode", "forward", "--wrt", "W1[0]", code=2)
    run(PRODUCT, "--set", "x=17", "--mode", "forward", "--only", "backward", code=2)
    run(PRODUCT, "--set", "x=17", "--mode", "forward", "--wrt", "z", code=2)


def test_forward_trace_skips_constant_tangents_at_singular_points(tmp_path):
    path = tmp_path / "s.ad"
    path.write_text("y = x ** 2 + 3 / w\n")
    data = trace_of(str(path), "--set", "x=-2", "w=0", "--mode", "forward", "--wrt", "x")
    assert data["tangent"] == -4.0  # neither 0·log(-2) nor 0·∂(3/w)/∂w poisons it
    assert json.loads(json.dumps(trace_json(forward_trace(adcli.parse("y = x * 2"), {"x": 1.0}, "x"))))["wrt"] == "x"


def test_of_an_earlier_value_with_an_input_used_only_later(tmp_path):
    path = tmp_path / "of.ad"
    path.write_text("u = x + 1\ny = u * z\n")
    data = trace_of(str(path), "--set", "x=1", "z=2", "--of", "u")
    assert (data["output"], data["value"], data["grad"]) == ("u", 2.0, {"x": 1.0, "z": 0.0})
    forward = trace_of(str(path), "--set", "x=1", "z=2", "--of", "u", "--mode", "forward", "--wrt", "z")
    assert (forward["value"], forward["tangent"]) == (2.0, 0.0)


def test_trace_notes_kinks_and_stops_under_strict(tmp_path):
    path = tmp_path / "k.ad"
    path.write_text("y = relu(x) * 2\n")
    runner = CliRunner()
    result = runner.invoke(app, ["trace", str(path), "--set", "x=0", "--format", "json"])
    assert result.exit_code == 0
    obj = json.loads(result.stdout)
    assert obj["kinks"][0]["op"] == "relu" and obj["kinks"][0]["convention"] == "relu′(0) taken as 0"
    assert "relu′(0) taken as 0 at line 1, col 5" in result.stderr
    clean = runner.invoke(app, ["trace", str(path), "--set", "x=1", "--format", "json"])
    assert "kinks" not in json.loads(clean.stdout)
    path.write_text("y = sqrt(x)\n")
    strict = runner.invoke(app, ["trace", str(path), "--set", "x=0", "--strict"])
    assert strict.exit_code == 1
    assert f"{path}:1:5: error: non-finite gradient" in strict.stderr
    assert "Traceback" not in strict.stderr


@pytest.mark.parametrize("fmt", ["latex", "markdown", "plain", "json"])
def test_no_format_carries_an_internal_placeholder(tmp_path, fmt):
    """Every trace format writes out what its notation held back (an array, a choice of texts):
    no control byte reaches the page, here for two indexed reads of one array and every sample."""
    path = tmp_path / "ix.ad"
    path.write_text("input x: [3]\ny = x[0] * x[1] + x[2] + sum(x[1:] * x[:2])\n")
    cases = [[str(path), "--set", "x=[1, 2, 3]"]]
    cases += [[str(s), "--inputs", str(s.with_suffix(".json"))] for s in sorted(SAMPLES.glob("*.ad"))
              if s.with_suffix(".json").exists()]
    for args in cases:
        result = CliRunner().invoke(app, ["trace", *args, "--format", fmt])
        assert result.exit_code == 0, result.stderr
        assert not any(ord(c) < 32 and c not in "\n\t" for c in result.stdout), (args, fmt)
