"""Case 12: --batch on Dask: throughput of worker processes against one process, and their memory.

`python -m bench.dask_batch [--points N ...] [--quick]` (from the repository's root) prints the table,
the targets and a paper estimate for 10⁹ points on a 32-node cluster.

The model has four numbers a point and shared weights (bench/programs/four.ad); the points are an
.npy file mapped in memory, the results go to .npy files (-o), so nothing but chunks is ever held.
Each run is a whole process, as a user runs it: `adcli grad ... --batch x -o FOLDER`, with and
without `--workers 2`. Peak memory: the client's own (`/usr/bin/time`-like, from the kernel's
rusage of the process), and each worker's, asked of the workers when the run ends (their rusage).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/dask_batch.py`: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

import numpy as np

from .report import ROOT, Table, Target, targets_table

PROGRAM = ROOT / "bench" / "programs" / "four.ad"
CHUNKS = (100_000, 250_000)

# Run inside `adcli`'s own process by the worker script below: the batch with the workers' peak memory.
WORKER = r"""
import json, resource, sys, time
import numpy as np
import adcli
from adcli.engine.batch_store import Output
program = adcli.load(sys.argv[1])
points = np.load(sys.argv[2], mmap_mode="r")
W = np.array(json.loads(sys.argv[3]))
workers = int(sys.argv[5])
if workers:
    with adcli.Cluster(workers=workers, quiet=True) as c:
        start = time.perf_counter()  # the cluster is up: its start-up is in the whole process's time
        program.batch("x", chunk=int(sys.argv[6]), cluster=c, output=Output(sys.argv[4])).grad(W=W, x=points)
        seconds = time.perf_counter() - start
        peaks = sorted(c.client.run(lambda: __import__("resource").getrusage(0).ru_maxrss * 1024).values())
else:
    start = time.perf_counter()
    program.batch("x", chunk=int(sys.argv[6]), output=Output(sys.argv[4])).grad(W=W, x=points)
    seconds = time.perf_counter() - start
    peaks = []
print(json.dumps({"seconds": seconds, "client": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "workers": peaks}))
"""


def run_once(folder: Path, points: Path, w: np.ndarray, workers: int, chunk: int) -> dict:
    """One whole process: its wall time, the batch's own time, and peak memory."""
    out = folder / f"out-{workers}-{time.monotonic_ns()}"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WORKER, str(PROGRAM), str(points), json.dumps(w.tolist()), str(out),
                           str(workers), str(chunk)], capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(out)
    return {**result, "wall": wall}


def run(quick: bool, sizes=None) -> tuple[list[Table], list[Target], list[dict]]:
    sizes = sizes or ([10**6] if quick else [10**6, 10**7])
    rng = np.random.default_rng(12)
    w = np.array([0.9, -0.4, 0.3, 0.5])
    table = Table("12. --batch on Dask: value and gradient of a 4-number model, points from an .npy file, results "
                  "to .npy files", ["points", "chunk", "run", "whole process", "points/s (batch)", "speed-up",
                                    "client peak", "worker peaks"])
    targets, results = [], []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for n in sizes:
            points = folder / f"points-{n}.npy"
            data = np.lib.format.open_memmap(points, mode="w+", dtype=np.float64, shape=(n, 4))
            for start in range(0, n, 10**6):  # written a million rows at a time
                data[start:start + 10**6] = rng.normal(size=(min(10**6, n - start), 4))
            data.flush()
            del data
            runs = {}
            for chunk in CHUNKS:
                for workers in (0, 2):
                    runs[chunk, workers] = r = run_once(folder, points, w, workers, chunk)
                    one = runs[chunk, 0]
                    table.rows.append([f"{n:,}", f"{chunk:,}", "--workers 2" if workers else "one process",
                                       f"{r['wall']:.1f} s", f"{n / r['seconds']:,.0f}",
                                       f"{one['seconds'] / r['seconds']:.2f}×", f"{r['client'] / 2**20:.0f} MiB",
                                       ", ".join(f"{p / 2**20:.0f} MiB" for p in r["workers"]) or "-"])
            results.append({"points": n, "runs": {f"{c}/{k}": r for (c, k), r in runs.items()}})
            best_one = min(runs[c, 0]["seconds"] for c in CHUNKS)
            best_two = min(runs[c, 2]["seconds"] for c in CHUNKS)
            targets.append(Target(f"{n:,} points: --workers 2 throughput against one process, each at its best "
                                  "chunk (inverse, ≤ 1/1.7)", best_two / best_one, 1 / 1.7, "",
                                  f"{best_one / best_two:.2f}× the points a second"))
            points.unlink()
    if len(results) > 1:
        chunk = CHUNKS[-1]
        small = results[0]["runs"][f"{chunk}/2"]["workers"]
        large = results[-1]["runs"][f"{chunk}/2"]["workers"]
        targets.append(Target(f"worker peak memory, {results[-1]['points']:,} points against "
                              f"{results[0]['points']:,} (flat: ≤ 1.25×)", max(large) / max(small), 1.25, "×",
                              f"{max(small) / 2**20:.0f} → {max(large) / 2**20:.0f} MiB"))
    last = results[-1]
    best = min(r["seconds"] for key, r in last["runs"].items() if key.endswith("/2"))
    table.notes.append(paper_estimate(best / last["points"] * 2))  # worker-seconds a point, on 2 workers
    table.notes.append("Each worker one thread (and one BLAS thread); the client sends each chunk as its place in "
                       "the points file, and each worker reads its rows and writes its results into the .npy "
                       "files itself, so nothing but a few hundred bytes a chunk travels.")
    return [table], targets, results


def paper_estimate(worker_seconds_per_point: float) -> str:
    """10⁹ points on 32 nodes, from the measured cost a point on a worker of this machine."""
    points, nodes, cores = 10**9, 32, 32  # nodes of 32 cores, one worker a core
    seconds = points * worker_seconds_per_point / (nodes * cores)
    price = 0.04  # dollars a core-hour, a typical on-demand cloud price for compute-optimised cores in 2026
    cost = points * worker_seconds_per_point / 3600 * price
    return (f"Paper estimate for 10⁹ points on 32 nodes of 32 cores (one worker a core, as measured here: "
            f"{worker_seconds_per_point * 1e6:.2f} µs a point on a worker): {seconds:,.0f} s of computing "
            f"({seconds / 60:.1f} min), about ${cost:,.2f} at ${price} a core-hour, plus the scheduler's start "
            f"and the reading and writing of 112 GB of points and results (32 + 80 bytes a point), which the "
            f"storage's bandwidth sets.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--points", type=int, nargs="*")
    args = parser.parse_args()
    tables, targets, _ = run(args.quick, args.points)
    for table in tables + [targets_table(targets)]:
        print(table.markdown())


if __name__ == "__main__":
    main()
