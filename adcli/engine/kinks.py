"""Kinks: operations evaluated where their derivative does not exist, and the convention adcli applied."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adcli.engine.describe import expression
from adcli.engine.reverse import depends_on, feeds
from adcli.language.graph import LEAVES, Graph
from adcli.operations import OPS

# ---------------------------------------------------------------------------------------------
# A kink met
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kink:
    """An operation evaluated where its derivative does not exist, and the convention applied."""

    node: int
    label: str  # "H"
    op: str
    expression: str  # "H = ReLU(U2)"
    convention: str  # from the registry: "relu′(0) taken as 0"
    line: int
    col: int
    count: int  # how many elements sit exactly on the kink
    size: int  # out of how many

    def note(self) -> str:
        """`relu′(0) taken as 0 at line 2, col 5 (H = ReLU(U2))`."""
        where = f"{self.count} of {self.size} elements, " if self.size > 1 else ""
        return f"{self.convention} at line {self.line}, col {self.col} ({where}{self.expression})"

    def to_json(self) -> dict:
        """The `kinks` entry of `grad --json`."""
        return {"op": self.op, "node": self.label, "expression": self.expression,
                "convention": self.convention, "line": self.line, "col": self.col,
                "count": self.count, "size": self.size}


# ---------------------------------------------------------------------------------------------
# Kinks
# ---------------------------------------------------------------------------------------------

def on_path(graph: Graph, output: int, wrt: list[int]) -> list[bool]:
    """Nodes through which a derivative of `output` with respect to `wrt` flows."""
    return [a and n for a, n in zip(depends_on(graph, wrt, output), feeds(graph, output))]


def kink_mask(graph: Graph, values: list, index: int):
    """Where node `index` sits exactly on its operation's kink (None if the op has none)."""
    node = graph.nodes[index]
    op = OPS[node.op]
    if op.kink is None:
        return None
    with np.errstate(all="ignore"):
        return np.asarray(op.kink(values[index], *(values[a] for a in node.args), **(node.params or {})))


def has_kinked_ops(graph: Graph, output: int) -> bool:
    """Whether any operation up to `output` has points where its derivative does not exist."""
    ops, _ = graph.flat()
    return any(op not in LEAVES and OPS[op].kink is not None for op in set(ops[:output + 1]))


def find_kinks(graph: Graph, values: list, output: int, wrt: list[int] | None = None) -> list[Kink]:
    """Every kink the derivative of `output` passed through, in evaluation order."""
    wrt = list(graph.inputs) if wrt is None else wrt
    path = on_path(graph, output, wrt)
    kinks = []
    for i in range(output + 1):
        node = graph.nodes[i]
        if not path[i] or node.op in LEAVES:
            continue
        mask = kink_mask(graph, values, i)
        if mask is None or not mask.any():
            continue
        kinks.append(Kink(i, node.label, node.op, expression(graph, i, values), OPS[node.op].convention,
                          node.line, node.col, int(np.sum(mask)), int(mask.size)))
    return kinks
