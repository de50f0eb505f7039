"""--batch on grad, eval and jvp: many points at once, reported like one point with a leading axis."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adcli.cli.support import emit_json
from adcli.errors import AdError


class ProgressBar:
    """Rich's progress bar on stderr, for runs of more than one chunk on a terminal; nothing on a pipe."""

    def __init__(self):
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if done >= total or not sys.stderr.isatty():
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
            rate = TextColumn("{task.fields[rate]}")
            self.bar = Progress(TextColumn("points"), BarColumn(), MofNCompleteColumn(), rate, TimeRemainingColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("points", total=total, rate="")
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, completed=done, rate=f"{speed:,.0f} points/s" if speed else "")
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


@dataclass
class Run:
    """How a --batch run is carried out: its chunks, where they are computed, where results go."""

    chunk: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    output: str | None = None
    resume: bool = False
    budget: str | None = None  # --memory-budget: the chunks' size, in bytes, when --chunk is not given

    def chunks(self):
        """--chunk's points, or the chunk budget --memory-budget gives (each worker holds one chunk)."""
        if self.chunk is not None or self.budget is None:
            return self.chunk
        from adcli.engine.batch import Budget
        from adcli.engine.checkpoint import parse_budget
        return Budget(parse_budget(self.budget))

    @contextmanager
    def cluster(self):
        """The Dask cluster the chunks run on (--workers, --scheduler or DASK_SCHEDULER_ADDRESS), or None."""
        if self.workers is None and self.scheduler is None and not os.environ.get("DASK_SCHEDULER_ADDRESS"):
            yield None
            return
        from adcli.engine.distributed import Cluster
        with Cluster(self.workers, self.scheduler, quiet=True) as cluster:
            yield cluster

    def store(self):
        from adcli.engine.batch_store import Output
        return None if self.output is None else Output(self.output, self.resume)


def run_batch(program, names, run: Run, compute):
    """(the BatchedProgram, compute(it)) on the run's cluster and into its output, with a progress
    bar; the BatchedProgram comes back without its cluster, so a point's diagnosis runs here."""
    bar = ProgressBar()
    try:
        with run.cluster() as cluster:
            batched = program.batch(*names, chunk=run.chunks(), progress=bar, cluster=cluster, output=run.store())
            result = compute(batched)
    finally:
        bar.close()
    batched.cluster = None
    return batched, result


def written(folder: str, output: str, points: int, json_: bool) -> None:
    """What a run with -o says: the folder and its files (the results themselves are in them)."""
    import json

    from adcli.engine.batch_store import MANIFEST
    files = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))["files"]
    if json_:
        emit_json({"output": output, "points": points, "written": folder, "files": files})
    else:
        sys.stdout.write(f"{output}: {points:,} points written to {folder}: {', '.join(files.values())}\n")


def bad_points(*arrays) -> np.ndarray:
    """Per point (the first axis), whether any of the arrays holds a NaN or infinity there."""
    size = len(arrays[0])
    bad = np.zeros(size, dtype=bool)
    for a in arrays:
        bad |= ~np.isfinite(np.reshape(a, (size, -1))).all(axis=1)
    return bad


def at_point(line: str, index: int, count: int, what: str) -> str:
    """A warning or note about one point: `adcli: warning: at point 17 (one of 3 points ...): ...`."""
    head, _, rest = line.partition(": ")
    kind, _, rest = rest.partition(": ")
    others = f" (one of {count} points {what})" if count > 1 else ""
    return f"{head}: {kind}: at point {index}{others}: {rest}"


def point_diagnosis(program, batched, given: dict, index: int, of, wrt, strict: bool):
    """The one-point diagnosis of point `index` (its warning, its kinks), as grad gives it."""
    from adcli.engine.diagnose import inspect_grad
    try:
        return inspect_grad(program, batched.point(given, index), of, wrt, strict=strict)
    except AdError as e:
        e.message = f"at point {index}: {e.message}"
        raise


def batch_grad(program, given: dict, names, run: Run, of, wrt, strict: bool):
    """(BatchGradient, notes for stderr, kinks for --json)."""
    batched, result = run_batch(program, names, run, lambda b: b.grad(of=of, wrt=wrt, **given))
    notes, kinks = [], []
    bad = bad_points(result.value, *result.grad.values()) if len(result.value) else np.zeros(0, dtype=bool)
    if bad.any():
        first = int(np.argmax(bad))
        warning, _ = point_diagnosis(program, batched, given, first, of, wrt, strict)
        if strict:  # the point's own pass found nothing to stop at: say which results are not finite
            from adcli.errors import NonFiniteError
            _, out = program.output_node(of)
            raise NonFiniteError(f"at point {first}: the gradient of {result.output} is not finite",
                                 program.graph.span(out))
        notes.append(at_point(warning, first, int(bad.sum()), "with a result that is not finite") if warning
                     else None)
    if result.kinked.any():
        first = int(np.argmax(result.kinked))
        count = int(result.kinked.sum())
        _, point_kinks = point_diagnosis(program, batched, given, first, of, wrt, False)
        notes += [at_point(f"adcli: note: {k.note()}", first, count, "at a kink") for k in point_kinks]
        kinks = [{**k.to_json(), "point": first, "points": count} for k in point_kinks]
    return result, notes, kinks


def batch_eval(program, given: dict, names, run: Run, of, strict: bool):
    """(values, notes for stderr): every assigned value (or `of`) at every point."""
    batched, values = run_batch(program, names, run, lambda b: b.eval(of=of, **given))
    notes = []
    floats = [v for v in values.values() if v.dtype.kind == "f"]
    bad = bad_points(*floats) if floats and len(floats[0]) else np.zeros(0, dtype=bool)
    if bad.any():
        from adcli.engine.diagnose import inspect_eval
        first = int(np.argmax(bad))
        point = batched.point(given, first)
        one = program.eval(of=of, **point)
        try:
            warning = inspect_eval(program, point, of, one, strict)
        except AdError as e:
            e.message = f"at point {first}: {e.message}"
            raise
        notes.append(at_point(warning, first, int(bad.sum()), "with a value that is not finite") if warning
                     else None)
    return values, notes


def batch_jvp(program, directions: dict, given: dict, names, run: Run, of, strict: bool):
    """(JVP with values and tangents [B], notes for stderr)."""
    batched, result = run_batch(program, names, run, lambda b: b.jvp(directions, of=of, **given))
    notes = []
    bad = bad_points(result.value, result.tangent) if len(result.value) else np.zeros(0, dtype=bool)
    if bad.any():
        from adcli.engine.diagnose import inspect_eval
        first = int(np.argmax(bad))
        point = batched.point(given, first)
        try:  # where a value went bad, if one did, as eval says it
            warning = inspect_eval(program, point, of, program.eval(of=of, **point), strict)
        except AdError as e:
            e.message = f"at point {first}: {e.message}"
            raise
        if strict:
            from adcli.errors import NonFiniteError
            _, out = program.output_node(of)
            raise NonFiniteError(f"at point {first}: the tangent of {result.output} is not finite",
                                 program.graph.span(out))
        notes.append(at_point(warning or f"adcli: warning: the tangent of {result.output} is not finite", first,
                              int(bad.sum()), "with a value or tangent that is not finite"))
    return result, notes
