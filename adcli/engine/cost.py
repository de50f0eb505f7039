"""Cost estimates: operations, floating-point operations and memory of each way to differentiate.

Shapes alone decide every figure, so nothing is evaluated: a shape pass runs the registry's shape
rules, then each pass (forward, reverse, forward mode) is simulated over the node list, freeing
every value, tangent and gradient accumulator after its last use. Memory counts array payloads,
8 bytes per float64 element; Python's per-object overhead is not included. Only the coloured
passes of a sparse Jacobian (add_colours) run the program, once, to find its pattern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from adcli.engine.checkpoint import plain, predict
from adcli.engine.evaluate import check_declared, infer_shapes, unknown_input_message
from adcli.engine.reverse import backward_reads, depends_on
from adcli.errors import InputError
from adcli.language.graph import FLOAT, LEAVES, Graph
from adcli.operations import OPS

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
    coloured: dict | None = None  # passes when the sparse Jacobian (and Hessian) are compressed by colouring

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
        coloured = self.coloured_json().get("coloured")
        if coloured:  # a compressed sparse Jacobian: the cheaper coloured mode, against the best dense one
            best = min(("forward", "reverse"), key=lambda m: coloured[m]["flops"])
            c = coloured[best]
            if c["flops"] < j[mode]["flops"]:
                factor = j[mode]["flops"] / max(c["flops"], 1)
                times = f"{factor:,.0f}" if factor >= 100 else f"{factor:.3g}"
                return (f"{best} mode, coloured: {c['passes']:,} pass{'es' if c['passes'] != 1 else ''} instead of "
                        f"{j[mode]['passes']:,} ({times}× fewer flops) for {shape}")
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
                         "recommendation": self.recommendation(), **self.coloured_json()},
            "notes": list(self.notes),
        }

    def coloured_json(self) -> dict:
        """The coloured passes, with their flops at one pass's cost each."""
        c = self.coloured
        if c is None:
            return {}
        out = {"stored": c["stored"],
               "forward": {"passes": c["forward"], "flops": c["forward"] * self.forward_mode.flops},
               "reverse": {"passes": c["reverse"], "flops": c["reverse"] * self.reverse.flops}}
        if c.get("hessian"):
            out["hessian"] = {"passes": c["hessian"]["passes"], "dense_passes": self.jacobian_columns,
                              "stored": c["hessian"]["stored"]}
        return {"coloured": out}


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
    # memory by the engine's own schedule (checkpoint.predict follows the reverse pass step by step)
    plain_pass = predict(graph, output, wrt, plain(graph, output, wrt), shapes, floats=False)
    reverse = (reverse_flops(order, nodes, shapes, active, rules, flops_fwd, output),
               plain_pass.peak // ITEM_BYTES - resident, plain_pass.kept // ITEM_BYTES)
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


def reverse_flops(order, nodes, shapes, active, rules, flops_fwd, output) -> int:
    """Flops of one reverse pass: the forward pass, then each active operand's share and its sum."""
    flops = flops_fwd
    has_grad = [False] * (output + 1)
    has_grad[output] = active[output]
    for i in reversed(order):
        if not has_grad[i]:
            continue
        node = nodes[i]
        rule, args = rules[node.op], node.args
        arg_shapes = [shapes[a] for a in args]
        for k in range(len(args) - 1, -1, -1):
            a = args[k]
            if active[a]:
                flops += rule.deriv_flops(k, shapes[i], arg_shapes, node.params or {})
                if has_grad[a]:  # a contribution added into the accumulator
                    flops += size(shapes[a])
                has_grad[a] = True
    return flops


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


RUN_LIMIT = 256 * 2**20  # the largest forward pass `cost` runs to find a sparsity pattern


def add_colours(cost: Cost, program, given: dict, of=None, wrt=None, dims: dict | None = None) -> None:
    """The coloured passes of a sparse Jacobian and Hessian, beside the dense ones. The pattern is
    structural, so float inputs without a value take 0.5; integers (indices) must be given, and a
    program too large to run once here is left uncoloured, with a note."""
    from adcli.engine.matrices import colour_counts
    if cost.forward.peak_bytes > RUN_LIMIT:
        cost.notes.append("colours: not computed, since finding the pattern runs the program once and this one "
                          f"needs {cost.forward.peak_bytes:,} bytes")
        return
    graph = program.graph
    values = dict(given)
    for index, shape in input_shapes(graph, given, dims).items():
        node = graph.nodes[index]
        if node.label not in values:
            if node.dtype != FLOAT:
                cost.notes.append(f"colours: not computed without the values of integer input '{node.label}' "
                                  f"(--set {node.label}=...)")
                return
            values[node.label] = np.full(shape, 0.5)
    cost.coloured = colour_counts(program, of, wrt, **values)
    if cost.coloured is None or ("hessian" in cost.coloured and cost.coloured["hessian"] is None):
        which = "Jacobian's" if cost.coloured is None else "Hessian's"
        cost.notes.append(f"colours: the {which} pattern is too large to build (over 20 million element pairs)")


# ---------------------------------------------------------------------------------------------
# Checkpointing schedules, and what the backward pass keeps
# ---------------------------------------------------------------------------------------------

@dataclass
class ScheduleCost:
    """One way to run the reverse pass: its segments, what the forward pass keeps, the peak."""

    schedule: str
    segments: int
    kept_values: int
    kept_bytes: int
    peak_bytes: int
    extra_flops: int  # forward work done again
    resident_bytes: int  # inputs and constants, held throughout (included in the peak)

    def to_json(self) -> dict:
        return {"schedule": self.schedule, "segments": self.segments, "kept_values": self.kept_values,
                "kept_bytes": self.kept_bytes, "peak_bytes": self.peak_bytes, "extra_flops": self.extra_flops,
                "resident_bytes": self.resident_bytes}


def node_shapes(program, given: dict, of=None, dims=None) -> tuple[list, int, list[int]]:
    """(every node's shape up to the output, the output node, the wrt nodes) from shapes alone."""
    graph = program.graph
    _, out = program.output_node(of)
    shapes = infer_shapes(graph, input_shapes(graph, given, dims), out + 1, ancestors(graph, out), check=False)
    return shapes, out, program.wrt_nodes(None)


def schedule_costs(program, given: dict, kinds, of=None, wrt=None, dims=None, budget=None) -> list[ScheduleCost]:
    """The plain pass, √n segments, and each schedule asked for: predicted peak and extra work."""
    from adcli.engine.checkpoint import choose
    graph = program.graph
    shapes, out, _ = node_shapes(program, given, of, dims)
    wrt_nodes = program.wrt_nodes(wrt)
    rows, seen = [], set()
    for kind in ["none", "sqrt", *kinds]:
        schedule = choose(graph, out, wrt_nodes, kind, shapes, budget if kind == "auto" else None)
        key = (tuple(schedule.starts), schedule.kind)
        if key in seen:
            continue
        seen.add(key)
        p = predict(graph, out, wrt_nodes, schedule, shapes)
        kept = [i for i in range(out + 1) if schedule.kept[i]] if len(schedule.segments) > 1 else \
            [i for i, r in enumerate(backward_reads(graph, out, wrt_nodes)) if r and graph.nodes[i].op not in LEAVES]
        rows.append(ScheduleCost(schedule.kind, len(schedule.segments), len(kept), p.kept, p.peak, p.extra_flops,
                                 p.resident))
    return rows


@dataclass
class Saved:
    """A value the backward pass keeps from the forward pass."""

    name: str
    shape: Shape
    bytes: int
    line: int
    col: int
    where: str  # the loop iteration or call that made it

    def to_json(self, file: str) -> dict:
        return {"name": self.name, "shape": list(self.shape), "bytes": self.bytes, "file": file,
                "line": self.line, "col": self.col, **({"where": self.where} if self.where else {})}


def saved_values(program, given: dict, of=None, wrt=None, dims=None, kind=None, budget=None) -> list[Saved]:
    """What the backward pass keeps (by a checkpointing schedule, its checkpoints), largest first."""
    from adcli.engine.checkpoint import choose
    graph = program.graph
    shapes, out, _ = node_shapes(program, given, of, dims)
    wrt_nodes = program.wrt_nodes(wrt)
    if kind is None:
        keep = backward_reads(graph, out, wrt_nodes)
    else:
        keep = choose(graph, out, wrt_nodes, kind, shapes, budget).kept
    nodes = graph.nodes
    rows = [Saved(nodes[i].label, tuple(shapes[i]), size(shapes[i]) * ITEM_BYTES, nodes[i].line, nodes[i].col,
                  graph.where(i)) for i in range(out + 1) if keep[i] and nodes[i].op not in LEAVES]
    return sorted(rows, key=lambda s: (-s.bytes, s.line, s.col))
