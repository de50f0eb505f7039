"""The engine's side of fixed_point() and root(): a function's own graph evaluated, and its vjp and
jvp taken, when the registry's kernels ask (operations.implicit.Body calls these)."""

from __future__ import annotations

import numpy as np

from adcli.engine.evaluate import evaluate, run_op
from adcli.engine.forward import tangents
from adcli.engine.reverse import backward
from adcli.language.graph import FLOAT
from adcli.operations.implicit import Body


def lifted_apply(args):
    """How to run operations on these arguments: numpy's forward, or the lifted numbers' own rules
    (dual numbers and Taylor series, when a Hessian or a higher order differentiates through f)."""
    for a in args:
        lift = getattr(type(a), "lift", None)
        if lift is not None:
            return lambda name, *xs, **params: lift(name, xs, params)
    return run_op


def values_of(body: Body, args: list) -> list:
    graph = body.graph
    return evaluate(graph, dict(zip(graph.inputs, args)), apply=lifted_apply(args))


class Runner:
    """Evaluates a Body's graph for the kernels."""

    def value(self, body: Body, args: list):
        return values_of(body, args)[body.graph.output]

    def results(self, body: Body, args: list) -> list:
        values = values_of(body, args)
        return [values[o] for o in body.outputs]

    def vjp(self, body: Body, args: list, cotangent) -> list:
        graph = body.graph
        values = values_of(body, args)
        wrt = [i for i in graph.inputs if graph.nodes[i].dtype == FLOAT]
        grads = backward(graph, values, graph.output, wrt, seed=cotangent)
        return [grads.get(i, np.zeros(np.shape(a))) if i in wrt else np.zeros(np.shape(a))
                for i, a in zip(graph.inputs, args)]

    def jvp(self, body: Body, args: list, moving: list):
        graph = body.graph
        values = values_of(body, args)
        seeds = {i: t for i, t in zip(graph.inputs, moving) if t is not None and graph.nodes[i].dtype == FLOAT}
        out = tangents(graph, values, graph.output, seeds)[graph.output] if seeds else None
        return np.zeros(np.shape(args[0])) if out is None else out

    def flops(self, body: Body, shapes) -> int:
        from adcli.engine.cost import estimate
        graph = body.graph
        cost = estimate(graph, dict(zip(graph.inputs, (tuple(s) for s in shapes))), graph.output, [])
        return cost.forward.flops


Body.runner = Runner()
