"""Long loops folded in a trace: the first and last iterations listed, one summary line for the rest.

A loop of a million steps makes a million lines that nobody reads; as a lecture shows the first
iterations of a recurrence and then its last, a trace lists the iterations `--iterations` chooses
(by default the first two and the last two of every loop longer than six) and says, in one line
per run of the others, how many iterations and steps it folded. Iterations are counted per run of
a loop: an inner loop's iterations are counted afresh in each iteration of the loop around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adcli.errors import InputError
from adcli.language.graph import Graph

DEFAULT = "0:2,-2:"
WHOLE_UP_TO = 6  # by default a loop of this many iterations or fewer is listed whole


@dataclass
class Folded:
    """Steps of loop iterations left out of the listing: how many, of which loop, which iterations."""

    phase: str
    var: str  # the loop variable
    line: int  # the loop's line
    first: int  # the first and last iteration folded, counted from 0 in the loop's run
    last: int
    values: tuple  # the loop variable's first and last value among them
    steps: int
    run: tuple = field(default=(), repr=False)  # which run of the loop (the frames around it)
    kind: str = "folded"

    @property
    def iterations(self) -> int:
        return abs(self.last - self.first) + 1


def parse_iterations(text: str) -> tuple:
    """`0:3,-2:` as slices (and single iterations as one-element slices), or an InputError."""
    chosen = []
    for item in text.split(","):
        item = item.strip()
        try:
            if ":" in item:
                parts = item.split(":")
                if len(parts) > 3:
                    raise ValueError
                start, stop, step = (int(p) if p.strip() else None for p in parts + [""] * (3 - len(parts)))
                if step == 0:
                    raise ValueError
                chosen.append(slice(start, stop, step))
            else:
                k = int(item)
                chosen.append(slice(k, k + 1 if k != -1 else None))
        except ValueError:
            raise InputError(f"--iterations {text}: give iterations as Python slices and numbers, separated by "
                             "commas: 0:3,-2: lists the first three and the last two of every loop") from None
    return tuple(chosen)


def picked(chosen: tuple | None, total: int) -> frozenset:
    """The iterations (0 to total - 1) that `chosen` lists; None is the default."""
    if chosen is None:
        if total <= WHOLE_UP_TO:
            return frozenset(range(total))
        chosen = parse_iterations(DEFAULT)
    everything = range(total)
    return frozenset(k for part in chosen for k in everything[part])


def hidden_contexts(graph: Graph, chosen: tuple | None) -> dict:
    """ctx -> (run, ordinal, var, value, line) of the outermost loop iteration around it that is not
    listed, for every context left out."""
    runs: dict[tuple, dict] = {}  # a loop's run (the frames around it, its variable and line) -> value -> ordinal
    framed = []
    for frames in graph.contexts:
        where = []
        for depth, frame in enumerate(frames):
            if frame[0] != "for":
                continue
            run = frames[:depth] + (frame[1], frame[3])
            seen = runs.setdefault(run, {})
            ordinal = seen.setdefault(frame[2], len(seen))
            where.append((run, ordinal, frame[1], frame[2], frame[3]))
        framed.append(where)
    lists: dict[int, frozenset] = {}
    hidden = {}
    for ctx, where in enumerate(framed):
        for run, ordinal, var, value, line in where:
            total = len(runs[run])
            if total not in lists:
                lists[total] = picked(chosen, total)
            if ordinal not in lists[total]:
                hidden[ctx] = (run, ordinal, var, value, line)
                break
    return hidden


def fold(trace, graph: Graph, iterations: str | None = None) -> None:
    """Mark the trace's steps in the loop iterations that `iterations` (`0:3,-2:`; None: the
    default) does not list, for the listings to fold."""
    chosen = None if iterations is None else parse_iterations(iterations)
    hidden = hidden_contexts(graph, chosen) if len(graph.contexts) > 1 else {}
    trace.hidden = {i: hidden[node.ctx] for i, node in enumerate(graph.nodes) if node.ctx in hidden}
    trace.folding = iterations or DEFAULT


def listing(trace, numbered):
    """(number, step) pairs with each run of folded steps replaced by one (None, Folded)."""
    hidden = getattr(trace, "hidden", None) or {}
    current = None
    for n, step in numbered:
        at = None
        if hidden and step.kind in ("compute", "accumulate", "init"):
            at = hidden.get(step.source if step.kind == "accumulate" else step.node)
        if at is None:
            if current is not None:
                yield None, current
                current = None
            yield n, step
            continue
        run, ordinal, var, value, line = at
        if current is not None and current.run == run and current.phase == step.phase:
            current.last, current.values, current.steps = ordinal, (current.values[0], value), current.steps + 1
            continue
        if current is not None:
            yield None, current
        current = Folded(step.phase, var, line, ordinal, ordinal, (value, value), 1, run)
    if current is not None:
        yield None, current
