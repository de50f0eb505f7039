"""`adcli trace --format html`: the page's data and safety here, its behaviour in a real headless Chromium.

The browser tests drive Debian's Chromium through Playwright's Python package; a machine without
either skips them with the reason (CI installs both). Screenshots go to $ADCLI_ARTIFACTS (default: the
test's temporary directory); ADCLI_REQUIRE_BROWSER=1 (set by CI) turns a skip into a failure; with
ADCLI_UPDATE_DOCS=1 the relu page's is also written to docs/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adcli.cli.app import expand_multi_values
from adcli.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

# As a user types them in the checkout: the page shows the file's name as given.
RELU = ["samples/relu.ad", "--set", "W=2", "x=3", "b=1"]
PRODUCT = ["samples/product.ad", "--set", "x=17"]
MLP = ["samples/mlp.ad", "--inputs", "samples/mlp.json"]


@pytest.fixture(autouse=True)
def in_checkout(monkeypatch):
    monkeypatch.chdir(ROOT)


def run(*args: str):
    return runner.invoke(app, expand_multi_values(list(args)))


def html_of(*args: str) -> str:
    result = run("trace", *args, "--format", "html")
    assert result.exit_code == 0, result.output
    return result.stdout


def page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="adcli-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def plain_steps(*args: str) -> list[str]:
    """The plain trace's step lines without their numbers."""
    text = run("trace", *args, "--format", "plain").stdout
    return [m.group(2) for m in (re.match(r"^\s*(\d+)  (.*)$", line) for line in text.splitlines()) if m]


# ---------------------------------------------------------------------------------------------
# The page as a file: the plain trace's steps, self-contained, safe, deterministic
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [RELU, PRODUCT, MLP, PRODUCT + ["--mode", "forward"],
                                  MLP + ["--mode", "forward", "--wrt", "W1[0, 1]"]],
                         ids=["relu", "product", "mlp", "product-forward", "mlp-forward"])
def test_the_page_holds_the_plain_traces_steps(args):
    data = page_data(html_of(*args))
    assert [s["text"] for s in data["steps"]] == plain_steps(*args)
    assert [s["n"] for s in data["steps"]] == list(range(1, len(data["steps"]) + 1))
    for step in data["steps"]:
        assert 0 <= step["node"] < len(data["nodes"])


def test_relu_page_has_the_lectures_numbers():
    page = html_of(*RELU)
    data = page_data(page)
    nodes = {n["label"]: n for n in data["nodes"]}
    assert (nodes["W"]["value"], nodes["W"]["second"], nodes["W"]["secondName"]) == ("2", "3", "∂H/∂W")
    assert nodes["U2"]["formula"] == "U1 + b" and nodes["U2"]["value"] == "7"
    assert nodes["H"]["output"] and nodes["H"]["locals"] == ["∂H/∂U2 = ReLU′(U2)"]
    assert nodes["U2"]["at"] == "samples/relu.ad:2:16" and nodes["U2"]["source"] == "H = relu(W @ x + b)"
    eleven = data["steps"][10]
    assert eleven["badge"] == "∂H/∂U2: 0 → 1" and eleven["edges"] == ["e5-0"]
    assert data["nodes"][eleven["node"]]["label"] == "U2"
    assert '<svg' in page if shutil.which("dot") else 'id="graph-note"' in page


def test_forward_page_has_tangents():
    data = page_data(html_of(*PRODUCT, "--mode", "forward"))
    y = next(n for n in data["nodes"] if n["label"] == "y")
    assert (y["value"], y["second"], y["secondName"]) == ("306", "35", "ẏ")
    assert y["locals"] == ["ẏ = ẋ·u + x·u̇"]
    assert data["mode"] == "forward" and data["second"] == "tangent"


def test_the_page_is_self_contained_and_deterministic():
    page = html_of(*MLP)
    assert page == html_of(*MLP)
    assert "default-src 'none'" in page  # the browser itself refuses any request the page might make
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_names_comments_and_file_names_cannot_inject_markup(tmp_path):
    hostile = tmp_path / "<img src=x onerror=alert(1)>.ad"
    hostile.write_text("# </script><script>alert(1)</script>\ny = x * 2  # <b>&amp;</b> </script>\n")
    page = html_of(str(hostile), "--set", "x=1")
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>" not in page
    assert page.count("</script>") == 2  # the data's and the program's own
    data = page_data(page)
    assert data["nodes"][-1]["source"] == "y = x * 2  # <b>&amp;</b> </script>"  # as text, intact
    assert data["file"].endswith("<img src=x onerror=alert(1)>.ad")


def test_without_graphviz_the_page_says_so(monkeypatch):
    import adcli.explain.html as trace_html
    monkeypatch.setattr(trace_html.shutil, "which", lambda name: None)
    page = html_of(*RELU)
    assert "<svg" not in page and "Graphviz's dot is not installed" in page
    assert len(page_data(page)["steps"]) == 18


def test_a_long_trace_is_paged_and_a_huge_one_refused(tmp_path):
    long = tmp_path / "long.ad"
    long.write_text("h = x\nfor t in range(800):\n    h = sin(h) * 0.9 + h * 0.1\ny = h\n")
    page = html_of(str(long), "--set", "x=0.5")
    data = page_data(page)
    assert len(data["steps"]) > 10_000 and data["page"] == 500
    assert "too many to draw" in page  # thousands of nodes: the steps alone, with the reason
    huge = tmp_path / "huge.ad"
    huge.write_text("h = x\nfor t in range(5000):\n    h = sin(h) * 0.9 + h * 0.1\ny = h\n")
    result = run("trace", str(huge), "--set", "x=0.5", "--format", "html")
    assert result.exit_code == 2
    assert "an HTML page holds at most 50,000" in result.stderr and "--format plain" in result.stderr


def test_output_file_and_its_suffix(tmp_path):
    out = tmp_path / "t.html"
    result = run("trace", *RELU, "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    md = tmp_path / "t.md"
    assert run("trace", *RELU, "-o", str(md)).exit_code == 0
    assert md.read_text(encoding="utf-8") == run("trace", *RELU, "--format", "markdown").stdout
    refused = run("trace", *RELU, "--format", "rich", "-o", str(tmp_path / "t.txt"))
    assert refused.exit_code == 2 and "--format rich is for a terminal" in refused.stderr
    missing = run("trace", *RELU, "-o", str(tmp_path / "no" / "such" / "t.html"))
    assert missing.exit_code == 2 and "cannot write it" in missing.stderr


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------

# The `browser` fixture (headless Chromium through Playwright) is in conftest.py, shared with test_studio.py.


def artefacts(tmp_path) -> Path:
    where = Path(os.environ.get("ADCLI_ARTIFACTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def open_page(browser, tmp_path, name: str, args: list[str]):
    """The page in a tab, with every console error and network request recorded."""
    path = tmp_path / f"{name}.html"
    assert run("trace", *args, "-o", str(path)).exit_code == 0
    tab = browser.new_page(viewport={"width": 1400, "height": 850})
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on("request", lambda r: problems.append(f"request {r.url}") if r.url != path.as_uri() else None)
    tab.goto(path.as_uri())
    return tab, page_data(path.read_text(encoding="utf-8")), problems


def highlighted(tab) -> tuple[list[str], list[str]]:
    """The ids of the highlighted step items and graph nodes."""
    steps = tab.eval_on_selector_all("#steps li.current", "els => els.map(e => e.id)")
    nodes = tab.eval_on_selector_all("#graph g.node.current", "els => els.map(e => e.id)")
    return steps, nodes


@pytest.mark.parametrize("name,args,presses,click", [
    ("relu", RELU, 11, "W"), ("product", PRODUCT, 5, "u"), ("mlp", MLP, 30, "W2"),
    ("product-forward", PRODUCT + ["--mode", "forward"], 3, "y"),
    ("mlp-forward", MLP + ["--mode", "forward", "--wrt", "b1"], 12, "U2"),
])
def test_stepping_and_clicking_in_chromium(browser, tmp_path, name, args, presses, click):
    tab, data, problems = open_page(browser, tmp_path, name, args)
    drawn = tab.locator("#graph svg").count() == 1
    for n in range(1, presses + 1):
        tab.keyboard.press("ArrowRight")
        step = data["steps"][n - 1]
        steps, nodes = highlighted(tab)
        assert steps == [f"step-{n}"]
        assert tab.inner_text("#position") == f"step {n} of {len(data['steps'])}"
        if drawn:
            assert nodes == [f"n{step['node']}"]
            assert tab.inner_text("#badge") == step["badge"]
    tab.keyboard.press("ArrowLeft")
    assert highlighted(tab)[0] == [f"step-{presses - 1}"]
    tab.keyboard.press("End")
    assert highlighted(tab)[0] == [f"step-{len(data['steps'])}"]
    tab.keyboard.press("Home")
    assert highlighted(tab)[0] == ["step-1"]
    index = next(i for i, n in enumerate(data["nodes"]) if n["label"] == click)
    node = data["nodes"][index]
    if drawn:
        tab.keyboard.press("0")  # the whole graph in view: stepping may have moved it to the current node
        tab.click(f"#n{index}")
    else:  # the steps alone: a step's number opens its node
        tab.click(f"#step-{node['steps'][0]} button.num")
    details = tab.inner_text("#details")
    assert node["value"] in details and node["at"] in details
    if node["formula"]:
        assert f"{node['label']} = {node['formula']}" in details
    for text in node["locals"]:
        assert text in details
    tab.click(f"#details button.jump >> text='{node['steps'][-1]}'")
    assert highlighted(tab)[0] == [f"step-{node['steps'][-1]}"]
    for n in range(presses):  # back to an interesting step for the picture
        tab.keyboard.press("ArrowRight" if n else "Home")
    shot = artefacts(tmp_path) / f"trace-{name}.png"
    tab.screenshot(path=str(shot))
    if name == "relu" and os.environ.get("ADCLI_UPDATE_DOCS") and drawn:
        tab.screenshot(path=str(ROOT / "docs" / "trace-html.png"))
    assert problems == []
    tab.close()


def test_ten_thousand_steps_stay_responsive_in_chromium(browser, tmp_path):
    long = tmp_path / "long.ad"
    long.write_text("h = x\nfor t in range(800):\n    h = sin(h) * 0.9 + h * 0.1\ny = h\n")
    tab, data, problems = open_page(browser, tmp_path, "long", [str(long), "--set", "x=0.5"])
    total = len(data["steps"])
    assert total > 10_000
    assert tab.locator("#steps li[id^=step-]").count() == data["page"]  # one page in the document at a time
    tab.keyboard.press("End")
    assert highlighted(tab)[0] == [f"step-{total}"]
    assert f"of {total}" in tab.inner_text("#pager")
    tab.click("#pager button >> text='earlier steps'")
    assert tab.locator(f"#step-{total - data['page']}").count() == 1
    assert problems == []
    tab.close()


def test_a_nodes_local_derivatives_are_its_own():
    nodes = {n["label"]: n for n in page_data(html_of(*RELU))["nodes"]}
    assert nodes["U2"]["locals"] == ["∂U2/∂U1 = 1", "∂U2/∂b = 1"]  # in operand order
    assert nodes["U1"]["locals"] == ["∂U1/∂W = x", "∂U1/∂x = W"]
    assert nodes["W"]["locals"] == []  # an input has none; its steps are listed instead
    forward = {n["label"]: n for n in page_data(html_of(*PRODUCT, "--mode", "forward"))["nodes"]}
    assert forward["u"]["locals"] == ["u̇ = ẋ + 0"] and forward["x"]["locals"] == []


def test_an_input_used_only_after_the_output_is_on_the_page(browser, tmp_path):
    """With --of an earlier value, an input first read after it still has an accumulator (0): the
    page names it, draws it, and steps through it without an error."""
    source = tmp_path / "of.ad"
    source.write_text("u = x + 1\nv = u * 3\ny = v * z\n")
    tab, data, problems = open_page(browser, tmp_path, "of", [str(source), "--set", "x=1", "z=2", "--of", "u"])
    z = next(i for i, n in enumerate(data["nodes"]) if n["label"] == "z")
    assert data["nodes"][z]["second"] == "0"
    tab.keyboard.press("End")
    assert highlighted(tab)[0] == [f"step-{len(data['steps'])}"]
    if tab.locator("#graph svg").count():
        assert tab.locator(f"#n{z}").count() == 1
        out = next(i for i, n in enumerate(data["nodes"]) if n["output"])
        assert tab.locator("#graph g.node").count() == out + 2  # every node up to u, and z
    assert problems == []
    tab.close()


# A loop kept as a loop is one node of the trace; the page opens it: one iteration's operations, and
# the carried values at some of its iterations, the last the node's value to the bit.
KEPT = "input a: []\ninput W: [2, 2]\nh = zeros(2)\ns = 0.0\nfor t in range(20000):\n    h = tanh(W @ h + a)\n" \
       "    s = s + 0.001 * sum(h)\ny = s + sum(h)\n"
KEPT_VALUES = ["--set", "a=0.3", "W=[[0.5,-0.2],[0.1,0.4]]"]


def carried_along(count: int) -> list[tuple[np.ndarray, float]]:
    """(h, s) after each iteration, by numpy."""
    W, h, s, out = np.array([[0.5, -0.2], [0.1, 0.4]]), np.zeros(2), 0.0, []
    for _ in range(count):
        h = np.tanh(W @ h + 0.3)
        s = s + 0.001 * np.sum(h)
        out.append((h, s))
    return out


def test_a_kept_loop_opens_on_the_page(tmp_path):
    source = tmp_path / "kept.ad"
    source.write_text(KEPT)
    nodes = page_data(html_of(str(source), *KEPT_VALUES))["nodes"]
    loop = next(n for n in nodes if n["op"] == "loop")
    inside = loop["inside"]
    assert inside["kind"] == "for" and inside["count"] == 19996 and inside["carried"] == ["h", "s"]
    assert inside["reads"] == ["W", "a"] and inside["variable"] == "t"
    assert any(line.startswith("h′ = tanh(") for line in inside["body"]), inside["body"]
    rows = inside["rows"]
    assert [r["at"] for r in rows[:3]] == ["t = 2", "t = 3", "t = 4"] and rows[-1]["at"] == "t = 19997"
    along = carried_along(19998)
    for row in rows:
        h, s = along[int(row["at"].split("= ")[1])]
        shown = dict(row["values"])
        assert float(shown["s"]) == pytest.approx(s, rel=1e-7)
        assert [float(v) for v in shown["h"].strip("[]").split(",")] == pytest.approx(list(h), rel=1e-7)
    assert all("inside" not in n or n["inside"] is None for n in nodes if n["op"] != "loop")


def test_opening_a_kept_loop_in_chromium(browser, tmp_path):
    source = tmp_path / "kept.ad"
    source.write_text(KEPT)
    tab, data, problems = open_page(browser, tmp_path, "kept", [str(source), *KEPT_VALUES])
    index = next(i for i, n in enumerate(data["nodes"]) if n["op"] == "loop")
    if tab.locator("#graph svg").count():
        assert "opens" in tab.get_attribute(f"#n{index}", "class")
        tab.keyboard.press("0")
        tab.click(f"#n{index}")
    else:
        tab.click(f"#step-{data['nodes'][index]['steps'][0]} button.num")
    opened = tab.locator("#details details.inside")
    assert opened.count() == 1 and opened.get_attribute("open") is not None
    text = tab.inner_text("#details details.inside")
    assert "one iteration" in text and "h, s along the loop" in text and "t = 19997" in text
    assert tab.locator("#details details.inside tr").count() == 1 + len(data["nodes"][index]["inside"]["rows"])
    tab.locator("#details details.inside").scroll_into_view_if_needed()
    tab.screenshot(path=str(artefacts(tmp_path) / "trace-kept-loop.png"))
    assert problems == []
    tab.close()


def test_a_while_loop_opens_on_the_page_with_the_steps_that_ran(tmp_path):
    source = tmp_path / "sqrt.ad"
    source.write_text("input a\nr = 1.0\nwhile abs(r * r - a) > 1e-15 * a, max_iter=100:\n"
                      "    r = r - (r * r - a) / (2 * r)\ny = r\n")
    loop = next(n for n in page_data(html_of(str(source), "--set", "a=2"))["nodes"] if n["op"] == "while")
    inside = loop["inside"]
    r, newton = 1.0, []
    while abs(r * r - 2) > 2e-15:
        r = r - (r * r - 2) / (2 * r)
        newton.append(r)
    assert inside["kind"] == "while" and inside["count"] == len(newton) == 5 and inside["reads"] == ["a"]
    assert [row["at"] for row in inside["rows"]] == [f"step {k}" for k in range(1, 6)]
    assert [float(row["values"][0][1]) for row in inside["rows"]] == pytest.approx(newton, rel=1e-7)
    assert inside["body"][-1] == "r′ = r - U4"
