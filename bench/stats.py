"""Timing and memory helpers: repeated runs summarised as median and min–max, peak memory two ways."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass


@dataclass
class Stats:
    """Seconds of repeated runs: the median, the fastest and the slowest (wall time), and the
    median CPU time, which other processes on a busy machine inflate far less."""

    median: float
    low: float
    high: float
    runs: int
    cpu: float | None = None

    @classmethod
    def of(cls, samples: list[float], cpu: list[float] | None = None) -> "Stats":
        return cls(statistics.median(samples), min(samples), max(samples), len(samples),
                   statistics.median(cpu) if cpu else None)

    @classmethod
    def from_dict(cls, d: dict) -> "Stats":
        return cls(d["median"], d["min"], d["max"], d["runs"], d.get("cpu"))

    def scaled(self, factor: float) -> "Stats":
        """The same statistics divided by `factor` (per node, per line)."""
        return Stats(self.median / factor, self.low / factor, self.high / factor, self.runs,
                     None if self.cpu is None else self.cpu / factor)

    def as_dict(self) -> dict:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": self.runs, "cpu": self.cpu}


def repeat(fn, runs: int, warmup: int = 1) -> Stats:
    """Time `fn()` `runs` times after `warmup` untimed calls; a full collection before each run."""
    for _ in range(warmup):
        fn()
    samples, cpu = [], []
    for _ in range(runs):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return Stats.of(samples, cpu)


def interleaved(fns: dict, runs: int, warmup: int = 1) -> dict[str, Stats]:
    """Time several functions round-robin, so drift in the machine's speed hits them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: Stats.of(s) for name, s in samples.items()}


def traced_peak(fn) -> tuple[int, object]:
    """Bytes allocated through Python's allocators at the peak of `fn()`, above what was live before.

    numpy reports its array buffers to tracemalloc, so arrays count; libraries with their own
    allocator (PyTorch, XLA) do not, which is why `rss_peak` exists too.
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base, result


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def rss_supported() -> bool:
    try:
        _status_kib("VmHWM")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_peak(fn) -> tuple[int | None, object]:
    """Growth of the resident set at the peak of `fn()` (Linux: the high-water mark is reset first).

    Counts every allocator, so it is the one measure comparable across libraries; memory freed
    earlier and reused makes it an underestimate, so run it in a fresh process.
    """
    if not rss_supported():
        return None, fn()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set size
    base = _status_kib("VmRSS")
    result = fn()
    return (_status_kib("VmHWM") - base) * 1024, result


def fmt_seconds(s: float) -> str:
    """A duration with a unit that keeps three significant figures."""
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.3g} µs"
    return f"{s * 1e9:.3g} ns"


def fmt_stats(st: Stats) -> tuple[str, str]:
    """(median, min–max) as table cells."""
    return fmt_seconds(st.median), f"{fmt_seconds(st.low)} – {fmt_seconds(st.high)}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g} B"
