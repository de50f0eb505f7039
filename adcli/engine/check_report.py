"""What a gradient check found, as plain data: per input, per probe, the one-sided derivatives at a
kink and the dot-product test, with the statuses and their JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from adcli.numbers import to_json

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
    rules: list = field(default_factory=list)  # check_rules.RuleCheck: each derivative rule of the file, by call

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.inputs) or (self.dot is not None and not self.dot.passed) or \
            any(r.failed for r in self.rules)

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
    if report.rules:
        out["rules"] = [r.to_json() for r in report.rules]
    if report.dot is not None:
        out["dot_product_test"] = {"forward": to_json(report.dot.forward), "reverse": to_json(report.dot.reverse),
                                   "relative_difference": to_json(report.dot.relative), "passed": report.dot.passed}
    return out
