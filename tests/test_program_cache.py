"""The compiled-program cache: the same graph from an entry as from source, and a damaged entry of
any kind ignored (the file parsed again), never trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import random_programs_lib as lib  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcli
from adcli.language import program_cache, source
from adcli.language.graph import Node
from adcli.language.parser import parse_source
from adcli.language.program_cache import entry_path, graph_from_data, graph_to_data, load_entry, store_entry

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LIMIT = 10**7


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """A private cache folder of this test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "adcli"


def same_value(a, b) -> bool:
    """Equal and of one type, arrays bit for bit (dtype, shape and bytes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and np.signbit(a) == np.signbit(b) or a != a and b != b
    return a == b


def assert_same_graph(got, expected):
    assert len(got.nodes) == len(expected.nodes)
    for i, (g, e) in enumerate(zip(got.nodes, expected.nodes)):
        for slot in Node.__slots__:
            assert same_value(getattr(g, slot), getattr(e, slot)), (i, slot, getattr(g, slot), getattr(e, slot))
    assert got.inputs == expected.inputs
    assert got.assigned == expected.assigned
    assert list(got.names.items()) == list(expected.names.items())
    assert same_value(got.contexts, expected.contexts)
    assert (got.file, got.source) == (expected.file, expected.source)
    for i in range(len(got.nodes)):  # every span, hence every error message and trace line
        assert got.span(i) == expected.span(i)


def round_trip(graph):
    """The graph through an entry's JSON text."""
    data = json.loads(json.dumps(graph_to_data(graph), separators=(",", ":")))
    return graph_from_data(data, graph.file, graph.source, LIMIT)


# ---------------------------------------------------------------------------------------------
# The same graph
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.ad")))
def test_samples_come_back_identical(sample, cache_home):
    path = str(SAMPLES / sample)
    first = adcli.load(path)  # parsed and stored
    entries = list(cache_home.glob("program-*.json"))
    assert len(entries) == 1
    second = adcli.load(path)  # from the entry
    assert_same_graph(second.graph, first.graph)
    assert_same_graph(second.graph, parse_source(Path(path).read_text(), first.graph.file))
    values = json.loads((SAMPLES / sample).with_suffix(".json").read_text()) \
        if (SAMPLES / sample).with_suffix(".json").exists() else {name: 0.75 for name in first.inputs}
    a, b = first.grad(**values), second.grad(**values)
    assert a.output == b.output and same_value(np.asarray(a.value), np.asarray(b.value))
    assert all(same_value(np.asarray(a.grad[k]), np.asarray(b.grad[k])) for k in a.grad)


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.booleans().flatmap(lambda hostile: lib.programs(hostile)), st.integers(0, 2**32 - 1))
def test_random_programs_come_back_identical(case, seed):
    statements, _, _ = case
    source = lib.print_program(statements, np.random.default_rng(seed))
    graph = parse_source(source, "random.ad")
    if any(n.op in ("fixed_point", "root", "rule", "loop", "while") for n in graph.nodes):
        # a graph holding functions compiled on their own is not stored: such a file is parsed every run
        with pytest.raises(TypeError, match="cannot store a Body"):
            graph_to_data(graph)
        return
    assert_same_graph(round_trip(graph), graph)


def test_a_graph_with_loops_calls_and_subscripts():
    source = ("input x: [n]\ninput k: int[3]\ndef f(a, b):\n    return a * b + 1\nh = x\nfor t in range(3):\n"
              "    h = f(h, x[t])\nz = h[1:3] + x[k][0:2] + x[..., None][0, 0]\ny = sum(z) + leaky_relu(z[0], 0.2)\n")
    graph = parse_source(source, "m.ad")
    assert_same_graph(round_trip(graph), graph)


def test_errors_and_traces_read_the_same(cache_home, tmp_path):
    path = tmp_path / "bad.ad"
    path.write_text("input x: [2]\ny = log(x - 5)\nz = sum(y)\n")
    from adcli.explain.trace import reverse_trace
    runs = []
    for _ in range(2):
        program = adcli.load(str(path))
        result = program.grad(x=[1.0, 2.0])
        runs.append((program.graph.span(3), repr(reverse_trace(program, {"x": [1.0, 2.0]}, None, None)),
                     result.value))
    assert len(list(cache_home.glob("program-*.json"))) == 1
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert same_value(runs[0][2], runs[1][2])


def test_a_parse_error_is_not_stored(cache_home, tmp_path):
    path = tmp_path / "bad.ad"
    path.write_text("y = (x +\n")
    for _ in range(2):
        with pytest.raises(adcli.AdError):
            adcli.load(str(path))
    assert not list(cache_home.glob("program-*.json"))


def test_different_content_gives_a_different_entry(cache_home, tmp_path):
    path = tmp_path / "m.ad"
    path.write_text("y = x * x\n")
    assert adcli.load(str(path)).grad(x=3.0).grad["x"] == 6.0
    path.write_text("y = x * x * x\n")
    assert adcli.load(str(path)).grad(x=3.0).grad["x"] == 27.0
    assert len(list(cache_home.glob("program-*.json"))) == 2
    folder = str(cache_home)
    assert entry_path(folder, "y = x * x\n") != entry_path(folder, "y = x * x \n")


def test_the_same_text_under_another_name_keeps_its_own_spans(cache_home, tmp_path):
    (tmp_path / "a.ad").write_text("y = log(x)\n")
    (tmp_path / "b.ad").write_text("y = log(x)\n")
    a, b = adcli.load(str(tmp_path / "a.ad")), adcli.load(str(tmp_path / "b.ad"))
    assert len(list(cache_home.glob("program-*.json"))) == 1
    assert a.graph.span(1).file.endswith("a.ad") and b.graph.span(1).file.endswith("b.ad")


def test_an_entry_serves_only_the_text_it_was_made_from(cache_home, tmp_path):
    """An entry copied (or collided) onto another text's name is not used: its header holds the
    whole digest of its own text, grammar and adcli version."""
    (tmp_path / "a.ad").write_text("y = x * x\n")
    adcli.load(str(tmp_path / "a.ad"))
    entry = entry_of(cache_home)
    header = json.loads(entry.read_bytes().split(b"\n", 1)[0])
    assert header["source"] == program_cache.source_digest("y = x * x\n")
    other = "y = x * x * x\n"
    entry.rename(entry_path(str(cache_home), other))  # a's graph under b's name
    (tmp_path / "b.ad").write_text(other)
    assert load_entry(entry_path(str(cache_home), other), "b.ad", other, LIMIT) is None
    assert adcli.load(str(tmp_path / "b.ad")).grad(x=2.0).grad["x"] == 12.0  # b parsed, not a's graph


def test_a_changed_grammar_or_version_never_reuses_an_entry(cache_home, tmp_path, monkeypatch):
    path = tmp_path / "m.ad"
    path.write_text(SOURCE)
    adcli.load(str(path))
    entry = str(entry_of(cache_home))
    assert load_entry(entry, "m.ad", SOURCE, LIMIT) is not None
    grammar = tmp_path / "adcli.lark"
    grammar.write_text(source.grammar_path().read_text() + "// changed\n")
    original = source.GRAMMAR_CANDIDATES
    monkeypatch.setattr(source, "GRAMMAR_CANDIDATES", (grammar,))
    monkeypatch.setattr(program_cache, "_CODE_DIGEST", [])
    assert load_entry(entry, "m.ad", SOURCE, LIMIT) is None  # even read directly, not by its name
    assert entry_path(str(cache_home), SOURCE) != entry
    monkeypatch.setattr(source, "GRAMMAR_CANDIDATES", original)
    monkeypatch.setattr(program_cache, "_CODE_DIGEST", [])
    assert load_entry(entry, "m.ad", SOURCE, LIMIT) is not None
    monkeypatch.setattr(program_cache, "__version__", "0.0.0-other")
    assert load_entry(entry, "m.ad", SOURCE, LIMIT) is None


def test_line_endings_share_an_entry_and_show_lf_lines(cache_home, tmp_path):
    graphs = []
    for ending in ("\n", "\r\n", "\r"):
        (tmp_path / "m.ad").write_bytes(SOURCE.replace("\n", ending).encode())
        graphs.append(adcli.load(str(tmp_path / "m.ad")).graph)
    assert len(list(cache_home.glob("program-*.json"))) == 1
    for graph in graphs[1:]:
        assert_same_graph(graph, graphs[0])
    assert graphs[2].span(3).source_line() == "h = tanh(x) * 2"


def test_no_cache_without_a_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "")
    (tmp_path / "m.ad").write_text("y = x * x\n")
    assert adcli.load(str(tmp_path / "m.ad")).grad(x=2.0).grad["x"] == 4.0
    assert program_cache.cache_folder() is None


def test_entries_are_private_and_pruned(cache_home, tmp_path, monkeypatch):
    monkeypatch.setattr(program_cache, "KEEP", 3)
    for k in range(5):
        (tmp_path / "m.ad").write_text(f"y = x * {k + 1}\n")
        adcli.load(str(tmp_path / "m.ad"))
    entries = list(cache_home.glob("program-*.json"))
    assert len(entries) == 3
    assert all(e.stat().st_mode & 0o077 == 0 for e in entries)
    assert not list(cache_home.glob(".tmp-*"))


# ---------------------------------------------------------------------------------------------
# Damaged entries: ignored, the file parsed again
# ---------------------------------------------------------------------------------------------

SOURCE = "input x: [3]\nh = tanh(x) * 2\ny = sum(h[0:2]) + max(x, axis=0)\n"


def entry_of(cache_home) -> Path:
    (entry,) = cache_home.glob("program-*.json")
    return entry


def rewrite(entry: Path, change) -> None:
    """Change the entry's graph data and give it a matching checksum, so the validation is what
    must catch it."""
    head, body = entry.read_bytes().split(b"\n", 1)
    data = json.loads(body)
    change(data)
    body = json.dumps(data).encode()
    header = json.loads(head)
    header["checksum"] = program_cache.digest(body).hexdigest()
    entry.write_bytes(json.dumps(header).encode() + b"\n" + body)


def set_args(data, i, args):
    data["args"][i] = args


DAMAGE = {
    "truncated": lambda e: e.write_bytes(e.read_bytes()[: len(e.read_bytes()) // 2]),
    "empty": lambda e: e.write_bytes(b""),
    "random bytes": lambda e: e.write_bytes(os.urandom(3000)),
    "a flipped byte": lambda e: e.write_bytes(e.read_bytes().replace(b'"tanh"', b'"sinh"')),
    "wrong version": lambda e: e.write_bytes(e.read_bytes().replace(adcli.__version__.encode(), b"0.0.0", 1)),
    "not JSON after the header": lambda e: rewrite_raw(e, b"{not json"),
    "an index out of range": lambda e: rewrite(e, lambda d: set_args(d, len(d["op"]) - 1, [0, 10**6])),
    "a negative index": lambda e: rewrite(e, lambda d: set_args(d, len(d["op"]) - 1, [-1, 0])),
    "a forward reference": lambda e: rewrite(e, lambda d: set_args(d, 2, [5])),
    "an input out of range": lambda e: rewrite(e, lambda d: d.__setitem__("inputs", [99])),
    "a name out of range": lambda e: rewrite(e, lambda d: d.__setitem__("names", [["y", 4000]])),
    "wrong types": lambda e: rewrite(e, lambda d: d.__setitem__("line", [str(v) for v in d["line"]])),
    "a float where an index goes": lambda e: rewrite(e, lambda d: set_args(d, len(d["op"]) - 1, [0.0, 1.0])),
    "an unknown operation": lambda e: rewrite(e, lambda d: d["op"].__setitem__(2, "os.system")),
    "an unknown tag": lambda e: rewrite(e, lambda d: d["data"].__setitem__(
        next(i for i, v in enumerate(d["data"]) if v), {"pickle": [1]})),
    "an array that does not fill its shape": lambda e: rewrite(e, lambda d: d["data"].__setitem__(
        next(i for i, v in enumerate(d["data"]) if type(v) is float), {"a": ["float64", [3], [1.0]]})),
    "a value on an operation": lambda e: rewrite(e, lambda d: d["data"].__setitem__(len(d["op"]) - 1, 1.0)),
    "a constant without its value": lambda e: rewrite(e, lambda d: d["data"].__setitem__(
        next(i for i, v in enumerate(d["data"]) if type(v) is float), None)),
    "a missing column": lambda e: rewrite(e, lambda d: d.pop("ctx")),
    "a short column": lambda e: rewrite(e, lambda d: d["col"].pop()),
    "a context out of range": lambda e: rewrite(e, lambda d: d["ctx"].__setitem__(0, 7)),
    "a parameter its operation does not take": lambda e: rewrite(e, lambda d: d["params"].__setitem__(
        next(i for i, v in enumerate(d["params"]) if v), {"d": [["evil", 1]]})),
    "deeply nested": lambda e: rewrite_raw(e, b"[" * 100000 + b"]" * 100000),
    "a list for the whole": lambda e: rewrite_raw(e, b"[1, 2, 3]"),
}


def rewrite_raw(entry: Path, body: bytes) -> None:
    head = json.loads(entry.read_bytes().split(b"\n", 1)[0])
    head["checksum"] = program_cache.digest(body).hexdigest()
    entry.write_bytes(json.dumps(head).encode() + b"\n" + body)


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_entry_is_ignored(kind, cache_home, tmp_path):
    path = tmp_path / "m.ad"
    path.write_text(SOURCE)
    expected = adcli.load(str(path))
    entry = entry_of(cache_home)
    DAMAGE[kind](entry)
    assert load_entry(str(entry), expected.graph.file, SOURCE, LIMIT) is None
    got = adcli.load(str(path))  # parsed again, and the entry written afresh
    assert_same_graph(got.graph, expected.graph)
    assert got.grad(x=[0.5, 1.0, 2.0]).grad["x"].tolist() == expected.grad(x=[0.5, 1.0, 2.0]).grad["x"].tolist()
    assert load_entry(str(entry), expected.graph.file, SOURCE, LIMIT) is not None


@pytest.mark.parametrize("kind", ["fifo", "directory", "dangling-link", "link"])
def test_an_entry_that_is_not_a_regular_file_is_not_read(kind, cache_home, tmp_path):
    path = tmp_path / "m.ad"
    path.write_text(SOURCE)
    expected = adcli.load(str(path))
    entry = entry_of(cache_home)
    entry.unlink()
    if kind == "fifo":
        os.mkfifo(entry)
    elif kind == "directory":
        entry.mkdir()
    elif kind == "dangling-link":
        entry.symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / "elsewhere.json").write_text("{}")
        entry.symlink_to(tmp_path / "elsewhere.json")
    assert_same_graph(adcli.load(str(path)).graph, expected.graph)


def test_a_graph_over_the_operation_limit_is_parsed_to_say_so(cache_home, tmp_path, monkeypatch):
    path = tmp_path / "m.ad"
    path.write_text("for t in range(60000):\n    x = x * 1.5\n")  # 120,000 nodes from a short file
    adcli.load(str(path))
    monkeypatch.setenv("ADCLI_MAX_BYTES", "10K")  # the least limit: 100,000 operations
    with pytest.raises(adcli.AdError, match="100,000"):
        adcli.load(str(path))


def test_a_value_that_cannot_be_stored_exactly_is_not_stored(cache_home, tmp_path):
    graph = parse_source("y = x * 2\n", "m.ad")
    graph.nodes[0].data = np.float32(1.0)
    store_entry(str(cache_home), str(cache_home / "program-x.json"), graph)
    assert not (cache_home / "program-x.json").exists()


# ---------------------------------------------------------------------------------------------
# The figure: loading an entry against parsing (also in bench/RESULTS.md)
# ---------------------------------------------------------------------------------------------

def test_a_hit_does_not_import_lark(tmp_path):
    path = tmp_path / "m.ad"
    path.write_text("y = x * x\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = ("import sys, adcli; p = adcli.load(sys.argv[1]); p.grad(x=2.0); "
            "print(any(m == 'lark' or m.startswith('lark.') for m in sys.modules))")
    runs = [subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                           timeout=60).stdout.strip() for _ in range(2)]
    assert runs == ["True", "False"]


def test_loading_an_entry_beats_parsing_by_far(cache_home, tmp_path):
    """Not a timed assertion: the ratio is printed and recorded in bench/RESULTS.md; here a hit must
    merely not be slower than a parse, which no noisy machine could invert."""
    path = tmp_path / "chain.ad"
    path.write_text("input x\n" + "".join(f"x = tanh(x) * {1 + k % 7} + 0.5\n" for k in range(3000)) + "y = x\n")
    start = time.perf_counter()
    adcli.load(str(path))
    parse = time.perf_counter() - start
    start = time.perf_counter()
    adcli.load(str(path))
    hit = time.perf_counter() - start
    print(f"parse {parse * 1e3:.1f} ms, from the cache {hit * 1e3:.1f} ms: {parse / hit:.1f}x")
    assert hit < parse


def test_every_module_that_builds_graphs_is_in_the_code_digest():
    """A cached graph is reused only while the code that built it is unchanged: every expander module,
    the parser and the name tables count (the house split expand.py into five modules)."""
    from pathlib import Path

    from adcli.language import program_cache
    language = Path(program_cache.__file__).parent
    builders = {p.name for p in language.glob("expand*.py")} | {"parser.py", "numpy_names.py", "layout.py", "listing.py"}
    assert builders <= set(program_cache.BUILDERS), builders - set(program_cache.BUILDERS)
