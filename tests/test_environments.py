"""adcli as a process in hostile surroundings: closed pipes, Ctrl-C, no colour, ASCII-only
locales, a read-only working directory, standard input as the file, no temporary directory."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import typer

import adcli
from adcli.cli.main import app
from adcli.language.parser import lark_parser

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RELU = str(SAMPLES / "relu.ad")
RELU_VALUES = ["--set", "W=2", "x=3", "b=1"]
POSIX = pytest.mark.skipif(os.name != "posix", reason="pipes, signals and terminals as on POSIX")

# What each command needs besides the file and its values, to run on samples/relu.ad.
EXTRA = {"derivative": ["--wrt", "x"], "jvp": ["--tangent", "x=1"], "hvp": ["--vector", "x=1"],
         "vjp": ["--cotangent", "H=1"]}


def adcli_command(*args) -> list[str]:
    return [sys.executable, "-m", "adcli", *map(str, args)]


def clean_env(**changes) -> dict:
    """The environment without settings that change adcli's output, plus `changes`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "PYTHONIOENCODING", "PYTHONUTF8",
                        "LC_ALL", "LANG", "ADCLI_DEBUG")}
    env.update(changes)
    return env


def no_traceback(stderr: bytes) -> None:
    text = stderr.decode("utf-8", "replace")
    for sign in ("Traceback", "Exception ignored", "Error:"):
        assert sign not in text, text


def file_commands() -> dict[str, set[str]]:
    """The commands that take a FILE, with their options."""
    group = typer.main.get_command(app)
    return {name: {opt for param in command.params for opt in param.opts}
            for name, command in group.commands.items() if any(param.name == "file" for param in command.params)}


def relu_run(command: str, options: set[str]) -> list[str]:
    """The command on the relu sample, with its values when the command takes them."""
    return [command, RELU, *(RELU_VALUES if "--set" in options else []), *EXTRA.get(command, [])]


# ---------------------------------------------------------------------------------------------
# A closed pipe
# ---------------------------------------------------------------------------------------------

@POSIX
@pytest.mark.parametrize("args", [
    ["eval", RELU, *RELU_VALUES],
    ["eval", RELU, *RELU_VALUES, "--json"],
    ["grad", RELU, *RELU_VALUES],
    ["trace", RELU, *RELU_VALUES],
    ["graph", RELU],
    ["--help"],
], ids=["eval", "eval-json", "grad", "trace", "graph", "help"])
def test_output_into_a_closed_pipe_stops_quietly_with_status_1(args):
    """Like `adcli ... | head -0`: the reader has gone before adcli writes a byte."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        run = subprocess.run(adcli_command(*args), stdout=write_end, stderr=subprocess.PIPE, env=clean_env())
    finally:
        os.close(write_end)
    assert run.stderr == b""
    assert run.returncode == 1


@POSIX
def test_output_piped_into_head(tmp_path):
    """`adcli eval big.ad | head -n 3`: head gets the first lines; adcli never shows a traceback."""
    model = tmp_path / "big.ad"
    model.write_text("h = x\n" + "h = h + 1\n" * 3_000)  # more output than a pipe holds
    producer = subprocess.Popen(adcli_command("eval", model, "--set", "x=0"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=clean_env())
    head = subprocess.run(["head", "-n", "3"], stdin=producer.stdout, capture_output=True)
    producer.stdout.close()
    stderr = producer.stderr.read()
    producer.stderr.close()
    assert producer.wait() in (0, 1)  # 1 when the pipe closed while adcli still wrote
    no_traceback(stderr)
    assert head.stdout.decode().splitlines()[2].split() == ["h", "scalar", "0"]


# ---------------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------------

@POSIX
def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    """SIGINT while adcli waits to read its file (a FIFO nobody writes to) ends it with status 130."""
    fifo = tmp_path / "model.ad"
    os.mkfifo(fifo)
    process = subprocess.Popen(adcli_command("grad", fifo, "--set", "x=1"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=clean_env())
    # Opening the FIFO for writing without blocking succeeds only once adcli has opened it to read,
    # so the signal arrives while the command runs (not while Python starts up).
    writer = None
    while writer is None:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert process.poll() is None, process.stderr.read()
    try:
        # On a loaded machine a signal sent while the kernel is still waking the reader can be
        # lost; one more Ctrl-C then, as a person would press it again.
        for _ in range(6):
            process.send_signal(signal.SIGINT)
            try:
                stdout, stderr = process.communicate(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            process.kill()
            stdout, stderr = process.communicate()
    finally:
        os.close(writer)
    assert process.returncode == 130
    assert stdout == b""
    no_traceback(stderr)


# ---------------------------------------------------------------------------------------------
# Terminals without colour, and ASCII-only locales
# ---------------------------------------------------------------------------------------------

def run_on_a_terminal(args, env) -> bytes:
    """Run adcli with a pseudo-terminal as stdout; return what it showed there."""
    import pty
    primary, secondary = pty.openpty()
    process = subprocess.Popen(adcli_command(*args), stdout=secondary, stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closes when adcli exits
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert process.wait() == 0, process.stderr.read()
    no_traceback(process.stderr.read())
    process.stderr.close()
    return shown


SGR = re.compile(rb"\x1b\[([0-9;]*)m")


def colours(shown: bytes) -> list[int]:
    """The colour codes (foreground and background) among the terminal's style sequences."""
    codes = [int(c) for params in SGR.findall(shown) for c in params.split(b";") if c]
    return [c for c in codes if 30 <= c <= 49 or 90 <= c <= 107]


@POSIX
@pytest.mark.parametrize("args", [["grad", RELU, *RELU_VALUES], ["graph", RELU]], ids=["grad", "graph"])
def test_no_color_and_dumb_terminals(args):
    assert colours(run_on_a_terminal(args, clean_env(TERM="xterm-256color")))  # colour by default
    assert colours(run_on_a_terminal(args, clean_env(TERM="xterm-256color", NO_COLOR="1"))) == []
    assert b"\x1b" not in run_on_a_terminal(args, clean_env(TERM="dumb"))


@POSIX
@pytest.mark.parametrize("args, says", [
    (["grad", RELU, "ex\x1b[31mtra\x07"], "Got unexpected extra argument (ex\\x1b[31mtra\\x07)"),
    (["gr\x1b[2Jad", RELU], "No such command 'gr\\x1b[2Jad'."),
    (["grad", RELU, "--bo\x1bgus"], "No such option"),
], ids=["extra-argument", "command", "option"])
def test_a_usage_error_shows_control_characters_escaped_on_a_terminal(args, says):
    """click strips colour codes only off a terminal: what the user typed is shown with its escapes
    spelled out, so nothing in an argument acts on the terminal the message goes to."""
    import pty
    primary, secondary = pty.openpty()
    process = subprocess.Popen(adcli_command(*args), stdout=subprocess.DEVNULL, stderr=secondary,
                               env=clean_env(TERM="xterm-256color"))
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert process.wait() == 2
    text = shown.decode()
    assert says in text, text
    assert not re.search(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]", text), text


@POSIX
def test_every_command_writes_ascii_in_an_ascii_locale():
    """LANG=C with PYTHONIOENCODING=ascii: every command runs, in ASCII, without UnicodeEncodeError."""
    env = clean_env(LANG="C", LC_ALL="C", PYTHONIOENCODING="ascii")
    runs = [relu_run(command, options) for command, options in file_commands().items()]
    runs += [["graph", RELU, "--format", "dot"], ["graph", RELU, "--format", "mermaid"], ["--help"]]
    processes = [(args, subprocess.Popen(adcli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=env)) for args in runs]
    for args, process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, (args, stderr)
        no_traceback(stderr)
        assert stdout.isascii(), (args, stdout)


@POSIX
def test_ascii_locale_grad_table_and_error_message(tmp_path):
    env = clean_env(LANG="C", LC_ALL="C", PYTHONIOENCODING="ascii")
    grad = subprocess.run(adcli_command("grad", RELU, *RELU_VALUES), capture_output=True, env=env)
    assert grad.returncode == 0 and grad.stderr == b""
    assert grad.stdout.decode("ascii").splitlines()[:2] == ["H = 7", "input | shape  | dH/dinput"]
    model = tmp_path / "dot.ad"
    model.write_text("y = x \u00b7 2\n", encoding="utf-8")
    error = subprocess.run(adcli_command("eval", model, "--set", "x=1"), capture_output=True, env=env)
    assert error.returncode == 2 and error.stdout == b""
    assert error.stderr.decode("ascii") == (
        f"{model}:1:7: error: unexpected character '\\xb7' (U+00B7); use '*' to multiply\n"
        "y = x \\xb7 2\n"
        "      ^\n")


# ---------------------------------------------------------------------------------------------
# A read-only working directory, standard input as the file, no temporary directory
# ---------------------------------------------------------------------------------------------

@POSIX
def test_read_only_working_directory(tmp_path):
    """adcli writes nothing where it runs (root may write anyway, so the listing is compared); its
    grammar cache goes to the user's cache directory, never the working directory."""
    home = tmp_path / "home"
    home.mkdir()
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    (tmp_path / "model.ad").write_text("u = x + 1\ny = x * u\n")
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        before = sorted(os.listdir(tmp_path))
        env = clean_env(HOME=str(home))
        env.pop("XDG_CACHE_HOME", None)
        for args in (["grad", "model.ad", "--set", "x=2", "--json"], ["trace", "model.ad", "--set", "x=2"]):
            run = subprocess.run(adcli_command(*args), capture_output=True, cwd=tmp_path, env=env)
            assert run.returncode == 0, run.stderr
            no_traceback(run.stderr)
        assert run.stdout  # the trace was printed
        assert sorted(os.listdir(tmp_path)) == before
    finally:
        tmp_path.chmod(stat.S_IRWXU)


@POSIX
def test_standard_input_as_the_file():
    source = (SAMPLES / "product.ad").read_bytes()
    run = subprocess.run(adcli_command("grad", "-", "--set", "x=3", "--json"), input=source,
                         capture_output=True, env=clean_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout == b'{"output": "y", "value": 12.0, "grad": {"x": 7.0}}\n'
    bad = subprocess.run(adcli_command("grad", "-", "--set", "x=3"), input=b"y = (x + 1\n",
                         capture_output=True, env=clean_env())
    assert bad.returncode == 2
    assert bad.stderr == b"<stdin>:1:5: error: '(' is never closed (expected ')')\ny = (x + 1\n    ^\n"


def test_no_usable_temporary_directory(monkeypatch):
    """A locked-down system may have no writable temporary directory: the grammar cache is skipped."""
    def nowhere():
        raise FileNotFoundError("No usable temporary directory found")
    monkeypatch.setattr(tempfile, "gettempdir", nowhere)
    lark_parser.cache_clear()
    try:
        assert float(adcli.parse("y = x * (x + 1)").grad(x=3.0).grad["x"]) == 7.0
    finally:
        monkeypatch.undo()
        lark_parser.cache_clear()


@POSIX
def test_grammar_cache_is_private(tmp_path, monkeypatch):
    """Lark's cache is a pickle: it lives only in a directory no one else can write."""
    from adcli.language.parser import grammar_cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = grammar_cache()
    folder = tmp_path / "adcli"
    assert path and os.path.dirname(path) == str(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    folder.chmod(0o777)  # a directory others can write is not used
    assert grammar_cache() is False
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # no directory can be made there
    assert grammar_cache() is False
