"""A trace as one self-contained HTML page: the graph as SVG beside the numbered steps, stepped by keys.

The page is the plain trace's steps and texts, plus what a reader clicks for: each node's value,
gradient (or tangent), local derivatives, source line and the steps that touch it. Everything the
file supplied reaches the page as JSON inside a script element (with <, > and & escaped) and is
written into the document as text, never as markup, so a name or comment cannot inject anything.
The graph is laid out by Graphviz's `dot` when it is installed; without it the page shows the
steps alone and says why (a layered layout is Graphviz's job, not something to re-implement here).
"""

from __future__ import annotations

import html
import json
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np

from adcli.errors import AdError, InputError
from adcli.explain.formats import (header_lines, line_text, local_text, make_notation, selected, step_parts,
                                   tangent_part, vjp_text)
from adcli.explain.graphview import GraphView, ViewNode, compact, render_image, to_dot
from adcli.explain.inside import inside
from adcli.explain.notation import section_of
from adcli.explain.tables import shape_text
from adcli.explain.trace import ForwardTrace
from adcli.language.graph import CONST, INPUT
from adcli.numbers import format_value
from adcli.operations import OPS

MAX_STEPS = 50_000  # about 15 MB of page: beyond it a browser struggles to even load the data
GRAPH_NODES = 400  # beyond it dot takes long and the drawing is unreadable: the steps alone
PAGE_STEPS = 500  # the list shows one page of steps at a time, so 10,000 steps stay responsive
FULL_ELEMENTS = 10_000  # an array's every element is offered on demand up to this size


def page_html(program, trace, ascii_only: bool = False, full: bool = False, only: str | None = None,
              practice: bool = False) -> str:
    """The whole page for a reverse or forward trace of `program` (opening in practice mode with
    `practice`: each scalar step's new value is asked before it is shown)."""
    if len(trace.steps) > MAX_STEPS:
        raise InputError(f"this trace has {len(trace.steps):,} steps; an HTML page holds at most {MAX_STEPS:,} "
                         "(use --only forward or --only backward, or --format plain, which streams any length)")
    graph = program.graph
    data = page_data(trace, graph, ascii_only, full, only)
    data["practice"] = practice
    clusters = clusters_of(data["nodes"], trace.output_node) if len(data["nodes"]) <= GRAPH_NODES else []
    where = {path: k for k, (_, _, path, _) in enumerate(clusters)}
    inside: list[list[int]] = [[] for _ in clusters]  # every node within a box, its inner boxes' too
    for i in drawn(data["nodes"], trace.output_node) if clusters else ():
        path = tuple(data["nodes"][i]["context"].split("; ")) if data["nodes"][i]["context"] else ()
        for k in range(1, len(path) + 1):
            inside[where[path[:k]]].append(i)
    data["clusters"] = [{"id": ident, "label": label, "parent": where.get(path[:-1], -1), "nodes": inside[k]}
                        for k, (ident, label, path, _) in enumerate(clusters)]
    svg, note = drawing(graph, data["nodes"], trace.output_node, clusters)
    return page(data, svg, note)


# ---------------------------------------------------------------------------------------------
# The data: plain records of nodes and steps
# ---------------------------------------------------------------------------------------------

def text_of(value, full: bool) -> str | None:
    """An array written out whole, when that is small enough to offer; None otherwise."""
    if value is None:
        return None
    if np.size(value) > FULL_ELEMENTS:
        return f"{np.size(value):,} elements: adcli eval --full writes them all"
    return format_value(value, full)


def node_values(trace) -> tuple[dict, dict]:
    """node -> value, and node -> final gradient (reverse) or tangent (forward), from the steps."""
    values = {g.node: g.value for g in trace.given}
    second: dict = {}
    for step in trace.steps:
        kind = step.kind
        if isinstance(trace, ForwardTrace):
            if kind in ("input", "compute"):
                values[step.node], second[step.node] = step.value, step.tangent
        elif kind == "compute":
            values[step.node] = step.value
        elif kind in ("init", "seed", "result"):
            second[step.node] = step.value
        elif kind == "accumulate":
            second[step.node] = step.after
    return values, second


def step_edges(graph, step) -> list[str]:
    """The edges a step is about: the one its gradient share flows along, or a value's operands."""
    if step.kind == "accumulate":
        return [f"e{step.source}-{step.k}"]
    if step.kind == "compute":
        return [f"e{step.node}-{k}" for k in range(len(graph.nodes[step.node].args))]
    return []


def badge(nt, trace, step) -> str:
    """What the highlighted node shows at this step: the accumulator's before → after, or the value."""
    kind = step.kind
    if isinstance(trace, ForwardTrace):
        if kind == "result":
            return f"{nt.label(step.label)} = {nt.num(step.value)}, {nt.dot(step.label)} = {nt.num(step.tangent)}"
        return nt.finish(f"{nt.label(step.label)} = {nt.num(step.value)}, {nt.dot(step.label)} = "
                         f"{nt.num(step.tangent)}")
    if kind == "recompute":
        return "recomputed"
    acc = nt.grad(trace.output, step.label)
    if kind == "accumulate":
        before = nt.num(0.0 if step.before is None else step.before)
        return nt.finish(f"{acc}: {before} → {nt.num(step.after)}")
    if kind == "compute":
        return nt.finish(f"{nt.label(step.label)} = {nt.num(step.value)}")
    return nt.finish(f"{acc} {'=' if kind == 'result' else '←'} {nt.num(step.value)}")


def state_change(trace, step) -> tuple[object, object]:
    """(the value, the gradient or tangent) this step gives its node, each None where it gives none:
    replayed in order, these are the graph's state at any step."""
    kind = step.kind
    if isinstance(trace, ForwardTrace):
        return (step.value, step.tangent) if kind in ("input", "compute") else (None, None)
    if kind == "compute":
        return step.value, None
    if kind in ("init", "seed", "result"):
        return None, step.value
    if kind == "accumulate":
        return None, step.after
    return None, None


def callout(nt, trace, step, grown: set) -> str:
    """What the step does, in the lecture's words: the edge that fires, its local partial, the
    accumulator before, the share it adds and what it holds after (`grown`: the nodes whose
    accumulator some step adds to)."""
    kind = step.kind
    if isinstance(trace, ForwardTrace):
        if kind == "input":
            return nt.finish(f"{nt.label(step.label)} is given: {nt.num(step.value)}, with tangent "
                             f"{nt.dot(step.label)} = {nt.num(step.tangent)}")
        if kind == "compute":  # the value's line and the tangent's, as the listing has them
            return nt.finish(line_text(step_parts(nt, step, trace)))
        return nt.finish(f"the result: {nt.dot(step.label)} = {nt.num(step.tangent)}")
    acc = nt.grad(trace.output, step.label)
    if kind == "init":
        return nt.finish(f"{acc} starts at 0: nothing has flowed back to {nt.label(step.label)} yet")
    if kind == "compute":
        return nt.finish(line_text(step_parts(nt, step, trace)))
    if kind == "seed":
        return nt.finish(f"{acc} ← 1: the output's gradient with respect to itself seeds the backward pass")
    if kind == "result":
        if step.node not in grown:
            return nt.finish(f"{acc} = {nt.num(step.value)}: no path leads from {nt.label(trace.output)} back to "
                             f"{nt.label(step.label)}, so nothing was ever added to its accumulator")
        return nt.finish(f"{acc} = {nt.num(step.value)}: every path from {nt.label(trace.output)} back to "
                         f"{nt.label(step.label)} has been added")
    if kind == "recompute":
        return nt.finish(f"{', '.join(map(nt.label, step.labels))} computed again from the checkpoints")
    before = 0.0 if step.before is None else step.before
    if step.scalar and step.local is not None:
        rule = line_text(step_parts(nt, step, trace)).split(" = ")[0].split(" ← ", 1)[-1]
        rule = rule.removeprefix(f"{acc} + ")  # the share alone: ∂y/∂u · ∂(x + 1)/∂x
        share = f"{rule} = {nt.num(step.upstream)} · {nt.factor(step.local)} = {nt.num(step.contribution)}"
    else:
        share = f"the share from {nt.label(step.source_label)} = {nt.num(step.contribution)}"
    return nt.finish(f"{acc} += {share}, so {acc}: {nt.num(before)} → {nt.num(step.after)}")


def answer_of(trace, step):
    """The number a student types at this step in practice mode (a scalar step's new value), or None."""
    value, second = state_change(trace, step)
    if isinstance(trace, ForwardTrace):
        chosen = second if step.kind == "compute" else None
    else:
        chosen = second if step.kind in ("seed", "accumulate") else value if step.kind == "compute" else None
    if chosen is None or np.ndim(chosen) != 0 or np.asarray(chosen).dtype.kind not in "iuf" or not np.isfinite(chosen):
        return None  # arrays, truth values and non-finite numbers are shown, not asked
    return float(chosen)


def hints(text: str) -> list[str]:
    """A step's rule without its numbers, then with them but without the result: a practice hint
    each (of a forward step, its tangent's line)."""
    text = text.split(";  ", 1)[-1]
    parts = text.split(" = ")
    if "←" in parts[0] or len(parts) < 3:
        rule = parts[0]
    else:
        rule = " = ".join(parts[:2])
    more = " = ".join(parts[:-1])
    return [rule] + ([more] if len(parts) > 2 and more != rule else [])


def local_derivatives(nt, trace, node: int, steps_of_node: list) -> list[str]:
    """The node's own local derivatives, with operand labels: one per operand, or its tangent rule."""
    texts: list[str] = []
    seen: dict = {}  # operand k -> its text, listed in operand order
    for step in steps_of_node:
        if isinstance(trace, ForwardTrace):
            if step.kind == "compute" and step.node == node:
                lhs, rel, rhs = tangent_part(nt, step)
                texts.append(nt.finish(f"{lhs} {rel} {rhs.split(' = ')[0]}"))
            continue
        if step.kind != "accumulate" or step.source != node or step.k in seen:
            continue
        if step.scalar:
            formula = nt.label(step.source_label)
            seen[step.k] = nt.finish(f"∂{formula}/∂{nt.label(step.label)} = {local_text(nt, step)}")
        else:
            seen[step.k] = nt.finish(f"{nt.gbar} → {nt.label(step.label)}: {vjp_text(nt, step)}")
    return texts + [seen[k] for k in sorted(seen)]


def page_data(trace, graph, ascii_only: bool, full: bool, only: str | None) -> dict:
    """Everything the page shows, as JSON-ready plain data."""
    nt, whole = make_notation(ascii_only, full), make_notation(ascii_only, True)
    forward = isinstance(trace, ForwardTrace)
    out = trace.output_node
    values, second = node_values(trace)
    touching: dict[int, list] = {}
    grown = {step.node for step in trace.steps if step.kind == "accumulate"}
    steps = []
    width = len(str(len(trace.steps)))
    for n, step in selected(trace, only):
        # Finished with the number in front, as the plain listing is, so arrays get the same room.
        text = nt.finish(f"{n:>{width}}  {line_text(step_parts(nt, step, trace))}")[width + 2:]
        record = {"n": n, "section": section_of(step), "kind": step.kind, "text": text,
                  "node": step.node, "edges": step_edges(graph, step), "badge": badge(nt, trace, step),
                  "where": trace.where(step), "callout": callout(nt, trace, step, grown)}
        value, change = state_change(trace, step)
        if value is not None:
            record["v"] = compact(value)
        if change is not None:
            record["g"] = compact(change)
        answer = answer_of(trace, step)
        if answer is not None:
            record["answer"], record["hints"] = answer, hints(text)
        if not full and len(text) < 20_000:
            long = whole.finish(line_text(step_parts(whole, step, trace)))
            if long != text and len(long) < 200_000:
                record["full"] = long
        steps.append(record)
        about = {step.node, getattr(step, "source", step.node)}
        if step.kind == "compute":
            about |= {a.node for a in step.args if not a.const}
        for i in about:
            touching.setdefault(i, []).append(n)
    by_number = dict(enumerate(trace.steps, 1))
    nodes = []
    # Every node up to the output, and inputs after it that steps still name (an input first used
    # after an earlier --of output has an accumulator, and a gradient of 0).
    for i in range(max([out] + [step.node for step in trace.steps]) + 1):
        node = graph.nodes[i]
        kind = node.op if node.op in (INPUT, CONST) else "op"
        value = node.data if node.op == CONST else values.get(i)
        label = node.label or format_value(node.data) if node.op == CONST else node.label
        scalar = all(np.ndim(values.get(a, graph.nodes[a].data)) == 0 for a in node.args)
        labels = [nt.label(graph.nodes[a].label) for a in node.args]
        formula = "" if kind != "op" else OPS[node.op].formula(labels, scalar=scalar, params=node.params)
        span = graph.span(i)
        g = second.get(i)
        bad = any(v is not None and not np.all(np.isfinite(v)) for v in (value, g))
        nodes.append({
            "label": nt.label(label) if kind != "const" else label, "kind": kind, "op": node.op,
            "formula": nt.finish(formula), "shape": None if value is None else shape_text(value),
            "value": None if value is None else nt.finish(nt.num(value)), "valueFull": text_of(value, True),
            "second": None if g is None else nt.finish(nt.num(g)), "secondFull": text_of(g, True),
            "secondName": (nt.dot(node.label) if forward else nt.grad(trace.output, node.label)),
            "short": None if value is None else compact(value), "secondShort": None if g is None else compact(g),
            "output": i == out, "nonfinite": bool(bad),
            # what the graph shows before step 1: the given inputs' and constants' values, no accumulator
            # (and with --only backward, whose steps compute nothing, every value)
            "start": compact(value) if value is not None and (kind != "op" or only == "backward") else None,
            "at": f"{span.file}:{span.line}:{span.col}" if span.line else span.file,
            "source": span.source_line() or "", "context": trace.contexts.get(i, ""),
            "steps": touching.get(i, []), "args": list(node.args),
            "locals": local_derivatives(nt, trace, i, [by_number[n] for n in touching.get(i, [])]),
            "inside": inside(nt, graph, i, values),  # a loop's body and carried values, for the page to open
        })
    title, *rest = (nt.finish(line) for line in header_lines(nt, trace))
    return {"title": title, "header": rest, "file": trace.file, "mode": trace.mode, "nodes": nodes,
            "steps": steps, "page": PAGE_STEPS, "second": "tangent" if forward else "gradient"}


# ---------------------------------------------------------------------------------------------
# The drawing: DOT with ids the page can find, laid out by Graphviz
# ---------------------------------------------------------------------------------------------

def drawn(nodes: list[dict], out: int) -> list[int]:
    """The nodes the page draws: every node up to the output, and inputs after it that steps name."""
    return [i for i, n in enumerate(nodes) if i <= out or n["kind"] == "input"]


def clusters_of(nodes: list[dict], out: int) -> list[tuple]:
    """A box for each loop iteration and function call with drawn nodes, nested as they are:
    (id, label, path, the ids of the nodes directly inside it)."""
    paths: dict[tuple, list[str]] = {}
    for i in drawn(nodes, out):
        if not nodes[i]["context"]:
            continue
        path = tuple(nodes[i]["context"].split("; "))
        for k in range(1, len(path)):
            paths.setdefault(path[:k], [])
        paths.setdefault(path, []).append(f"n{i}")
    return [(f"c{k}", path[-1], path, members) for k, (path, members) in enumerate(sorted(paths.items()))]


def view_of(graph, nodes: list[dict], out: int, clusters=()) -> GraphView:
    """The page's nodes as `adcli graph` draws them: every node up to the output, and the inputs
    after it that steps still name, each with its value and its gradient (or tangent)."""
    shown = [ViewNode(i, f"n{i}", n["label"], n["kind"], n["op"], n["formula"], n["shape"], graph.nodes[i].line,
                      graph.nodes[i].col, n["short"],
                      None if n["secondShort"] is None else f"{n['secondName']} = {n['secondShort']}",
                      n["output"], n["nonfinite"])
             for i, n in ((i, nodes[i]) for i in drawn(nodes, out))]
    edges = [(a, i) for i in range(min(out + 1, len(nodes))) for a in graph.nodes[i].args]
    return GraphView(graph.file, shown, edges, out, "", list(clusters))


def drawing(graph, nodes: list[dict], out: int, clusters=()) -> tuple[str | None, str]:
    """The SVG of the graph, or None and a note saying why the page shows the steps alone."""
    if len(nodes) > GRAPH_NODES:
        return None, (f"The graph has {len(nodes):,} nodes, too many to draw legibly (at most {GRAPH_NODES}); "
                      "the steps and each node's details are all here: click a step's number.")
    if shutil.which("dot") is None:
        return None, ("Graphviz's dot is not installed, so the graph is not drawn; install Graphviz (for example "
                      "apt-get install graphviz or brew install graphviz) to see it. Click a step's number for "
                      "its node's details.")
    try:
        svg = render_image(to_dot(view_of(graph, nodes, out, clusters), ids=True), "svg",
                           advice="").decode("utf-8", "replace")
    except AdError as e:
        return None, f"{e.message}: the graph is not drawn, and the steps are all here."
    return svg[svg.find("<svg"):], ""  # the XML prolog and DOCTYPE cannot stand inside HTML


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------

def script_json(data) -> str:
    """JSON that cannot end its <script> element early or open a comment there."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def page(data: dict, svg: str | None, note: str) -> str:
    """The HTML document: a strict content policy (nothing loads from anywhere), styles and script inline."""
    graph = svg if svg is not None else f'<p class="note" id="graph-note">{html.escape(note, quote=False)}</p>'
    header = "".join(f"<p>{html.escape(line)}</p>" for line in data["header"])
    template, style, script = page_files()
    return template.format(title=html.escape(f"adcli trace · {data['file']}"), heading=html.escape(data["title"]),
                           header=header, graph=graph, data=script_json(data), style=style, script=script)


@lru_cache(maxsize=1)
def page_files() -> tuple[str, str, str]:
    """The page's HTML template, style sheet and script: files of their own beside this module."""
    here = Path(__file__).resolve().parent
    return tuple((here / name).read_text(encoding="utf-8") for name in ("page.html", "page.css", "page.js"))
