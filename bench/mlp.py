"""Case 2: the MLP loss sum((relu(X@W1+b1)@W2+b2)**2), X 256×784, W1 784×1024, W2 1024×10, float64.

adcli parses once, then its gradient is timed beside hand-written numpy forward+backward and
beside its own forward pass, interleaved in one process. Peak memory is what a call allocates
above the inputs (tracemalloc), the returned gradients included.
"""

from __future__ import annotations

from .peers import available
from .report import Table, Target, ratio, run_worker
from .stats import Stats, fmt_bytes, fmt_stats

# What the backward pass must read besides the inputs: relu's result (256×1024; its sign is the
# mask), the output before squaring (256×10), and the loss.
NEEDED_BYTES = (256 * 1024 + 256 * 10 + 1) * 8


def run(quick: bool) -> tuple[list[Table], list[Target], list[dict]]:
    runs = 5 if quick else 20
    results = [run_worker({"task": "mlp", "impl": "adcli", "runs": runs})]
    notes = []
    for peer in ("torch", "jax"):
        if quick:
            notes.append(f"Quick run: {peer} left out.")
        elif available(peer):
            results.append(run_worker({"task": "mlp", "impl": peer, "runs": runs}))
        else:
            notes.append(f"{peer} is not installed: skipped")
    core = results[0]
    if "error" in core:
        table = Table("2. MLP loss gradient", ["row", "result"], [["adcli + numpy", core["error"]]], notes)
        return [table], [], results
    times = {name: Stats.from_dict(d) for r in results if "error" not in r for name, d in r["time"].items()}
    traced = {name: v for r in results if "error" not in r for name, v in r["traced_peak"].items()}
    rss = {name: v for r in results if "error" not in r for name, v in r["rss_peak"].items()}
    reference = {"grad": times["numpy grad"].median, "weights": times["numpy grad (weights)"].median,
                 "forward": times["numpy forward"].median}
    table = Table("2. MLP loss: gradient with respect to all inputs, and to the weights only",
                  ["implementation", "median", "min – max", "vs numpy (same work)", "peak above inputs (tracemalloc)",
                   "peak above inputs (RSS)"], notes=notes)
    for name, st in times.items():
        work = "weights" if "weights" in name else "forward" if "forward" in name else "grad"
        table.rows.append([name, *fmt_stats(st), ratio(st.median, reference[work]),
                           fmt_bytes(traced[name]) if name.split()[0] in ("adcli", "numpy") else "n/a",
                           fmt_bytes(rss.get(name))])
    for r in results:
        if "error" in r:
            table.notes.append(f"{r['impl']}: {r['error']}")
        elif r.get("max_grad_error", 0) > 1e-9:
            table.notes.append(f"{r['impl']}: gradients differ from numpy's by {r['max_grad_error']:.2g} (relative)")
    inputs = core["input_bytes"]
    table.notes.append(f"{runs} runs each, interleaved; the inputs take {fmt_bytes(inputs)}; the values the "
                       f"backward pass needs take {fmt_bytes(NEEDED_BYTES)}. Peak memory is what one call "
                       "allocates above the inputs, its returned gradients included.")
    grad, forward = times["adcli grad"].median, times["adcli forward"].median
    table.notes.append(f"adcli gradient / adcli forward: {ratio(grad, forward)}; numpy gradient / numpy forward: "
                       f"{ratio(reference['grad'], reference['forward'])}.")
    cost = core.get("cost")
    if cost:
        working = cost["reverse"]["peak_bytes"] - cost["resident_bytes"]
        table.notes.append(f"`adcli cost` estimates the reverse pass at {fmt_bytes(working)} above the inputs "
                           f"(measured: {fmt_bytes(traced['adcli grad'])}), keeping "
                           f"{fmt_bytes(cost['reverse']['kept_bytes'])} for the backward pass.")
    needed = inputs + NEEDED_BYTES
    weights = times["adcli grad (weights)"].median
    targets = [
        Target("MLP gradient vs hand-written numpy", grad / reference["grad"], 1.15, "×", "all five gradients"),
        Target("MLP gradient (weights) vs numpy", weights / reference["weights"], 1.15, "×", "W1, b1, W2, b2"),
        Target("MLP gradient (weights) vs adcli forward", weights / forward, 2.6, "×",
               f"numpy by hand: {reference['weights'] / reference['forward']:.2f}×"),
        Target("MLP gradient (all inputs) vs adcli forward", grad / forward, 2.6, "×",
               f"numpy by hand: {reference['grad'] / reference['forward']:.2f}× (dX is a third large product)"),
        Target("MLP reverse-mode peak (weights) vs inputs + needed values", traced["adcli grad (weights)"] / needed,
               1.3, "×", f"numpy by hand: {traced['numpy grad (weights)'] / needed:.2f}×"),
        Target("MLP reverse-mode peak (all inputs) vs inputs + needed values", traced["adcli grad"] / needed,
               1.3, "×", f"numpy by hand: {traced['numpy grad'] / needed:.2f}×"),
    ]
    return [table], targets, results
