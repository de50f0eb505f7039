"""Short fuzzing runs for CI, each case a separate `python -m adcli` process under a time and memory
limit (tests/fuzz/fuzz.py): a fixed seed's 150 cases, the regression set, and FRESH_RUNS more from
the session's seed (ADCLI_SEED when set, otherwise a fresh one; tests/conftest.py). No case may end
in a failure class: a traceback, an internal error, a hang, a crash, memory exhaustion, an exit code
outside {0, 1, 2, 3, 74, 130}, invalid JSON under --json, raw control characters on stderr, or an
error caused by the file without FILE:LINE:COL.

The two runs take about 35 and 12 seconds on two cores (a hang costs its 3-second time limit). A
failure names, for each class, the command that runs its case again
(`python -m tests.fuzz --seed N --start I --runs 1 --timeout 3 --light`). A longer campaign, by hand:
    python -m tests.fuzz --runs 5000 --seed 1 --out fuzz-out
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

FUZZ = Path(__file__).resolve().parent / "fuzz.py"
SEED, RUNS = 7, 150
FRESH_RUNS = int(os.environ.get("ADCLI_FRESH_FUZZ_RUNS", "50"))
OPTIONS = ["--timeout", "3", "--light"]  # as the campaign ran: a case replays only under the same options


def campaign(seed: int, runs: int, out: Path) -> None:
    """Run `runs` cases of `seed`; fail with one replay command per failure class."""
    print(f"fuzz: {runs} cases, seed {seed}")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(FUZZ), "--runs", str(runs), "--seed", str(seed), "--out", str(out), *OPTIONS,
         "--no-reduce", "--no-confirm", "--quiet", "--python", sys.executable],
        capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == runs
    assert summary["counts"]["GENERATOR"] == 0, summary["classes"]
    options = " ".join(OPTIONS)
    failures = []
    for name, info in summary["classes"].items():
        argv = " ".join(info["argv"] or [])
        failures.append(f"- {name} ({info['count']}x, {', '.join(info['commands'])}): adcli {argv[:300]}\n"
                        f"  replay: python -m tests.fuzz --seed {seed} --start {info['example_index']} --runs 1 "
                        f"{options}\n"
                        f"  or, while pytest keeps its temporary directories: "
                        f"python -m tests.fuzz --replay {info['folder']}/case.json {options}\n"
                        f"  stderr: {info['stderr'][-400:]!r}")
    assert not failures, (f"{len(failures)} failure class(es) in {runs} fuzz cases (seed {seed}, {seconds:.0f} s); "
                          f"the whole run again: python -m tests.fuzz --runs {runs} --seed {seed} {options} "
                          "--out fuzz-out\n" + "\n".join(failures))


def test_fuzz_smoke(tmp_path):
    campaign(SEED, RUNS, tmp_path / "fuzz-out")


def test_fuzz_fresh_seed(tmp_path, fresh_seed):
    campaign(fresh_seed, FRESH_RUNS, tmp_path / "fuzz-out")
