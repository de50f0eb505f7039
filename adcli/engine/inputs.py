"""Input values from the command line and from files: --set, --tangent, --inputs (.json, .npz, .npy).

A value is a JSON number or nested list (with Infinity and -Infinity as Python's json writes them),
or anything the language accepts for a constant: `.5`, `+1`, `pi`, `-inf`, `1/2`, `[1, 2*pi]`,
parsed by adcli's own grammar (never Python's eval). NaN is refused in every form.
Files are read with every size checked before it is read: a file that never ends, an archive
member that inflates past the size limit, or a header claiming 10¹¹ elements is refused with what
it is, never read until memory runs out.
"""

from __future__ import annotations

import json
import math
import stat
import zipfile
from pathlib import Path

import numpy as np

from adcli.errors import AdError, InputError
from adcli.language.source import file_status, read_bounded, shown
from adcli.limits import MAX_DIMENSIONS, check_size
from adcli.operations import CONSTANTS as NAMED_CONSTANTS

EXPECTED = "a number or a nested list of numbers, such as 2, -1.5e3, pi/2 or [[1, 2], [3, 4]]"
SINGLE = "\0array"  # the key of an .npy file's one array, until the file's one input takes it


class Given(dict):
    """Input values by name, remembering which came from a file (an unknown one there is only a
    note: one data file may serve several variants of a program) and which were widened from float32."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.from_file: set[str] = set()
        self.widened: list[str] = []


# ---------------------------------------------------------------------------------------------
# Values written on the command line
# ---------------------------------------------------------------------------------------------

def nesting(text: str) -> int:
    """How deeply brackets (and braces, which are no value at all) nest, without recursion."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_value(text: str, where: str) -> np.ndarray:
    """A number or nested list (JSON, or a constant expression of the language) as a float64 array."""
    if nesting(text) > MAX_DIMENSIONS:
        raise InputError(f"{where}: nested {nesting(text)} levels deep; arrays have at most {MAX_DIMENSIONS} "
                         "dimensions")
    if "{" in text or "}" in text:
        raise InputError(f"{where}: expected {EXPECTED}, not a JSON object")
    try:
        data = json_loads(text)
    except (json.JSONDecodeError, RecursionError):
        return constant_expression(text, where)
    return as_array(data, where)


TOO_LARGE = object()  # a JSON number beyond float64 (1e999), refused by as_array, which knows its name


def json_number(text: str):
    """json's hook for a number: a float, or TOO_LARGE beyond float64."""
    value = float(text)
    return value if math.isfinite(value) else TOO_LARGE


def json_loads(text: str):
    """JSON with every number a float, and with the infinities and NaN Python's json module writes
    (Infinity, -Infinity, NaN): as_array takes the infinities and refuses NaN."""
    return json.loads(text, parse_int=json_number, parse_float=json_number, parse_constant=float)


def constant_expression(text: str, where: str) -> np.ndarray:
    """A value written as the language writes constants, evaluated by adcli's own parser."""
    if "\n" in text or "\r" in text:
        raise InputError(f"{where}: expected {EXPECTED} on one line")
    from adcli.engine.evaluate import evaluate
    from adcli.language.parser import parse_source  # only here: most values are plain JSON numbers and lists
    try:
        graph = parse_source(f"value = {text}\n", where)
    except AdError as e:
        raise InputError(f"{where}: {value_problem(e, text)}") from None
    if graph.inputs:
        name = graph.nodes[graph.inputs[0]].label
        raise InputError(f"{where}: '{shown(name)}' is not a number; expected {EXPECTED}")
    try:
        value = np.asarray(evaluate(graph, {})[graph.output], dtype=np.float64)
    except AdError as e:
        raise InputError(f"{where}: {e.message}") from None
    if np.isnan(value).any():
        raise InputError(f"{where}: {shown(text.strip())[:40]} is not a number (NaN)")
    return value


def value_problem(error: AdError, text: str) -> str:
    """A parse error in a value, in words about the value (its column counted within the value)."""
    message = error.message
    col = error.span.col - len("value = ") if error.span else 0
    if message.startswith("unexpected") and 0 < col <= len(text) + 1:
        return f"{message} (at character {col})"
    return message


def as_array(data, where: str) -> np.ndarray:
    """Check a decoded JSON value holds only numbers (infinities, not NaN) in a regular nesting, then
    convert."""
    stack = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            if depth == MAX_DIMENSIONS:  # numpy would call a too-deep nesting ragged
                raise InputError(f"{where}: nested more than {MAX_DIMENSIONS} levels deep; "
                                 f"arrays have at most {MAX_DIMENSIONS} dimensions")
            stack.extend((x, depth + 1) for x in item)
        elif item is TOO_LARGE:
            raise InputError(f"{where}: a number is too large for float64")
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            text = shown(json.dumps(item, ensure_ascii=False))
            raise InputError(f"{where}: {text[:40]} is not a number; expected {EXPECTED}")
        elif item != item:
            raise InputError(f"{where}: NaN is not allowed; give numbers (inf, as the language writes it, "
                             "for an infinity)")
    try:
        return np.array(data, dtype=np.float64)
    except ValueError:
        raise InputError(f"{where}: the nested lists are ragged (rows of different lengths)") from None


def parse_assignments(items: list[str], option: str = "--set") -> dict[str, np.ndarray]:
    """`NAME=VALUE` items from --set (or --tangent), in order; the same name twice is an error."""
    values: dict[str, np.ndarray] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        quoted = shown(repr(item))
        if not eq or not name:
            raise InputError(f"{option} {quoted}: expected NAME=VALUE, such as x=3 or W=[[1, 2], [3, 4]]")
        if not name.isidentifier() or not name.isascii():
            raise InputError(f"{option} {quoted}: {shown(repr(name))} is not a valid name")
        if name in values:
            raise InputError(f"{option} {quoted}: '{name}' is given more than once")
        if not text.strip():
            raise InputError(f"{option} {quoted}: no value after '='; expected {EXPECTED}")
        values[name] = parse_value(text, f"{option} {name}")
    return values


# ---------------------------------------------------------------------------------------------
# Values in files
# ---------------------------------------------------------------------------------------------


def load_inputs(path: str, mapped: bool = False, batch=()) -> Given:
    """Input values from a .json object (name -> value), an .npz archive, an .npy array (with
    `mapped`, the points of a batch: mapped in memory, read a chunk at a time), or a Zarr array or
    group (its arrays named in `batch` read a chunk at a time)."""
    where = f"--inputs {shown(path)}"
    from adcli.engine.zarr_store import is_zarr, read_zarr
    if is_zarr(path):
        arrays, widened = read_zarr(path, where, set(batch), SINGLE, checked_array)
        given = Given(arrays)
        given.from_file.update(given)
        given.widened = widened
        return given
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return read_npz(path, where)
    if suffix == ".npy" and mapped:
        given = Given({SINGLE: mapped_npy(path, where)})
        given.from_file.add(SINGLE)
        return given
    if suffix == ".npy":
        given = Given({SINGLE: read_npy(read_bounded(path, where), where)})
        given.from_file.add(SINGLE)
        return given
    raw = read_bounded(path, where)
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not content
    except UnicodeDecodeError as e:
        raise InputError(f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at {e.start}); .npz and .npy files "
                         "must end in .npz or .npy") from None
    if nesting(text) > MAX_DIMENSIONS + 1:
        raise InputError(f"{where}: nested {nesting(text)} levels deep; arrays have at most {MAX_DIMENSIONS} "
                         "dimensions")
    try:
        data = json_loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at line {e.lineno}, col {e.colno})") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply (arrays have at most {MAX_DIMENSIONS} dimensions)") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object of name -> value")
    given = Given({name: as_array(value, f"{where}: {shown(name)}") for name, value in data.items()})
    given.from_file.update(given)
    return given


def read_npz(path: str, where: str) -> Given:
    """An .npz archive's arrays, each member's declared shape checked before it is decompressed."""
    read_bounded_check(path, where)
    given = Given()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InputError(f"{where}: not an .npz archive (a zip of .npy arrays)") from None
    with archive:
        for member in archive.infolist():
            name = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
            label = f"{where}: {shown(name)}"
            if member.is_dir() or not member.filename.endswith(".npy"):
                raise InputError(f"{label}: is not an array (.npz members are .npy arrays)")
            try:
                with archive.open(member) as f:
                    array = read_npy_stream(f, label)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, NotImplementedError) as e:
                # RuntimeError: an encrypted member; NotImplementedError: a compression zipfile lacks
                raise InputError(f"{label}: cannot read it ({e})") from None
            widened = array.dtype in (np.float32, np.float16)
            given[name] = checked_array(array, label)
            if widened:
                given.widened.append(name)
    given.from_file.update(given)
    return given


def read_bounded_check(path: str, where: str) -> None:
    """The checks read_bounded makes, without reading: a regular file within the size limit."""
    if not stat.S_ISREG(file_status(path, where).st_mode):
        raise InputError(f"{where}: is not a regular file")


def read_npy(data: bytes, where: str) -> np.ndarray:
    import io
    return checked_array(read_npy_stream(io.BytesIO(data), where), where)


def read_npy_stream(f, where: str) -> np.ndarray:
    """One .npy array: its header read first, its size checked, then its data (never pickles)."""
    from numpy.lib import format as npy
    try:
        version = npy.read_magic(f)
        read_header = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"format version {version} is not supported")
        shape, fortran, dtype = read_header(f)
    except (ValueError, EOFError, OSError, SyntaxError) as e:
        raise InputError(f"{where}: not a .npy array ({e})") from None
    if dtype.hasobject or dtype.kind not in "iuf":
        raise InputError(f"{where}: holds {dtype} values; expected numbers")
    if len(shape) > MAX_DIMENSIONS:
        raise InputError(f"{where}: has {len(shape)} dimensions; arrays have at most {MAX_DIMENSIONS}")
    if any(n < 0 for n in shape):
        raise InputError(f"{where}: its header gives the shape {list(shape)}, with a negative size")
    check_size(shape, lambda m: InputError(f"{where}: {m}"), "the array")
    count = math.prod(shape)
    raw = f.read(count * dtype.itemsize)
    if len(raw) != count * dtype.itemsize:
        raise InputError(f"{where}: the array is cut short ({len(raw)} of {count * dtype.itemsize} bytes)")
    array = np.frombuffer(raw, dtype=dtype, count=count)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def mapped_npy(path: str, where: str) -> np.ndarray:
    """An .npy file of points, mapped in memory: it need not fit, and each chunk reads its rows.
    Its values are used as they are stored, so they must be float64 or int64 already."""
    read_bounded_check(path, where)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{where}: not a .npy array ({e})") from None
    if array.dtype not in (np.float64, np.int64):
        raise InputError(f"{where}: holds {array.dtype} values; a file of points is read in place, a chunk at a "
                         "time, so it must hold float64 (or int64 for an int input): convert it once with "
                         "numpy (np.save(path, np.load(path).astype(np.float64)))")
    if array.ndim < 1 or array.ndim > MAX_DIMENSIONS + 1:
        raise InputError(f"{where}: has {array.ndim} dimensions; points need a first axis and at most "
                         f"{MAX_DIMENSIONS} more")
    return array


def checked_array(a, where: str) -> np.ndarray:
    """A numeric array from a file as float64 (integers stay exact for int inputs), refusing
    non-numbers, NaN and unsigned integers that int64 cannot hold."""
    if a.dtype.kind not in "iuf":
        raise InputError(f"{where}: holds {a.dtype} values; expected numbers")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        # int64 would wrap it to a negative number, which as a label or index counts from the end
        raise InputError(f"{where}: holds {a.max()} ({a.dtype}), beyond the 64-bit signed integers adcli uses "
                         f"(at most {np.iinfo(np.int64).max})")
    if a.dtype.kind in "iu":
        return np.array(a, dtype=np.int64)  # exact: an int input may take them as they are
    a = np.array(a, dtype=np.float64)  # a copy that owns its memory and can be written
    if np.isnan(a).any():
        raise InputError(f"{where}: holds NaN values; give numbers")
    return a


def given_values(set_items, inputs_path, graph=None, notes=None, batch=()) -> Given:
    """Input values from --inputs, then --set (which wins for a name given in both). With the
    file's graph, an .npy array goes to the file's one input (or, with one --batch name, to it, as
    its points, mapped in memory), and names the file does not use are dropped with a note
    (appended to `notes`)."""
    from adcli.engine.zarr_store import is_zarr
    points = len(batch or ()) == 1 and (str(inputs_path or "").lower().endswith(".npy") or
                                        bool(inputs_path) and is_zarr(inputs_path))
    given = load_inputs(inputs_path, mapped=points, batch=batch or ()) if inputs_path else Given()
    from_set = parse_assignments(set_items or [])
    given.update(from_set)
    given.from_file -= set(from_set)
    if graph is not None:
        names = graph.input_names()
        if SINGLE in given and points:
            given[batch[0]] = given.pop(SINGLE)
            given.from_file = {batch[0]} - set(from_set)
        if SINGLE in given:
            if len(names) != 1:
                raise InputError(f"--inputs {shown(inputs_path)}: an .npy file holds one array, for a file with one "
                                 f"input, but this file has {len(names)} ({', '.join(names) or 'none'}); use .npz or "
                                 ".json")
            given[names[0]] = given.pop(SINGLE)
            given.from_file = {names[0]}
        unused = [name for name in given.from_file if name not in names]
        for name in sorted(unused):
            del given[name]
        if unused and notes is not None:
            notes.append(f"adcli: note: --inputs {shown(inputs_path)}: ignored "
                         f"{', '.join(repr(shown(n)) for n in sorted(unused))}, not "
                         f"{'an input' if len(unused) == 1 else 'inputs'} of this file"
                         + "".join(f"; '{n}' is the constant {NAMED_CONSTANTS[n]!r} unless the file declares it "
                                   f"(input {n})" for n in sorted(unused) if n in NAMED_CONSTANTS))
    return given
