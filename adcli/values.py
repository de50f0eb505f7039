"""Values in and out: parsing command-line and file values, formatting numbers, JSON conversion."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

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
    text = os.environ.get("ADCLI_MAX_BYTES", "").strip().upper().replace(" ", "")
    if not text:
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:E[0-9]+)?)([KMGT]?I?B?)", text)
    if not match or match[2] not in UNITS:
        raise InputError(f"ADCLI_MAX_BYTES={os.environ['ADCLI_MAX_BYTES']!r}: expected a size such as 16G, 500M "
                         "or 1000000000")
    return int(float(match[1]) * UNITS[match[2]])


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
    """A float as a person writes it: 18 rather than 18.0, else the shortest exact repr."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def format_value(value, full: bool = False) -> str:
    """A scalar or array on one line, abbreviated the way numpy abbreviates unless `full`."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return format_number(a)
    text = np.array2string(a, separator=", ", formatter={"float_kind": format_number},
                           threshold=sys.maxsize if full else 1000, edgeitems=3, max_line_width=sys.maxsize)
    return " ".join(part.strip() for part in text.split("\n"))


def format_short(x) -> str:
    """A float to 8 significant digits, as numpy prints arrays; integers without a point."""
    x = float(x)
    return format_number(x) if not math.isfinite(x) or x.is_integer() else f"{x:.8g}"


def format_block(value, full: bool = False) -> str:
    """A value for a table cell: scalars exact, arrays one row per line to 8 significant digits."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return format_number(a)
    return np.array2string(a, separator=", ", formatter={"float_kind": format_short},
                           threshold=sys.maxsize if full else 1000, edgeitems=3, max_line_width=sys.maxsize)


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


# ---------------------------------------------------------------------------------------------
# Parsing values given on the command line or in files
# ---------------------------------------------------------------------------------------------

EXPECTED = "a number or a nested list of numbers, such as 2, -1.5e3 or [[1, 2], [3, 4]]"


def parse_value(text: str, where: str) -> np.ndarray:
    """A JSON number or nested list as a float64 array; `where` names it in errors. No eval."""
    depth = deepest = 0
    for ch in text:  # json's decoder recurses per bracket, so look at the depth first
        if ch == "[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "]":
            depth -= 1
    if deepest > MAX_DIMENSIONS:
        raise InputError(f"{where}: nested {deepest} levels deep; arrays have at most {MAX_DIMENSIONS} dimensions")

    try:
        data = json.loads(text, parse_int=float, parse_float=float, parse_constant=_reject(where))
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: {decode_problem(text, e)}") from None
    return as_array(data, where)


def decode_problem(text: str, e: json.JSONDecodeError) -> str:
    """What is wrong with a value json could not decode, naming a word such as abc or nan."""
    word = re.match(r"-?[^\W\d][\w.]*", text[e.pos:])
    if word and word.group().lstrip("-").lower() in ("nan", "inf", "infinity"):
        return f"{word.group()} is not allowed; give finite numbers"
    if word:
        return f"expected {EXPECTED} ('{word.group()[:40]}' at character {e.pos + 1} is not a number)"
    return f"expected {EXPECTED} ({e.msg.lower()} at character {e.pos + 1})"


def as_array(data, where: str) -> np.ndarray:
    """Check a decoded JSON value holds only finite numbers in a regular nesting, then convert."""
    stack = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            if depth == MAX_DIMENSIONS:  # numpy would call a too-deep nesting ragged
                raise InputError(f"{where}: nested more than {MAX_DIMENSIONS} levels deep; "
                                 f"arrays have at most {MAX_DIMENSIONS} dimensions")
            stack.extend((x, depth + 1) for x in item)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            shown = json.dumps(item)
            raise InputError(f"{where}: {shown[:40]} is not a number; expected {EXPECTED}")
        elif not math.isfinite(item):
            raise InputError(f"{where}: a number is too large for float64")
    try:
        return np.array(data, dtype=np.float64)
    except ValueError:
        raise InputError(f"{where}: the nested lists are ragged (rows of different lengths)") from None


def parse_assignments(items: list[str]) -> dict[str, np.ndarray]:
    """`NAME=VALUE` items from --set, in order; the same name twice is an error."""
    values: dict[str, np.ndarray] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise InputError(f"--set {item!r}: expected NAME=VALUE, such as x=3 or W=[[1, 2], [3, 4]]")
        if not name.isidentifier():
            raise InputError(f"--set {item!r}: {name!r} is not a valid name")
        if name in values:
            raise InputError(f"--set {item!r}: '{name}' is given more than once")
        if not text.strip():
            raise InputError(f"--set {item!r}: no value after '='; expected {EXPECTED}")
        values[name] = parse_value(text, f"--set {name}")
    return values


def load_inputs(path: str) -> dict[str, np.ndarray]:
    """Input values from a .json object (name -> number or nested list) or a .npz archive."""
    p = Path(path)
    where = f"--inputs {path}"
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as archive:
                return {name: checked_array(archive[name], f"{where}: {name}") for name in archive.files}
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: cannot read it ({e})") from None
    try:
        data = json.loads(text, parse_int=float, parse_float=float, parse_constant=_reject(where))
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e})") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply (arrays have at most {MAX_DIMENSIONS} dimensions)") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object of name -> value")
    return {name: as_array(value, f"{where}: {name}") for name, value in data.items()}


def _reject(where: str):
    """json's parse_constant hook: NaN and Infinity are not input values."""
    def reject(name):
        raise InputError(f"{where}: {name} is not allowed; give finite numbers")
    return reject


def checked_array(a, where: str) -> np.ndarray:
    """A numeric array from an .npz file as float64, refusing non-numbers and non-finite values."""
    if a.dtype.kind not in "iuf":
        raise InputError(f"{where}: holds {a.dtype} values; expected numbers")
    a = a.astype(np.float64, copy=False)  # a float64 array from the file is used as it is
    if not np.isfinite(a).all():
        raise InputError(f"{where}: holds NaN or infinite values; give finite numbers")
    return a
