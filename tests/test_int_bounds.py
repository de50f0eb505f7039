"""A scalar int input as a number the file needs as it is read (`for t in range(steps)`, `x[:m]`,
`max_iter=m`): the program is expanded for the value given, and gives the bits of the same program
with the number written in. Only such inputs are specialised; a batch cannot vary them; an exported
module checks the value it was exported for."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import adcli
from adcli.engine.forward import forward_grad
from adcli.errors import InputError
from adcli.export import export_source, load_module

DRIFT = """input steps: int
input a
input x: [5]
h = 0.5
for t in range(steps):
    h = h + 0.001 * sin(a * h) + 0.01 * x[t % 5]
y = h * sum(x)
"""

VALUES = {"a": np.array(1.3), "x": np.array([0.5, -1.0, 2.0, 0.0, 3.5])}


def bits(x) -> bytes:
    return np.asarray(x, dtype=np.float64).tobytes()


def written(source: str, name: str, value: int) -> str:
    """The program with the int input's value written in: the declaration dropped, the name a number."""
    lines = [line for line in source.splitlines() if not line.startswith(f"input {name}:")]
    return "\n".join(lines).replace(f"range({name})", f"range({value})") + "\n"


@pytest.mark.parametrize("steps", [0, 1, 3, -2, 64, 500])
def test_the_value_gives_the_bits_of_the_number_written_in(steps):
    # 64 and 500 are kept as loops, 3 unrolled, 0 and -2 run no iteration (as Python's range)
    program = adcli.parse(DRIFT)
    got = program.grad(steps=steps, **VALUES)
    want = adcli.parse(written(DRIFT, "steps", steps)).grad(**VALUES)
    assert bits(got.value) == bits(want.value)
    for name in ("a", "x"):
        assert bits(got.grad[name]) == bits(want.grad[name])
    forward = forward_grad(program.specialise({"steps": steps, **VALUES}), steps=steps, **VALUES)
    np.testing.assert_allclose(forward.grad["a"], want.grad["a"], rtol=1e-13, atol=1e-300)


def test_each_value_has_its_graph_and_an_index_stays_a_value():
    source = """input n: int
input k: int
input x: [6]
s = 0.0
for t in range(n):
    s = s + x[t] * x[k]
y = s
"""
    program = adcli.parse(source)
    x = np.arange(1.0, 7.0)
    assert program.eval(n=3, k=0, x=x)["y"] == 6.0
    first = program.graph
    assert program.eval(n=3, k=5, x=x)["y"] == 36.0  # k is read as it runs: the same graph
    assert program.graph is first
    assert program.eval(n=6, k=5, x=x)["y"] == 126.0  # another n: another graph, kept
    assert program.graph is not first
    program.eval(n=3, k=1, x=x)
    assert program.graph is first


def test_a_slice_a_max_iter_and_a_nested_loop_bound():
    source = """input m: int
input a
input x: [5]
h = 0.5
for t in range(100):
    for j in range(m):
        h = h + 0.001 * sin(a * h) + 0.0001 * x[j]
r = 1.0
while r > 1e-3, max_iter=m * 4:
    r = r * 0.5
y = h + sum(x[:m]) + r
"""
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    got = adcli.parse(source).grad(m=3, a=1.0, x=x)
    # the slice reads the first three, the nested loop the first three: x[3] and x[4] get nothing
    assert got.grad["x"][3] == 0.0 and got.grad["x"][4] == 0.0 and got.grad["x"][0] > 1.0
    assert got.value == pytest.approx(6.0 + 0.5 ** 10 + 0.7316, abs=1e-3)
    # ten halvings take r from 1 below 1e-3; with m = 2 the bound is m * 4 = 8
    with pytest.raises(adcli.AdError, match="max_iter"):
        adcli.parse(source).grad(m=2, a=1.0, x=x)


def test_int_alone_declares_a_scalar_of_integers():
    from adcli.language.parser import compile_source
    declared = [ins for ins in compile_source("input n: int\ninput m: int[]\ndata k: int\n") if ins[0] == "declare"]
    assert [(ins[1], ins[2], ins[3]) for ins in declared] == [("n", "int", ()), ("m", "int", ()), ("k", "int", ())]


def cli(tmp_path, *args) -> subprocess.CompletedProcess:
    (tmp_path / "drift.ad").write_text(DRIFT)
    return subprocess.run([sys.executable, "-m", "adcli", *args], cwd=tmp_path, capture_output=True, text=True, check=False)


def test_errors_are_one_message_at_their_place(tmp_path):
    x = "x=[0.5,-1,2,0,3.5]"
    missing = cli(tmp_path, "grad", "drift.ad", "--set", "a=1.3", x)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("drift.ad:5:16: error: a bound of range() must be a whole number")
    assert "'steps' is an int input; give its value" in missing.stderr
    half = cli(tmp_path, "grad", "drift.ad", "--set", "a=1.3", x, "steps=2.5")
    assert half.returncode == 2 and half.stderr.startswith("drift.ad:1:7: error: input 'steps' is declared int")
    (tmp_path / "points.json").write_text(json.dumps({"steps": [1, 2], "a": 1.3, "x": [0.5, -1, 2, 0, 3.5]}))
    batch = cli(tmp_path, "grad", "drift.ad", "--inputs", "points.json", "--batch", "steps")
    assert batch.returncode == 2 and "drift.ad:1:7: error: input 'steps'" in batch.stderr
    assert "a batch of points cannot vary it" in batch.stderr


def test_every_command_takes_the_value(tmp_path):
    given = ["--set", "steps=70", "a=1.3", "x=[0.5,-1,2,0,3.5]"]
    want = adcli.parse(written(DRIFT, "steps", 70)).grad(**VALUES)
    for command in (["grad", "--json"], ["grad", "--json", "--mode", "forward"], ["grad", "--json", "--checkpoint", "sqrt"],
                    ["trace", "--format", "json"]):
        run = cli(tmp_path, command[0], "drift.ad", *given, *command[1:])
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        assert out["value"] == pytest.approx(float(want.value), rel=1e-15)
        assert out["grad"]["a"] == pytest.approx(float(want.grad["a"]), rel=1e-12)
    for command in (["check"], ["hessian"], ["cost"], ["graph"], ["lint"]):
        run = cli(tmp_path, command[0], "drift.ad", *(given if command[0] != "lint" else []))
        assert run.returncode == 0, (command, run.stderr)
    batch = {"steps": 70, "a": [1.3, 0.7], "x": [0.5, -1, 2, 0, 3.5]}
    (tmp_path / "points.json").write_text(json.dumps(batch))
    run = cli(tmp_path, "grad", "drift.ad", "--inputs", "points.json", "--batch", "a", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["value"][0] == pytest.approx(float(want.value), rel=1e-15)


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_an_exported_module_checks_its_value(target):
    program = adcli.parse(DRIFT).specialise({"steps": 70, **VALUES})
    module = load_module(export_source(program, target))
    value, grads = module.grad_f(70, VALUES["a"], VALUES["x"])
    want = program.grad(steps=70, **VALUES)
    if target == "numpy":
        assert bits(value) == bits(want.value)
    np.testing.assert_allclose(np.asarray(grads["a"]), want.grad["a"], rtol=1e-12)
    with pytest.raises(ValueError, match="exported for steps = 70"):
        module.f(71, VALUES["a"], VALUES["x"])
    with pytest.raises(ValueError, match="one whole number"):
        module.f([70, 70], VALUES["a"], VALUES["x"])


def test_a_program_not_given_the_value_says_so():
    program = adcli.parse(DRIFT)
    with pytest.raises(adcli.AdError, match="'steps' is an int input"):
        _ = program.graph
    with pytest.raises(InputError, match="cannot vary it"):
        program.specialise({"steps": np.array([1, 2]), **VALUES})
