"""Case 9: updates as values. An explicit heat-equation stencil that writes each interior point of
a grid (`u_new[i] = ...`), value and gradient: with the engine writing a chain of updates into the
old array (forward pass) and into the accumulators it owns (reverse pass), with the forward pass
copying each update instead, and the same stencil written with slices and concat.
"""

from __future__ import annotations

import time

import numpy as np

from .report import Table, ratio
from .stats import Stats, fmt_stats

POINTWISE = """input u0: [{n}]
input k
u = u0 * 1.0
for t in range({steps}):
    new = u * 1.0
    for i in range(1, {n} - 1):
        new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
    u = new
y = sum(u * u)
"""
SLICED = """input u0: [{n}]
input k
u = u0 * 1.0
for t in range({steps}):
    inner = u[1:{n} - 1] + k * (u[:{n} - 2] - 2 * u[1:{n} - 1] + u[2:])
    u = concat([u[:1], inner, u[{n} - 1:]])
y = sum(u * u)
"""


def timed(program, inputs, runs: int) -> tuple[Stats, object]:
    samples, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = program.grad(**inputs)
        samples.append(time.perf_counter() - start)
    return Stats.of(samples), result


def run(quick: bool) -> tuple[list[Table], list, list[dict]]:
    import adcli
    from adcli.engine import evaluate
    table = Table("9. Updates as values: a heat stencil written point by point, value and gradient",
                  ["grid × steps", "form", "median", "min – max", "vs in place", "updates", "same bits"])
    raw = []
    runs = 2 if quick else 3
    for n, steps in ((50, 10), (2000, 2)) if quick else ((200, 50), (20000, 1)):
        inputs = {"u0": np.sin(np.linspace(0.0, 3.0, n)), "k": 0.2}
        pointwise = adcli.parse(POINTWISE.format(n=n, steps=steps), "heat.ad")
        sliced = adcli.parse(SLICED.format(n=n, steps=steps), "heat_sliced.ad")
        pointwise.grad(**inputs)  # the graph built and compiled once, outside the timings
        sliced.grad(**inputs)
        fast, reference = timed(pointwise, inputs, runs)
        allowed = evaluate.updatable
        evaluate.updatable = lambda *args, **kw: False
        try:
            copied, copied_result = timed(pointwise, inputs, runs)
        finally:
            evaluate.updatable = allowed
        whole, sliced_result = timed(sliced, inputs, runs)
        same = np.array_equal(reference.grad["u0"], copied_result.grad["u0"])
        close = np.allclose(reference.grad["u0"], sliced_result.grad["u0"], rtol=1e-12, atol=0)
        label, updates = f"{n} × {steps}", (n - 2) * steps
        table.rows.append([label, "x[i] = v, written in place", *fmt_stats(fast), "1.00×", f"{updates:,}", "—"])
        table.rows.append([label, "x[i] = v, forward copying each update", *fmt_stats(copied), ratio(copied.median, fast.median),
                           f"{updates:,}", "yes" if same else "NO"])
        table.rows.append([label, "slices and concat", *fmt_stats(whole), ratio(whole.median, fast.median), "0",
                           "within 1e-12" if close else "NO"])
        raw.append({"n": n, "steps": steps, "in_place": fast.median, "copied": copied.median,
                    "sliced": whole.median, "same_bits": bool(same)})
    table.notes.append("Each point's update is a graph node, so per-node work dominates a small grid; the copy "
                       "each update would make grows with the grid, the write in place does not.")
    return [table], [], raw
