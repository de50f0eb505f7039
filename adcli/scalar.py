"""The scalar fast path: a graph whose every value is a scalar runs on plain Python floats.

numpy scalars cost a microsecond per operation; floats cost a few dozen nanoseconds. The path
uses the registry's own rules (a Python operator where it rounds exactly as numpy does, else the
numpy forward), visits nodes and operands in the same order as the general engine, and so gives
the same bits. Anything it cannot do exactly (an array, a division by zero raising instead of
giving inf) returns None, and the caller runs the general engine instead.
"""

from __future__ import annotations

from array import array

import numpy as np

from .graph import CONST, FLOAT, INPUT, Graph
from .registry import OPS


def _as_float(rule):
    """A rule that may answer with a numpy scalar, answering with the same number as a Python float:
    a numpy scalar would make every later operation of the pass numpy's (ten times slower), not other bits."""
    return lambda *xs: float(rule(*xs))


def _float_derivs(op) -> list:
    """An operation's local derivatives on floats: its own Python ones, else the registry's as floats
    (those that call a numpy function; an arithmetic template already gives a float)."""
    if op.pyderivs is not None:
        return list(op.pyderivs)
    return [d if "(" not in code else _as_float(d) for d, code in zip(op.derivs, op.deriv_code)]


# Elementwise operations of one or two operands without parameters; a scalar matmul is a
# multiplication (see kernels.matmul), so it takes mul's rules.
_SCALAR = [name for name, op in OPS.items() if op.elementwise and op.nargs in (1, 2) and not op.params]
_FORWARD = {name: OPS[name].pyfunc or _as_float(OPS[name].forward) for name in _SCALAR}
_DERIVS = {name: _float_derivs(OPS[name]) for name in _SCALAR}
_ONES = {name: OPS[name].ones for name in _SCALAR}  # ḡ passes on unchanged where a partial is exactly 1
_FORWARD["matmul"], _DERIVS["matmul"], _ONES["matmul"] = _FORWARD["mul"], _DERIVS["mul"], _ONES["mul"]
ONE = object()  # in a backward step: this operand's partial is exactly 1, so ḡ passes on as it is


def scalar_pass(graph: Graph, inputs: dict, output: int, wrt: list[int]):
    """(values, {input node: gradient}) on floats, as evaluate() and backward() give them; None
    when some value is not a scalar or only numpy computes it exactly."""
    try:
        with np.errstate(all="ignore"):
            found = scalar_values(graph, inputs, output, wrt)
            if found is None:
                return None
            values, active = found
            return values, scalar_backward(graph, values, active, output, wrt)
    except (ArithmeticError, ValueError):  # e.g. x/0 raises on floats where numpy gives inf
        return None


def scalar_plan(graph: Graph):
    """What the plain pass reads but never changes, made once per graph: each operation as a step
    (node, forward rule, operand a, operand b or -1), its local derivatives and which of them are
    exactly 1, the constants as floats, and the first node the path cannot run (len(nodes) if none)."""
    def make():
        ops, operands = graph.flat()
        nodes = graph.nodes
        steps, derivs, ones = [], [None] * len(ops), [None] * len(ops)
        consts = [0.0] * len(ops)
        for i, op in enumerate(ops):
            if op == INPUT:
                continue
            if op == CONST:
                data = nodes[i].data
                if data.ndim or data.dtype != np.float64:
                    return steps, derivs, ones, consts, i
                consts[i] = float(data)
                continue
            rule = _FORWARD.get(op)
            if rule is None or nodes[i].params:
                return steps, derivs, ones, consts, i
            args = operands[i]
            steps.append((i, rule, args[0], args[1] if len(args) == 2 else -1))
            derivs[i], ones[i] = _DERIVS[op], _ONES[op]
        return steps, derivs, ones, consts, len(ops)
    return graph.memo(("scalar plan",), make)


def scalar_activity(graph: Graph, upto: int, wrt: list[int]) -> list[bool]:
    """Whether each value up to `upto` depends on an input in `wrt`: shapes of the graph alone, so
    made once per output and inputs differentiated."""
    def make():
        steps = scalar_plan(graph)[0]
        active = [False] * (upto + 1)
        for w in wrt:
            if w <= upto:
                active[w] = True
        for i, _, a, b in steps:
            if i > upto:
                break
            active[i] = active[a] or (b >= 0 and active[b])
        return active
    return graph.memo(("scalar activity", upto, tuple(wrt)), make)


def scalar_values(graph: Graph, inputs: dict, upto: int, wrt: list[int]):
    """(values, active): every value up to `upto` (and every input) as a float, and whether it
    depends on an input in `wrt`; None if some value is not a scalar."""
    nodes = graph.nodes
    steps, _, _, consts, runnable = scalar_plan(graph)
    if runnable <= upto:
        return None
    n = max([upto + 1] + [i + 1 for i in inputs])  # inputs after `upto` too, as evaluate() gives them
    values = consts[:n]  # the constants in place; every other slot is written below
    for i, v in inputs.items():
        if v.ndim or nodes[i].dtype != FLOAT:
            return None
        values[i] = float(v)
    for i, rule, a, b in steps:
        if i > upto:
            break
        values[i] = rule(values[a], values[b]) if b >= 0 else rule(values[a])
    return values, scalar_activity(graph, upto, wrt)


def backward_steps(graph: Graph, output: int, wrt: list[int]) -> list[tuple]:
    """The plain backward pass's steps, made once per output and inputs differentiated: for each
    active operation from the output down, (node, a, b or -1, ∂a, ∂b, whether its accumulator is
    dropped once passed on), where ∂ is None for an operand that needs no gradient and ONE for a
    partial that is exactly 1."""
    def make():
        steps, derivs, ones, _, _ = scalar_plan(graph)
        active = scalar_activity(graph, output, wrt)
        keep = set(wrt)
        out = []
        for i, _, a, b in steps:
            if i > output:
                break
            if not active[i]:
                continue
            rule, unit = derivs[i], ones[i]
            da = (ONE if unit[0] else rule[0]) if active[a] else None
            db = None if b < 0 or not active[b] else ONE if unit[1] else rule[1]
            out.append((i, a, b, da, db, i not in keep))
        out.reverse()
        return out
    return graph.memo(("scalar backward", output, tuple(wrt)), make)


def scalar_backward(graph: Graph, values: list, active: list, output: int, wrt: list[int]) -> dict:
    """Reverse mode over float values, as adcli.reverse.backward does it: operands right to left,
    each contribution ḡ·∂ₖ added to the accumulator (absent, None, until its first contribution),
    ḡ itself where ∂ₖ is exactly 1."""
    grads = [None] * (output + 1)
    if active[output]:
        grads[output] = 1.0
    # The two operands' updates are written out rather than shared through a helper: a call
    # per operand is a large part of this loop's cost per node.
    for i, a, b, da, db, release in backward_steps(graph, output, wrt):
        g = grads[i]
        if g is None:
            continue
        if db is not None:
            if db is ONE:
                c = g
            else:
                d = db(values[i], values[a], values[b])
                c = g * d
                if c - c != 0 and (g == 0 or d == 0):  # 0·∞ is 0 in the chain rule, as in the engine
                    c = 0.0
            before = grads[b]
            grads[b] = c if before is None else before + c
        if da is not None:
            if da is ONE:
                c = g
            else:
                d = da(values[i], values[a], values[b]) if b >= 0 else da(values[i], values[a])
                c = g * d
                if c - c != 0 and (g == 0 or d == 0):
                    c = 0.0
            before = grads[a]
            grads[a] = c if before is None else before + c
        if release:
            grads[i] = None  # this accumulator has passed everything on
    return {w: np.array(0.0 if w > output or grads[w] is None else grads[w], dtype=np.float64) for w in wrt}


def scalar_sweep(graph: Graph, values, grads: dict, active, hi: int, lo: int, keep, outside=None) -> None:
    """Pass on the accumulators of nodes hi down to lo; an accumulator is dropped once passed on,
    unless its node is in `keep` (the inputs differentiated). `values` holds nodes lo..hi (from
    index 0); with `outside`, that dict holds the values before lo they read."""
    ops, operands = graph.flat()
    derivs = _DERIVS
    for i in range(hi, lo - 1, -1):
        g = grads.get(i)
        if g is None:
            continue
        rule = derivs.get(ops[i])
        if rule is None:  # an input or a constant: nothing to pass on
            continue
        args = operands[i]
        ans = values[i - lo]
        if len(args) == 2:
            a, b = args
            x = values[a - lo] if a >= lo else outside[a]
            y = values[b - lo] if b >= lo else outside[b]
            if active[b]:
                d = rule[1](ans, x, y)
                c = g * d
                if c - c != 0 and (g == 0 or d == 0):  # 0·∞ is 0 in the chain rule, as in the engine
                    c = 0.0
                before = grads.get(b)
                grads[b] = c if before is None else before + c
            if active[a]:
                d = rule[0](ans, x, y)
                c = g * d
                if c - c != 0 and (g == 0 or d == 0):
                    c = 0.0
                before = grads.get(a)
                grads[a] = c if before is None else before + c
        else:
            a = args[0]
            d = rule[0](ans, values[a - lo] if a >= lo else outside[a])
            c = g * d
            if c - c != 0 and (g == 0 or d == 0):
                c = 0.0
            before = grads.get(a)
            grads[a] = c if before is None else before + c
        if i not in keep:
            del grads[i]  # this accumulator has passed everything on


def scalar_checkpointed(graph: Graph, inputs: dict, output: int, wrt: list[int], schedule):
    """scalar_pass by a checkpointing schedule: the forward pass keeps only the schedule's values,
    the backward pass recomputes each segment before sweeping it. Kept values and a segment's
    values live in float64 arrays (8 bytes each), so memory follows what is held, not the length
    of the program. None where scalar_pass would be."""
    try:
        with np.errstate(all="ignore"):
            return _checkpointed(graph, inputs, output, wrt, schedule)
    except (ArithmeticError, ValueError):
        return None


def _static(graph: Graph, output: int, wrt: list[int], schedule):
    """What a scalar checkpointed pass reads but never changes, made once per schedule: each
    node's last use and activity, and each kept value's slot (None when the graph is not all
    scalar rules)."""
    key = ("scalar", tuple(wrt))
    if key in schedule.cache:
        return schedule.cache[key]
    ops, operands = graph.flat()
    nodes = graph.nodes
    made = None
    if all(op in (INPUT, CONST) or (op in _FORWARD and not nodes[i].params) for i, op in enumerate(ops[:output + 1])) \
            and all(nodes[i].data.ndim == 0 and nodes[i].data.dtype == np.float64
                    for i in range(output + 1) if ops[i] == CONST):
        last = [-1] * (output + 1)
        for i in range(output + 1):
            for a in operands[i]:
                last[a] = i
        active = [False] * (output + 1)
        for w in wrt:
            if w <= output:
                active[w] = True
        for i in range(output + 1):
            if ops[i] not in (INPUT, CONST) and any(active[a] for a in operands[i]):
                active[i] = True
        slots = {i: k for k, i in enumerate(i for i in range(output + 1) if schedule.kept[i] and ops[i] != INPUT)}
        made = (last, active, slots)
    schedule.cache[key] = made
    return made


def _checkpointed(graph: Graph, inputs: dict, output: int, wrt: list[int], schedule):
    static = _static(graph, output, wrt, schedule)
    if static is None or any(v.ndim or graph.nodes[i].dtype != FLOAT for i, v in inputs.items()):
        return None
    last, active, slots = static
    ops, operands = graph.flat()
    nodes, forward = graph.nodes, _FORWARD
    given = {i: float(v) for i, v in inputs.items()}
    kept = array("d", [0.0]) * len(slots)
    live = dict(given)  # the forward pass: each value until its last use
    for i in range(output + 1):
        op = ops[i]
        if op == INPUT:
            continue
        if op == CONST:
            v = float(nodes[i].data)
        else:
            args = operands[i]
            v = forward[op](live[args[0]], live[args[1]]) if len(args) == 2 else forward[op](live[args[0]])
            for a in args:
                if last[a] == i and a not in given:
                    live.pop(a, None)
        live[i] = v
        slot = slots.get(i)
        if slot is not None:
            kept[slot] = v
    value = live[output]
    del live
    grads: dict = {output: 1.0} if active[output] else {}
    keep = set(wrt)
    seg = array("d", [0.0]) * max(hi - lo + 1 for lo, hi in schedule.segments)  # a segment's values, again
    for lo, hi in reversed(schedule.segments):
        outside = {}  # the inputs and kept values before it that it reads
        for i in range(lo, hi + 1):
            op = ops[i]
            if op == INPUT or op == CONST:
                seg[i - lo] = given[i] if op == INPUT else float(nodes[i].data)
                continue
            args = operands[i]
            for a in args:
                if a < lo and a not in outside:
                    outside[a] = given[a] if a in given else kept[slots[a]]
            if len(args) == 2:
                a, b = args
                seg[i - lo] = forward[op](seg[a - lo] if a >= lo else outside[a],
                                          seg[b - lo] if b >= lo else outside[b])
            else:
                a = args[0]
                seg[i - lo] = forward[op](seg[a - lo] if a >= lo else outside[a])
        scalar_sweep(graph, seg, grads, active, hi, lo, keep, outside)
    return np.float64(value), {w: np.array(grads.get(w, 0.0), dtype=np.float64) for w in wrt}


# What the scalar passes hold, for adcli cost: Python floats in a list (8 bytes a slot, 24 a float,
# 8 for the activity flag) in the plain pass; float64 arrays (8 bytes) for the kept values and a
# segment's in the checkpointed one, beside a dict of the values alive in its forward pass.
PLAIN_BYTES_PER_NODE = 40
DICT_BYTES_PER_VALUE = 100
CALL_BYTES = 4096  # the call's own bookkeeping: bound inputs, dicts of the frontier, the result


def runs_on_floats(graph: Graph, output: int, shapes: list) -> bool:
    """Whether the scalar path runs this output: every value a scalar, every operation one of its rules."""
    ops, _ = graph.flat()
    nodes = graph.nodes
    return all(shapes[i] == () for i in range(output + 1) if shapes[i] is not None) and \
        all(op in (INPUT, CONST) or (op in _FORWARD and not nodes[i].params) for i, op in enumerate(ops[:output + 1]))


def scalar_peak(graph: Graph, output: int, schedule) -> int:
    """Bytes the scalar pass holds at its busiest (beyond the program itself)."""
    ops, operands = graph.flat()
    if len(schedule.segments) == 1:
        return PLAIN_BYTES_PER_NODE * (output + 1)
    kept = 8 * sum(1 for i in range(output + 1) if schedule.kept[i] and ops[i] != INPUT)
    last = [-1] * (output + 1)
    for i in range(output + 1):
        for a in operands[i]:
            last[a] = i
    alive = most = 0
    for i in range(output + 1):  # the forward pass's dict: each value until its last use
        if ops[i] == INPUT:
            continue
        alive += 1
        most = max(most, alive)
        alive -= sum(1 for a in set(operands[i]) if last[a] == i and ops[a] != INPUT)
    longest = max(hi - lo + 1 for lo, hi in schedule.segments)
    return CALL_BYTES + kept + max(DICT_BYTES_PER_VALUE * most, 8 * longest + DICT_BYTES_PER_VALUE * 4)
