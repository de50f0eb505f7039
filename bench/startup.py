"""Case 1: cold start of `adcli grad samples/relu.ad --set W=2 x=3 b=1` as a whole process."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .peers import available
from .report import ROOT, Table, Target, ratio
from .stats import Stats, fmt_seconds, fmt_stats


def adcli_command() -> list[str]:
    """The `adcli` console script beside this interpreter, else `python -m adcli`."""
    script = Path(sys.executable).with_name("adcli")
    if script.exists():
        return [str(script)]
    found = shutil.which("adcli")
    return [found] if found else [sys.executable, "-m", "adcli"]


def cached_bytecode_env(prefix: str) -> dict:
    """The environment with compiled modules cached under `prefix`, as an installed package has them
    (PYTHONDONTWRITEBYTECODE would make every run compile adcli's modules from source)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = prefix
    return env


def time_commands(commands: list, runs: int, default_env: dict) -> dict:
    """Wall and CPU time (user + system) of whole processes, label -> Stats, the commands run in
    turn (A B C A B C ...) so that a drift in the machine's speed reaches them all alike; each
    command's first run is a warm-up (it fills the OS file cache and the bytecode cache)."""
    samples: dict = {label: ([], []) for label, *_ in commands}
    for i in range(runs + 1):
        for label, argv, own_runs, env in commands:
            if i > min(runs, own_runs or runs):
                continue
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=env or default_env)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-200:]}")
            if i:
                samples[label][0].append(elapsed)
                samples[label][1].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {label: Stats.of(wall, cpu) for label, (wall, cpu) in samples.items()}


def run(quick: bool) -> tuple[list[Table], list[Target], dict]:
    runs = 3 if quick else 10
    adcli = adcli_command()
    py = sys.executable
    sample = ["grad", "samples/relu.ad", "--set", "W=2", "x=3", "b=1"]
    # (label, command, runs, environment); None: the defaults
    commands = [
        ("python -c \"import numpy\" (reference)", [py, "-c", "import numpy"], None, None),
        ("adcli grad samples/relu.ad --set W=2 x=3 b=1", adcli + sample, None, None),
        ("adcli --version", adcli + ["--version"], None, None),
    ]
    notes = []
    if not quick:
        commands += [
            ("adcli grad ... --json", adcli + sample + ["--json"], None, None),
            ("adcli --help", adcli + ["--help"], None, None),
            ("python -c \"import typer, rich, lark, numpy\"", [py, "-c", "import typer, rich, lark, numpy"],
             None, None),
            ("python -c \"pass\"", [py, "-c", "pass"], None, None),
        ]
        for peer in ("torch", "jax"):  # context, not targets: fewer runs keep the suite short
            if available(peer):
                commands.append((f"python -c \"import {peer}\"", [py, "-c", f"import {peer}"], 5, None))
            else:
                notes.append(f"{peer} is not installed: its import time is skipped")
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            commands.append(("adcli grad ... compiling its modules every run (PYTHONDONTWRITEBYTECODE)",
                             adcli + sample, None, dict(os.environ)))
    table = Table("1. Cold start (whole process)", ["command", "median (wall)", "min – max", "vs import numpy",
                                                    "CPU median", "CPU vs import numpy"], notes=notes)
    raw = {}
    ref = ref_cpu = None
    with tempfile.TemporaryDirectory() as prefix:
        measured = time_commands(commands, runs, cached_bytecode_env(prefix))
    for label, *_ in commands:
        st = measured[label]
        ref, ref_cpu = ref or st.median, ref_cpu or st.cpu
        raw[label] = st.as_dict()
        table.rows.append([label, *fmt_stats(st), ratio(st.median, ref), fmt_seconds(st.cpu),
                           ratio(st.cpu, ref_cpu)])
    grad = raw["adcli grad samples/relu.ad --set W=2 x=3 b=1"]
    table.notes.append(f"{runs} runs each (at most 5 for PyTorch and JAX) after one warm-up run, the commands in "
                       "turn; the same "
                       "interpreter for every row, with compiled modules cached as in an installed package; CPU "
                       "is user + system time of the process, which a busy machine inflates less than wall time "
                       "(numpy's BLAS threads add to it).")
    targets = [Target("cold start of `adcli grad` on the sample, piped", grad["median"] / ref, 1.4, "×",
                      f"vs `import numpy` (CPU time: {grad['cpu'] / ref_cpu:.2f}×)")]
    for label, limit in (("adcli grad ... --json", 1.4), ("adcli --version", 0.5), ("adcli --help", 0.5)):
        if label in raw:
            st = raw[label]
            targets.append(Target(f"cold start of `{label}`", st["median"] / ref, limit, "×",
                                  f"vs `import numpy` (CPU time: {st['cpu'] / ref_cpu:.2f}×)"))
    return [table], targets, raw
