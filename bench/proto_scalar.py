"""Prototype (not engine code): how fast can a scalar graph's gradient get in pure Python?

`python -m bench.proto_scalar [--n 100000]` times, on the generated chain and wide sum, from the
parsed program to the gradients:
  engine     Program.grad as it is
  plan       a prototype: one pass turns the node list into flat lists (operation code, operands),
             the forward runs plain float arithmetic, the backward one vjp call per node that
             returns both operands' contributions; activity computed while building the plan
  plan, cached   the same with the flat lists kept on the program (a second call)
  flat lists the graph as parallel lists (op name, first and second operand), taken from the nodes
             per call or kept by the parser; activity computed in the forward loop
  float tape the hand-written floor from bench.peers
It covers the four operations of the generated graphs only (add, sub, mul, relu).
"""

from __future__ import annotations

import argparse
import gc
import operator
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from .stats import repeat, traced_peak  # noqa: E402


def _relu(x):
    return x if x > 0.0 or x != x else 0.0  # NaN passes through, as np.maximum does


# Each entry: forward on floats, and vjp(g, ans, x, y) -> (contribution to x, contribution to y).
RULES = {
    "add": (operator.add, lambda g, ans, x, y: (g, g)),
    "sub": (operator.sub, lambda g, ans, x, y: (g, -g)),
    "mul": (operator.mul, lambda g, ans, x, y: (g * y, g * x)),
    "relu": (_relu, lambda g, ans, x, y: (g * (1.0 if ans > 0.0 else 0.0), None)),
}


def build_plan(graph, output: int, wrt: list[int]):
    """Flat lists for one output: forward steps, and backward steps over active nodes only."""
    nodes = graph.nodes
    n = output + 1
    active = [False] * n
    for w in wrt:
        active[w] = True
    consts = []
    forward = []  # (i, fn, a, b) with b = -1 for one operand
    backward = []  # (i, vjp, a, b, a_active, b_active), in reverse order
    for i in range(n):
        node = nodes[i]
        op = node.op
        if op == "input":
            continue
        if op == "const":
            consts.append((i, float(node.data)))
            continue
        fn, vjp = RULES[op]
        args = node.args
        a = args[0]
        b = args[1] if len(args) > 1 else -1
        forward.append((i, fn, a, b))
        act_a = active[a]
        act_b = b >= 0 and active[b]
        if act_a or act_b:
            active[i] = True
            backward.append((i, vjp, a, b, act_a, act_b))
    backward.reverse()
    return consts, forward, backward


def run_plan(plan, graph, given: dict, output: int, wrt: list[int]) -> dict:
    consts, forward, backward = plan
    nodes = graph.nodes
    vals = [0.0] * (output + 1)
    for i in graph.inputs:
        vals[i] = float(given[nodes[i].label])
    for i, v in consts:
        vals[i] = v
    for i, fn, a, b in forward:
        vals[i] = fn(vals[a]) if b < 0 else fn(vals[a], vals[b])
    grads = [0.0] * (output + 1)
    grads[output] = 1.0
    for i, vjp, a, b, act_a, act_b in backward:
        g = grads[i]
        ca, cb = vjp(g, vals[i], vals[a], vals[b] if b >= 0 else None)
        if act_a:
            grads[a] += ca
        if act_b:
            grads[b] += cb
    return {nodes[w].label: grads[w] for w in wrt}


def flat_lists(graph):
    """Struct-of-arrays view of the graph: what a builder could fill while it parses."""
    nodes = graph.nodes
    ops = [n.op for n in nodes]
    first = [n.args[0] if n.args else -1 for n in nodes]
    second = [n.args[1] if len(n.args) > 1 else -1 for n in nodes]
    consts = [(i, float(n.data)) for i, n in enumerate(nodes) if n.op == "const"]
    return ops, first, second, consts


def run_flat(flat, graph, given: dict, output: int, wrt: list[int]) -> dict:
    """Forward (values and activity together), then backward, over the flat lists; no Node objects."""
    ops, first, second, consts = flat
    nodes = graph.nodes
    n = output + 1
    vals = [0.0] * n
    active = [False] * n
    for i in graph.inputs:
        vals[i] = float(given[nodes[i].label])
    for w in wrt:
        active[w] = True
    for i, v in consts:
        vals[i] = v
    rules = RULES
    for i in range(n):
        rule = rules.get(ops[i])
        if rule is None:
            continue
        a, b = first[i], second[i]
        if b < 0:
            vals[i] = rule[0](vals[a])
            active[i] = active[a]
        else:
            vals[i] = rule[0](vals[a], vals[b])
            active[i] = active[a] or active[b]
    grads = [0.0] * n
    grads[output] = 1.0
    for i in range(output, -1, -1):
        if not active[i]:
            continue
        rule = rules.get(ops[i])
        if rule is None:
            continue
        a, b = first[i], second[i]
        ca, cb = rule[1](grads[i], vals[i], vals[a], vals[b] if b >= 0 else None)
        if active[a]:
            grads[a] += ca
        if b >= 0 and active[b]:
            grads[b] += cb
    return {nodes[w].label: grads[w] for w in wrt}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.proto_scalar", description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    import adcli

    from . import gen, peers
    print("| graph | way | µs/op median | min – max | peak B/op (tracemalloc) |\n|---|---|---|---|---|")
    for kind in ("chain", "wide"):
        source, given, (inputs, ops) = gen.scalar_workload(kind, args.n)
        program = adcli.parse(source)
        graph, out = program.graph, program.graph.output
        wrt = list(graph.inputs)
        expected = program.grad(**given).grad
        plan = build_plan(graph, out, wrt)
        flat = flat_lists(graph)
        for got in (run_plan(plan, graph, given, out, wrt), run_flat(flat, graph, given, out, wrt)):
            assert all(float(expected[k]) == got[k] for k in got), "prototype disagrees with the engine"
        ways = {
            "engine (Program.grad)": lambda: program.grad(**given),
            "plan (built per call)": lambda: run_plan(build_plan(graph, out, wrt), graph, given, out, wrt),
            "plan, cached": lambda: run_plan(plan, graph, given, out, wrt),
            "flat lists, taken from the nodes per call": lambda: run_flat(flat_lists(graph), graph, given, out, wrt),
            "flat lists, kept by the parser": lambda: run_flat(flat, graph, given, out, wrt),
            "float tape (peers)": lambda: peers.float_tape(inputs, ops),
        }
        for name, fn in ways.items():
            st = repeat(fn, args.runs).scaled(len(ops) / 1e6)
            peak = traced_peak(fn)[0] / len(ops)
            print(f"| {kind} | {name} | {st.median:.3g} | {st.low:.3g} – {st.high:.3g} | {peak:.0f} |")
        gc.collect()


if __name__ == "__main__":
    main()
