"""Constants sized by a named dimension (zeros([n]), ones([n, 2]), eye(n), arange(n)) read only a
shape: no command or mode may treat them as depending on the input that names the dimension."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.forward import forward_grad
from adcli.engine.matrices import hessian

runner = CliRunner()

PROGRAMS = {
    "ones": "input x: [n]\ny = sum(x * x * ones([n])) + sum(ones([n, 2]) @ [1, 2]) * x[0]\n",
    "zeros": "input x: [n]\nz = zeros([n]) + x\ny = sum(z * z * z)\n",
    "eye": "input x: [n]\ny = x @ (eye(n) * 3) @ x + sum(eye(n) @ exp(x))\n",
    "arange": "input x: [n]\ny = sum(x * x * arange(n)) + sum(sin(x) * (arange(n) + 1))\n",
    "labels": ("input X: [n, k]\ninput y: int[n]\nlogp = log_softmax(X * X, axis=1)\n"
               "loss = -mean(logp[arange(n), y])\n"),
}
POINTS = {"x": np.array([0.3, -1.2, 2.0])}
LABELS = {"X": np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]), "y": np.array([2, 0])}


def point(name: str) -> dict:
    return LABELS if name == "labels" else POINTS


def wrt(name: str) -> str:
    return "X" if name == "labels" else "x"


@pytest.mark.parametrize("name", PROGRAMS)
def test_the_hessian_is_finite_symmetric_and_the_gradients_slope(name):
    program = adcli.parse(PROGRAMS[name])
    given = point(name)
    w = wrt(name)
    h = hessian(program, wrt=[w], **given).blocks[(w, w)]
    n = given[w].size
    h = h.reshape(n, n)
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)
    # each row against central differences of the gradient
    eps = 1e-6
    for i in range(n):
        e = np.zeros(n)
        e[i] = eps
        up = program.grad(wrt=[w], **{**given, w: given[w] + e.reshape(given[w].shape)}).grad[w]
        down = program.grad(wrt=[w], **{**given, w: given[w] - e.reshape(given[w].shape)}).grad[w]
        np.testing.assert_allclose(h[i], ((up - down) / (2 * eps)).ravel(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", PROGRAMS)
def test_forward_mode_agrees_with_reverse(name):
    program = adcli.parse(PROGRAMS[name])
    given = point(name)
    w = wrt(name)
    np.testing.assert_allclose(forward_grad(program, wrt=[w], **given).grad[w], program.grad(wrt=[w], **given).grad[w],
                               rtol=1e-13, atol=1e-15)


COMMANDS = [["grad"], ["grad", "--mode", "forward"], ["trace"], ["trace", "--mode", "forward"], ["jacobian"],
            ["hessian"], ["check"], ["cost"], ["graph"], ["jvp", "--tangent"]]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
@pytest.mark.parametrize("name", PROGRAMS)
def test_every_command_runs(tmp_path, name, command):
    path = tmp_path / "f.ad"
    path.write_text(PROGRAMS[name])
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({k: v.tolist() for k, v in point(name).items()}))
    args = [*command[:1], str(path), "--inputs", str(inputs), *command[1:]]
    if command[0] in ("trace", "hessian", "jacobian", "check") and name == "labels":
        args += ["--wrt", "X"]
    if command[-1] == "--tangent":
        args.append(f"{wrt(name)}=1")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "internal error" not in result.stderr and "NaN" not in result.stdout, result.stderr


def test_arithmetic_on_shaped_constants_stays_float():
    """zeros([n]) + ones([n]) is a float array, not a condition; ones([n, 2]) + an int count is
    float too, so an update may place floats into it (both were taken as bool or int arrays)."""
    source = "input v: [n]\nc = zeros([n]) + ones([n])\ny = sum(where(c, v, 0.0))\n"
    with pytest.raises(adcli.AdError, match="needs a condition"):
        adcli.parse(source).eval(v=np.array([1.0, 2.0, 3.0]))
    program = adcli.parse("input v: [n]\ny = (ones([size(v, 0), 2]) + argmax(v)).at[0, 1].set(2.5)\n"
                          "z = sum(y) * sum(v)\n")
    got = program.eval(v=np.array([1.0, 2.0, 3.0]))
    assert got["y"].tolist() == [[3.0, 2.5], [3.0, 3.0], [3.0, 3.0]] and got["z"] == 17.5 * 6.0
