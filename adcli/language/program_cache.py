"""The compiled-program cache: a parsed file's graph kept as plain JSON data, so that running an
unchanged file again skips the parser (and never imports Lark).

An entry is named by a digest of the source text, adcli's version and the code that builds graphs
(the grammar and the parsing modules), so any change to either makes a new entry; its header holds
the whole digest, checked on reading, so an entry serves only the text it was made from. It holds
data only (numbers, strings, lists: never pickle or code), is written atomically into the same
private folder as the grammar cache, and is only a hint: an entry that cannot be read, fails its
checksum or does not describe a well-formed graph is ignored and the file is parsed from source.

Parsing refuses what is over ADCLI_MAX_BYTES (a constant too large, too many operations), so an
entry records the limit it was parsed under and serves only under that limit or a larger one; under
a smaller one the file is parsed again, to refuse it with the same error a cold run gives. An entry
never holds much more data than its source: a large constant array is stored as how to make it
again (filled with one value, an identity matrix, a range), and a graph with more array data than
that is parsed every time, so that loading an entry is always faster than parsing.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from adcli import __version__
from adcli.cachedir import cache_folder, digest
from adcli.language.graph import CONST, INPUT, Graph, Node, paused_gc
from adcli.language.source import grammar_path, plain_source

FORMAT = 4  # bump when the layout of an entry changes (2: BLAKE2b checksums; 3: the source's digest;
#   4: the byte limit parsed under, arrays made again from a recipe)
PREFIX = "program-"
MAX_ENTRY_BYTES = 256 << 20  # larger graphs are parsed every time
KEEP = 100  # entries kept; the least recently used go first
RECIPE_ELEMENTS = 16  # an array larger than this is stored as a recipe when one makes it exactly
ELEMENTS_PER_NODE = 16  # array elements stored as numbers, at most: this many a node plus one a source character

_HERE = Path(__file__).resolve().parent
_PACKAGE = _HERE.parent  # adcli/: a wheel keeps the grammar beside the modules, a checkout one level up
# The modules whose code decides which graph a source becomes.
BUILDERS = ("source.py", "parser.py", "layout.py", "expand.py", "expand_calls.py", "expand_implicit.py", "expand_loops.py",
            "expand_numpy.py",
            "expand_statements.py", "expand_static.py", "expand_updates.py", "expand_values.py", "listing.py",
            "numpy_names.py",
            "syntax_errors.py",
            "graph.py", "program_cache.py")


class Damaged(Exception):
    """An entry that does not describe a well-formed graph."""


# ---------------------------------------------------------------------------------------------
# Where caches live
# ---------------------------------------------------------------------------------------------


_CODE_DIGEST: list[str] = []


def code_digest() -> str:
    """A digest of adcli's version, the grammar and the modules that build graphs (computed once)."""
    if not _CODE_DIGEST:
        h = digest(f"format {FORMAT}; adcli {__version__}".encode())
        paths = [grammar_path(), *(_HERE / name for name in BUILDERS), *sorted((_PACKAGE / "operations").glob("*.py"))]
        for path in paths:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE_DIGEST.append(h.hexdigest())
    return _CODE_DIGEST[0]


def source_digest(source: str) -> str:
    """A digest of the source text together with the code that reads it (adcli's version, the
    grammar, the modules that build graphs): an entry made from other text or code never matches."""
    return digest(code_digest().encode() + b"\0" + source.encode("utf-8", "surrogatepass")).hexdigest()


def entry_path(folder: str, source: str, unroll: bool | str = False) -> str:
    """The entry for this source under this adcli: a different text or code gives a different name, and so
    does how its loops are expanded (every one unrolled for a trace, or long ones kept as loops)."""
    from adcli.language.expand_loops import loops_from
    expanded = f"unrolled for a trace listing {unroll[len('trace:'):] or 'the default'}" if isinstance(unroll, str) \
        else "unrolled" if unroll else f"loops from {loops_from()}"
    return os.path.join(folder, f"{PREFIX}{source_digest(source + chr(0) + expanded)[:40]}.json")


# ---------------------------------------------------------------------------------------------
# Values as tagged JSON: exact Python types back, or refusal
# ---------------------------------------------------------------------------------------------

ARRAY_TYPES = {"float64": float, "int64": int, "bool": bool}


def encode(value):
    """A node field as JSON data; TypeError for anything not known to round-trip exactly."""
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is tuple:
        return {"t": [encode(v) for v in value]}
    if kind is list:
        return {"l": [encode(v) for v in value]}
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise TypeError("a dict with keys other than strings")
        return {"d": [[k, encode(v)] for k, v in value.items()]}
    if kind is slice:
        return {"s": [encode(value.start), encode(value.stop), encode(value.step)]}
    if value is Ellipsis:
        return {"e": 0}
    import numpy as np
    if kind is np.ndarray and value.dtype.name in ARRAY_TYPES and value.dtype.isnative:
        return {"a": [value.dtype.name, list(value.shape), value.ravel().tolist()]}
    raise TypeError(f"cannot store a {kind.__name__}")


def decode(data):
    """The value `encode` made; Damaged for anything else."""
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is not dict or len(data) != 1:
        raise Damaged("not a tagged value")
    (tag, body), = data.items()
    if tag == "e" and body == 0:
        return Ellipsis
    if type(body) is not list:
        raise Damaged("a tagged value without its list")
    if tag == "t":
        return tuple(decode(v) for v in body)
    if tag == "l":
        return [decode(v) for v in body]
    if tag == "d":
        if not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in body):
            raise Damaged("a malformed dict")
        return {k: decode(v) for k, v in body}
    if tag == "s" and len(body) == 3:
        return slice(*(decode(v) for v in body))
    if tag in RECIPES:
        return decode_recipe(tag, body)
    if tag == "a" and len(body) == 3:
        import numpy as np
        dtype, shape, flat = body
        kind = ARRAY_TYPES.get(dtype) if type(dtype) is str else None
        if kind is None or type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape) \
                or type(flat) is not list or not all(type(v) is kind for v in flat):
            raise Damaged("a malformed array")
        size = 1
        for d in shape:
            size *= d
        if size != len(flat):
            raise Damaged("an array whose values do not fill its shape")
        return np.array(flat, dtype=dtype).reshape(shape)
    raise Damaged(f"an unknown tag {tag!r}")


# ---------------------------------------------------------------------------------------------
# Large constant arrays as recipes: zeros([3000, 3000]) is 9 million numbers but one line to make
# ---------------------------------------------------------------------------------------------

RECIPES = {"f": 3, "i": 2, "r": 2}  # filled (dtype, shape, value), identity (dtype, n), range (dtype, n)


def bits(a):
    """The array's elements as unsigned integers of their own width: equal bits, not equal values
    (so -0.0 is not 0.0 and NaN is itself)."""
    return a.view(f"u{a.itemsize}")


def encode_recipe(a):
    """A recipe that makes the array again bit for bit ({"f": ...}, {"i": ...}, {"r": ...}), or None."""
    import numpy as np
    dtype, flat = a.dtype.name, bits(a).ravel()
    value = ARRAY_TYPES[dtype](a.flat[0])
    if (flat == flat[0]).all() and (type(value) is not float or math.isfinite(value)):  # JSON keeps no NaN's bits
        return {"f": [dtype, list(a.shape), value]}
    if a.ndim == 2 and a.shape[0] == a.shape[1] and (bits(np.eye(len(a), dtype=a.dtype)).ravel() == flat).all():
        return {"i": [dtype, len(a)]}
    if a.ndim == 1 and (bits(np.arange(len(a), dtype=a.dtype)) == flat).all():
        return {"r": [dtype, len(a)]}
    return None


def decode_recipe(tag: str, body):
    """The array a recipe makes; Damaged for a malformed one or one larger than ADCLI_MAX_BYTES allows."""
    import numpy as np

    from adcli.limits import ITEM_BYTES, max_bytes
    if type(body) is not list or len(body) != RECIPES[tag] or body[0] not in ARRAY_TYPES:
        raise Damaged("a malformed recipe")
    dtype = body[0]
    shape = body[1] if tag == "f" else [body[1], body[1]] if tag == "i" else [body[1]]
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
        raise Damaged("a recipe with a malformed shape")
    size = 1
    for d in shape:
        size *= d
    if size * ITEM_BYTES > max_bytes():
        raise Damaged("a recipe for an array over the limit")
    if tag == "f":
        if type(body[2]) is not ARRAY_TYPES[dtype]:
            raise Damaged("a recipe with a malformed value")
        return np.full(shape, body[2], dtype=dtype)
    return np.eye(body[1], dtype=dtype) if tag == "i" else np.arange(body[1], dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Graphs as columns of plain data
# ---------------------------------------------------------------------------------------------

FIELDS = ("op", "args", "params", "name", "label", "line", "col", "data", "dtype", "ctx", "extra")


def graph_to_data(graph: Graph) -> dict:
    """The graph's own data (not its file name or source: the entry's name stands for the source)."""
    nodes = graph.nodes
    rare = ("params", "extra")  # mostly None: encoded one by one
    out = {f: [encode(getattr(n, f)) for n in nodes] if f in rare else [getattr(n, f) for n in nodes]
           for f in FIELDS}
    out["data"] = [encode_data(n.data) for n in nodes]
    stored = sum(len(v["a"][2]) for v in out["data"] if type(v) is dict and "a" in v)
    if stored > ELEMENTS_PER_NODE * len(nodes) + len(graph.source):
        raise TypeError("more array data than parsing the source makes quickly")  # parsed every time instead
    out["args"] = [list(a) for a in out["args"]]
    for f in ("op", "name", "label", "dtype"):
        if not all(v is None or type(v) is str for v in out[f]):
            raise TypeError(f"a node's {f} is not a string")
    for f in ("line", "col", "ctx"):
        if not all(type(v) is int for v in out[f]):
            raise TypeError(f"a node's {f} is not an int")
    if not all(type(a) is int for args in out["args"] for a in args):
        raise TypeError("an operand is not a node index")
    out["inputs"] = list(graph.inputs)
    out["assigned"] = [[label, index] for label, index in graph.assigned]
    out["names"] = [[name, index] for name, index in graph.names.items()]
    out["contexts"] = encode(list(graph.contexts))
    return out


def encode_data(value):
    """A node's data: a float64 scalar constant (most constants are) as a bare number; nothing
    else is a bare number (inputs hold a tuple or None, other constants a tagged array, or a recipe
    when the array is large and one makes it)."""
    if type(value).__name__ == "ndarray":
        if value.shape == () and value.dtype.name == "float64":
            return value.item()
        if value.size > RECIPE_ELEMENTS and value.dtype.name in ARRAY_TYPES and value.dtype.isnative:
            recipe = encode_recipe(value)
            if recipe is not None:
                return recipe
    return encode(value)


def _index(value, n: int) -> int:
    if type(value) is not int or not 0 <= value < n:
        raise Damaged("a node index out of range")
    return value


def _types(column, allowed) -> bool:
    return set(map(type, column)) <= allowed


def graph_from_data(data: dict, file: str, source: str, limit: int) -> Graph:
    """The graph `graph_to_data` described, checked column by column; Damaged if anything is off."""
    from itertools import chain

    import numpy as np

    from adcli.operations import OPS
    if type(data) is not dict:
        raise Damaged("not an object")
    columns = [data.get(f) for f in FIELDS]
    if not all(type(c) is list for c in columns):
        raise Damaged("a missing column")
    ops, args, params, names, labels, lines, cols, values, dtypes, ctxs, extras = columns
    n = len(ops)
    if not 0 < n <= limit or any(len(c) != n for c in columns):
        raise Damaged("columns of different lengths")
    contexts = decode(data.get("contexts"))
    if type(contexts) is not list or not contexts or contexts[0] != () or not _types(contexts, {tuple}) or \
            any(len(c) != 2 or type(c[0]) is not int or not 0 <= c[0] < k or type(c[1]) is not tuple
                for k, c in enumerate(contexts[1:], 1)):
        raise Damaged("malformed contexts")  # each (the context around it, before it; its frame)
    # Plain columns: their types and ranges at C speed.
    arity = {name: -1 if op.variadic else op.nargs for name, op in OPS.items()}
    arity[INPUT] = arity[CONST] = 0
    if not set(ops) <= set(arity) or not _types(labels, {str}) or not _types(names, {str, type(None)}) or \
            not _types(dtypes, {str}) or not set(dtypes) <= {"f", "i", "b", "c"} or \
            not _types(lines, {int}) or not _types(cols, {int}) or min(lines) < 0 or min(cols) < 0 or \
            not _types(ctxs, {int}) or min(ctxs) < 0 or max(ctxs) >= len(contexts) or \
            not _types(args, {list}) or not _types(chain.from_iterable(args), {int}):
        raise Damaged("a malformed column")
    if min(chain.from_iterable(args), default=0) < 0 or \
            any(operands and max(operands) >= i for i, operands in enumerate(args)):
        raise Damaged("an operand that does not come before its node")  # the order is topological
    if any(len(operands) != arity[op] and (arity[op] >= 0 or not operands) for op, operands in zip(ops, args)):
        raise Damaged("a node with operands its operation does not take")
    # Rare columns: mostly None, decoded where they are not.
    params, values, extras = list(params), list(values), list(extras)
    for i in [i for i, p in enumerate(params) if p is not None]:
        p = params[i] = decode(params[i])
        if type(p) is not dict or not set(p) <= {*OPS[ops[i]].param_names, "spec"}:
            raise Damaged(f"node {i} has parameters its operation does not take")
    for i in [i for i, e in enumerate(extras) if e is not None]:
        extras[i] = decode(extras[i])
        if type(extras[i]) not in (str, tuple):
            raise Damaged(f"node {i} is malformed")
    valued = [i for i, v in enumerate(values) if v is not None]
    if valued != [i for i, op in enumerate(ops) if op == CONST or op == INPUT and values[i] is not None]:
        raise Damaged("a value on a node that holds none, or a constant without one")
    for i in valued:
        value = values[i]
        value = values[i] = np.array(value) if type(value) is float else decode(value)
        if type(value) is not (np.ndarray if ops[i] == CONST else tuple):
            raise Damaged(f"node {i} has a value its kind does not hold")
    nodes = list(map(Node, ops, map(tuple, args), params, names, labels, lines, cols, values, dtypes, ctxs, extras))
    inputs, assigned, named = data.get("inputs"), data.get("assigned"), data.get("names")
    if type(inputs) is not list or type(assigned) is not list or not assigned or type(named) is not list:
        raise Damaged("malformed inputs or names")
    inputs = [_index(i, n) for i in inputs]
    if len(set(inputs)) != len(inputs) or any(nodes[i].op != INPUT for i in inputs):
        raise Damaged("an input that is not an input node")
    pairs = []
    for pair in (*assigned, *named):
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
            raise Damaged("a malformed name")
        pairs.append((pair[0], _index(pair[1], n)))
    return Graph(nodes, inputs, pairs[:len(assigned)], dict(pairs[len(assigned):]), file, source, contexts)


# ---------------------------------------------------------------------------------------------
# Reading and writing entries
# ---------------------------------------------------------------------------------------------

def read_entry(path: str) -> bytes | None:
    """The bytes of a regular file of sensible size at `path` (links and FIFOs are not followed)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read(MAX_ENTRY_BYTES + 1)


def load_entry(path: str, file: str, source: str, limit: int) -> Graph | None:
    """The graph stored at `path`, or None when there is none, it is damaged in any way, or it was
    parsed under a larger ADCLI_MAX_BYTES than today's (parsing again says what is over the limit)."""
    from adcli.limits import max_bytes
    try:
        raw = read_entry(path)
        if raw is None:
            return None
        head, sep, body = raw.partition(b"\n")
        header = json.loads(head)
        expected = {"format": FORMAT, "adcli": __version__, "code": code_digest(), "source": source_digest(source),
                    "checksum": digest(body).hexdigest()}
        if not sep or type(header) is not dict or type(header.get("max_bytes")) is not int or \
                header["max_bytes"] > max_bytes() or {k: v for k, v in header.items() if k != "max_bytes"} != expected:
            return None
        with paused_gc():
            graph = graph_from_data(json.loads(body), file, source, limit)
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
        return graph
    except Exception:  # noqa: BLE001 - a cache entry is a hint: whatever is wrong with it, parse instead
        return None


def store_entry(folder: str, path: str, graph: Graph) -> None:
    """Write the graph's entry atomically (a temporary file renamed into place), bound to the text it
    was parsed from; silently nothing if the graph holds a value that cannot be stored exactly or
    the folder cannot be written."""
    try:
        body = json.dumps(graph_to_data(graph), separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError):
        return
    from adcli.limits import max_bytes
    header = {"format": FORMAT, "adcli": __version__, "code": code_digest(), "source": source_digest(graph.source),
              "checksum": digest(body).hexdigest(), "max_bytes": max_bytes()}  # the limit it was parsed under
    raw = json.dumps(header).encode() + b"\n" + body
    if len(raw) > MAX_ENTRY_BYTES:
        return
    try:
        import tempfile  # only when writing: it costs a cache hit a few milliseconds to import
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return
    prune(folder)


def prune(folder: str) -> None:
    """Keep the KEEP most recently used entries."""
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(PREFIX)]
        if len(entries) <= KEEP:
            return
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns, reverse=True)
        for e in entries[KEEP:]:
            os.unlink(e.path)
    except OSError:
        pass


def cached_graph(source: str, file: str, unroll: bool = False) -> Graph:
    """The graph of `source`: from its cache entry when there is a sound one, else parsed (and stored);
    with `unroll`, every loop unrolled."""
    from adcli.limits import operation_limit
    source = plain_source(source)  # as parse_source reads it: CRLF and LF files share their entry
    folder = cache_folder()
    try:
        path = None if folder is None else entry_path(folder, source, unroll)
    except (OSError, UnicodeError):
        path = None
    if path is None:
        from adcli.language.parser import parse_source
        return parse_source(source, file, unroll=unroll)
    graph = load_entry(path, file, source, operation_limit())  # above today's limit: parsed, to say so
    if graph is not None:
        return graph
    from adcli.language.parser import parse_source  # only on a miss: a hit never imports Lark
    graph = parse_source(source, file, unroll=unroll)
    store_entry(folder, path, graph)
    return graph
