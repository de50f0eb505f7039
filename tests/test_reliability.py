"""Crashes the fuzzer found (tests/fuzz), each now an answer or one clear error: every case runs the
command line as a user would and checks what it prints."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adcli.cli.main import app

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()


def run(*args, **env):
    """adcli in a fresh process (file names with any bytes, environment variables)."""
    return subprocess.run([sys.executable, "-m", "adcli", *args], capture_output=True,
                          env={**os.environ, **env}, timeout=120)


def write(tmp_path, source, name="m.ad"):
    path = tmp_path / name
    path.write_text(source)
    return str(path)


def test_functions_lists_every_operation_with_its_derivative():
    out = runner.invoke(app, ["functions"])
    assert out.exit_code == 0
    assert "ḡ/n broadcast to the shape of x" in out.stdout  # mean's vjp, its {n} spelled as n
    one = runner.invoke(app, ["functions", "var"])
    assert one.exit_code == 0 and "(n - ddof)" in one.stdout
    # every other name of a function finds it (once "did you mean 'concatenate'" for concatenate)
    from adcli.operations import FUNCTIONS
    for alias in (name for name, ops in FUNCTIONS.items() if any(name != op.func for op in ops)):
        found = runner.invoke(app, ["functions", alias])
        assert found.exit_code == 0 and found.stdout.strip(), (alias, found.stderr)


def test_hessian_through_where_and_comparisons(tmp_path):
    path = write(tmp_path, "input w: []\nloss = where(w <= 1, w * w, w)\n")
    out = runner.invoke(app, ["hessian", path, "--set", "w=0.5", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["hessian"]["w"]["w"] == 2.0
    huber = runner.invoke(app, ["hessian", str(SAMPLES / "huber.ad"), "--inputs", str(SAMPLES / "huber.json")])
    assert huber.exit_code == 0, huber.stderr


def test_hessian_of_an_operation_without_second_derivatives_says_so(tmp_path):
    path = write(tmp_path, "input A: [2, 2]\ny = sum(eigvalsh(A))\n")
    out = runner.invoke(app, ["hessian", path, "--set", "A=[[2, 1], [1, 2]]"])
    assert out.exit_code == 2
    assert out.stderr.startswith(f"{path}:2:9: error: hessian needs second derivatives, and adcli has only the "
                                 "first derivative of eigvalsh()")


def test_derivatives_of_a_choice_between_constants(tmp_path):
    path = write(tmp_path, "input p: []\ny = where(p > 0, 1.0, 2.0)\n")
    out = runner.invoke(app, ["derivative", path, "--wrt", "p", "--set", "p=1", "--order", "3", "--json"])
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout) == [0.0, 0.0, 0.0]


def test_trace_json_of_a_slice(tmp_path):
    path = write(tmp_path, "input v: [3]\ny = sum(v[1:, ...][::-1])\n")
    data = json.loads(runner.invoke(app, ["trace", path, "--set", "v=[1, 2, 3]", "--json"]).stdout)
    assert [s["params"] for s in data["steps"] if s["kind"] == "compute"][:2] == [{"index": "1:, ..."},
                                                                                  {"index": "::-1"}]


def test_prod_of_an_empty_array(tmp_path):
    path = write(tmp_path, "input v: [0]\ny = prod(v)\n")
    np.save(tmp_path / "e.npy", np.zeros(0))
    for command in (["grad"], ["jvp", "--tangent", "v=1"], ["check", "--allow-skipped"]):
        out = runner.invoke(app, [command[0], path, "--inputs", str(tmp_path / "e.npy"), *command[1:], "--json"])
        assert out.exit_code == 0, (command, out.stderr)
    # an empty input has no element to compare: a check that compared nothing is never a pass
    out = runner.invoke(app, ["check", path, "--inputs", str(tmp_path / "e.npy")])
    assert out.exit_code == 3 and "nothing compared" in out.stdout + out.stderr, (out.stdout, out.stderr)
    assert json.loads(runner.invoke(app, ["grad", path, "--inputs", str(tmp_path / "e.npy"), "--json"]).stdout) == \
        {"output": "y", "value": 1.0, "grad": {"v": []}}


HOSTILE_NAMES = ['a""";print("PWNED");"""b.ad', "q\\N.ad", "a\\x.ad", "m\udcff\x1b[2J.ad"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["quotes-and-code", "backslash-N", "backslash-x", "bytes"])
def test_hostile_file_names(tmp_path, name):
    """A file name is data: escaped in every output, never code, never a broken encoding."""
    path = tmp_path / name
    path.write_bytes((SAMPLES / "relu.ad").read_bytes())
    values = ["--set", "W=2", "x=3", "b=1"]
    exported = run("export", os.fsencode(path), "-o", os.fsencode(tmp_path / "module.py"))
    assert exported.returncode == 0, exported.stderr
    module = (tmp_path / "module.py").read_bytes()
    module.decode("utf-8")  # valid UTF-8
    ran = subprocess.run([sys.executable, "-c", "import module; print({k: float(v) for k, v in module.grad_f(2.0, "
                                           "3.0, 1.0)[1].items()})"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and "PWNED" not in ran.stdout and "'W': 3.0" in ran.stdout, ran.stderr
    cost = run("cost", os.fsencode(path), *values)
    assert cost.returncode == 0 and b"\x1b" not in cost.stdout
    graph = run("graph", os.fsencode(path), "-o", os.fsencode(tmp_path / "g.gv"))
    assert graph.returncode == 0, graph.stderr
    (tmp_path / "g.gv").read_bytes().decode("utf-8")


@pytest.mark.parametrize("value", ["1e400", "1E9999999999", "99999999999T"])
def test_limits_beyond_any_machine_mean_no_limit(value):
    out = run("grad", str(SAMPLES / "mlp.ad"), "--inputs", str(SAMPLES / "mlp.json"), "--json", ADCLI_MAX_BYTES=value)
    assert out.returncode == 0, out.stderr


def test_damaged_zip_members_are_input_errors(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.ones(3))
    path = tmp_path / "values.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("x.npy", buf.getvalue())
    data = bytearray(path.read_bytes())
    # an unsupported compression method (99: AES) in both headers
    data[8:10] = (99).to_bytes(2, "little")
    central = data.find(b"PK\x01\x02")
    data[central + 10:central + 12] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    source = write(tmp_path, "input x: [3]\ny = sum(x)\n")
    out = runner.invoke(app, ["grad", source, "--inputs", str(path)])
    assert out.exit_code == 2 and out.stderr.startswith(f"adcli: error: --inputs {path}: x: cannot read it")


@pytest.mark.parametrize("dim", ["n=²", "n=٣"])
def test_dimensions_are_ascii_digits(dim):
    out = runner.invoke(app, ["cost", str(SAMPLES / "mlp.ad"), "--dim", dim])
    assert out.exit_code == 2 and "expected NAME=SIZE with a whole number" in out.stderr


def test_huge_numbers_in_declarations_and_options(tmp_path):
    path = write(tmp_path, f"input A: [1, {'9' * 5000}]\ny = sum(A)\n")
    out = runner.invoke(app, ["cost", path])
    assert out.exit_code == 2 and f"{path}:1:14: error: the dimension 999" in out.stderr and "is too large" in out.stderr
    dims = runner.invoke(app, ["cost", str(SAMPLES / "mlp.ad"), "--dim", "n=" + "9" * 5000])
    assert dims.exit_code == 2 and "is too large" in dims.stderr
