"""Gradient checking: reverse mode against central finite differences, against forward mode, and a
dot-product test of the two, with the worst elements named."""

from __future__ import annotations

import heapq
import importlib
import math
from typing import TYPE_CHECKING

import numpy as np

from adcli.engine.check_rules import check_rules
from adcli.engine.check_report import (BETWEEN, BOTH, FAIL, JUMPS, KINK, LEFT, OUTSIDE, PASS, RIGHT, SKIPPED, UNSURE,
                                       CheckReport, DotTest, InputCheck, KinkHit, OneSided, Probe)
from adcli.engine.diagnose import nonfinite_warning, require_finite
from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.results import require_scalar
from adcli.engine.reverse import backward
from adcli.engine.stencil import kink_nodes, node_state, touched
from adcli.errors import InputError
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
    report.rules = check_rules(graph, values, out, np.random.default_rng(seed), eps, rtol, atol)

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
