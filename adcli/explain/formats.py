"""Rendering traces: plain text, Markdown, LaTeX, JSON and Rich, all reading the same step data.

Every format writes a step as (left side, relation, right side) parts built by one set of functions;
a `Notation` (adcli.explain.notation) decides how symbols, labels and numbers look. The formula
text comes from the operation registry. The terminal's Rich table is adcli.cli.terminal's `trace_renderables`.
"""

from __future__ import annotations

import re

import numpy as np

from adcli.explain.folding import Folded, listing
from adcli.explain.notation import (LINE_WIDTH, AsciiNotation, LatexNotation, Notation, dedupe, is_atom, is_scalar,
                                    pick, section_of, top_level)
from adcli.explain.trace import ForwardTrace
from adcli.numbers import dumps, to_json
from adcli.operations import OPS, with_functions

# ---------------------------------------------------------------------------------------------
# Formulas from the registry
# ---------------------------------------------------------------------------------------------

def operand(nt: Notation, arg) -> str:
    """An operand in a formula: its label, or a constant as written."""
    return nt.constant(arg.label) if arg.const else nt.label(arg.label)


def formula(nt: Notation, op_name: str, fillers: list[str], params: dict, scalar: bool) -> str:
    """The operation applied to `fillers` (labels or values), with its axis when it has one."""
    op = OPS[op_name]
    if op.show is not None:
        text = op.show(fillers, params).replace("←", nt.arrow)  # an update's x[i] ← v, in the notation's arrow
    elif op.variadic:
        text = nt.fill(op.text.replace("…", ", ".join(f"{{{k}}}" for k in range(len(fillers)))), fillers)
    else:
        text = nt.fill(op.scalar_text if scalar and op.scalar_text else op.text, fillers)
    axis = params.get("axis")
    if axis is not None and axis != dict(op.params).get("axis") and op.show is None:
        text += nt.words(f" over axis {axis}")
    return text


def scalar_form(step) -> bool:
    """Every operand and the result are scalars, so the lecture's scalar notation applies."""
    return is_scalar(step.value) and all(is_scalar(a.value) for a in step.args)


def compute_part(nt: Notation, step) -> tuple[str, str, str]:
    """u = x + 1 = 17 + 1 = 18 (operand values substituted only when all are scalars)."""
    scalar = scalar_form(step)
    parts = [formula(nt, step.op, [operand(nt, a) for a in step.args], step.params, scalar)]
    if scalar:
        parts.append(formula(nt, step.op, [nt.factor(a.value) for a in step.args], step.params, True))
    parts.append(nt.num(step.value))
    return nt.shaped(nt.label(step.label), step.value), "=", " = ".join(dedupe(parts))


def counted(template: str, step) -> str:
    """A reduction's text with its count filled in: ḡ/4 for a mean of 4 elements (never the letter
    n, which may be one of the file's own dimension names), ddof where it appears, and the name of
    fixed_point's and root's function."""
    template = with_functions(template, step.params)
    if "{n}" not in template and "{ddof}" not in template:
        return template
    size = int(np.size(step.args[0].value)) // max(int(np.size(step.value if step.kind == "compute" else
                                                                  step.upstream)), 1)
    ddof = step.params.get("ddof", 0)
    text = template.replace("{n}", str(size)).replace("{ddof}", str(ddof))
    return text.replace(f"({size} - 0)", str(size)).replace(f"{size} - 0", str(size))


def constant_power(step) -> float | None:
    """The exponent of x ** c when c is a constant scalar (its derivative's text is then simplified)."""
    if step.op != "pow" or step.k != 0 or not step.args[1].const or not is_scalar(step.args[1].value):
        return None
    return float(step.args[1].value)


def power_template(nt: Notation, c: float) -> str:
    """c·x^(c-1) with the arithmetic done, {0} standing for x: 2·{0}, 3·{0}², 0.5·{0}^(-0.5)."""
    if c in (0, 1):
        return nt.num(c)
    lead, rest = nt.num(c), c - 1
    if rest == 1:
        return f"{lead}·{{0}}"
    if rest in (2, 3):
        return f"{lead}·{{0}}{'²' if rest == 2 else '³'}"
    return f"{lead}·{{0}}^" + (nt.num(rest) if rest > 0 and float(rest).is_integer() else f"({nt.num(rest)})")


def local_text(nt: Notation, step) -> str:
    """The scalar local derivative with operand labels: ∂(x·u)/∂u = x (x²'s: 2·x, not 2·x^(2-1))."""
    c = constant_power(step)
    if c is not None:
        return nt.fill(power_template(nt, c), [operand(nt, step.args[0])])
    return nt.fill(counted(pick(OPS[step.op].partials, step.k), step), [operand(nt, a) for a in step.args])


def vjp_text(nt: Notation, step) -> str:
    """The vector–Jacobian product with operand labels, and the sum over broadcast axes."""
    c = constant_power(step)
    if c is not None:
        slope = power_template(nt, c)
        template = "ḡ" if slope == "1" else "0" if slope == "0" else f"ḡ ⊙ {slope}"
        text = nt.fill(template, [operand(nt, step.args[0])])
    else:
        text = nt.fill(counted(pick(OPS[step.op].vjp_text, step.k), step), [operand(nt, a) for a in step.args])
    if step.summed_axes:
        if len(step.summed_axes) == np.ndim(step.upstream) and is_scalar(step.after):
            where = "all axes"
        else:
            where = ("axis " if len(step.summed_axes) == 1 else "axes ") + ", ".join(map(str, step.summed_axes))
        text = f"{text if is_atom(text) else '(' + text + ')'}{nt.words(', summed over ' + where)}"
    return text


def array_rule(nt: Notation, step, out: str) -> str:
    """An array accumulator's update without its values: `∂y/∂W + Hᵀ ḡ (ḡ = ∂y/∂U3)`."""
    acc = nt.grad(out, step.label)
    share = vjp_text(nt, step)
    if re.search(r" [+-] ", top_level(share)):  # a sum after "acc +" needs its parentheses
        share = f"({share})"
    added = f"- {share[1:]}" if share.startswith("-") else f"+ {share}"  # acc - ḡ, not acc + -ḡ
    return f"{acc} {added} ({nt.gbar} = {nt.grad(out, step.source_label)})"


def accumulate_part(nt: Notation, step, out: str) -> tuple[str, str, str]:
    """One accumulator update, in the lecture's scalar notation or in vector–Jacobian form."""
    acc = nt.grad(out, step.label)
    upstream = nt.grad(out, step.source_label)
    if not step.scalar:  # the same arrow as for scalars: the accumulator, plus its share of ḡ
        # Adding to an accumulator shows before + share = after when that fits a line, else the sum
        # alone (the value before stands in the listing, at the accumulator's previous update).
        values = ([nt.num(step.after)] if step.before is None else
                  [nt.either(f"{nt.num(step.before)} + {nt.num(step.contribution)} = {nt.num(step.after)}",
                             nt.num(step.after))])
        return acc, nt.arrow, f"{array_rule(nt, step, out)} = " + " = ".join(values)
    whole = formula(nt, step.op, [operand(nt, a) for a in step.args], step.params, True)
    before = nt.num(0.0 if step.before is None else step.before)
    head = f"{before} + {nt.factor(step.upstream)}{nt.times}"
    c = constant_power(step)
    at_values = nt.fill(power_template(nt, c), [nt.factor(step.args[0].value)]) if c is not None else \
        nt.fill(counted(pick(OPS[step.op].partials, step.k), step), [nt.factor(a.value) for a in step.args])
    local_forms = [local_text(nt, step), at_values]
    parts = [head + nt.in_product(f) for f in local_forms] + [head + nt.factor(step.local), nt.num(step.after)]
    return acc, nt.arrow, (f"{acc} + {upstream}{nt.times}{nt.partial_of(whole, step.label)} = "
                           + " = ".join(dedupe(parts)))


def reverse_parts(nt: Notation, step, out: str) -> list[tuple[str, str, str]]:
    """A reverse-trace step as (left side, relation, right side)."""
    kind = step.kind
    if kind == "init":
        return [(nt.shaped(nt.grad(out, step.label), step.value), nt.arrow, "0")]
    if kind == "compute":
        return [compute_part(nt, step)]
    if kind == "seed":
        return [(nt.grad(out, step.label), nt.arrow, nt.num(step.value))]
    if kind == "accumulate":
        return [accumulate_part(nt, step, out)]
    if kind == "recompute":
        return [recompute_part(nt, step)]
    return [(nt.grad(out, step.label), "=", nt.num(step.value))]


def recompute_part(nt: Notation, step) -> tuple[str, str, str]:
    """`recompute U7, h′, U8 from the checkpoint h and the input W` (long segments abbreviated)."""
    names = [nt.label(label) for label in step.labels]
    shown = ", ".join(names) if len(names) <= 6 else f"{', '.join(names[:3])}, …, {names[-1]}"
    count = nt.words(f"{len(names)} values: ") if len(names) > 6 else ""
    parts = []
    for word, labels in (("checkpoint", step.checkpoints), ("input", step.inputs)):
        if labels:
            parts.append(nt.words(f"the {word}{'s' if len(labels) > 1 else ''} ")
                         + ", ".join(nt.label(label) for label in labels))
    sources = nt.words(" and ").join(parts) if parts else nt.words("constants alone")
    return (nt.words("recompute"), "", f"{count}{shown}{nt.words(' from ')}{sources}")


# ---- forward mode -----------------------------------------------------------------------------

def tangent_rule(nt: Notation, step) -> tuple[list[str], bool]:
    """The tangent's terms, one per operand (ẋ·u + x·u̇), and whether any is a product."""
    op = OPS[step.op]
    labels = [operand(nt, a) for a in step.args]
    dots = ["0" if a.const else nt.dot(a.label) for a in step.args]
    scalar = scalar_form(step)
    if not op.elementwise and all(p in ("1", "1/{n}") for p in op.partials):  # linear: f(ẋ)
        return [formula(nt, step.op, dots, step.params, scalar)], False
    terms, products = [], False
    for k, arg in enumerate(step.args):
        partial = pick(op.partials, k)
        if arg.const or partial == "1":
            terms.append(dots[k])
        elif partial == "-1":
            terms.append("-" + dots[k])
        elif re.fullmatch(r"\{\d+\}", partial):  # bilinear (x·u, W @ x): the tangent in x's place
            terms.append(formula(nt, step.op, labels[:k] + [dots[k]] + labels[k + 1:], step.params, scalar))
            products = True
        elif op.elementwise:
            local = nt.fill(partial, labels)
            terms.append((local if is_atom(local) else f"({local})") + nt.tight + dots[k])
            products = True
        else:  # a Jacobian applied to the tangent
            whole = formula(nt, step.op, labels, step.params, scalar)
            terms.append(nt.partial_of(whole, arg.label) + nt.times + dots[k])
            products = True
    return terms, products


def join_terms(terms: list[str]) -> str:
    """Terms joined by +, with `+ -x` written `- x`."""
    return " + ".join(terms).replace("+ -", "- ")


def tangent_part(nt: Notation, step) -> tuple[str, str, str]:
    """u̇ = ẋ + 0 = 1, or ẏ = ẋ·u + x·u̇ = 18 + 17 = 35."""
    terms, products = tangent_rule(nt, step)
    parts = [join_terms(terms)]
    if products and scalar_form(step) and len(terms) == len(step.terms):
        if len(terms) == 1 and step.locals[0] is not None:  # f(x): local derivative times tangent
            parts.append(nt.factor(step.locals[0]) + nt.tight + nt.factor(step.arg_tangents[0]))
        parts.append(" + ".join(nt.factor(t) if k else nt.num(t) for k, t in enumerate(step.terms)))
    parts.append(nt.num(step.tangent))
    return nt.dot(step.label), "=", " = ".join(dedupe(parts))


def seed_name(trace: ForwardTrace) -> str:
    """The input the tangent is taken along, with the element for a one-hot seed."""
    if trace.index is None:
        return trace.wrt_label
    return f"{trace.wrt_label}[{', '.join(map(str, trace.index))}]"


def forward_parts(nt: Notation, step, trace: ForwardTrace) -> list[tuple[str, str, str]]:
    """A forward-trace step: the value, then the tangent."""
    if step.kind == "input":
        return [(nt.shaped(nt.label(step.label), step.value), "=", nt.num(step.value)),
                (nt.dot(step.label), "=", nt.num(step.tangent))]
    if step.kind == "compute":
        return [compute_part(nt, step), tangent_part(nt, step)]
    tangent = nt.num(step.tangent)
    if trace.seed != "ones":
        tangent = f"{nt.grad(trace.output, seed_name(trace))} = {tangent}"
    return [(nt.label(step.label), "=", nt.num(step.value)), (nt.dot(step.label), "=", tangent)]


def step_parts(nt: Notation, step, trace) -> list[tuple[str, str, str]]:
    """A step of either kind of trace as (left side, relation, right side) parts."""
    if isinstance(trace, ForwardTrace):
        return forward_parts(nt, step, trace)
    return reverse_parts(nt, step, trace.output)


# ---------------------------------------------------------------------------------------------
# Headers and section selection
# ---------------------------------------------------------------------------------------------

def header(nt: Notation, trace) -> tuple[str, list[tuple[str, str, str]]]:
    """What the listing is about, then (word, formula, note) items: the inputs or the tangent seed."""
    out = nt.label(trace.output)
    if isinstance(trace, ForwardTrace):
        dot, along = nt.dot(trace.wrt_label), nt.label(seed_name(trace))
        seed = {"one": (f"{dot} = 1", "every other input's tangent is 0"),
                "ones": (f"{dot} = 1", f"in every element of {along}; every other input's tangent is 0"),
                "one-hot": (f"{dot} = 1 at {along}", "0 elsewhere and in every other input")}[trace.seed]
        return f"forward mode: the tangent of {out} along {along}", [("seed", *seed)]
    title = f"reverse mode: the gradient of {out}"
    given = [f"{nt.shaped(nt.label(g.label), g.value)} = {nt.num(g.value)}" for g in trace.given]
    if all(is_scalar(g.value) for g in trace.given):  # scalars share a line; arrays get one each
        return title, ([("given", ", ".join(given), "")] if given else [])
    return title, [("given", text, "") for text in given]


def header_lines(nt: Notation, trace) -> list[str]:
    """The header as plain lines."""
    title, items = header(nt, trace)
    return [title] + [f"{word} {text}" + (f"; {note}" if note else "") for word, text, note in items]


def selected(trace, only: str | None) -> list[tuple[int, object]]:
    """(number, step) pairs of the listing, limited to a phase by --only; numbers stay global."""
    return [(n, step) for n, step in enumerate(trace.steps, 1) if only is None or step.phase == only]


def listed(trace, only: str | None) -> list[tuple[int | None, object]]:
    """The steps a listing prints: those `selected`, with the loop iterations folded away replaced by
    one (None, Folded) per run (numbers stay global, so a gap shows where steps were folded)."""
    return list(listing(trace, selected(trace, only)))


def folded_text(nt: Notation, fold: Folded) -> str:
    """One line for the folded iterations: how many, which, and how to list them."""
    count = fold.iterations
    first, last = fold.values
    which = f"{fold.var} = {first}" if first == last else f"{fold.var} = {first} … {last}"
    return (f"… {count:,} iteration{'s' * (count != 1)} folded ({which}, the loop at line {fold.line}): "
            f"{fold.steps:,} step{'s' * (fold.steps != 1)}; --unroll lists them")


def sections(numbered: list[tuple[int, object]]) -> list[tuple[str, list]]:
    """Consecutive steps grouped by section (forward, backward, result), in order."""
    groups: list[tuple[str, list]] = []
    for n, step in numbered:
        name = section_of(step)
        if not groups or groups[-1][0] != name:
            groups.append((name, []))
        groups[-1][1].append((n, step))
    return groups


def make_notation(ascii_only: bool, full: bool, width: int = LINE_WIDTH) -> Notation:
    """Unicode, or ASCII for --ascii and terminals that cannot show ∂; lines of `width` columns."""
    return AsciiNotation(full, width=width) if ascii_only else Notation(full, width=width)


# ---------------------------------------------------------------------------------------------
# Plain text, Markdown, LaTeX
# ---------------------------------------------------------------------------------------------

def line_text(parts: list[tuple[str, str, str]]) -> str:
    """A step's parts on one line; a forward step's value and tangent separated by `;`."""
    return ";  ".join(" ".join(part for part in (lhs, rel, rhs) if part) for lhs, rel, rhs in parts)


def with_contexts(trace, steps):
    """(context or None, number, step): a context each time the loop iteration or call changes,
    so a reader can tell which iteration and which call every line belongs to."""
    current = ""
    for n, step in steps:
        where = "" if step.kind == "folded" else trace.where(step)
        if where != current and step.kind in ("compute", "accumulate", "init"):
            yield where or "top level", None, None
            current = where
        yield None, n, step


def temporaries(nt: Notation, trace, only: str | None) -> list[str]:
    """For a backward-only listing, where each temporary it names was made: U1 = W·x (line 2)."""
    if only != "backward" or isinstance(trace, ForwardTrace):
        return []
    return [f"{compute_part(nt, step)[0]} = {compute_part(nt, step)[2].split(' = ')[0]} (line {step.line})"
            for step in trace.steps if step.kind == "compute" and step.temporary and step.node not in trace.hidden]


def render_plain(trace, ascii_only: bool = False, full: bool = False, only: str | None = None) -> str:
    """One step per line, numbered; never wrapped, no colour, the same bytes on every run."""
    nt = make_notation(ascii_only, full)
    numbered = listed(trace, only)
    width = len(str(len(trace.steps)))
    lines = header_lines(nt, trace)
    lines += [f"where {made}" for made in temporaries(nt, trace, only)]
    for name, steps in sections(numbered):
        lines.append(name)
        for where, n, step in with_contexts(trace, steps):
            if where is not None:
                lines.append(f"{'':>{width}}  [{where}]")
            elif n is None:
                lines.append(f"{'':>{width}}  {folded_text(nt, step)}")
            else:
                lines.append(f"{n:>{width}}  {line_text(step_parts(nt, step, trace))}")
    return "\n".join(nt.finish(line) for line in lines) + "\n"


def source_note(trace, step) -> str:
    """` (line N)` for a step that comes from a place in the file."""
    line = getattr(step, "line", 0)
    return f" (line {line})" if line and step.kind in ("compute", "accumulate") else ""


def render_markdown(trace, ascii_only: bool = False, full: bool = False, only: str | None = None) -> str:
    """A document a teacher can paste: a heading per phase and numbered steps in code spans."""
    nt = make_notation(ascii_only, full)
    title, items = header(nt, trace)
    lines = [f"**{title[0].upper() + title[1:]}**", ""]
    lines += [f"- {word} `{text}`" + (f"; {note}" if note else "") for word, text, note in items]
    made = temporaries(nt, trace, only)
    if made:
        lines += [f"- where `{m.rsplit(' (', 1)[0]}` ({m.rsplit(' (', 1)[1]}" for m in made]
    for name, steps in sections(listed(trace, only)):
        lines += ["", f"**{name.capitalize()}**", ""]
        for where, n, step in with_contexts(trace, steps):
            if where is not None:
                lines.append(f"*{where}*")
            elif n is None:
                lines.append(f"*{folded_text(nt, step)}*")
            else:
                lines.append(f"{n}. `{line_text(step_parts(nt, step, trace))}`{source_note(trace, step)}")
    return "\n".join(nt.finish(line) for line in lines) + "\n"


def latex_text(text: str) -> str:
    """Prose for \\text: LaTeX's special characters escaped."""
    return "".join("\\" + ch if ch in "&%$#_{}" else ch for ch in text)


def render_latex(trace, full: bool = False, only: str | None = None) -> str:
    """An align* environment (amsmath, amssymb), one aligned line per value or update."""
    nt = LatexNotation(full)
    rows = []
    for name, steps in sections(listed(trace, only)):
        rows.append(rf"\intertext{{\textbf{{{name.capitalize()}}}}}")
        for where, n, step in with_contexts(trace, steps):
            if where is not None or n is None:
                text = latex_text(where if where is not None else folded_text(nt, step)).replace("…", r"\ldots{}")
                rows.append(rf"\intertext{{\emph{{{text}}}}}")
                continue
            rows += [nt.finish(f"  {lhs} &{rel} {rhs}" if rel != "=" else f"  {lhs} &= {rhs}")
                     for lhs, rel, rhs in step_parts(nt, step, trace)]
    body = []
    for i, row in enumerate(rows):  # \\ ends a line; none before \intertext or \end
        last = i + 1 == len(rows) or rows[i + 1].startswith(r"\intertext")
        body.append(row if last or row.startswith(r"\intertext") else row + r" \\")
    return "\n".join([r"\begin{align*}"] + body + [r"\end{align*}"]) + "\n"


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------

def arg_json(arg):
    """An operand in JSON: its label, or a constant's value."""
    return to_json(arg.value) if arg.const else arg.label


def params_json(params: dict) -> dict:
    """Parameters as JSON: a subscript as it is written ([1:, None] -> "1:, None"), tuples as lists."""
    from adcli.operations import index_text
    out = {}
    for name, value in params.items():
        if name in ("index", "layout"):
            out[name] = index_text(value)
        elif name in ("body", "rule", "test"):  # a function of the file (fixed_point's f, a rule, a loop's body), by name
            out[name] = value.name
        elif isinstance(value, tuple):
            out[name] = [list(v) if isinstance(v, tuple) else v for v in value]
        else:
            out[name] = value
    return out


def step_json(step, trace, nt: Notation) -> dict:
    """A step as the issue's JSON object, plus its formula texts and source position (and the loop
    iteration and call it belongs to, when it is not the file's top level)."""
    out: dict = {"phase": step.phase, "kind": step.kind}
    where = trace.where(step)
    if where:
        out["where"] = where
    kind = step.kind
    if isinstance(trace, ForwardTrace):
        out["name"] = step.label
        if kind == "compute":
            out.update(op=step.op, args=[arg_json(a) for a in step.args],
                       formula=formula(nt, step.op, [operand(nt, a) for a in step.args], step.params,
                                       scalar_form(step)))
        out.update(value=to_json(step.value), tangent=to_json(step.tangent), shape=list(np.shape(step.value)))
        if kind == "compute":
            out.update(rule=join_terms(tangent_rule(nt, step)[0]), terms=[to_json(t) for t in step.terms],
                       params=params_json(step.params), line=step.line, col=step.col)
        return out
    if kind in ("init", "seed", "result"):
        out.update(grad_of=step.label, value=to_json(step.value), shape=list(np.shape(step.value)))
    elif kind == "compute":
        out.update(name=step.label, op=step.op, args=[arg_json(a) for a in step.args],
                   arg_values=[to_json(a.value) for a in step.args],
                   formula=formula(nt, step.op, [operand(nt, a) for a in step.args], step.params,
                                   scalar_form(step)),
                   value=to_json(step.value), shape=list(np.shape(step.value)), params=params_json(step.params),
                   line=step.line, col=step.col)
    elif kind == "recompute":
        out.update(values=list(step.labels), checkpoints=list(step.checkpoints), inputs=list(step.inputs))
    else:
        before = np.zeros(np.shape(step.after)) if step.before is None else step.before
        out.update({"grad_of": step.label, "from": step.source_label, "before": to_json(before),
                    "upstream": to_json(step.upstream), "local": local_text(nt, step),
                    "contribution": to_json(step.contribution), "after": to_json(step.after),
                    "operand": step.k, "op": step.op, "form": "scalar" if step.scalar else "array",
                    "local_value": None if step.local is None else to_json(step.local),
                    "vjp": vjp_text(nt, step), "summed_axes": list(step.summed_axes),
                    "line": step.line, "col": step.col})
    return out


def trace_json(trace, only: str | None = None) -> dict:
    """The whole trace as one JSON-ready object; names are the graph's labels (h, h', U1)."""
    nt = Notation(pretty_primes=False)
    shown = listed(trace, only)
    steps = [folded_json(step) if n is None else step_json(step, trace, nt) for n, step in shown]
    given = {g.label: to_json(g.value) for g in trace.given}
    if isinstance(trace, ForwardTrace):
        out = {"mode": "forward", "wrt": trace.wrt, "output": trace.output, "file": trace.file,
               "seed": trace.seed, "index": None if trace.index is None else list(trace.index),
               "value": to_json(trace.value), "tangent": to_json(trace.tangent), "inputs": given,
               "steps": steps}
    else:
        grad = {s.label: to_json(s.value) for s in trace.steps if s.kind == "result"}
        out = {"mode": "reverse", "output": trace.output, "file": trace.file, "value": to_json(trace.value),
               "inputs": given, "grad": grad, "steps": steps}
    folds = [step for n, step in shown if n is None]
    if folds:  # what was left out, and the choice that left it: a reader can ask for it again
        out["folded"] = {"iterations": trace.folding, "steps": sum(f.steps for f in folds)}
    return out


def folded_json(fold: Folded) -> dict:
    """A run of folded steps in JSON: the loop, the iterations (counted from 0) and their values."""
    return {"phase": fold.phase, "kind": "folded", "loop": fold.var, "line": fold.line,
            "iterations": [fold.first, fold.last], "values": [int(v) for v in fold.values],
            "count": fold.iterations, "steps": fold.steps}


def render_json(trace, only: str | None = None, kinks: list | None = None) -> str:
    """Exactly one JSON object, through the one JSON writer; `kinks` only when there are some."""
    obj = trace_json(trace, only)
    if kinks:
        obj["kinks"] = kinks
    return dumps(obj) + "\n"
