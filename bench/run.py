"""Run the benchmark cases and print their tables (Markdown): `python -m bench [--quick]`."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench.report import ROOT, targets_table  # noqa: E402

CASES = ("startup", "mlp", "scalar", "modes", "export", "batch", "checkpoint", "parse", "updates", "sparse", "lsp", "dask", "loops")


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for dist in ("numpy", "lark", "typer", "rich", "torch", "jax", "autograd", "micrograd"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", **versions}


def load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (well under a minute)")
    parser.add_argument("--case", action="append", choices=CASES, help="run only this case (repeatable)")
    parser.add_argument("--tree", metavar="DIR", help="measure the adcli package in this source tree")
    parser.add_argument("--blas-threads", type=int, metavar="N",
                        help="threads for numpy's BLAS (default: the library's own choice)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results to this file")
    args = parser.parse_args(argv)
    if args.tree:  # workers and whole-process runs import adcli from the tree first
        tree = str(Path(args.tree).resolve())
        if not (Path(tree) / "adcli" / "__init__.py").is_file():
            parser.error(f"--tree {args.tree}: no adcli package there")
        os.environ["BENCH_ADCLI_TREE"] = tree
        os.environ["PYTHONPATH"] = tree + os.pathsep + str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    if args.blas_threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)

    from . import batch, checkpoint, dask_batch, export, loops, lsp, mlp, modes, parse, scalar, sparse, startup, updates
    modules = {"startup": startup, "mlp": mlp, "scalar": scalar, "modes": modes, "export": export, "batch": batch,
               "checkpoint": checkpoint, "parse": parse, "updates": updates, "sparse": sparse, "lsp": lsp,
               "dask": dask_batch, "loops": loops}
    info = machine()
    info["adcli tree"] = Path(args.tree).name if args.tree else "this checkout"
    info["BLAS threads"] = args.blas_threads or "default"
    print("## adcli benchmarks" + (" (quick)" if args.quick else ""))
    print()
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    print()
    raw, all_targets = {"machine": info, "cases": {}}, []
    started = time.perf_counter()
    for name in args.case or CASES:
        before = load()
        case_start = time.perf_counter()
        tables, targets, results = modules[name].run(args.quick)
        elapsed = time.perf_counter() - case_start
        for table in tables:
            print(table.markdown())
        print(f"_{name}: {elapsed:.0f} s; load average before {before}, after {load()}_")
        print()
        sys.stdout.flush()
        all_targets += targets
        raw["cases"][name] = {"seconds": elapsed, "results": results}
    if all_targets:
        print(targets_table(all_targets).markdown())
    print(f"_total: {time.perf_counter() - started:.0f} s_")
    if args.json:
        raw["targets"] = [{"name": t.name, "measured": t.measured, "limit": t.limit, "met": t.met}
                          for t in all_targets]
        Path(args.json).write_text(json.dumps(raw, indent=1) + "\n")


if __name__ == "__main__":
    main()
