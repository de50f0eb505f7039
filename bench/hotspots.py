"""Where the time and memory go: `python -m bench.hotspots [--tree DIR] [--n 100000]`.

Profiles (cProfile, tracemalloc, -X importtime) of start-up, parsing and the gradient of the
scalar chain, and of the MLP gradient; prints Markdown for the performance plan.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"


def top_functions(profile: cProfile.Profile, limit: int = 12) -> str:
    """The functions with the most time of their own, as a Markdown table."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = sum(v[2] for v in stats.stats.values())
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:limit]
    lines = ["| function | calls | own time | share | with callees |", "|---|---|---|---|---|"]
    for (file, line, name), (cc, nc, tt, ct, _) in rows:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        lines.append(f"| `{name}` ({where}) | {nc:,} | {tt:.3f} s | {tt / total:.0%} | {ct:.3f} s |")
    return "\n".join(lines) + f"\n\n(total own time under the profiler: {total:.2f} s)\n"


def by_line(snapshot, limit: int = 8, per: int = 1) -> str:
    """Bytes held, grouped by the line that allocated them."""
    lines = ["| allocated at | bytes | per node | blocks |", "|---|---|---|---|"]
    for stat in snapshot.statistics("lineno")[:limit]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}"
        lines.append(f"| {where} | {stat.size:,} | {stat.size / per:.1f} | {stat.count:,} |")
    return "\n".join(lines) + "\n"


def startup_section(tree: str | None) -> str:
    """-X importtime of the CLI: the modules that cost the most, with their imports."""
    # -c puts the working directory first on the path: a chosen tree must come before it
    code = (f"import sys; sys.path.insert(0, {tree!r}); " if tree else "") + "import adcli.cli.app"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                         text=True, env=os.environ).stderr
    rows = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative, name = line.replace("import time:", "").split("|")
        name = name[1:].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((int(cumulative), int(self_us), depth, name.strip()))
    total = max(r[0] for r in rows)
    top = sorted((r for r in rows if r[2] <= 4), reverse=True)[:25]
    lines = ["| module | depth | cumulative | own |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {depth} | {cum / 1e3:.1f} ms | {own / 1e3:.1f} ms |" for cum, own, depth, name in top]
    return (f"### Start-up: `python -X importtime -c \"import adcli.cli.app\"` (total {total / 1e3:.0f} ms)\n\n"
            + "\n".join(lines) + "\n")


def parse_section(n: int) -> tuple[str, object]:
    import adcli

    from . import gen
    source = gen.chain_source(n)
    adcli.parse(gen.chain_source(8))  # grammar loaded
    out = [f"### Parsing the {n:,}-line chain\n"]
    for label, collector in (("garbage collector on", True), ("garbage collector off", False)):
        gc.collect()
        gc.enable() if collector else gc.disable()
        start = time.perf_counter()
        adcli.parse(source)
        elapsed = time.perf_counter() - start
        gc.enable()
        out.append(f"- {label} (outside the parser; the parser may pause it itself): {elapsed:.2f} s, "
                   f"{elapsed / n * 1e6:.1f} µs/line")
    profile = cProfile.Profile()
    profile.enable()
    program = adcli.parse(source)
    profile.disable()
    out.append("\ncProfile, own time:\n\n" + top_functions(profile))
    del program
    gc.collect()
    tracemalloc.start()
    program = adcli.parse(source)
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    nodes = len(program.graph.nodes)
    out.append(f"tracemalloc: the parsed program holds {current:,} bytes ({current / nodes:.0f} per node, "
               f"{nodes:,} nodes); the parse peaked at {peak:,} bytes ({peak / n:.0f} per line, the source text "
               f"of {len(source):,} bytes excluded).\n\nWhat the program holds, by line:\n")
    out.append(by_line(snapshot, per=nodes))
    return "\n".join(out) + "\n", program


def grad_section(program, n: int) -> str:
    from . import gen
    given = dict(gen.chain_ops(n)[0])
    program.grad(**given)
    out = [f"### Gradient of the {n:,}-operation chain, from the parsed program\n"]
    gc.collect()
    start = time.perf_counter()
    program.grad(**given)
    elapsed = time.perf_counter() - start
    out.append(f"- one call: {elapsed * 1e3:.0f} ms, {elapsed / n * 1e6:.2f} µs per operation")
    profile = cProfile.Profile()
    profile.enable()
    program.grad(**given)
    profile.disable()
    out.append("\ncProfile, own time:\n\n" + top_functions(profile))
    gc.collect()
    tracemalloc.start()
    program.values(given)
    forward_current, forward_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    program.grad(**given)
    _, grad_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out.append(f"tracemalloc: every value (Program.values) {forward_peak:,} bytes at peak, {forward_peak / n:.0f} "
               f"per operation; the gradient call {grad_peak:,} bytes at peak, {grad_peak / n:.0f} per operation.\n")
    return "\n".join(out) + "\n"


def mlp_section() -> str:
    import adcli
    from adcli.engine.evaluate import bind_inputs, evaluate
    from adcli.engine.reverse import backward

    from . import gen
    inputs = gen.mlp_inputs()
    program = adcli.parse(gen.MLP_SOURCE)
    program.grad(**inputs)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(5):
        program.grad(**inputs)
    profile.disable()
    out = ["### MLP gradient\n", "cProfile over 5 calls, own time:\n", top_functions(profile, 10)]
    graph = program.graph
    out_node, wrt = graph.output, list(graph.inputs)
    best = {"bytes": 0, "snapshot": None, "at": None}

    def on_update(node, k, operand, before, upstream, contribution, after):
        current = tracemalloc.get_traced_memory()[0]
        if current > best["bytes"]:
            best.update(bytes=current, snapshot=tracemalloc.take_snapshot(),
                        at=f"node {graph.nodes[node].label} → operand {graph.nodes[operand].label}")
    gc.collect()
    tracemalloc.start()
    values = evaluate(graph, bind_inputs(graph, inputs))
    after_forward = tracemalloc.get_traced_memory()[0]
    backward(graph, values, out_node, wrt, on_update=on_update)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    held = [(graph.nodes[i].label, graph.nodes[i].op, v.nbytes) for i, v in enumerate(values)
            if graph.nodes[i].op not in ("input", "const") and hasattr(v, "nbytes")]
    out.append(f"tracemalloc (inputs allocated before): forward values {after_forward:,} bytes; peak "
               f"{peak:,} bytes; the largest point seen between accumulator updates: {best['bytes']:,} bytes, "
               f"at {best['at']}.\n\nValues the forward pass keeps: "
               + ", ".join(f"{label} ({op}) {nbytes:,} B" for label, op, nbytes in held) + "\n")
    if best["snapshot"] is not None:
        out.append("At that point, by line:\n\n" + by_line(best["snapshot"], 10))
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotspots", description=__doc__)
    parser.add_argument("--tree", metavar="DIR", help="profile the adcli package in this source tree")
    parser.add_argument("--n", type=int, default=100_000, help="chain length (default 100000)")
    args = parser.parse_args(argv)
    if args.tree:
        tree = str(Path(args.tree).resolve())
        sys.path.insert(0, tree)
        os.environ["PYTHONPATH"] = tree + os.pathsep + os.environ.get("PYTHONPATH", "")
    import adcli
    print(f"## Profile of adcli from {Path(adcli.__file__).parent.parent}\n")
    print(startup_section(str(Path(args.tree).resolve()) if args.tree else None))
    text, program = parse_section(args.n)
    print(text)
    print(grad_section(program, args.n))
    print(mlp_section())


if __name__ == "__main__":
    main()
