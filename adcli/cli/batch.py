"""--batch on grad, eval and jvp: many points at once, reported like one point with a leading axis."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

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
    """What a run with -o says: the folder (or Zarr group) and its files (the results are in them)."""
    from adcli.engine.batch_store import output_files
    files = output_files(folder)
    if json_:
        emit_json({"output": output, "points": points, "written": folder, "files": files})
    else:
        sys.stdout.write(f"{output}: {points:,} points written to {folder}: {', '.join(files.values())}\n")


SLAB_BYTES = 1 << 26  # results are scanned this many bytes at a time: those of -o may not fit in memory


def slabs(*arrays):
    """(start, the arrays' rows from start) a slab at a time, as numpy arrays."""
    size = len(arrays[0])
    row = sum(8 * int(np.prod(np.shape(a)[1:], dtype=np.int64)) for a in arrays) or 1
    step = max(1, SLAB_BYTES // row)
    for start in range(0, size, step):
        yield start, [np.asarray(a[start:start + step]) for a in arrays]


def bad_points(*arrays) -> tuple[int, int]:
    """(the first point, the number of points) where any of the arrays holds a NaN or infinity
    (the first is -1 when there is none)."""
    first, count = -1, 0
    for start, rows in slabs(*arrays):
        bad = np.zeros(len(rows[0]), dtype=bool)
        for a in rows:
            bad |= ~np.isfinite(np.reshape(a, (len(a), -1))).all(axis=1)
        if bad.any() and first < 0:
            first = start + int(np.argmax(bad))
        count += int(bad.sum())
    return first, count


def flagged(flags) -> tuple[int, int]:
    """(the first point, the number of points) where a per-point flag is set (-1 when none is)."""
    first, count = -1, 0
    for start, (rows,) in slabs(flags):
        if rows.any() and first < 0:
            first = start + int(np.argmax(rows))
        count += int(rows.sum())
    return first, count


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
    first, count = bad_points(result.value, *result.grad.values())
    if count:
        warning, _ = point_diagnosis(program, batched, given, first, of, wrt, strict)
        if strict:  # the point's own pass found nothing to stop at: say which results are not finite
            from adcli.errors import NonFiniteError
            _, out = program.output_node(of)
            raise NonFiniteError(f"at point {first}: the gradient of {result.output} is not finite",
                                 program.graph.span(out))
        notes.append(at_point(warning, first, count, "with a result that is not finite") if warning else None)
    first, count = flagged(result.kinked)
    if count:
        _, point_kinks = point_diagnosis(program, batched, given, first, of, wrt, False)
        notes += [at_point(f"adcli: note: {k.note()}", first, count, "at a kink") for k in point_kinks]
        kinks = [{**k.to_json(), "point": first, "points": count} for k in point_kinks]
    return result, notes, kinks


def batch_eval(program, given: dict, names, run: Run, of, strict: bool):
    """(values, notes for stderr): every assigned value (or `of`) at every point."""
    batched, values = run_batch(program, names, run, lambda b: b.eval(of=of, **given))
    notes = []
    floats = [v for v in values.values() if v.dtype.kind == "f"]
    first, count = bad_points(*floats) if floats else (-1, 0)
    if count:
        from adcli.engine.diagnose import inspect_eval
        point = batched.point(given, first)
        one = program.eval(of=of, **point)
        try:
            warning = inspect_eval(program, point, of, one, strict)
        except AdError as e:
            e.message = f"at point {first}: {e.message}"
            raise
        notes.append(at_point(warning, first, count, "with a value that is not finite") if warning else None)
    return values, notes


def batch_jvp(program, directions: dict, given: dict, names, run: Run, of, strict: bool):
    """(JVP with values and tangents [B], notes for stderr)."""
    batched, result = run_batch(program, names, run, lambda b: b.jvp(directions, of=of, **given))
    notes = []
    first, count = bad_points(result.value, result.tangent)
    if count:
        from adcli.engine.diagnose import inspect_eval
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
                              count, "with a value or tangent that is not finite"))
    return result, notes
