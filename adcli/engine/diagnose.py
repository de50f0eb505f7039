"""Diagnosis: where a NaN or infinity first appeared, and what eval and grad report after computing
(the kinks met are found by adcli.engine.kinks, the strong zero's decisions by adcli.engine.strong_zero)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adcli.engine.describe import at, distinct, expression, first_bad, numpy_cause, suffix
from adcli.engine.kinks import Kink, find_kinks, has_kinked_ops
from adcli.engine.reverse import backward, feeds
from adcli.engine.strong_zero import strong_zero_report
from adcli.errors import Located, NonFiniteError, Span
from adcli.language.graph import CONST, INPUT, Graph
from adcli.numbers import format_number
from adcli.operations import OPS, source_text
from adcli.operations.core import STRONG_ZEROS
from adcli.operations.kernels import while_going

# ---------------------------------------------------------------------------------------------
# Plain-data findings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NonFinite:
    """The first NaN or infinity: in a node's value, or in a gradient contribution it made."""

    phase: str  # "value" or "gradient"
    node: int  # the operation that produced it
    expression: str  # "U1 = log(p)"
    result: float  # the first non-finite element
    index: tuple  # that element's index (() for a scalar)
    where: str  # "p = 0", operand (and upstream) values at that element
    cause: str  # numpy's own words, "divide by zero encountered in log", or ""
    span: Span
    then: str = ""  # for an infinity: where the first NaN followed, if elsewhere
    masked: str = ""  # when it lies in the branch a where did not choose: why it still matters, the fix

    def summary(self) -> str:
        """One line: what became non-finite, at which values, and why."""
        at = "" if self.index == () else f" at index {list(self.index)}"
        text = f"{self.expression} is {format_number(self.result)}{at}"
        if self.where:
            text += f" where {self.where}"
        if self.cause:
            text += f" ({self.cause})"
        if self.then:
            text += f"; {self.then}"
        if self.masked:
            text += f"; {self.masked}"
        return text

    def error(self) -> NonFiniteError:
        """The --strict error, with the caret at this node."""
        return NonFiniteError(f"non-finite {self.phase}: {self.summary()}", self.span)

    def warning(self, results: list[str]) -> str:
        """The one-line warning printed when results contain NaN or inf."""
        names = ", ".join(results)
        verb = "is" if len(results) == 1 else "are"
        s = self.span
        return Located(f"adcli: warning: {names} {verb} not finite; the first non-finite {self.phase} appeared at "
                       f"{s.file}:{s.line}:{s.col}: {self.summary()} (use --strict to stop there)", s)


# ---------------------------------------------------------------------------------------------
# Non-finite values and gradients
# ---------------------------------------------------------------------------------------------

def nonfinite(value) -> bool:
    """Whether a value holds any NaN or infinity."""
    return not np.isfinite(value).all()


def describe_value(graph: Graph, values: list, index: int) -> tuple[tuple, float, str, str]:
    """(element index, element, operand values there, numpy's cause) for a non-finite node value."""
    node = graph.nodes[index]
    shape = np.shape(values[index])
    idx, bad = first_bad(values[index])
    if node.op == CONST:
        return idx, bad, "", ""
    xs = [values[a] for a in node.args]
    where = ", ".join(f"{graph.nodes[a].label}{suffix(values[a], shape, idx)} = {at(values[a], shape, idx)}"
                      for a in distinct(node.args) if graph.nodes[a].op != CONST)  # "0.5 = 0.5" says nothing
    # on 0-d arrays numpy names the ufunc ("in subtract"), where on its scalars it says "in scalar subtract"
    cause = numpy_cause(lambda: OPS[node.op].forward(*(np.asarray(x) for x in xs), **(node.params or {})),
                        any(np.size(x) == 0 for x in xs) and node.op in ("mean", "var", "std"))
    return idx, bad, where, cause


def first_nonfinite_value(graph: Graph, values: list, output: int | None = None) -> NonFinite | None:
    """The first node, in evaluation order, whose value holds a NaN or infinity (of those `output`
    is computed from, when given)."""
    first = first_nan = None
    used = None if output is None else feeds(graph, output)
    for i, value in enumerate(values):
        if used is not None and (i > output or not used[i]):
            continue
        if value is None or graph.nodes[i].op == INPUT or not nonfinite(value):
            continue
        if first is None:
            first = i
        if np.isnan(value).any():
            first_nan = i
            break
    if first is None:
        return None
    idx, bad, where, cause = describe_value(graph, values, first)
    then = ""
    if first_nan is not None and first_nan != first:
        _, _, nan_where, nan_cause = describe_value(graph, values, first_nan)
        node = graph.nodes[first_nan]
        then = (f"the first nan follows at line {node.line}, col {node.col}: "
                f"{expression(graph, first_nan, values)} where {nan_where}"
                + (f" ({nan_cause})" if nan_cause else ""))
    return NonFinite("value", first, expression(graph, first, values), bad, idx, where, cause, graph.span(first),
                     then, unchosen_branch(graph, values, first, idx))


class NonFiniteWatch:
    """An `on_update` hook for `backward` that remembers the first non-finite gradient contribution.

    `trace` can chain it with its own hook: call `watch(...)` inside it with the same arguments.
    """

    def __init__(self, graph: Graph, values: list, output: int):
        self.graph, self.values, self.output = graph, values, output
        self.first: NonFinite | None = None

    def __call__(self, node, k, operand, before, upstream, contribution, after):
        if self.first is not None:
            return
        if nonfinite(contribution):
            self.first = self.describe(node, k, upstream, contribution, "")
        elif nonfinite(after):  # finite contributions whose sum overflows
            self.first = self.describe(node, k, upstream, after, "the accumulated sum overflows")

    def describe(self, node, k, upstream, bad_value, cause) -> NonFinite:
        """Operand k's gradient contribution from `node`, non-finite: its values, upstream and local derivative."""
        graph, values = self.graph, self.values
        n = graph.nodes[node]
        op = OPS[n.op]
        xs = [values[a] for a in n.args]
        params = n.params or {}
        shape = np.shape(bad_value)
        idx, bad = first_bad(bad_value)
        out_label, node_label = graph.nodes[self.output].label, n.label
        labels = [graph.nodes[a].label for a in n.args]
        parts = [f"{graph.nodes[a].label}{suffix(values[a], shape, idx)} = {at(values[a], shape, idx)}"
                 for a in distinct(n.args) if graph.nodes[a].op != CONST]
        parts.append(f"∂{out_label}/∂{node_label}{suffix(upstream, shape, idx)} = {at(upstream, shape, idx)}")
        if op.elementwise:
            with np.errstate(all="ignore"):
                local = np.broadcast_to(op.derivs[k](values[node], *xs), np.shape(values[node]))
            parts.append(f"local derivative {op.partials[k].format(*labels)} = {at(local, shape, idx)}")
        if not cause:
            cause = numpy_cause(lambda: op.vjp(k, upstream, values[node], xs, params))
        expr = f"∂{out_label}/∂{labels[k]} through {expression(graph, node, values)}"
        masked = unchosen_branch(graph, values, node, idx) if np.shape(values[node]) == shape else ""
        return NonFinite("gradient", node, expr, bad, idx, ", ".join(parts), cause, graph.span(node), "", masked)


# ---------------------------------------------------------------------------------------------
# The NaN trap of where: numpy evaluates both branches, and NaN·0 is NaN
# ---------------------------------------------------------------------------------------------

def unchosen_branch(graph: Graph, values: list, node: int, index: tuple) -> str:
    """If element `index` of node's value only reaches the output through a branch of a `where`
    that did not choose it, why its NaN still spoils the gradient and how to rewrite the file
    (JAX #1052, PyTorch #187297); else ""."""
    users: dict[int, list[int]] = {}
    for j, n in enumerate(graph.nodes):
        for a in n.args:
            if a >= node:
                users.setdefault(a, []).append(j)
    current, shape = node, np.shape(values[node])
    for _ in range(16):  # follow same-shaped elementwise consumers, so the element keeps its index
        following = users.get(current, [])
        if len(following) != 1:
            return ""
        j = following[0]
        op = OPS[graph.nodes[j].op]
        if graph.nodes[j].op == "where":
            branch = graph.nodes[j].args.index(current)
            if branch == 0 or j >= len(values) or values[j] is None:
                return ""
            cond = np.broadcast_to(values[graph.nodes[j].args[0]], np.shape(values[j]))
            at = index if np.shape(values[j]) == shape else None
            if at is None or not cond.size or bool(cond[at]) == (branch == 1):
                return ""
            return masked_advice(graph, j, branch, node)
        if not op.elementwise or j >= len(values) or values[j] is None or np.shape(values[j]) != shape:
            return ""  # values past the output were never computed
        current = j
    return ""


def masked_advice(graph: Graph, where: int, branch: int, bad: int) -> str:
    """The words for a NaN in where's unchosen branch, with the safe rewrite."""
    w, b = graph.nodes[where], graph.nodes[bad]
    cond = expression(graph, w.args[0]).split(" = ", 1)[-1]
    keep = cond if branch == 1 else f"not ({cond})"
    operand = graph.nodes[b.args[0]].label if b.args else b.label
    guarded = f"where({cond}, {operand}, 1)" if branch == 1 else f"where({cond}, 1, {operand})"
    inner = source_text(b.op, [guarded] + [graph.nodes[a].label for a in b.args[1:]], b.params) \
        if b.args else b.label
    other = graph.nodes[w.args[2 if branch == 1 else 1]].label
    rewrite = f"where({cond}, {inner}, {other})" if branch == 1 else f"where({cond}, {other}, {inner})"
    return (f"it is in the branch of where() at line {w.line}, col {w.col} that is not chosen here (the condition "
            f"{keep} is false), so it never reaches the result or its derivative, but numpy evaluates both "
            f"branches; to keep every value finite, keep the branch's argument where it is defined: {rewrite}")


def first_nonfinite_gradient(graph: Graph, values: list, output: int, wrt: list[int]) -> NonFinite | None:
    """The first gradient contribution, in backward order, that holds a NaN or infinity."""
    watch = NonFiniteWatch(graph, values, output)
    backward(graph, values, output, wrt, on_update=watch)
    return watch.first


def require_finite(graph: Graph, values: list, output: int | None = None, wrt: list[int] | None = None) -> None:
    """--strict: raise NonFiniteError at the first non-finite value, then (with an output) gradient."""
    problem = first_nonfinite_value(graph, values, output)
    if problem is None and output is not None:
        problem = first_nonfinite_gradient(graph, values, output, list(graph.inputs) if wrt is None else wrt)
    if problem is not None:
        raise problem.error()


def nonfinite_warning(graph: Graph, values: list, results: dict, output: int | None = None,
                      wrt: list[int] | None = None) -> str | None:
    """The warning for results (name -> value) holding NaN or inf, naming the first occurrence; else None."""
    bad = [name for name, value in results.items() if nonfinite(value)]
    if not bad:
        return None
    problem = first_nonfinite_value(graph, values, output)
    if problem is None and output is not None:
        problem = first_nonfinite_gradient(graph, values, output, list(graph.inputs) if wrt is None else wrt)
    if problem is None:
        return f"adcli: warning: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not finite"
    return problem.warning(bad)


# ---------------------------------------------------------------------------------------------
# A while loop that ran to its bound: on_max_iter="warn" takes the value, this says so
# ---------------------------------------------------------------------------------------------

def warned_loops(graph: Graph, output: int) -> list[int]:
    """The `while ..., on_max_iter="warn"` loops the output depends on (few: a scan of the nodes)."""
    ops, _ = graph.flat()  # plain strings: a scan on every grad, cheaper than Node attributes
    return [i for i, op in enumerate(ops[:output + 1]) if op == "while" and graph.nodes[i].params.get("warn")]


def past_bound_warnings(graph: Graph, values: list, output: int) -> list[str]:
    """A warning for each such loop whose condition still held after max_iter steps: its condition
    tested once more, on the value it gave."""
    found = []
    for index in warned_loops(graph, output):
        node, params = graph.nodes[index], graph.nodes[index].params
        told = [values[a] for a in node.args[1 + params["split"]:]]
        if any(v is None for v in told) or values[index] is None:
            continue
        if while_going(params["test"], params["max_iter"], values[index], told):
            span = graph.span(index)
            found.append(Located(f"adcli: warning: the while loop at {span.file}:{span.line}:{span.col} stopped at "
                                 f"max_iter={params['max_iter']} with its condition still holding "
                                 "(on_max_iter=\"warn\"): its values are those after the last step", span))
    return found


# ---------------------------------------------------------------------------------------------
# What the eval and grad commands call
# ---------------------------------------------------------------------------------------------

def inspect_eval(program, given: dict, of: str | None, results: dict, strict: bool) -> str | None:
    """After `eval`: raise NonFiniteError under strict, else return the warnings (or None): a
    non-finite result, a while loop stopped at its bound."""
    upto = None if of is None else program.output_node(of)[1]
    last = len(program.graph.nodes) - 1 if upto is None else upto
    if not strict and not any(nonfinite(v) for v in results.values()) and not warned_loops(program.graph, last):
        return None
    values = program.values(given, upto=upto)
    if strict:
        require_finite(program.graph, values, upto)
    warnings_ = [] if strict else [nonfinite_warning(program.graph, values, results, upto)]
    return joined([w for w in warnings_ + past_bound_warnings(program.graph, values, last) if w])


def inspect_grad(program, given: dict, of: str | None = None, wrt=None, result=None,
                 strict: bool = False) -> tuple[str | None, list[Kink]]:
    """After `grad` or `trace`: (non-finite warning or None, kinks passed through); NonFiniteError under strict.

    `result` is the Gradient already computed, if any; without it the gradient is computed here.
    """
    graph = program.graph
    name, out = program.output_node(of)
    wrt_nodes = program.wrt_nodes(wrt)
    if result is not None and not strict and not has_kinked_ops(graph, out) and not STRONG_ZEROS.count and \
            not any(nonfinite(v) for v in (result.value, *result.grad.values())) and not warned_loops(graph, out):
        return None, []  # nothing to report, and no second forward pass to find that out
    kept = getattr(result, "values", None)
    if kept is not None:  # the pass kept every value (as floats): no second forward pass
        values = [np.asarray(v, dtype=np.float64) for v in kept[:out + 1]]
    else:
        values = program.values(given, upto=out)
    kinks = find_kinks(graph, values, out, wrt_nodes)
    bounded = past_bound_warnings(graph, values, out)
    if strict:
        require_finite(graph, values, out, wrt_nodes)
        strong_zero_report(graph, values, out, wrt_nodes, strict)
        return joined(bounded), kinks
    if result is None:
        grads = backward(graph, values, out, wrt_nodes)
        value, grad = values[out], {graph.nodes[w].label: grads[w] for w in wrt_nodes}
    else:
        name, value, grad = result.output, result.value, result.grad
    results = {name: value, **{f"∂{name}/∂{label}": g for label, g in grad.items()}}
    warnings_ = [nonfinite_warning(graph, values, results, out, wrt_nodes),
                 *strong_zero_report(graph, values, out, wrt_nodes, strict), *bounded]
    return joined([w for w in warnings_ if w]), kinks


def joined(warnings_: list) -> str | None:
    """Warnings as one text, keeping the first one's source position (for annotations)."""
    if len(warnings_) <= 1:
        return warnings_[0] if warnings_ else None
    return Located("\n".join(warnings_), getattr(warnings_[0], "span", None))
