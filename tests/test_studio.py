"""The teaching studio: the trace page walks like the lecture, and lets a student practise.

- The graph is the state at the current step: values computed so far, accumulators as they stand,
  the ones not yet touched shown as such; the callout reads like the lecture's worked examples.
- #step=N opens a step; arrows, buttons and play move; zoom and fit change the view.
- Practice mode asks for each scalar step's new value, checks it, hints and keeps a score.
- Every control is reachable by keyboard; nodes carry text alternatives; dark theme, phone width.
- --vary gives each student other inputs; the terminal shows an array step's before, share, after.
Browser tests run Debian's Chromium through Playwright (CI installs both); screenshots go to
$ADCLI_ARTIFACTS, and with ADCLI_UPDATE_DOCS=1 to docs/images/ as well.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adcli.cli.app import expand_multi_values
from adcli.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
RELU = ["samples/relu.ad", "--set", "W=2", "x=3", "b=1"]
PRODUCT = ["samples/product.ad", "--set", "x=17"]
MLP = ["samples/mlp.ad", "--inputs", "samples/mlp.json"]
# Every sample, with values: forward-mode pages must build for each of them.
SAMPLES = {"black_scholes": ["--set", "S=100", "K=95", "T=0.5", "r=0.02", "sigma=0.25"],
           "product": ["--set", "x=17"], "relu": ["--set", "W=2", "x=3", "b=1"]}


@pytest.fixture(autouse=True)
def in_checkout(monkeypatch):
    monkeypatch.chdir(ROOT)


def run(*args: str):
    return runner.invoke(app, expand_multi_values(list(args)))


def page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="adcli-data">(.*?)</script>', page, re.DOTALL)
    return json.loads(match.group(1))


def html_of(*args: str) -> dict:
    result = run("trace", *args, "--format", "html")
    assert result.exit_code == 0, result.output
    return page_data(result.stdout)


# ---------------------------------------------------------------------------------------------
# The page's data: what each step changes, its callout, its practice answer
# ---------------------------------------------------------------------------------------------

def test_each_step_says_what_it_changes_and_reads_like_the_lecture():
    data = html_of(*PRODUCT)
    by_n = {s["n"]: s for s in data["steps"]}
    assert by_n[2]["v"] == "18" and "g" not in by_n[2]  # u = x + 1 = 18: a value, no accumulator
    assert by_n[7]["g"] == "17" and by_n[8]["g"] == "18" and by_n[9]["g"] == "35"
    assert by_n[9]["callout"] == "∂y/∂x += ∂y/∂u · ∂(x + 1)/∂x = 17 · 1 = 17, so ∂y/∂x: 18 → 35"
    assert by_n[2]["callout"] == "u = x + 1 = 17 + 1 = 18"
    assert by_n[1]["callout"].startswith("∂y/∂x starts at 0")
    assert [s["answer"] for s in data["steps"] if "answer" in s] == [18.0, 306.0, 1.0, 17.0, 18.0, 35.0]
    assert by_n[9]["hints"] == ["∂y/∂x ← ∂y/∂x + ∂y/∂u · ∂(x + 1)/∂x",
                                "∂y/∂x ← ∂y/∂x + ∂y/∂u · ∂(x + 1)/∂x = 18 + 17 · 1"]
    starts = {n["label"]: n["start"] for n in data["nodes"]}
    assert starts == {"x": "17", "1": "1", "u": None, "y": None}  # before step 1: the given values alone


def test_the_relu_example_step_by_step():
    data = html_of(*RELU)
    by_n = {s["n"]: s for s in data["steps"]}
    assert by_n[11]["callout"] == "∂H/∂U2 += ∂H/∂H · ∂ReLU(U2)/∂U2 = 1 · 1 = 1, so ∂H/∂U2: 0 → 1"
    assert by_n[15]["callout"] == "∂H/∂W += ∂H/∂U1 · ∂(W·x)/∂W = 1 · 3 = 3, so ∂H/∂W: 0 → 3"
    assert by_n[16]["callout"].startswith("∂H/∂W = 3: every path from H back to W")


def test_an_input_no_path_reaches_says_so(tmp_path):
    (tmp_path / "f.ad").write_text("input a\ninput b\ny = a * a\n")
    data = html_of(str(tmp_path / "f.ad"), "--set", "a=2", "b=3")
    result = [s["callout"] for s in data["steps"] if s["kind"] == "result"]
    assert result[1] == "∂y/∂b = 0: no path leads from y back to b, so nothing was ever added to its accumulator"


def test_only_backward_starts_with_every_value():
    data = html_of(*PRODUCT, "--only", "backward")
    assert {n["label"]: n["start"] for n in data["nodes"]} == {"x": "17", "1": "1", "u": "18", "y": "306"}


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "samples").glob("*.ad")))
def test_forward_mode_pages_build_for_every_sample(name, tmp_path):
    from adcli.engine.program import load
    values = SAMPLES.get(name) or ["--inputs", f"samples/{name}.json"]
    graph = load(f"samples/{name}.ad").graph
    last = graph.nodes[graph.parameters()[-1]].label  # each sample's last differentiable input
    out = tmp_path / "page.html"
    done = run("trace", f"samples/{name}.ad", *values, "--mode", "forward", "--wrt", last, "-o", str(out))
    assert done.exit_code == 0, done.output
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["mode"] == "forward" and data["steps"][-1]["kind"] == "result"
    assert all(s["callout"] for s in data["steps"])


def test_practice_needs_a_page_and_vary_is_a_seeded_exercise():
    refused = run("trace", *PRODUCT, "--practice")
    assert refused.exit_code == 2 and "--practice is for the HTML page" in refused.stderr
    first = run("trace", *RELU, "--vary", "7", "--format", "plain").stdout
    again = run("trace", *RELU, "--vary", "7", "--format", "plain").stdout
    other = run("trace", *RELU, "--vary", "8", "--format", "plain").stdout
    assert first == again and first != other
    given = re.search(r"given W = (\S+), x = (\S+), b = (\S+)", first).groups()
    assert all(float(v) == int(float(v)) and float(v) > 0 for v in given)  # whole numbers stay whole, signs kept
    labels = run("trace", "samples/xent_labels.ad", "--inputs", "samples/xent_labels.json", "--vary", "3",
                 "--format", "plain").stdout
    assert "given y: [4] = [2, 0, 1, 2]" in labels  # integer data (labels) is not varied


def test_terminal_array_steps_show_before_share_and_after():
    from rich.console import Console

    from adcli.cli.terminal import show, trace_renderables
    from adcli.engine.program import load
    from adcli.explain.trace import reverse_trace
    program = load("samples/mlp.ad")
    given = {k: np.array(v) for k, v in json.loads((ROOT / "samples/mlp.json").read_text()).items()}
    trace = reverse_trace(program, given, None, None, None)
    for width in (100, 160):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        show(console, *trace_renderables(trace, False, False, None, width))
        text = console.file.getvalue()
        lines = text.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= width
        at = next(i for i, line in enumerate(lines) if "∂loss/∂W2 ← ∂loss/∂W2 + Hᵀ ḡ" in line)
        assert [lines[at + k].split()[0] for k in (1, 2, 3)] == ["before", "+", "="]
        assert "[5, 2] [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]]" in lines[at + 1]
    assert "0.22308473, -0.061378218" in text  # at 160 columns the arrays keep more digits


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------

def open_page(browser, tmp_path, args, hash_="", size=(1440, 900), scheme="light", name="page"):
    path = tmp_path / f"{name}.html"
    done = run("trace", *args, "-o", str(path))
    assert done.exit_code == 0, done.output
    tab = browser.new_page(viewport={"width": size[0], "height": size[1]}, color_scheme=scheme)
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.goto(path.as_uri() + hash_)
    return tab, problems


def until(tab, condition: str, seconds: float = 10.0) -> bool:
    """Whether the page's condition becomes true within `seconds` (polled: the page's content policy
    forbids the evaluated predicates of Playwright's own waiting)."""
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if tab.evaluate(condition):
            return True
        tab.wait_for_timeout(50)
    return False


def node_texts(tab, label_index: int) -> list[str]:
    return tab.eval_on_selector_all(f"#n{label_index} text", "els => els.map(e => e.textContent)")


def shot(tab, tmp_path, name: str) -> None:
    where = Path(os.environ.get("ADCLI_ARTIFACTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(where / f"studio-{name}.png"))
    if os.environ.get("ADCLI_UPDATE_DOCS"):
        tab.screenshot(path=str(ROOT / "docs" / "images" / f"trace-{name}.png"))


def test_the_graph_shows_the_state_at_each_step(browser, tmp_path):
    tab, problems = open_page(browser, tmp_path, PRODUCT)
    x, u, y = 0, 2, 3  # the nodes of y = x·(x+1): x, the constant 1, u = x + 1, y = x·u
    assert node_texts(tab, u)[2:] == ["value —", "∂y/∂u —"]  # before step 1 nothing is computed
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowRight")  # step 2: u = 18; y not yet computed, no accumulator of u yet
    assert node_texts(tab, u)[2:] == ["value 18", "∂y/∂u —"]
    assert node_texts(tab, y)[2:] == ["value —", "∂y/∂y —"]
    assert node_texts(tab, x)[2:] == ["value 17", "∂y/∂x = 0"]
    assert tab.inner_text("#callout") == "u = x + 1 = 17 + 1 = 18"
    for _ in range(6):
        tab.keyboard.press("ArrowRight")  # step 8: the first share has reached x
    assert node_texts(tab, x)[3] == "∂y/∂x = 18" and node_texts(tab, u)[3] == "∂y/∂u = 17"
    assert tab.eval_on_selector_all("#graph g.edge.current", "els => els.map(e => e.id)") == ["e3-0"]
    tab.keyboard.press("ArrowRight")
    assert node_texts(tab, x)[3] == "∂y/∂x = 35"
    assert tab.inner_text("#callout") == "∂y/∂x += ∂y/∂u · ∂(x + 1)/∂x = 17 · 1 = 17, so ∂y/∂x: 18 → 35"
    assert tab.evaluate("location.hash") == "#step=9"
    tab.keyboard.press("ArrowLeft")
    assert node_texts(tab, x)[3] == "∂y/∂x = 18"  # going back shows the earlier state again
    shot(tab, tmp_path, "desktop")
    assert problems == []
    tab.close()


def test_the_address_opens_a_step_and_play_walks_on(browser, tmp_path):
    tab, problems = open_page(browser, tmp_path, RELU, "#step=14")
    assert tab.inner_text("#position") == "step 14 of 18"
    assert "∂H/∂x += ∂H/∂U1 · ∂(W·x)/∂x = 1 · 2 = 2" in tab.inner_text("#callout")
    tab.select_option("#speed", "400")
    tab.click("#play")
    assert until(tab, "document.getElementById('position').textContent === 'step 18 of 18'")
    assert until(tab, "document.getElementById('play').textContent === 'play'")  # it stops at the end
    tab.evaluate("location.hash = '#step=3'")
    assert until(tab, "document.getElementById('position').textContent === 'step 3 of 18'")
    assert problems == []
    tab.close()


def test_zoom_pan_and_fit(browser, tmp_path):
    tab, problems = open_page(browser, tmp_path, MLP)
    box = "document.querySelector('#graph svg').viewBox.baseVal.width"
    home = tab.evaluate(box)
    tab.keyboard.press("+")
    assert tab.evaluate(box) == pytest.approx(home / 1.4, rel=1e-3)
    tab.mouse.move(400, 600)
    tab.mouse.wheel(0, 300)  # out
    assert tab.evaluate(box) > home / 1.4
    before = tab.evaluate("document.querySelector('#graph svg').viewBox.baseVal.x")
    tab.mouse.down()
    tab.mouse.move(300, 600)
    tab.mouse.up()
    assert tab.evaluate("document.querySelector('#graph svg').viewBox.baseVal.x") != before
    tab.click("#fit")
    assert tab.evaluate(box) == pytest.approx(home)
    assert problems == []
    tab.close()


def test_practice_mode_asks_checks_hints_and_scores(browser, tmp_path):
    tab, problems = open_page(browser, tmp_path, PRODUCT + ["--practice"])
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowRight")  # step 2 asks for u
    assert tab.is_visible("#quiz") and tab.inner_text("#question") == "what is u?"
    assert not tab.is_disabled("#answer")
    assert node_texts(tab, 2)[2] == "value —"  # the graph does not give the answer away
    assert "17 + 1" not in tab.inner_text("#steps")  # nor does the listing
    tab.fill("#answer", "19")
    tab.press("#answer", "Enter")
    assert tab.inner_text("#verdict").startswith("not 19") and tab.inner_text("#score") == "0 right of 1 try"
    tab.click("#hint")
    assert tab.inner_text("#hint-text") == "hint: u = x + 1"
    tab.click("#hint")
    assert tab.inner_text("#hint-text") == "hint: u = x + 1; then u = x + 1 = 17 + 1"
    shot(tab, tmp_path, "practice")  # a question, a wrong answer and both hints
    tab.fill("#answer", "36/2")  # a fraction is a number too
    tab.press("#answer", "Enter")
    assert tab.inner_text("#verdict") == "right: 18." and tab.inner_text("#score") == "1 right of 2 tries"
    assert node_texts(tab, 2)[2] == "value 18"
    for answer in ("306", "1", "17.005"):  # steps 4 (y), 6 (the seed) and 7 (∂y/∂u, 17 within the stated 0.1%)
        tab.keyboard.press("ArrowRight")  # from the answer, → goes on: past step 3 and 5, which ask nothing
        if tab.is_disabled("#answer"):
            assert tab.inner_text("#question") == "nothing to answer at this step"
            tab.keyboard.press("ArrowRight")
        tab.fill("#answer", answer)
        tab.press("#answer", "Enter")
        assert tab.inner_text("#verdict").startswith("right:")
    assert tab.inner_text("#verdict") == "right: 17." and tab.inner_text("#score") == "4 right of 5 tries"
    tab.keyboard.press("ArrowRight")
    tab.click("#reveal")
    assert tab.inner_text("#verdict") == "the answer: 18." and node_texts(tab, 0)[3] == "∂y/∂x = 18"
    tab.uncheck("#practice")  # the toggle: back to the plain walk-through
    assert not tab.is_visible("#quiz") and "17 + 1" in tab.inner_text("#steps")
    assert problems == []
    tab.close()


def test_every_control_is_reachable_by_keyboard_and_nodes_are_described(browser, tmp_path):
    tab, problems = open_page(browser, tmp_path, PRODUCT)
    reached = []
    for _ in range(40):
        tab.keyboard.press("Tab")
        reached.append(tab.evaluate("(e => [e.id, e.getAttribute('aria-label') || ''])(document.activeElement)"))
    ids, labels = [r[0] for r in reached], [r[1] for r in reached]
    for control in ("first", "prev", "next", "last", "play", "speed", "practice", "zoom-in", "zoom-out", "fit"):
        assert control in ids, (control, reached)
    assert any(label.startswith("y = x·u; value") for label in labels), reached  # a graph node, described
    assert "step 1, node x" in labels  # a step's number
    tab.focus("#n2")
    tab.keyboard.press("Enter")
    assert tab.inner_text("#details h2") == "u"
    label = tab.get_attribute("#n2", "aria-label")
    assert label == "u = x + 1; value not computed yet; ∂y/∂u not touched yet"
    assert tab.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none" or \
        tab.evaluate("document.activeElement.tagName") == "g"
    assert problems == []
    tab.close()


def luminance(rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_dark_theme_and_contrast(browser, tmp_path, scheme):
    tab, problems = open_page(browser, tmp_path, MLP, "#step=30", size=(390, 844), scheme=scheme)
    assert tab.evaluate("document.scrollingElement.scrollWidth") <= 390  # nothing wider than the phone
    assert tab.inner_text("#position") == "step 30 of 42"
    node = tab.evaluate("(() => { const r = document.querySelector('#graph g.node.current').getBoundingClientRect();"
                        " return [r.left, r.right, r.width]; })()")
    assert node[0] >= 0 and node[1] <= 390 and node[2] >= 100  # the step's node in sight, legible
    background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (luminance(background) < 0.05) == (scheme == "dark")
    for selector in ("body", ".hint", "#callout", "#steps li.section", "#steps button.num"):
        colour = tab.evaluate(f"getComputedStyle(document.querySelector('{selector}')).color")
        ground = tab.evaluate(f"(() => {{ let e = document.querySelector('{selector}'); while (e) {{ const c = "
                              "getComputedStyle(e).backgroundColor; if (!c.endsWith(', 0)') && c !== 'transparent') "
                              "return c; e = e.parentElement; } return 'rgb(255, 255, 255)'; })()")
        assert contrast(colour, ground) >= 4.5, (selector, colour, ground)  # WCAG AA for text
    shot(tab, tmp_path, f"phone-{scheme}")
    assert problems == []
    tab.close()


def test_a_loop_iteration_or_call_closes_into_one_box(browser, tmp_path):
    tab, problems = open_page(browser, tmp_path, ["samples/rnn.ad", "--inputs", "samples/rnn.json"])
    boxes = tab.eval_on_selector_all("#graph g.cluster", "els => els.map(e => e.getAttribute('aria-label'))")
    assert boxes[:2] == ["t = 0: 6 nodes; Enter opens or closes it",
                         "in cell, called at line 14, col 9: 5 nodes; Enter opens or closes it"]
    tab.click("#fold-all")  # every iteration closed: its nodes and inner edges hidden, its box labelled
    closed = tab.eval_on_selector_all("#graph g.cluster.closed", "els => els.map(e => e.querySelector('text').textContent)")
    assert closed == [f"t = {t} · 6 nodes (open)" for t in range(4)]
    assert tab.eval_on_selector_all("#graph g.node.folded", "els => els.length") == 24
    tab.evaluate("location.hash = '#step=14'")  # ∂loss/∂U4 of the first call: inside the closed box t = 0
    assert until(tab, "document.getElementById('position').textContent === 'step 14 of 100'")
    assert tab.eval_on_selector_all("#graph .current", "els => els.map(e => e.id)") == ["c0"]
    tab.focus("#c0")
    tab.keyboard.press("Enter")  # opened again: the step's own node is highlighted
    assert tab.get_attribute("#c0", "aria-expanded") == "true"
    step = next(s for s in page_data((tmp_path / "page.html").read_text()).get("steps") if s["n"] == 14)
    assert tab.eval_on_selector_all("#graph g.node.current", "els => els.map(e => e.id)") == [f"n{step['node']}"]
    assert tab.eval_on_selector_all("#graph g.cluster.closed", "els => els.length") == 3
    assert problems == []
    tab.close()
