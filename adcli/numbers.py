"""Numbers in words: formatting values for tables and traces (the shortest digits that read back exactly), and JSON that stays valid with NaN and infinities."""

from __future__ import annotations

import json
import math
import sys

import numpy as np

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
