"""A fuzzer for adcli's command line: random and hostile cases, each run as `python -m adcli ...` in
a fresh directory under a time limit and a memory limit, classified, grouped by failure class,
with one small reproducer kept per class.

    python -m tests.fuzz --runs 5000 --seed 1 --out fuzz-out      # from the top of the checkout
    python tests/fuzz/fuzz.py --runs 5000 --seed 1 --out fuzz-out  # the same
    python tests/fuzz/fuzz.py --replay fuzz-out/03-internal-keyerror/case.json

See tests/fuzz/README.md. Nothing here imports adcli's CLI: every case is a separate process, so
a crash, a hang or a memory blow-up of adcli is observed from outside, as a user would see it.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import multiprocessing
import os
import re
import resource
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fuzz_gen import OPTIONAL_COMMANDS, REPO, Case, Generator  # noqa: E402

ALLOWED_EXIT = {0, 1, 2, 3, 74, 130}
DEFAULT_MEMORY = 2 << 30  # RLIMIT_AS of each adcli process
DEFAULT_MAX_BYTES = "256M"  # ADCLI_MAX_BYTES: adcli's own limit, well below the memory limit
OUTPUT_LIMIT = 64 << 20
NONUTF8_NAME = os.fsdecode(b"m\xff\x1b[2J.ad")  # a FILE name that is not UTF-8 and holds ESC  # RLIMIT_FSIZE: stdout, stderr and files adcli writes

# Control characters that act on a terminal (everything in C0 and DEL except tab and newline; C1 as
# UTF-8). Raw ones in adcli's output can only have come from data.
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]")

# Colour and style sequences (SGR) and hyperlinks (OSC 8), which a terminal may rightly receive.
STYLE_SEQUENCE = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b\x07]*(\x1b\\|\x07)")

POSITIONED = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<kind>error|warning): (?P<msg>.*)$")
UNPOSITIONED = re.compile(r"^adcli: error: (?P<msg>.*)$")
CLICK_USAGE = re.compile(r"^Error: (?P<msg>.*)$")

# Unpositioned messages that are about the command line, the environment or FILE as a whole (not
# its content), so they rightly carry no FILE:LINE:COL.
COMMAND_LINE_MESSAGES = [
    r"^--", r"^-o ", r"^ADCLI_MAX_BYTES", r"^'[^']*' is not an input of this file", r"^give a direction with --tangent",
    r"^forward mode traces one input", r"^the shape of input", r"^dimension '[^']*' of input '[^']*' is unknown",
    r"^input '[^']*' has \d+ dimensions", r"^drawing a \.", r"^Graphviz", r"^cannot write output",
    r"^unknown function or operator", r"^unknown function '", r"^no function or operator", r"^'[^']*' is not a function",
]
FILE_MESSAGES = [r": no such file", r": is a directory", r": is not a regular file", r": cannot read it",
                 r": the file has .* over the limit", r"more than .* to read, over the limit", r": not UTF-8",
                 r"not valid UTF-8", r"cannot be decoded", r"is empty", r"^standard input"]


# ---------------------------------------------------------------------------------------------
# Running one case
# ---------------------------------------------------------------------------------------------

def default_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def expand_arg(arg: str) -> str:
    """Paths in a case are relative to its directory (the run's working directory); a NUL cannot
    be in an argument at all, so it is dropped."""
    return arg.replace("{dir}/", "").replace("{dir}", ".").replace("\x00", "")


def file_argument(case: Case) -> list[str]:
    mode = case.file_mode
    if case.source is None:
        return []
    return {"file": [case.file_name], "huge": [case.file_name], "stdin": ["-"], "fifo": [case.file_name], "devzero": [case.file_name],
            "devnull": [case.file_name], "devurandom": [case.file_name], "missing": ["missing.ad"],
            "directory": ["."], "nonutf8name": [NONUTF8_NAME],
            "dash-dash-file": ["--json.ad"], "option-like-file": ["--json.ad"]}[mode]


def argv_for(case: Case, python: str) -> list[str]:
    args = [expand_arg(a) for a in case.args]
    file_args = file_argument(case)
    if case.file_mode in ("dash-dash-file", "option-like-file"):
        return [python, "-m", "adcli", case.command] + args + ["--"] + file_args
    return [python, "-m", "adcli", case.command] + file_args + args


def materialize(case: Case, d: Path) -> list[subprocess.Popen]:
    """Write the case's files in d; start the writers of its FIFOs (returned, to be reaped)."""
    writers = []
    for name, data in case.files.items():
        (d / name).write_bytes(data)
    mode = case.file_mode
    if case.source is not None:
        target = d / case.file_name
        if mode == "file":
            target.write_bytes(case.source)
        elif mode == "huge":
            target.write_bytes(case.source)
            os.truncate(target, 300 << 20)  # sparse: 300 MiB of NULs after the program
        elif mode == "fifo":
            (d / ".source").write_bytes(case.source)
            os.mkfifo(target)
            writers.append(fifo_writer(d / ".source", target))
        elif mode in ("devzero", "devnull", "devurandom"):
            os.symlink({"devzero": "/dev/zero", "devnull": "/dev/null", "devurandom": "/dev/urandom"}[mode], target)
        elif mode == "nonutf8name":
            (d / NONUTF8_NAME).write_bytes(case.source)
        elif mode in ("dash-dash-file", "option-like-file"):
            (d / "--json.ad").write_bytes(case.source)
    for name, target in case.links.items():
        if target.startswith("fifo:"):
            os.mkfifo(d / name)
            writers.append(fifo_writer(d / target[5:], d / name))
        else:
            os.symlink(target, d / name)
    return writers


def fifo_writer(source: Path, fifo: Path) -> subprocess.Popen:
    """`cat source > fifo` in the background (blocks until adcli opens the FIFO, if ever)."""
    return subprocess.Popen(["sh", "-c", 'exec cat "$1" > "$2"', "sh", str(source), str(fifo)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def limits(memory: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT, OUTPUT_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def base_env(home: str, max_bytes: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "ADCLI_MAX_BYTES": max_bytes,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
    return env


def limits_and_closed(memory: int, closed: tuple):
    """The child's resource limits, then the standard streams the case wants closed."""
    apply_limits = limits(memory)

    def apply():
        apply_limits()
        for fd in closed:
            os.close(fd)
    return apply


CLOSED = {"stdout-closed": (1,), "stderr-closed": (2,), "stdin-closed": (0,), "all-closed": (0, 1, 2)}


class Launch:
    """One adcli process of a case, in its own fresh directory, with its streams connected as the
    case says (see fuzz_gen.SURROUNDINGS): started, then watched, then observed."""

    def __init__(self, case: Case, python: str, home: str, memory: int, max_bytes: str):
        self.case, self.d = case, Path(tempfile.mkdtemp(prefix="adcli-fuzz-"))
        self.writers, self.readers, self.captured, self.proc = [], [], [], None
        self.writers = materialize(case, self.d)
        env = base_env(home, max_bytes)
        for k, v in case.env.items():
            env[k] = v.replace("{dir}", str(self.d)).replace("\x00", "")
        self.env, self.argv = env, argv_for(case, python)
        self.memory = memory

    def start(self) -> None:
        """Start the process (no thread of this harness runs while it forks: readers start after)."""
        case, d = self.case, self.d
        streams = case.streams
        self.before = file_digests(d)
        self.stdin_data = case.source if case.file_mode == "stdin" and streams not in ("stdin-closed", "all-closed") \
            else None
        self.out_path, self.err_path = d / ".stdout", d / ".stderr"
        opened = []
        err = open(self.err_path, "wb")
        opened.append(err)
        primary = None
        if streams == "stdout-full":
            out = open("/dev/full", "wb")
            opened.append(out)
        elif streams in ("head",):
            primary, out = os.pipe()
        elif streams == "tty":
            import fcntl
            import pty
            import struct
            import termios
            primary, out = pty.openpty()
            fcntl.ioctl(out, termios.TIOCSWINSZ, struct.pack("HHHH", 24, case.columns, 0, 0))
        else:
            out = open(self.out_path, "wb")
            opened.append(out)
        stdin = subprocess.PIPE if self.stdin_data is not None else (out if streams == "tty" else subprocess.DEVNULL)
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.argv, cwd=d, env=self.env, stdin=stdin, stdout=out, stderr=err,
                                         preexec_fn=limits_and_closed(self.memory, CLOSED.get(streams, ())),
                                         start_new_session=True)
        finally:
            for f in opened:
                f.close()
            if isinstance(out, int):
                os.close(out)
        if primary is not None:
            limit = case.head if streams == "head" else OUTPUT_LIMIT
            import threading
            reader = threading.Thread(target=read_until, args=(primary, limit, self.captured), daemon=True)
            reader.start()
            self.readers.append(reader)
        if self.stdin_data is not None:
            try:
                self.proc.stdin.write(self.stdin_data)
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def poll(self, timeout: float):
        """The wait status once the process has ended (killing it past the time limit), else None."""
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid:
            self.timed_out, self.status, self.usage = False, status, usage
            return status
        if time.monotonic() - self.started > timeout:
            kill_group(self.proc.pid)
            _, self.status, self.usage = os.wait4(self.proc.pid, 0)
            self.timed_out = True
            return self.status
        return None

    def observe(self, keep: Path | None = None) -> dict:
        """The raw observation: exit code (or signal), outputs, time, peak memory, files touched."""
        d, case = self.d, self.case
        self.proc.returncode = os.waitstatus_to_exitcode(self.status)
        elapsed = time.monotonic() - self.started
        for reader in self.readers:
            reader.join(timeout=5)
        if case.streams in ("head", "tty"):
            stdout = self.captured[0] if self.captured else b""
        else:
            stdout = self.out_path.read_bytes() if self.out_path.exists() else b""
        stderr = self.err_path.read_bytes()
        after = file_digests(d)
        named = {os.path.relpath(os.path.join(d, path), d) for path in named_outputs(self.argv)}
        touched = sorted(name for name in set(self.before) | set(after)
                         if self.before.get(name) != after.get(name) and name not in named
                         and name not in (".stdout", ".stderr") and not own_cache(name, self.env, d))
        module = d / "mod.py"
        exported = module.read_bytes()[: OUTPUT_LIMIT] if module.is_file() and not module.is_symlink() else None
        if keep is not None:
            shutil.copytree(d, keep, symlinks=True, dirs_exist_ok=True, ignore=lambda *_: [])
        mark = str(d).encode()
        return {"rc": self.proc.returncode, "timed_out": self.timed_out, "elapsed": round(elapsed, 3),
                "maxrss_kb": self.usage.ru_maxrss if self.usage else 0, "stdout": stdout, "stderr": stderr,
                "argv": self.argv[1:], "exported": exported, "touched": touched,
                "same_stdout": stdout.replace(mark, b"{dir}"), "same_stderr": stderr.replace(mark, b"{dir}")}

    def close(self) -> None:
        for w in self.writers:
            kill_group(w.pid)
            try:
                w.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.returncode is None:
            kill_group(self.proc.pid)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.d, ignore_errors=True)


def read_until(fd: int, limit: int, sink: list) -> None:
    """A reader of adcli's stdout: `head -c limit` on a pipe, or a terminal read until it closes."""
    data = b""
    try:
        while len(data) < limit:
            try:
                chunk = os.read(fd, min(65536, limit - len(data)))
            except OSError:  # a terminal whose other side has closed
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
        sink.append(data)


def run_together(cases: list, python: str, home: str, timeout: float, memory: int, max_bytes: str,
                 keep: Path | None = None) -> list[dict]:
    """Run the cases' processes at the same time; their observations, in order."""
    launches = []
    try:
        for case in cases:
            launches.append(Launch(case, python, home, memory, max_bytes))
        for launch in launches:
            launch.start()
        pending = list(launches)
        while pending:
            pending = [launch for launch in pending if launch.poll(timeout) is None]
            if pending:
                time.sleep(0.005)
        return [launch.observe(keep if k == len(launches) - 1 else None) for k, launch in enumerate(launches)]
    finally:
        for launch in launches:
            launch.close()


def run_case(case: Case, python: str, home: str, timeout: float, memory: int, max_bytes: str,
             keep: Path | None = None) -> dict:
    """Run one case in its surroundings; the observation of its last run, with `problem` set when the
    runs disagree in a way they must not (see fuzz_gen.SURROUNDINGS)."""
    if case.cache != "shared":
        fresh = tempfile.mkdtemp(prefix="adcli-fuzz-cache-")
        try:
            runs = []
            if case.cache == "concurrent":
                runs += run_together([case] * case.copies, python, fresh, timeout * case.copies, memory, max_bytes)
            else:
                runs += run_together([case], python, fresh, timeout, memory, max_bytes)
            runs += run_together([case], python, fresh, timeout, memory, max_bytes, keep)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        runs[-1]["problem"] = cache_problem(case, runs)
        return runs[-1]
    if case.streams != "files":
        plain = Case.from_json({**case.to_json(), "streams": "files"})
        before, after = run_together([plain], python, home, timeout, memory, max_bytes) + \
            run_together([case], python, home, timeout, memory, max_bytes, keep)
        after["problem"] = streams_problem(case, before, after)
        return after
    return run_together([case], python, home, timeout, memory, max_bytes, keep)[0]


def cache_problem(case: Case, runs: list[dict]) -> str | None:
    """Runs on one fresh cache, cold, warm or at once, must agree byte for byte."""
    if any(r["timed_out"] for r in runs):
        return None  # the time limit is the problem, and classify says so
    first = runs[0]
    for k, r in enumerate(runs[1:], 1):
        which = "the warm run" if k == len(runs) - 1 else f"concurrent run {k + 1}"
        if r["rc"] != first["rc"]:
            return f"cache {case.cache}: {which} exits {r['rc']}, the first {first['rc']}"
        if r["same_stdout"] != first["same_stdout"]:
            return f"cache {case.cache}: {which} prints other output than the first"
        if r["same_stderr"] != first["same_stderr"]:
            return f"cache {case.cache}: {which} says other things on stderr than the first"
    return None


def streams_problem(case: Case, plain: dict, odd: dict) -> str | None:
    """What the odd surroundings changed that they must not have (None: nothing)."""
    if plain["timed_out"] or odd["timed_out"]:
        return None
    streams, p_rc, o_rc = case.streams, plain["rc"], odd["rc"]
    printed = bool(plain["stdout"])
    helping = any(a in ("--help", "-h", "-V", "--version") for a in case.args)
    if streams == "all-closed" and case.file_mode == "stdin" and not helping:
        # lint reports every file's errors on stdout, the unreadable one too: with stdout closed, 74
        allowed = {2, 74} if case.command == "lint" else {2}
        if o_rc not in allowed:
            return f"all-closed with FILE '-': exit {o_rc}, not 2 (standard input is closed)"
    elif streams in ("stdout-closed", "stdout-full", "all-closed"):
        expected = ({2, 74} if p_rc == 2 else {74}) if printed else {p_rc}
        if o_rc not in expected:
            return (f"{streams}: exit {o_rc}, where the plain run exits {p_rc} "
                    f"{'after printing' if printed else 'printing nothing'}")
        if o_rc == 74 and streams != "all-closed" and b"cannot write output" not in odd["stderr"]:
            return f"{streams}: exit 74 without saying the output could not be written"
    elif streams == "stdin-closed" and case.file_mode == "stdin":
        if o_rc != 2 or b"standard input is closed" not in odd["stderr"]:
            return f"stdin-closed with FILE '-': exit {o_rc} without 'standard input is closed'"
    elif streams in ("stdin-closed", "stderr-closed"):
        if o_rc != p_rc:
            return f"{streams}: exit {o_rc}, where the plain run exits {p_rc}"
        if odd["same_stdout"] != plain["same_stdout"]:
            return f"{streams}: stdout differs from the plain run's"
    elif streams == "head":
        if odd["same_stdout"] != plain["same_stdout"][: case.head]:
            return "head: the bytes read are not the start of the plain run's output"
        allowed = {p_rc} if len(plain["stdout"]) <= case.head else {p_rc, 1}
        if o_rc not in allowed:
            return f"head: exit {o_rc}, where the plain run exits {p_rc}"
    elif streams == "tty" and o_rc != p_rc:
        return f"tty: exit {o_rc} on a terminal {case.columns} columns wide, where the plain run exits {p_rc}"
    return None


OUTPUT_OPTIONS = ("-o", "--output", "--junit-xml")


def named_outputs(args) -> set[str]:
    """The files a command line names as its outputs (the value after -o, --output, --junit-xml)."""
    named = set()
    for k, arg in enumerate(args):
        if arg in OUTPUT_OPTIONS and k + 1 < len(args):
            named.add(os.path.normpath(args[k + 1]))
        for option in OUTPUT_OPTIONS[1:]:
            if arg.startswith(option + "="):
                named.add(os.path.normpath(arg.split("=", 1)[1]))
    return named


def own_cache(name: str, env: dict, d: Path) -> bool:
    """Whether a file is adcli's own cache (the grammar's, the programs'), which it may write: under
    $XDG_CACHE_HOME/adcli, or ~/.cache/adcli when that is unset or not an absolute path."""
    path = os.path.join(d, name)
    roots = [os.path.join(env.get("HOME", ""), ".cache", "adcli")]
    if os.path.isabs(env.get("XDG_CACHE_HOME", "")):
        roots.append(os.path.join(env["XDG_CACHE_HOME"], "adcli"))
    return any(os.path.commonpath([path, root]) == root for root in roots if os.path.isabs(root))


def file_digests(d: Path) -> dict[str, str]:
    """Every regular file below d (not FIFOs, devices or links), by path, as a digest of its bytes."""
    found = {}
    for root, _, files in os.walk(d):
        for name in files:
            path = Path(root, name)
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                with open(path, "rb") as f:
                    found[os.path.relpath(path, d)] = hashlib.sha256(f.read(OUTPUT_LIMIT)).hexdigest()
            except OSError:
                continue
    return found


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------------------------------------
# Classifying a run
# ---------------------------------------------------------------------------------------------

def pattern(message: str) -> str:
    """A message with its particulars (names, numbers, shapes, paths) blanked, for grouping."""
    m = message.strip()
    m = re.sub(r"\(a bug in adcli; ADCLI_DEBUG=1 shows where it happened\)", "", m)
    m = re.sub(r"'[^']*'", "'…'", m)
    m = re.sub(r'"[^"]*"', '"…"', m)
    m = re.sub(r"\[[^\]]*\]", "[…]", m)
    m = re.sub(r"<[^>]*>", "<…>", m)
    m = re.sub(r"(?<![\w])/[^\s:,)]+", "PATH", m)
    m = re.sub(r"0x[0-9a-fA-F]+", "0x…", m)
    m = re.sub(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?", "N", m)
    m = re.sub(r"\s+", " ", m).strip()
    return m[:100]


def exception_line(text: str) -> str:
    """The `Type: message` line ending a Python traceback."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning|Iteration|Fault)\b", ln):
            return ln
    return lines[-1] if lines else ""


def classify(case: Case, run: dict) -> tuple[str, str, str]:
    """(status, class, detail): status OK, ERROR (a clean error) or FAILURE; class groups failures."""
    rc, out_b, err_b = run["rc"], run["stdout"], run["stderr"]
    out = out_b.decode("utf-8", "replace")
    err = err_b.decode("utf-8", "replace")
    cmd = case.command
    if run["timed_out"]:
        return "FAILURE", "timeout", f"no exit within the time limit ({run['elapsed']:.1f} s)"
    if run.get("problem"):  # the odd surroundings changed what they must not (see run_case)
        return "FAILURE", pattern(run["problem"]), run["problem"] + f"; stderr: {err[-300:]!r}"
    if run.get("touched"):  # adcli writes only what it is told to: -o, --junit-xml
        return "FAILURE", "a file changed that was not named as output", ", ".join(run["touched"])
    if rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
        if sig == "SIGXFSZ":
            return "FAILURE", "output over 64 MiB", f"killed by SIGXFSZ after writing {len(out_b) + len(err_b)} bytes"
        return "FAILURE", f"killed by {sig}", f"signal {sig}; stderr: {err[-300:]}"
    memory_markers = ("MemoryError", "Unable to allocate", "Cannot allocate memory", "bad_alloc", "out of memory",
                      "OpenBLAS blas_thread_init")
    if rc == 2 and err.startswith("adcli: error: out of memory:") and "Traceback" not in err:
        # adcli's own answer when the machine (here RLIMIT_AS) gives less than its limit allows
        return "ERROR", "out of memory, said", ""
    if any(m in err for m in memory_markers):
        line = exception_line(err)
        return "FAILURE", f"memory exhaustion: {pattern(line)}", err[-600:]
    if "Traceback (most recent call last)" in err or "Traceback (most recent call last)" in out:
        line = exception_line(err if "Traceback" in err else out)
        if "_get_module_details" in err:  # `python -m adcli` could not even import the package
            return "FAILURE", f"adcli does not import: {pattern(line)}", err[-1500:]
        return "FAILURE", f"traceback {pattern(line)}", err[-1500:]
    internal = re.search(r"adcli: internal error: (.*)", err)
    if internal:
        return "FAILURE", f"internal error {pattern(internal.group(1))}", internal.group(0)
    if rc not in ALLOWED_EXIT:
        return "FAILURE", f"exit code {rc}", err[-600:]
    if rc == 74 and "File too large" in err:
        # the harness's own cap on output (RLIMIT_FSIZE, 64 MiB), which adcli reported cleanly
        return "ERROR", "output over the harness's 64 MiB cap", ""
    if RAW_CONTROL.search(err):
        ch = RAW_CONTROL.search(err).group()
        return "FAILURE", f"raw control character in stderr ({cmd})", f"{ch!r} in stderr: {err[:400]!r}"
    colour_forced = "FORCE_COLOR" in case.env or case.env.get("TERM", "").startswith("xterm")
    shown = out
    if case.streams == "tty":  # a terminal: its line endings, and colour unless NO_COLOR or TERM=dumb
        shown = out.replace("\r\n", "\n")
        colourless = case.env.get("NO_COLOR", "1") != "" or case.env.get("TERM") == "dumb"
        if colourless and "\x1b" in shown and "FORCE_COLOR" not in case.env:
            return "FAILURE", f"escape sequences on a terminal without colour ({cmd})", repr(shown[:400])
        shown = STYLE_SEQUENCE.sub("", shown)
        colour_forced = False
    if RAW_CONTROL.search(shown) and not colour_forced:
        ch = RAW_CONTROL.search(shown).group()
        return "FAILURE", f"raw control character in stdout ({cmd})", f"{ch!r} in stdout: {shown[:400]!r}"
    if case.streams in ("stderr-closed", "all-closed"):
        return ("OK", "", "") if rc == 0 else ("ERROR", "stderr closed", "")  # its message went nowhere
    if case.streams == "head" and rc == 1:
        return "ERROR", "closed pipe", ""  # the reader left; streams_problem checked it against the plain run
    helping = any(a in ("--help", "-h", "-V", "--version") for a in case.args)
    whole = case.streams in ("files", "stdin-closed")  # stdout was kept whole, in a file
    if whole and case.wants_json() and not helping and (rc in (0, 1, 3) or out.strip()):
        problem = json_problem(out)
        if problem and not (rc != 0 and not out.strip()):
            return "FAILURE", f"invalid JSON from {cmd}", problem
    if case.command == "export" and rc == 0 and not helping and (whole or "-o" in case.args or "--output" in case.args):
        written = "-o" in case.args or "--output" in case.args
        code = run.get("exported") if written else out_b
        if code is not None:
            try:
                tree = ast.parse(code, "exported module")
            except (SyntaxError, ValueError) as e:
                return "FAILURE", f"export wrote invalid Python: {pattern(str(e))}", f"{e}: {code[:300]!r}"
            if any(isinstance(n, ast.Name) and n.id == "ADCLI_FUZZ_INJECTED" for n in ast.walk(tree)):
                shown = code[:600].decode("utf-8", "replace") if isinstance(code, bytes) else code[:600]
                return "FAILURE", "export: text from the FILE name runs as code in the module", shown
    if rc == 0:
        return "OK", "", ""
    return error_form(case, rc, err, out)


def json_problem(text: str) -> str | None:
    """None if text is exactly one strict JSON value (no NaN or Infinity literals)."""
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")
    if not text.strip():
        return "empty stdout where JSON was asked for"
    try:
        json.loads(text, parse_constant=refuse)
    except ValueError as e:
        return f"{e}: {text[:300]!r}"
    return None


def error_form(case: Case, rc: int, err: str, out: str) -> tuple[str, str, str]:
    """A non-zero exit must come with one message: FILE:LINE:COL with the source line and a caret,
    or `adcli: error: ...` for the command line, or click's usage error."""
    if case.command == "lint" and rc == 2 and case.streams == "head" and re.search(r"Found \d+ errors? in", err):
        # lint lists its errors on stdout, here cut by `head -c N`; its summary on stderr still counts them
        return "ERROR", "lint found errors", ""
    if case.command == "lint" and rc == 2 and out.strip():
        if case.wants_json() or out.startswith("::"):  # the JSON was checked above; annotations are lines
            return "ERROR", "lint found errors", ""
        if POSITIONED.match(out.split("\n", 1)[0]):
            return lint_form(case, out)
        err = out + err  # lint lists every error on stdout, those about the command line too
    lines = err.split("\n")
    heads = [(i, ln) for i, ln in enumerate(lines) if POSITIONED.match(ln) and POSITIONED.match(ln)["kind"] == "error"
             or UNPOSITIONED.match(ln) or CLICK_USAGE.match(ln)]
    strict = any(a == "--strict" for a in case.args)
    if rc == 1 and case.command != "check" and not strict:
        return "FAILURE", f"exit 1 from {case.command} without --strict", err[-400:]
    if rc == 3 and case.command != "check":
        return "FAILURE", f"exit 3 from {case.command}", err[-400:]
    if rc == 1 and case.command == "check" and not heads:
        return "ERROR", "check failed", ""
    if rc == 3 and case.command == "check":
        return "ERROR", "check undefined", ""
    if not heads:
        if rc == 1 and not err.strip():
            return "ERROR", "exit 1", ""
        return "FAILURE", f"exit {rc} without an error message", err[-400:] or "(empty stderr)"
    if len([h for h in heads if not CLICK_USAGE.match(h[1])]) > 1:
        return "FAILURE", "several error messages for one run", err[:600]
    i, head = heads[0]
    m = POSITIONED.match(head)
    if m:
        # the source line and a caret follow (unless the source is unknown)
        rest = lines[i + 1: i + 3]
        if len(rest) == 2 and rest[1].strip() and not re.fullmatch(r"[ \t]*\^", rest[1]):
            return "FAILURE", "positioned error without a caret line", err[:600]
        line_no = int(m["line"])
        if case.source is not None and case.file_mode in ("file", "stdin", "fifo") and m["file"] in file_argument(case) + ["<stdin>", "-"]:
            text = case.source.decode("utf-8", "replace")
            n_lines = text.count("\n") + 1
            if line_no < 1 or line_no > n_lines or int(m["col"]) < 1:
                return "FAILURE", "error position outside the file", head[:300]
        return "ERROR", "positioned", ""
    u = UNPOSITIONED.match(head)
    if u:
        msg = u["msg"]
        if any(re.search(p, msg) for p in COMMAND_LINE_MESSAGES):
            return "ERROR", "command line", ""
        file_arg = file_argument(case)
        if file_arg and (msg.startswith(file_arg[0]) or msg.startswith("-:") or msg.startswith("<stdin>")) or \
                any(re.search(p, msg) for p in FILE_MESSAGES):
            return "ERROR", "file as a whole", ""
        return "FAILURE", f"error without FILE:LINE:COL: {pattern(msg)}", head[:400]
    return "ERROR", "usage", ""


def lint_form(case: Case, out: str) -> tuple[str, str, str]:
    """lint reports every error on stdout: each FILE:LINE:COL inside the file, with its caret line."""
    lines = out.split("\n")
    for i, line in enumerate(lines):
        m = POSITIONED.match(line)
        if not m:
            continue
        rest = lines[i + 1: i + 3]
        if len(rest) == 2 and rest[1].strip() and not re.fullmatch(r"[ \t]*\^", rest[1]) and \
                not POSITIONED.match(rest[1]):
            return "FAILURE", "lint: positioned error without a caret line", out[:600]
        if case.source is not None and case.file_mode in ("file", "stdin", "fifo") and \
                m["file"] in file_argument(case) + ["<stdin>", "-"]:
            n_lines = case.source.decode("utf-8", "replace").count("\n") + 1
            if not 1 <= int(m["line"]) <= n_lines or int(m["col"]) < 1:
                return "FAILURE", "lint: error position outside the file", line[:300]
    return "ERROR", "lint found errors", ""


# ---------------------------------------------------------------------------------------------
# A campaign
# ---------------------------------------------------------------------------------------------

_STATE: dict = {}


def init_worker(seed, light, extra, python, home, timeout, memory, max_bytes):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STATE.update(gen=Generator(seed, light=light, extra_commands=extra), python=python, home=home, timeout=timeout,
                  memory=memory, max_bytes=max_bytes)


def observe(case: Case) -> tuple[dict, tuple]:
    run = run_case(case, _STATE["python"], _STATE["home"], _STATE["timeout"] * case.budget, _STATE["memory"],
                   _STATE["max_bytes"])
    return run, classify(case, run)


def work(index: int) -> dict:
    try:
        case = _STATE["gen"].case(index)
    except Exception as e:  # noqa: BLE001 - a generator bug must not stop the campaign
        return {"index": index, "status": "GENERATOR", "cls": f"generator {type(e).__name__}: {e}", "kind": "?",
                "command": "?", "elapsed": 0.0, "maxrss_kb": 0}
    try:
        run, (status, cls, detail) = observe(case)
    except Exception as e:  # noqa: BLE001 - a harness bug must not stop the campaign
        return {"index": index, "status": "GENERATOR", "cls": f"harness {type(e).__name__}: {e}", "kind": case.kind,
                "command": case.command, "elapsed": 0.0, "maxrss_kb": 0}
    result = {"index": index, "status": status, "cls": cls, "kind": case.kind, "command": case.command,
              "elapsed": run["elapsed"], "maxrss_kb": run["maxrss_kb"], "rc": run["rc"],
              "first": run["stderr"][:300].decode("utf-8", "replace").split("\n")[0]}
    if status == "FAILURE":
        result.update(case=case.to_json(), detail=detail, rc=run["rc"], size=case.size(),
                      stderr=run["stderr"][-4000:].decode("utf-8", "replace"),
                      stdout=run["stdout"][:2000].decode("utf-8", "replace"))
    return result


def reduce_work(item: dict) -> dict:
    """Shrink a failing case while it keeps failing with the same class (a bounded number of runs)."""
    case, cls, budget = Case.from_json(item["case"]), item["cls"], item["budget"]
    runs, deadline = 0, time.monotonic() + item["seconds"]

    def same(c: Case) -> bool:
        nonlocal runs
        runs += 1
        if time.monotonic() > deadline:
            runs = budget  # out of time: stop shrinking
            return False
        _, (status, k, _) = observe(c)
        return status == "FAILURE" and k == cls

    def attempts():
        # environment entries, then option groups, then items of multi-valued options, then lines
        for k in list(case.env):
            yield "env", k
        for g in range(len(groups(case.args)) - 1, -1, -1):
            yield "group", g
        for g, grp in enumerate(groups(case.args)):
            if len(grp) > 2:
                for j in range(len(grp) - 1, 0, -1):
                    yield "item", (g, j)
        for name in list(case.files):
            yield "file", name

    progress = True
    while progress and runs < budget:
        progress = False
        for what, key in list(attempts()):
            if runs >= budget:
                break
            trial = Case.from_json(case.to_json())
            if what == "env":
                if key not in trial.env:
                    continue
                del trial.env[key]
            elif what == "group":
                gs = groups(trial.args)
                if key >= len(gs):
                    continue
                del gs[key]
                trial.args = [a for g in gs for a in g]
            elif what == "item":
                gs = groups(trial.args)
                g, j = key
                if g >= len(gs) or j >= len(gs[g]) or len(gs[g]) <= 2:
                    continue
                del gs[g][j]
                trial.args = [a for grp in gs for a in grp]
            elif what == "file":
                if key not in trial.files or any(key in a for a in trial.args) or key in trial.links.values() or \
                        f"fifo:{key}" in trial.links.values():
                    continue
                del trial.files[key]
            if same(trial):
                case, progress = trial, True
        if case.source is not None and runs < budget:
            shrunk = shrink_lines(case, same, budget - runs)
            if shrunk is not None:
                case, progress = shrunk, True
    run, (status, k, detail) = observe(case)
    return {"cls": cls, "case": case.to_json(), "runs": runs, "still": k == cls,
            "stderr": run["stderr"][-4000:].decode("utf-8", "replace"),
            "stdout": run["stdout"][:2000].decode("utf-8", "replace"), "rc": run["rc"], "elapsed": run["elapsed"],
            "detail": detail}


def groups(args: list[str]) -> list[list[str]]:
    """Options with their values: [['--set', 'x=1', 'y=2'], ['--json'], ...]."""
    flags = {"--json", "--full", "--strict", "--ascii", "--help", "-h", "-V", "--version", "--"}
    out: list[list[str]] = []
    for a in args:
        starts = a.startswith("-") and not re.fullmatch(r"-[\d.].*", a) and (a.startswith("--") or len(a) == 2)
        if starts or not out or out[-1][0] in flags:
            out.append([a])
        else:
            out[-1].append(a)
    return out


def shrink_lines(case: Case, same, budget: int) -> Case | None:
    """ddmin over the source's lines (then over the longest line's characters, coarsely)."""
    try:
        text = case.source.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    best, changed, spent = lines, False, 0
    n = 2
    while len(best) >= 2 and spent < budget:
        chunk = max(1, len(best) // n)
        reduced = False
        for start in range(0, len(best), chunk):
            if spent >= budget:
                break
            candidate = best[:start] + best[start + chunk:]
            trial = Case.from_json(case.to_json())
            trial.source = "\n".join(candidate).encode("utf-8")
            spent += 1
            if same(trial):
                best, changed, reduced = candidate, True, True
                n = max(n - 1, 2)
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(n * 2, len(best))
    # a very long line (deep nesting, a huge literal): try halving it while it still fails
    for _ in range(12):
        if spent >= budget or not best:
            break
        k = max(range(len(best)), key=lambda i: len(best[i]))
        line = best[k]
        if len(line) < 200:
            break
        trial = Case.from_json(case.to_json())
        cut = shrink_long_line(line)
        trial.source = "\n".join(best[:k] + [cut] + best[k + 1:]).encode("utf-8")
        spent += 1
        if same(trial):
            best, changed = best[:k] + [cut] + best[k + 1:], True
        else:
            break
    if not changed:
        return None
    out = Case.from_json(case.to_json())
    out.source = "\n".join(best).encode("utf-8")
    return out


def shrink_long_line(line: str) -> str:
    """Halve the repeated middle of a long line, keeping its balance: ((((x)))) -> ((x))."""
    m = re.match(r"^(.*?)((.)\3{20,})(.*?)((.)\6{20,})(.*)$", line)
    if m:
        a, b = m.group(2), m.group(5)
        return m.group(1) + a[: len(a) // 2] + m.group(4) + b[: len(b) // 2] + m.group(7)
    m = re.match(r"^(.*?)((.)\3{20,})(.*)$", line)
    if m:
        return m.group(1) + m.group(2)[: len(m.group(2)) // 2] + m.group(4)
    return line[: len(line) // 2]


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------

def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text.lower()).strip("-")
    return s[:50] or "failure"


def bash_quote(arg: str) -> str:
    if arg and all(c.isprintable() and ord(c) < 128 for c in arg) and not any(c in arg for c in "'"):
        return shlex.quote(arg)
    out = "$'"
    for ch in arg:
        o = ord(ch)
        if ch == "'" or ch == "\\":
            out += "\\" + ch
        elif 32 <= o < 127:
            out += ch
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out += f"\\x{o - 0xDC00:02x}"
        else:
            out += "".join(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return out + "'"


def write_reproducer(folder: Path, case: Case, info: dict, python: str, memory: int, max_bytes: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.json").write_text(json.dumps(case.to_json(), indent=1))
    files = folder / "files"
    files.mkdir(exist_ok=True)
    for name, data in case.files.items():
        (files / name).write_bytes(data)
    if case.source is not None:
        (files / ("source.ad" if case.file_mode != "file" else case.file_name)).write_bytes(case.source)
    argv = argv_for(case, "python")
    script = ["#!/usr/bin/env bash", f"# {info['cls']}", "# Runs the case in a fresh directory; PYTHON defaults to "
              "the checkout's virtualenv.", "set -u", 'here=$(cd "$(dirname "$0")" && pwd)',
              f'PYTHON=${{PYTHON:-{shlex.quote(python)}}}', 'd=$(mktemp -d)', 'trap \'rm -rf "$d"\' EXIT',
              'cp -R "$here/files/." "$d/"', 'cd "$d"']
    mode = case.file_mode
    if case.source is not None and mode != "file":
        if mode == "huge":
            script += [f"mv source.ad {case.file_name}", f"truncate -s 300M {case.file_name}"]
        elif mode == "fifo":
            script += [f"mv source.ad {case.file_name}.src", f"mkfifo {case.file_name}",
                       f"(cat {case.file_name}.src > {case.file_name} &)"]
        elif mode in ("devzero", "devnull", "devurandom"):
            target = {"devzero": "/dev/zero", "devnull": "/dev/null", "devurandom": "/dev/urandom"}[mode]
            script += [f"ln -s {target} {case.file_name}"]
        elif mode == "nonutf8name":
            script += ["mv source.ad " + bash_quote(NONUTF8_NAME)]
        elif mode in ("dash-dash-file", "option-like-file"):
            script += ["mv source.ad ./--json.ad"]
    for name, target in case.links.items():
        if target.startswith("fifo:"):
            script += [f"mkfifo {bash_quote(name)}", f"(cat {bash_quote(target[5:])} > {bash_quote(name)} &)"]
        else:
            script += [f"ln -s {bash_quote(target)} {bash_quote(name)}"]
    env = {"ADCLI_MAX_BYTES": max_bytes, "NO_COLOR": "1", **case.env}
    env_text = " ".join(f"{k}={bash_quote(v.replace('{dir}', '.'))}" for k, v in env.items())
    cmd = " ".join(bash_quote(a) for a in argv[1:])
    stdin = " < source.ad" if mode == "stdin" and case.streams not in ("stdin-closed", "all-closed") else ""
    redirect = {"stdout-closed": " >&-", "stderr-closed": " 2>&-", "stdin-closed": " <&-",
                "all-closed": " <&- >&- 2>&-", "stdout-full": " >/dev/full",
                "head": f" | head -c {case.head} >/dev/null"}.get(case.streams, "")
    run = f'env {env_text} timeout 60 "$PYTHON" {cmd}{stdin}{redirect}'
    script += [f"ulimit -v {memory // 1024}"]
    if case.streams == "head":
        script += ["set -o pipefail"]
    if case.streams == "tty":
        script += [f"# on a terminal {case.columns} columns wide (run this script in one, after: stty cols {case.columns})"]
    if case.cache != "shared":
        script += ['export XDG_CACHE_HOME="$d/.fresh-cache"  # a fresh cache']
    if case.cache == "concurrent":
        script += [f"for k in $(seq {case.copies}); do {run} & done; wait  # {case.copies} at once"]
    elif case.cache == "cold+warm":
        script += [f"{run}  # cold", 'echo "cold: exit status $?" >&2']
    script += [f"{run}", 'echo "exit status: $?" >&2']
    (folder / "repro.sh").write_text("\n".join(script) + "\n")
    (folder / "repro.sh").chmod(0o755)
    report = [f"class: {info['cls']}", f"command: adcli {case.command}", f"exit: {info.get('rc')}",
              f"seconds: {info.get('elapsed', '?')}", f"generator: {case.kind}", f"notes: {'; '.join(case.notes)}",
              f"detail: {info.get('detail', '')}", "", "--- stderr (tail) ---", info.get("stderr", ""),
              "--- stdout (head) ---", info.get("stdout", "")]
    (folder / "result.txt").write_text("\n".join(report))


def summary_table(stats: dict, classes: dict) -> str:
    lines = []
    total = stats["runs"]
    lines.append(f"runs: {total}   ok: {stats['OK']}   clean errors: {stats['ERROR']}   "
                 f"failures: {stats['FAILURE']}   generator errors: {stats['GENERATOR']}   "
                 f"time: {stats['seconds']:.0f} s")
    lines.append("")
    lines.append("by generator (ok / clean error / failure):")
    for kind, c in sorted(stats["by_kind"].items()):
        lines.append(f"  {kind:28} {c['OK']:6} {c['ERROR']:6} {c['FAILURE']:6}")
    lines.append("by command (ok / clean error / failure):")
    for cmd, c in sorted(stats["by_command"].items()):
        lines.append(f"  {cmd:28} {c['OK']:6} {c['ERROR']:6} {c['FAILURE']:6}")
    lines.append("")
    if not classes:
        lines.append("no failure classes")
        return "\n".join(lines)
    lines.append(f"{len(classes)} failure class(es):")
    width = max(len(k) for k in classes)
    width = min(max(width, 20), 110)
    lines.append(f"  {'count':>6}  {'class':{width}}  again?  commands / reproducer")
    for k, info in sorted(classes.items(), key=lambda kv: -kv[1]["count"]):
        cmds = ",".join(sorted(info["commands"]))
        again = {True: "yes", False: "no", None: "-"}[info.get("reproduces")]
        lines.append(f"  {info['count']:6}  {k[:width]:{width}}  {again:6}  {cmds}  {info.get('folder', '')}")
    lines.append("")
    lines.append("again?: whether the class's (shrunk) reproducer still failed the same way when run again at the "
                 "end; 'no' means flaky, or fixed by an edit of adcli during the campaign")
    return "\n".join(lines)


def detect_commands(python: str, home: str) -> tuple:
    """The commands beyond the base list that this adcli has (`adcli --help`), such as export."""
    try:
        done = subprocess.run([python, "-m", "adcli", "--help"], env=base_env(home, DEFAULT_MAX_BYTES),
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    listed = re.findall(r"^  ([a-z][\w-]*)\s", done.stdout.split("Commands:", 1)[-1], re.M)
    return tuple(c for c in OPTIONAL_COMMANDS if c in listed)


def prepare_home(root: Path, python: str) -> str:
    """A HOME for the campaign, with the grammar cache built once before the workers start."""
    home = root / "home"
    (home / ".cache").mkdir(parents=True, exist_ok=True)
    env = base_env(str(home), DEFAULT_MAX_BYTES)
    with tempfile.TemporaryDirectory() as d:
        Path(d, "w.ad").write_text("y = x\n")
        subprocess.run([python, "-m", "adcli", "eval", "w.ad", "--set", "x=1"], cwd=d, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return str(home)


def campaign(args) -> dict:
    out = Path(args.out).resolve() if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    python = args.python or default_python()
    work_root = Path(tempfile.mkdtemp(prefix="adcli-fuzz-home-"))
    started = time.monotonic()
    stats = {"runs": 0, "OK": 0, "ERROR": 0, "FAILURE": 0, "GENERATOR": 0, "by_kind": {}, "by_command": {}}
    classes: dict[str, dict] = {}
    slowest: list = []
    extra: tuple = ()
    try:
        home = prepare_home(work_root, python)
        jobs = args.jobs or max(1, os.cpu_count() or 1)
        ctx = multiprocessing.get_context("fork")
        extra = detect_commands(python, home)
        if not args.quiet and extra:
            print(f"also fuzzing: {', '.join(extra)}", file=sys.stderr)
        init = (args.seed, args.light, extra, python, home, args.timeout, args.memory, args.max_bytes)
        with ctx.Pool(jobs, initializer=init_worker, initargs=init) as pool:
            indices = range(args.start, args.start + args.runs)
            last_print = time.monotonic()
            log = open(args.log, "w") if args.log else None
            for r in pool.imap_unordered(work, indices, chunksize=2):
                if log:
                    log.write(json.dumps({k: r.get(k) for k in ("index", "status", "cls", "kind", "command", "rc",
                                                                 "elapsed", "maxrss_kb", "first")}) + "\n")
                stats["runs"] += 1
                stats[r["status"]] += 1
                for table, key in (("by_kind", r["kind"].split("+")[0] if r["kind"] else "?"), ("by_command", r["command"])):
                    row = stats[table].setdefault(key, {"OK": 0, "ERROR": 0, "FAILURE": 0, "GENERATOR": 0})
                    row[r["status"]] += 1
                slowest.append((r["elapsed"], r["index"], r["command"], r["kind"]))
                slowest = sorted(slowest, reverse=True)[:10]
                if r["status"] in ("FAILURE", "GENERATOR"):
                    info = classes.setdefault(r["cls"], {"count": 0, "commands": set(), "kinds": set(), "best": None})
                    info["count"] += 1
                    info["commands"].add(r["command"])
                    info["kinds"].add(r["kind"])
                    if r["status"] == "FAILURE" and (info["best"] is None or r["size"] < info["best"]["size"]):
                        info["best"] = r
                    if args.verbose and info["count"] == 1:
                        print(f"  new class: {r['cls']}  (case {r['index']}, {r['command']})", file=sys.stderr)
                if not args.quiet and time.monotonic() - last_print > 10:
                    last_print = time.monotonic()
                    print(f"[{stats['runs']}/{args.runs}] ok {stats['OK']}, clean errors {stats['ERROR']}, "
                          f"failures {stats['FAILURE']} in {len(classes)} classes, "
                          f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            if log:
                log.close()
            reducible = [{"cls": k, "case": v["best"]["case"], "budget": args.reduce_budget,
                          "seconds": args.reduce_seconds}
                         for k, v in classes.items() if v["best"] is not None]
            if args.no_confirm and args.reduce_budget <= 0:
                reducible = []
            if reducible and args.reduce_budget <= 0:
                for item in reducible:
                    item["budget"] = 0  # no shrinking: one run to see that it still fails
            if reducible:
                if not args.quiet and args.reduce_budget > 0:
                    print(f"reducing {len(reducible)} class(es), up to {args.reduce_budget} runs each",
                          file=sys.stderr, flush=True)
                for red in pool.imap_unordered(reduce_work, reducible):
                    best = classes[red["cls"]]["best"]
                    if red["still"]:
                        best.update(case=red["case"], stderr=red["stderr"], stdout=red["stdout"], rc=red["rc"],
                                    elapsed=red["elapsed"], detail=red["detail"] or best.get("detail"))
                    classes[red["cls"]]["reduced_runs"] = red["runs"]
                    classes[red["cls"]]["reproduces"] = red["still"]
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    stats["seconds"] = time.monotonic() - started
    stats["slowest"] = slowest
    for n, (k, info) in enumerate(sorted(classes.items(), key=lambda kv: -kv[1]["count"]), 1):
        if out and info["best"] is not None:
            folder = out / f"{n:02d}-{slug(k)}"
            case = Case.from_json(info["best"]["case"])
            write_reproducer(folder, case, {**info["best"], "cls": k}, python, args.memory, args.max_bytes)
            info["folder"] = str(folder)
    summary = {
        "seed": args.seed, "start": args.start, "runs": stats["runs"],
        "counts": {s: stats[s] for s in ("OK", "ERROR", "FAILURE", "GENERATOR")},
        "seconds": round(stats["seconds"], 1), "by_kind": stats["by_kind"], "by_command": stats["by_command"],
        "slowest": [{"seconds": s, "index": i, "command": c, "kind": k} for s, i, c, k in stats["slowest"]],
        "commands_fuzzed": ["grad", "eval", "trace", "jvp", "derivative", "jacobian", "hessian", "graph", "check", "cost",
                            "functions"] + list(extra),
        "classes": {k: {"count": v["count"], "commands": sorted(v["commands"]), "kinds": sorted(v["kinds"]),
                        "reproduces": v.get("reproduces"),
                        "folder": v.get("folder"), "example_index": v["best"]["index"] if v["best"] else None,
                        "stderr": (v["best"] or {}).get("stderr", "")[-1000:],
                        "argv": argv_for(Case.from_json(v["best"]["case"]), "python")[3:] if v["best"] else None}
                    for k, v in classes.items()},
    }
    table = summary_table(stats, classes)
    if out:
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        (out / "summary.txt").write_text(table + "\n")
    print(table)
    return summary


def replay(path: str, args) -> int:
    case = Case.from_json(json.loads(Path(path).read_text()))
    python = args.python or default_python()
    work_root = Path(tempfile.mkdtemp(prefix="adcli-fuzz-home-"))
    try:
        home = prepare_home(work_root, python)
        run = run_case(case, python, home, args.timeout * case.budget, args.memory, args.max_bytes)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    status, cls, detail = classify(case, run)
    print("argv:", " ".join(bash_quote(a) for a in run["argv"]))
    print(f"exit {run['rc']} in {run['elapsed']} s, peak {run['maxrss_kb'] // 1024} MiB")
    print(f"status: {status} {cls}")
    if detail:
        print("detail:", detail[:2000])
    print("--- stderr ---")
    print(run["stderr"].decode("utf-8", "replace")[-3000:])
    return 1 if status == "FAILURE" else 0


def show(seed: int, index: int, light: bool = False, python: str | None = None) -> int:
    work_root = Path(tempfile.mkdtemp(prefix="adcli-fuzz-home-"))
    try:
        (work_root / ".cache").mkdir()
        extra = detect_commands(python or default_python(), str(work_root))
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    case = Generator(seed, light=light, extra_commands=extra).case(index)
    print(json.dumps({**case.to_json(), "source_text": (case.source or b"").decode("utf-8", "replace")[:5000]},
                     indent=1))
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1000, help="number of cases (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="campaign seed; case i is a function of (seed, i)")
    p.add_argument("--start", type=int, default=0, help="first case index (to resume or shard a campaign)")
    p.add_argument("--out", default=None, help="directory for summary.json/.txt and one reproducer per class")
    p.add_argument("--jobs", type=int, default=0, help="parallel runs (default: the number of CPUs)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per run before it counts as a hang")
    p.add_argument("--memory", type=int, default=DEFAULT_MEMORY, help="RLIMIT_AS per run, bytes (default 2 GiB)")
    p.add_argument("--max-bytes", default=DEFAULT_MAX_BYTES, help="ADCLI_MAX_BYTES for the runs (default 256M)")
    p.add_argument("--python", default=None, help="the Python that runs adcli (default: .venv/bin/python)")
    p.add_argument("--reduce-budget", type=int, default=40, help="runs spent shrinking each class's reproducer "
                   "(0: none)")
    p.add_argument("--reduce-seconds", type=float, default=90.0, help="time spent shrinking each class (default 90)")
    p.add_argument("--no-reduce", dest="reduce_budget", action="store_const", const=0)
    p.add_argument("--no-confirm", action="store_true", help="with --no-reduce: do not run each class's example "
                   "once more at the end (the again? column stays empty)")
    p.add_argument("--replay", metavar="CASE.json", help="run one saved case and classify it")
    p.add_argument("--show", metavar="INDEX", type=int, help="print case INDEX of --seed without running it")
    p.add_argument("--light", action="store_true", help="scale hostile sizes down (100,000-deep nesting becomes "
                   "5,000): a quick run for CI")
    p.add_argument("--log", metavar="FILE", help="write one JSON line per run (status, class, first stderr line)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--verbose", action="store_true", help="announce each new failure class as it is found")
    p.add_argument("--fail-on-failure", action="store_true", help="exit 1 if any failure class was found")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.replay:
        return replay(args.replay, args)
    if args.show is not None:
        return show(args.seed, args.show, args.light, args.python)
    summary = campaign(args)
    return 1 if args.fail_on_failure and summary["classes"] else 0


if __name__ == "__main__":
    sys.exit(main())
