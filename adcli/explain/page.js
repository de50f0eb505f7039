"use strict";
// The trace page: the graph shows the state at the current step (values computed so far, each
// accumulator as it stands, the ones not yet touched marked so), the step's edge and callout; steps
// by keys, buttons, #step=N and play; zoom and pan by wheel, drag and pinch; a practice mode that asks
// for each scalar step's new value before showing it.
const data = JSON.parse(document.getElementById("adcli-data").textContent);
const steps = data.steps, nodes = data.nodes, perPage = data.page;
const $ = (id) => document.getElementById(id);
const list = $("steps"), pager = $("pager"), details = $("details"), graphBox = $("graph"), position = $("position");
const calloutBox = $("callout"), quiz = $("quiz"), answerBox = $("answer"), verdict = $("verdict");
const svg = graphBox.querySelector("svg");
const index = new Map(steps.map((s, i) => [s.n, i]));
const TOLERANCE = 1e-3;  // practice answers within 0.1% (or 0.001 of a number near zero) count as right
let current = -1, page = -1, chosen = -1, timer = null, furthest = -1;
const solved = new Set();  // practice: steps whose answer has been given or shown
let right = 0, tried = 0, hintsShown = 0;
const badge = document.createElement("div");
badge.id = "badge";
badge.hidden = true;
graphBox.append(badge);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}
function svgNode(i) { return document.getElementById("n" + i); }
function practising() { return $("practice").checked; }

// ---- the state at a step ------------------------------------------------------------------------
// A node's box holds its title, its details, then "value ..." and the gradient (or tangent) line
// when the final trace has them: those two lines are rewritten at every step.
const slots = nodes.map((n, i) => {
  const g = svgNode(i);
  if (!g) return null;
  const texts = g.querySelectorAll("text");
  const want = 2 + (n.short !== null ? 1 : 0) + (n.secondShort !== null ? 1 : 0);
  if (texts.length !== want) return null;
  const box = g.querySelector("path, polygon");
  return {g, value: n.short !== null ? texts[2] : null, second: n.secondShort !== null ? texts[want - 1] : null,
          width: box ? box.getBBox().width : 0};
});

function stateAt(j) {
  const value = nodes.map((n) => n.start), second = nodes.map(() => null);
  for (let k = 0; k <= j; k++) {
    const s = steps[k];
    if (s.v !== undefined) value[s.node] = s.v;
    if (s.g !== undefined) second[s.node] = s.g;
  }
  return [value, second];
}

function setText(t, text, pending, width) {
  if (t.textContent === text) return;
  t.textContent = text;
  t.classList.toggle("pending", pending);
  t.removeAttribute("textLength");
  t.removeAttribute("lengthAdjust");
  if (width && t.getComputedTextLength() > width - 8) {  // never wider than its box
    t.setAttribute("textLength", String(width - 8));
    t.setAttribute("lengthAdjust", "spacingAndGlyphs");
  }
}

function paint(j) {
  const [value, second] = stateAt(j);
  nodes.forEach((n, i) => {
    const slot = slots[i], g = svgNode(i);
    const v = value[i] === null ? "not computed yet" : value[i];
    const d = second[i] === null ? (data.mode === "forward" ? "not computed yet" : "not touched yet") : second[i];
    if (slot && slot.value) {
      setText(slot.value, value[i] === null ? "value —" : "value " + value[i], value[i] === null, slot.width);
    }
    if (slot && slot.second) {
      setText(slot.second, second[i] === null ? n.secondName + " —" : n.secondName + " = " + second[i],
              second[i] === null, slot.width);
    }
    if (g) {
      const said = n.label + (n.formula ? " = " + n.formula : " (" + n.kind + ")") + "; value " + v +
                   (n.secondShort !== null || second[i] !== null ? "; " + n.secondName + " " + d : "");
      g.setAttribute("aria-label", said);
      const title = g.querySelector("title");
      if (title) title.textContent = said;
    }
  });
}

// ---- the listing --------------------------------------------------------------------------------
function hidden(j) {  // practice: a step ahead of the student, or one not yet answered
  return practising() && (j > furthest || (steps[j].answer !== undefined && !solved.has(steps[j].n)));
}

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
    const num = el("button", {className: "num", textContent: String(s.n), type: "button",
                              title: "step " + s.n + ": show node " + nodes[s.node].label});
    num.setAttribute("aria-label", "step " + s.n + ", node " + nodes[s.node].label);
    num.addEventListener("click", () => { go(j); choose(s.node); });
    const item = el("li", {id: "step-" + s.n}, num, el("span", {className: "text", textContent: s.text}));
    if (s.full !== undefined) {
      item.append(el("details", {}, el("summary", {textContent: " [every digit]"}), "\n" + s.full));
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
  const lo = page * perPage, hi = Math.min(steps.length, lo + perPage);
  for (let j = lo; j < hi; j++) {  // practice: the steps not yet answered keep their numbers to themselves
    const item = document.getElementById("step-" + steps[j].n);
    if (!item) continue;
    const hide = hidden(j);
    item.classList.toggle("hidden-answer", hide);
    item.querySelector(".text").textContent = hide ? (j === current ? "your turn: " + question(steps[j]) : "\u2026")
                                                   : steps[j].text;
  }
  const asked = current >= 0 && asking();
  paint(asked ? current - 1 : current);
  quiz.hidden = !practising();  // in practice the score and the last verdict stay in sight
  for (const id of ["answer", "check", "hint", "reveal"]) $(id).disabled = !asked;
  if (!asked) $("question").textContent = current < 0 ? "" : "nothing to answer at this step";
  calloutBox.textContent = current < 0 ? "Press \u2192 (or next) to take the first step." :
    asked ? "Step " + steps[current].n + ": " + question(steps[current]) : steps[current].callout;
  if (current < 0) return;
  const s = steps[current];
  const item = document.getElementById("step-" + s.n);
  if (item) {
    item.classList.add("current");
    const box = $("listing"), r = item.getBoundingClientRect(), outer = box.getBoundingClientRect();
    if (r.top < outer.top || r.bottom > outer.bottom) box.scrollTop += r.top - outer.top - outer.height / 3;
  }
  for (const id of s.edges) { const e = document.getElementById(id); if (e) e.classList.add("current"); }
  const box = closedAround(s.node);  // a step inside a closed loop or call highlights its box
  const g = box >= 0 ? document.getElementById(clusters[box].id) : svgNode(s.node);
  if (g) {
    g.classList.add("current");
    reveal(g);
    badge.textContent = asked ? question(s) : s.badge;
    badge.hidden = false;
    place();
  }
  if (asked) {
    $("question").textContent = question(s);
    verdict.textContent = "";
    verdict.className = "";
    $("hint-text").hidden = true;
    hintsShown = 0;
    $("hint").disabled = !(s.hints || []).length;
  }
}

function go(j) {
  current = Math.max(-1, Math.min(steps.length - 1, j));
  furthest = Math.max(furthest, current);
  const p = current < 0 ? 0 : Math.floor(current / perPage);
  if (p !== page) showPage(p); else mark();
  try {
    history.replaceState(null, "", current < 0 ? location.pathname + location.search : "#step=" + steps[current].n);
  } catch (e) { /* a page opened from a sandbox may not rewrite its address */ }
}

function next() {
  if (practising() && current >= 0 && asking()) { stop(); answerBox.focus(); return; }
  if (current >= steps.length - 1) { stop(); return; }
  go(current + 1);
  if (practising() && asking()) { stop(); answerBox.focus(); }
}

// ---- the node's details -------------------------------------------------------------------------
function row(list, name, value) { list.append(el("dt", {textContent: name}), el("dd", {textContent: value})); }

function choose(i) {
  const old = svgNode(chosen);
  if (old) old.classList.remove("chosen");
  chosen = i;
  const n = nodes[i], g = svgNode(i);
  if (g) g.classList.add("chosen");
  const facts = el("dl");
  const secret = practising();  // the final values would give the answers away
  row(facts, "what", n.formula ? n.label + " = " + n.formula : n.label + " (" + n.kind + ")");
  if (n.shape) row(facts, "shape", n.shape);
  if (n.value !== null && !(secret && n.kind === "op")) row(facts, "value", n.value);
  if (n.second !== null && !secret) row(facts, "final " + n.secondName, n.second);
  for (const text of n.locals) row(facts, data.mode === "forward" ? "tangent rule" : "local derivative", text);
  row(facts, "source", n.at + (n.context ? " (" + n.context + ")" : ""));
  if (n.source) row(facts, "line", n.source);
  const wholeValues = [];
  if (!secret && n.valueFull !== null && n.valueFull !== n.value) wholeValues.push(["every element of the value", n.valueFull]);
  if (!secret && n.secondFull !== null && n.secondFull !== n.second) {
    wholeValues.push(["every element of " + n.secondName, n.secondFull]);
  }
  const jumps = el("dd");
  for (const k of n.steps) {
    const b = el("button", {className: "jump", textContent: String(k), type: "button"});
    b.setAttribute("aria-label", "go to step " + k);
    b.addEventListener("click", () => go(index.get(k)));
    jumps.append(b);
  }
  facts.append(el("dt", {textContent: n.steps.length ? "steps that touch it" : "no step touches it"}), jumps);
  details.replaceChildren(el("h2", {textContent: n.label}), facts);
  if (n.inside && !secret) details.append(opened(n.inside));
  for (const [name, text] of wholeValues) details.append(el("details", {}, el("summary", {textContent: name}),
                                                          el("pre", {textContent: text})));
}

// A loop kept as a loop is one node: opened, its body (one iteration) and its carried values along it.
function opened(inside) {
  const count = inside.count.toLocaleString("en");
  const what = inside.kind === "for" ? count + (inside.count === 1 ? " iteration" : " iterations")
    : "the " + count + (inside.count === 1 ? " step" : " steps") + " that ran";
  const box = el("details", {className: "inside", open: true},
                 el("summary", {textContent: "the loop opened: one iteration, and " + inside.carried.join(", ") +
                                " along its " + what}));
  const about = "carries " + inside.carried.join(", ") + (inside.reads.length ? "; reads " + inside.reads.join(", ") : "");
  box.append(el("p", {textContent: about}), el("h3", {textContent: "one iteration"}));
  const body = el("ol", {className: "body"});
  for (const line of inside.body) body.append(el("li", {textContent: line}));
  const table = el("table"), head = el("tr", {}, el("th", {textContent: "after"}));
  for (const name of inside.carried) head.append(el("th", {textContent: name}));
  table.append(head);
  for (const r of inside.rows) {
    const tr = el("tr", {}, el("td", {textContent: r.at}));
    for (const [, text] of r.values) tr.append(el("td", {textContent: text}));
    table.append(tr);
  }
  box.append(body, el("h3", {textContent: inside.carried.join(", ") + " along the loop"}), table);
  return box;
}

// ---- practice -----------------------------------------------------------------------------------
function asking() {
  const s = steps[current];
  return practising() && s !== undefined && s.answer !== undefined && !solved.has(s.n);
}
function question(s) {
  if (s.kind === "compute") return "what is " + (data.mode === "forward" ? nodes[s.node].secondName : nodes[s.node].label) + "?";
  return "what does " + nodes[s.node].secondName + " hold after this step?";
}
function shownAnswer(s) { return s.kind === "compute" && data.mode !== "forward" ? s.v : s.g; }
function parseNumber(text) {
  const t = text.trim().replace(/\u2212/g, "-");
  const m = /^([-+]?[0-9.]+(?:e[-+]?\d+)?)\s*\/\s*([-+]?[0-9.]+(?:e[-+]?\d+)?)$/i.exec(t);  // a fraction: 1/2
  if (m) return Number(m[1]) / Number(m[2]);
  return t === "" ? NaN : Number(t);
}
function settle(s, text) {
  solved.add(s.n);
  verdict.textContent = text;
  mark();
  calloutBox.textContent = text + "  " + s.callout;
  score();
  $("next").focus();  // → goes on from here, as from anywhere outside the answer box
}
function score() { $("score").textContent = right + " right of " + tried + (tried === 1 ? " try" : " tries"); }
quiz.addEventListener("submit", (e) => {
  e.preventDefault();
  const s = steps[current];
  if (!asking()) return;
  const got = parseNumber(answerBox.value);
  if (!Number.isFinite(got)) {
    verdict.textContent = "type a number, such as 35, -0.5, 1e-3 or 1/3";
    verdict.className = "wrong";
    return;
  }
  tried += 1;
  const ok = Math.abs(got - s.answer) <= TOLERANCE * Math.max(1, Math.abs(s.answer));
  if (ok) {
    right += 1;
    answerBox.value = "";
    settle(s, "right: " + shownAnswer(s) + ".");
    verdict.className = "right";
  } else {
    verdict.textContent = "not " + answerBox.value.trim() + ": try again, or ask for a hint";
    verdict.className = "wrong";
    score();
  }
});
$("hint").addEventListener("click", () => {
  const s = steps[current], h = s.hints || [];
  if (!h.length) return;
  hintsShown = Math.min(h.length, hintsShown + 1);
  const p = $("hint-text");
  p.textContent = "hint: " + h.slice(0, hintsShown).join("; then ");
  p.hidden = false;
});
$("reveal").addEventListener("click", () => {
  const s = steps[current];
  if (!asking()) return;
  tried += 1;
  answerBox.value = "";
  settle(s, "the answer: " + shownAnswer(s) + ".");
  verdict.className = "";
});
$("practice").addEventListener("change", () => {
  stop();
  if (chosen >= 0) choose(chosen);
  mark();
});

// ---- loops and calls, each a box that closes into one ---------------------------------------------
const clusters = data.clusters || [];
const closed = new Set();
function closedAround(i) {  // the outermost closed box holding node i, or -1
  let found = -1;
  clusters.forEach((c, k) => { if (closed.has(k) && c.nodes.includes(i) && (found < 0 || clusters[found].nodes.length < c.nodes.length)) found = k; });
  return found;
}
function fold() {
  const gone = new Set();
  for (const k of closed) for (const i of clusters[k].nodes) gone.add(i);
  nodes.forEach((n, i) => { const g = svgNode(i); if (g) g.classList.toggle("folded", gone.has(i)); });
  for (const e of graphBox.querySelectorAll("g.edge")) {
    const m = /^e(\d+)-(\d+)$/.exec(e.id);
    if (m) e.classList.toggle("folded", gone.has(Number(m[1])) && gone.has(nodes[Number(m[1])].args[Number(m[2])]));
  }
  clusters.forEach((c, k) => {
    const g = document.getElementById(c.id);
    if (!g) return;
    let p = c.parent, hiddenBox = false;
    while (p >= 0) { if (closed.has(p)) hiddenBox = true; p = clusters[p].parent; }
    g.classList.toggle("folded", hiddenBox);
    g.classList.toggle("closed", closed.has(k));
    g.setAttribute("aria-expanded", String(!closed.has(k)));
    const label = g.querySelector("text");
    if (label) label.textContent = closed.has(k) ? c.label + " \u00b7 " + c.nodes.length + " nodes (open)" : c.label;
  });
  mark();
}
function toggle(k) { if (closed.has(k)) closed.delete(k); else closed.add(k); fold(); }
clusters.forEach((c, k) => {
  const g = document.getElementById(c.id);
  if (!g) return;
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  g.setAttribute("aria-label", c.label + ": " + c.nodes.length + " nodes; Enter opens or closes it");
  const title = g.querySelector("title");
  if (title) title.textContent = c.label + " (" + c.nodes.length + " nodes): click its label to close or open it";
  const label = g.querySelector("text");
  if (label) label.addEventListener("click", (e) => { e.stopPropagation(); toggle(k); });
  g.querySelector("path, polygon")?.addEventListener("click", () => { if (closed.has(k)) toggle(k); });
  g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(k); } });
});
if (clusters.length) {
  const all = el("button", {id: "fold-all", type: "button", textContent: "fold", title: "close every loop iteration and call"});
  all.addEventListener("click", () => {
    const tops = clusters.map((c, k) => k).filter((k) => clusters[k].parent < 0);
    const anyOpen = tops.some((k) => !closed.has(k));
    closed.clear();
    if (anyOpen) tops.forEach((k) => closed.add(k));
    all.textContent = anyOpen ? "unfold" : "fold";
    fold();
  });
  $("zoom").prepend(all);
}

// ---- zoom and pan -------------------------------------------------------------------------------
let view = null, home = null;
if (svg) {
  const vb = svg.viewBox.baseVal;
  home = {x: vb.x, y: vb.y, w: vb.width, h: vb.height};
  view = Object.assign({}, home);
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  svg.setAttribute("role", "group");
}
function apply() {
  svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
  place();
}
function fit() { if (svg) { view = Object.assign({}, home); apply(); } }
function toSvg(x, y) {
  const p = svg.createSVGPoint();
  p.x = x; p.y = y;
  return p.matrixTransform(svg.getScreenCTM().inverse());
}
function zoom(factor, cx, cy) {
  if (!svg) return;
  const r = graphBox.getBoundingClientRect();
  const at = toSvg(cx === undefined ? r.left + r.width / 2 : cx, cy === undefined ? r.top + r.height / 2 : cy);
  const w = Math.min(home.w * 4, Math.max(home.w / 40, view.w / factor));
  const f = view.w / w;
  view = {x: at.x - (at.x - view.x) / f, y: at.y - (at.y - view.y) / f, w, h: view.h / f};
  apply();
}
function reveal(g) {  // the step's node in sight and legible: moved to the middle, enlarged when tiny
  let r = g.getBoundingClientRect();
  const outer = graphBox.getBoundingClientRect();
  if (r.width > 0 && r.width < 70) {
    zoom(Math.min(150, outer.width * 0.6) / r.width, r.left + r.width / 2, r.top + r.height / 2);
    r = g.getBoundingClientRect();
  }
  if (r.left >= outer.left && r.right <= outer.right && r.top >= outer.top && r.bottom <= outer.bottom) return;
  const a = toSvg(r.left + r.width / 2, r.top + r.height / 2), b = toSvg(outer.left + outer.width / 2, outer.top + outer.height / 2);
  view.x += a.x - b.x;
  view.y += a.y - b.y;
  apply();
}
function place() {  // the badge above the current node, kept inside the graph's box
  if (badge.hidden || current < 0) return;
  const g = svgNode(steps[current].node);
  if (!g) return;
  const r = (g.classList.contains("folded") ? document.querySelector("#graph g.cluster.current") || g : g)
    .getBoundingClientRect(), outer = graphBox.getBoundingClientRect();
  const left = Math.max(4, Math.min(r.left - outer.left, outer.width - badge.offsetWidth - 4));
  const top = r.top - outer.top - badge.offsetHeight - 4;
  badge.style.left = left + "px";
  badge.style.top = (top < 4 ? r.bottom - outer.top + 4 : top) + "px";
}
if (svg) {
  graphBox.addEventListener("wheel", (e) => { e.preventDefault(); zoom(Math.exp(-e.deltaY / 300), e.clientX, e.clientY); },
                            {passive: false});
  const pointers = new Map();
  let pinch = 0;
  graphBox.addEventListener("pointerdown", (e) => {
    if (e.target.closest("button")) return;
    pointers.set(e.pointerId, {x: e.clientX, y: e.clientY, moved: false});
  });
  graphBox.addEventListener("pointermove", (e) => {
    const was = pointers.get(e.pointerId);
    if (!was) return;
    if (!was.moved) {  // a drag, not a click on a node: from here the box follows this pointer
      if (Math.hypot(e.clientX - was.x, e.clientY - was.y) < 4) return;
      was.moved = true;
      graphBox.setPointerCapture(e.pointerId);
      graphBox.classList.add("dragging");
    }
    if (pointers.size === 1) {
      const a = toSvg(was.x, was.y), b = toSvg(e.clientX, e.clientY);
      view.x -= b.x - a.x;
      view.y -= b.y - a.y;
      apply();
    }
    pointers.set(e.pointerId, {x: e.clientX, y: e.clientY, moved: true});
    if (pointers.size === 2) {
      const [p, q] = [...pointers.values()];
      const d = Math.hypot(p.x - q.x, p.y - q.y);
      if (pinch) zoom(d / pinch, (p.x + q.x) / 2, (p.y + q.y) / 2);
      pinch = d;
    }
  });
  const up = (e) => { pointers.delete(e.pointerId); pinch = 0; if (!pointers.size) graphBox.classList.remove("dragging"); };
  graphBox.addEventListener("pointerup", up);
  graphBox.addEventListener("pointercancel", up);
}
$("zoom-in").addEventListener("click", () => zoom(1.4));
$("zoom-out").addEventListener("click", () => zoom(1 / 1.4));
$("fit").addEventListener("click", fit);
window.addEventListener("resize", place);

// ---- playing and keys ---------------------------------------------------------------------------
function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  $("play").textContent = "play";
  $("play").setAttribute("aria-pressed", "false");
}
function play() {
  if (timer !== null) { stop(); return; }
  if (current >= steps.length - 1) go(-1);
  timer = setInterval(next, Number($("speed").value));
  $("play").textContent = "pause";
  $("play").setAttribute("aria-pressed", "true");
  next();
}
$("play").addEventListener("click", play);
$("speed").addEventListener("change", () => { if (timer !== null) { stop(); play(); } });

for (let i = 0; i < nodes.length; i++) {
  const g = svgNode(i);
  if (!g) continue;
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  if (nodes[i].inside) g.classList.add("opens");  // a loop kept as a loop: choosing it opens it
  g.addEventListener("click", () => choose(i));
  g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(i); } });
}
$("first").addEventListener("click", () => go(0));
$("prev").addEventListener("click", () => go(current - 1));
$("next").addEventListener("click", next);
$("last").addEventListener("click", () => go(steps.length - 1));
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.target.closest && e.target.closest("input, select, textarea")) return;
  const keys = {ArrowRight: next, ArrowLeft: () => go(current - 1), Home: () => go(0), End: () => go(steps.length - 1),
                "+": () => zoom(1.4), "=": () => zoom(1.4), "-": () => zoom(1 / 1.4), "0": fit};
  if (e.key === " " && !(e.target.closest && e.target.closest("button, g.node"))) { e.preventDefault(); play(); return; }
  const act = keys[e.key];
  if (act === undefined) return;
  e.preventDefault();
  act();
});
function fromAddress() {
  const m = /step=(\d+)/.exec(location.hash);
  if (m && index.has(Number(m[1]))) go(index.get(Number(m[1])));
}
window.addEventListener("hashchange", fromAddress);
$("practice").checked = Boolean(data.practice);
showPage(0);
fromAddress();
