"""Checkpointing: the same gradients as the plain reverse pass, to the bit, by every schedule; the
memory it predicts; where traces say a segment is recomputed; and bad uses as one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine import checkpoint
from adcli.engine.evaluate import bind_inputs
from adcli.errors import InputError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()
SCHEDULES = ["none", "sqrt", 1, 2, 3, 7, 10_000]

RECURRENCE = "input x: []\ninput a: []\nh = x\nfor t in range(200):\n    h = a * h + 0.1 * sin(h)\ny = h\n"
RNN = ("input h0: [8]\ninput W: [8, 8]\ninput xs: [30, 8]\nh = h0\nfor t in range(30):\n"
       "    h = tanh(W @ h + xs[t])\nloss = sum(h * h)\n")


def rnn_values():
    rng = np.random.default_rng(0)
    return {"h0": rng.normal(size=8), "W": rng.normal(size=(8, 8)) / 3, "xs": rng.normal(size=(30, 8))}


def same_bits(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True) and np.shape(a) == np.shape(b)


def every_way(program, given):
    """(schedule, value, gradients) by every schedule, through the scalar path where it applies and
    through the general one."""
    graph = program.graph
    out, wrt = graph.output, program.wrt_nodes(None)
    bound = bind_inputs(graph, given)
    for kind in SCHEDULES:
        schedule = checkpoint.choose(graph, out, wrt, kind)
        for fast in (True, False):
            value, grads = checkpoint.grad(graph, bound, out, wrt, schedule, fast=fast)
            yield kind, value, {graph.nodes[w].label: g for w, g in grads.items()}


@pytest.mark.parametrize("name", sorted(p.stem for p in SAMPLES.glob("*.ad")))
def test_every_sample_gives_the_same_bits(name):
    from test_export import sample_values
    program = adcli.load(str(SAMPLES / f"{name}.ad"))
    given = sample_values(name)
    plain = program.grad(**given)
    for kind, value, grads in every_way(program, given):
        assert same_bits(value, plain.value), kind
        for label, g in plain.grad.items():
            assert same_bits(grads[label], g), (kind, label)


@pytest.mark.parametrize("source, given", [
    (RECURRENCE, {"x": 0.3, "a": 0.9}),
    (RNN, rnn_values()),
    # hostile values: zeros, infinities, NaN, ties
    ("input x: [3]\nh = x\nfor t in range(5):\n    h = sqrt(relu(h)) + max(h) * min(h)\ny = sum(h)\n",
     {"x": np.array([0.0, np.inf, -1.0])}),
    ("input x: []\ny = x * sqrt(x) + log(x) * 0\n", {"x": 0.0}),
    # scalars read across many segments (x, a, the running sum), kinks hit, NaN made on the way
    ("input x: []\ninput a: []\nh = x\ns = 0.0\nfor t in range(40):\n    h = relu(a * h - 0.5) + x * 0.1\n"
     "    s = s + h * h + sqrt(h - 0.06)\ny = s + h / a\n", {"x": 0.5, "a": -1.5}),
    ("input x: []\ninput a: []\nh = x\ns = 0.0\nfor t in range(40):\n    h = relu(a * h - 0.5) + x * 0.1\n"
     "    s = s + h * h\ny = s + h / a\n", {"x": 3.0, "a": 1.25}),
])
def test_loops_and_hostile_values_give_the_same_bits(source, given):
    program = adcli.parse(source)
    plain = program.grad(**given)
    for kind, value, grads in every_way(program, given):
        assert same_bits(value, plain.value), kind
        for label, g in plain.grad.items():
            assert same_bits(grads[label], g), (kind, label)


def test_the_python_api():
    program = adcli.parse(RNN)
    given = rnn_values()
    plain = program.grad(**given)
    by_sqrt = program.checkpointed("sqrt")
    result = by_sqrt.grad(**given)
    assert result.value == plain.value and all(same_bits(result.grad[k], plain.grad[k]) for k in plain.grad)
    assert len(by_sqrt.schedule.segments) > 5
    assert program.checkpointed("auto").grad(**given).grad.keys() == plain.grad.keys()


def test_sqrt_keeps_about_the_square_root():
    """On the recurrence unrolled, sqrt keeps O(√n) values where the plain pass keeps O(n); predictions
    say so. (Kept as a loop, it is one node: tests/test_loops.py checkpoints its steps.)"""
    program = adcli.parse(RECURRENCE, unroll=True)
    graph = program.graph
    out, wrt = graph.output, program.wrt_nodes(None)
    shapes = checkpoint.shapes_for(graph, bind_inputs(graph, {"x": 0.3, "a": 0.9}), out)
    plain = checkpoint.predict(graph, out, wrt, checkpoint.plain(graph, out, wrt), shapes)
    sqrt = checkpoint.choose(graph, out, wrt, "sqrt")
    by_sqrt = checkpoint.predict(graph, out, wrt, sqrt, shapes)
    n = out + 1
    assert sqrt.checkpoints <= 4 * int(np.sqrt(n))
    assert by_sqrt.peak - by_sqrt.resident < (plain.peak - plain.resident) / 5  # above inputs and constants
    assert by_sqrt.extra_flops > 0 and plain.extra_flops == 0


def test_a_budget_picks_a_schedule_or_says_none_fits():
    program = adcli.parse(RNN)
    given = rnn_values()
    graph = program.graph
    out, wrt = graph.output, program.wrt_nodes(None)
    shapes = checkpoint.shapes_for(graph, bind_inputs(graph, given), out)
    plain_peak = checkpoint.predict(graph, out, wrt, checkpoint.plain(graph, out, wrt), shapes).peak
    assert checkpoint.choose(graph, out, wrt, "auto", shapes, plain_peak).kind == "none"
    tight = checkpoint.choose(graph, out, wrt, "auto", shapes, plain_peak - 1)
    assert tight.kind.startswith("auto: ") and tight.kind.endswith(" segments") and checkpoint.predict(graph, out, wrt, tight, shapes).peak < plain_peak
    with pytest.raises(InputError, match="no schedule fits 100 bytes"):
        checkpoint.choose(graph, out, wrt, "auto", shapes, 100)


@pytest.mark.parametrize("text, bytes_", [("200MB", 200_000_000), ("1.5GiB", int(1.5 * 2**30)), ("4e9", 4_000_000_000),
                                          ("512 kib", 512 * 1024), ("10", 10)])
def test_budgets_are_read(text, bytes_):
    assert checkpoint.parse_budget(text) == bytes_


# ---------------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------------

def write(tmp_path, source, values):
    path = tmp_path / "model.ad"
    path.write_text(source)
    np.savez(tmp_path / "values.npz", **{k: np.asarray(v) for k, v in values.items()})
    return str(path), str(tmp_path / "values.npz")


def test_grad_with_checkpoints_prints_what_grad_prints(tmp_path):
    path, values = write(tmp_path, RNN, rnn_values())
    plain = runner.invoke(app, ["grad", path, "--inputs", values, "--json"])
    for kind in ("sqrt", "4", "auto"):
        out = runner.invoke(app, ["grad", path, "--inputs", values, "--json", "--checkpoint", kind])
        assert out.exit_code == 0 and out.stdout == plain.stdout, kind
    auto = runner.invoke(app, ["grad", path, "--inputs", values, "--checkpoint", "auto", "--memory-budget", "10kB"])
    assert auto.exit_code == 0 and "adcli: note: --checkpoint auto: " in auto.stderr and " segments, " in auto.stderr


def test_trace_says_where_segments_are_recomputed(tmp_path):
    path = tmp_path / "r.ad"
    path.write_text("input x: []\ninput a: []\nh = x\nfor t in range(3):\n    h = a * h + sin(h)\ny = h\n")
    plain = runner.invoke(app, ["trace", str(path), "--set", "x=0.5", "a=2", "--format", "plain"]).stdout
    out = runner.invoke(app, ["trace", str(path), "--set", "x=0.5", "a=2", "--format", "plain", "--checkpoint", "4"])
    assert out.exit_code == 0
    # only what backward steps read is recomputed: h′ (which sin and a·h′ read), not U3 or U4
    assert "recompute h′ from the checkpoints U1, U2" in out.stdout
    # every update is the plain trace's, in the same order: only the recompute lines are added
    strip = [line.split("  ", 1)[-1] for line in out.stdout.splitlines() if "recompute" not in line]
    assert [line for line in strip if "←" in line] == [line.split("  ", 1)[-1] for line in plain.splitlines()
                                                         if "←" in line]
    data = json.loads(runner.invoke(app, ["trace", str(path), "--set", "x=0.5", "a=2", "--json",
                                          "--checkpoint", "4"]).stdout)
    recomputed = [s for s in data["steps"] if s["kind"] == "recompute"]
    assert recomputed == [{"phase": "backward", "kind": "recompute", "values": ["h'"],
                           "checkpoints": ["U1", "U2"], "inputs": []}]


def test_cost_predicts_each_schedule_and_lists_what_is_kept(tmp_path):
    path, values = write(tmp_path, RNN, rnn_values())
    data = json.loads(runner.invoke(app, ["cost", path, "--inputs", values, "--checkpoint", "sqrt", "--saved",
                                          "--json"]).stdout)
    rows = {r["schedule"]: r for r in data["checkpoint"]}
    assert rows["none"]["peak_bytes"] == data["reverse"]["peak_bytes"]  # one model of the plain pass
    assert rows["sqrt"]["kept_bytes"] < rows["none"]["kept_bytes"] and rows["sqrt"]["extra_flops"] > 0
    saved = data["saved"]
    assert [s["bytes"] for s in saved] == sorted((s["bytes"] for s in saved), reverse=True)
    assert all({"name", "shape", "bytes", "file", "line", "col"} <= set(s) for s in saved)
    plain_saved = json.loads(runner.invoke(app, ["cost", path, "--inputs", values, "--saved", "--json"]).stdout)
    assert len(plain_saved["saved"]) > len(saved)
    table = runner.invoke(app, ["cost", path, "--inputs", values, "--saved"]).stdout
    assert "kept value" in table and "line:col" in table


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "often"], "--checkpoint often: expected auto, sqrt, or a whole number N of nodes per segment"),
    (["--checkpoint", "0"], "--checkpoint 0: expected auto, sqrt, or a whole number N"),
    (["--memory-budget", "lots"], "--memory-budget lots: expected a size such as 200MB"),
    (["--memory-budget", "10B"], "--memory-budget: no schedule fits 10 bytes"),
    (["--checkpoint", "sqrt", "--memory-budget", "10B"], "--memory-budget: checkpointing sqrt needs about"),
    (["--checkpoint", "sqrt", "--mode", "forward"], "--checkpoint computes gradients by reverse mode"),
    (["--checkpoint", "sqrt", "--engine", "jax"], "--checkpoint runs on adcli's own engine"),
    (["--checkpoint", "sqrt", "--batch", "x"], "--checkpoint and --batch do not combine"),
])
def test_bad_uses_exit_2(tmp_path, args, message):
    path = tmp_path / "r.ad"
    path.write_text(RECURRENCE)
    out = runner.invoke(app, ["grad", str(path), "--set", "x=0.3", "a=0.9", *args])
    assert out.exit_code == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_forward_traces_refuse_checkpoints(tmp_path):
    path = tmp_path / "r.ad"
    path.write_text(RECURRENCE)
    out = runner.invoke(app, ["trace", str(path), "--set", "x=0.3", "a=0.9", "--mode", "forward", "--checkpoint",
                              "sqrt"])
    assert out.exit_code == 2 and "--checkpoint is for reverse mode" in out.stderr
