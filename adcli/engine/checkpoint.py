"""Checkpointing: reverse mode that keeps values only at segment boundaries and recomputes each
segment during the backward pass, trading one more forward pass for memory.

The nodes up to the output, in evaluation order, are cut into segments. The forward pass keeps
only the values a later segment reads (each boundary's live set) and the output; the backward
pass then takes the segments last to first: it recomputes the segment's values from the kept
ones, sweeps its nodes exactly as the plain pass does, and drops them. The same operations run
on the same operands in the same order, so the gradients are bit-identical to the plain pass.

Schedules: `N` cuts every N nodes; `sqrt` cuts √n segments of √n nodes (memory about 2√n values,
the optimum for one level of recomputation); `auto` keeps everything when the plain pass fits the
memory budget, else picks the cut with the smallest predicted peak. Griewank's binomial schedules
(Revolve) reach less memory by recomputing some segments several times; one level already turns
the whole history into about 2√n values for one extra forward pass, which is what long unrolled
loops need here, so adcli stops there.
"""

from __future__ import annotations

import bisect
import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from adcli.engine.evaluate import evaluate, infer_shapes, last_uses, placeholder
from adcli.engine.reverse import Sweep, backward_reads, depends_on, feeds
from adcli.errors import InputError
from adcli.language.graph import INPUT, LEAVES, Graph, Node, paused_gc
from adcli.operations import OPS
from adcli.operations.kernels import checkpoint_every

UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
         "t": 1000**4, "tb": 1000**4, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_budget(text: str) -> int:
    """`200MB`, `1.5 GiB`, `4e9` -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m[2].lower() not in UNITS:
        raise InputError(f"--memory-budget {text}: expected a size such as 200MB, 1.5GiB or 4e9 (bytes)")
    value = float(m[1]) * UNITS[m[2].lower()]
    if not math.isfinite(value) or value >= 2**63:
        raise InputError(f"--memory-budget {text}: too large a size; give at most 9.2e18 bytes (8 EiB)")
    if value < 1:
        raise InputError(f"--memory-budget {text}: a budget is at least one byte")
    return int(value)


def parse_kind(text: str) -> str | int:
    """`auto`, `sqrt` or a whole number N of nodes per segment."""
    t = text.strip().lower()
    if t in ("auto", "sqrt", "none"):
        return t
    if t.isdigit() and int(t) >= 1:
        return int(t)
    raise InputError(f"--checkpoint {text}: expected auto, sqrt, or a whole number N of nodes per segment")


@dataclass
class Schedule:
    """Where the node list is cut, what the forward pass keeps, and what each segment recomputes."""

    kind: str  # "none", "sqrt", "every N nodes" or how auto chose
    starts: list[int]  # each segment's first node; a segment runs to the next start
    kept: list[bool]  # per node up to the output: the forward pass keeps its value
    output: int
    again: list[list[int]] = field(default_factory=list)  # per segment: the nodes recomputed, in order
    release: list[list[int]] = field(default_factory=list)  # per segment: after each recomputed node, what it frees
    cache: dict = field(default_factory=dict, repr=False)  # what passes derive from it once (scalar rules)

    segments: list[tuple[int, int]] = field(init=False, repr=False)  # (first, last) node of each, in order

    def __post_init__(self):
        ends = self.starts[1:] + [self.output + 1]
        self.segments = [(lo, hi - 1) for lo, hi in zip(self.starts, ends) if hi > lo]

    @property
    def checkpoints(self) -> int:
        """How many values the forward pass keeps besides inputs and constants."""
        return sum(self.kept)


def cut(graph: Graph, output: int, wrt: list[int], starts: list[int], kind: str) -> Schedule:
    """Segments starting at `starts`. The forward pass keeps every value read in a later segment
    than its own, and in the last segment what the backward pass reads (it starts there). Each
    segment recomputes what its backward steps read, and what those are computed from; a value
    no backward step reads is freed after its last use, as in the forward pass."""
    nodes = graph.nodes
    reads = backward_reads(graph, output, wrt)
    kept = [False] * (output + 1)
    for i in range(output + 1):
        for a in nodes[i].args:
            if nodes[a].op != INPUT and bisect.bisect_right(starts, a) != bisect.bisect_right(starts, i):
                kept[a] = True
    for i in range(starts[-1], output + 1):
        kept[i] = kept[i] or (reads[i] and nodes[i].op not in LEAVES)
    kept[output] = True
    schedule = Schedule(kind, starts, kept, output)
    for lo, hi in schedule.segments:
        wanted = set()
        for i in range(hi, lo - 1, -1):  # what the backward steps read, and what computes it
            if nodes[i].op in LEAVES or kept[i]:
                continue
            if reads[i] or i in wanted:
                wanted.add(i)
                wanted.update(a for a in nodes[i].args if a >= lo and not kept[a] and nodes[a].op not in LEAVES)
        again = sorted(wanted)
        last = {}
        for i in again:
            for a in nodes[i].args:
                last[a] = i
        schedule.again.append(again)
        schedule.release.append([[a for a in dict.fromkeys(nodes[i].args) if a in wanted and last.get(a) == i
                                  and not reads[a]] for i in again])
    return schedule


def every(graph: Graph, output: int, wrt: list[int], per_segment: int, kind: str) -> Schedule:
    """A cut every `per_segment` nodes along the evaluation order."""
    return cut(graph, output, wrt, list(range(0, output + 1, max(per_segment, 1))), kind)


def balanced(graph: Graph, output: int, wrt: list[int], shapes: list | None, segments: int, kind: str) -> Schedule:
    """`segments` segments holding about equal shares of what the plain pass keeps for the backward
    pass (its bytes when the shapes are known, else its count): memory, not node count, is what a
    segment costs when it is recomputed. Each cut moves, within a quarter segment, to where the
    fewest bytes cross it (the values a checkpoint must keep there)."""
    nodes = graph.nodes
    reads = backward_reads(graph, output, wrt)
    size = [(8 * math.prod(shapes[i]) if shapes is not None and shapes[i] is not None else 8)
            for i in range(output + 1)]
    weight = [size[i] if reads[i] and nodes[i].op not in LEAVES else 0 for i in range(output + 1)]  # inputs stay
    crossing = [0] * (output + 2)  # bytes made before node i and read at i or later
    last = last_uses(graph, output + 1)
    for a in range(output + 1):
        if nodes[a].op != INPUT and last[a] > a:
            crossing[a + 1] += size[a]
            crossing[last[a] + 1] -= size[a]
    for i in range(1, output + 2):
        crossing[i] += crossing[i - 1]
    share = (sum(weight) or 1) / max(segments, 1)
    targets, acc = [], 0.0
    for i, w in enumerate(weight):
        if acc >= share * (len(targets) + 1) and i > 0:
            targets.append(i)
        acc += w
    starts = [0]
    for k, t in enumerate(targets):
        reach = max(1, (t - (targets[k - 1] if k else 0)) // 4)
        window = range(max(starts[-1] + 1, t - reach), min(output, t + reach) + 1)
        if window:
            starts.append(min(window, key=lambda i: (crossing[i], abs(i - t))))
    return cut(graph, output, wrt, starts, kind)


def plain(graph: Graph, output: int, wrt: list[int]) -> Schedule:
    """No checkpointing: one segment, nothing recomputed; the forward pass keeps what the backward
    pass reads."""
    return Schedule("none", [0], backward_reads(graph, output, wrt), output, [[]], [[]])


def choose(graph: Graph, output: int, wrt: list[int], kind, shapes: list | None = None,
           budget: int | None = None) -> Schedule:
    """The schedule `kind` asks for (auto: by the budget); an InputError when the budget cannot be met."""
    if kind == "none":
        schedule = plain(graph, output, wrt)
    elif kind == "sqrt":  # √k segments of the k values the plain pass would keep
        reads = backward_reads(graph, output, wrt)
        kept = sum(1 for i in range(output + 1) if reads[i] and graph.nodes[i].op not in LEAVES)
        schedule = balanced(graph, output, wrt, shapes, math.ceil(math.sqrt(kept)), "sqrt")
    elif isinstance(kind, int):
        schedule = every(graph, output, wrt, kind, f"every {kind} nodes")
    else:
        schedule = None
    if schedule is not None and budget is None:
        return schedule
    if shapes is None:
        raise ValueError("a memory budget needs the shapes")
    if schedule is not None:
        need = predict(graph, output, wrt, schedule, shapes).peak
        if need > budget:
            raise InputError(f"--memory-budget: checkpointing {schedule.kind} needs about {need:,} bytes, more than "
                             f"the budget of {budget:,}; try --checkpoint auto")
        return schedule
    budget = default_budget() if budget is None else budget
    best = plain(graph, output, wrt)
    best_peak = predict(graph, output, wrt, best, shapes).peak
    if best_peak <= budget:
        return best
    reads = backward_reads(graph, output, wrt)
    for count in candidates(sum(1 for i in range(output + 1) if reads[i] and graph.nodes[i].op not in LEAVES)):
        s = balanced(graph, output, wrt, shapes, count, f"auto: {count} segments")
        peak = predict(graph, output, wrt, s, shapes).peak
        if peak < best_peak:
            best, best_peak = s, peak
    if best_peak > budget:
        raise InputError(f"--memory-budget: no schedule fits {budget:,} bytes; the smallest predicted peak is "
                         f"{best_peak:,} bytes, with {len(best.segments)} segments (inputs, gradients and one "
                         "segment's values are always held)")
    best.kind = best.kind if best.kind.startswith("auto") else "auto"
    return best


def candidates(n: int) -> list[int]:
    """Numbers of segments worth predicting: around √n, and powers of two."""
    root = math.isqrt(n) or 1
    near = {max(1, int(root * f)) for f in (0.25, 0.5, 0.7, 1, 1.4, 2, 4)}
    return sorted(near | {2**k for k in range(1, max(1, n.bit_length()))})


def default_budget() -> int:
    """auto without --memory-budget: the value limit (ADCLI_MAX_BYTES, 4 GiB by default)."""
    from adcli.limits import max_bytes
    return max_bytes()


# ---------------------------------------------------------------------------------------------
# The checkpointed reverse pass
# ---------------------------------------------------------------------------------------------

def grad(graph: Graph, bound: dict, output: int, wrt: list[int], schedule: Schedule,
         on_segment=None, on_update=None, fast: bool = True) -> tuple[object, dict]:
    """(output value, {input node: gradient}) by the schedule; bit-identical to the plain pass.
    `on_segment(first, last, nodes)` is told before a segment's nodes are recomputed (for traces);
    `fast` allows the scalar path on floats when every value is a scalar."""
    from adcli.engine.scalar import scalar_checkpointed
    graph = loops_checkpointed(graph, schedule)
    with paused_gc():
        if fast and on_segment is None and on_update is None:
            fast = scalar_checkpointed(graph, bound, output, wrt, schedule)
            if fast is not None:
                return fast
        values = evaluate(graph, bound, output, keep=schedule.kept)
        value = values[output]
        sweep = Sweep(graph, values, output, wrt)
        segments = schedule.segments
        for number in range(len(segments) - 1, -1, -1):
            lo, hi = segments[number]
            again = schedule.again[number]
            if again:
                if on_segment is not None:
                    on_segment(lo, hi, again)
                recompute(graph, values, again, schedule.release[number])
            sweep.run(lo, hi, on_update, release=True)
        return value, sweep.gradients()


def loops_checkpointed(graph: Graph, schedule: Schedule) -> Graph:
    """The graph with each loop kept as a loop, and each while loop, checkpointed too when the schedule
    checkpoints: its carried value kept before every ⌈√N⌉-th of its N steps, the others recomputed a
    stretch at a time in the backward pass (the same operations, the same bits), so it holds about
    2√N carried values."""
    if schedule.kind == "none" or not any(node.op in ("loop", "while") for node in graph.nodes):
        return graph
    nodes = list(graph.nodes)
    for i, node in enumerate(nodes):
        if node.op in ("loop", "while"):  # a while loop's count is known as it runs: every=0 says so
            every = 0 if node.op == "while" else checkpoint_every(node.params["count"])
            nodes[i] = Node(node.op, node.args, dict(node.params, every=every), node.name, node.label, node.line,
                            node.col, node.data, node.dtype, node.ctx, node.extra)
    return Graph(nodes, graph.inputs, graph.assigned, graph.names, graph.file, graph.source, graph.contexts)


def recompute(graph: Graph, values: list, again: list[int], release: list[list[int]]) -> None:
    """The values of nodes `again` from the kept ones (the same operations, the same bits), each
    freed after its last use unless a backward step reads it."""
    nodes = graph.nodes
    with np.errstate(all="ignore"), warnings.catch_warnings():  # as evaluate: numpy's words never reach the user
        warnings.simplefilter("ignore")
        for i, freed in zip(again, release):
            node = nodes[i]
            values[i] = OPS[node.op].forward(*(values[a] for a in node.args), **(node.params or {}))
            for a in freed:
                values[a] = placeholder(values[a])


# ---------------------------------------------------------------------------------------------
# Predictions: the same passes over shapes, counting bytes
# ---------------------------------------------------------------------------------------------

@dataclass
class Prediction:
    peak: int  # bytes of arrays held at the busiest moment, inputs and constants included
    kept: int  # bytes the forward pass keeps for the backward pass
    extra_flops: int  # forward work done again
    resident: int  # inputs and constants


def predict(graph: Graph, output: int, wrt: list[int], schedule: Schedule, shapes: list,
            floats: bool = True) -> Prediction:
    """Peak bytes of the checkpointed (or plain) reverse pass, by following its schedule over shapes
    (arrays' payloads, 8 bytes an element); with `floats`, where every value is a scalar, what the
    scalar path on Python floats holds instead."""
    from adcli.engine.scalar import runs_on_floats, scalar_peak
    nodes = graph.nodes
    size = [0 if shapes[i] is None else 8 * math.prod(shapes[i]) for i in range(output + 1)]
    need = feeds(graph, output)
    active = depends_on(graph, wrt, output)
    reads = backward_reads(graph, output, wrt)
    keep = schedule.kept if len(schedule.segments) > 1 else reads
    resident = sum(size[i] for i in range(output + 1) if need[i] and nodes[i].op in LEAVES)
    last = last_uses(graph, output + 1)
    # a loop kept as a loop holds its carried values from the forward pass to its backward step
    states, during, redone = [0] * (output + 1), [0] * (output + 1), 0
    for i in range(output + 1):
        if nodes[i].op == "loop" and need[i]:
            states[i], during[i] = loop_bytes(nodes[i].params["count"], size[i], schedule.kind != "none")
            if schedule.kind != "none":  # its steps run once more, a stretch at a time
                redone += OPS["loop"].flops(shapes[i], [shapes[a] for a in nodes[i].args], nodes[i].params)
    # forward: each value freed at its last use unless kept
    live = peak = 0
    held = [False] * (output + 1)
    for i in range(output + 1):
        if nodes[i].op in LEAVES or not need[i]:
            continue
        live += size[i] + states[i]
        held[i] = True
        peak = max(peak, live)
        for a in set(nodes[i].args):
            if held[a] and last[a] == i and not keep[a]:
                live -= size[a]
                held[a] = False
    kept_bytes = live
    # backward, segment by segment: recompute, sweep (accumulators), drop
    grads = [False] * (output + 1)
    owned = [False] * (output + 1)
    if active[output]:
        grads[output] = True
        live += size[output]
        peak = max(peak, live)
    extra = redone
    segments = schedule.segments
    for number in range(len(segments) - 1, -1, -1):
        lo, hi = segments[number]
        for i, freed in zip(schedule.again[number], schedule.release[number]):
            held[i] = True
            live += size[i]
            peak = max(peak, live)
            extra += OPS[nodes[i].op].flops(shapes[i], [shapes[a] for a in nodes[i].args], nodes[i].params or {})
            for a in freed:
                held[a] = False
                live -= size[a]
        for i in range(hi, lo - 1, -1):
            if states[i]:  # its steps' backward passes, then its carried values are let go
                peak = max(peak, live + during[i])
                live -= states[i]
            if grads[i] and nodes[i].op not in LEAVES:
                for a in nodes[i].args:
                    if not active[a]:
                        continue
                    if not grads[a]:  # the first contribution becomes the accumulator
                        grads[a] = True
                        live += size[a]
                        peak = max(peak, live)
                    elif not owned[a]:  # the second is added into a new array, which later ones add into
                        owned[a] = True
                        peak = max(peak, live + 2 * size[a])
                    else:
                        peak = max(peak, live + size[a])  # a contribution beside the accumulator
                grads[i] = False
                live -= size[i]
            if held[i] and i != output:
                held[i] = False
                live -= size[i]
        peak = max(peak, live)
    if floats and runs_on_floats(graph, output, shapes):
        return Prediction(resident + scalar_peak(graph, output, schedule), kept_bytes, extra, resident)
    return Prediction(resident + peak, kept_bytes, extra, resident)


def loop_bytes(count: int, carried: int, checkpointed: bool) -> tuple[int, int]:
    """(bytes a loop kept as a loop holds from its forward step to its backward one, bytes more while
    its backward runs) for `carried` bytes carried: every step's carried value, or with
    checkpointing one before every ⌈√N⌉-th step, and a stretch recomputed at a time."""
    if not checkpointed:
        return (count + 1) * carried, 0
    every = checkpoint_every(count)
    return (-(-count // every) + 1) * carried, (every + 1) * carried


def shapes_for(graph: Graph, bound: dict, output: int) -> list:
    """Every node's shape up to the output, from the bound inputs."""
    return infer_shapes(graph, {i: np.shape(v) for i, v in bound.items()}, output + 1)


# ---------------------------------------------------------------------------------------------
# The Python API: program.checkpointed("sqrt").grad(...)
# ---------------------------------------------------------------------------------------------

class Checkpointed:
    """A program whose gradients are computed with checkpoints: `program.checkpointed("sqrt").grad(**values)`
    gives what `program.grad(**values)` gives, bit for bit, holding about 2√n values instead of n."""

    def __init__(self, program, kind="auto", budget: int | str | None = None):
        self.program = program
        self.kind = parse_kind(kind) if isinstance(kind, str) else kind
        self.budget = parse_budget(budget) if isinstance(budget, str) else budget
        self.schedule: Schedule | None = None

    def plan(self, of=None, wrt=None, **given) -> tuple[Schedule, dict, tuple]:
        """The schedule for these inputs' shapes (made once, then reused), the bound inputs, and the
        output's shape."""
        from adcli.engine.evaluate import bind_inputs
        graph = self.program.graph
        _, out = self.program.output_node(of)
        wrt_nodes = self.program.wrt_nodes(wrt)
        bound = bind_inputs(graph, given)
        key = (out, tuple(wrt_nodes), self.kind, self.budget, tuple((i, np.shape(v)) for i, v in bound.items()))
        cache = graph.__dict__.setdefault("_schedules", {})
        if key not in cache:
            shapes = shapes_for(graph, bound, out)  # also checks every shape, once
            if len(cache) > 16:
                cache.clear()
            budgeted = self.budget is not None or self.kind == "auto"
            cache[key] = (choose(graph, out, wrt_nodes, self.kind, shapes if budgeted else None, self.budget),
                          tuple(shapes[out]))
        schedule, out_shape = cache[key]
        return schedule, bound, out_shape

    def grad(self, of=None, wrt=None, **given):
        from adcli.engine.results import Gradient, plain, require_scalar
        graph = self.program.graph
        name, out = self.program.output_node(of)
        wrt_nodes = self.program.wrt_nodes(wrt)
        schedule, bound, out_shape = self.plan(of, wrt, **given)
        require_scalar(graph, name, out, np.broadcast_to(0.0, out_shape))
        self.schedule = schedule
        value, grads = grad(graph, bound, out, wrt_nodes, schedule)
        return Gradient(name, plain(value), {graph.nodes[w].label: plain(grads[w]) for w in wrt_nodes})
