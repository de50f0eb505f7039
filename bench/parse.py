"""Case 8: parsing. adcli's parse (Lark's LALR with adcli's reductions, then the graph built)
against Lark's own LALR on the same grammar and post-lexer with callbacks that do nothing (the
floor for any parser on Lark), and a second load of an unchanged file from the program cache."""

from __future__ import annotations

from .report import Table, Target, run_worker
from .stats import Stats, fmt_stats


def run(quick: bool) -> tuple[list[Table], list[Target], list[dict]]:
    sizes = (10**4,) if quick else (10**4, 10**5)
    results = [run_worker({"task": "parse", "n": n, "runs": 3 if quick else 5}, timeout=1800) for n in sizes]
    table = Table("8. Parsing: adcli against Lark's LALR with null callbacks, and the program cache",
                  ["file", "implementation", "median", "min – max", "per line", "ratio"])
    targets = []
    for n, r in zip(sizes, results):
        if "error" in r:
            table.notes.append(f"chain {n}: {r['error']}")
            continue
        times = {k: Stats.from_dict(v) for k, v in r["time"].items()}
        lark, adcli, cached = times["Lark, null callbacks"], times["adcli parse"], times["adcli, from the cache"]
        label = f"chain, {r['lines']:,} lines"
        table.rows.append([label, "Lark, null callbacks", *fmt_stats(lark), f"{lark.median / r['lines'] * 1e6:.1f} µs",
                           "1.00×"])
        table.rows.append([label, "adcli parse (graph built)", *fmt_stats(adcli),
                           f"{adcli.median / r['lines'] * 1e6:.1f} µs", f"{adcli.median / lark.median:.2f}×"])
        table.rows.append([label, "adcli, from the program cache", *fmt_stats(cached),
                           f"{cached.median / r['lines'] * 1e6:.1f} µs",
                           f"parse / cache {adcli.median / cached.median:.1f}×"])
        targets.append(Target(f"parse of {r['lines']:,} lines vs Lark's LALR with null callbacks",
                              adcli.median / lark.median, 1.15, "×", "interleaved in one process"))
        targets.append(Target(f"{r['lines']:,} lines: from the program cache vs parsing (inverse, ≤ 1/10)",
                              cached.median / adcli.median, 0.1, "", f"{adcli.median / cached.median:.1f}× faster"))
    table.notes.append("The three interleaved in one process, the garbage collector as the engine leaves it; "
                       "the cache row reads the entry a first load wrote (the digest of the source, the "
                       "checksum and every field checked).")
    return [table], targets, results
