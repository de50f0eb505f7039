"""Limits: the largest value adcli makes (ADCLI_MAX_BYTES), sizes in words, and the size check every
shape passes before anything allocates it."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from adcli.errors import InputError

MAX_DIMENSIONS = 32


ITEM_BYTES = 8  # float64 (and int64)


DEFAULT_MAX_BYTES = 4 * 2**30


UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
         "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}


def max_bytes() -> int:
    """The largest value adcli will make, in bytes: ADCLI_MAX_BYTES (such as 16G or 500M), else 4 GiB.

    Every size is known before anything is computed, so a value over the limit is refused with its
    line, shape and size instead of exhausting the machine's memory.
    """
    import os
    return byte_limit(os.environ.get("ADCLI_MAX_BYTES", ""))


def operation_limit() -> int:
    """The most operations unrolling may make: a node takes about half a kilobyte to build, and its
    values more to run, so one per kilobyte of ADCLI_MAX_BYTES (4 million by default)."""
    return max(max_bytes() // 1024, 100_000)


@lru_cache(maxsize=8)
def byte_limit(setting: str) -> int:
    """ADCLI_MAX_BYTES's value in bytes; a limit beyond any machine (1e400, 99999999999T) means none."""
    text = setting.strip().upper().replace(" ", "")
    if not text:
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:E[+]?[0-9]+)?)([KMGT]?I?B?)", text)
    if not match or match[2] not in UNITS:
        raise InputError(f"ADCLI_MAX_BYTES={setting!r}: expected a size such as 16G, 500M or 1000000000")
    value = float(match[1]) * UNITS[match[2]]
    return int(min(value, 2.0**62)) if math.isfinite(value) else 2**62


def human_bytes(n: float) -> str:
    """1.5 GiB, 12 MiB, 800 B."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def check_size(shape, fail, what: str = "a value") -> None:
    """Refuse a shape too large to hold, before anything allocates it: `fail(message)` makes the error."""
    if len(shape) > MAX_DIMENSIONS:
        raise fail(f"{what} would have {len(shape)} dimensions; arrays have at most {MAX_DIMENSIONS}")
    size = math.prod(shape) * ITEM_BYTES
    limit = max_bytes()
    if size > limit:
        raise fail(f"{what} would have shape {fmt_dims(shape)}: {human_bytes(size)}, over the limit of "
                   f"{human_bytes(limit)} (set ADCLI_MAX_BYTES to raise it)")


def fmt_dims(shape) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"
