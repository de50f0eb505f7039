"""Case 7: checkpointing. A 100,000-step scalar recurrence and a 1,000-step RNN with a [256]
state: time and peak memory (above the inputs) of the plain reverse pass and of --checkpoint sqrt,
against adcli cost's predictions of each peak.
"""

from __future__ import annotations

import math

from .report import Table, Target, ratio, run_worker
from .stats import Stats, fmt_bytes, fmt_stats

WORKLOADS = [
    ("recurrence", {"workload": "recurrence", "steps": 100_000}),
    ("RNN, ∂/∂h0", {"workload": "rnn", "steps": 1000, "width": 256, "wrt": ["h0"]}),
    ("RNN, ∂/∂h0 and W", {"workload": "rnn", "steps": 1000, "width": 256, "wrt": ["h0", "W"]}),
]


def run(quick: bool) -> tuple[list[Table], list[Target], list[dict]]:
    results, targets = [], []
    table = Table("7. Checkpointing: plain reverse mode against --checkpoint sqrt",
                  ["workload", "schedule", "median", "min – max", "vs plain", "peak above inputs", "predicted",
                   "kept values", "same bits"])
    for name, spec in WORKLOADS:
        spec = dict(spec, task="checkpoint", kinds=["none", "sqrt"], runs=2 if quick else 3)
        if quick:
            spec["steps"] = spec["steps"] // 10
        r = run_worker(spec, timeout=1800)
        results.append(r)
        if "error" in r:
            table.notes.append(f"{name}: {r['error']}")
            continue
        plain = r["schedules"]["none"]
        plain_time = Stats.from_dict(plain["time"]).median
        n = r["steps"]
        per_state = plain["peak"] / n  # what the plain pass spends on each step's values
        for kind, row in r["schedules"].items():
            st = Stats.from_dict(row["time"])
            table.rows.append([name, "plain" if kind == "none" else kind, *fmt_stats(st), ratio(st.median, plain_time),
                               fmt_bytes(row["peak"]), fmt_bytes(row["predicted_peak"]), row["kept_values"],
                               "yes" if row["identical"] else "**no**"])
            if row["predicted_peak"]:
                targets.append(Target(f"{name}, {kind}: prediction off by", abs(row["predicted_peak"] - row["peak"]) /
                                      row["peak"], 0.2, "", "relative to the measured peak"))
        sqrt = r["schedules"]["sqrt"]
        above = sqrt["peak"] - (sqrt["gradient_bytes"] if name.endswith("and W") else 0)
        targets.append(Target(f"{name}, sqrt: peak in states' worth / √n ({n:,} steps)",
                              above / per_state / math.sqrt(n), 3.0, "",
                              "a state's worth: the plain pass's peak per step" +
                              ("; gradients held apart" if name.endswith("and W") else "")))
        targets.append(Target(f"{name}, sqrt: time vs plain", Stats.from_dict(sqrt["time"]).median / plain_time,
                              2.2, "×"))
        table.notes.append(f"{name}: {r['nodes']:,} nodes, parsed in {r['parse']:.1f} s")
    return [table], targets, results
