"""Gradient checking: reverse mode against central finite differences, and against forward mode."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from .diagnose import nonfinite_warning, on_path, require_finite
from .evaluate import bind_inputs, evaluate
from .graph import LEAVES, Graph
from .program import Program, require_scalar
from .registry import OPS
from .reverse import backward
from .values import to_json

EPS, RTOL, ATOL = 1e-6, 1e-6, 1e-8
MAX_ELEMENTS = 256  # inputs up to this size are checked element by element
DIRECTIONS = 16  # larger inputs: this many random directions
SEED = 0
# Evaluating f rounds its result by a few units in the last place, and a central difference
# divides that rounding by the step, so the comparison allows ROUNDING_ULPS·u·(|f(x+h)| + |f(x-h)|)/2h
# on top of atol + rtol·|reverse|: without it, a large |f| makes exact rules look wrong.
ROUNDING_ULPS = 32
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2

PASS, FAIL, KINK, UNSURE = "pass", "fail", "not differentiable", "inconclusive"

# ---------------------------------------------------------------------------------------------
# Plain-data results
# ---------------------------------------------------------------------------------------------


@dataclass
class KinkHit:
    """A kink that a finite-difference stencil sat on or straddled, and how often."""

    node: str  # its label
    op: str
    convention: str
    line: int
    col: int
    probes: int = 0  # how many elements (or directions) of this input it touched
    first: object = None  # the first such element index, or direction number

    def to_json(self) -> dict:
        return {"node": self.node, "op": self.op, "convention": self.convention, "line": self.line,
                "col": self.col, "probes": self.probes,
                "first": list(self.first) if isinstance(self.first, tuple) else self.first}


@dataclass
class InputCheck:
    """One input's comparison: largest errors, the worst element, and the verdict."""

    name: str
    shape: tuple
    mode: str  # "elements" or "directions"
    probes: int  # elements or directions compared
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: object = None  # element index (tuple) or direction number (int)
    reverse: float | None = None  # reverse mode at the worst probe
    numeric: float | None = None  # finite differences at the worst probe
    forward_max_abs: float | None = None  # |forward - reverse|, when forward mode exists
    forward_failed: bool = False
    compared: int = 0  # probes away from any kink, whose errors count
    unsure: int = 0  # probes whose error only the rounding noise allowance covers
    status: str = PASS
    kinks: list[KinkHit] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class CheckReport:
    """Every input's check, with the settings used."""

    output: str
    value: float
    eps: float
    rtol: float
    atol: float
    forward: bool  # whether forward mode was compared
    inputs: list[InputCheck]
    warning: str | None = None  # non-finite values or gradients, without --strict

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.inputs)


# ---------------------------------------------------------------------------------------------
# Forward mode, if present
# ---------------------------------------------------------------------------------------------

def forward_mode(program: Program, given: dict, of: str | None):
    """A function (values, output, {input node: tangent}) -> output tangent by forward mode, or None.

    Forward mode lives in adcli.forward; the check uses it when it is there and skips it otherwise.
    """
    try:
        module = importlib.import_module("adcli.forward")
    except ImportError:
        return None
    graph = program.graph
    tangents = getattr(module, "tangents", None)
    if tangents is not None:  # the graph-level pass: no re-evaluation per direction
        return lambda values, out, seeds: tangents(graph, values, out, seeds)[out]
    jvp = getattr(module, "jvp", None)
    if jvp is not None:
        return lambda values, out, seeds: jvp(program, {graph.nodes[w].label: t for w, t in seeds.items()},
                                              of, **given).tangent
    return None


# ---------------------------------------------------------------------------------------------
# Kinks touched by a stencil
# ---------------------------------------------------------------------------------------------

def kink_nodes(graph: Graph, output: int, wrt: list[int]) -> list[int]:
    """Operations with a kink through which the derivative flows."""
    path = on_path(graph, output, wrt)
    return [i for i in range(output + 1)
            if path[i] and graph.nodes[i].op not in LEAVES and OPS[graph.nodes[i].op].kink is not None]


def branch(graph: Graph, values: list, index: int) -> list:
    """The local derivatives of node `index`: which side of its kink each element is on.

    Every operation with a kink (relu, abs, max, min and their reductions) has a piecewise
    constant derivative, so the local derivative changes exactly when a kink is reached or crossed.
    """
    node = graph.nodes[index]
    op = OPS[node.op]
    xs = [values[a] for a in node.args]
    ans = values[index]
    with np.errstate(all="ignore"):
        if op.elementwise:
            return [np.broadcast_to(d(ans, *xs), np.shape(ans)) for d in op.derivs]
        ones = np.ones_like(ans)
        return [op.vjp(k, ones, ans, xs, node.params or {}) for k in range(len(xs))]


def same_branch(a: list, b: list) -> bool:
    """Whether two lists of local derivatives are identical, NaN for NaN."""
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def touched(graph: Graph, nodes: list[int], centre: dict, plus: list, minus: list) -> list[int]:
    """The kink nodes whose branch differs anywhere among the centre and the two stencil points."""
    hits = []
    for i in nodes:
        if not (same_branch(centre[i], branch(graph, plus, i)) and same_branch(centre[i], branch(graph, minus, i))):
            hits.append(i)
    return hits


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------

def probes(shape, size: int, rng, max_elements: int, directions: int):
    """(label, direction) pairs: one-hot per element up to max_elements, else seeded random unit vectors."""
    if size <= max_elements:
        for flat in range(size):
            v = np.zeros(size)
            v[flat] = 1.0
            yield tuple(int(i) for i in np.unravel_index(flat, shape)), v.reshape(shape)
        return
    for k in range(directions):
        v = rng.standard_normal(size)
        yield k + 1, (v / np.linalg.norm(v)).reshape(shape)


def within(numeric: float, reverse: float, rtol: float, atol: float, noise: float = 0.0) -> bool:
    """The np.isclose criterion with reverse mode as the reference, widened by the rounding noise."""
    return bool(np.isfinite(numeric) and np.isfinite(reverse)
                and abs(numeric - reverse) <= atol + rtol * abs(reverse) + noise)


def check_gradients(program: Program, given: dict, of: str | None = None, eps: float = EPS, rtol: float = RTOL,
                    atol: float = ATOL, max_elements: int = MAX_ELEMENTS, directions: int = DIRECTIONS,
                    seed: int = SEED, strict: bool = False) -> CheckReport:
    """Compare reverse mode with central differences (and forward mode) for every input."""
    graph = program.graph
    name, out = program.output_node(of)
    bound = bind_inputs(graph, given)
    values = evaluate(graph, bound, upto=out)
    require_scalar(graph, name, out, values[out])
    wrt = list(graph.inputs)
    if strict:
        require_finite(graph, values, out, wrt)
    grads = backward(graph, values, out, wrt)
    results = {name: values[out], **{f"∂{name}/∂{graph.nodes[w].label}": grads[w] for w in wrt}}
    warning = None if strict else nonfinite_warning(graph, values, results, out, wrt)
    jvp = forward_mode(program, given, of)
    kinked = kink_nodes(graph, out, wrt)
    centre = {i: branch(graph, values, i) for i in kinked}
    rng = np.random.default_rng(seed)

    def output_at(w, x):
        return evaluate(graph, {**bound, w: x}, upto=out)

    checks = []
    for w in wrt:
        x, g = bound[w], grads[w]
        shape, size = np.shape(x), int(np.size(x))
        mode = "elements" if size <= max_elements else "directions"
        check = InputCheck(graph.nodes[w].label, shape, mode, size if mode == "elements" else directions)
        hits: dict[int, KinkHit] = {}
        worst_ratio = -1.0
        for where, v in probes(shape, size, rng, max_elements, directions):
            xp, xm = x + eps * v, x - eps * v
            plus, minus = output_at(w, xp), output_at(w, xm)
            # The step actually taken, after rounding x ± eps, is the right denominator.
            step = float(np.sum((xp - xm) * v))
            f_plus, f_minus = float(np.sum(plus[out])), float(np.sum(minus[out]))
            with np.errstate(all="ignore"):
                numeric = (f_plus - f_minus) / step
                noise = ROUNDING_ULPS * UNIT_ROUNDOFF * (abs(f_plus) + abs(f_minus)) / abs(step)
            reverse = float(np.sum(g * v))
            if jvp is not None:
                t = jvp(values, out, {w: v})
                tangent = 0.0 if t is None else float(np.sum(t))  # None: the output ignores this input
                same = tangent == reverse or (np.isnan(tangent) and np.isnan(reverse))  # inf = inf agrees
                gap = 0.0 if same else abs(tangent - reverse) if np.isfinite(tangent - reverse) else float("inf")
                check.forward_max_abs = max(check.forward_max_abs or 0.0, gap)
                check.forward_failed |= not (same or within(tangent, reverse, rtol, atol))
            near = touched(graph, kinked, centre, plus, minus)
            for i in near:
                node = graph.nodes[i]
                hit = hits.setdefault(i, KinkHit(node.label, node.op, OPS[node.op].convention, node.line, node.col,
                                                 first=where))
                hit.probes += 1
            if near:
                continue  # no derivative here to compare with: not a failure
            check.compared += 1
            error = abs(numeric - reverse) if np.isfinite(numeric - reverse) else float("inf")
            scale = max(abs(numeric), abs(reverse))
            check.max_abs = max(check.max_abs, error)
            relative = 0.0 if error == 0 else error / scale if np.isfinite(error) and scale else float("inf")
            check.max_rel = max(check.max_rel, relative)
            allowed = atol + rtol * abs(reverse) + (noise if np.isfinite(noise) else 0.0)
            ratio = error / allowed if np.isfinite(error) else float("inf")
            if ratio > worst_ratio:
                worst_ratio, check.worst, check.reverse, check.numeric = ratio, where, reverse, numeric
            if not within(numeric, reverse, rtol, atol, noise):
                check.status = FAIL
            elif not within(numeric, reverse, rtol, atol):
                check.unsure += 1  # inside the rounding noise only: the differences cannot decide
        check.kinks = [hits[i] for i in sorted(hits)]
        if check.forward_failed:
            check.status = FAIL
        elif check.status == PASS and check.unsure:
            check.status = UNSURE
        elif check.status == PASS and check.kinks:
            check.status = KINK
        checks.append(check)
    return CheckReport(name, float(np.sum(values[out])), eps, rtol, atol, jvp is not None, checks, warning)


def report_json(report: CheckReport) -> dict:
    """The report as JSON-ready data (numbers through values.to_json by the caller's writer)."""
    rows = []
    for c in report.inputs:
        worst = None
        if c.worst is not None:
            key = "index" if isinstance(c.worst, tuple) else "direction"
            worst = {key: list(c.worst) if isinstance(c.worst, tuple) else c.worst,
                     "reverse": to_json(c.reverse), "numeric": to_json(c.numeric)}
        rows.append({"name": c.name, "shape": list(c.shape), "size": c.size, "mode": c.mode, "probes": c.probes,
                     "compared": c.compared, "max_abs_error": to_json(c.max_abs) if c.compared else None,
                     "max_rel_error": to_json(c.max_rel) if c.compared else None, "worst": worst,
                     "forward_max_abs_error": None if c.forward_max_abs is None else to_json(c.forward_max_abs),
                     "status": c.status, "inconclusive_probes": c.unsure, "kinks": [k.to_json() for k in c.kinks]})
    return {"output": report.output, "value": to_json(report.value), "eps": report.eps, "rtol": report.rtol,
            "atol": report.atol, "forward": report.forward, "passed": not report.failed, "inputs": rows}
