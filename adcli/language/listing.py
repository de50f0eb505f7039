"""Which iterations of a loop a trace lists (`--iterations 0:3,-2:`): the expander unrolls those of a
very long loop and keeps the others as loops; the trace's listing folds the others of any loop."""

from __future__ import annotations

from adcli.errors import InputError

DEFAULT = "0:2,-2:"
WHOLE_UP_TO = 6  # by default a loop of this many iterations or fewer is listed whole


def parse_iterations(text: str) -> tuple:
    """`0:3,-2:` as slices (and single iterations as one-element slices), or an InputError."""
    chosen = []
    for item in text.split(","):
        item = item.strip()
        try:
            if ":" in item:
                parts = item.split(":")
                if len(parts) > 3:
                    raise ValueError
                start, stop, step = (int(p) if p.strip() else None for p in parts + [""] * (3 - len(parts)))
                if step == 0:
                    raise ValueError
                chosen.append(slice(start, stop, step))
            else:
                k = int(item)
                chosen.append(slice(k, k + 1 if k != -1 else None))
        except ValueError:
            raise InputError(f"--iterations {text}: give iterations as Python slices and numbers, separated by "
                             "commas: 0:3,-2: lists the first three and the last two of every loop") from None
    return tuple(chosen)


def picked(chosen: tuple | None, total: int) -> frozenset:
    """The iterations (0 to total - 1) that `chosen` lists; None is the default."""
    if chosen is None:
        if total <= WHOLE_UP_TO:
            return frozenset(range(total))
        chosen = parse_iterations(DEFAULT)
    everything = range(total)
    return frozenset(k for part in chosen for k in everything[part])


def left_out(listed: frozenset, count: int, shortest: int) -> list[tuple[int, int]]:
    """The runs of iterations (start, stop) a listing leaves out, of `shortest` iterations or more."""
    runs, start = [], 0
    for k in [*sorted(listed), count]:
        if k - start >= shortest:
            runs.append((start, k))
        start = k + 1
    return runs
