"""What a loop node holds, for the trace page to open: its body, line by line, and the values it
carries at some of its iterations (the first, the last and some between), as plain data.

A trace lists a loop kept as a loop as one step; the lecture's reader still wants to see what one
iteration computes and how the carried value moves along the loop. The body is the loop's own graph;
the carried values come from running the loop again a stretch at a time with its own kernel, so the
last row is the loop node's value to the bit.
"""

from __future__ import annotations

import numpy as np

from adcli.language.graph import CONST, INPUT
from adcli.operations import OPS
from adcli.operations.kernels import loop_run, while_states

ROWS = 12  # iterations shown: the first three, the last three, the others evenly between
LOOPS = ("loop", "while")


def sampled(count: int, rows: int = ROWS) -> list[int]:
    """The iterations (0 to count - 1) a table of at most `rows` rows shows."""
    if count <= rows:
        return list(range(count))
    between = np.linspace(3, count - 4, rows - 6).round().astype(int).tolist()
    return sorted({0, 1, 2, *between, count - 3, count - 2, count - 1})


def body_lines(nt, body) -> list[str]:
    """The body's operations as `label = formula`, in the order they run: the file's own, without
    the packing of several carried values into one vector and back."""
    graph, lines = body.graph, []
    plumbing: set[int] = set()
    if len(body.params) > 2:  # several carried values: unpacked first (a slice, a reshape), packed last
        packed = graph.inputs[1]
        for i, node in enumerate(graph.nodes):
            if (node.op == "getitem" and node.args == (packed,)) or (node.op == "reshape" and node.args[0] in plumbing):
                plumbing.add(i)
        out = graph.nodes[graph.output]
        if out.op == "concat":
            plumbing |= {graph.output, *(a for a in out.args if graph.nodes[a].op == "reshape")}
    for i, node in enumerate(graph.nodes):
        if node.op in (INPUT, CONST) or i in plumbing:
            continue
        labels = [nt.label(graph.nodes[a].label or str(graph.nodes[a].data)) for a in node.args]
        lines.append(nt.finish(f"{nt.label(node.label)} = {OPS[node.op].formula(labels, params=node.params)}"))
    return lines


def parts(body, carried: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The carried value as the names it packs (h, s, trail), each its own shape."""
    names = list(body.params[1:])
    if len(names) == 1:
        return [(names[0], carried)]
    found = []
    for name in names:  # loop_body's unpacking: getitem of a slice, then reshape, labelled by the name
        node = next((n for n in body.graph.nodes if n.op == "reshape" and n.label == name), None)
        if node is None:
            return [(", ".join(names), carried)]
        window = body.graph.nodes[node.args[0]].params["index"][0]
        found.append((name, np.reshape(np.ravel(carried)[window], node.params["shape"])))
    return found


def inside(nt, graph, index: int, values: dict) -> dict | None:
    """A loop node's body and its carried values along it, or None for any other node (or one whose
    operands the trace did not compute)."""
    node = graph.nodes[index]
    if node.op not in LOOPS:
        return None
    args = [values.get(a, graph.nodes[a].data) for a in node.args]
    if any(a is None for a in args):
        return None
    p = node.params
    body, start = p["body"], np.asarray(args[0], dtype=np.float64) + 0.0
    if node.op == "loop":
        params, first, step, count = args[1:], p["start"], p["step"], p["count"]
    else:  # a while loop: the count that ran, then the same steps as a for loop of that count
        split = p["split"]
        params, first, step = args[1:1 + split], 0, 1
        count = while_states(body, p["test"], start, args[1:], split, p["max_iter"], p.get("warn", False),
                             keep=False)[1]
    rows, carried, done = [], start, 0
    variable = body.params[0]
    for k in sampled(count):
        carried = loop_run(body, carried, params, first + done * step, step, k + 1 - done)
        done = k + 1
        at = f"{nt.label(variable)} = {first + k * step}" if node.op == "loop" else f"step {k + 1}"
        rows.append({"at": at, "values": [[nt.label(name), nt.finish(nt.num(v))] for name, v in parts(body, carried)]})
    reads = list(dict.fromkeys(nt.label(graph.nodes[a].label or "") for a in node.args[1:]))  # body and test may share one
    return {"kind": "for" if node.op == "loop" else "while", "count": count,
            "carried": [nt.label(name) for name in body.params[1:]], "reads": reads,
            "variable": nt.label(variable), "body": body_lines(nt, body), "rows": rows}
