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
