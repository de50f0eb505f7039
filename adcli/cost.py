"""Cost estimates: operations, floating-point operations and memory of each way to differentiate.

Shapes alone decide every figure, so nothing is evaluated: a shape pass runs the registry's shape
rules, then each pass (forward, reverse, forward mode) is simulated over the node list, freeing
every value, tangent and gradient accumulator after its last use. Memory counts array payloads,
8 bytes per float64 element; Python's per-object overhead is not included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError, ShapeError
from .evaluate import check_declared, infer_shapes, unknown_input_message
from .graph import LEAVES, Graph
from .registry import OPS
from .reverse import depends_on

ITEM_BYTES = 8  # float64

Shape = tuple


def size(shape: Shape) -> int:
    return math.prod(shape)


# ---------------------------------------------------------------------------------------------
# Shapes: from given values or declarations, then through every operation's shape rule
# ---------------------------------------------------------------------------------------------

def input_shapes(graph: Graph, given: dict, dims: dict[str, int] | None = None) -> dict[int, Shape]:
    """Input node -> shape, from a given value, else from its declaration (named sizes from `dims`
    or from given values); an InputError when an input's shape cannot be known."""
    names = {graph.nodes[i].label: i for i in graph.inputs}
    for name in given:
        if name not in names:
            raise InputError(unknown_input_message(name, list(names)))
    known: dict[str, tuple[int, str]] = {}  # named dimension -> (size, the input that fixed it)
    shapes: dict[int, Shape] = {}
    for name, index in names.items():  # values first: their sizes fix the named dimensions
        if name in given:
            shape = tuple(np.shape(given[name]))
            declared = graph.nodes[index].data
            if declared is not None:
                check_declared(graph, index, name, shape, declared, known)
            shapes[index] = shape
    for dim, n in (dims or {}).items():
        if dim in known and known[dim][0] != n:
            raise InputError(f"--dim {dim}={n}: dimension '{dim}' is {known[dim][0]} in input '{known[dim][1]}'")
        known.setdefault(dim, (n, "--dim"))
    for name, index in names.items():
        if index in shapes:
            continue
        declared = graph.nodes[index].data
        if declared is None:
            raise InputError(f"the shape of input '{name}' is unknown: give a value (--set {name}=...) "
                             f"or declare it (input {name}: [3, 4])", graph.span(index))
        unknown = [d for d in declared if isinstance(d, str) and d not in known]
        if unknown:
            raise InputError(f"dimension '{unknown[0]}' of input '{name}' is unknown: give it with "
                             f"--dim {unknown[0]}=SIZE, or a value for an input that has it", graph.span(index))
        shapes[index] = tuple(d if isinstance(d, int) else known[d][0] for d in declared)
    return shapes


def ancestors(graph: Graph, output: int) -> list[bool]:
    """For each node up to `output`, whether the output depends on it (one backward sweep)."""
    needed = [False] * (output + 1)
    needed[output] = True
    nodes = graph.nodes
    for i in range(output, -1, -1):
        if needed[i]:
            for a in nodes[i].args:
                needed[a] = True
    return needed


# ---------------------------------------------------------------------------------------------
# The estimate
# ---------------------------------------------------------------------------------------------

@dataclass
class PassCost:
    """One pass: floating-point operations, and bytes (payload) at its peak and kept between phases."""

    flops: int
    peak_bytes: int
    kept_bytes: int = 0  # reverse: values the backward pass reads, held from the forward pass


@dataclass
class Cost:
    """What evaluating and differentiating one output costs, for the given input shapes."""

    output: str
    output_shape: Shape
    inputs: list[tuple[str, Shape]]  # every input the output depends on, in input order
    wrt: list[str]
    operations: int
    by_op: list[tuple[str, int, int]]  # (operation, count, forward flops), most flops first
    resident_bytes: int  # inputs and constants: held by the caller and the program throughout
    forward: PassCost
    all_values_bytes: int  # a tape that keeps every value instead of freeing
    reverse: PassCost
    forward_mode: PassCost
    jacobian_rows: int  # elements of the output
    jacobian_columns: int  # elements of the inputs in `wrt`
    notes: list[str] = field(default_factory=list)

    @property
    def jacobian(self) -> dict:
        """Passes and flops of the full Jacobian in each mode, and the cheaper one."""
        fwd = self.jacobian_columns * self.forward_mode.flops
        rev = self.jacobian_rows * self.reverse.flops
        if fwd < rev:
            mode = "forward"
        elif rev < fwd:
            mode = "reverse"
        else:
            mode = "either"
        return {"forward": {"passes": self.jacobian_columns, "flops": fwd,
                            "peak_bytes": self.forward_mode.peak_bytes},
                "reverse": {"passes": self.jacobian_rows, "flops": rev, "peak_bytes": self.reverse.peak_bytes},
                "recommended": mode}

    def recommendation(self) -> str:
        """One sentence: which mode, and why, in passes and flops."""
        j = self.jacobian
        mode, rows, cols = j["recommended"], self.jacobian_rows, self.jacobian_columns
        if cols == 0:
            return "nothing to differentiate: no input is chosen"
        if mode == "either":
            return f"either mode: {rows:,} reverse pass(es) cost as much as {cols:,} forward pass(es)"
        other = "forward" if mode == "reverse" else "reverse"
        factor = j[other]["flops"] / max(j[mode]["flops"], 1)
        times = f"{factor:,.0f}" if factor >= 100 else f"{factor:.3g}"
        shape = (f"{rows:,} output element{'s' if rows != 1 else ''} and "
                 f"{cols:,} input element{'s' if cols != 1 else ''}")
        return (f"{mode} mode: {j[mode]['passes']:,} pass{'es' if j[mode]['passes'] != 1 else ''} instead of "
                f"{j[other]['passes']:,} ({times}× fewer flops) for {shape}")

    def to_json(self) -> dict:
        j = self.jacobian
        return {
            "output": {"name": self.output, "shape": list(self.output_shape)},
            "inputs": [{"name": n, "shape": list(s), "bytes": size(s) * ITEM_BYTES} for n, s in self.inputs],
            "wrt": list(self.wrt),
            "bytes_per_element": ITEM_BYTES,
            "operations": self.operations,
            "by_op": [{"op": name, "count": count, "flops": flops} for name, count, flops in self.by_op],
            "resident_bytes": self.resident_bytes,
            "forward": {"flops": self.forward.flops, "peak_bytes": self.forward.peak_bytes,
                        "all_values_bytes": self.all_values_bytes},
            "reverse": {"flops": self.reverse.flops, "kept_bytes": self.reverse.kept_bytes,
                        "peak_bytes": self.reverse.peak_bytes},
            "forward_mode": {"flops": self.forward_mode.flops, "peak_bytes": self.forward_mode.peak_bytes},
            "jacobian": {"rows": self.jacobian_rows, "columns": self.jacobian_columns,
                         "forward": j["forward"], "reverse": j["reverse"], "recommended": j["recommended"],
                         "recommendation": self.recommendation()},
            "notes": list(self.notes),
        }


def estimate(graph: Graph, shapes_of_inputs: dict[int, Shape], output: int, wrt: list[int],
             output_name: str | None = None) -> Cost:
    """The cost of the output `output`, differentiated with respect to input nodes `wrt`."""
    nodes = graph.nodes
    needed = ancestors(graph, output)
    shapes = infer_shapes(graph, shapes_of_inputs, output + 1, needed, check=False)
    sizes = [0 if s is None else size(s) for s in shapes]
    order = [i for i in range(output + 1) if needed[i] and nodes[i].op not in LEAVES]
    is_op = [needed[i] and nodes[i].op not in LEAVES for i in range(output + 1)]
    rules = {name: OPS[name] for name in dict.fromkeys(nodes[i].op for i in order)}

    flops_fwd, by_op = 0, {}
    for i in order:
        node = nodes[i]
        f = rules[node.op].flops(shapes[i], [shapes[a] for a in node.args], node.params or {})
        flops_fwd += f
        count, total = by_op.get(node.op, (0, 0))
        by_op[node.op] = (count + 1, total + f)

    resident = sum(sizes[i] for i in range(output + 1) if needed[i] and not is_op[i])
    last_use = [-1] * (output + 1)  # the last operation that reads each value as an operand
    for i in order:
        for a in nodes[i].args:
            last_use[a] = i
    last_use[output] = output + 1  # the result is returned, never freed

    forward_peak = simulate_forward(order, nodes, sizes, last_use, is_op, keep=None)
    active = depends_on(graph, wrt, output)
    reverse = reverse_pass(order, nodes, shapes, sizes, last_use, is_op, active, rules, flops_fwd, output)
    fmode = forward_mode_pass(order, nodes, shapes, sizes, last_use, is_op, active, rules, flops_fwd)
    wrt_elements = sum(size(shapes_of_inputs[w]) for w in wrt)
    seeds = sum(sizes[w] for w in wrt if w <= output and needed[w])

    inputs = [(nodes[i].label, shapes_of_inputs[i]) for i in graph.inputs if i <= output and needed[i]]
    notes = []
    unused = [nodes[w].label for w in wrt if not (w <= output and needed[w])]
    if unused:
        notes.append(f"the output does not depend on {', '.join(unused)}: its gradient is zero")
    b = ITEM_BYTES
    return Cost(
        output=output_name or nodes[output].label, output_shape=shapes[output], inputs=inputs,
        wrt=[nodes[w].label for w in wrt], operations=len(order),
        by_op=sorted(((name, c, f) for name, (c, f) in by_op.items()), key=lambda t: (-t[2], -t[1], t[0])),
        resident_bytes=resident * b,
        forward=PassCost(flops_fwd, (resident + forward_peak) * b),
        all_values_bytes=(resident + sum(sizes[i] for i in order)) * b,
        reverse=PassCost(reverse[0], (resident + reverse[1]) * b, reverse[2] * b),
        forward_mode=PassCost(fmode[0], (resident + seeds + fmode[1]) * b),
        jacobian_rows=sizes[output], jacobian_columns=wrt_elements, notes=notes,
    )


def simulate_forward(order, nodes, sizes, last_use, is_op, keep) -> int:
    """Peak elements live in a forward pass that frees each value after its last use (unless kept)."""
    live = peak = 0
    for i in order:
        live += sizes[i]
        peak = max(peak, live)
        for a in dict.fromkeys(nodes[i].args):  # x·x frees x once
            if is_op[a] and last_use[a] == i and not (keep and keep[a]):
                live -= sizes[a]
    return peak


def reverse_pass(order, nodes, shapes, sizes, last_use, is_op, active, rules, flops_fwd, output):
    """(flops, peak elements, elements kept for the backward pass) of one reverse pass."""
    # Which forward values the backward pass reads, and the last (lowest-numbered) step reading each.
    keep = [False] * (output + 1)
    last_read = [output + 1] * (output + 1)
    for i in order:
        if not active[i]:
            continue
        op, args = OPS[nodes[i].op], nodes[i].args
        for k, a in enumerate(args):
            if not active[a]:
                continue
            for r in op.reads_for(k):
                for j in (i,) if r == "ans" else args if r == "*" else (args[r],):
                    if is_op[j]:
                        keep[j] = True
                        last_read[j] = min(last_read[j], i)
    keep[output] = True
    peak = simulate_forward(order, nodes, sizes, last_use, is_op, keep)
    kept = sum(sizes[i] for i in order if keep[i])
    freed_at: dict[int, list[int]] = {}
    for i in order:
        if keep[i] and i != output and last_read[i] <= output:
            freed_at.setdefault(last_read[i], []).append(i)

    flops = flops_fwd
    live = kept
    has_grad = [False] * (output + 1)
    if active[output]:
        has_grad[output] = True
        live += sizes[output]  # the seed, ones
    peak = max(peak, live)
    for i in reversed(order):
        if has_grad[i]:
            node = nodes[i]
            rule, args = rules[node.op], node.args
            arg_shapes = [shapes[a] for a in args]
            for k in range(len(args) - 1, -1, -1):
                a = args[k]
                if not active[a]:
                    continue
                flops += rule.deriv_flops(k, shapes[i], arg_shapes, node.params or {})
                if has_grad[a]:  # a contribution beside the accumulator, then added into it
                    peak = max(peak, live + sizes[a])
                    flops += sizes[a]
                else:  # the first contribution becomes the accumulator
                    has_grad[a] = True
                    live += sizes[a]
                    peak = max(peak, live)
            live -= sizes[i]  # this accumulator has passed everything on
        for j in freed_at.get(i, ()):
            live -= sizes[j]
    return flops, peak, kept


def forward_mode_pass(order, nodes, shapes, sizes, last_use, is_op, active, rules, flops_fwd):
    """(flops, peak elements beyond the seeds) of one forward-mode pass: values and tangents together."""
    flops = flops_fwd
    live = peak = 0
    for i in order:
        node = nodes[i]
        live += sizes[i] * (2 if active[i] else 1)
        peak = max(peak, live)
        if active[i]:
            rule, args = rules[node.op], node.args
            arg_shapes = [shapes[a] for a in args]
            terms = 0
            for k, a in enumerate(args):
                if active[a]:
                    flops += rule.deriv_flops(k, shapes[i], arg_shapes, node.params or {})
                    terms += 1
            flops += max(terms - 1, 0) * sizes[i]  # the terms' sum
        for a in dict.fromkeys(node.args):  # x·x frees x once
            if is_op[a] and last_use[a] == i:
                live -= sizes[a] * (2 if active[a] else 1)
    return flops, peak


def program_cost(program, given: dict, of: str | None = None, wrt=None, dims: dict | None = None) -> Cost:
    """The cost of a Program's output for the shapes of `given` values and of declared inputs."""
    name, output = program.output_node(of)
    wrt_nodes = program.wrt_nodes(wrt)
    shapes = input_shapes(program.graph, given, dims)
    return estimate(program.graph, shapes, output, wrt_nodes, name)
