"""Gradient checking: reverse mode against central finite differences, against forward mode, and a
dot-product test of the two, with the worst elements named."""

from __future__ import annotations

import heapq
import importlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from adcli.engine.diagnose import kink_mask, nonfinite_warning, on_path, require_finite
from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.results import require_scalar
from adcli.engine.reverse import backward
from adcli.errors import InputError
from adcli.language.graph import LEAVES, Graph
from adcli.numbers import to_json
from adcli.operations import OPS

if TYPE_CHECKING:  # only in annotations: the engine's modules do not import the Program they serve
    from adcli.engine.program import Program

EPS, RTOL, ATOL = 1e-6, 1e-6, 1e-8
MAX_ELEMENTS = 256  # inputs up to this size are checked element by element
DIRECTIONS = 16  # larger inputs: this many random directions
MAX_DIRECTIONS = 100_000  # a bound on --directions (and --max-elements): each probe costs two evaluations
SEED = 0
SHOW = 5  # the worst elements listed per input
# Evaluating f rounds its result by a few units in the last place, and a central difference
# divides that rounding by the step, so the comparison allows ROUNDING_ULPS·u·(|f(x+h)| + |f(x-h)|)/2h
# on top of atol + rtol·|reverse|: without it, a large |f| makes exact rules look wrong.
ROUNDING_ULPS = 32
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
DOT_RTOL = 1e-10  # forward and reverse mode are exact up to rounding: their dot-product test is tight
# A local derivative that changes across a stencil by less than this fraction of its size is not
# a kink (see slope_jumps); a value whose change misses its derivatives' prediction by more than
# this fraction of its size jumps (see value_jumps). Both lie far above rounding (1e-16) and far
# below any effect a central difference could notice at the default rtol.
SLOPE_JUMP = VALUE_JUMP = 1e-8

PASS, FAIL, KINK, UNSURE = "pass", "fail", "not differentiable", "inconclusive"
SKIPPED = "nothing compared"  # every probe skipped: the input's gradient was not checked at all
UNDEFINED = "not defined at this point"
# What reverse mode's value at a kink is, next to the one-sided derivatives there.
LEFT, RIGHT, BOTH, BETWEEN, OUTSIDE, JUMPS = "= left", "= right", "= both", "between", "outside", "jumps"

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
    at_centre: int = 0  # of those, how many sat exactly on it (the others straddled it)

    def to_json(self) -> dict:
        return {"node": self.node, "op": self.op, "convention": self.convention, "line": self.line,
                "col": self.col, "probes": self.probes, "at_point": self.at_centre,
                "first": where_json(self.first)}


def where_json(where):
    """An element index as a list, a direction number as is."""
    return list(where) if isinstance(where, tuple) else where


@dataclass
class OneSided:
    """At a kink: the derivatives from the left and from the right, and where reverse mode's value lies."""

    where: object  # element index (tuple) or direction number (int)
    left: float | None  # (f(x) - f(x - h·v)) / h, extrapolated to h → 0 (Richardson, from h and h/2)
    right: float | None  # (f(x + h·v) - f(x)) / h, the same (None: the function jumps on that side)
    reverse: float  # reverse mode's value along v: the registry's conventions at work
    verdict: str  # LEFT, RIGHT, BOTH, BETWEEN, OUTSIDE, or JUMPS (the function jumps: no one-sided slope)
    nodes: tuple = ()  # the labels of the kinks the point sits on

    @property
    def compared(self) -> bool:
        return self.verdict != JUMPS

    def to_json(self) -> dict:
        key = "index" if isinstance(self.where, tuple) else "direction"
        return {key: where_json(self.where), "left": None if self.left is None else to_json(self.left),
                "right": None if self.right is None else to_json(self.right),
                "reverse": to_json(self.reverse), "reverse_is": self.verdict, "kinks": list(self.nodes)}


@dataclass(order=True)
class Probe:
    """One element (or direction) compared: reverse mode against the finite difference."""

    ratio: float  # the error over what the tolerance allows: above 1 fails
    where: object = field(compare=False)  # element index (tuple) or direction number (int)
    reverse: float = field(compare=False)
    numeric: float = field(compare=False)
    abs_error: float = field(compare=False)
    rel_error: float | None = field(compare=False)  # None where both values are too near 0 to relate
    step: float = field(compare=False)

    def to_json(self) -> dict:
        key = "index" if isinstance(self.where, tuple) else "direction"
        return {key: list(self.where) if isinstance(self.where, tuple) else self.where,
                "reverse": to_json(self.reverse), "numeric": to_json(self.numeric),
                "abs_error": to_json(self.abs_error),
                "rel_error": None if self.rel_error is None else to_json(self.rel_error),
                "step": to_json(self.step)}


@dataclass
class InputCheck:
    """One input's comparison: largest errors, the worst elements, and the verdict."""

    name: str
    shape: tuple
    mode: str  # "elements" or "directions"
    probes: int  # elements or directions compared
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: list[Probe] = field(default_factory=list)  # the worst first, at most --show of them
    forward_max_abs: float | None = None  # |forward - reverse|, when forward mode exists
    forward_failed: bool = False
    compared: int = 0  # probes away from any kink, whose errors count
    unsure: int = 0  # probes no step could decide (rounding noise, a step lost to rounding, an edge)
    status: str = PASS
    kinks: list[KinkHit] = field(default_factory=list)
    one_sided: list[OneSided] = field(default_factory=list)  # probes sitting exactly on a kink
    skipped_at_kinks: int = 0  # probes near a kink with no one-sided comparison: straddled, or a jump
    skipped_not_finite: int = 0  # probes with a step lost to rounding, or a non-finite value or gradient
    widened: bool = False  # given as float32 (from an .npz) and widened to float64
    output: str = ""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def failures(self) -> list[Probe]:
        return [p for p in self.worst if p.ratio > 1]

    @property
    def one_sided_compared(self) -> int:
        return sum(o.compared for o in self.one_sided)

    @property
    def skipped(self) -> int:
        """Probes compared neither centrally nor one-sidedly."""
        return self.skipped_at_kinks + self.skipped_not_finite

    @property
    def outside(self) -> list[OneSided]:
        return [o for o in self.one_sided if o.verdict == OUTSIDE]

    def coverage(self) -> str:
        """How much was compared and why the rest was not: `compared 1 of 3 elements; 2 of 3 elements
        skipped (2 at or across a kink, ...)`, or `nothing compared; ...`."""
        unit = "elements" if self.mode == "elements" else "directions"
        if not self.probes:
            return "nothing compared: it has no elements"
        why = [f"{n} {reason}" for n, reason in (
            (self.skipped_at_kinks, "at or across a kink, with no one-sided derivatives to compare"),
            (self.skipped_not_finite, "with a value or gradient not finite, or the step lost to rounding")) if n]
        done = self.compared + self.one_sided_compared
        head = "nothing compared" if not done else f"compared {done} of {self.probes} {unit}"
        return f"{head}; {self.skipped} of {self.probes} {unit} skipped ({', '.join(why)})"


@dataclass
class DotTest:
    """⟨ȳ, J ẋ⟩ by forward mode against ⟨Jᵀ ȳ, ẋ⟩ by reverse mode, for random ẋ and ȳ."""

    forward: float
    reverse: float
    passed: bool

    @property
    def relative(self) -> float:
        scale = max(abs(self.forward), abs(self.reverse))
        gap = abs(self.forward - self.reverse)
        return 0.0 if gap == 0 else gap / scale if scale and math.isfinite(gap) else math.inf


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
    dot: DotTest | None = None
    undefined: bool = False  # the function itself is NaN or infinite at the point: nothing to compare
    data: list[str] = field(default_factory=list)  # inputs declared as data (or integers): never checked

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.inputs) or (self.dot is not None and not self.dot.passed)

    @property
    def skipped(self) -> list[str]:
        """The inputs with nothing compared at all."""
        return [c.name for c in self.inputs if c.status == SKIPPED]

    @property
    def status(self) -> str:
        """pass, fail, "nothing compared" (for some input), "not defined at this point", or "no inputs"."""
        if self.undefined:
            return UNDEFINED
        if not self.inputs:
            return "no inputs"
        return FAIL if self.failed else SKIPPED if self.skipped else PASS


# ---------------------------------------------------------------------------------------------
# Forward mode, if present
# ---------------------------------------------------------------------------------------------

def forward_mode(program: Program, given: dict, of: str | None):
    """A function (values, output, {input node: tangent}) -> output tangent by forward mode, or None.

    Forward mode lives in adcli.engine.forward; the check uses it when it is there and skips it otherwise.
    """
    try:
        module = importlib.import_module("adcli.engine.forward")
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


@dataclass
class NodeState:
    """One kinked node at one point of a stencil: its value, local derivatives, kink mask and operands."""

    value: np.ndarray
    slopes: list  # elementwise: ∂ₖ in the result's shape; otherwise operand k's vjp of fixed weights (None: an int)
    mask: np.ndarray  # where the registry's kink rule holds
    operands: list | None  # elementwise only: each operand broadcast to the result's shape


def node_state(graph: Graph, values: list, index: int) -> NodeState:
    """What `touched` compares between the centre and the two ends of a stencil."""
    node = graph.nodes[index]
    op = OPS[node.op]
    xs = [values[a] for a in node.args]
    ans = np.asarray(values[index])
    params = node.params or {}
    with np.errstate(all="ignore"):
        mask = np.asarray(kink_mask(graph, values, index), dtype=bool)
        if op.elementwise:
            slopes = [np.broadcast_to(d(ans, *xs, **params), ans.shape) for d in op.derivs]
            operands = [np.broadcast_to(x, ans.shape) for x in xs]
            return NodeState(ans, slopes, mask, operands)
        # Unequal weights, so a vjp tells apart which element gets which share (eigenvectors swapping).
        weights = (1.0 + np.arange(ans.size) / max(ans.size, 1)).reshape(ans.shape)
        slopes = [op.vjp(k, weights, ans, xs, params) if np.asarray(xs[k]).dtype.kind == "f" else None
                  for k in range(len(xs))]
        return NodeState(ans, slopes, mask, None)


def differs(a, b) -> np.ndarray:
    """Elementwise a != b, NaN equal to NaN."""
    a, b = np.asarray(a), np.asarray(b)
    return (a != b) & ~(np.isnan(a) & np.isnan(b)) if a.dtype.kind in "fc" else a != b


def where_on(mask: np.ndarray, moved: np.ndarray) -> bool:
    """Whether the kink rule holds at an element the probe moves (a reduction's mask may be
    shaped differently from its value: then anywhere at all)."""
    try:
        return bool(np.any(np.broadcast_to(mask, np.broadcast_shapes(mask.shape, moved.shape)) & moved))
    except ValueError:
        return bool(mask.any() and moved.any())


def slope_jumps(minus: list, centre: list, plus: list) -> bool:
    """Whether a local derivative jumps inside the stencil rather than varying smoothly across it.

    A smooth derivative changes by about the same amount from x - h to x as from x to x + h (the
    second difference is O(h²), the first ones O(h)); a kink between two of the points puts the
    whole jump into one of the two. Changes below SLOPE_JUMP of the derivative's size are rounding
    and curvature, too small to move a central difference past any tolerance the check uses.
    """
    with np.errstate(all="ignore"):
        for dm, d0, dp in zip(minus, centre, plus):
            if d0 is None:
                continue
            dm, d0, dp = (np.asarray(d, dtype=np.float64) for d in (dm, d0, dp))
            second = np.abs(dp - 2 * d0 + dm)
            first = np.abs(dp - d0) + np.abs(d0 - dm)
            size = np.maximum(np.maximum(np.abs(dm), np.abs(d0)), np.abs(dp))
            if np.any((second > 0.5 * first) & (second > SLOPE_JUMP * size)):
                return True
    return False


def value_jumps(centre: NodeState, end: NodeState) -> bool:
    """Whether an elementwise value jumps between the centre and one end of the stencil (floor,
    sign, atan2's cut): the change the local derivatives predict (trapezoid rule, exact to O(h³))
    misses the change seen by more than VALUE_JUMP of the values."""
    with np.errstate(all="ignore"):
        predicted = sum(0.5 * (d0 + d1) * (x1 - x0) for d0, d1, x0, x1 in
                        zip(centre.slopes, end.slopes, centre.operands, end.operands))
        missed = np.abs((end.value - centre.value) - predicted)
        return bool(np.any(missed > VALUE_JUMP * (np.abs(end.value) + np.abs(centre.value))))


def touched(graph: Graph, nodes: list[int], centre: dict, plus: list, minus: list) -> list[tuple[int, bool]]:
    """The kink nodes the stencil x - h·v, x, x + h·v sits on or straddles, each with whether the
    kink is at the centre itself (then one-sided differences can still be compared).

    A kink is touched where its registry rule holds at the centre at an element the probe moves,
    or where it lies between the points: a local derivative jumps (relu, max, a tie) or a
    value jumps (floor, sign, atan2's cut) inside the stencil. Elsewhere a node's derivative may
    change from point to point (elu for x < 0, norm, atan2) without any kink being near.
    """
    hits = []
    for i in nodes:
        c = centre[i]
        p, m = node_state(graph, plus, i), node_state(graph, minus, i)
        moved = differs(p.value, c.value) | differs(m.value, c.value)
        if c.operands is not None:
            for x0, xp, xm in zip(c.operands, p.operands, m.operands):
                moved = moved | differs(xp, x0) | differs(xm, x0)
        at_centre = where_on(c.mask, moved)
        # A kink exactly at x ± h is harmless unless a value jumps there: the stencil then spans one
        # smooth piece, continued to its end.
        if (at_centre or slope_jumps(m.slopes, c.slopes, p.slopes)
                or (c.operands is not None and (value_jumps(c, p) or value_jumps(c, m)))):
            hits.append((i, at_centre))
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


def step_for(x: np.ndarray, v: np.ndarray, eps: float) -> float:
    """The finite-difference step along v: eps relative to the size of x where v points (at least
    eps itself), so an element near 1e10 is moved by about 1e-6·1e10, not by an amount lost to rounding."""
    with np.errstate(all="ignore"):
        scale = float(np.max(np.abs(x[v != 0]), initial=0.0)) if np.ndim(x) else abs(float(x))
    return eps * max(1.0, scale) if math.isfinite(scale) else eps


def within(numeric: float, reverse: float, rtol: float, atol: float, noise: float = 0.0) -> bool:
    """The np.isclose criterion with reverse mode as the reference, widened by the rounding noise."""
    return bool(np.isfinite(numeric) and np.isfinite(reverse)
                and abs(numeric - reverse) <= atol + rtol * abs(reverse) + noise)


def check_options(eps: float, rtol: float, atol: float, max_elements: int, directions: int, seed: int,
                  show: int) -> None:
    """Refuse settings that cannot mean anything, before any work: each with what is allowed."""
    if not (math.isfinite(eps) and 0 < eps < 1):
        raise InputError(f"--eps {eps:g}: the step must be a finite number between 0 and 1, such as 1e-6")
    if not (math.isfinite(rtol) and rtol >= 0) or not (math.isfinite(atol) and atol >= 0):
        raise InputError("--rtol and --atol must be finite and not negative")
    if not 0 <= max_elements <= MAX_DIRECTIONS:
        raise InputError(f"--max-elements must be from 0 to {MAX_DIRECTIONS:,}")
    if not 1 <= directions <= MAX_DIRECTIONS:
        raise InputError(f"--directions must be from 1 to {MAX_DIRECTIONS:,} (each costs two evaluations)")
    if not 0 <= seed < 2**32:
        raise InputError("--seed must be a whole number from 0 to 4294967295")
    if show < 0:
        raise InputError("--show must not be negative")


def check_gradients(program: Program, given: dict, of: str | None = None, eps: float = EPS, rtol: float = RTOL,
                    atol: float = ATOL, max_elements: int = MAX_ELEMENTS, directions: int = DIRECTIONS,
                    seed: int = SEED, strict: bool = False, wrt=None, show: int = SHOW,
                    widened: tuple = ()) -> CheckReport:
    """Compare reverse mode with central differences (and forward mode) for every input in `wrt`
    (default: every parameter; data and integer inputs are never checked), then the two modes
    with one dot-product test."""
    check_options(eps, rtol, atol, max_elements, directions, seed, show)
    graph = program.graph
    name, out = program.output_node(of)
    bound = bind_inputs(graph, given)
    values = evaluate(graph, bound, upto=out)
    require_scalar(graph, name, out, values[out])
    wrt_nodes = program.wrt_nodes(wrt)
    data = [graph.nodes[i].label for i in graph.inputs if not graph.differentiable(i)]
    value = float(np.sum(values[out]))
    if strict:
        require_finite(graph, values, out, wrt_nodes)
    grads = backward(graph, values, out, wrt_nodes)
    results = {name: values[out], **{f"∂{name}/∂{graph.nodes[w].label}": grads[w] for w in wrt_nodes}}
    warning = None if strict else nonfinite_warning(graph, values, results, out, wrt_nodes)
    jvp = forward_mode(program, given, of)
    report = CheckReport(name, value, eps, rtol, atol, jvp is not None, [], warning, data=data)
    if not math.isfinite(value):  # no derivative to check where the function itself is not a number
        report.undefined = True
        return report
    kinked = kink_nodes(graph, out, wrt_nodes)
    centre = {i: node_state(graph, values, i) for i in kinked}
    rng = np.random.default_rng(seed)

    def output_at(w, x):
        return evaluate(graph, {**bound, w: x}, upto=out)

    for w in wrt_nodes:
        check = check_input(graph, w, bound, grads[w], out, output_at, jvp, values, kinked, centre, rng,
                            eps, rtol, atol, max_elements, directions, show)
        check.widened = graph.nodes[w].label in widened
        check.output = name
        report.inputs.append(check)
    if jvp is not None and wrt_nodes:
        report.dot = dot_test(graph, values, out, wrt_nodes, grads, jvp, rng)
    return report


def check_input(graph, w, bound, g, out, output_at, jvp, values, kinked, centre, rng, eps, rtol, atol,
                max_elements, directions, show) -> InputCheck:
    """One input: each element (or random direction), its finite difference, forward mode, kinks."""
    x = bound[w]
    shape, size = np.shape(x), int(np.size(x))
    mode = "elements" if size <= max_elements else "directions"
    check = InputCheck(graph.nodes[w].label, shape, mode, size if mode == "elements" else directions)
    f_centre = float(np.sum(values[out]))
    hits: dict[int, KinkHit] = {}
    worst: list[Probe] = []  # a heap of the `show` worst probes
    for where, v in probes(shape, size, rng, max_elements, directions):
        h = step_for(x, v, eps)
        xp, xm = x + h * v, x - h * v
        # The step actually taken, after rounding x ± h, is the right denominator.
        step = float(np.sum((xp - xm) * v))
        reverse = float(np.sum(g * v))
        if jvp is not None and math.isfinite(reverse):  # a non-finite gradient is no reference (where's trap)
            t = jvp(values, out, {w: v})
            tangent = 0.0 if t is None else float(np.sum(t))  # None: the output ignores this input
            same = tangent == reverse or (np.isnan(tangent) and np.isnan(reverse))  # inf = inf agrees
            gap = 0.0 if same else abs(tangent - reverse) if np.isfinite(tangent - reverse) else float("inf")
            check.forward_max_abs = max(check.forward_max_abs or 0.0, gap)
            check.forward_failed |= not (same or within(tangent, reverse, rtol, atol))
        if step == 0 or not math.isfinite(step):  # the step was lost to rounding: nothing to compare
            check.unsure += 1
            check.skipped_not_finite += 1
            continue
        plus, minus = output_at(w, xp), output_at(w, xm)
        f_plus, f_minus = float(np.sum(plus[out])), float(np.sum(minus[out]))
        near = touched(graph, kinked, centre, plus, minus)
        for i, at_centre in near:
            node = graph.nodes[i]
            hit = hits.setdefault(i, KinkHit(node.label, node.op, OPS[node.op].convention, node.line, node.col,
                                             first=where))
            hit.probes += 1
            hit.at_centre += at_centre
        if near:
            # No derivative here for a central difference. Sitting exactly on the kink, the two
            # one-sided derivatives still exist, and reverse mode's value can be set beside them.
            side = None
            if all(at for _, at in near):
                side = one_sided(w, x, v, h, f_centre, f_plus, f_minus, reverse, output_at, out, rtol, atol)
            if side is None:
                check.skipped_at_kinks += 1
                continue
            side.where, side.nodes = where, tuple(graph.nodes[i].label for i, _ in near)
            check.one_sided.append(side)
            if not side.compared:
                check.skipped_at_kinks += 1
            continue
        if not (math.isfinite(f_plus) and math.isfinite(f_minus) and math.isfinite(reverse)):
            check.unsure += 1  # the stencil leaves the function's domain, or the derivative is infinite
            check.skipped_not_finite += 1
            continue
        with np.errstate(all="ignore"):
            numeric = (f_plus - f_minus) / step
            noise = ROUNDING_ULPS * UNIT_ROUNDOFF * (abs(f_plus) + abs(f_minus)) / abs(step)
        check.compared += 1
        error = abs(numeric - reverse) if np.isfinite(numeric - reverse) else float("inf")
        scale = max(abs(numeric), abs(reverse))
        relative = None if scale <= atol else (0.0 if error == 0 else error / scale)
        check.max_abs = max(check.max_abs, error)
        if relative is not None:
            check.max_rel = max(check.max_rel, relative)
        allowed = atol + rtol * abs(reverse) + (noise if np.isfinite(noise) else 0.0)
        probe = Probe(error / allowed if np.isfinite(error) else float("inf"), where, reverse, numeric, error,
                      relative, step)
        if show:
            (heapq.heappush if len(worst) < show else heapq.heappushpop)(worst, probe)
        if not within(numeric, reverse, rtol, atol, noise):
            check.status = FAIL
        elif not within(numeric, reverse, rtol, atol):
            check.unsure += 1  # inside the rounding noise only: the differences cannot decide
    check.worst = sorted(worst, reverse=True)
    check.kinks = [hits[i] for i in sorted(hits)]
    if check.forward_failed or check.outside:
        check.status = FAIL
    elif check.status == PASS and not (check.compared or check.one_sided_compared):
        check.status = SKIPPED
    elif check.status == PASS and check.unsure:
        check.status = UNSURE
    elif check.status == PASS and check.kinks:
        check.status = KINK
    return check


def one_sided(w, x, v, h, f_centre, f_plus, f_minus, reverse, output_at, out, rtol, atol) -> OneSided | None:
    """The derivatives from each side at a kink, from steps h and h/2 (Richardson's extrapolation
    cancels the O(h) error of a one-sided difference), and where reverse mode's value lies among them.
    None when a value is not finite or a step is lost to rounding: nothing to compare."""
    if not math.isfinite(reverse):
        return None
    sides = []
    for sign, f_far in ((1.0, f_plus), (-1.0, f_minus)):
        far, half = x + sign * h * v, x + sign * 0.5 * h * v
        f_half = float(np.sum(output_at(w, half)[out]))
        # The steps actually taken, after rounding; the left side's slope is (f(x) - f(x - h))/h.
        step, half_step = float(np.sum(sign * (far - x) * v)), float(np.sum(sign * (half - x) * v))
        if not (math.isfinite(f_far) and math.isfinite(f_half) and math.isfinite(step) and 0 < half_step < step):
            return None
        change, half_change = sign * (f_far - f_centre), sign * (f_half - f_centre)
        noise = ROUNDING_ULPS * UNIT_ROUNDOFF * (abs(f_far) + 2 * abs(f_half) + 3 * abs(f_centre))
        # A jump: the value changes as much over h/2 as over h, and no slope describes it.
        jump = abs(change) > noise and abs(half_change - change) <= 0.25 * abs(change)
        slope = (step * half_change / half_step - half_step * change / step) / (step - half_step)
        sides.append((slope, jump, noise / (step - half_step)))
    (right, right_jump, right_noise), (left, left_jump, left_noise) = sides
    if left_jump or right_jump:
        return OneSided(None, None if left_jump else left, None if right_jump else right, reverse, JUMPS)
    allowed = atol + rtol * max(abs(left), abs(right), abs(reverse)) + max(left_noise, right_noise)
    at_left, at_right = abs(reverse - left) <= allowed, abs(reverse - right) <= allowed
    verdict = (BOTH if at_left and at_right else LEFT if at_left else RIGHT if at_right
               else BETWEEN if min(left, right) < reverse < max(left, right) else OUTSIDE)
    return OneSided(None, left, right, reverse, verdict)


def dot_test(graph, values, out, wrt_nodes, grads, jvp, rng) -> DotTest:
    """One forward pass along random ẋ (every input at once) and the reverse pass's gradient:
    ⟨ȳ, J ẋ⟩ must equal ⟨Jᵀ ȳ, ẋ⟩ (ȳ random too), whatever the inputs' sizes."""
    seeds = {w: rng.standard_normal(np.shape(values[w])) for w in wrt_nodes}
    y_bar = float(rng.standard_normal())
    t = jvp(values, out, seeds)
    with np.errstate(all="ignore"):
        forward = y_bar * (0.0 if t is None else float(np.sum(t)))
        reverse = y_bar * float(sum(np.sum(grads[w] * seeds[w]) for w in wrt_nodes))
    scale = max(abs(forward), abs(reverse))
    same = forward == reverse or (math.isnan(forward) and math.isnan(reverse))
    passed = same or (math.isfinite(forward - reverse) and abs(forward - reverse) <= DOT_RTOL * scale)
    return DotTest(forward, reverse, passed)


def report_json(report: CheckReport) -> dict:
    """The report as JSON-ready data (numbers through values.to_json by the caller's writer)."""
    rows = []
    for c in report.inputs:
        rows.append({"name": c.name, "shape": list(c.shape), "size": c.size, "mode": c.mode, "probes": c.probes,
                     "compared": c.compared, "max_abs_error": to_json(c.max_abs) if c.compared else None,
                     "max_rel_error": to_json(c.max_rel) if c.compared else None,
                     "worst": [p.to_json() for p in c.worst],
                     "forward_max_abs_error": None if c.forward_max_abs is None else to_json(c.forward_max_abs),
                     "status": c.status, "inconclusive_probes": c.unsure, "kinks": [k.to_json() for k in c.kinks],
                     "one_sided_compared": c.one_sided_compared, "one_sided": [o.to_json() for o in c.one_sided],
                     "skipped": c.skipped, "skipped_at_kinks": c.skipped_at_kinks,
                     "skipped_not_finite": c.skipped_not_finite, "widened_from_float32": c.widened})
    out = {"output": report.output, "value": to_json(report.value), "status": report.status, "eps": report.eps,
           "rtol": report.rtol, "atol": report.atol, "forward": report.forward, "passed": not report.failed,
           "nothing_compared": report.skipped, "inputs": rows, "not_checked": report.data}
    if report.dot is not None:
        out["dot_product_test"] = {"forward": to_json(report.dot.forward), "reverse": to_json(report.dot.reverse),
                                   "relative_difference": to_json(report.dot.relative), "passed": report.dot.passed}
    return out
