"""Results as data (tables, target checks), rendered as Markdown; workers run as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Table:
    """One case's results: a title, column names, rows of cells, and notes (skips, caveats)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


@dataclass
class Target:
    """One of the issue's targets: what was measured against what limit."""

    name: str
    measured: float | None
    limit: float
    unit: str
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.measured is None else self.measured <= self.limit

    def row(self) -> list[str]:
        shown = "n/a" if self.measured is None else f"{self.measured:.3g}{self.unit}"
        verdict = {True: "met", False: "**not met**", None: "not measured"}[self.met]
        return [self.name, shown, f"≤ {self.limit:g}{self.unit}", verdict, self.note]


def targets_table(targets: list[Target]) -> Table:
    return Table("Targets", ["target", "measured", "limit", "status", "note"],
                 [t.row() for t in targets])


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}×"


def run_worker(spec: dict, timeout: float = 600) -> dict:
    """Run `bench.worker` on `spec` in a fresh interpreter; an error dict if it fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        done = subprocess.run([sys.executable, "-m", "bench.worker", json.dumps(spec)], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker exited {done.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])
