"""Case 5: exported code. The MLP and the scalar chain as `adcli export` writes them, timed beside
adcli's own engine and hand-written code: numpy's module against adcli's engine and numpy by hand
(one process, interleaved), and JAX's module under jit against hand-written JAX under jit.
"""

from __future__ import annotations

from .peers import available
from .report import Table, ratio, run_worker
from .stats import Stats, fmt_stats

CHAIN = 10_000  # a longer chain is a longer module: Python's compiler, not the code, would be timed


def run(quick: bool) -> tuple[list[Table], list, list[dict]]:
    runs = 5 if quick else 20
    results = [run_worker({"task": "export", "impl": "numpy", "runs": runs, "chain": CHAIN})]
    notes = []
    if quick:
        notes.append("Quick run: JAX left out.")
    elif available("jax"):
        results.append(run_worker({"task": "export", "impl": "jax", "runs": runs, "chain": CHAIN}))
    else:
        notes.append("jax is not installed: skipped")
    table = Table("5. Exported code: the module's grad_f beside adcli's engine and code written by hand",
                  ["workload", "implementation", "median", "min – max", "vs hand-written (same framework)"],
                  notes=notes)
    for r in results:
        if "error" in r:
            table.notes.append(f"{r.get('impl', '?')}: {r['error']}")
            continue
        for workload, times in r["time"].items():
            stats = {name: Stats.from_dict(d) for name, d in times.items()}
            hand = next(st.median for name, st in stats.items() if "by hand" in name)
            for name, st in stats.items():
                table.rows.append([workload, name, *fmt_stats(st), ratio(st.median, hand)])
        table.notes.append(f"{r['impl']}: largest difference from adcli's engine {r['max_grad_error']:.1e} "
                           f"(relative); the modules have {r['lines']['mlp']} lines (MLP) and {r['lines']['chain']} (chain)")
    return [table], [], results
