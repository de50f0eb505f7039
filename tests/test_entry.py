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
