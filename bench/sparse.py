"""Case 10: sparse Jacobians and Hessians by colouring, and Hessian-vector products.

`python -m bench.sparse [--quick] [--blas-threads N] [--json PATH]` (from the repository's root) prints the tables
and the targets; `run(quick)` returns them as the other cases' `run` does, for `python -m bench`.

1. The tridiagonal residual (bench/programs/tridiagonal.ad) at n = 2,000: `jacobian` compressed
   (3 passes) against `jacobian(dense=True)` and `jax.jacfwd`, in process, interleaved, medians
   after a warm-up; at n = 100,000, compressed only: time, and peak memory in a fresh process.
2. `hvp` on the chained Rosenbrock function (n = 10,000) and a tanh MLP, against JAX's
   `jvp(grad(f))` (relative error) and against one `Program.grad` (time ratio).
3. The Rosenbrock function's Hessian at n = 2,000: compressed against dense, and `jax.hessian`.
4. Whole processes: `adcli jacobian FILE --inputs FILE.json --json`, and with `--dense` when the
   command accepts it.

JAX runs in its own process (bench/sparse_jax.py) on the same bits, read from a .npz file.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/sparse.py`: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"


def blas_threads_first(argv: list[str]) -> None:
    """`--blas-threads N` has to reach numpy's BLAS before numpy is imported (as in `python -m bench`)."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--blas-threads" and i + 1 < len(argv) else \
            arg.split("=", 1)[1] if arg.startswith("--blas-threads=") else None
        if value:
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[var] = value


if __name__ == "__main__":
    blas_threads_first(sys.argv[1:])

import numpy as np

from .peers import available
from .report import ROOT, Table, Target, ratio, targets_table
from .stats import Stats, fmt_bytes, fmt_seconds, fmt_stats, interleaved, repeat, rss_peak, traced_peak

PROGRAMS = ROOT / "bench" / "programs"
WEIGHTS = ["W1", "b1", "W2", "b2"]


class AtLeast(Target):
    """A target met when the measure reaches the limit from below (a speed-up)."""

    @property
    def met(self) -> bool | None:
        return None if self.measured is None else self.measured >= self.limit

    def row(self) -> list[str]:
        cells = super().row()
        cells[2] = f"≥ {self.limit:g}{self.unit}"
        return cells


def paired(first, second, runs: int) -> tuple[dict[str, Stats], list[float]]:
    """Time two functions in pairs (first, then second), after one warm-up of each: each one's
    Stats, and second / first pair by pair, so that a drift in the machine's speed cancels out."""
    first(), second()
    a, b = [], []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        b.append(time.perf_counter() - middle)
        a.append(middle - start)
    return {"grad": Stats.of(a), "hvp": Stats.of(b)}, [y / x for x, y in zip(a, b)]


# ---------------------------------------------------------------------------------------------
# Points, and the checks
# ---------------------------------------------------------------------------------------------

def points(quick: bool) -> dict:
    """Every point and vector both sides differentiate at, by name (as written to the .npz file)."""
    rng = np.random.default_rng(20240610)
    n_tri, n_rosen, n_hess = 2000, 10_000, 2000
    out = {"tri_x": np.linspace(-1.0, 1.0, n_tri) + 0.01 * rng.standard_normal(n_tri),
           "rosen_x": 1.0 + 0.3 * rng.standard_normal(n_rosen), "rosen_v": rng.standard_normal(n_rosen),
           "hess_x": 1.0 + 0.3 * rng.standard_normal(n_hess)}
    n, d, h, k = 256, 64, 128, 10
    mlp = {"X": rng.standard_normal((n, d)), "Y": rng.standard_normal((n, k)),
           "W1": rng.standard_normal((d, h)) / np.sqrt(d), "b1": 0.1 * rng.standard_normal(h),
           "W2": rng.standard_normal((h, k)) / np.sqrt(h), "b2": 0.1 * rng.standard_normal(k)}
    out.update({"mlp_" + name: v for name, v in mlp.items()})
    out.update({"mlp_v_" + w: rng.standard_normal(mlp[w].shape) for w in WEIGHTS})
    return out


def rel_error(got, want) -> float:
    """‖got − want‖ / ‖want‖ over all the parts (2-norm of the flattened arrays)."""
    got = np.concatenate([np.ravel(g) for g in got])
    want = np.concatenate([np.ravel(w) for w in want])
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def tridiagonal_formula(coo, x: np.ndarray) -> bool:
    """Whether a compressed Jacobian of the residual holds exactly the three diagonals' entries:
    ∂r_i/∂x_(i+1) = 2 + 3 x_(i+1)², ∂r_i/∂x_i = ∂r_i/∂x_(i+2) = −1, nothing else."""
    m = len(x) - 2
    expect_r = np.concatenate([np.arange(m), np.arange(m), np.arange(m)])
    expect_c = np.concatenate([np.arange(m), np.arange(m) + 1, np.arange(m) + 2])
    expect_d = np.concatenate([-np.ones(m), 2 + 3 * x[1:-1] ** 2, -np.ones(m)])
    order_got = np.lexsort((coo.col, coo.row))
    order_want = np.lexsort((expect_c, expect_r))
    return (len(coo.row) == 3 * m
            and np.array_equal(coo.row[order_got], expect_r[order_want])
            and np.array_equal(coo.col[order_got], expect_c[order_want])
            and np.allclose(coo.data[order_got], expect_d[order_want], rtol=1e-15, atol=0))


# ---------------------------------------------------------------------------------------------
# The large Jacobian, in a fresh process (memory figures)
# ---------------------------------------------------------------------------------------------

def large_task(spec: dict) -> dict:
    """Time and peak memory of the compressed Jacobian at n = spec["n"]."""
    from adcli.engine.matrices import jacobian
    from adcli.engine.program import load
    n = spec["n"]
    x = np.linspace(-1.0, 1.0, n)
    program = load(str(PROGRAMS / "tridiagonal.ad"))
    jacobian(program, x=np.linspace(-1.0, 1.0, 8))  # the grammar, the registry: not this case's cost
    gc.collect()
    start = time.perf_counter()
    rss, first = rss_peak(lambda: jacobian(program, x=x))
    out = {"n": n, "first": time.perf_counter() - start, "rss_peak": rss,
           "passes": first.passes, "mode": first.mode, "nnz": first.sparse.nnz if first.sparse else None,
           "dense_passes": first.sparse.dense_passes if first.sparse else None,
           "entries_bytes": int(sum(a.nbytes for a in (first.entries["x"].row, first.entries["x"].col,
                                                        first.entries["x"].data))),
           "input_bytes": x.nbytes, "correct": bool(tridiagonal_formula(first.entries["x"], x))}
    del first
    out["time"] = repeat(lambda: jacobian(program, x=x), spec.get("runs", 3), warmup=0).as_dict()
    out["traced_peak"] = traced_peak(lambda: jacobian(program, x=x))[0]
    import resource
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def subprocess_json(argv: list[str], timeout: float = 300) -> dict:
    """Run a module in a fresh interpreter; its last stdout line is JSON (an error dict if it fails)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        done = subprocess.run([sys.executable, "-m", *argv], check=False, capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exited {done.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------
# Whole processes
# ---------------------------------------------------------------------------------------------

def whole_process(tmp: Path, x: np.ndarray, runs: int) -> tuple[dict, str | None, dict]:
    """Whole-process timings of `adcli jacobian` (label -> Stats), the reason `--dense` was not
    measured (None when it was), and what the command did at n = 100,000."""
    from .startup import adcli_command, cached_bytecode_env, time_commands
    adcli = adcli_command()
    env = cached_bytecode_env(str(tmp / "pycache"))
    small = tmp / "tridiagonal_2000.json"
    small.write_text(json.dumps({"x": x.tolist()}))
    base = ["jacobian", str(PROGRAMS / "tridiagonal.ad"), "--inputs", str(small), "--json"]
    help_text = subprocess.run(adcli + ["jacobian", "--help"], check=False, capture_output=True, text=True,
                               env=env).stdout
    commands = [(f"adcli jacobian tridiagonal.ad (n = {len(x):,}) --json", adcli + base, None, env)]
    why_not = None
    if "--dense" in help_text:
        commands.append((f"adcli jacobian tridiagonal.ad (n = {len(x):,}) --json --dense",
                         adcli + base + ["--dense"], None, env))
    else:
        why_not = "`adcli jacobian` does not accept `--dense` yet"
    times = time_commands(commands, runs, env)
    # n = 100,000: what the command does (once).
    big = tmp / "tridiagonal_100000.json"
    big.write_text(json.dumps({"x": np.linspace(-1.0, 1.0, 100_000).tolist()}))
    start = time.perf_counter()
    done = subprocess.run(adcli + ["jacobian", str(PROGRAMS / "tridiagonal.ad"), "--inputs", str(big), "--json"],
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT)
    large = {"seconds": time.perf_counter() - start, "exit": done.returncode,
             "stdout_bytes": len(done.stdout), "stderr": done.stderr.strip().splitlines()[-1:] or [""]}
    return times, why_not, large


# ---------------------------------------------------------------------------------------------
# The case
# ---------------------------------------------------------------------------------------------

def run(quick: bool) -> tuple[list[Table], list[Target], dict]:
    import adcli  # noqa: F401
    from adcli.engine.matrices import hessian, hvp, jacobian
    from adcli.engine.program import load
    runs = 3 if quick else 7
    given = points(quick)
    raw: dict = {}
    targets: list[Target] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-sparse-"))

    # JAX first, in its own process, while this one is idle.
    jax_out = None
    if available("jax"):
        np.savez(tmp / "in.npz", **given)
        jax_out = subprocess_json(["bench.sparse_jax", json.dumps({"inputs": str(tmp / "in.npz"),
                                                                   "outputs": str(tmp / "out.npz"),
                                                                   "runs": runs})])
        if "error" in jax_out:
            jax_arrays = None
        else:
            jax_arrays = dict(np.load(tmp / "out.npz"))
        raw["jax"] = jax_out
    else:
        jax_arrays = None

    # 1. The tridiagonal Jacobian.
    tri = load(str(PROGRAMS / "tridiagonal.ad"))
    x = given["tri_x"]
    sparse_j = jacobian(tri, x=x)
    dense_j = jacobian(tri, x=x, dense=True)
    def first_call():  # a program's first Jacobian: the pattern found and coloured, then the passes
        tri.graph.__dict__.pop("_memo", None)
        return jacobian(tri, x=x)

    t = interleaved({"sparse": lambda: jacobian(tri, x=x), "first": first_call,
                     "dense": lambda: jacobian(tri, x=x, dense=True)},
                    runs, warmup=0)  # the calls above were the warm-up
    sparse_block, dense_block = sparse_j.blocks["x"], dense_j.blocks["x"]
    same_dense = bool(np.array_equal(sparse_block, dense_block))
    t1 = Table(f"10a. Jacobian of the tridiagonal residual, n = {len(x):,} ({len(x) - 2:,} × {len(x):,})",
               ["way", "passes", "median", "min – max", "vs compressed", "equal to"])
    t1.rows.append(["adcli, compressed, first call (pattern and colours found)", f"{sparse_j.passes} ({sparse_j.mode})",
                    *fmt_stats(t["first"]), ratio(t["first"].median, t["sparse"].median), "—"])
    t1.rows.append(["adcli, compressed, later calls (the plan kept with the graph)",
                    f"{sparse_j.passes} ({sparse_j.mode})", *fmt_stats(t["sparse"]),
                    "1.00×", "the dense result: " + ("bit for bit" if same_dense else "**NO**")])
    t1.rows.append(["adcli, `dense=True`", f"{dense_j.passes:,} ({dense_j.mode})", *fmt_stats(t["dense"]),
                    ratio(t["dense"].median, t["sparse"].median), "—"])
    raw["jacobian"] = {"n": len(x), "sparse": t["sparse"].as_dict(), "dense": t["dense"].as_dict(),
                       "passes": sparse_j.passes, "dense_passes": dense_j.passes, "mode": sparse_j.mode,
                       "dense_mode": dense_j.mode, "nnz": sparse_j.sparse.nnz if sparse_j.sparse else None,
                       "same_as_dense": same_dense}
    if jax_arrays is not None:
        jf = Stats.from_dict(jax_out["jacfwd"])
        diff = max_abs(sparse_block, jax_arrays["jacfwd"])
        same_jax = bool(np.array_equal(sparse_block, jax_arrays["jacfwd"]))
        t1.rows.append(["`jax.jit(jax.jacfwd(r))`, float64", f"{len(x):,} (vmapped)", *fmt_stats(jf),
                        ratio(jf.median, t["sparse"].median),
                        "adcli's: " + ("bit for bit" if same_jax else f"max |Δ| {diff:.2g}")])
        t1.notes.append(f"JAX's compile time, apart from the runs: {fmt_seconds(jax_out['jacfwd_compile'])} "
                        f"(jax {jax_out['jax']}, {', '.join(jax_out['devices'])}).")
        raw["jacobian"].update({"jacfwd": jf.as_dict(), "jacfwd_compile": jax_out["jacfwd_compile"],
                                "jacfwd_max_abs_diff": diff, "same_as_jax": same_jax})
    else:
        t1.notes.append("JAX: " + ("not installed" if jax_out is None else jax_out["error"]))
    t1.notes.append("sparsejac: not available (not in the package registry this machine reaches).")
    speedup = t["dense"].median / t["sparse"].median
    targets.append(AtLeast(f"tridiagonal Jacobian n = {len(x):,}: dense time / compressed time", speedup, 50, "×",
                           f"{sparse_j.passes} passes vs {dense_j.passes:,}; later calls"))
    targets.append(AtLeast(f"the same, the program's first Jacobian", t["dense"].median / t["first"].median, 50, "×",
                           "pattern and colouring included"))
    raw["jacobian"]["first"] = t["first"].as_dict()
    del sparse_block, dense_block, dense_j

    large = subprocess_json(["bench.sparse", "--large", json.dumps({"n": 100_000, "runs": 2 if quick else 3})])
    raw["large"] = large
    if "error" in large:
        t1.notes.append(f"n = 100,000: {large['error']}")
        targets.append(Target("tridiagonal Jacobian n = 100,000, compressed: time", None, 10, " s"))
    else:
        lt = Stats.from_dict(large["time"])
        t1.rows.append([f"adcli, compressed, n = {large['n']:,}", f"{large['passes']} ({large['mode']})",
                        *fmt_stats(lt), "—", "the formula: " + ("yes" if large["correct"] else "**NO**")])
        t1.notes.append(f"n = {large['n']:,} in a fresh process: {large['nnz']:,} entries "
                        f"({fmt_bytes(large['entries_bytes'])} as row, col, data) where the dense way would take {large['dense_passes']:,} passes; peak "
                        f"above the input ({fmt_bytes(large['input_bytes'])}): resident set "
                        f"{fmt_bytes(large['rss_peak'])}, tracemalloc {fmt_bytes(large['traced_peak'])}; the "
                        f"process's maximum resident set {fmt_bytes(large['maxrss'])}; first call "
                        f"{fmt_seconds(large['first'])}.")
        targets.append(Target(f"tridiagonal Jacobian n = {large['n']:,}, compressed: time", lt.median, 10, " s",
                              f"peak RSS above the input {fmt_bytes(large['rss_peak'])}"))

    # 2. H·v against one gradient, and against JAX.
    t2 = Table("10b. Hessian-vector products: `hvp` against one `Program.grad` and JAX's jvp(grad(f))",
               ["function", "inputs", "grad median", "hvp median", "hvp min – max", "hvp / grad",
                "JAX grad", "JAX hvp", "rel. error vs JAX"])
    rosen = load(str(PROGRAMS / "rosenbrock.ad"))
    mlp = load(str(PROGRAMS / "mlp_tanh.ad"))
    mlp_values = {name: given["mlp_" + name] for name in ["X", "Y", *WEIGHTS]}
    mlp_vectors = {w: given["mlp_v_" + w] for w in WEIGHTS}
    cases = [
        ("chained Rosenbrock", "rosen", f"x: {len(given['rosen_x']):,}",
         lambda: rosen.grad(x=given["rosen_x"]),
         lambda: hvp(rosen, {"x": given["rosen_v"]}, x=given["rosen_x"]), ["x"]),
        ("tanh MLP, mean squared error", "mlp",
         f"{sum(given['mlp_' + w].size for w in WEIGHTS):,} weights (batch {len(given['mlp_X'])})",
         lambda: mlp.grad(wrt=WEIGHTS, **mlp_values),
         lambda: hvp(mlp, mlp_vectors, wrt=WEIGHTS, **mlp_values), WEIGHTS),
    ]
    raw["hvp"] = {}
    for label, key, size, grad_fn, hvp_fn, parts in cases:
        tt, pair_ratios = paired(grad_fn, hvp_fn, 10 * runs)
        product = hvp_fn().products
        r = statistics.median(pair_ratios)
        err, jg, jh = None, "n/a", "n/a"
        if jax_arrays is not None:
            want = [jax_arrays["rosen_hvp"]] if key == "rosen" else [jax_arrays["mlp_hvp_" + w] for w in WEIGHTS]
            err = rel_error([product[p] for p in parts], want)
            jg = fmt_seconds(jax_out[key + "_grad"]["median"])
            jh = fmt_seconds(jax_out[key + "_hvp"]["median"])
        t2.rows.append([label, size, fmt_seconds(tt["grad"].median), *fmt_stats(tt["hvp"]),
                        f"{r:.2f}× ({min(pair_ratios):.2f} – {max(pair_ratios):.2f})", jg, jh,
                        "n/a" if err is None else f"{err:.2g}"])
        raw["hvp"][key] = {"grad": tt["grad"].as_dict(), "hvp": tt["hvp"].as_dict(), "ratio": r,
                           "ratio_min": min(pair_ratios), "ratio_max": max(pair_ratios), "rel_error": err}
        targets.append(Target(f"hvp {label}: relative error vs JAX", err, 1e-12, ""))
        targets.append(Target(f"hvp {label}: time / one gradient", r, 4, "×"))
    t2.notes.append(f"grad and hvp run in pairs (grad, then hvp), {10 * runs} pairs after a warm-up; hvp / grad is "
                    "the median of the pairs' ratios (their min – max in brackets); JAX's under `jit`, compile "
                    "times apart" + ("" if jax_out is None or "error" in jax_out else
                                     f" (grad / hvp: Rosenbrock {fmt_seconds(jax_out['rosen_grad_compile'])} / "
                                     f"{fmt_seconds(jax_out['rosen_hvp_compile'])}, MLP "
                                     f"{fmt_seconds(jax_out['mlp_grad_compile'])} / "
                                     f"{fmt_seconds(jax_out['mlp_hvp_compile'])})") + ".")
    t2.notes.append("Relative error: ‖adcli − JAX‖₂ / ‖JAX‖₂ over every weight's product.")

    # 3. The Rosenbrock Hessian, compressed and dense.
    x = given["hess_x"]
    sparse_h = hessian(rosen, x=x)
    dense_h = hessian(rosen, x=x, dense=True)
    th = interleaved({"sparse": lambda: hessian(rosen, x=x), "dense": lambda: hessian(rosen, x=x, dense=True)},
                     max(2, runs // 2), warmup=0)
    hs, hd = sparse_h.blocks[("x", "x")], dense_h.blocks[("x", "x")]
    same = bool(np.array_equal(hs, hd))
    t3 = Table(f"10c. Hessian of the chained Rosenbrock function, n = {len(x):,}",
               ["way", "passes", "median", "min – max", "vs compressed", "equal to"])
    t3.rows.append(["adcli, compressed (default)", str(sparse_h.passes), *fmt_stats(th["sparse"]), "1.00×",
                    "the dense result: " + ("bit for bit" if same else f"**NO** (max |Δ| {max_abs(hs, hd):.2g})")])
    t3.rows.append(["adcli, `dense=True`", f"{dense_h.passes:,}", *fmt_stats(th["dense"]),
                    ratio(th["dense"].median, th["sparse"].median), "—"])
    raw["hessian"] = {"n": len(x), "passes": sparse_h.passes, "dense_passes": dense_h.passes,
                      "nnz": sparse_h.sparse.nnz if sparse_h.sparse else None,
                      "sparse": th["sparse"].as_dict(), "dense": th["dense"].as_dict(), "same_as_dense": same}
    if jax_arrays is not None:
        jh = Stats.from_dict(jax_out["hessian"])
        err = rel_error([hs], [jax_arrays["hessian"]])
        t3.rows.append(["`jax.jit(jax.hessian(f))`, float64", f"{len(x):,} (vmapped)", *fmt_stats(jh),
                        ratio(jh.median, th["sparse"].median), f"adcli's: rel. error {err:.2g}"])
        t3.notes.append(f"JAX's compile time: {fmt_seconds(jax_out['hessian_compile'])}.")
        raw["hessian"].update({"jax": jh.as_dict(), "jax_compile": jax_out["hessian_compile"], "jax_rel_error": err})
    if sparse_h.sparse:
        t3.notes.append(f"{sparse_h.sparse.nnz:,} stored entries; one forward-over-reverse pass per colour.")
    del hs, hd, dense_h

    # 4. Whole processes.
    t4 = Table("10d. Whole process: `adcli jacobian bench/programs/tridiagonal.ad --inputs FILE.json --json`",
               ["command", "wall median", "wall min – max", "CPU median"])
    times, why_not, big = whole_process(tmp, given["tri_x"], 3 if quick else 5)
    for label, st in times.items():
        t4.rows.append([label, *fmt_stats(st), fmt_seconds(st.cpu)])
    if why_not:
        t4.notes.append(f"{why_not}: compressed against dense is measured in process only (table 10a).")
    t4.notes.append("n = 100,000: " + (f"exit 0, {big['stdout_bytes']:,} bytes of JSON in {fmt_seconds(big['seconds'])}"
                                       if big["exit"] == 0 else
                                       f"exit {big['exit']} after {fmt_seconds(big['seconds'])}: {big['stderr'][0]}"))
    raw["whole_process"] = {"times": {k: v.as_dict() for k, v in times.items()}, "dense": why_not is None,
                            "large": big}
    shutil.rmtree(tmp, ignore_errors=True)
    return [t1, t2, t3, t4], targets, raw


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sparse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs of each measurement")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results to this file")
    parser.add_argument("--blas-threads", type=int, metavar="N",
                        help="threads for numpy's BLAS, here and in the processes it starts "
                             "(default: the library's own)")
    parser.add_argument("--large", metavar="SPEC", help=argparse.SUPPRESS)  # the fresh process for n = 100,000
    args = parser.parse_args(argv)
    if args.large:
        print(json.dumps(large_task(json.loads(args.large))))
        return
    from .run import load as load_average
    from .run import machine
    info = machine()
    info["BLAS threads"] = args.blas_threads or "default"
    print("## adcli benchmarks: sparse Jacobians, Hessians and Hessian-vector products" +
          (" (quick)" if args.quick else ""))
    print()
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    print()
    before, started = load_average(), time.perf_counter()
    tables, targets, raw = run(args.quick)
    for table in tables:
        print(table.markdown())
    print(targets_table(targets).markdown())
    elapsed = time.perf_counter() - started
    print(f"_sparse: {elapsed:.0f} s; load average before {before}, after {load_average()}_")
    if args.json:
        raw["machine"] = info
        raw["seconds"] = elapsed
        raw["targets"] = [{"name": t.name, "measured": t.measured, "limit": t.limit, "met": t.met} for t in targets]
        Path(args.json).write_text(json.dumps(raw, indent=1) + "\n")


if __name__ == "__main__":
    main()
