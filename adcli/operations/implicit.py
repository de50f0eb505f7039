"""Functions compiled on their own: fixed_point(f, x0, *params), root(f, x0, *params), and a function
with a derivative rule written in the file (`def f.vjp(x, g)`, as JAX's custom_vjp).

The result is defined by an equation (x = f(x, p), or f(x, p) = 0), found by iteration, and
differentiated by the implicit function theorem at the solution alone: the iterations are never
differentiated (as JAX's custom_vjp fixed-point example and its `custom_root`). `f` is a `def` of
the file, compiled once into a graph of its own (a `Body`) that the engine runs; the kernels in
kernels.py call its value, vjp and jvp.
"""

from __future__ import annotations

import numpy as np

from adcli.errors import ShapeError, Span
from adcli.operations import patterns
from adcli.operations.core import OPS, Mismatch, Op, fmt_shape, register


class Body:
    """A `def` compiled into a graph of its own, with its arguments as the graph's inputs (x first,
    then the parameters, then the file's values it reads). adcli.engine.implicit sets `runner`, which
    evaluates it, so that this layer needs nothing of the engine's."""

    runner = None

    def __init__(self, name: str, graph, params: tuple, line: int, col: int, site: Span | None = None,
                 outputs: list | None = None):
        self.name, self.graph, self.params, self.line, self.col = name, graph, params, line, col
        self.site = site  # where the file calls it (fixed_point(f, ...), or f(...) for a function with a rule)
        self.outputs = outputs if outputs is not None else [graph.output]  # a rule's: one per argument

    def refuse(self, message: str) -> ShapeError:
        """The error of a value the function gave that cannot be used, at the call in the file."""
        return ShapeError(message, self.site)

    def not_settled(self, message: str) -> ShapeError:
        """The error of an iteration that did not settle, at the call in the file."""
        return ShapeError(message, self.site)

    def __repr__(self):
        return self.name

    def value(self, x, *params):
        return self.runner.value(self, [x, *params])

    def results(self, *args) -> list:
        """Every output (a rule's cotangents, one per argument of its function)."""
        return self.runner.results(self, list(args))

    def vjp(self, x, params, cotangent) -> list:
        """Each argument's share of the cotangent of f(x, *params)."""
        return self.runner.vjp(self, [x, *params], cotangent)

    def jvp(self, x, params, tangents):
        """The tangent of f(x, *params) given each argument's tangent (None: it does not move)."""
        return self.runner.jvp(self, [x, *params], tangents)

    def out_shape(self, shapes) -> tuple:
        """The shape of its (first) result for arguments of these shapes, from its operations' shape
        rules alone (lint runs it without the engine); a Mismatch holding the function's own error,
        at its place, when they do not fit."""
        graph = self.graph
        known = dict(zip(graph.inputs, (tuple(s) for s in shapes)))
        for i, node in enumerate(graph.nodes):
            if i in known:
                continue
            if node.op == "const":
                known[i] = tuple(np.shape(node.data))
                continue
            try:
                known[i] = tuple(OPS[node.op].shape(*[known[a] for a in node.args], **(node.params or {})))
            except Mismatch as e:
                mismatch = Mismatch(str(e))
                mismatch.error = ShapeError(str(e), graph.span(i))
                raise mismatch from None
        return known[self.outputs[0]]

    def flops(self, shapes) -> int:
        """One call's floating-point operations, for `adcli cost`."""
        return self.runner.flops(self, shapes)


def implicit_shape(name: str):
    def rule(*shapes, body=None, tol=None, max_iter=None, points=False):
        if max_iter is not None and max_iter < 1:
            raise Mismatch(f"{name}() needs max_iter of at least 1, not {max_iter}")
        if tol is not None and not tol >= 0:
            raise Mismatch(f"{name}() needs a tolerance tol of 0 or more, not {tol}")
        if body is not None:  # f must map x to x's shape: known from the shapes alone
            check_result(body, shapes[0], body.out_shape(shapes))
        return tuple(shapes[0])
    return rule


def show(name: str):
    """The call as the file writes it: fixed_point(newton, 1, a)."""
    return lambda labels, params: f"{name}({getattr(params.get('body'), 'name', 'f')}, {', '.join(labels)})"


def iteration_flops(out, args, params):
    """One call of the function per iteration: the cost counts one (the count of iterations is known
    only when it runs)."""
    return params["body"].flops(args)


def solve_flops(out, args, params):
    """A Newton step: the function, one jvp per element of x, and an n×n solve."""
    n = 1
    for d in out:
        n *= d
    return params["body"].flops(args) * (1 + 2 * n) + int(2 / 3 * n ** 3)


def batch_implicit(b, node, xs):
    """Every point's solution at once, with every argument batched; a point stops where it settles,
    so each gets the bits it gets alone."""
    params = dict(node.params)
    params["body"] = b.body(params["body"], [x.shape for x in xs])
    params["points"] = True
    return b.op(node.op, [b.spread(x) for x in xs], params)


COMMON = (("body", None), ("tol", 1e-14), ("max_iter", 10000))
POINTS = (("points", False),)  # set by --batch alone: the first axis holds points, each settling on its own

register(Op(
    "fixed_point", forward_code="fixed_point_solve({body}, {xs}[0], {xs}[1:], {tol}, {max_iter}, {points})",
    shape=implicit_shape("fixed_point"), text="fixed_point(f, …)", show=show("fixed_point"),
    partials=("0 (x0 only starts the search)", "(1 - ∂{body}/∂x)⁻¹ ∂{body}/∂p"),
    vjp_text=("0", "∂{body}/∂pᵀ (1 - ∂{body}/∂x)⁻ᵀ ḡ"), args=("*xs",), params=COMMON + POINTS, func="fixed_point",
    common_code="fixed_point_adjoint({body}, {ans}, {xs}[1:], {g}, {tol}, {max_iter}, {points})",
    vjp_code=("{c}[{k}]", "{c}[{k}]"),  # x0's share (zeros), then each parameter's
    jvp_code="fixed_point_tangent({body}, {ans}, {xs}[1:], {dxs}[1:], {tol}, {max_iter}, {points})",
    doc="the x with x = f(x, *params), iterating f from x0; derivatives by the implicit function theorem",
    signature="fixed_point(f, x0, *params, tol=1e-14, max_iter=10000)", flops=iteration_flops,
    deriv_flops=lambda k, out, args, params: 2 * params["body"].flops(args), batch=batch_implicit,
    pattern=patterns.dense, series=False))

register(Op(
    "root", forward_code="root_solve({body}, {xs}[0], {xs}[1:], {tol}, {max_iter}, {points})",
    shape=implicit_shape("root"), text="root(f, …)", show=show("root"),
    partials=("0 (x0 only starts the search)", "-(∂{body}/∂x)⁻¹ ∂{body}/∂p"),
    vjp_text=("0", "-∂{body}/∂pᵀ (∂{body}/∂x)⁻ᵀ ḡ"), args=("*xs",), params=COMMON + POINTS, func="root",
    common_code="root_adjoint({body}, {ans}, {xs}[1:], {g}, {points})", vjp_code=("{c}[{k}]", "{c}[{k}]"),
    jvp_code="root_tangent({body}, {ans}, {xs}[1:], {dxs}[1:], {points})",
    doc="the x with f(x, *params) = 0, by Newton's method from x0; derivatives by the implicit function theorem",
    signature="root(f, x0, *params, tol=1e-14, max_iter=10000)", flops=solve_flops,
    deriv_flops=lambda k, out, args, params: solve_flops(out, args, params), batch=batch_implicit,
    pattern=patterns.dense, series=False))


def check_result(body: Body, x_shape, out_shape) -> None:
    """A Mismatch unless the function maps x to x's shape (an equation in x needs as many values)."""
    if tuple(out_shape) != tuple(x_shape):
        raise Mismatch(f"{body.name}() returns shape {fmt_shape(out_shape)} for an x of shape {fmt_shape(x_shape)}: "
                       "fixed_point() and root() need a function giving a value of x's shape")


# ---------------------------------------------------------------------------------------------
# A function with its derivative rule: f(x, y) by f's graph, its vjp by the rule's (def f.vjp(x, y, g))
# ---------------------------------------------------------------------------------------------

def rule_shape(*shapes, body=None, rule=None, split=(1, 0), points=False):
    """The function's result's shape, from its graph at the arguments' shapes."""
    if body is None:
        raise Mismatch("a function with a derivative rule needs its function")
    return body.out_shape(shapes[:sum(split)])


def show_rule(labels, params):
    """The call as the file writes it: softplus(x)."""
    body, split = params.get("body"), params.get("split")
    n = split[0] if split else len(labels)
    return f"{getattr(body, 'name', 'f')}({', '.join(labels[:n])})"


def batch_rule(b, node, xs):
    """Every point at once: the function's graph and the rule's, batched in every argument."""
    params = dict(node.params)
    n, closed = params["split"]
    shapes = [x.shape for x in xs]
    params["body"] = b.body(params["body"], shapes[:n + closed])
    params["rule"] = b.body(params["rule"], shapes[:n] + [b.out_shape] + shapes[n + closed:])
    params["points"] = True
    return b.op(node.op, [b.spread(x) for x in xs], params)


def rule_flops(out, args, params):
    return params["body"].flops(args[:sum(params["split"])])


def rule_deriv_flops(k, out, args, params):
    n, closed = params["split"]
    return params["rule"].flops(list(args[:n]) + [out] + list(args[n + closed:]))


register(Op(
    "rule", forward_code="rule_value({body}, {xs}, {split})", shape=rule_shape,
    text="f(…)", show=show_rule, partials=("{rule}(…, 1), by the file's rule",), vjp_text=("{rule}(…, ḡ)",),
    args=("*xs",), params=(("body", None), ("rule", None), ("split", (1, 0)), ("points", False)),
    common_code="rule_shares({rule}, {xs}, {g}, {split}, {points})", vjp_code=("{c}[{k}]",),
    jvp_code="rule_tangent({rule}, {xs}, {dxs}, {ans}, {split}, {points})",
    doc="a function of the file with its own derivative rule (def f.vjp): its value by f, its vjp by the rule",
    signature="f(x, ...) with def f.vjp(x, ..., g)", flops=rule_flops, deriv_flops=rule_deriv_flops,
    batch=batch_rule, pattern=patterns.dense, series=False))


# ---------------------------------------------------------------------------------------------
# A loop kept as a loop: its body a function of the loop variable, the carried values and the file's
# values it reads, run count times (JAX's lax.scan); reverse mode keeps the carried values
# ---------------------------------------------------------------------------------------------

def loop_shape(*shapes, body=None, start=0, step=1, count=0, every=1):
    if body is not None:
        out = body.out_shape([()] + list(shapes))
        if tuple(out) != tuple(shapes[0]):
            raise Mismatch(f"the loop's body makes its carried values of shape {fmt_shape(out)} from "
                           f"{fmt_shape(shapes[0])}: a loop kept as a loop carries values of one shape; declare "
                           "the shapes of the inputs it reads (input x: [3]), and adcli unrolls a loop whose "
                           "values change shape")
    return tuple(shapes[0])


def show_loop(labels, params):
    """for t in range(…): the loop as the file writes it, with what it starts from."""
    body = params.get("body")
    var = body.params[0] if body is not None else "t"
    start, step, count = params.get("start", 0), params.get("step", 1), params.get("count", 0)
    stop = start + step * count
    bounds = f"{stop}" if start == 0 and step == 1 else f"{start}, {stop}" if step == 1 else f"{start}, {stop}, {step}"
    return f"for {var} in range({bounds}) from {', '.join(labels)}"


def loop_flops(out, args, params):
    return params["body"].flops([()] + list(args)) * params["count"]


def batch_loop(b, node, xs):
    """Every point at once: the body batched in all but its loop variable."""
    params = dict(node.params)
    params["body"] = b.body(params["body"], [()] + [x.shape for x in xs], fixed=1)
    return b.op(node.op, [b.spread(x) for x in xs], params)


register(Op(
    "loop", forward_code="loop_run({body}, {xs}[0], {xs}[1:], {start}, {step}, {count}, {every})", shape=loop_shape,
    text="for …", show=show_loop, partials=("Π over the steps of ∂{body}/∂c",
                                            "Σ over the steps of ∂(the later steps)/∂c · ∂{body}/∂p"),
    vjp_text=("ḡ through each step's vjp, from the last back", "Σ over the steps of ∂{body}/∂pᵀ ḡ at that step"),
    args=("*xs",),
    params=(("body", None), ("start", 0), ("step", 1), ("count", 0), ("every", 1)),
    common_code="loop_adjoint({body}, {xs}[0], {xs}[1:], {g}, {start}, {step}, {count}, {every})",
    vjp_code=("{c}[{k}]", "{c}[{k}]"),
    jvp_code="loop_tangent({body}, {xs}[0], {xs}[1:], {dxs}[0], {dxs}[1:], {start}, {step}, {count})",
    doc="a for loop kept as a loop: its body compiled once and run count times",
    signature="for t in range(...): (64 iterations or more)", flops=loop_flops,
    deriv_flops=lambda k, out, args, params: 2 * loop_flops(out, args, params), batch=batch_loop,
    pattern=patterns.dense))


# ---------------------------------------------------------------------------------------------
# while cond, max_iter=K: the body run while its condition (a graph of its own) holds; reverse mode
# differentiates the iterations that ran, as for a loop of that count (the condition has no derivative)
# ---------------------------------------------------------------------------------------------

def while_shape(*shapes, body=None, test=None, split=0, max_iter=1, warn=False, points=False, every=1):
    if max_iter < 1:
        raise Mismatch(f"a while loop needs max_iter of at least 1, not {max_iter}")
    if body is not None:
        carried = shapes[0]
        out = body.out_shape([(), carried] + list(shapes[1:1 + split]))
        if tuple(out) != tuple(carried):
            raise Mismatch(f"the while loop's body makes its carried values of shape {fmt_shape(out)} from "
                           f"{fmt_shape(carried)}: a while loop carries values of one shape")
    if test is not None:
        told = test.out_shape([(), shapes[0]] + list(shapes[1 + split:]))
        lead = 1 if points else 0  # a batch's condition: one per point
        if len(told) != lead or (points and told[0] != shapes[0][0]):
            raise Mismatch(f"a while loop's condition must be one value (such as err > tol), not an array of "
                           f"shape {fmt_shape(told)}: reduce it with any() or all()")
    return tuple(shapes[0])


def show_while(labels, params):
    """The loop's head as the file writes it (while err > tol, max_iter=50), and what it starts from."""
    test = params.get("test")
    head = f"while ..., max_iter={params.get('max_iter', 1)}"
    if test is not None and test.graph.source:
        lines = test.graph.source.splitlines()
        text = lines[test.line - 1].split("#")[0].strip() if 0 < test.line <= len(lines) else ""
        if text.startswith("while") and text.endswith(":"):
            head = text[:-1].rstrip()
    return f"{head} from {', '.join(dict.fromkeys(labels))}"  # a value both the body and the test read, once


def while_flops(out, args, params):
    """At most max_iter steps, each the condition and the body."""
    split = params["split"]
    step = params["body"].flops([()] + list(args[:1 + split])) + params["test"].flops([(), args[0]] + list(args[1 + split:]))
    return step * params["max_iter"]


def batch_while(b, node, xs):
    """Every point at once: the body and condition batched in all but their iteration count; each point
    stops where its condition fails, as it would alone."""
    params = dict(node.params)
    shapes, split = [x.shape for x in xs], params["split"]
    params["body"] = b.body(params["body"], [()] + shapes[:1 + split], fixed=1)
    params["test"] = b.body(params["test"], [(), shapes[0]] + shapes[1 + split:], fixed=1)
    params["points"] = True
    return b.op(node.op, [b.spread(x) for x in xs], params)


register(Op(
    "while", forward_code="while_run({body}, {test}, {xs}[0], {xs}[1:], {split}, {max_iter}, {warn}, {points})",
    shape=while_shape, text="while …", show=show_while,
    partials=("Π over the steps that ran of ∂{body}/∂c", "Σ over the steps that ran of ∂(later steps)/∂c · ∂{body}/∂p"),
    vjp_text=("ḡ through each step's vjp, from the last that ran back",
              "Σ over the steps that ran of ∂{body}/∂pᵀ ḡ at that step (0 for the condition's values)"),
    args=("*xs",), params=(("body", None), ("test", None), ("split", 0), ("max_iter", 1), ("warn", False),
                           ("points", False), ("every", 1)),
    common_code="while_adjoint({body}, {test}, {xs}[0], {xs}[1:], {g}, {split}, {max_iter}, {warn}, {points}, "
                "{every})",
    vjp_code=("{c}[{k}]", "{c}[{k}]"),
    jvp_code="while_tangent({body}, {test}, {xs}[0], {xs}[1:], {dxs}[0], {dxs}[1:], {split}, {max_iter}, {warn}, "
             "{points})",
    doc="a while loop: its body run while its condition holds, at most max_iter times; derivatives through the "
        "iterations that ran",
    signature="while cond, max_iter=K:", flops=while_flops,
    deriv_flops=lambda k, out, args, params: 2 * while_flops(out, args, params), batch=batch_while,
    pattern=patterns.dense))
