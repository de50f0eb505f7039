"""Case 6: --batch. 100,000 points of samples/relu.ad (every input batched) and of samples/mlp.ad
(X batched, the weights shared, per-example gradients): adcli's batched graph against one
program.grad call per point (timed on a sample of points, scaled to all) and, for relu, against
vectorised numpy written by hand.
"""

from __future__ import annotations

from .report import Table, Target, ratio, run_worker
from .stats import Stats, fmt_bytes, fmt_stats

POINTS = 100_000


def run(quick: bool) -> tuple[list[Table], list[Target], list[dict]]:
    points = 10_000 if quick else POINTS
    runs = 3 if quick else 7
    results = [run_worker({"task": "batch", "sample_file": name, "points": points, "runs": runs,
                           "sample": 500 if quick else 2000}) for name in ("relu", "mlp")]
    table = Table(f"6. --batch: {points:,} points at once against one call per point",
                  ["sample", "implementation", "median", "min – max", "speed-up", "peak (tracemalloc)"])
    targets = []
    for name, r in zip(("relu", "mlp"), results):
        if "error" in r:
            table.notes.append(f"{name}: {r['error']}")
            continue
        batched, per_point = Stats.from_dict(r["batched"]), Stats.from_dict(r["per_point"])
        table.rows.append([name, "adcli, --batch", *fmt_stats(batched), ratio(per_point.median, batched.median),
                           fmt_bytes(r["traced_peak"])])
        table.rows.append([name, f"program.grad per point (×{r['points'] // r['sample']} of {r['sample']:,})",
                           *fmt_stats(per_point), "1×", "n/a"])
        targets.append(Target(f"--batch {name}: speed-up over one call per point (inverse, ≤ 1/50)",
                              batched.median / per_point.median, 1 / 50, "",
                              f"{per_point.median / batched.median:.0f}× faster"))
        if "interleaved" in r:
            times = {k: Stats.from_dict(v) for k, v in r["interleaved"].items()}
            table.rows.append([name, "numpy by hand (interleaved with adcli)", *fmt_stats(times["numpy by hand"]),
                               "", "n/a"])
            targets.append(Target("--batch relu: time vs vectorised numpy by hand", times["adcli"].median /
                                  times["numpy by hand"].median, 3.0, "×", "interleaved in one process"))
        table.notes.append(f"{name}: largest difference from one point alone {r['max_difference']:.1e}")
    return [table], targets, results
