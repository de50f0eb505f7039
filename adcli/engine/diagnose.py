"""Diagnosis: where a NaN or infinity first appeared, and which kinks a derivative passed through."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from adcli.engine.reverse import backward, depends_on, feeds
from adcli.errors import Located, NonFiniteError, Span
from adcli.language.graph import CONST, INPUT, LEAVES, Graph
from adcli.numbers import format_number, format_value
from adcli.operations import OPS, kernels, source_text
from adcli.operations.core import STRONG_ZEROS

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
# Describing nodes
# ---------------------------------------------------------------------------------------------

def expression(graph: Graph, index: int, values: list | None = None) -> str:
    """`label = formula` for an operation (W·x when `values` shows scalars), the label for a leaf."""
    node = graph.nodes[index]
    if node.op in LEAVES:
        return node.label or format_value(node.data, full=True)
    labels = [graph.nodes[a].label for a in node.args]
    scalar = values is not None and all(np.ndim(values[a]) == 0 for a in node.args)
    return f"{node.label} = {OPS[node.op].formula(labels, scalar=scalar)}"


def first_bad(value) -> tuple[tuple, float]:
    """The index and value of the first non-finite element, in C order."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return (), float(a)
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    return index, float(a[index])


def at(value, shape, index) -> str:
    """One operand's value at the element `index` of a result of `shape`, or the whole value."""
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        return format_number(v)
    if v.shape == tuple(shape):
        return format_number(v[index])
    if v.size <= 6:
        return format_value(v, full=True)
    return f"an array of shape {list(v.shape)}"


def suffix(value, shape, index) -> str:
    """`[1]` after an operand's name when a single element of it is shown."""
    v = np.asarray(value)
    return f"[{', '.join(map(str, index))}]" if v.ndim and v.shape == tuple(shape) else ""


def distinct(args) -> list[int]:
    """Operand indices without repeats, in order: x/x shows x once."""
    seen: list[int] = []
    for a in args:
        if a not in seen:
            seen.append(a)
    return seen


CAUSES = {"divide by zero": "division by zero", "overflow": "overflow: beyond float64's range, about 1.8e308",
          "invalid value": "no value: such as 0/0, inf - inf or sqrt of a negative number"}


def numpy_cause(compute, empty: bool = False) -> str:
    """Why a step gave NaN or inf, in adcli's words ("division by zero", "overflow: ..."), found by
    redoing the step with numpy's floating-point errors raised; `empty` when an operand had no
    elements (the mean of nothing is 0/0)."""
    if empty:
        return "an empty array: its mean (0/0) has no value"
    with np.errstate(all="raise", under="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compute()
        except FloatingPointError as e:
            kind = next((k for k in CAUSES if str(e).startswith(k)), None)
            return CAUSES[kind] if kind else ""
        except (ValueError, ArithmeticError, TypeError):
            return ""
    return ""


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


# ---------------------------------------------------------------------------------------------
# What the eval and grad commands call
# ---------------------------------------------------------------------------------------------

def inspect_eval(program, given: dict, of: str | None, results: dict, strict: bool) -> str | None:
    """After `eval`: raise NonFiniteError under strict, else return the non-finite warning (or None)."""
    if not strict and not any(nonfinite(v) for v in results.values()):
        return None
    upto = None if of is None else program.output_node(of)[1]
    values = program.values(given, upto=upto)
    if strict:
        require_finite(program.graph, values, upto)
        return None
    return nonfinite_warning(program.graph, values, results, upto)


def inspect_grad(program, given: dict, of: str | None = None, wrt=None, result=None,
                 strict: bool = False) -> tuple[str | None, list[Kink]]:
    """After `grad` or `trace`: (non-finite warning or None, kinks passed through); NonFiniteError under strict.

    `result` is the Gradient already computed, if any; without it the gradient is computed here.
    """
    graph = program.graph
    name, out = program.output_node(of)
    wrt_nodes = program.wrt_nodes(wrt)
    if result is not None and not strict and not has_kinked_ops(graph, out) and not STRONG_ZEROS.count and \
            not any(nonfinite(v) for v in (result.value, *result.grad.values())):
        return None, []  # nothing to report, and no second forward pass to find that out
    kept = getattr(result, "values", None)
    if kept is not None:  # the pass kept every value (as floats): no second forward pass
        values = [np.asarray(v, dtype=np.float64) for v in kept[:out + 1]]
    else:
        values = program.values(given, upto=out)
    kinks = find_kinks(graph, values, out, wrt_nodes)
    if strict:
        require_finite(graph, values, out, wrt_nodes)
        strong_zero_report(graph, values, out, wrt_nodes, strict)
        return None, kinks
    if result is None:
        grads = backward(graph, values, out, wrt_nodes)
        value, grad = values[out], {graph.nodes[w].label: grads[w] for w in wrt_nodes}
    else:
        name, value, grad = result.output, result.value, result.grad
    results = {name: value, **{f"∂{name}/∂{label}": g for label, g in grad.items()}}
    warnings_ = [nonfinite_warning(graph, values, results, out, wrt_nodes),
                 *strong_zero_report(graph, values, out, wrt_nodes, strict)]
    return joined([w for w in warnings_ if w]), kinks


def joined(warnings_: list) -> str | None:
    """Warnings as one text, keeping the first one's source position (for annotations)."""
    if len(warnings_) <= 1:
        return warnings_[0] if warnings_ else None
    return Located("\n".join(warnings_), getattr(warnings_[0], "span", None))
