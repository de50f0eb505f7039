"""The engine's side of a loop kept as a loop, for a body of scalars: its steps on Python floats.

A step of a scalar body (h = h + 0.001 * sin(a * h)) is a few operations; run through the general
engine, each costs tens of microseconds of bookkeeping, on floats a tenth of one. The path uses the
scalar path's plan (adcli.engine.scalar: the registry's rules on floats, numpy's bits), so it gives
what the general engine gives, and anything it cannot run (an array, a dual number, a body reading
its loop variable, a division raising where numpy gives inf) answers None: the kernels in
adcli.operations.kernels then run the steps through the general engine.
"""

from __future__ import annotations

import operator
import os
from array import array

import numpy as np

from adcli.engine.scalar import ONE, backward_steps, scalar_plan
from adcli.language.graph import FLOAT
from adcli.operations import OPS
from adcli.operations.core import STRONG_ZEROS
from adcli.operations.implicit import Body


def plan(body: Body):
    """(steps, consts, the carried value's slot, the parameters' slots, the output's slot) when every
    value of the body is a float the scalar path computes, else None; made once per body."""
    graph = body.graph

    def make():
        steps, _, _, consts, runnable = scalar_plan(graph)
        t, carried, *params = graph.inputs
        if runnable < len(graph.nodes) or any(t in node.args for node in graph.nodes):
            return None
        if any(graph.nodes[p].dtype != FLOAT for p in params):
            return None
        return list(zip(*steps)), consts, carried, params, graph.output
    return graph.memo(("loop plan",), make)


def floats(c, params):
    """The carried value and the parameters as floats, or None if one is not a plain scalar."""
    out = []
    for v in (c, *params):
        if type(v) not in (np.ndarray, np.float64, float) or np.ndim(v) or np.asarray(v).dtype != np.float64:
            return None
        out.append(float(v))
    return out


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
    """The body's steps as Python functions of floats, made once per body: `run(h, count, P)` (the
    carried value after count steps), `marks(h, count, P, every)` (and the carried value before every
    every-th step), `keep(h, count, P)` (and, per value the backward pass reads, its every step) and
    `back(g, count, P, kept, S)` (the carried start's and the parameters' shares of ḡ, the latter
    added to S). The text is
    adcli's own, written from the scalar path's plan: slot numbers, and the registry's rules on
    floats bound by name; no text of the file is in it, and its constants are bound as values. The
    backward steps are those of adcli.engine.scalar.sweep written out, in its order, so the
    numbers are the bits the plan's sweep gives."""
    def make():
        found = plan(body)
        if found is None:
            return None
        steps, consts, carried, slots, out = found
        graph = body.graph
        derivs = scalar_plan(graph)[1]
        back_steps = list(zip(*backward_steps(graph, out, [carried, *slots])))
        computed = {i for i, *_ in steps}
        fixed = [i for i in range(len(consts)) if i not in computed and i != carried and i not in slots]
        head = [f"    v{i} = C[{i}]" for i in fixed] + [f"    v{p} = P[{k}]" for k, p in enumerate(slots)]
        head += [f"    R{i} = F[{i}]" for i, rule, *_ in steps if rule not in INFIX]
        forward = [f"        v{carried} = h"]
        for i, rule, a, b in steps:
            if rule in INFIX:
                forward.append(f"        v{i} = v{a} {INFIX[rule]} v{b}")
            else:
                forward.append(f"        v{i} = R{i}(v{a}, v{b})" if b >= 0 else f"        v{i} = R{i}(v{a})")
        forward.append(f"        h = v{out}")
        # The backward pass: which values it reads (kept per step), and its statements.
        reads: list[int] = []
        lines, bound = [], {out}
        for i, a, b, da, db, _ in back_steps:
            if i not in bound:
                continue  # no accumulator reached it: the sweep passes nothing on
            for k, (target, partial) in enumerate(((b, db), (a, da))):
                if partial is None or target < 0:
                    continue
                side = 1 - k
                if partial is ONE:
                    term = f"g{i}"
                else:
                    operands = (i, a, b) if b >= 0 else (i, a)
                    text, read = arithmetic(graph.nodes[i].op, side, operands)
                    for v in read:
                        if v in computed or v == carried:
                            reads.append(v)
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
                lines.append(f"            g{target} = {term}" if target not in bound else
                             f"            g{target} = g{target} + {term}")
                bound.add(target)
        reads = sorted(set(reads))
        store = [f"        A{v}(v{v})" for v in reads]
        load = [f"            v{v} = K{v}[k]" for v in reads]
        text = ["def run(h, count, P):", *head, "    for _ in range(count):", *forward, "    return h", "",
                "def marks(h, count, P, every):", *head, "    kept = array('d')",
                "    for k in range(count):", "        if k % every == 0:", "            kept.append(h)",
                *forward, "    return h, kept", "",
                "def keep(h, count, P):", *head, *[f"    K{v} = array('d')\n    A{v} = K{v}.append" for v in reads],
                "    for _ in range(count):", *forward, *store,
                f"    return h, ({', '.join(f'K{v}' for v in reads)}{',' if len(reads) == 1 else ''})", "",
                "def back(g, count, P, kept, S):", *head,
                f"    ({', '.join(f'K{v}' for v in reads)}{',' if len(reads) == 1 else ''}) = kept",
                *[f"    s{k} = S[{k}]" for k in range(len(slots))],
                "    for k in range(count - 1, -1, -1):", *load, f"            g{out} = g", *lines,
                f"            g = g{carried}" if carried in bound else "            g = 0.0",
                *[f"            s{k} = s{k} + g{p}" for k, p in enumerate(slots) if p in bound],
                f"    return [g, {', '.join(f's{k}' for k in range(len(slots)))}]"]
        names = {"C": consts, "F": [None] * len(consts), "DERIVS": derivs, "NOTE": STRONG_ZEROS.note,
                 "array": array}
        for i, rule, *_ in steps:
            names["F"][i] = rule
        if os.environ.get("ADCLI_SHOW_LOOP"):
            print("\n".join(text))
        code = compile("\n".join(text) + "\n", f"<adcli: the loop at line {body.line}>", "exec")
        exec(code, names)  # noqa: S102 - adcli's own text (see above)
        return names["run"], names["marks"], names["keep"], names["back"], len(reads)
    return body.graph.memo(("loop compiled",), make)


KEEP_BYTES = 256 * 2**20  # the values a forward run keeps for a backward pass that may follow, at most


def run_loop(body: Body, c, params, start, step, count, every=1):
    """The carried value after count steps on floats, or None. Unless checkpointing (`every` > 1) or
    more than KEEP_BYTES, the values a backward pass reads are kept too, with what they were computed
    from: a reverse pass that follows at the same point reads them instead of running the steps again."""
    made, given = compiled(body), floats(c, params)
    if made is None or given is None:
        return None
    run, _, keep, _, reads = made
    memo = body.graph.__dict__
    memo.pop("_loop_kept", None)
    with np.errstate(all="ignore"):
        try:
            if every > 1 or count * 8 * reads > KEEP_BYTES:
                return np.float64(run(given[0], count, given[1:]))
            h, kept = keep(given[0], count, given[1:])
        except (ArithmeticError, ValueError):  # x/0 raises on floats where numpy gives inf
            return None
    memo["_loop_kept"] = ((given, count), kept)
    return np.float64(h)


def loop_adjoint(body: Body, c, params, g, start, step, count, every=1):
    """[the carried start's share of ḡ, each parameter's], or None: the steps on floats, the values the
    backward pass reads kept for each step (a few floats a step), then each step's backward sweep
    from the last back. With `every` > 1 (checkpointing), only the carried value before every
    every-th step is kept, and each stretch's values are recomputed from it just before its sweep."""
    made, given = compiled(body), floats(c, params)
    if made is None or given is None or type(g) not in (np.ndarray, np.float64, float) or np.ndim(g):
        return None
    _, marks, keep, back, _ = made
    h, p = given[0], given[1:]
    acc = float(g)
    with np.errstate(all="ignore"):
        try:
            if every <= 1:
                found = body.graph.__dict__.pop("_loop_kept", None)  # the forward run's, used once
                kept = found[1] if found is not None and found[0] == (given, count) else keep(h, count, p)[1]
                out = back(acc, count, p, kept, [0.0] * len(p))
            else:
                kept = marks(h, count, p, every)[1]
                shares = [0.0] * len(p)
                for first in range(((count - 1) // every) * every, -1, -every):
                    length = min(every, count - first)  # each stretch goes on with the sums so far: the same bits
                    acc, *shares = back(acc, length, p, keep(kept[first // every], length, p)[1], shares)
                out = [acc, *shares]
        except (ArithmeticError, ValueError):
            return None
    return [np.float64(v) for v in out]


def loop_tangent(body: Body, c, params, dc, dparams, start, step, count):
    """The carried value's tangent after count steps on floats (each operation's local derivatives
    times its operands' tangents, an exact zero tangent passing nothing on), or None."""
    found = plan(body)
    given = floats(c, params)
    moving = floats(0.0 if dc is None else dc, [0.0 if d is None else d for d in dparams])
    if found is None or given is None or moving is None:
        return None
    steps, consts, carried, slots, out = found
    _, derivs, ones, _, _ = scalar_plan(body.graph)
    rules = [(i, rule, a, b, derivs[i], ones[i]) for i, rule, a, b in steps]
    buf, tan = list(consts), [0.0] * len(consts)
    for slot, v, d in zip(slots, given[1:], moving[1:]):
        buf[slot], tan[slot] = v, d
    h, dh = given[0], moving[0]
    with np.errstate(all="ignore"):
        try:
            for _ in range(count):
                buf[carried], tan[carried] = h, dh
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
                h, dh = buf[out], tan[out]
        except (ArithmeticError, ValueError):
            return None
    return np.float64(dh)


Body.run_loop = run_loop
Body.loop_adjoint = loop_adjoint
Body.loop_tangent = loop_tangent
