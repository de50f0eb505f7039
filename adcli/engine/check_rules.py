"""Derivative rules written in the file (`def f.vjp`) checked one by one: each call's cotangents
against central differences of f at the values the call meets, so that `adcli check` names the rule
that is wrong rather than only the inputs whose gradient it spoils."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adcli.language.graph import FLOAT, Graph
from adcli.operations import kernels

CALLS_PER_RULE = 4  # a rule called in a loop is checked at its first few calls
MAX_ELEMENTS = 64  # an argument up to this size is checked element by element, else along directions
DIRECTIONS = 8


@dataclass
class RuleCheck:
    """One call of a rule: for each argument, the rule's cotangent against finite differences."""

    rule: str  # f.vjp
    line: int  # the rule's def
    call: str  # where the call is: "line 5, col 9" (and its loop iteration or function call)
    arguments: list[str]
    status: list[str] = field(default_factory=list)  # per argument: pass or fail
    worst: list[tuple] = field(default_factory=list)  # per argument: (rule's value, finite differences)

    @property
    def failed(self) -> bool:
        return "fail" in self.status

    def to_json(self) -> dict:
        return {"rule": self.rule, "line": self.line, "call": self.call,
                "arguments": [{"name": a, "status": s, "rule": float(w[0]), "finite_differences": float(w[1])}
                              for a, s, w in zip(self.arguments, self.status, self.worst)]}


def check_rules(graph: Graph, values: list, out: int, rng, eps: float, rtol: float, atol: float) -> list[RuleCheck]:
    """Every call of a rule up to the output (the first few per rule), at the values it meets."""
    found: list[RuleCheck] = []
    calls: dict[str, int] = {}
    for i in range(out + 1):
        node = graph.nodes[i]
        if node.op != "rule":
            continue
        rule, split = node.params["rule"], node.params["split"]
        calls[rule.name] = calls.get(rule.name, 0) + 1
        if calls[rule.name] > CALLS_PER_RULE:
            continue
        xs = [np.asarray(values[a]) for a in node.args]
        g = rng.normal(size=np.shape(values[i]))
        shares = kernels.rule_shares(rule, xs, g, split)
        where = graph.where(i)
        check = RuleCheck(rule.name, rule.line, f"line {node.line}, col {node.col}" + (f" ({where})" if where else ""),
                          list(node.params["body"].params))
        for k in range(split[0]):
            if xs[k].dtype != np.float64 or graph.nodes[node.args[k]].dtype != FLOAT:
                check.status.append("pass")
                check.worst.append((0.0, 0.0))
                continue
            status, worst = compare(node.params["body"], xs, split, k, g, np.asarray(shares[k]), rng, eps, rtol, atol)
            check.status.append(status)
            check.worst.append(worst)
        found.append(check)
    return found


def compare(body, xs, split, k, g, share, rng, eps, rtol, atol) -> tuple[str, tuple]:
    """Argument k's cotangent ⟨ḡ, ∂f/∂x_k · v⟩ against (⟨ḡ, f(x + hv)⟩ - ⟨ḡ, f(x - hv)⟩) / 2h."""
    n, closed = split
    x = xs[k]
    if x.size <= MAX_ELEMENTS:
        directions = [np.reshape(np.eye(x.size)[j], x.shape) for j in range(x.size)]
    else:
        directions = [rng.normal(size=x.shape) for _ in range(DIRECTIONS)]
    worst, status = (0.0, 0.0), "pass"
    for v in directions:
        h = eps * max(1.0, float(np.max(np.abs(x[v != 0]), initial=0.0)) if x.ndim else abs(float(x)))
        sides = []
        for step in (h, -h):
            moved = list(xs[:n + closed])
            moved[k] = x + step * v
            sides.append(float(np.sum(g * body.value(*moved))))
        numeric = (sides[0] - sides[1]) / (2 * h)
        by_rule = float(np.sum(share * v))
        noise = 32 * 2.0 ** -53 * (abs(sides[0]) + abs(sides[1])) / (2 * h)
        off = abs(numeric - by_rule)
        if not (np.isfinite(numeric) and np.isfinite(by_rule)) or off > atol + rtol * abs(by_rule) + noise:
            if status == "pass" or off > abs(worst[1] - worst[0]):
                worst = (by_rule, numeric)
            status = "fail"
        elif status == "pass" and off > abs(worst[1] - worst[0]):
            worst = (by_rule, numeric)
    return status, worst
