"""Case 13: loops kept as loops, against JAX's lax.scan. `adcli grad --json` of a 10⁵- and a 10⁶-step
scalar recurrence (h = h + 0.001·sin(a·h)) and of a 1,000-step RNN over 64-wide vectors, each beside a
Python script doing the same with jax.lax.scan and jax.value_and_grad (float64): whole processes,
imports included; wall time, peak memory (the process's maximum resident set), and agreement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .peers import available
from .report import Table, Target, ratio
from .startup import adcli_command, cached_bytecode_env
from .stats import Stats, fmt_stats

RECURRENCE = """input a
h = 0.5
for t in range({n}):
    h = h + 0.001 * sin(a * h)
y = h
"""

RECURRENCE_JAX = """import sys, json
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp

def f(a):
    def step(h, _):
        return h + 0.001 * jnp.sin(a * h), None
    h, _ = jax.lax.scan(step, jnp.float64(0.5), None, length={n})
    return h

value, grad = jax.value_and_grad(f)(1.3)
print(json.dumps({{"value": float(value), "grad": {{"a": float(grad)}}}}))
"""

RNN = """input W: [64, 64]
input U: [64, 16]
input b: [64]
input h0: [64]
data xs: [{n}, 16]
h = h0
for t in range({n}):
    h = tanh(W @ h + U @ xs[t] + b)
loss = sum(h * h)
"""

RNN_JAX = """import sys, json
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp

given = json.load(open(sys.argv[1]))
W, U, b, h0, xs = (jnp.asarray(np.array(given[k], dtype=np.float64)) for k in ("W", "U", "b", "h0", "xs"))

def loss(W, U, b, h0):
    def step(h, x):
        return jnp.tanh(W @ h + U @ x + b), None
    h, _ = jax.lax.scan(step, h0, xs)
    return jnp.sum(h * h)

value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(W, U, b, h0)
print(json.dumps({"value": float(value),
                  "grad": {k: np.asarray(g).tolist() for k, g in zip(("W", "U", "b", "h0"), grads)}}))
"""


def measured(argv: list[str], env: dict) -> tuple[float, float, dict]:
    """(wall seconds, peak resident bytes, its JSON output) of one whole process, its peak read by a
    small parent that waits for it (os.wait4 gives the child's own maximum resident set)."""
    start = time.perf_counter()
    wrapped = [sys.executable, "-c", PEAK, *argv]
    done = subprocess.run(wrapped, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:3])} … exited {done.returncode}: {done.stderr.decode()[-300:]}")
    out, _, peak = done.stdout.decode().rpartition("\npeak ")
    return elapsed, float(peak), json.loads(out)


# A parent that runs the command and prints its peak resident set (the child's own ru_maxrss).
PEAK = """import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
sys.stdout.flush()
print("\\npeak", usage.ru_maxrss * 1024)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def agreement(ours: dict, theirs: dict) -> float:
    """The largest relative difference of the value and every gradient element."""
    worst = abs(ours["value"] - theirs["value"]) / max(abs(theirs["value"]), 1e-300)
    for k, g in theirs["grad"].items():
        a, b = np.asarray(ours["grad"][k], dtype=float), np.asarray(g, dtype=float)
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))))
    return worst


def run(quick: bool) -> tuple[list[Table], list[Target], dict]:
    runs = 1 if quick else 3
    table = Table("13. Loops kept as loops against jax.lax.scan (whole process, float64)",
                  ["workload", "program", "median (wall)", "min – max", "vs JAX", "peak memory", "vs JAX",
                   "agrees to"])
    targets, raw = [], {}
    if not available("jax"):
        table.notes.append("JAX is not installed: this case is skipped")
        return [table], targets, raw
    adcli = adcli_command()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        env = cached_bytecode_env(str(folder / "pycache"))
        env["XDG_CACHE_HOME"] = str(folder / "cache")  # adcli's grammar and program caches, warm after a run
        rng = np.random.default_rng(0)
        inputs = {"W": (rng.normal(size=(64, 64)) * 0.15).tolist(), "U": (rng.normal(size=(64, 16)) * 0.3).tolist(),
                  "b": (rng.normal(size=64) * 0.1).tolist(), "h0": (rng.normal(size=64) * 0.5).tolist(),
                  "xs": rng.normal(size=(1000, 16)).tolist()}
        (folder / "rnn.json").write_text(json.dumps(inputs))
        workloads = [("recurrence, 10⁵ steps", RECURRENCE.format(n=100_000), RECURRENCE_JAX.format(n=100_000),
                      ["--set", "a=1.3"], []),
                     ("recurrence, 10⁶ steps", RECURRENCE.format(n=1_000_000), RECURRENCE_JAX.format(n=1_000_000),
                      ["--set", "a=1.3"], []),
                     ("RNN, 1,000 steps × 64", RNN.format(n=1000), RNN_JAX,
                      ["--inputs", str(folder / "rnn.json")], [str(folder / "rnn.json")])]
        for name, source, script, given, script_args in workloads:
            (folder / "m.ad").write_text(source)
            (folder / "m_jax.py").write_text(script)
            ours = [*adcli, "grad", str(folder / "m.ad"), *given, "--json"]
            theirs = [sys.executable, str(folder / "m_jax.py"), *script_args]
            cold_env = dict(env, XDG_CACHE_HOME=str(folder / "cold"))
            measured(ours, env)  # warm-up: bytecode, the OS's file cache, adcli's grammar cache
            measured(theirs, env)
            times = {"adcli (cold: no caches)": [], "adcli": [], "JAX": []}
            peaks = {label: [] for label in times}
            outputs = {}
            for _ in range(runs):
                for label, argv, e in (("adcli (cold: no caches)", ours, cold_env), ("adcli", ours, env),
                                       ("JAX", theirs, env)):
                    if label.endswith("caches)"):
                        subprocess.run(["rm", "-rf", str(folder / "cold")], check=True)
                    elapsed, peak, out = measured(argv, e)
                    times[label].append(elapsed)
                    peaks[label].append(peak)
                    outputs[label] = out
            jax_time = Stats.of(times["JAX"]).median
            jax_peak = max(peaks["JAX"])
            agree = agreement(outputs["adcli"], outputs["JAX"])
            raw[name] = {label: {"time": Stats.of(t).as_dict(), "peak": max(peaks[label])}
                         for label, t in times.items()}
            raw[name]["agreement"] = agree
            for label, t in times.items():
                st = Stats.of(t)
                table.rows.append([name, label, *fmt_stats(st)[:2], ratio(st.median, jax_time),
                                   f"{max(peaks[label]) / 2**20:.0f} MiB", ratio(max(peaks[label]), jax_peak),
                                   "" if label == "JAX" else f"{agree:.1e}"])
            cached = Stats.of(times["adcli"]).median
            cold = Stats.of(times["adcli (cold: no caches)"]).median
            targets += [Target(f"{name}: adcli / JAX time", cached / jax_time, 1.0, "×"),
                        Target(f"{name}: adcli with no caches / JAX time", cold / jax_time, 2.0, "×"),
                        Target(f"{name}: adcli / JAX peak memory", max(peaks["adcli"]) / jax_peak, 1.5, "×"),
                        Target(f"{name}: relative difference from JAX", agree, 1e-9, "")]
        if "recurrence, 10⁵ steps" in raw and "recurrence, 10⁶ steps" in raw:
            small = raw["recurrence, 10⁵ steps"]["adcli"]["time"]["median"]
            large = raw["recurrence, 10⁶ steps"]["adcli"]["time"]["median"]
            targets.append(Target("recurrence: 10⁶ steps / 10⁵ steps time", large / small, 12.0, "×"))
    table.notes.append(f"{runs} run{'s' * (runs > 1)} of each after a warm-up, in turn; peak memory is the "
                       "process's maximum resident set; JAX's script imports JAX, traces, compiles and runs "
                       "value_and_grad once, as a script would.")
    return [table], targets, raw
