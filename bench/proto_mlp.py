"""Prototype (not engine code): a leaner reverse pass on arrays, measured on the MLP of the issue.

`python -m bench.proto_mlp [--runs 20]` compares, for the gradient with respect to all inputs and to
the weights only, time and tracemalloc peak (above the inputs) of
  engine      Program.grad as it is
  lean        the registry's own rules in a pass that (1) frees every forward value after its last
              forward use unless the backward pass reads it (adcli.cost's `reads` table), and after
              its last backward reader otherwise; (2) passes ḡ on unchanged where a local partial
              is the constant 1 and no broadcasting happened, instead of computing ḡ·1; (3) returns
              the accumulators without copying them unless read-only or sharing memory with an input
              or a value
  numpy       the hand-written forward and backward pass (bench.peers)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

import numpy as np  # noqa: E402

from .stats import interleaved, traced_peak  # noqa: E402


def shape_only(value):
    """A stand-in with the value's shape and no data: rules still read operand shapes."""
    return np.broadcast_to(np.float64(0.0), np.shape(value))


def lean_grad(program, given: dict, wrt_names=None) -> dict:
    from adcli.cost import COSTS
    from adcli.evaluate import bind_inputs
    from adcli.registry import OPS, one
    from adcli.reverse import depends_on

    graph = program.graph
    nodes = graph.nodes
    output = graph.output
    wrt = program.wrt_nodes(wrt_names)
    bound = bind_inputs(graph, given)
    active = depends_on(graph, wrt, output)
    n = output + 1
    # What the backward pass reads, and the last (lowest) step that reads it.
    last_read = [-1] * n
    for i in range(n):
        node = nodes[i]
        if node.op in ("input", "const") or not active[i]:
            continue
        for k, a in enumerate(node.args):
            if active[a]:
                for r in COSTS[node.op].reads_for(k):
                    j = i if r == "ans" else node.args[r]
                    last_read[j] = i if last_read[j] < 0 else min(last_read[j], i)
    last_use = [-1] * n
    for i in range(n):
        for a in nodes[i].args:
            last_use[a] = i
    values: list = [None] * n
    with np.errstate(all="ignore"):
        for i in range(n):
            node = nodes[i]
            if node.op == "input":
                values[i] = bound[i]
            elif node.op == "const":
                values[i] = node.data
            else:
                values[i] = OPS[node.op].forward(*(values[a] for a in node.args), **(node.params or {}))
                for a in set(node.args):
                    if last_use[a] == i and last_read[a] < 0 and nodes[a].op not in ("input", "const"):
                        values[a] = shape_only(values[a])  # nothing reads its data again
        result = values[output]
        freed_after: dict[int, list[int]] = {}
        for j in range(n):
            if last_read[j] >= 0 and j != output and nodes[j].op not in ("input", "const"):
                freed_after.setdefault(last_read[j], []).append(j)
        grads = {output: np.ones_like(result)}
        for i in range(output, -1, -1):
            g = grads.get(i)
            node = nodes[i]
            if g is not None and node.op not in ("input", "const"):
                op = OPS[node.op]
                xs = [values[a] for a in node.args]
                for k in range(len(xs) - 1, -1, -1):
                    a = node.args[k]
                    if not active[a]:
                        continue
                    if op.derivs is not None and op.derivs[k] is one and np.shape(g) == np.shape(xs[k]):
                        contribution = g  # ḡ·1: pass it on
                    else:
                        contribution = op.vjp(k, g, values[i], xs, node.params or {})
                    before = grads.get(a)
                    grads[a] = contribution if before is None else before + contribution
                del grads[i]  # passed on; an input's accumulator stays as its gradient
            for j in freed_after.get(i, ()):
                values[j] = shape_only(values[j])
    out = {}
    for w in wrt:
        g = grads.get(w)
        if g is None:
            g = np.zeros(np.shape(bound[w]))
        elif not (isinstance(g, np.ndarray) and g.flags.writeable) or any(
                np.may_share_memory(g, v) for v in values if isinstance(v, np.ndarray)):
            g = np.array(g, dtype=np.float64)  # read-only, or it may share an input's or a value's memory
        out[nodes[w].label] = g
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.proto_mlp", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    import adcli

    from . import gen, peers
    inputs = gen.mlp_inputs()
    program = adcli.parse(gen.MLP_SOURCE)
    weights = ["W1", "b1", "W2", "b2"]
    expected = program.grad(**inputs).grad
    got = lean_grad(program, inputs)
    error = max(float(np.max(np.abs(got[k] - expected[k]))) for k in expected)
    fns = {
        "engine, all inputs": lambda: program.grad(**inputs),
        "lean, all inputs": lambda: lean_grad(program, inputs),
        "numpy, all inputs": lambda: peers.mlp_numpy_grad(**inputs),
        "engine, weights": lambda: program.grad(wrt=weights, **inputs),
        "lean, weights": lambda: lean_grad(program, inputs, weights),
        "numpy, weights": lambda: peers.mlp_numpy_grad(**inputs, wrt_x=False),
        "engine forward": lambda: program.eval(**inputs),
    }
    times = interleaved(fns, args.runs)
    needed = sum(v.nbytes for v in inputs.values()) + (256 * 1024 + 256 * 10 + 1) * 8
    print(f"(lean vs engine: largest difference in any gradient {error:.2g})\n")
    print("| way | median | min – max | peak above inputs | peak / (inputs + needed) |\n|---|---|---|---|---|")
    for name, fn in fns.items():
        peak = traced_peak(fn)[0]
        st = times[name]
        print(f"| {name} | {st.median * 1e3:.1f} ms | {st.low * 1e3:.1f} – {st.high * 1e3:.1f} ms | "
              f"{peak / 1e6:.1f} MB | {peak / needed:.2f}× |")


if __name__ == "__main__":
    main()
