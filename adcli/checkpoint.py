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
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .evaluate import evaluate, infer_shapes
from .graph import INPUT, LEAVES, Graph, paused_gc
from .registry import OPS
from .reverse import Sweep, backward_reads, depends_on, feeds

UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
         "t": 1000**4, "tb": 1000**4, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_budget(text: str) -> int:
    """`200MB`, `1.5 GiB`, `4e9` -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m[2].lower() not in UNITS:
        raise InputError(f"--memory-budget {text}: expected a size such as 200MB, 1.5GiB or 4e9 (bytes)")
    value = float(m[1]) * UNITS[m[2].lower()]
    if not math.isfinite(value) or value < 1:
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
    """Where the node list is cut, and what the forward pass keeps."""

    kind: str  # "none", "sqrt", "every N" or how auto chose
    starts: list[int]  # each segment's first node; a segment runs to the next start
    kept: list[bool]  # per node up to the output: the forward pass keeps its value
    output: int
    cache: dict = field(default_factory=dict, repr=False)  # what passes derive from it once (scalar rules)

    @property
    def segments(self) -> list[tuple[int, int]]:
        """(first, last) node of each segment, first to last."""
        ends = self.starts[1:] + [self.output + 1]
        return [(lo, hi - 1) for lo, hi in zip(self.starts, ends) if hi > lo]

    @property
    def checkpoints(self) -> int:
        """How many values the forward pass keeps besides inputs and constants."""
        return sum(self.kept)


def cut(graph: Graph, output: int, per_segment: int, kind: str) -> Schedule:
    """Segments of `per_segment` nodes. Kept: every value read in a later segment than its own, and
    the last segment whole (the backward pass starts there: nothing to recompute)."""
    starts = list(range(0, output + 1, max(per_segment, 1)))
    kept = [False] * (output + 1)
    nodes = graph.nodes
    for i in range(output + 1):
        for a in nodes[i].args:
            if nodes[a].op != INPUT and bisect.bisect_right(starts, a) != bisect.bisect_right(starts, i):
                kept[a] = True
    for i in range(starts[-1], output + 1):
        kept[i] = nodes[i].op not in LEAVES
    kept[output] = True
    return Schedule(kind, starts, kept, output)


def plain(output: int) -> Schedule:
    """No checkpointing: one segment, nothing recomputed."""
    return Schedule("none", [0], [False] * (output + 1), output)


def choose(graph: Graph, output: int, wrt: list[int], kind, shapes: list | None = None,
           budget: int | None = None) -> Schedule:
    """The schedule `kind` asks for (auto: by the budget); an InputError when the budget cannot be met."""
    n = output + 1
    if kind == "none":
        schedule = plain(output)
    elif kind == "sqrt":
        schedule = cut(graph, output, math.ceil(math.sqrt(n)), "sqrt")
    elif isinstance(kind, int):
        schedule = cut(graph, output, kind, f"every {kind} nodes")
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
    best, best_peak = plain(output), predict(graph, output, wrt, plain(output), shapes).peak
    if best_peak <= budget:
        return best
    for per in candidates(n):
        s = cut(graph, output, per, f"auto: every {per} nodes")
        peak = predict(graph, output, wrt, s, shapes).peak
        if peak < best_peak:
            best, best_peak = s, peak
    if best_peak > budget:
        raise InputError(f"--memory-budget: no schedule fits {budget:,} bytes; the smallest peak, "
                         f"{best_peak:,} bytes, comes with {best.kind.removeprefix('auto: ')} per segment")
    best.kind = best.kind if best.kind.startswith("auto") else "auto"
    return best


def candidates(n: int) -> list[int]:
    """Segment lengths worth predicting: around √n, and powers of two."""
    root = math.isqrt(n) or 1
    near = {max(1, int(root * f)) for f in (0.25, 0.5, 0.7, 1, 1.4, 2, 4)}
    return sorted(near | {2**k for k in range(1, max(1, n.bit_length()))})


def default_budget() -> int:
    """auto without --memory-budget: the value limit (ADCLI_MAX_BYTES, 4 GiB by default)."""
    from .values import max_bytes
    return max_bytes()


# ---------------------------------------------------------------------------------------------
# The checkpointed reverse pass
# ---------------------------------------------------------------------------------------------

def grad(graph: Graph, bound: dict, output: int, wrt: list[int], schedule: Schedule,
         on_segment=None, on_update=None) -> tuple[object, dict]:
    """(output value, {input node: gradient}) by the schedule; bit-identical to the plain pass.
    `on_segment(first, last)` is told before a segment's values are recomputed (for traces)."""
    from .scalar import scalar_checkpointed
    with paused_gc():
        if on_segment is None and on_update is None:
            fast = scalar_checkpointed(graph, bound, output, wrt, schedule)
            if fast is not None:
                return fast
        values = evaluate(graph, bound, output, keep=schedule.kept)
        value = values[output]
        sweep = Sweep(graph, values, output, wrt)
        nodes, kept = graph.nodes, schedule.kept
        for lo, hi in reversed(schedule.segments):
            again = [i for i in range(lo, hi + 1) if not kept[i] and nodes[i].op not in LEAVES]
            if again:
                if on_segment is not None:
                    on_segment(lo, hi)
                recompute(graph, values, again)
            sweep.run(lo, hi, on_update, release=True)
        return value, sweep.gradients()


def recompute(graph: Graph, values: list, again: list[int]) -> None:
    """The values of nodes `again`, from the kept ones: the same operations, the same bits."""
    nodes = graph.nodes
    with np.errstate(all="ignore"):
        for i in again:
            node = nodes[i]
            values[i] = OPS[node.op].forward(*(values[a] for a in node.args), **(node.params or {}))


# ---------------------------------------------------------------------------------------------
# Predictions: the same passes over shapes, counting bytes
# ---------------------------------------------------------------------------------------------

@dataclass
class Prediction:
    peak: int  # bytes of arrays held at the busiest moment, inputs and constants included
    kept: int  # bytes the forward pass keeps for the backward pass
    extra_flops: int  # forward work done again
    resident: int  # inputs and constants


def predict(graph: Graph, output: int, wrt: list[int], schedule: Schedule, shapes: list) -> Prediction:
    """Peak bytes of the checkpointed (or plain) reverse pass, by following its schedule over shapes."""
    nodes = graph.nodes
    size = [0 if shapes[i] is None else 8 * math.prod(shapes[i]) for i in range(output + 1)]
    need = feeds(graph, output)
    active = depends_on(graph, wrt, output)
    reads = backward_reads(graph, output, wrt)
    segmented = len(schedule.segments) > 1
    keep = schedule.kept if segmented else reads
    resident = sum(size[i] for i in range(output + 1) if need[i] and nodes[i].op in LEAVES)
    last = [-1] * (output + 1)
    for i in range(output + 1):
        for a in nodes[i].args:
            last[a] = i
    # forward: each value freed at its last use unless kept
    live = peak = 0
    held = [False] * (output + 1)
    for i in range(output + 1):
        if nodes[i].op in LEAVES or not need[i]:
            continue
        live += size[i]
        held[i] = True
        peak = max(peak, live)
        for a in set(nodes[i].args):
            if held[a] and last[a] == i and not keep[a]:
                live -= size[a]
                held[a] = False
    kept_bytes = live
    # backward, segment by segment: recompute, sweep (accumulators), drop
    grads = [False] * (output + 1)
    if active[output]:
        grads[output] = True
        live += size[output]
        peak = max(peak, live)
    extra = 0
    for lo, hi in reversed(schedule.segments):
        if segmented:
            for i in range(lo, hi + 1):
                if nodes[i].op not in LEAVES and need[i] and not held[i]:
                    held[i] = True
                    live += size[i]
                    extra += OPS[nodes[i].op].flops(shapes[i], [shapes[a] for a in nodes[i].args],
                                                   nodes[i].params or {})
            peak = max(peak, live)
        for i in range(hi, lo - 1, -1):
            if grads[i] and nodes[i].op not in LEAVES:
                for a in nodes[i].args:
                    if active[a]:
                        peak = max(peak, live + size[a])  # a contribution beside the accumulator
                        if not grads[a]:
                            grads[a] = True
                            live += size[a]
                grads[i] = False
                live -= size[i]
            if held[i] and i != output:
                held[i] = False
                live -= size[i]
        peak = max(peak, live)
    return Prediction(resident + peak, kept_bytes, extra, resident)


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

    def plan(self, of=None, wrt=None, **given) -> tuple[Schedule, dict]:
        """The schedule for these inputs' shapes (made once, then reused) and the bound inputs."""
        from .evaluate import bind_inputs
        graph = self.program.graph
        _, out = self.program.output_node(of)
        wrt_nodes = self.program.wrt_nodes(wrt)
        bound = bind_inputs(graph, given)
        key = (out, tuple(wrt_nodes), self.kind, self.budget, tuple((i, np.shape(v)) for i, v in bound.items()))
        cache = graph.__dict__.setdefault("_schedules", {})
        if key not in cache:
            budgeted = self.budget is not None or self.kind == "auto"
            shapes = shapes_for(graph, bound, out) if budgeted else None
            if len(cache) > 16:
                cache.clear()
            cache[key] = choose(graph, out, wrt_nodes, self.kind, shapes, self.budget)
        return cache[key], bound

    def grad(self, of=None, wrt=None, **given):
        from .program import Gradient, plain, require_scalar
        graph = self.program.graph
        name, out = self.program.output_node(of)
        wrt_nodes = self.program.wrt_nodes(wrt)
        schedule, bound = self.plan(of, wrt, **given)
        shapes = shapes_for(graph, bound, out)
        require_scalar(graph, name, out, np.broadcast_to(0.0, shapes[out]))
        self.schedule = schedule
        value, grads = grad(graph, bound, out, wrt_nodes, schedule)
        return Gradient(name, plain(value), {graph.nodes[w].label: plain(grads[w]) for w in wrt_nodes})
