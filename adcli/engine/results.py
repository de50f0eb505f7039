"""What the engine returns: a gradient with its value, and the checks every way of computing one shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adcli.errors import ShapeError
from adcli.language.graph import Graph
from adcli.operations import fmt_shape


@dataclass
class Gradient:
    """The output's name and value, and the gradient of each requested input, in input order."""

    output: str
    value: float | np.ndarray  # a Python float for a scalar
    grad: dict[str, float | np.ndarray]
    # Every node's value up to the output, where the pass kept them all anyway (the scalar path's
    # floats): the diagnostics read them instead of evaluating the program a second time.
    values: list | None = field(default=None, repr=False, compare=False)


def plain(value):
    """A result as users see it: a Python float for a scalar (7.0), a numpy array otherwise."""
    if np.ndim(value) == 0:
        return value.item() if isinstance(value, (np.ndarray, np.generic)) else value
    return value


def require_scalar(graph: Graph, name: str, index: int, value, what: str = "grad", other: str = "") -> None:
    """Gradients are of scalar outputs; say how to get one from an array (or `other` way)."""
    shape = np.shape(value)
    if int(np.prod(shape)) != 1:
        raise ShapeError(f"{what} needs a scalar output, but '{name}' has shape {fmt_shape(shape)}; "
                         f"reduce it first, for example sum({name}) or mean({name}){other}", graph.span(index))
