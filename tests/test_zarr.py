"""--batch with Zarr: points read a chunk at a time from a Zarr array or group, results written as a
Zarr group, chunk by chunk, with a manifest in its attributes that --resume continues from.

- The results are the bits of the same run from .npy files or from memory, in one process or on
  Dask workers (which read their own rows from the store and write their own chunks to it).
- A group gives several inputs at once: the --batch names are read lazily, the others whole; float32
  arrays widen exactly.
- A run cut short says it is incomplete and --resume finishes it; a changed input is refused.
- Bad stores, dtypes and a missing zarr package are one clear message, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adcli
from adcli.engine.batch_store import Output
from adcli.engine.zarr_store import MANIFEST
from adcli.errors import InputError

zarr = pytest.importorskip("zarr")

MODEL = """\
input W: [3, 4]
input x: [4]
h = tanh(W @ x) + relu(x[0:3]) * exp(-x[3] ** 2)
y = sum(h ** 2) + log1p(x[1] ** 2)
"""
RNG = np.random.default_rng(2929)
W = RNG.normal(size=(3, 4))
POINTS = RNG.normal(size=(1003, 4))  # not a multiple of the chunks below


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def run(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "adcli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, check=False)


def write_array(path, data, chunks):
    array = zarr.create_array(store=str(path), shape=data.shape, chunks=chunks, dtype=data.dtype)
    array[...] = data
    return array


@pytest.fixture
def files(tmp_path):
    (tmp_path / "model.ad").write_text(MODEL, encoding="utf-8")
    np.save(tmp_path / "points.npy", POINTS)
    write_array(tmp_path / "points.zarr", POINTS, (128, 4))  # Zarr's chunks unlike the run's
    group = zarr.open_group(str(tmp_path / "data.zarr"), mode="w")
    group.create_array("x", shape=POINTS.shape, chunks=(300, 4), dtype="float32")[...] = POINTS.astype(np.float32)
    group.create_array("W", shape=W.shape, dtype="float64")[...] = W
    return tmp_path


W_SET = "W=" + json.dumps(W.tolist()).replace(" ", "")


def test_points_from_a_zarr_array_are_the_bits_of_an_npy_file(files):
    npy = run("grad", "model.ad", "--set", W_SET, "--inputs", "points.npy", "--batch", "x", "--json", "--chunk", "100",
              cwd=files)
    for chunk in ("100", "7", "5000"):
        from_zarr = run("grad", "model.ad", "--set", W_SET, "--inputs", "points.zarr", "--batch", "x", "--json",
                        "--chunk", chunk, cwd=files)
        assert from_zarr.returncode == 0, from_zarr.stderr
        assert from_zarr.stdout == npy.stdout
    value = json.loads(npy.stdout)["value"]
    alone = adcli.parse(MODEL, "model.ad").grad(W=W, x=POINTS[17])
    assert value[17] == pytest.approx(alone.value, rel=1e-15)


def test_a_group_gives_every_input_and_widens_float32(files):
    done = run("eval", "model.ad", "--inputs", "data.zarr", "--batch", "x", "--json", "--of", "y", cwd=files)
    assert done.returncode == 0, done.stderr
    widened = POINTS.astype(np.float32).astype(np.float64)
    expected = adcli.parse(MODEL, "model.ad").batch("x").eval(of="y", W=W, x=widened)["y"]
    assert json.loads(done.stdout)["values"]["y"] == expected.tolist()


def test_results_as_a_zarr_group_on_workers_are_the_bits_of_one_process(files):
    one = run("grad", "model.ad", "--set", W_SET, "--inputs", "points.npy", "--batch", "x", "--chunk", "250",
              "-o", "one", cwd=files)
    assert one.returncode == 0, one.stderr
    two = run("grad", "model.ad", "--set", W_SET, "--inputs", "points.zarr", "--batch", "x", "--chunk", "250",
              "--workers", "2", "-o", "two.zarr", "--json", cwd=files)
    assert two.returncode == 0, two.stderr
    assert json.loads(two.stdout) == {"output": "y", "points": 1003, "written": "two.zarr", "files": {
        "value": "value", "grad.W": "grad.W", "grad.x": "grad.x", "kinked": "kinked"}}
    group = zarr.open_group(str(files / "two.zarr"), mode="r")
    for name in ("value", "grad.W", "grad.x", "kinked"):
        assert same(group[name][...], np.load(files / "one" / f"{name}.npy")), name
        assert group[name].chunks[0] == 250  # each of the run's chunks is one Zarr chunk: no two writers share one
    state = dict(group.attrs)[MANIFEST]
    assert state["complete"] is True and state["done"] == list(range(5))


def test_jvp_results_as_a_zarr_group(files):
    done = run("jvp", "model.ad", "--set", W_SET, "--inputs", "points.zarr", "--batch", "x", "--tangent",
               "x=[1,0,0,0]", "-o", "t.zarr", "--chunk", "64", cwd=files)
    assert done.returncode == 0, done.stderr
    group = zarr.open_group(str(files / "t.zarr"), mode="r")
    expected = adcli.parse(MODEL, "model.ad").batch("x").jvp({"x": np.array([1.0, 0, 0, 0])}, W=W, x=POINTS)
    assert same(group["tangent"][...], expected.tangent) and same(group["value"][...], expected.value)


def test_a_cut_run_resumes_to_the_same_bits(tmp_path):
    p = adcli.parse(MODEL, "model.ad")
    whole = p.batch("x", chunk=1003).grad(W=W, x=POINTS)
    out = str(tmp_path / "results.zarr")

    def stop_after_three(done, total):
        if done >= 300:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        p.batch("x", chunk=100, progress=stop_after_three, output=Output(out)).grad(W=W, x=POINTS)
    state = dict(zarr.open_group(out, mode="r").attrs)[MANIFEST]
    assert state["complete"] is False and state["done"] == [0, 1, 2] and state["points"] == 1003
    with pytest.raises(InputError, match="exists and is not empty"):
        p.batch("x", chunk=100, output=Output(out)).grad(W=W, x=POINTS)
    with pytest.raises(InputError, match="differ from the run"):
        p.batch("x", chunk=100, output=Output(out, resume=True)).grad(W=W * 2, x=POINTS)
    seen = []
    with adcli.Cluster(workers=2, processes=False) as cluster:
        resumed = p.batch("x", chunk=100, cluster=cluster, progress=lambda d, t: seen.append(d),
                          output=Output(out, resume=True)).grad(W=W, x=POINTS)
    assert seen[0] == 400 and seen[-1] == 1003  # the three chunks stored are not computed again
    group = zarr.open_group(out, mode="r")
    assert dict(group.attrs)[MANIFEST]["complete"] is True
    assert same(group["grad.x"][...], whole.grad["x"]) and same(group["grad.W"][...], whole.grad["W"])
    assert same(group["value"][...], whole.value) and same(resumed.value[:], whole.value)


def test_resume_refuses_points_that_changed(files):
    command = ["grad", "model.ad", "--set", W_SET, "--inputs", "points.zarr", "--batch", "x", "--chunk", "500",
               "-o", "r.zarr"]
    assert run(*command, cwd=files).returncode == 0
    array = zarr.open_array(str(files / "points.zarr"), mode="r+")
    array[5] = [9.0, 9.0, 9.0, 9.0]  # a point of the input changed since the run
    done = run(*command, "--resume", cwd=files)
    assert done.returncode == 2 and "differ from the run" in done.stderr and "Traceback" not in done.stderr


def test_an_int_input_takes_integer_points(tmp_path):
    (tmp_path / "count.ad").write_text("input n: int[]\ninput a\ny = a * n * n\n", encoding="utf-8")
    write_array(tmp_path / "n.zarr", np.arange(-5, 6, dtype=np.int32), (4,))
    done = run("grad", "count.ad", "--inputs", "n.zarr", "--batch", "n", "--set", "a=0.5", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["value"] == [0.5 * n * n for n in range(-5, 6)] and out["grad"]["a"] == [n * n for n in range(-5, 6)]
    write_array(tmp_path / "f.zarr", np.linspace(0, 1, 5), (2,))
    done = run("grad", "count.ad", "--inputs", "f.zarr", "--batch", "n", "--set", "a=0.5", cwd=tmp_path)
    assert done.returncode == 2 and "not the whole numbers an int input takes" in done.stderr


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "no such Zarr store"),
    (lambda d: (d / "p.zarr").write_text("not a folder"), "is not a Zarr store"),
    (lambda d: (d / "p.zarr").mkdir(), "not a Zarr array or group"),
    (lambda d: zarr.open_group(str(d / "p.zarr"), mode="w"), "the Zarr group holds no arrays"),
    (lambda d: write_array(d / "p.zarr", np.array([True, False]), (2,)), "expected numbers"),
    (lambda d: write_array(d / "p.zarr", np.float64(3.0).reshape(()), ()), "points need a first axis"),
])
def test_bad_stores_are_one_clear_message(tmp_path, make, message):
    (tmp_path / "model.ad").write_text(MODEL, encoding="utf-8")
    make(tmp_path)
    done = run("grad", "model.ad", "--set", W_SET, "--inputs", "p.zarr", "--batch", "x", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr and done.stdout == ""


def test_an_output_that_exists_is_refused(files):
    (files / "taken.zarr").mkdir()
    (files / "taken.zarr" / "something").write_text("mine")
    done = run("grad", "model.ad", "--set", W_SET, "--inputs", "points.zarr", "--batch", "x", "-o", "taken.zarr",
               cwd=files)
    assert done.returncode == 2 and "exists and is not empty" in done.stderr
    assert (files / "taken.zarr" / "something").read_text() == "mine"


def test_without_zarr_it_says_how_to_install_it(files, tmp_path):
    fake = tmp_path / "fake"
    (fake / "zarr").mkdir(parents=True)
    (fake / "zarr" / "__init__.py").write_text("raise ImportError('no zarr here')\n")
    env = {"PYTHONPATH": f"{fake}{os.pathsep}{Path(__file__).resolve().parent.parent}"}
    for args in (["--inputs", "points.zarr"], ["--inputs", "points.npy", "-o", "out.zarr"]):
        done = run("grad", "model.ad", "--set", W_SET, "--batch", "x", *args, cwd=files, env=env)
        assert done.returncode == 2 and "pip install 'adcli[zarr]'" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("output", ["plain", "results.zarr"])
def test_resume_needs_an_earlier_run(files, output):
    done = run("grad", "model.ad", "--set", W_SET, "--inputs", "points.zarr", "--batch", "x", "-o", output, "--resume",
               cwd=files)
    assert done.returncode == 2 and "--resume needs the output of an earlier run" in done.stderr, done.stderr
    assert not (files / output).exists()  # nothing made by a run that could not start


def test_arrays_read_whole_are_bounded_as_input_files_are(files):
    limit = {"ADCLI_MAX_BYTES": "4000"}  # x holds 1003 × 4 float32 (16 KB), W 96 bytes
    done = run("grad", "model.ad", "--inputs", "data.zarr", "--batch", "W", cwd=files, env=limit)
    assert done.returncode == 2 and "x: the array has 15.7 KiB, over the limit" in done.stderr, done.stderr
    done = run("eval", "model.ad", "--inputs", "data.zarr", "--batch", "x", "--of", "y", "--json", cwd=files, env=limit)
    assert done.returncode == 0, done.stderr  # the points are read a chunk at a time


def test_a_result_with_an_empty_axis(files):
    (files / "empty.ad").write_text("input x: [4]\ninput e: [0]\ny = sum(x * x) + sum(e)\n", encoding="utf-8")
    done = run("grad", "empty.ad", "--set", "e=[]", "--inputs", "points.zarr", "--batch", "x", "-o", "e.zarr",
               "--chunk", "300", cwd=files)
    assert done.returncode == 0, done.stderr
    group = zarr.open_group(str(files / "e.zarr"), mode="r")
    assert group["grad.e"].shape == (1003, 0) and same(group["grad.x"][...], 2 * POINTS)
