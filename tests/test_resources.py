"""Resource limits: small inputs that ask for huge memory, endless reads or endless work must stop
with a clean, fast error (exit 2, one message naming what is too large), never exhaust memory,
hang or crash; and the legitimately large (a 100,000-iteration loop) must still work.

Every case runs adcli as a separate process under an address-space limit (RLIMIT_AS, 2 GiB) with
ADCLI_MAX_BYTES below it (256M), and a wall-clock limit, so a memory blow-up shows as a
MemoryError or a kill, not as a slow machine.
"""

from __future__ import annotations

import json
import os
import re
import resource
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

MEMORY = 2 << 30  # RLIMIT_AS of each adcli process
MAX_BYTES = "256M"  # ADCLI_MAX_BYTES: adcli's own limit, below the memory limit
FAST = 15.0  # seconds: a clean refusal is immediate; this leaves room for a loaded CI machine


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    seconds: float


def adcli(*args, cwd: Path, env: dict | None = None, memory: int = MEMORY, timeout: float = 60.0,
          stdin: bytes | None = None, max_bytes: str | None = MAX_BYTES) -> Run:
    """`python -m adcli ARGS` in cwd under RLIMIT_AS; a run past `timeout` is killed and reported as
    rc=None so the assertion names the hang."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8", "NO_COLOR": "1",
            "XDG_CACHE_HOME": str(cwd / ".cache"), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if max_bytes is not None:
        base["ADCLI_MAX_BYTES"] = max_bytes
    base.update(env or {})

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "adcli", *map(str, args)], cwd=cwd, env=base,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit, start_new_session=True)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        rc = None
    return Run(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - started)


def assert_clean(run: Run, rc: int = 2, seconds: float = FAST, message: list[str] | tuple = (), at: str | None = None):
    """Exit code `rc` within `seconds`, no traceback, internal error or memory exhaustion, one
    error message containing every string (or regex, if it starts with 're:') in `message`, at
    FILE:LINE (`at`) when given."""
    where = f"exit {run.rc} after {run.seconds:.1f} s\nstderr: {run.stderr[-2000:]}"
    assert run.rc is not None, f"no exit within the time limit ({run.seconds:.0f} s): a hang\n{where}"
    assert run.rc >= 0, f"killed by signal {-run.rc}\n{where}"
    for bad in ("Traceback", "internal error", "MemoryError", "Unable to allocate"):
        assert bad not in run.stderr, f"{bad!r} on stderr\n{where}"
    assert run.rc == rc, where
    assert run.seconds < seconds, f"took {run.seconds:.1f} s (limit {seconds} s)\n{where}"
    if rc == 2:
        heads = [ln for ln in run.stderr.splitlines() if re.match(r"^(adcli|.*:\d+:\d+): error: ", ln)]
        assert len(heads) == 1, f"expected one error message\n{where}"
        for text in message:
            if text.startswith("re:"):
                assert re.search(text[3:], heads[0] + run.stderr), f"no match for {text[3:]!r}\n{where}"
            else:
                assert text in run.stderr, f"{text!r} not in the message\n{where}"
        if at is not None:
            assert heads[0].startswith(at + ":"), f"expected the error at {at}\n{where}"


@pytest.fixture()
def work(tmp_path) -> Path:
    return tmp_path


# ---------------------------------------------------------------------------------------------
# Shapes that would not fit
# ---------------------------------------------------------------------------------------------

COMMANDS = [["eval"], ["grad"], ["trace"], ["jacobian"], ["hessian"], ["jvp", "--tangent", "v=1"], ["check"],
            ["graph"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_broadcasting_60000_against_60000_by_1(work, command):
    """[60000] + [60000, 1] broadcasts to [60000, 60000]: 26.8 GiB, refused before it is made."""
    (work / "b.ad").write_text("input v: [60000]\ninput w: [60000, 1]\ny = sum(v + w)\n")
    np.savez(work / "in.npz", v=np.zeros(60000), w=np.zeros((60000, 1)))
    run = adcli(*command[:1], "b.ad", *command[1:], "--inputs", "in.npz", cwd=work)
    assert_clean(run, message=["[60000, 60000]", "26.8 GiB", "256 MiB"], at="b.ad:3")


def test_broadcasting_of_constants(work):
    (work / "b.ad").write_text("y = sum(zeros([60000]) + zeros([60000, 1])) + x\n")
    assert_clean(adcli("grad", "b.ad", "--set", "x=1", cwd=work), message=["[60000, 60000]", "GiB"], at="b.ad:1")


def laughs(base: str) -> str:
    """Eleven lines, each ten copies of the one before: 10**10 elements at the end."""
    lines = [f"a0 = {base}"] + [f"a{i} = [" + ", ".join([f"a{i - 1}"] * 10) + "]" for i in range(1, 11)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("base", ["x", "1.0"], ids=["input", "constant"])
@pytest.mark.parametrize("command", ["eval", "grad", "trace", "graph", "hessian"])
def test_billion_laughs(work, base, command):
    """a0 = x; a1 = [a0, a0, ...ten]; ... a10: 10**10 elements. With a limit of 256 MiB the first
    value too large is the 10**8-element a8 (763 MiB), on line 9; constants fold while parsing, so
    there the error comes at once too."""
    (work / "l.ad").write_text(laughs(base))
    args = ["--set", "x=1"] if base == "x" else []
    if command == "grad" and base != "x":
        args = []
    run = adcli(command, "l.ad", *args, cwd=work)
    assert_clean(run, message=["re:'a[78]'", "re:\\[10(, 10){6,7}\\]", "re:\\d+(\\.\\d+)? [MG]iB"])
    assert re.match(r"l\.ad:(8|9):", run.stderr), run.stderr


def test_billion_laughs_cost_is_bounded(work):
    """`cost` only counts: it may report 10 G flops, but it must not build the values."""
    (work / "l.ad").write_text(laughs("x"))
    run = adcli("cost", "l.ad", "--set", "x=1", cwd=work)
    assert run.rc in (0, 2) and run.seconds < FAST, (run.rc, run.seconds, run.stderr[-1000:])
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr


def test_billion_laughs_through_functions(work):
    """f39(x) doubles a call tree 39 times: 2**39 calls if unrolled; must stop cleanly and fast."""
    source = "def f0(a) = a * 2\n" + "".join(f"def f{i}(a) = f{i - 1}(f{i - 1}(a))\n" for i in range(1, 40))
    (work / "f.ad").write_text(source + "y = f39(x)\n")
    run = adcli("grad", "f.ad", "--set", "x=1", cwd=work, timeout=FAST + 5)
    assert_clean(run, message=[], at="f.ad")


def test_zeros_100000_by_100000(work):
    (work / "z.ad").write_text("input x: []\ny = sum(zeros([100000, 100000])) + x\n")
    assert_clean(adcli("grad", "z.ad", "--set", "x=1", cwd=work),
                 message=["[100000, 100000]", "74.5 GiB", "256 MiB"], at="z.ad:2")


@pytest.mark.parametrize("expression", ["eye(1000000)", "ones([2147483648])", "arange(1000000000000)",
                                        "zeros([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10])"])
def test_other_constructors_too_large(work, expression):
    (work / "z.ad").write_text(f"y = sum({expression}) + x\n")
    assert_clean(adcli("eval", "z.ad", "--set", "x=1", cwd=work), message=["re:[KMGT]iB|too large"], at="z.ad:1")


def test_einsum_outer_product_too_large(work):
    (work / "e.ad").write_text('input v: [100]\ny = sum(einsum("a,b,c,d,e,f->abcdef", v, v, v, v, v, v))\n')
    run = adcli("grad", "e.ad", "--set", "v=" + json.dumps([0.5] * 100), cwd=work)
    assert_clean(run, message=["[100, 100, 100, 100, 100, 100]", "re:[KMGT]iB"], at="e.ad:2")


def test_hessian_of_100000_elements(work):
    """The Hessian of a function of 10**5 elements has 10**10 entries (74.5 GiB): dense, refused;
    it is diagonal, so compressed it takes one pass and 10**5 stored entries."""
    (work / "h.ad").write_text("input v: [n]\ny = sum(v * v)\n")
    np.savez(work / "v.npz", v=np.linspace(-1, 1, 100_000))
    run = adcli("hessian", "h.ad", "--inputs", "v.npz", "--dense", cwd=work)
    assert_clean(run, message=["Hessian", "[100000, 100000]", "74.5 GiB"], at="h.ad:2")
    run = adcli("hessian", "h.ad", "--inputs", "v.npz", "--json", cwd=work)
    assert run.rc == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["passes"] == 1 and data["sparse"]["stored"] == 100_000
    block = data["hessian"]["v"]["v"]
    assert block["shape"] == [100_000, 100_000] and block["row"] == block["col"] == list(range(100_000))
    assert set(block["data"]) == {2.0}


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_jacobian_of_a_huge_output(work, mode):
    """exp(v) for 20,000 elements is fine; its dense Jacobian (20,000 × 20,000, 2.98 GiB) is not,
    and compressed (it is diagonal) it takes one pass."""
    (work / "j.ad").write_text("input v: [n]\ny = exp(v)\n")
    np.savez(work / "v.npz", v=np.zeros(20_000))
    run = adcli("jacobian", "j.ad", "--inputs", "v.npz", "--mode", mode, "--dense", cwd=work)
    assert_clean(run, message=["Jacobian", "[20000, 20000]", "2.98 GiB"], at="j.ad:2")
    run = adcli("jacobian", "j.ad", "--inputs", "v.npz", "--mode", mode, cwd=work)
    assert run.rc == 0 and "1 pass, one per colour" in run.stdout and "20000 stored entries" in run.stdout, run.stderr


def test_jacobian_of_an_output_too_large_to_compute(work):
    (work / "j.ad").write_text("input v: [n]\ny = outer(v, v)\n")
    np.savez(work / "v.npz", v=np.zeros(100_000))
    assert_clean(adcli("jacobian", "j.ad", "--inputs", "v.npz", cwd=work), message=["[100000, 100000]", "GiB"],
                 at="j.ad:2")


def test_memory_exhaustion_below_the_limit_is_a_clean_error(work):
    """ADCLI_MAX_BYTES at its default (4 GiB) on a process that may only map 2 GiB: 3.2 GB of
    zeros passes the size check but cannot be allocated. That must still be an error message
    (not a traceback or `internal error: MemoryError`)."""
    (work / "z.ad").write_text("y = sum(ones([20000, 20000]) * x)\n")
    run = adcli("eval", "z.ad", "--set", "x=1", cwd=work, max_bytes=None)
    assert_clean(run, message=["re:[Mm]emory|GiB|GB"])


@pytest.mark.parametrize("inputs", ["in.json", "in.npz", "fifo.json", None], ids=["json", "npz", "fifo", "set"])
def test_small_inputs_need_little_memory_at_the_default_limit(work, inputs):
    """With ADCLI_MAX_BYTES unset (4 GiB), reading a 20-byte input file or a 20-byte program must
    not reserve the whole limit up front: under a 2 GiB address-space limit it works."""
    (work / "m.ad").write_text("y = x * x\n")
    (work / "in.json").write_text('{"x": 3}')
    np.savez(work / "in.npz", x=np.float64(3.0))
    args = ["--set", "x=3"]
    if inputs == "fifo.json":
        os.mkfifo(work / "fifo.json")
        feed(work / "fifo.json", b'{"x": 3}')
    if inputs:
        args = ["--inputs", inputs]
    run = adcli("grad", "m.ad", *args, "--json", cwd=work, max_bytes=None)
    assert_clean(run, rc=0)
    assert json.loads(run.stdout)["grad"] == {"x": 6.0}


# ---------------------------------------------------------------------------------------------
# Files that never end, or inflate
# ---------------------------------------------------------------------------------------------

def test_file_that_is_a_symlink_to_dev_zero(work):
    (work / "m.ad").symlink_to("/dev/zero")
    assert_clean(adcli("eval", "m.ad", cwd=work), message=["m.ad", "not a regular file"])


@pytest.mark.parametrize("suffix", [".json", ".npz", ".npy", ""])
def test_inputs_that_is_a_symlink_to_dev_zero(work, suffix):
    (work / "m.ad").write_text("y = x * 2\n")
    (work / f"in{suffix}").symlink_to("/dev/zero")
    assert_clean(adcli("eval", "m.ad", "--inputs", f"in{suffix}", cwd=work),
                 message=[f"--inputs in{suffix}", "not a regular file"])


def feed(fifo: Path, data: bytes | None, forever: bool = False) -> threading.Thread:
    """Write data (or zeros without end) into a FIFO once a reader opens it."""
    def run():
        try:
            with open(fifo, "wb") as f:
                if forever:
                    chunk = bytes(1 << 16)
                    while True:
                        f.write(chunk)
                else:
                    f.write(data)
        except (BrokenPipeError, OSError):
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_fifo_as_file_is_read_as_cat_reads_it(work):
    os.mkfifo(work / "m.ad")
    writer = feed(work / "m.ad", b"u = x + 1\ny = x * u\n")
    run = adcli("grad", "m.ad", "--set", "x=17", "--json", cwd=work)
    writer.join(5)
    assert_clean(run, rc=0)
    assert json.loads(run.stdout) == {"output": "y", "value": 306.0, "grad": {"x": 35.0}}


def test_fifo_as_inputs_is_read(work):
    (work / "m.ad").write_text("y = x * x\n")
    os.mkfifo(work / "in.json")
    writer = feed(work / "in.json", b'{"x": 3}')
    run = adcli("grad", "m.ad", "--inputs", "in.json", "--json", cwd=work)
    writer.join(5)
    assert_clean(run, rc=0)
    assert json.loads(run.stdout)["grad"] == {"x": 6.0}


def test_endless_fifo_as_file_stops_at_the_limit(work):
    """A FIFO that never ends (zeros forever) is read up to the source limit (a sixteenth of
    ADCLI_MAX_BYTES), then refused, saying so."""
    os.mkfifo(work / "m.ad")
    feed(work / "m.ad", None, forever=True)
    run = adcli("eval", "m.ad", cwd=work, max_bytes="1M")
    assert_clean(run, message=["m.ad", "re:more than [\\d.,]+ ?[KMG]?i?B", "over the limit"])


def test_endless_standard_input_stops_at_the_limit(work):
    run = adcli("eval", "-", cwd=work, max_bytes="1M", stdin=bytes(8 << 20))
    assert_clean(run, message=["re:more than [\\d.,]+ ?(bytes|[KMG]iB)", "re:limit"])


def header(shape, fortran: bool = False, descr: str = "<f8") -> bytes:
    """An .npy version 1.0 header claiming any shape."""
    text = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, tuple(shape))
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1")


def deflate_bomb(path: Path, member: str, head: bytes, zeros: int) -> None:
    """A zip whose one member is `head` then `zeros` zero bytes, deflated to about 1/1000 of that:
    16 MiB segments compressed once and repeated (each ends in a full flush, so they concatenate
    into one valid deflate stream), written by hand so building 2 GiB takes a second, not a minute."""
    chunk = 16 << 20
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = first.compress(head) + first.flush(zlib.Z_FULL_FLUSH)
    seg = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = seg.compress(bytes(chunk)) + seg.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(zeros, chunk)
    tail_obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = tail_obj.compress(bytes(rest)) + tail_obj.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    block = bytes(chunk)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    size = len(head) + zeros
    assert size < 2**32, "no zip64 here"
    csize = len(start) + count * len(segment) + len(tail)
    name = member.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, csize, size, len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, csize, size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    with open(path, "wb") as f:
        f.write(local)
        f.write(start)
        for _ in range(count):
            f.write(segment)
        f.write(tail)
        offset = f.tell()
        f.write(central)
        f.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0))


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """2 MB .npz archives whose one member inflates to 2 GiB, with headers claiming 2 GiB, a
    negative size, and three elements."""
    d = tmp_path_factory.mktemp("bombs")
    out = {}
    for name, shape in (("claims-2gib", (2**28,)), ("negative", (-1,)), ("negative-2d", (2, -1)), ("three", (3,))):
        path = d / f"{name}.npz"
        deflate_bomb(path, "v.npy", header(shape), (2 << 30) - 128)
        out[name] = path
    with zipfile.ZipFile(out["three"]) as z:  # the archive is sound: it inflates as claimed
        info = z.getinfo("v.npy")
        assert info.file_size > 2**31 - 200 and out["three"].stat().st_size < 3 << 20
    return out


def test_npz_bomb_whose_header_claims_2_gib(work, bombs):
    (work / "m.ad").write_text("input v: [n]\ny = sum(v * v)\n")
    run = adcli("grad", "m.ad", "--inputs", bombs["claims-2gib"], cwd=work)
    assert_clean(run, message=["v:", "[268435456]", "2 GiB", "256 MiB"])


@pytest.mark.parametrize("which", ["negative", "negative-2d"])
def test_npz_bomb_with_a_negative_shape(work, bombs, which):
    """A header claiming shape (-1,) must be refused, not taken as 'read everything' (the member
    inflates to 2 GiB)."""
    (work / "m.ad").write_text("input v: [n]\ny = sum(v * v)\n")
    run = adcli("grad", "m.ad", "--inputs", bombs[which], cwd=work)
    assert_clean(run, message=["v:"])


def test_npz_bomb_with_a_small_header_reads_only_what_it_claims(work, bombs):
    (work / "m.ad").write_text("input v: [n]\ny = sum(v * v)\n")
    run = adcli("grad", "m.ad", "--inputs", bombs["three"], "--json", cwd=work)
    assert run.rc in (0, 2), run.stderr
    assert_clean(run, rc=run.rc)
    if run.rc == 0:
        assert json.loads(run.stdout)["grad"] == {"v": [0.0, 0.0, 0.0]}


def test_npy_header_claiming_a_huge_shape(work):
    (work / "m.ad").write_text("input v: [n, n]\ny = sum(v)\n")
    (work / "v.npy").write_bytes(header((10**6, 10**6)) + bytes(64))
    assert_clean(adcli("eval", "m.ad", "--inputs", "v.npy", cwd=work),
                 message=["[1000000, 1000000]", "re:[KMGT]iB"])


def test_npy_with_a_negative_shape(work):
    (work / "m.ad").write_text("input v: [n]\ny = sum(v)\n")
    (work / "v.npy").write_bytes(header((-1,)) + bytes(64))
    assert_clean(adcli("eval", "m.ad", "--inputs", "v.npy", cwd=work), message=["v.npy"])


# ---------------------------------------------------------------------------------------------
# Work: loops
# ---------------------------------------------------------------------------------------------

def test_100000_iteration_loop_works(work):
    """Parsing and differentiating a loop unrolled 100,000 times stays well within 30 s."""
    (work / "loop.ad").write_text("h = x\nfor t in range(100000):\n    h = sin(h) + x\n")
    run = adcli("grad", "loop.ad", "--set", "x=0.5", "--json", cwd=work, timeout=60)
    assert_clean(run, rc=0, seconds=30)
    h, dh = 0.5, 1.0
    for _ in range(100_000):
        h, dh = np.sin(h) + 0.5, np.cos(h) * dh + 1.0
    result = json.loads(run.stdout)
    assert result["value"] == pytest.approx(h, rel=1e-12)
    assert result["grad"]["x"] == pytest.approx(dh, rel=1e-9)


@pytest.mark.parametrize("source", [
    "h = x\nfor t in range(1000000000):\n    h = sin(h) + x\n",
    "h = x\nfor t in range(0, 1000000000000000000000):\n    h = h + x\n",
    "h = x\nfor i in range(1000):\n    for j in range(1000):\n        for k in range(1000):\n            h = h + x\n",
], ids=["1e9", "1e21", "1000-cubed"])
def test_loops_too_long_to_unroll_are_refused(work, source):
    """A loop of 10**9 iterations would unroll into 10**9 graph nodes: it must be refused at once,
    at the `for` line, saying how many iterations (or nodes) it asks for, not run until the
    memory or the patience runs out."""
    (work / "loop.ad").write_text(source)
    run = adcli("grad", "loop.ad", "--set", "x=0.5", cwd=work, timeout=FAST + 5)
    assert_clean(run, message=["re:1[,_ ]?000[,_ ]?000[,_ ]?000|10\\*\\*9|1e\\+?0?9|10⁹|billion|iterations"])
    assert re.match(r"loop\.ad:[2-5]:", run.stderr), run.stderr


# ---------------------------------------------------------------------------------------------
# The grammar cache
# ---------------------------------------------------------------------------------------------

def cache_path(cache_home: Path) -> Path:
    """Where adcli keeps its analysed grammar under this XDG_CACHE_HOME (adcli.language.parser.grammar_cache)."""
    code = ("import os, sys; os.environ['XDG_CACHE_HOME'] = sys.argv[1]; "
            "from adcli.language.parser import grammar_cache; print(grammar_cache() or '')")
    out = subprocess.run([sys.executable, "-c", code, str(cache_home)], capture_output=True, text=True, timeout=60)
    path = out.stdout.strip()
    if path:
        return Path(path)
    import lark
    return cache_home / "adcli" / f"grammar-v2-lark{lark.__version__}.cache"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "link-to-fifo", "directory", "garbage", "huge-sparse",
                                  "dangling-link"])
def test_grammar_cache_that_is_not_a_regular_file_does_not_hang(work, kind):
    cache_home = work / "cache"
    path = cache_path(cache_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "link-to-fifo":
        os.mkfifo(work / "f")
        path.symlink_to(work / "f")
    elif kind == "directory":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(b"\x80\x04not a pickle" * 1000)
    elif kind == "huge-sparse":
        with open(path, "wb") as f:
            f.truncate(3 << 30)
    else:
        path.symlink_to(work / "nowhere")
    (work / "m.ad").write_text("y = x * x\n")
    run = adcli("grad", "m.ad", "--set", "x=3", "--json", cwd=work, env={"XDG_CACHE_HOME": str(cache_home)},
                timeout=30)
    assert_clean(run, rc=0, seconds=FAST)
    assert json.loads(run.stdout)["grad"] == {"x": 6.0}
    if kind in ("fifo", "dev-zero", "link-to-fifo"):
        assert not stat.S_ISREG(os.lstat(path).st_mode)  # left alone, not written through


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link", "file"])
def test_cache_folder_that_is_not_a_folder(work, kind):
    cache_home = work / "cache"
    cache_home.mkdir()
    folder = cache_home / "adcli"
    if kind == "fifo":
        os.mkfifo(folder)
    elif kind == "dev-zero-link":
        folder.symlink_to("/dev/zero")
    else:
        folder.write_text("x")
    (work / "m.ad").write_text("y = x * x\n")
    run = adcli("eval", "m.ad", "--set", "x=3", cwd=work, env={"XDG_CACHE_HOME": str(cache_home)}, timeout=30)
    assert_clean(run, rc=0)


def test_cache_home_that_is_a_fifo(work):
    os.mkfifo(work / "cachefifo")
    (work / "m.ad").write_text("y = x * x\n")
    run = adcli("eval", "m.ad", "--set", "x=3", cwd=work, env={"XDG_CACHE_HOME": str(work / "cachefifo")}, timeout=30)
    assert_clean(run, rc=0)


def root_caches() -> dict:
    """Every file under /.cache/adcli and /adcli, with its modification time (a cache put in /)."""
    found = {}
    for folder in (Path("/.cache/adcli"), Path("/adcli"), Path("/.cache")):
        if folder.is_dir():
            found[str(folder)] = None
            for p in folder.iterdir():
                try:
                    found[str(p)] = p.lstat().st_mtime_ns
                except OSError:
                    pass
    return found


@pytest.mark.parametrize("home, cache", [("", ""), ("relative", ""), ("", "relative-cache"), ("relative", "rel2"),
                                         (".", "."), ("..", "")])
def test_empty_or_relative_home_puts_no_cache_in_root_or_here(work, home, cache):
    """An empty or relative HOME or XDG_CACHE_HOME is ignored (the XDG rule): no cache in the
    current directory, and none in / (what a failing run put there is removed again)."""
    here = work / "here"
    here.mkdir()
    (here / "m.ad").write_text("y = x * x\n")
    before = root_caches()
    run = adcli("eval", "m.ad", "--set", "x=3", cwd=here, env={"HOME": home, "XDG_CACHE_HOME": cache}, timeout=30)
    after = root_caches()
    written = sorted(p for p, t in after.items() if p not in before or (t is not None and before.get(p) != t))
    for p in sorted(set(after) - set(before), reverse=True):  # undo what this run created in /
        try:
            os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        except OSError:
            pass
    assert_clean(run, rc=0)
    assert not written, f"the run wrote its cache in /: {written}"
    assert sorted(p.name for p in here.iterdir()) == ["m.ad"], list(here.rglob("*"))
    assert sorted(p.name for p in work.iterdir()) == ["here"], list(work.iterdir())


def test_eval_holds_the_assigned_values_not_every_temporary():
    """`eval` returns only assignments, so a chain of temporaries is released as it goes: 2,000
    operations on 10,000 elements once held 160 MB (the fuzzer's power tower ran out of memory);
    now a few arrays at a time. Memory is counted by tracemalloc, in arrays' worth."""
    import tracemalloc

    import numpy as np

    import adcli
    program = adcli.parse("input x: [10000]\ny = sum(" + "sin(" * 2000 + "x" + ")" * 2000 + " * 0)\n")
    x = np.zeros(10000)
    program.eval(x=x)  # warm: shapes planned, rules compiled
    tracemalloc.start()
    try:
        values = program.eval(x=x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert values["y"] == 0.0
    assert peak < 20 * x.nbytes, f"{peak / x.nbytes:.0f} arrays' worth held"
