"""The scalar fast path: a graph whose every value is a scalar runs on plain Python floats.

numpy scalars cost a microsecond per operation; floats cost a few dozen nanoseconds. The path
uses the registry's own rules (a Python operator where it rounds exactly as numpy does, else the
numpy forward), visits nodes and operands in the same order as the general engine, and so gives
the same bits. Anything it cannot do exactly (an array, a division by zero raising instead of
giving inf) returns None, and the caller runs the general engine instead.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from adcli.language.graph import CONST, FLOAT, INPUT, Graph
from adcli.operations import OPS
from adcli.operations.core import STRONG_ZEROS


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


# Elementwise operations of one or two operands without parameters, and those that on scalars
# take another's rules (Op.scalar_as: a scalar matmul is a multiplication, see kernels.matmul).
_SCALAR = [name for name, op in OPS.items() if op.elementwise and op.nargs in (1, 2) and not op.params]
_FORWARD = {name: OPS[name].pyfunc or _as_float(OPS[name].forward) for name in _SCALAR}
_DERIVS = {name: _float_derivs(OPS[name]) for name in _SCALAR}
_ONES = {name: OPS[name].ones for name in _SCALAR}  # ḡ passes on unchanged where a partial is exactly 1
for _name, _op in OPS.items():
    if _op.scalar_as is not None:
        _FORWARD[_name], _DERIVS[_name], _ONES[_name] = (table[_op.scalar_as] for table in (_FORWARD, _DERIVS, _ONES))
ONE = object()  # in a backward step: this operand's partial is exactly 1, so ḡ passes on as it is
# The tables another float path reads too (a loop's body, adcli.engine.loops).
FLOAT_FORWARD, FLOAT_DERIVS, FLOAT_ONES = _FORWARD, _DERIVS, _ONES


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
    """What the plain pass reads but never changes, made once per graph: the operations as steps
    (columns: node, forward rule, operand a, operand b or -1; integer columns as arrays, 8 bytes a
    step, since a graph of 10⁶ nodes would otherwise hold 10⁶ tuples), each node's local derivatives
    and which of them are exactly 1, the constants as floats, and the first node the path cannot run
    (len(nodes) if none)."""
    def make():
        ops, operands = graph.flat()
        nodes = graph.nodes
        order, rules, first, second = array("q"), [], array("q"), array("q")
        derivs, ones = [None] * len(ops), [None] * len(ops)
        consts = [0.0] * len(ops)
        steps = (order, rules, first, second)
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
            order.append(i)
            rules.append(rule)
            first.append(args[0])
            second.append(args[1] if len(args) == 2 else -1)
            derivs[i], ones[i] = _DERIVS[op], _ONES[op]
        return steps, derivs, ones, consts, len(ops)
    return graph.memo(("scalar plan",), make)


def scalar_activity(graph: Graph, upto: int, wrt: list[int]) -> list[bool]:
    """Whether each value up to `upto` depends on an input in `wrt`: shapes of the graph alone, so
    made once per output and inputs differentiated."""
    def make():
        order, _, first, second = scalar_plan(graph)[0]
        active = [False] * (upto + 1)
        for w in wrt:
            if w <= upto:
                active[w] = True
        for i, a, b in zip(order, first, second):
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
    order, rules, first, second = steps
    for i, rule, a, b in zip(order, rules, first, second):
        if i > upto:
            break
        values[i] = rule(values[a], values[b]) if b >= 0 else rule(values[a])
    return values, scalar_activity(graph, upto, wrt)


def backward_steps(graph: Graph, output: int, wrt: list[int]) -> tuple:
    """The plain backward pass's steps, made once per output and inputs differentiated: for each
    active operation from the output down, the columns node, a, b (or -1), ∂a, ∂b, and whether its
    accumulator is dropped once passed on, where ∂ is None for an operand that needs no gradient
    and ONE for a partial that is exactly 1 (integer columns as arrays, as in scalar_plan)."""
    def make():
        (order, _, first, second), derivs, ones, _, _ = scalar_plan(graph)
        active = scalar_activity(graph, output, wrt)
        keep = set(wrt)
        nodes, lhs, rhs, da, db, release = array("q"), array("q"), array("q"), [], [], bytearray()
        for i, a, b in zip(order, first, second):
            if i > output:
                break
            if not active[i]:
                continue
            rule, unit = derivs[i], ones[i]
            nodes.append(i)
            lhs.append(a)
            rhs.append(b)
            partial_a, partial_b = partials(rule, unit, active, a, b)
            da.append(partial_a)
            db.append(partial_b)
            release.append(i not in keep)
        for column in (nodes, lhs, rhs, da, db, release):
            column.reverse()
        return nodes, lhs, rhs, da, db, release
    return graph.memo(("scalar backward", output, tuple(wrt)), make)


def partials(rule, unit, active, a: int, b: int) -> tuple:
    """(∂a, ∂b) of a backward step: None for an operand that needs no gradient (or b = -1, none),
    ONE where the partial is exactly 1, else the local derivative's rule."""
    return ((ONE if unit[0] else rule[0]) if active[a] else None,
            None if b < 0 or not active[b] else ONE if unit[1] else rule[1])


def sweep(values: list, grads: list, steps: tuple) -> None:
    """Pass accumulators on along backward steps (columns as backward_steps makes them): operand b
    before a, each contribution ḡ·∂ₖ added to the accumulator (None until its first), ḡ itself
    where ∂ₖ is exactly 1, 0 where an exact zero meets an infinity."""
    # The two operands' updates are written out rather than shared through a helper: a call per
    # operand is a large part of this loop's cost per node.
    for i, a, b, da, db, release in zip(*steps):
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
                    STRONG_ZEROS.note("")  # the diagnosis finds which operation
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
                    STRONG_ZEROS.note("")
            before = grads[a]
            grads[a] = c if before is None else before + c
        if release:
            grads[i] = None  # this accumulator has passed everything on


def scalar_backward(graph: Graph, values: list, active: list, output: int, wrt: list[int]) -> dict:
    """Reverse mode over float values, as adcli.engine.reverse.backward does it: operands right to left,
    each contribution ḡ·∂ₖ added to the accumulator (absent, None, until its first contribution),
    ḡ itself where ∂ₖ is exactly 1."""
    grads = [None] * (output + 1)
    if active[output]:
        grads[output] = 1.0
    sweep(values, grads, backward_steps(graph, output, wrt))
    return {w: np.array(0.0 if w > output or grads[w] is None else grads[w], dtype=np.float64) for w in wrt}


def scalar_checkpointed(graph: Graph, inputs: dict, output: int, wrt: list[int], schedule):
    """scalar_pass by a checkpointing schedule: the forward pass keeps only the schedule's values,
    the backward pass recomputes each segment before sweeping it. Kept values live in a float64
    array (8 bytes each) and a segment's in one list at a time, so memory follows what is held,
    not the length of the program. None where scalar_pass would be."""
    try:
        with np.errstate(all="ignore"):
            return _checkpointed(graph, inputs, output, wrt, schedule)
    except (ArithmeticError, ValueError):
        return None


@dataclass
class Segment:
    """One segment's plan on slots: the values it reads from outside (inputs, kept values and
    constants before it) first, then its own nodes. Integer columns are arrays, as in scalar_plan."""

    template: list  # the slots' starting values: constants in place, 0.0 elsewhere
    inputs: list  # (slot, input node): filled at the start
    reads: list  # (slot, index in the kept array): earlier kept values, filled at the start
    forward: tuple  # columns slot, rule, operand slot a, operand slot b (or -1)
    stores: list  # (slot, index in the kept array): what the forward pass keeps
    backward: tuple  # columns slot, a, b, ∂a, ∂b, drop: the active operations from the last down
    carried: list  # (slot, node): accumulators begun before the sweep (by later segments, or the seed)
    passed: list  # (slot, node): accumulators of values outside it, handed on to earlier segments
    result: int  # the output's slot, where the segment holds it, else -1


def _segment(graph: Graph, lo: int, hi: int, output: int, wrt: list[int], active, slots: dict):
    """The plan of the segment of nodes lo..hi (see Segment); None if it reads a value from before
    it that the schedule does not keep."""
    ops, operands = graph.flat()
    nodes, keep = graph.nodes, set(wrt)
    outside: dict = {}  # node -> slot, for what the segment reads from before it (and its inputs)
    for i in range(lo, hi + 1):
        for a in ((i,) if ops[i] == INPUT else () if ops[i] == CONST else operands[i]):
            if (a < lo or ops[a] == INPUT) and a not in outside:
                if ops[a] not in (INPUT, CONST) and a not in slots:
                    return None
                outside[a] = len(outside)
    m = len(outside)

    def slot(i):
        return outside[i] if i in outside else m + i - lo
    template = [0.0] * (m + hi - lo + 1)
    inputs, reads = [], []
    for node, k in outside.items():
        if ops[node] == CONST:
            template[k] = float(nodes[node].data)
        elif ops[node] == INPUT:
            inputs.append((k, node))
        else:
            reads.append((k, slots[node]))
    forward = (array("q"), [], array("q"), array("q"))
    stores = []
    for i in range(lo, hi + 1):
        op = ops[i]
        if op == CONST:
            template[slot(i)] = float(nodes[i].data)
        elif op != INPUT:
            args = operands[i]
            for column, v in zip(forward, (slot(i), _FORWARD[op], slot(args[0]),
                                           slot(args[1]) if len(args) == 2 else -1)):
                column.append(v)
            if i in slots:
                stores.append((slot(i), slots[i]))
    backward = (array("q"), array("q"), array("q"), [], [], bytearray())
    for i in range(hi, lo - 1, -1):
        op = ops[i]
        if op in (INPUT, CONST) or not active[i]:
            continue
        args, rule, unit = operands[i], _DERIVS[op], _ONES[op]
        a, b = args[0], args[1] if len(args) == 2 else -1
        for column, v in zip(backward, (slot(i), slot(a), -1 if b < 0 else slot(b),
                                        *partials(rule, unit, active, a, b), i not in keep)):
            column.append(v)
    passed = [(k, node) for node, k in outside.items() if ops[node] != CONST]
    carried = passed + [(slot(i), i) for i in range(lo, hi + 1)
                        if ops[i] not in (INPUT, CONST) and (i in slots or i == output)]
    return Segment(template, inputs, reads, forward, stores, backward, carried, passed,
                   slot(output) if lo <= output <= hi else -1)


def _static(graph: Graph, output: int, wrt: list[int], schedule):
    """What a scalar checkpointed pass reads but never changes, made once per schedule: how many
    values are kept, and each segment's plan (None when the graph is not all scalar rules)."""
    key = ("scalar", tuple(wrt))
    if key in schedule.cache:
        return schedule.cache[key]
    ops, _ = graph.flat()
    made = None
    if scalar_plan(graph)[4] > output:  # every node to the output has a rule on floats
        active = scalar_activity(graph, output, wrt)
        slots = {i: k for k, i in enumerate(i for i in range(output + 1) if schedule.kept[i] and ops[i] != INPUT)}
        segments = [_segment(graph, lo, hi, output, wrt, active, slots) for lo, hi in schedule.segments]
        made = None if None in segments else (len(slots), segments)
    schedule.cache[key] = made
    return made


def _run_forward(seg: Segment, given: dict, kept) -> list:
    """A segment's values, from the inputs and the kept values before it."""
    buf = seg.template[:]
    for k, node in seg.inputs:
        buf[k] = given[node]
    for k, index in seg.reads:
        buf[k] = kept[index]
    for i, rule, a, b in zip(*seg.forward):
        buf[i] = rule(buf[a], buf[b]) if b >= 0 else rule(buf[a])
    return buf


def _checkpointed(graph: Graph, inputs: dict, output: int, wrt: list[int], schedule):
    static = _static(graph, output, wrt, schedule)
    if static is None or any(v.ndim or graph.nodes[i].dtype != FLOAT for i, v in inputs.items()):
        return None
    count, segments = static
    given = {i: float(v) for i, v in inputs.items()}
    kept = array("d", [0.0]) * count
    value = 0.0
    for seg in segments:  # the forward pass: one segment's values at a time, the kept ones stored
        buf = _run_forward(seg, given, kept)
        for k, index in seg.stores:
            kept[index] = buf[k]
        if seg.result >= 0:
            value = buf[seg.result]
        del buf
    grads: dict = {output: 1.0} if scalar_activity(graph, output, wrt)[output] else {}
    for seg in reversed(segments):  # the backward pass: recompute a segment, then sweep it
        buf = _run_forward(seg, given, kept)
        acc = [None] * len(buf)
        for k, node in seg.carried:
            acc[k] = grads.pop(node, None)
        sweep(buf, acc, seg.backward)  # node by node in the plain sweep's order: the same bits
        for k, node in seg.passed:
            if acc[k] is not None:
                grads[node] = acc[k]
        del buf, acc
    return np.float64(value), {w: np.array(grads.get(w, 0.0), dtype=np.float64) for w in wrt}


# What the scalar passes hold, for adcli cost (measured with tracemalloc): Python floats in a list
# (8 bytes a slot, 24 a float) and the accumulators in the plain pass; in the checkpointed one, the
# kept values in a float64 array (8 bytes each) and one segment's slots at a time, each a float
# and its entries in the values' and the accumulators' lists.
PLAIN_BYTES_PER_NODE = 40
SEGMENT_BYTES_PER_SLOT = 40
CALL_BYTES = 4096  # the call's own bookkeeping: bound inputs, the accumulators passed on, the result


def runs_on_floats(graph: Graph, output: int, shapes: list) -> bool:
    """Whether the scalar path runs this output: every value a scalar, every operation one of its rules."""
    return scalar_plan(graph)[4] > output and \
        all(shapes[i] == () for i in range(output + 1) if shapes[i] is not None)


def scalar_peak(graph: Graph, output: int, schedule) -> int:
    """Bytes the scalar pass holds at its busiest (beyond the program itself)."""
    ops, _ = graph.flat()
    if len(schedule.segments) == 1:
        return PLAIN_BYTES_PER_NODE * (output + 1)
    kept = 8 * sum(1 for i in range(output + 1) if schedule.kept[i] and ops[i] != INPUT)
    longest = max(hi - lo + 1 for lo, hi in schedule.segments)
    return CALL_BYTES + kept + SEGMENT_BYTES_PER_SLOT * longest
