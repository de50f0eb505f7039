"""Long loops folded in a trace: the first and last iterations listed, one summary line for the rest.

A loop of a million steps makes a million lines that nobody reads; as a lecture shows the first
iterations of a recurrence and then its last, a trace lists the iterations `--iterations` chooses
(by default the first two and the last two of every loop longer than six) and says, in one line
per run of the others, how many iterations and steps it folded. Iterations are counted per run of
a loop: an inner loop's iterations are counted afresh in each iteration of the loop around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adcli.language.graph import Graph
from adcli.language.listing import DEFAULT, parse_iterations, picked


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
    run: tuple = field(default=(), repr=False)  # which run of the loop (the context around it)
    kind: str = "folded"

    @property
    def iterations(self) -> int:
        return abs(self.last - self.first) + 1


def hidden_contexts(graph: Graph, chosen: tuple | None) -> dict:
    """ctx -> (run, ordinal, var, value, line) of the outermost loop iteration around it that is not
    listed, for every context left out (a context comes after the one around it: one pass)."""
    hidden, lists = {}, {}
    for ctx in range(1, len(graph.contexts)):
        parent, frame = graph.contexts[ctx]
        if parent in hidden:
            hidden[ctx] = hidden[parent]
            continue
        if frame[0] != "for":
            continue
        # ("for", variable, value, line, (iteration, count)): counted in the loop's own range, so
        # iterations a trace keeps as a loop (never contexts of their own) leave the count whole
        _, var, value, line, (ordinal, total) = frame
        if total not in lists:
            lists[total] = picked(chosen, total)
        if ordinal not in lists[total]:
            hidden[ctx] = ((parent, var, line), ordinal, var, value, line)  # a run: the loop in its context
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
