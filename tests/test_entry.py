"""The console script's fast paths: `--version` without the CLI, `--help` from the cache, both exactly
what typer prints, and a cache that is only ever a copy of typer's output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adcli.cli.main import app

ROOT = Path(__file__).resolve().parent.parent


def adcli(home: Path, *args: str, columns: int = 80, encoding: str = "utf-8") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADCLI_", "XDG_"))}
    env.update(HOME=str(home), COLUMNS=str(columns), PYTHONIOENCODING=encoding)
    return subprocess.run([sys.executable, "-m", "adcli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, encoding="utf-8", errors="replace", check=False)


def typer_says(*args: str, columns: int = 80) -> str:
    """What typer prints, in a process of its own with no cache folder to read or fill."""
    return adcli(Path(""), *args, columns=columns).stdout


def entries(home: Path) -> list[Path]:
    return sorted((home / ".cache" / "adcli").glob("help-*.txt"))


def test_version_is_typers_without_loading_it(tmp_path):
    done = adcli(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout == CliRunner().invoke(app, ["--version"]).stdout
    assert adcli(tmp_path, "-V").stdout == done.stdout
    code = "import sys; sys.argv = ['adcli', '--version']\nfrom adcli.cli.entry import main\ntry: main()\n" \
           "except SystemExit: pass\nprint(sorted(m for m in ('typer', 'numpy', 'lark', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["grad", "--help"], ["trace", "-h"], ["check", "--help"]])
@pytest.mark.parametrize("columns", [80, 120])
def test_help_from_the_cache_is_what_typer_prints(tmp_path, args, columns):
    first = adcli(tmp_path, *args, columns=columns)
    assert first.returncode == 0 and len(entries(tmp_path)) == 1
    again = adcli(tmp_path, *args, columns=columns)
    assert again.returncode == 0 and first.stdout == again.stdout == typer_says(*args, columns=columns)


def test_each_width_and_command_has_its_own_entry(tmp_path):
    adcli(tmp_path, "--help", columns=80)
    adcli(tmp_path, "--help", columns=100)
    adcli(tmp_path, "grad", "--help", columns=80)
    assert len(entries(tmp_path)) == 3


def test_a_damaged_entry_is_printed_afresh_and_replaced(tmp_path):
    adcli(tmp_path, "--help")
    (entry,) = entries(tmp_path)
    for damage in ("", "Usage: truncated", "\udcff".encode("utf-8", "surrogatepass").hex()):
        entry.write_text(damage, encoding="utf-8")
        done = adcli(tmp_path, "--help")
        assert done.returncode == 0 and done.stdout == typer_says("--help")
        assert entry.read_text(encoding="utf-8").startswith("adcli help\n")
    entry.write_bytes(b"\xff\xfe not utf-8")
    assert adcli(tmp_path, "--help").stdout == typer_says("--help")


def test_a_failing_help_request_is_not_kept(tmp_path):
    done = adcli(tmp_path, "nosuch", "--help")
    assert done.returncode == 2 and "No such command" in done.stderr
    assert entries(tmp_path) == []


def test_without_a_cache_or_utf8_output_the_cli_answers(tmp_path):
    empty_home = adcli(Path(""), "--help")  # HOME set but empty: no cache folder at all
    assert empty_home.returncode == 0 and empty_home.stdout.startswith("Usage: python -m adcli [OPTIONS]")
    ascii_out = adcli(tmp_path, "grad", "--help", encoding="ascii")
    assert ascii_out.returncode == 0 and "d, <-, *" in ascii_out.stdout and entries(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# grad and eval in their plain forms: run without typer, the same bytes and exit codes as typer's
# ---------------------------------------------------------------------------------------------

def both_paths(home: Path, *args: str, stdin: str = "") -> tuple:
    """(stdout, stderr, exit code, whether typer was loaded) by the console script's fast path, and
    the same by the typer app itself, in processes of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADCLI_", "XDG_"))}
    env.update(HOME=str(home), COLUMNS="80", PYTHONIOENCODING="utf-8")
    found = []
    for entry in ("adcli.cli.entry", "adcli.cli.main"):
        code = (f"import sys; sys.argv = ['adcli'] + sys.argv[1:]\nfrom {entry} import main\n"
                "try: main()\nfinally: sys.stderr.write('typer loaded: %s' % ('typer' in sys.modules))")
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                              input=stdin, encoding="utf-8", check=False)
        stderr, _, loaded = done.stderr.rpartition("typer loaded: ")
        found.append((done.stdout, stderr, done.returncode, loaded == "True"))
    return tuple(found)


PLAIN = [
    ("grad", "samples/relu.ad", "--set", "W=2", "x=3", "b=1"),
    ("grad", "samples/relu.ad", "-s", "W=2", "x=3", "-s", "b=1", "--json"),
    ("grad", "--json", "samples/relu.ad", "--set", "W=-2", "x=3", "b=1", "--full"),  # a kink: relu′(0), noted
    ("eval", "samples/product.ad", "--set", "x=17"),
    ("eval", "samples/product.ad", "--set", "x=17", "--json", "--full"),
    ("grad", "samples/relu.ad", "--set", "W=2", "x=3"),  # an input not given: exit 2, with a caret
    ("grad", "samples/relu.ad", "--set", "W=[1, 2]", "x=3", "b=1"),  # shapes that do not fit
    ("grad", "samples/relu.ad", "--set", "W=nan", "x=3", "b=1"),  # NaN in, NaN out, said on stderr
    ("grad", "samples/relu.ad", "--set", "W=2", "x=3", "b=1", "q=4"),  # a name the file does not have
    ("eval", "no-such-file.ad"),
    ("grad", "-", "--set", "x=2"),  # the program from standard input
]


@pytest.mark.parametrize("args", PLAIN, ids=lambda a: " ".join(a))
def test_plain_grad_and_eval_print_what_typer_prints_without_loading_it(tmp_path, args):
    fast, typer_path = both_paths(tmp_path, *args, stdin="input x: []\ny = x * (x + 1)\n")
    assert fast[:3] == typer_path[:3]
    assert fast[3] is False and typer_path[3] is True
    assert fast[0] or fast[2] != 0  # something was printed, or an error said


@pytest.mark.parametrize("args", [
    ("grad", "samples/relu.ad", "--set=W=2", "x=3", "b=1"),  # --set=: typer's reading
    ("grad", "samples/relu.ad", "--set", "--json"),  # --set's first value, whatever it is
    ("grad", "samples/relu.ad", "--mode", "forward", "--set", "W=2", "x=3", "b=1"),
    ("grad", "samples/relu.ad", "samples/product.ad"),  # two files: a usage error
    ("grad", "samples/relu.ad", "--sett", "W=2"),  # a near miss
    ("grad", "samples/relu.ad", "--", "x=3"),
    ("grad",), ("eval", "--help"), ("trace", "samples/relu.ad", "--set", "W=2", "x=3", "b=1"),
], ids=lambda a: " ".join(a))
def test_other_forms_go_to_typer(tmp_path, args):
    from adcli.cli.entry import plain_request
    assert plain_request(list(args)) is None
    fast, typer_path = both_paths(tmp_path, *args)
    assert fast[:3] == typer_path[:3]


def test_plain_request_reads_set_as_typer_does():
    from adcli.cli.entry import plain_request
    assert plain_request(["grad", "f.ad", "--set", "a=1", "b=2", "--json", "-s", "c=3"]) == \
        ("grad", "f.ad", ["a=1", "b=2", "c=3"], ["json_"])
    # after --json, a NAME=VALUE is no longer an item of --set: typer reads it as the file
    assert plain_request(["eval", "--set", "a=1", "--full", "k=v.ad"]) == ("eval", "k=v.ad", ["a=1"], ["full"])
    assert plain_request(["grad", "f.ad", "--set", "a=1", "-x"]) is None
