"""Bounds on slow or large work: Graphviz's layout (a size refused up front, a time limit) and the
program cache (ADCLI_MAX_BYTES holds on a warm cache; large constants stored as recipes)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.explain import graphview
from adcli.explain.graphview import LAYOUT_NODES, build_view, render_image, to_dot
from adcli.language import program_cache
from adcli.language.parser import parse_source

runner = CliRunner()
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def chain(lines: int, fan_in: bool = False) -> str:
    """x0 = x * 1.5, then each line from the one before (and, with fan_in, from x again)."""
    tail = " + x" if fan_in else ""
    return "x0 = x * 1.5\n" + "".join(f"x{i} = x{i - 1} * 1.5{tail}\n" for i in range(1, lines))


SLOW = chain(60, fan_in=True)  # 180 nodes whose long edges take dot longer than a minute to lay out


# ---------------------------------------------------------------------------------------------
# Graphviz's layout
# ---------------------------------------------------------------------------------------------

def test_a_graph_beyond_the_layout_size_is_refused_up_front_saying_what_to_do(tmp_path):
    path = tmp_path / "chain.ad"
    path.write_text(chain(LAYOUT_NODES))  # two nodes a line
    result = runner.invoke(app, ["graph", str(path), "-o", str(tmp_path / "g.svg")])
    assert result.exit_code == 2
    assert f"at most {LAYOUT_NODES:,} nodes" in result.stderr
    assert "--of NAME" in result.stderr and "--format mermaid" in result.stderr
    assert not (tmp_path / "g.svg").exists()


def test_the_text_formats_have_no_layout_bound(tmp_path):
    path = tmp_path / "chain.ad"
    path.write_text(chain(LAYOUT_NODES))
    result = runner.invoke(app, ["graph", str(path), "--format", "mermaid"])
    assert result.exit_code == 0 and result.stdout.count(" --> ") == 2 * LAYOUT_NODES


@needs_dot
def test_dot_is_stopped_at_the_time_limit_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("ADCLI_LAYOUT_SECONDS", "0.2")
    path = tmp_path / "slow.ad"
    path.write_text(SLOW)
    result = runner.invoke(app, ["graph", str(path), "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 2
    assert "longer than 0.2 s" in result.stderr and "was stopped" in result.stderr
    assert "--of NAME" in result.stderr and "--format dot" in result.stderr
    assert not (tmp_path / "g.png").exists()


@needs_dot
def test_a_graph_within_the_bounds_is_drawn(tmp_path, monkeypatch):
    monkeypatch.setenv("ADCLI_LAYOUT_SECONDS", "120")
    path = tmp_path / "short.ad"
    path.write_text(chain(5))
    result = runner.invoke(app, ["graph", str(path), "-o", str(tmp_path / "g.svg")])
    assert result.exit_code == 0, result.stderr
    assert "<svg" in (tmp_path / "g.svg").read_text()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@needs_dot
@pytest.mark.parametrize("stream, noted", [(Terminal, True), (io.StringIO, False)], ids=["terminal", "pipe"])
def test_a_slow_layout_says_so_on_a_terminal_only(monkeypatch, stream, noted):
    err = stream()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(graphview, "PROGRESS_AFTER", 0.05)
    dot = to_dot(build_view(parse_source(SLOW, "slow.ad")))
    with pytest.raises(adcli.AdError, match="was stopped"):
        render_image(dot, "svg", timeout=0.5)
    assert ("laying out 180 nodes" in err.getvalue()) is noted


@pytest.mark.parametrize("setting", ["0", "-1", "abc", "nan", "inf"])
def test_a_bad_layout_time_limit_is_refused(monkeypatch, setting):
    monkeypatch.setenv("ADCLI_LAYOUT_SECONDS", setting)
    with pytest.raises(adcli.AdError, match="ADCLI_LAYOUT_SECONDS"):
        graphview.layout_seconds()


def test_the_layout_time_limit_defaults_to_the_documented_constant(monkeypatch):
    monkeypatch.delenv("ADCLI_LAYOUT_SECONDS", raising=False)
    assert graphview.layout_seconds() == graphview.LAYOUT_SECONDS
    monkeypatch.setenv("ADCLI_LAYOUT_SECONDS", "2.5")
    assert graphview.layout_seconds() == 2.5


@needs_dot
def test_the_html_trace_is_bounded_by_the_same_time_limit(tmp_path, monkeypatch):
    from adcli.explain.html import drawing
    monkeypatch.setenv("ADCLI_LAYOUT_SECONDS", "0.2")
    graph = parse_source(SLOW, "slow.ad")
    nodes = [{"label": n.label, "kind": n.op if n.op in ("input", "const") else "op", "op": n.op,
              "formula": "", "shape": None, "short": None, "secondShort": None, "secondName": "",
              "output": i == len(graph.nodes) - 1, "nonfinite": False} for i, n in enumerate(graph.nodes)]
    svg, note = drawing(graph, nodes, len(nodes) - 1)
    assert svg is None and "longer than 0.2 s" in note and "--of" not in note


# ---------------------------------------------------------------------------------------------
# The program cache
# ---------------------------------------------------------------------------------------------

BIG = "y = sum(zeros([3000, 3000])) + x\n"


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "adcli"


def test_the_byte_limit_holds_on_a_warm_cache(cache_home, tmp_path, monkeypatch):
    path = tmp_path / "big.ad"
    path.write_text(BIG)
    assert adcli.load(str(path)).graph.nodes  # parsed and stored under the default limit
    assert list(cache_home.glob("program-*.json"))
    monkeypatch.setenv("ADCLI_MAX_BYTES", "10M")
    with pytest.raises(adcli.AdError, match=r"shape \[3000, 3000\].*over the limit of 10 MiB"):
        adcli.load(str(path))


def test_an_entry_parsed_under_a_small_limit_serves_a_larger_one(cache_home, tmp_path, monkeypatch):
    path = tmp_path / "m.ad"
    path.write_text("y = sum(ones([10, 10])) * x\n")
    monkeypatch.setenv("ADCLI_MAX_BYTES", "10K")
    adcli.load(str(path))
    entry, = cache_home.glob("program-*.json")
    monkeypatch.delenv("ADCLI_MAX_BYTES")
    source = path.read_text()
    assert program_cache.load_entry(str(entry), "m.ad", source, 10**7) is not None
    monkeypatch.setenv("ADCLI_MAX_BYTES", "5K")
    assert program_cache.load_entry(str(entry), "m.ad", source, 10**7) is None


@pytest.mark.parametrize("text", ["zeros([3000, 3000])", "ones([40, 50]) * 2.5", "eye(500)", "arange(100000)",
                                  "-zeros([30, 3])"])
def test_a_large_constant_is_stored_as_its_recipe_and_made_again_exactly(cache_home, tmp_path, text):
    path = tmp_path / "m.ad"
    path.write_text(f"c = {text}\ny = sum(c) * x\n")
    cold = adcli.load(str(path)).graph
    entry, = cache_home.glob("program-*.json")
    assert entry.stat().st_size < 4096
    warm = adcli.load(str(path)).graph
    for a, b in zip(cold.nodes, warm.nodes):
        if isinstance(a.data, np.ndarray):
            assert (a.data.dtype, a.data.shape, a.data.tobytes()) == (b.data.dtype, b.data.shape, b.data.tobytes())


def test_a_graph_with_more_array_data_than_its_source_is_not_stored(cache_home, tmp_path):
    path = tmp_path / "m.ad"
    path.write_text("y = sum(-arange(100000)) * x\n")  # 100,000 distinct numbers from 29 characters
    graph = adcli.load(str(path)).graph
    assert not list(cache_home.glob("program-*.json"))
    assert adcli.load(str(path)).graph.nodes[0].data.shape == graph.nodes[0].data.shape


def test_a_literal_array_is_stored_as_its_numbers(cache_home, tmp_path):
    numbers = ", ".join(str(k * 0.5) for k in range(40))
    path = tmp_path / "m.ad"
    path.write_text(f"y = sum([{numbers}] * x)\n")
    adcli.load(str(path))
    entry, = cache_home.glob("program-*.json")
    assert '"a":["float64",[40]' in entry.read_text()


@pytest.mark.parametrize("recipe", [{"f": ["float64", [2, -1], 0.0]}, {"f": ["float64", [2], 1]},
                                    {"i": ["int8", 3]}, {"r": ["int64", "3"]}, {"f": ["float64", [10**6, 10**6], 0.0]}])
def test_a_malformed_or_oversized_recipe_is_damage(recipe):
    with pytest.raises(program_cache.Damaged):
        program_cache.decode(recipe)
