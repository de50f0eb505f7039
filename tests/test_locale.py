"""The C locale asks for ASCII: adcli prints its symbols in ASCII under LANG=C, LC_ALL=C or POSIX,
although Python itself runs such a process in UTF-8; an explicit PYTHONIOENCODING wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "relu.ad"
LOCALE_VARIABLES = ("LC_ALL", "LC_CTYPE", "LANG", "PYTHONIOENCODING", "PYTHONUTF8", "NO_COLOR", "TERM")


def run(**settings):
    env = {k: v for k, v in os.environ.items() if k not in LOCALE_VARIABLES}
    env.update(settings)
    done = subprocess.run([sys.executable, "-m", "adcli", "trace", str(SAMPLE), "--set", "W=2", "x=3", "b=1"],
                          env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("settings", [{"LANG": "C"}, {"LC_ALL": "C"}, {"LANG": "POSIX"},
                                      {"LC_ALL": "POSIX", "LANG": "C.UTF-8"}],
                         ids=["LANG=C", "LC_ALL=C", "LANG=POSIX", "LC_ALL=POSIX over LANG"])
def test_the_c_locale_gets_ascii(settings):
    out = run(**settings)
    assert out.isascii() and b"dH/dU2 <- " in out


@pytest.mark.parametrize("settings", [{"LANG": "C.UTF-8"}, {"LC_ALL": "C", "PYTHONIOENCODING": "utf-8"},
                                      {"LC_ALL": "en_US.UTF-8", "LANG": "C"}],
                         ids=["LANG=C.UTF-8", "PYTHONIOENCODING wins", "LC_ALL over LANG=C"])
def test_a_utf8_locale_keeps_the_symbols(settings):
    assert "∂H/∂U2 ← ".encode() in run(**settings)


@pytest.mark.parametrize("encoding", ["cp437", "latin-1", "ascii", "utf-8"])
@pytest.mark.parametrize("to", ["numpy", "torch"])
def test_an_exported_module_on_stdout_is_utf8_python_whatever_the_encoding(encoding, to):
    """A module is UTF-8 (PEP 3120): written through a cp437 stdout, a symbol such as ∞ in a comment
    became a byte no Python could read. Every sample's module parses, and under a narrow encoding
    its symbols are written in ASCII."""
    import ast
    env = {k: v for k, v in os.environ.items() if k not in LOCALE_VARIABLES}
    env["PYTHONIOENCODING"] = encoding
    for sample in sorted(SAMPLE.parent.glob("*.ad")):
        done = subprocess.run([sys.executable, "-m", "adcli", "export", str(sample), "--to", to], env=env,
                              capture_output=True, timeout=60)
        if done.returncode == 2:  # a sample that this export refuses, with a message
            assert b"error" in done.stderr
            continue
        assert done.returncode == 0, done.stderr
        ast.parse(done.stdout.decode("utf-8"), str(sample))
        if encoding != "utf-8":
            assert "∂".encode() not in done.stdout
