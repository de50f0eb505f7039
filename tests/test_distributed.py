"""--batch on Dask, points from a file mapped in memory, results in .npy files, and resuming.

- The chunks computed by Dask workers (a cluster in this process, worker processes started by
  --workers, and a scheduler with workers started outside adcli) give the same bits as one
  process, whatever the number of workers and the chunk size: JSON output and .npy files alike.
- `--inputs points.npy` with one --batch name maps the points in memory; `-o FOLDER` writes the
  results chunk by chunk with a manifest; a run cut short says it is incomplete and `--resume`
  finishes it, to the same bits as a run never cut.
- A worker that dies has its chunk run again; a scheduler that is not there is one clear error.
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
from adcli.engine.batch_store import MANIFEST, Output
from adcli.errors import InputError

distributed = pytest.importorskip("distributed")

MODEL = """\
# A model of 4 inputs: a point x of 4 numbers, and shared weights W.
input W: [3, 4]
input x: [4]
h = tanh(W @ x) + relu(x[0:3]) * exp(-x[3] ** 2)
y = sum(h ** 2) + log1p(x[1] ** 2)
"""
RNG = np.random.default_rng(29)
W = RNG.normal(size=(3, 4))
POINTS = RNG.normal(size=(1003, 4))  # not a multiple of any chunk size below


def program():
    return adcli.parse(MODEL, "model.ad")


def same(a, b) -> bool:
    return np.asarray(a).dtype == np.asarray(b).dtype and np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.fixture(scope="module")
def cluster():
    """Two workers in this process (threads): the chunks pickled and sent as to any cluster."""
    with adcli.Cluster(workers=2, processes=False) as c:
        yield c


@pytest.mark.parametrize("chunk", [1, 97, 500, 5000])
def test_the_cluster_gives_the_bits_of_one_process(cluster, chunk):
    p = program()
    one = p.batch("x", chunk=1003).grad(W=W, x=POINTS)
    there = p.batch("x", chunk=chunk, cluster=cluster).grad(W=W, x=POINTS)
    assert same(one.value, there.value) and same(one.kinked, there.kinked)
    assert all(same(one.grad[k], there.grad[k]) for k in ("W", "x"))
    values = p.batch("x", chunk=chunk, cluster=cluster).eval(W=W, x=POINTS)
    assert all(same(v, p.batch("x").eval(W=W, x=POINTS)[k]) for k, v in values.items())
    tangent = {"x": RNG.normal(size=(1003, 4))}  # per point
    a = p.batch("x", chunk=chunk, cluster=cluster).jvp(tangent, W=W, x=POINTS)
    b = p.batch("x").jvp(tangent, W=W, x=POINTS)
    assert same(a.value, b.value) and same(a.tangent, b.tangent)


def test_a_point_is_what_one_point_alone_gives(cluster):
    """Each point's gradient on the cluster is the single-point gradient (to the last ulp the batch keeps)."""
    there = program().batch("x", chunk=100, cluster=cluster).grad(W=W, x=POINTS[:7])
    for i in range(7):
        alone = program().grad(W=W, x=POINTS[i])
        assert there.value[i] == pytest.approx(alone.value, rel=1e-15)
        np.testing.assert_allclose(there.grad["x"][i], alone.grad["x"], rtol=1e-14, atol=1e-300)


def test_results_go_to_npy_files_and_a_cut_run_resumes(tmp_path, cluster):
    p = program()
    whole = p.batch("x", chunk=1003).grad(W=W, x=POINTS)
    folder = tmp_path / "results"

    def stop_after_three(done, total):
        if done >= 300:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        p.batch("x", chunk=100, progress=stop_after_three, output=Output(str(folder))).grad(W=W, x=POINTS)
    state = json.loads((folder / MANIFEST).read_text())
    assert state["complete"] is False and state["done"] == [0, 1, 2] and state["points"] == 1003
    with pytest.raises(InputError, match="exists and is not empty"):
        p.batch("x", chunk=100, output=Output(str(folder))).grad(W=W, x=POINTS)
    with pytest.raises(InputError, match="differ from the run"):
        p.batch("x", chunk=50, output=Output(str(folder), resume=True)).grad(W=W, x=POINTS)
    seen = []
    resumed = p.batch("x", chunk=100, cluster=cluster, progress=lambda d, t: seen.append(d),
                      output=Output(str(folder), resume=True)).grad(W=W, x=POINTS)
    assert seen[0] == 400 and seen[-1] == 1003  # the three chunks on disk are not computed again
    state = json.loads((folder / MANIFEST).read_text())
    assert state["complete"] is True and state["done"] == list(range(11))
    assert same(np.load(folder / "value.npy"), whole.value) and same(resumed.value, whole.value)
    assert same(np.load(folder / "grad.W.npy"), whole.grad["W"])
    assert same(np.load(folder / "grad.x.npy"), whole.grad["x"])


def adcli_run(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "adcli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, check=False)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "model.ad").write_text(MODEL, encoding="utf-8")
    np.save(tmp_path / "points.npy", POINTS)
    (tmp_path / "points.json").write_text(json.dumps({"W": W.tolist(), "x": POINTS[:40].tolist()}), encoding="utf-8")
    return tmp_path


W_SET = "W=" + json.dumps(W.tolist()).replace(" ", "")


def test_the_command_line_on_worker_processes(files):
    one = adcli_run("grad", "model.ad", "--inputs", "points.json", "--batch", "x", "--json", "--chunk", "7", cwd=files)
    two = adcli_run("grad", "model.ad", "--inputs", "points.json", "--batch", "x", "--json", "--chunk", "3",
                    "--workers", "2", cwd=files)
    assert one.returncode == two.returncode == 0, two.stderr
    assert one.stdout == two.stdout  # the same bytes
    mapped = adcli_run("grad", "model.ad", "--set", W_SET, "--inputs", "points.npy", "--batch", "x", "--chunk", "250",
                       "--workers", "2", "-o", "out", "--json", cwd=files)
    assert mapped.returncode == 0, mapped.stderr
    assert json.loads(mapped.stdout) == {"output": "y", "points": 1003, "written": "out", "files": {
        "value": "value.npy", "grad.W": "grad.W.npy", "grad.x": "grad.x.npy", "kinked": "kinked.npy"}}
    whole = program().batch("x").grad(W=W, x=POINTS)
    assert same(np.load(files / "out" / "grad.x.npy"), whole.grad["x"])
    assert same(np.load(files / "out" / "value.npy"), whole.value)


def test_a_scheduler_started_outside_adcli(files):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc:
        address = lc.scheduler_address
        given = adcli_run("eval", "model.ad", "--set", W_SET, "--inputs", "points.npy", "--batch", "x", "--of", "y",
                          "--scheduler", address, "-o", "by-option", cwd=files)
        from_env = adcli_run("jvp", "model.ad", "--inputs", "points.json", "--batch", "x", "--tangent", "x=1",
                             "--json", cwd=files, env={"DASK_SCHEDULER_ADDRESS": address})
    assert given.returncode == 0, given.stderr
    assert "1,003 points written to by-option: y.npy" in given.stdout
    assert same(np.load(files / "by-option" / "y.npy"), program().batch("x").eval(W=W, x=POINTS)["y"])
    assert from_env.returncode == 0, from_env.stderr
    here = adcli_run("jvp", "model.ad", "--inputs", "points.json", "--batch", "x", "--tangent", "x=1", "--json",
                     cwd=files)
    assert from_env.stdout == here.stdout


def test_a_worker_that_dies_has_its_chunk_run_again():
    p = program()
    whole = p.batch("x").grad(W=W, x=POINTS)
    with adcli.Cluster(workers=2) as c:
        killed = []

        def kill_one(done, total):  # after the first chunk, one worker process is killed
            if not killed:
                nanny = next(iter(c.local.workers.values()))
                nanny.process.process.kill()
                killed.append(done)

        there = p.batch("x", chunk=50, cluster=c, progress=kill_one).grad(W=W, x=POINTS)
    assert killed and same(there.value, whole.value) and same(there.grad["x"], whole.grad["x"])


def test_clear_errors(files):
    gone = adcli_run("grad", "model.ad", "--inputs", "points.json", "--batch", "x", "--scheduler",
                     "tcp://127.0.0.1:9", cwd=files)
    assert gone.returncode == 2 and "no Dask scheduler answers there" in gone.stderr
    assert "Traceback" not in gone.stderr and gone.stdout == ""
    for args, message in [(["--workers", "2"], "--workers is for the chunks of a --batch run"),
                          (["--batch", "x", "--resume"], "--resume goes on with the run"),
                          (["--batch", "x", "--workers", "0"], "a cluster has at least one worker")]:
        done = adcli_run("grad", "model.ad", "--inputs", "points.json", *args, cwd=files)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    as_float32 = files / "p32.npy"
    np.save(as_float32, POINTS.astype(np.float32))
    done = adcli_run("grad", "model.ad", "--set", W_SET, "--inputs", "p32.npy", "--batch", "x", cwd=files)
    assert done.returncode == 2 and "holds float32 values" in done.stderr


def test_without_dask_it_says_how_to_install_it(files, tmp_path):
    fake = tmp_path / "fake"
    (fake / "distributed").mkdir(parents=True)
    (fake / "distributed" / "__init__.py").write_text("raise ImportError('no distributed here')\n")
    done = adcli_run("grad", "model.ad", "--inputs", "points.json", "--batch", "x", "--workers", "2", cwd=files,
                     env={"PYTHONPATH": f"{fake}{os.pathsep}{Path(__file__).resolve().parent.parent}"})
    assert done.returncode == 2 and "pip install 'adcli[dask]'" in done.stderr and "Traceback" not in done.stderr


def test_a_scheduler_that_goes_away_leaves_a_run_to_resume(files):
    import time
    np.save(files / "many.npy", RNG.normal(size=(400_000, 4)))
    command = [sys.executable, "-m", "adcli", "grad", "model.ad", "--set", W_SET, "--inputs", "many.npy", "--batch",
               "x", "--chunk", "500", "-o", "cut"]
    lc = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    running = subprocess.Popen([*command, "--scheduler", lc.scheduler_address], cwd=files, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    manifest = files / "cut" / MANIFEST
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (manifest.is_file() and json.loads(manifest.read_text())["done"]):
        time.sleep(0.05)
    lc.close()  # the scheduler and its worker go away mid-run
    out, err = running.communicate(timeout=120)
    assert running.returncode == 2, err
    assert "went away after" in err and "--resume" in err and "Traceback" not in err and out == ""
    state = json.loads(manifest.read_text())
    assert state["complete"] is False and 0 < len(state["done"]) < state["chunks"] == 800
    resumed = subprocess.run([*command, "--resume", "--workers", "2"], cwd=files, capture_output=True, text=True,
                             timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    whole = program().batch("x").grad(W=W, x=np.load(files / "many.npy"))
    assert same(np.load(files / "cut" / "grad.x.npy"), whole.grad["x"])
    assert json.loads(manifest.read_text())["complete"] is True


def test_engine_jax_batches_by_vmap_and_shards_across_devices(files):
    """--engine jax --batch: the exported module under jax.vmap, its points sharded over two CPU devices."""
    pytest.importorskip("jax")
    ours = adcli_run("grad", "model.ad", "--inputs", "points.json", "--batch", "x", "--json", cwd=files)
    two = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    jax_run = adcli_run("grad", "model.ad", "--inputs", "points.json", "--batch", "x", "--json", "--engine", "jax",
                        "--chunk", "7", cwd=files, env=two)  # 40 points: chunks of 7, the last padded for 2 devices
    assert ours.returncode == jax_run.returncode == 0, jax_run.stderr
    a, b = json.loads(ours.stdout), json.loads(jax_run.stdout)
    np.testing.assert_allclose(b["value"], a["value"], rtol=1e-13, atol=1e-15)
    for name in ("W", "x"):
        assert np.shape(b["grad"][name]) == np.shape(a["grad"][name])
        np.testing.assert_allclose(b["grad"][name], a["grad"][name], rtol=1e-12, atol=1e-14)
    code = ("import jax, json, numpy as np, adcli; from adcli.cli.export import batch_grad_jax; "
            "p = adcli.load('model.ad'); d = json.load(open('points.json')); "
            "r = batch_grad_jax(p, {k: np.array(v) for k, v in d.items()}, ['x'], 8); "
            "print(jax.device_count(), r.value.shape, r.grad['W'].shape)")
    shown = subprocess.run([sys.executable, "-c", code], cwd=files, capture_output=True, text=True, timeout=300,
                           env={**os.environ, **two}, check=False)
    assert shown.stdout.split() == ["2", "(40,)", "(40,", "3,", "4)"], shown.stderr
    refused = adcli_run("grad", "model.ad", "--inputs", "points.json", "--batch", "x", "--engine", "jax", "--workers",
                        "2", cwd=files)
    assert refused.returncode == 2 and "under jax.vmap" in refused.stderr


@pytest.mark.parametrize("block_bytes", [1, 5_000, 50_000])
def test_a_chunk_computed_in_blocks_gives_the_same_bits(cluster, monkeypatch, block_bytes):
    """A chunk is computed a block of points at a time (blocks of one point, uneven blocks, a few):
    grad, eval and jvp give the bits of the chunk computed whole, here and on the cluster."""
    from adcli.engine import batch
    p = program()
    whole = p.batch("x", chunk=1003).grad(W=W, x=POINTS[:301])
    values = p.batch("x", chunk=1003).eval(W=W, x=POINTS[:301])
    tangent = {"x": RNG.normal(size=(301, 4))}
    moved = p.batch("x", chunk=1003).jvp(tangent, W=W, x=POINTS[:301])
    monkeypatch.setattr(batch, "BLOCK_BYTES", block_bytes)
    for where in (None, cluster):
        blocked = p.batch("x", chunk=150, cluster=where).grad(W=W, x=POINTS[:301])
        assert same(blocked.value, whole.value) and same(blocked.kinked, whole.kinked)
        assert same(blocked.grad["W"], whole.grad["W"]) and same(blocked.grad["x"], whole.grad["x"])
        assert all(same(v, values[k]) for k, v in p.batch("x", chunk=150, cluster=where).eval(W=W, x=POINTS[:301]).items())
        again = p.batch("x", chunk=150, cluster=where).jvp(tangent, W=W, x=POINTS[:301])
        assert same(again.value, moved.value) and same(again.tangent, moved.tangent)
