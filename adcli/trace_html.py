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

import numpy as np

from .errors import AdError, InputError
from .graph import CONST, INPUT
from .graphview import GraphView, ViewNode, compact, render_image, to_dot
from .registry import OPS
from .tables import shape_text
from .trace import ForwardTrace
from .trace_notation import section_of
from .trace_render import (header_lines, local_text, make_notation, selected, step_parts, tangent_part, vjp_text,
                           line_text)
from .values import format_value

MAX_STEPS = 50_000  # about 15 MB of page: beyond it a browser struggles to even load the data
GRAPH_NODES = 400  # beyond it dot takes long and the drawing is unreadable: the steps alone
PAGE_STEPS = 500  # the list shows one page of steps at a time, so 10,000 steps stay responsive
FULL_ELEMENTS = 10_000  # an array's every element is offered on demand up to this size


def page_html(program, trace, ascii_only: bool = False, full: bool = False, only: str | None = None) -> str:
    """The whole page for a reverse or forward trace of `program`."""
    if len(trace.steps) > MAX_STEPS:
        raise InputError(f"this trace has {len(trace.steps):,} steps; an HTML page holds at most {MAX_STEPS:,} "
                         "(use --only forward or --only backward, or --format plain, which streams any length)")
    graph = program.graph
    data = page_data(trace, graph, ascii_only, full, only)
    svg, note = drawing(graph, data["nodes"], trace.output_node)
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
    steps = []
    width = len(str(len(trace.steps)))
    for n, step in selected(trace, only):
        # Finished with the number in front, as the plain listing is, so arrays get the same room.
        text = nt.finish(f"{n:>{width}}  {line_text(step_parts(nt, step, trace))}")[width + 2:]
        record = {"n": n, "section": section_of(step), "kind": step.kind, "text": text,
                  "node": step.node, "edges": step_edges(graph, step), "badge": badge(nt, trace, step),
                  "where": trace.where(step)}
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
        formula = "" if kind != "op" else OPS[node.op].formula(labels, scalar=scalar)
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
            "at": f"{span.file}:{span.line}:{span.col}" if span.line else span.file,
            "source": span.source_line() or "", "context": trace.contexts.get(i, ""),
            "steps": touching.get(i, []),
            "locals": local_derivatives(nt, trace, i, [by_number[n] for n in touching.get(i, [])]),
        })
    title, *rest = (nt.finish(line) for line in header_lines(nt, trace))
    return {"title": title, "header": rest, "file": trace.file, "mode": trace.mode, "nodes": nodes,
            "steps": steps, "page": PAGE_STEPS, "second": "tangent" if forward else "gradient"}


# ---------------------------------------------------------------------------------------------
# The drawing: DOT with ids the page can find, laid out by Graphviz
# ---------------------------------------------------------------------------------------------

def view_of(graph, nodes: list[dict], out: int) -> GraphView:
    """The page's nodes as `adcli graph` draws them: every node up to the output, and the inputs
    after it that steps still name, each with its value and its gradient (or tangent)."""
    shown = [ViewNode(i, f"n{i}", n["label"], n["kind"], n["op"], n["formula"], n["shape"], graph.nodes[i].line,
                      graph.nodes[i].col, n["short"],
                      None if n["secondShort"] is None else f"{n['secondName']} = {n['secondShort']}",
                      n["output"], n["nonfinite"])
             for i, n in enumerate(nodes) if i <= out or n["kind"] == "input"]
    edges = [(a, i) for i in range(min(out + 1, len(nodes))) for a in graph.nodes[i].args]
    return GraphView(graph.file, shown, edges, out, "")


def drawing(graph, nodes: list[dict], out: int) -> tuple[str | None, str]:
    """The SVG of the graph, or None and a note saying why the page shows the steps alone."""
    if len(nodes) > GRAPH_NODES:
        return None, (f"The graph has {len(nodes):,} nodes, too many to draw legibly (at most {GRAPH_NODES}); "
                      "the steps and each node's details are all here: click a step's number.")
    if shutil.which("dot") is None:
        return None, ("Graphviz's dot is not installed, so the graph is not drawn; install Graphviz (for example "
                      "apt-get install graphviz or brew install graphviz) to see it. Click a step's number for "
                      "its node's details.")
    try:
        svg = render_image(to_dot(view_of(graph, nodes, out), ids=True), "svg", advice="").decode("utf-8", "replace")
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
    return TEMPLATE.format(title=html.escape(f"adcli trace · {data['file']}"), heading=html.escape(data["title"]),
                           header=header, graph=graph, data=script_json(data), style=STYLE, script=SCRIPT)


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="adcli">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header><h1>{heading}</h1>{header}</header>
<nav id="controls">
<button id="first" title="first step (Home)">|&lt;</button>
<button id="prev" title="previous step (&#8592;)">&lt;</button>
<span id="position" aria-live="polite"></span>
<button id="next" title="next step (&#8594;)">&gt;</button>
<button id="last" title="last step (End)">&gt;|</button>
<span class="hint">&#8592; &#8594; step &middot; Home End jump &middot; click a node or a step's number</span>
</nav>
<main>
<section id="graph">{graph}<div id="badge" hidden></div></section>
<section id="side">
<div id="details"><p class="note">Click a node of the graph, or a step's number, to see its value, its \
gradient or tangent, its local derivatives and where it comes from.</p></div>
<div id="listing"><div id="pager"></div><ol id="steps"></ol></div>
</section>
</main>
<script type="application/json" id="adcli-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#111827}
header{padding:10px 16px;border-bottom:1px solid #e5e7eb}
header h1{font-size:17px;margin:0 0 2px}header p{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace}
#controls{padding:6px 16px;border-bottom:1px solid #e5e7eb;position:sticky;top:0;background:#fff;z-index:2}
#controls button{font:inherit;min-width:34px;margin-right:2px}
#position{display:inline-block;min-width:150px;text-align:center;font-variant-numeric:tabular-nums}
.hint{color:#6b7280;margin-left:12px}
main{display:flex;gap:0;align-items:flex-start}
#graph{flex:1 1 55%;overflow:auto;position:relative;padding:8px;max-height:calc(100vh - 110px)}
#graph svg{max-width:none;height:auto}
#graph g.node{cursor:pointer}
#graph g.node.current path,#graph g.node.current polygon{stroke:#d97706;stroke-width:4}
#graph g.node.chosen path,#graph g.node.chosen polygon{stroke:#7c3aed;stroke-width:3}
#graph g.edge.current path{stroke:#d97706;stroke-width:3.5}
#graph g.edge.current polygon{stroke:#d97706;fill:#d97706}
#badge{position:absolute;background:#fef3c7;border:1px solid #d97706;border-radius:4px;padding:1px 6px;
font:12px ui-monospace,Menlo,Consolas,monospace;white-space:nowrap;pointer-events:none;z-index:1}
#side{flex:1 1 45%;border-left:1px solid #e5e7eb;height:calc(100vh - 110px);display:flex;flex-direction:column}
#details{padding:8px 12px;border-bottom:1px solid #e5e7eb;background:#fafafa;max-height:45%;overflow:auto;
flex:0 0 auto}
#listing{flex:1 1 auto;overflow:auto}
#details h2{font-size:15px;margin:0 0 4px}#details dl{margin:0}#details dt{color:#6b7280;margin-top:4px}
#details dd{margin:0 0 0 12px;font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;
word-break:break-all}
#details button.jump{font:12px ui-monospace,Menlo,Consolas,monospace;margin:1px}
#pager{padding:4px 12px;color:#374151}#pager button{font:inherit}
#steps{list-style:none;margin:0;padding:0 0 40px;font:13px ui-monospace,Menlo,Consolas,monospace}
#steps li{padding:1px 12px;white-space:pre-wrap;word-break:break-word}
#steps li.section{font-weight:bold;color:#374151;padding-top:6px}
#steps li.where{color:#6b7280}
#steps li.current{background:#fef3c7;outline:1px solid #d97706}
#steps a.num{display:inline-block;min-width:3.5em;color:#2563eb;cursor:pointer;text-decoration:none}
#steps details{display:inline}#steps summary{display:inline;color:#6b7280;cursor:pointer}
.note{color:#374151;background:#f3f4f6;padding:8px;border-radius:4px}
"""

SCRIPT = r"""
"use strict";
const data = JSON.parse(document.getElementById("adcli-data").textContent);
const steps = data.steps, nodes = data.nodes, perPage = data.page;
const list = document.getElementById("steps"), pager = document.getElementById("pager");
const details = document.getElementById("details"), badge = document.getElementById("badge");
const graphBox = document.getElementById("graph"), position = document.getElementById("position");
const index = new Map(steps.map((s, i) => [s.n, i]));
let current = -1, page = -1, chosen = -1;

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}
function svgNode(i) { return document.getElementById("n" + i); }

function showPage(p) {
  page = p;
  list.replaceChildren();
  const lo = p * perPage, hi = Math.min(steps.length, lo + perPage);
  let section = null, where = "";
  for (let j = lo; j < hi; j++) {
    const s = steps[j];
    if (s.section !== section) { section = s.section; list.append(el("li", {className: "section", textContent: section})); }
    if (s.where !== where && ["compute", "accumulate", "init"].includes(s.kind)) {
      where = s.where;
      list.append(el("li", {className: "where", textContent: "[" + (where || "top level") + "]"}));
    }
    const num = el("a", {className: "num", textContent: String(s.n), title: "show node " + nodes[s.node].label});
    num.addEventListener("click", () => { go(j); choose(s.node); });
    const item = el("li", {id: "step-" + s.n}, num, s.text);
    if (s.full !== undefined) {
      const more = el("details", {}, el("summary", {textContent: " [every digit]"}), "\n" + s.full);
      item.append(more);
    }
    list.append(item);
  }
  pager.replaceChildren();
  if (steps.length > perPage) {
    const pages = Math.ceil(steps.length / perPage);
    const back = el("button", {textContent: "earlier steps", disabled: p === 0});
    const fwd = el("button", {textContent: "later steps", disabled: p === pages - 1});
    back.addEventListener("click", () => showPage(p - 1));
    fwd.addEventListener("click", () => showPage(p + 1));
    pager.append(back, " steps " + steps[lo].n + "\u2013" + steps[hi - 1].n + " of " + steps.length + " (page " +
                 (p + 1) + " of " + pages + ") ", fwd);
  }
  mark();
}

function mark() {
  for (const e of document.querySelectorAll(".current")) e.classList.remove("current");
  badge.hidden = true;
  position.textContent = current < 0 ? "before step 1 of " + steps.length
                                     : "step " + steps[current].n + " of " + steps.length;
  if (current < 0) return;
  const s = steps[current];
  const item = document.getElementById("step-" + s.n);
  if (item) { item.classList.add("current"); item.scrollIntoView({block: "nearest"}); }
  for (const id of s.edges) { const e = document.getElementById(id); if (e) e.classList.add("current"); }
  const g = svgNode(s.node);
  if (g) {
    g.classList.add("current");
    const box = g.getBoundingClientRect(), outer = graphBox.getBoundingClientRect();
    badge.textContent = s.badge;
    badge.hidden = false;
    badge.style.left = (box.left - outer.left + graphBox.scrollLeft) + "px";
    badge.style.top = Math.max(0, box.top - outer.top + graphBox.scrollTop - 22) + "px";
    g.scrollIntoView({block: "nearest", inline: "nearest"});
  }
}

function go(j) {
  current = Math.max(-1, Math.min(steps.length - 1, j));
  const p = current < 0 ? 0 : Math.floor(current / perPage);
  if (p !== page) showPage(p); else mark();
}

function row(list, name, value) { list.append(el("dt", {textContent: name}), el("dd", {textContent: value})); }

function choose(i) {
  const old = svgNode(chosen);
  if (old) old.classList.remove("chosen");
  chosen = i;
  const n = nodes[i], g = svgNode(i);
  if (g) g.classList.add("chosen");
  const facts = el("dl");
  row(facts, "what", n.formula ? n.label + " = " + n.formula : n.label + " (" + n.kind + ")");
  if (n.shape) row(facts, "shape", n.shape);
  if (n.value !== null) row(facts, "value", n.value);
  if (n.second !== null) row(facts, n.secondName, n.second);
  for (const text of n.locals) row(facts, data.mode === "forward" ? "tangent rule" : "local derivative", text);
  row(facts, "source", n.at + (n.context ? " (" + n.context + ")" : ""));
  if (n.source) row(facts, "line", n.source);
  const wholeValues = [];
  if (n.valueFull !== null && n.valueFull !== n.value) wholeValues.push(["every element of the value", n.valueFull]);
  if (n.secondFull !== null && n.secondFull !== n.second) wholeValues.push(["every element of " + n.secondName, n.secondFull]);
  const jumps = el("dd");
  for (const k of n.steps) {
    const b = el("button", {className: "jump", textContent: String(k)});
    b.addEventListener("click", () => go(index.get(k)));
    jumps.append(b);
  }
  facts.append(el("dt", {textContent: n.steps.length ? "steps that touch it" : "no step touches it"}), jumps);
  details.replaceChildren(el("h2", {textContent: n.label}), facts);
  for (const [name, text] of wholeValues) details.append(el("details", {}, el("summary", {textContent: name}),
                                                          el("pre", {textContent: text})));
}

for (let i = 0; i < nodes.length; i++) {
  const g = svgNode(i);
  if (g) g.addEventListener("click", () => choose(i));
}
document.getElementById("first").addEventListener("click", () => go(0));
document.getElementById("prev").addEventListener("click", () => go(current - 1));
document.getElementById("next").addEventListener("click", () => go(current + 1));
document.getElementById("last").addEventListener("click", () => go(steps.length - 1));
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const to = {ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: steps.length - 1}[e.key];
  if (to === undefined) return;
  e.preventDefault();
  go(to);
});
showPage(0);
"""
