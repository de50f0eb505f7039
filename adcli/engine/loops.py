"""The engine's side of a loop kept as a loop whose body carries scalars: its steps on Python floats.

A step of a scalar body (h = h + 0.001 * sin(a * h)) is a few operations; run through the general
engine, each costs tens of microseconds of bookkeeping, on floats a tenth of one. The path uses the
scalar path's plan (adcli.engine.scalar: the registry's rules on floats, numpy's bits), so it gives
what the general engine gives, and anything it cannot run (an array, a dual number, a body reading
its loop variable, a division raising where numpy gives inf) answers None: the kernels in
adcli.operations.kernels then run the steps through the general engine.
"""

from __future__ import annotations

import operator
from array import array

import numpy as np

from adcli.engine.scalar import FLOAT_DERIVS, FLOAT_FORWARD, FLOAT_ONES, ONE, partials
from adcli.language.graph import CONST, FLOAT, INPUT
from adcli.operations import OPS
from adcli.operations.core import STRONG_ZEROS
from adcli.operations.implicit import Body


def unpacked(graph) -> tuple[list[int], list[int], set[int]] | None:
    """Where several scalars are carried packed into one vector: (the nodes that unpack each, the
    nodes whose values are packed back, the packing nodes), else None."""
    nodes, carried, output = graph.nodes, graph.inputs[1], graph.output
    if nodes[output].op != "concat":
        return None
    skip, outs = {output}, []
    for r in nodes[output].args:
        if nodes[r].op != "reshape" or tuple(nodes[r].params["shape"]) != (-1,):
            return None
        outs.append(nodes[r].args[0])
        skip.add(r)
    ins = []
    for i, node in enumerate(nodes):
        if node.op == "getitem" and node.args == (carried,):
            after = nodes[i + 1] if i + 1 < len(nodes) else None
            index = node.params["index"]
            if after is None or after.op != "reshape" or after.args != (i,) or tuple(after.params["shape"]) != () or \
                    index != (slice(len(ins), len(ins) + 1),):
                return None  # a carried array, not a scalar
            ins.append(i + 1)
            skip.update((i, i + 1))
    return (ins, outs, skip) if len(ins) == len(outs) else None


def plan(body: Body):
    """(steps, consts, the carried scalars' slots, the slots of their next values, the parameters'
    slots, each node's local derivatives and which are exactly 1) when every value of the body is a
    float the scalar path computes (one carried scalar, or several packed into a vector), else None;
    made once per body."""
    graph = body.graph

    def make():
        nodes = graph.nodes
        t, carried, *params = graph.inputs
        if any(t in node.args for node in nodes) or any(nodes[p].dtype != FLOAT for p in params):
            return None
        ins, outs, skip = unpacked(graph) or ([carried], [graph.output], set())
        consts, steps = [0.0] * len(nodes), []
        derivs, ones = [None] * len(nodes), [None] * len(nodes)
        for i, node in enumerate(nodes):
            if i in skip or node.op == INPUT:
                continue
            if node.op == CONST:
                if node.data.ndim or node.data.dtype != np.float64:
                    return None
                consts[i] = float(node.data)
                continue
            rule = FLOAT_FORWARD.get(node.op)
            if rule is None or node.params or any((a in skip and a not in ins) or (a == carried and skip)
                                                   for a in node.args):
                return None
            steps.append((i, rule, node.args[0], node.args[1] if len(node.args) == 2 else -1))
            derivs[i], ones[i] = FLOAT_DERIVS[node.op], FLOAT_ONES[node.op]
        return steps, consts, ins, outs, params, derivs, ones
    return graph.memo(("loop plan",), make)


def floats(c, params, carried: int):
    """The carried scalars (one, or `carried` packed in a vector) and the parameters as floats, or None
    where one is not a plain float64 of that shape."""
    def plain(v, shape):
        return type(v) in (np.ndarray, np.float64, float) and np.shape(v) == shape and np.asarray(v).dtype == np.float64
    packed = carried > 1 or np.ndim(c) == 1
    if not plain(c, (carried,) if packed else ()) or not all(plain(p, ()) for p in params):
        return None
    return [float(v) for v in np.ravel(c)], [float(p) for p in params]


# Python's own operators where the scalar path uses them (they round as numpy does on floats).
INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/"}


def arithmetic(name: str, side: int, operands: tuple) -> tuple[str | None, tuple]:
    """An operation's local derivative on floats: (its text, where it is arithmetic on the result and
    operands, else None for the registry's rule; the values it reads), from the registry's template
    (which the scalar path evaluates as it is); all of them where a rule of its own hides what it reads."""
    op = OPS[name]
    op = OPS[op.scalar_as] if op.scalar_as is not None else op
    if op.pyderivs is not None or op.deriv_code is None:
        return None, operands
    text = op.deriv_code[side]
    names = {"ans": operands[0], **{arg: v for arg, v in zip(op.args, operands[1:])}}
    read = []
    for key, v in names.items():
        if "{" + key + "}" in text:
            text = text.replace("{" + key + "}", f"v{v}")
            read.append(v)
    if "{" in text:
        return None, operands
    return (None if "(" in text else f"({text})"), tuple(read)


def compiled(body: Body):
    """The body's steps as Python functions of floats, made once per body: `run(H, count, P)` (the
    carried scalars after count steps), `marks(H, count, P, every)` (and the carried scalars before
    every every-th step, one after another), `keep(H, count, P)` (and, per value the backward pass
    reads, its every step) and `back(G, count, P, kept, S)` (the carried start's and the
    parameters' shares of ḡ, the latter added to S). The text is adcli's own, written from the
    plan: slot numbers, and the registry's rules on floats bound by name; no text of the file is
    in it, and its constants are bound as values. The backward steps are those of
    adcli.engine.scalar.sweep written out, in its order (operand b before a, the first contribution
    the accumulator, 0 where an exact zero meets an infinity)."""
    def make():
        found = plan(body)
        if found is None:
            return None
        steps, consts, ins, outs, slots, derivs, ones = found
        graph = body.graph
        active = [False] * len(consts)
        for v in (*ins, *slots):
            active[v] = True
        for i, _, a, b in steps:
            active[i] = active[a] or (b >= 0 and active[b])
        computed = {i for i, *_ in steps}
        fixed = [i for i in range(len(consts)) if graph.nodes[i].op == CONST]
        head = [f"    v{i} = C[{i}]" for i in fixed] + [f"    v{p} = P[{k}]" for k, p in enumerate(slots)]
        head += [f"    R{i} = F[{i}]" for i, rule, *_ in steps if rule not in INFIX]
        carry = [f"h{j}" for j in range(len(ins))]
        forward = [f"        v{i} = {h}" for i, h in zip(ins, carry)]
        for i, rule, a, b in steps:
            if rule in INFIX:
                forward.append(f"        v{i} = v{a} {INFIX[rule]} v{b}")
            else:
                forward.append(f"        v{i} = R{i}(v{a}, v{b})" if b >= 0 else f"        v{i} = R{i}(v{a})")
        forward.append(f"        {', '.join(carry)}, = {', '.join(f'v{o}' for o in outs)},")
        # The backward pass: its statements, and which values it reads (kept for each step).
        reads: list[int] = []
        lines, bound = [], set()
        for j, o in enumerate(outs):  # each carried scalar's cotangent reaches its next value first
            lines.append(f"            g{o} = g{o} + G{j}" if o in bound else f"            g{o} = G{j}")
            bound.add(o)
        for i, _, a, b in reversed(steps):
            if i not in bound or not active[i]:
                continue  # no accumulator reached it: the sweep passes nothing on
            da, db = partials(derivs[i], ones[i], active, a, b)
            for k, (target, partial) in enumerate(((b, db), (a, da))):
                if partial is None or target < 0:
                    continue
                side = 1 - k
                if partial is ONE:
                    term = f"g{i}"
                else:
                    operands = (i, a, b) if b >= 0 else (i, a)
                    text, read = arithmetic(graph.nodes[i].op, side, operands)
                    reads += [v for v in read if v in computed or v in ins]
                    if text is None:
                        head.append(f"    D{i}_{side} = DERIVS[{i}][{side}]")
                        # an operand its rule does not read is passed as 0.0: it need not be kept
                        text = f"D{i}_{side}({', '.join(f'v{v}' if v in read else '0.0' for v in operands)})"
                    lines += [f"            d = {text}",
                              f"            c = g{i} * d",
                              f"            if c - c != 0 and (g{i} == 0 or d == 0):",
                              "                c = 0.0",
                              "                NOTE('')"]
                    term = "c"
                lines.append(f"            g{target} = g{target} + {term}" if target in bound else
                             f"            g{target} = {term}")
                bound.add(target)
        reads = sorted(set(reads))
        kept = "".join(f"K{v}, " for v in reads)
        cotangents = [f"G{j}" for j in range(len(ins))]
        text = ["def run(H, count, P):", *head, f"    {', '.join(carry)}, = H", "    for _ in range(count):",
                *forward, f"    return [{', '.join(carry)}]", "",
                "def marks(H, count, P, every):", *head, f"    {', '.join(carry)}, = H", "    kept = array('d')",
                "    for k in range(count):", "        if k % every == 0:",
                *[f"            kept.append({h})" for h in carry], *forward, f"    return [{', '.join(carry)}], kept", "",
                "def keep(H, count, P):", *head, f"    {', '.join(carry)}, = H",
                *[f"    K{v} = array('d')\n    A{v} = K{v}.append" for v in reads],
                "    for _ in range(count):", *forward, *[f"        A{v}(v{v})" for v in reads],
                f"    return [{', '.join(carry)}], ({kept})", "",
                "def back(G, count, P, kept, S):", *head, f"    {', '.join(cotangents)}, = G", f"    ({kept}) = kept",
                *[f"    s{k} = S[{k}]" for k in range(len(slots))],
                "    for k in range(count - 1, -1, -1):", *[f"            v{v} = K{v}[k]" for v in reads], *lines,
                *[f"            G{j} = g{i}" if i in bound else f"            G{j} = 0.0" for j, i in enumerate(ins)],
                *[f"            s{k} = s{k} + g{p}" for k, p in enumerate(slots) if p in bound],
                f"    return [{', '.join(cotangents)}], [{''.join(f's{k}, ' for k in range(len(slots)))}]"]
        names = {"C": consts, "F": [None] * len(consts), "DERIVS": derivs, "NOTE": STRONG_ZEROS.note,
                 "array": array}
        for i, rule, *_ in steps:
            names["F"][i] = rule
        code = compile("\n".join(text) + "\n", f"<adcli: the loop at line {body.line}>", "exec")
        exec(code, names)  # noqa: S102 - adcli's own text (see above)
        return names["run"], names["marks"], names["keep"], names["back"], len(reads), len(ins)
    return body.graph.memo(("loop compiled",), make)


KEEP_BYTES = 256 * 2**20  # the values a forward run keeps for a backward pass that may follow, at most


def carried_value(h: list, c):
    """The carried scalars in the carried value's own form: a float64, or the packed vector."""
    return np.float64(h[0]) if np.ndim(c) == 0 else np.array(h, dtype=np.float64)


def run_loop(body: Body, c, params, start, step, count, every=1):
    """The carried value after count steps on floats, or None. Unless checkpointing (`every` > 1) or
    more than KEEP_BYTES, the values a backward pass reads are kept too, with what they were computed
    from: a reverse pass that follows at the same point reads them instead of running the steps again."""
    made = compiled(body)
    given = None if made is None else floats(c, params, made[5])
    if given is None:
        return None
    run, _, keep, _, reads, _ = made
    memo = body.graph.__dict__
    memo.pop("_loop_kept", None)
    with np.errstate(all="ignore"):
        try:
            if every > 1 or count * 8 * reads > KEEP_BYTES:
                return carried_value(run(given[0], count, given[1]), c)
            h, kept = keep(given[0], count, given[1])
        except (ArithmeticError, ValueError):  # x/0 raises on floats where numpy gives inf
            return None
    memo["_loop_kept"] = ((given, count), kept)
    return carried_value(h, c)


def loop_adjoint(body: Body, c, params, g, start, step, count, every=1):
    """[the carried start's share of ḡ, each parameter's], or None: the steps on floats, the values the
    backward pass reads kept for each step (a few floats a step), then each step's backward sweep
    from the last back. With `every` > 1 (checkpointing), only the carried scalars before every
    every-th step are kept, and each stretch's values are recomputed from them just before its sweep."""
    made = compiled(body)
    given = None if made is None else floats(c, params, made[5])
    cotangent = None if made is None else floats(g, [], made[5])
    if given is None or cotangent is None:
        return None
    _, marks, keep, back, _, width = made
    h, p = given
    acc = cotangent[0]
    with np.errstate(all="ignore"):
        try:
            if every <= 1:
                found = body.graph.__dict__.pop("_loop_kept", None)  # the forward run's, used once
                kept = found[1] if found is not None and found[0] == (given, count) else keep(h, count, p)[1]
                acc, shares = back(acc, count, p, kept, [0.0] * len(p))
            else:
                kept = marks(h, count, p, every)[1]
                shares = [0.0] * len(p)
                for first in range(((count - 1) // every) * every, -1, -every):
                    length = min(every, count - first)  # each stretch goes on with the sums so far: the same bits
                    at = first // every * width
                    acc, shares = back(acc, length, p, keep(kept[at:at + width], length, p)[1], shares)
        except (ArithmeticError, ValueError):
            return None
    return [carried_value(acc, c)] + [np.float64(v) for v in shares]


def loop_tangent(body: Body, c, params, dc, dparams, start, step, count):
    """The carried value's tangent after count steps on floats (each operation's local derivatives
    times its operands' tangents, an exact zero tangent passing nothing on), or None."""
    found = plan(body)
    width = None if found is None else len(found[2])
    given = None if found is None else floats(c, params, width)
    moving = None if given is None else \
        floats(np.zeros(np.shape(c)) if dc is None else dc, [np.float64(0.0) if d is None else d for d in dparams], width)
    if given is None or moving is None:
        return None
    steps, consts, ins, outs, slots, derivs, ones = found
    rules = [(i, rule, a, b, derivs[i], ones[i]) for i, rule, a, b in steps]
    buf, tan = list(consts), [0.0] * len(consts)
    for slot, v, d in zip(slots, given[1], moving[1]):
        buf[slot], tan[slot] = v, d
    h, dh = given[0], moving[0]
    with np.errstate(all="ignore"):
        try:
            for _ in range(count):
                for slot, v, d in zip(ins, h, dh):
                    buf[slot], tan[slot] = v, d
                for i, rule, a, b, d, one in rules:
                    x = buf[a]
                    if b >= 0:
                        y = buf[b]
                        v = buf[i] = rule(x, y)
                        ta, tb = tan[a], tan[b]
                        total = 0.0 if ta == 0 else ta if one[0] else ta * d[0](v, x, y)
                        if tb != 0:
                            total = total + (tb if one[1] else tb * d[1](v, x, y))
                    else:
                        v = buf[i] = rule(x)
                        ta = tan[a]
                        total = 0.0 if ta == 0 else ta if one[0] else ta * d[0](v, x)
                    tan[i] = total
                h, dh = [buf[o] for o in outs], [tan[o] for o in outs]
        except (ArithmeticError, ValueError):
            return None
    return carried_value(dh, c)


Body.run_loop = run_loop
Body.loop_adjoint = loop_adjoint
Body.loop_tangent = loop_tangent
