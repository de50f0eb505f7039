"""Case 3: generated scalar chains and wide sums of 10^4, 10^5 and 10^6 operations.

adcli is timed from the parsed program to the gradients (binding, forward, backward); the peers
from their op list to the gradients (building their graph as they run forward, then backward).
Every figure is per operation, each measured in its own fresh process.
"""

from __future__ import annotations

from .peers import available
from .report import Table, Target, ratio, run_worker
from .stats import Stats, fmt_seconds

REFERENCE = "float tape"

# (impl, kind, n, runs, traced): what the full run measures. Peers whose cost per operation
# would take minutes at a size are left out there, with a note.
FULL_PLAN = [
    *[(impl, kind, 10**4, 5 if impl in ("adcli", "float tape") else 3, impl not in ("torch", "jax"))
      for kind in ("chain", "wide")
      for impl in ("adcli", "float tape", "numpy-scalar tape", "micrograd", "torch", "autograd")],
    ("jax", "chain", 10**4, 1, False),
    *[(impl, kind, 10**5, 3 if impl in ("adcli", "float tape") else 1, impl in ("adcli", "float tape"))
      for kind in ("chain", "wide")
      for impl in ("adcli", "float tape", "numpy-scalar tape", "micrograd", "torch")],
    ("autograd", "chain", 10**5, 1, False),
    ("adcli", "chain", 10**6, 2, True), ("float tape", "chain", 10**6, 2, True),
    ("micrograd", "chain", 10**6, 1, False), ("torch", "chain", 10**6, 1, False),
    ("adcli", "wide", 10**6, 1, False), ("float tape", "wide", 10**6, 1, False),
]
QUICK_PLAN = [
    *[(impl, "chain", 10**4, 3, True) for impl in ("adcli", "float tape", "micrograd", "torch")],
    *[(impl, "wide", 10**4, 3, True) for impl in ("adcli", "float tape")],
]
SKIPPED_NOTES = [
    "For time, the slow peers run once (that run also gives their RSS peak) from 10^5 on: JAX (eager "
    "`jax.grad`) at 10^4 on the chain only, autograd up to 10^5 on the chain, micrograd and PyTorch up "
    "to 10^6 on the chain; tracemalloc peaks are taken up to 10^5 (10^6 for the chain).",
]


def per_op_bytes(result: dict, key: str) -> float | None:
    value = result.get(key)
    return None if value is None else value / result["ops"]


def run(quick: bool) -> tuple[list[Table], list[Target], list[dict]]:
    plan = QUICK_PLAN if quick else FULL_PLAN
    notes = ["Quick run: 10^4 operations, and only the float tape, micrograd and PyTorch beside adcli."] if quick \
        else list(SKIPPED_NOTES)
    results = []
    for impl, kind, n, runs, traced in plan:
        if impl != "adcli" and not available(impl):
            note = f"{impl} is not installed: skipped"
            if note not in notes:
                notes.append(note)
            continue
        spec = {"task": "scalar", "impl": impl, "kind": kind, "n": n, "runs": runs, "traced": traced}
        result = run_worker(spec)
        result.update({"impl": impl, "kind": kind, "n": n})
        results.append(result)
    return tables(results, notes), targets(results), results


def tables(results: list[dict], notes: list[str]) -> list[Table]:
    grad = Table("3. Scalar graphs: gradient time and peak memory per operation",
                 ["graph", "ops", "implementation", "µs/op median", "min – max", f"vs {REFERENCE}",
                  "µs/op CPU", "peak B/op (tracemalloc)", "peak B/op (RSS)"], notes=notes)
    ref = {(r["kind"], r["n"]): r for r in results if r["impl"] == REFERENCE and "error" not in r}
    for r in results:
        label = f"{r['kind']} 10^{len(str(r['n'])) - 1}"
        if "error" in r:
            grad.rows.append([label, "", r["impl"], "failed", r["error"], "", "", "", ""])
            continue
        st = Stats.from_dict(r["time"]).scaled(r["ops"] / 1e6)
        base = ref.get((r["kind"], r["n"]))
        base_median = base["time"]["median"] / base["ops"] * 1e6 if base else None
        traced = per_op_bytes(r, "traced_peak")
        grad.rows.append([label, f"{r['ops']:,}", r["impl"], f"{st.median:.3g}", f"{st.low:.3g} – {st.high:.3g}",
                          ratio(st.median, base_median), "n/a" if st.cpu is None else f"{st.cpu:.3g}",
                          "n/a" if traced is None or r["impl"] in ("torch", "jax") else f"{traced:.0f}",
                          "n/a" if per_op_bytes(r, "rss_peak") is None else f"{per_op_bytes(r, 'rss_peak'):.0f}"])
        if r.get("max_grad_error", 0) > 1e-9:
            grad.notes.append(f"{r['impl']} on {label}: gradients differ from the float tape by "
                              f"{r['max_grad_error']:.2g} (relative)")
    grad.notes += [
        "Per operation = per computed node; adcli also holds a node for each constant (the chain has "
        "1.5 nodes per operation).",
        "tracemalloc sees Python's and numpy's allocations only, so it is n/a for PyTorch and JAX; "
        "the resident-set (RSS) peak counts every allocator and is the figure to compare across libraries.",
        "micrograd runs with the recursion limit raised (its recursive topological sort raises "
        "RecursionError at the default limit beyond about 1,000 nodes).",
    ]
    parse = Table("3. Parsing the generated files (adcli, Lark LALR, garbage collector as the engine leaves it)",
                  ["graph", "lines", "chars/line", "total", "µs/line", "vs 10^4"])
    first = {}
    for r in results:
        if r["impl"] != "adcli" or "parse" not in r:
            continue
        per_line = r["parse"] / r["lines"] * 1e6
        first.setdefault(r["kind"], per_line)
        parse.rows.append([f"{r['kind']} 10^{len(str(r['n'])) - 1} ops", f"{r['lines']:,}",
                           f"{r['chars_per_line']:.1f}", fmt_seconds(r["parse"]), f"{per_line:.1f}",
                           ratio(per_line, first[r["kind"]])])
    parse.notes.append("One parse per size; 'vs 10^4' above 1 means the cost per line grows with the file.")
    return [grad, parse]


def _find(results, impl, kind, n):
    for r in results:
        if r["impl"] == impl and r["kind"] == kind and r["n"] == n and "error" not in r:
            return r
    return None


def targets(results: list[dict]) -> list[Target]:
    out = []
    for n in (10**5, 10**6):
        r = _find(results, "adcli", "chain", n)
        size = f"10^{len(str(n)) - 1}"
        us = r["time"]["median"] / r["ops"] * 1e6 if r else None
        out.append(Target(f"scalar chain {size}: time per node", us, 1.5, " µs"))
        mem = None
        if r:
            mem = per_op_bytes(r, "traced_peak") or per_op_bytes(r, "rss_peak")
        out.append(Target(f"scalar chain {size}: peak bytes per node", mem, 100, " B"))
        tape = _find(results, REFERENCE, "chain", n)
        if r and tape:
            out.append(Target(f"chain {size}: time vs a Python float tape", r["time"]["median"] / tape["time"]["median"],
                              2.0, "×", "one tuple per node, Python floats (bench/peers.py)"))
        for peer in ("torch", "micrograd"):
            p = _find(results, peer, "chain", n)
            if r and p:
                out.append(Target(f"chain {size}: time vs {peer}", r["time"]["median"] / p["time"]["median"],
                                  0.2, "×", "≥ 5× faster"))
                if r.get("rss_peak") and p.get("rss_peak"):
                    out.append(Target(f"chain {size}: RSS peak vs {peer}", r["rss_peak"] / p["rss_peak"],
                                      0.25, "×", "≥ 4× leaner"))
    failed = [f"{r['impl']} {r['kind']} {r['n']}" for r in results if r["impl"] == "adcli" and "error" in r]
    out.append(Target("adcli errors (recursion or other) at any size", float(len(failed)), 0, "",
                      ", ".join(failed) or "none"))
    for kind in ("chain", "wide"):
        r4, r5, r6 = (_find(results, "adcli", kind, n) for n in (10**4, 10**5, 10**6))
        if r5:
            out.append(Target(f"parsing the {kind} at 10^5 operations", r5["parse"] / r5["lines"] * 1e6, 50,
                              " µs/line", f"{r5['lines']:,} lines of {r5['chars_per_line']:.0f} characters"))
        if r4 and r6:
            out.append(Target(f"parsing the {kind} linearly: µs/line at 10^6 vs 10^4 operations",
                              (r6["parse"] / r6["lines"]) / (r4["parse"] / r4["lines"]), 1.25, "×",
                              "no quadratic step"))
    return out
