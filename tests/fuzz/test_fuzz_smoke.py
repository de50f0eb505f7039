"""A short fuzzing run for CI: a fixed seed, 150 cases, each a separate `python -m adcli` process
under a time and memory limit (tests/fuzz/fuzz.py). No case may end in a failure class: a
traceback, an internal error, a hang, a crash, memory exhaustion, an exit code outside
{0, 1, 2, 3, 74, 130}, invalid JSON under --json, raw control characters on stderr, or an error
caused by the file without FILE:LINE:COL.

The whole run takes about 35 seconds on two cores (a hang costs its 3-second time limit). A longer campaign, by hand:
    python -m tests.fuzz --runs 5000 --seed 1 --out fuzz-out
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

FUZZ = Path(__file__).resolve().parent / "fuzz.py"
SEED, RUNS = 7, 150


def test_fuzz_smoke(tmp_path):
    out = tmp_path / "fuzz-out"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(FUZZ), "--runs", str(RUNS), "--seed", str(SEED), "--out", str(out), "--timeout", "3",
         "--no-reduce", "--no-confirm", "--quiet", "--light", "--python", sys.executable],
        capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == RUNS
    assert summary["counts"]["GENERATOR"] == 0, summary["classes"]
    failures = []
    for name, info in summary["classes"].items():
        argv = " ".join(info["argv"] or [])
        failures.append(f"- {name} ({info['count']}x, {', '.join(info['commands'])}): adcli {argv[:300]}\n"
                        f"  reproducer: {info['folder']}/repro.sh\n  stderr: {info['stderr'][-400:]!r}")
    assert not failures, (f"{len(failures)} failure class(es) in {RUNS} fuzz cases (seed {SEED}, {seconds:.0f} s); "
                          "rerun with: python -m tests.fuzz --runs 150 --seed 7 --timeout 3 --light --out fuzz-out\n"
                          + "\n".join(failures))
