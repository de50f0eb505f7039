"""Shapes from declarations alone: each node's shape with named dimensions kept by name (what lint
and the graph view show), and where a node's shape error points."""

from __future__ import annotations

import numpy as np

from adcli.errors import ShapeError, Span
from adcli.language.graph import CONST, INPUT, Graph
from adcli.operations import OPS, Mismatch
from adcli.operations.indexing import IndexMismatch


def node_span(graph: Graph, index: int, error: Exception | None = None) -> Span:
    """Where a node's error points: the offending index of a subscript, the place inside a function
    compiled on its own (fixed_point's f, a derivative rule), else the node itself."""
    inner = getattr(error, "error", None)
    if inner is not None and inner.span is not None:
        return inner.span
    node = graph.nodes[index]
    span = graph.span(index)
    if isinstance(error, IndexMismatch) and node.extra and error.item < len(node.extra):
        line, col = node.extra[error.item]
        return Span(line, col, span.file, span.source, span.where)
    return span


STAND_IN = 7919  # the first named dimension's stand-in: small enough that shapes' products fit in int64
OTHER_STAND_IN = 8837  # a second set, to tell sizes derived from a named dimension from numbers


def symbolic_shapes(graph: Graph, errors: list | None = None) -> list[tuple | None]:
    """Each node's shape from declared input shapes alone, named dimensions kept by name.

    A named dimension stands in the shape rules as a distinct large number, so the rules run
    unchanged; any shape they cannot settle (an undeclared input upstream) stays None. Shapes
    written out in numbers that a rule refuses (sum(x, axis=0) of a declared scalar) are the same
    positioned error every other command gives; with an `errors` list, each such error is added to
    it instead and the node's shape becomes unknown, so what depends on it adds no error of its own.
    """
    stand_in: dict = {}
    shapes: list[tuple | None] = []
    # The same shapes with other stand-ins: a size that differs between the two depends on a named
    # dimension even when it is no stand-in itself (x[0::2] of [n] is [ceil(n/2)]).
    other: list[tuple | None] = []
    for i, node in enumerate(graph.nodes):
        if node.op == CONST:
            shapes.append(tuple(np.shape(node.data)))
            other.append(shapes[-1])
        elif node.op == INPUT:
            declared = node.data
            shapes.append(None if declared is None else tuple(
                d if isinstance(d, int) else stand_in.setdefault(d, STAND_IN + len(stand_in)) for d in declared))
            other.append(None if declared is None else tuple(
                d if isinstance(d, int) else OTHER_STAND_IN + 2 * (stand_in[d] - STAND_IN) for d in declared))
        else:
            args = [shapes[a] for a in node.args]
            try:
                other.append(None if any(other[a] is None for a in node.args) else
                             tuple(OPS[node.op].shape(*[other[a] for a in node.args], **(node.params or {}))))
            except (Mismatch, ValueError, TypeError):
                other.append(None)
            try:
                shapes.append(None if None in args else
                              tuple(OPS[node.op].shape(*args, **(node.params or {}))))
            except Mismatch as e:
                if all(shapes[a] == other[a] for a in node.args):  # numbers only: the refusal is certain
                    if errors is None:
                        raise ShapeError(str(e), node_span(graph, i, e)) from None
                    errors.append(ShapeError(str(e), node_span(graph, i, e)))
                shapes.append(None)
            except (ValueError, TypeError):
                shapes.append(None)
    names = {v: k for k, v in stand_in.items()}
    # A size made from a named dimension but not one itself (x[0::2] of [n]) is unknown: "?".
    return [None if s is None else tuple(names.get(d, "?" if o is not None and o[k] != d else d)
                                         for k, d in enumerate(s)) for s, o in zip(shapes, other)]
