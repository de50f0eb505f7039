"""Values in and out: parsing command-line and file values, formatting numbers, JSON conversion."""

from __future__ import annotations

import json
import math
import re
import sys
from functools import lru_cache

import numpy as np

from .errors import InputError

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

# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

def format_number(x) -> str:
    """A number as a person writes it, exactly: an integer as itself, a float as 18 rather than 18.0,
    else the shortest exact repr."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool) or \
            isinstance(x, np.ndarray) and x.dtype.kind in "iu":
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


# The one rule for people: numbers show 8 significant digits (numpy's own print precision), written
# the shortest way (18, 0.1, -215.6); a whole number that needs more digits than that is shown with
# an exponent (1.2345679e+08 for 123456789), so that a rounded number never looks like an exact
# integer; --full shows every digit; JSON is always exact.
SIGNIFICANT = 8


def format_short(x, digits: int = SIGNIFICANT) -> str:
    """A number rounded to `digits` significant digits, then written as format_number writes it,
    unless the rounding made it a whole number of more than `digits` digits (123456790 for
    123456789): then with an exponent, as the rounded number it is."""
    x = float(x)
    if not math.isfinite(x):
        return format_number(x)
    text = f"{x:.{digits}g}"
    rounded = float(text)
    if rounded != x and abs(rounded) >= 10 ** digits:
        return text  # `g` writes such a number with an exponent: 1.2345679e+08
    return format_number(rounded)


def format_value(value, full: bool = False) -> str:
    """A scalar or array on one line, to 8 significant digits and abbreviated the way numpy
    abbreviates; with `full`, every digit and every element."""
    a = np.asarray(value, dtype=np.float64)
    number = format_number if full else format_short
    if a.ndim == 0:
        return number(a)
    text = np.array2string(a, separator=", ", formatter={"float_kind": number},
                           threshold=sys.maxsize if full else 1000, edgeitems=3, max_line_width=sys.maxsize)
    return " ".join(part.strip() for part in text.split("\n"))


def format_block(value, full: bool = False, width: int = sys.maxsize) -> str:
    """A value for a table cell: one row per line (rows wrapped at `width` characters), to 8
    significant digits; with `full`, every digit and every element."""
    a = np.asarray(value, dtype=np.float64)
    number = format_number if full else format_short
    if a.ndim == 0:
        return number(a)
    return np.array2string(a, separator=", ", formatter={"float_kind": number},
                           threshold=sys.maxsize if full else 1000, edgeitems=3, max_line_width=width)


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def to_json(value):
    """A number or nested list for json.dumps; NaN and infinities become the strings JSON allows."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        x = float(a)
        return x if math.isfinite(x) else _NONFINITE[format_number(x)]
    if np.isfinite(a).all():
        return a.tolist()
    out = a.astype(object)
    out[np.isnan(a)] = "NaN"
    out[a == np.inf] = "Infinity"
    out[a == -np.inf] = "-Infinity"
    return out.tolist()


def dumps(obj) -> str:
    """The one JSON writer: strict (no bare NaN), deterministic, ASCII-safe."""
    return json.dumps(obj, allow_nan=False)
