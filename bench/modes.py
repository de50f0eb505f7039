"""Case 4: forward mode against reverse mode on functions of 1, 10 and 1,000 scalar inputs.

The graph has 2,000 operations whatever the number of inputs, so the lecture's trade-off shows
alone: forward mode takes one pass per input, reverse mode one pass in all.
"""

from __future__ import annotations

from .report import Table, ratio, run_worker
from .stats import Stats, fmt_seconds, fmt_stats


def run(quick: bool) -> tuple[list[Table], list, list[dict]]:
    sizes = (1, 10, 100) if quick else (1, 10, 1000)
    results = [run_worker({"task": "modes", "n": n, "runs": 3 if quick else 5,
                           "forward_runs": 1 if n >= 100 else 3}) for n in sizes]
    table = Table("4. Forward mode vs reverse mode: the full gradient of a 2,000-operation function",
                  ["inputs", "mode", "median", "min – max", "per pass", "forward / reverse",
                   "flops ratio (adcli cost)"])
    how = None
    for r in results:
        if "error" in r:
            table.rows.append([str(r.get("n", "?")), "", "failed", r["error"], "", "", ""])
            continue
        how = r["forward_how"]
        rev, fwd = Stats.from_dict(r["reverse"]), Stats.from_dict(r["forward"])
        flops = r.get("flops")
        predicted = ratio(flops["forward"], flops["reverse"]) if flops else "n/a"
        table.rows.append([f"{r['n']:,}", "reverse", *fmt_stats(rev), fmt_seconds(rev.median), "", ""])
        table.rows.append([f"{r['n']:,}", "forward", *fmt_stats(fwd), fmt_seconds(fwd.median / r["n"]),
                           ratio(fwd.median, rev.median), predicted])
        if r["max_grad_error"] > 1e-9:
            table.notes.append(f"{r['n']} inputs: the two modes' gradients differ by {r['max_grad_error']:.2g}")
    if how:
        table.notes.append(f"Forward mode runs {how}; reverse mode runs `Program.grad`.")
    table.notes.append("The graph: t_k = tanh(t_(k-1)) + x_(k mod n) for k < 1,000; every input is used.")
    return [table], [], results
