"""The strong zero: where the chain rule took 0·∞ or 0·NaN as 0, and whether the derivative depends on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adcli.engine.describe import distinct, expression
from adcli.engine.kinks import kink_mask
from adcli.engine.reverse import backward, depends_on, feeds
from adcli.errors import Located, NonFiniteError, Span
from adcli.language.graph import Graph
from adcli.numbers import format_number
from adcli.operations import OPS, kernels
from adcli.operations.core import STRONG_ZEROS

# ---------------------------------------------------------------------------------------------
# The strong zero: where 0·∞ or 0·NaN was taken as 0, and whether the result depends on it
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StrongZero:
    """A chain-rule product where an exact zero met a NaN or infinity and the convention decided."""

    node: int
    expression: str  # "U1 = x^3"
    meeting: str  # "its local derivative ∂/∂x = 0 met the gradient ∂y/∂U1 = inf"
    index: tuple  # the first such element
    count: int
    size: int
    span: Span

    def message(self, place: str = "") -> str:
        at = "" if self.index == () else f" at index {list(self.index)}, {self.count} of {self.size} elements"
        return (f"the derivative depends on the strong zero{place}: {self.expression}: {self.meeting}{at}; 0·∞ "
                f"and 0·NaN are taken as 0 there (docs/conventions.md), and the true derivative may differ")

    def warning(self) -> str:
        s = self.span
        return Located(f"adcli: warning: {self.message(f' at {s.file}:{s.line}:{s.col}')} (use --strict to stop "
                       f"there)", s)

    def error(self) -> NonFiniteError:
        return NonFiniteError(self.message(), self.span)


def consumers(graph: Graph, output: int) -> dict[int, list[int]]:
    """For each node up to `output`, the operations that use it and feed the output (each once)."""
    used = feeds(graph, output)
    users: dict[int, list[int]] = {}
    for j in range(output + 1):
        if used[j]:
            for a in distinct(graph.nodes[j].args):
                users.setdefault(a, []).append(j)
    return users


def drops(graph: Graph, values: list, active: list, j: int, operand: int, index: tuple) -> bool:
    """Whether operation j's result does not move with `operand` at element `index` (of j's shape)
    anywhere near this point: where's unchosen branch, the flat side of a piecewise function (relu,
    clip, a max's loser, floor), or a product with a constant zero (a mask such as x * eye(n))."""
    n = graph.nodes[j]
    shape = np.shape(values[j])
    if n.op == "where":
        chosen = n.args[1] if bool(np.broadcast_to(values[n.args[0]], shape)[index]) else n.args[2]
        return chosen != operand
    op = OPS[n.op]
    if not op.elementwise:
        return False
    positions = [k for k, a in enumerate(n.args) if a == operand]
    if n.op == "mul":
        return all(not active[n.args[1 - k]] and np.broadcast_to(values[n.args[1 - k]], shape)[index] == 0
                   for k in positions)
    if op.kink is None or np.broadcast_to(kink_mask(graph, values, j), shape)[index]:
        return False
    xs = [values[a] for a in n.args]
    with np.errstate(all="ignore"):
        return all(np.broadcast_to(op.derivs[k](values[j], *xs, **(n.params or {})), shape)[index] == 0
                   for k in positions)


def selected_away(graph: Graph, values: list, users: dict, active: list, output: int, node: int,
                  index: tuple) -> bool:
    """Whether element `index` of node's value reaches the output only through operations that drop
    it near this point (see `drops`), so a zero gradient there is exact and 0·∞ = 0 is the true
    derivative, not a convention. Elements are followed while they keep their place."""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if current == output or current in seen or len(seen) > 256:
            return False
        seen.add(current)
        shape = np.shape(values[current])
        for j in users.get(current, []):
            n = graph.nodes[j]
            if np.shape(values[j]) != shape or not (OPS[n.op].elementwise or n.op == "where"):
                return False  # the element changes place or mixes with others: not followed
            if not drops(graph, values, active, j, current, index):
                stack.append(j)  # the element moves on in place: follow it
    return True


def find_strong_zeros(graph: Graph, values: list, output: int, wrt: list[int]) -> list[StrongZero]:
    """Each backward step where the strong zero decided an element the output depends on."""
    users = consumers(graph, output)
    active = depends_on(graph, wrt, output)
    found: list[StrongZero] = []
    out_label = graph.nodes[output].label

    def watch(i, k, a, before, upstream, contribution, after):
        n = graph.nodes[i]
        op = OPS[n.op]
        xs = [values[b] for b in n.args]
        params = n.params or {}
        shape = np.shape(values[i])
        with np.errstate(all="ignore"):
            if op.elementwise:
                local = np.broadcast_to(op.derivs[k](values[i], *xs, **params), shape)
                g = np.broadcast_to(upstream, shape)
            elif kernels.all_zero(upstream):
                share = np.asarray(op.vjp_rule(k, upstream, values[i], xs, params))
                if share.size == 0 or np.all(np.isfinite(share)):
                    return
                if all(selected_away(graph, values, users, active, output, i, idx) for idx in np.ndindex(shape)):
                    return
                found.append(StrongZero(i, expression(graph, i, values), f"its gradient ∂{out_label}/∂{n.label} is 0 "
                                        f"and its rule for {graph.nodes[a].label} is not finite there", (), 1, 1,
                                        graph.span(i)))
                return
            else:
                return
            product = g * local
        decided = ~np.isfinite(product) & ((g == 0) | (local == 0))
        if not decided.any():
            return
        elements = [tuple(int(v) for v in idx) for idx in np.argwhere(decided)]
        exact = (lambda idx: selected_away(graph, values, users, active, output, i, idx) if g[idx] == 0
                 else drops(graph, values, active, i, a, idx))  # the zero is the gradient's, or the rule's
        elements = [idx for idx in elements if not exact(idx)]
        if not elements:
            return
        first = elements[0]
        partial = f"its local derivative ∂/∂{graph.nodes[a].label} = {format_number(local[first])}"
        gradient = f"the gradient ∂{out_label}/∂{n.label} = {format_number(g[first])}"
        meeting = f"{partial} met {gradient}" if local[first] == 0 else f"{gradient} met {partial}"
        found.append(StrongZero(i, expression(graph, i, values), meeting, first if shape else (), len(elements),
                                int(np.prod(shape)), graph.span(i)))

    backward(graph, values, output, wrt, on_update=watch)
    return found


def strong_zero_report(graph: Graph, values: list, output: int, wrt: list[int], strict: bool) -> list[str]:
    """After a command whose computation took 0·∞ as 0 somewhere: a warning for each place the
    derivative depends on it (an error under --strict); nothing where the zero was exact."""
    if not STRONG_ZEROS.count:
        return []
    found = find_strong_zeros(graph, values, output, wrt)
    if found and strict:
        raise found[0].error()
    return [z.warning() for z in found]
