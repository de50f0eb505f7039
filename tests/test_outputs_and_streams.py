"""Output files and standard streams: no input is written over, a failed write keeps the old file whole,
and a closed, full or unreadable stream is one message and a documented exit code, never a traceback."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adcli.errors import EXIT_ERROR, EXIT_OK, EXIT_OUTPUT

SOURCE = "y = x * x\n"
INPUTS = '{"x": 3}\n'

# Every command that writes a file: its arguments before the output path, the option, and a suffix
# the command accepts for that path. The .ad and --inputs files are given the same suffix, so that
# the output path can name them exactly.
WRITERS = {
    "trace -o": (["trace", "{ad}", "--inputs", "{inputs}"], "-o", ".txt"),
    "export -o": (["export", "{ad}"], "-o", ".py"),
    "graph -o": (["graph", "{ad}", "--inputs", "{inputs}"], "-o", ".dot"),
    "check --junit-xml": (["check", "{ad}", "--inputs", "{inputs}"], "--junit-xml", ".xml"),
}


def adcli(home: Path, *args: str, closed=(), limit_file_size: int | None = None,
          **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m adcli` (the console entry) in `home`, with file descriptors `closed` shut."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADCLI_", "XDG_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), COLUMNS="80")

    def before_exec():
        for fd in closed:
            os.close(fd)
        if limit_file_size is not None:  # a file larger than this fails with EFBIG, as a full disk does
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    kwargs.setdefault("stdout", None if 1 in closed else subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "adcli", *args], cwd=home, env=env, text=True,
                          stderr=None if 2 in closed else subprocess.PIPE, preexec_fn=before_exec, **kwargs)


def sources(folder: Path, suffix: str) -> tuple[Path, Path]:
    ad, inputs = folder / f"model{suffix}", folder / f"values{suffix}"
    ad.write_text(SOURCE)
    inputs.write_text(INPUTS)
    return ad, inputs


def files(folder: Path) -> dict[str, bytes]:
    """The folder's files (not adcli's cache folder) and what they hold."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.is_dir()}


def command(writer: str, ad: Path, inputs: Path, output: str) -> list[str]:
    args, option, _ = WRITERS[writer]
    return [a.format(ad=ad.name, inputs=inputs.name) for a in args] + [option, output]


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in (result.stderr or "")
    assert "internal error" not in (result.stderr or "")


# ---------------------------------------------------------------------------------------------
# An output path that names an input: refused before anything is written
# ---------------------------------------------------------------------------------------------

def _same_file_cases():
    for writer in WRITERS:
        for source in ("ad", "inputs"):
            if source == "inputs" and "--inputs" not in WRITERS[writer][0]:
                continue
            for kind in ("same path", "symlink", "hard link"):
                yield pytest.param(writer, source, kind, id=f"{writer}-{source}-{kind}")


@pytest.mark.parametrize("writer, source, kind", list(_same_file_cases()))
def test_an_output_that_is_an_input_is_refused(tmp_path, writer, source, kind):
    suffix = WRITERS[writer][2]
    ad, inputs = sources(tmp_path, suffix)
    target = ad if source == "ad" else inputs
    if kind == "same path":
        output = target.name
    else:
        output = f"other{suffix}"
        if kind == "symlink":
            (tmp_path / output).symlink_to(target.name)
        else:
            os.link(target, tmp_path / output)
    before = files(tmp_path)
    result = adcli(tmp_path, *command(writer, ad, inputs, output))
    assert result.returncode == EXIT_ERROR
    option = WRITERS[writer][1]
    assert f"adcli: error: {option} {output}: that is the input file {target.name}" in result.stderr
    assert result.stderr.count("\n") == 1
    no_traceback(result)
    assert files(tmp_path) == before  # nothing written, nothing added


@pytest.mark.parametrize("writer", list(WRITERS))
def test_an_output_beside_the_inputs_is_written(tmp_path, writer):
    suffix = WRITERS[writer][2]
    ad, inputs = sources(tmp_path, suffix)
    result = adcli(tmp_path, *command(writer, ad, inputs, f"out{suffix}"))
    assert result.returncode == EXIT_OK, result.stderr
    assert (tmp_path / f"out{suffix}").stat().st_size > 0
    assert ad.read_text() == SOURCE and inputs.read_text() == INPUTS
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".adcli-")) == []


# ---------------------------------------------------------------------------------------------
# Writing a file: whole or not at all
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_failed_write_keeps_the_old_file_whole_and_leaves_no_temporary_file(tmp_path, writer):
    suffix = WRITERS[writer][2]
    ad, inputs = sources(tmp_path, suffix)
    old = tmp_path / f"out{suffix}"
    old.write_text("the old file, kept whole\n")
    # A file may grow to 40 bytes: the old one fits, the new output does not (EFBIG, as a full disk).
    result = adcli(tmp_path, *command(writer, ad, inputs, old.name), limit_file_size=40)
    assert result.returncode == EXIT_OUTPUT
    assert f"{WRITERS[writer][1]} {old.name}: cannot write it (" in result.stderr
    no_traceback(result)
    assert old.read_text() == "the old file, kept whole\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".adcli-")] == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("writer", ["trace -o", "export -o", "check --junit-xml"])
def test_an_output_on_a_full_device_exits_74(tmp_path, writer):
    ad, inputs = sources(tmp_path, WRITERS[writer][2])
    result = adcli(tmp_path, *command(writer, ad, inputs, "/dev/full"))
    assert result.returncode == EXIT_OUTPUT
    assert "/dev/full: cannot write it (No space left on device)" in result.stderr
    no_traceback(result)


def test_an_output_through_a_symlink_replaces_the_file_and_keeps_the_link(tmp_path):
    ad, inputs = sources(tmp_path, ".txt")
    (tmp_path / "real.txt").write_text("old\n")
    (tmp_path / "real.txt").chmod(0o640)
    (tmp_path / "link.txt").symlink_to("real.txt")
    result = adcli(tmp_path, *command("trace -o", ad, inputs, "link.txt"))
    assert result.returncode == EXIT_OK, result.stderr
    assert (tmp_path / "link.txt").is_symlink()
    assert "reverse mode" in (tmp_path / "real.txt").read_text()
    assert (tmp_path / "real.txt").stat().st_mode & 0o777 == 0o640  # the file's mode stays


def test_an_output_that_cannot_be_created_is_an_error_not_74(tmp_path):
    ad, inputs = sources(tmp_path, ".txt")
    for output in ("missing/out.txt", "."):
        result = adcli(tmp_path, *command("trace -o", ad, inputs, output))
        assert result.returncode == EXIT_ERROR
        assert f"adcli: error: -o {output}: cannot write it (" in result.stderr
        no_traceback(result)


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="needs /dev/stdout")
def test_an_output_that_is_a_device_is_written_in_place(tmp_path):
    ad, inputs = sources(tmp_path, ".txt")
    result = adcli(tmp_path, *command("trace -o", ad, inputs, "/dev/stdout"))
    assert result.returncode == EXIT_OK, result.stderr
    assert "reverse mode" in result.stdout


# ---------------------------------------------------------------------------------------------
# Closed, full and unreadable standard streams
# ---------------------------------------------------------------------------------------------

PRINTING = [
    pytest.param(["grad", "model.ad", "--set", "x=1"], id="grad"),
    pytest.param(["grad", "model.ad", "--set", "x=1", "--json"], id="grad --json"),
    pytest.param(["eval", "model.ad", "--set", "x=1"], id="eval"),
    pytest.param(["trace", "model.ad", "--set", "x=1"], id="trace"),
    pytest.param(["check", "model.ad", "--set", "x=1"], id="check"),
    pytest.param(["export", "model.ad"], id="export"),
    pytest.param(["graph", "model.ad", "--set", "x=1"], id="graph"),
    pytest.param(["functions"], id="functions"),
    pytest.param(["--version"], id="--version"),
    pytest.param(["-V"], id="-V"),
    pytest.param(["--help"], id="--help"),
    pytest.param(["grad", "--help"], id="grad --help"),
]


@pytest.mark.parametrize("args", PRINTING)
def test_a_closed_stdout_is_one_message_and_exit_74(tmp_path, args):
    (tmp_path / "model.ad").write_text(SOURCE)
    for _ in range(2):  # the second --help comes from the help cache
        result = adcli(tmp_path, *args, closed=(1,))
        assert result.returncode == EXIT_OUTPUT
        assert result.stderr == "adcli: error: cannot write output (standard output is closed)\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", PRINTING)
def test_a_full_stdout_is_one_message_and_exit_74(tmp_path, args):
    (tmp_path / "model.ad").write_text(SOURCE)
    with open("/dev/full", "w") as full:
        for _ in range(2):  # the second --help comes from the help cache
            result = adcli(tmp_path, *args, stdout=full)
            assert result.returncode == EXIT_OUTPUT
            assert result.stderr == "adcli: error: cannot write output (No space left on device)\n"


@pytest.mark.parametrize("args", [pytest.param(["grad", "model.ad", "--set", "x=1"], id="grad"),
                                  pytest.param(["--version"], id="--version")])
def test_closed_stdout_and_stderr_exit_74_silently(tmp_path, args):
    (tmp_path / "model.ad").write_text(SOURCE)
    result = adcli(tmp_path, *args, closed=(1, 2))
    assert result.returncode == EXIT_OUTPUT


@pytest.mark.parametrize("args, code", [
    pytest.param(["cost", "model.ad", "--set", "x=1", "extra"], EXIT_ERROR, id="usage error"),
    pytest.param(["grad", "missing.ad"], EXIT_ERROR, id="missing file"),
    pytest.param(["grad", "model.ad", "--set", "x=1", "--output", "o.txt"], EXIT_ERROR, id="unknown option"),
    pytest.param(["trace", "model.ad", "--set", "x=1", "-o", "out.txt"], EXIT_OK, id="trace -o"),
])
@pytest.mark.parametrize("closed", [(2,), (1, 2)], ids=["stderr", "stdout and stderr"])
def test_a_closed_stderr_keeps_the_exit_code(tmp_path, args, code, closed):
    """A message that cannot be shown is lost, but the exit code still says what happened: a usage
    error is 2 whatever became of its message, not a failed write (74)."""
    (tmp_path / "model.ad").write_text(SOURCE)
    result = adcli(tmp_path, *args, closed=closed)
    assert result.returncode == code
    if 1 not in closed:
        assert result.stdout == ""


def test_a_closed_stdout_fails_only_a_command_that_prints(tmp_path):
    ad, inputs = sources(tmp_path, ".txt")
    result = adcli(tmp_path, *command("trace -o", ad, inputs, "out.txt"), closed=(1,))
    assert result.returncode == EXIT_OK, result.stderr
    assert "reverse mode" in (tmp_path / "out.txt").read_text()


def test_a_closed_stdout_through_the_shell(tmp_path):
    (tmp_path / "model.ad").write_text(SOURCE)
    shell = f"{sys.executable} -m adcli grad model.ad --set x=1 >&-; echo \"exit $?\" >&2"
    result = subprocess.run(["sh", "-c", shell], cwd=tmp_path, capture_output=True, text=True)
    assert result.stderr == "adcli: error: cannot write output (standard output is closed)\nexit 74\n"


@pytest.mark.parametrize("args", [pytest.param(["grad", "-", "--set", "x=1"], id="grad"),
                                  pytest.param(["eval", "-", "--set", "x=1"], id="eval"),
                                  pytest.param(["trace", "-", "--set", "x=1"], id="trace"),
                                  pytest.param(["export", "-"], id="export")])
def test_a_closed_stdin_is_an_unreadable_file(tmp_path, args):
    result = adcli(tmp_path, *args, closed=(0,), stdin=None)
    assert result.returncode == EXIT_ERROR
    assert result.stderr == "adcli: error: <stdin>: cannot read it (standard input is closed)\n"


def test_a_stdin_open_for_writing_only_is_an_unreadable_file(tmp_path):
    with open(tmp_path / "sink", "w") as sink:
        result = adcli(tmp_path, "grad", "-", "--set", "x=1", stdin=sink)
    assert result.returncode == EXIT_ERROR
    assert result.stderr.startswith("adcli: error: <stdin>: cannot read it (")
    no_traceback(result)


def test_lint_of_a_closed_stdin_names_it(tmp_path):
    result = adcli(tmp_path, "lint", "-", closed=(0,), stdin=None)
    assert result.returncode == EXIT_ERROR
    assert "adcli: error: <stdin>: cannot read it (standard input is closed)\n" in result.stdout
    no_traceback(result)


def test_stdin_still_reads_a_program(tmp_path):
    result = adcli(tmp_path, "grad", "-", "--set", "x=2", "--json", input=SOURCE)
    assert result.returncode == EXIT_OK, result.stderr
    assert '"grad": {"x": 4' in result.stdout.replace(".0", "")
