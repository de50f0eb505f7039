"""Case generators for the adcli fuzzer (tests/fuzz/fuzz.py).

A case is one run of `python -m adcli COMMAND FILE OPTIONS...` in a fresh directory: the .ad
source, the files it reads (.json, .npz, .npy, FIFOs, symlinks), the options and the environment.
Generators, picked at random per case:

- programs: shape-aware random programs using every construct of the language (inputs and data,
  indexing, slices, gathers with int labels, where and comparisons, def one-line and block, for
  loops and nested loops, einsum, constructors, every function of adcli.operations.FUNCTIONS with
  random arities, keywords and axes), usually valid so the evaluator and both modes run;
- samples: samples/*.ad with the values their .json gives or --set values;
- mutations (applied to either): token-level and line-level edits that keep most of the grammar
  (numbers made hostile, names swapped, tokens inserted/deleted, calls wrapped, loops inserted,
  control characters, non-ASCII digits, truncation, other encodings);
- hostile: tiny files that ask for huge things (zeros([100000, 100000]), range(10**9), billion
  laughs, 100,000-deep nesting, huge literals) and hostile values and options (--eps 1e-320,
  --seed -1, --directions 1e20, --order 1000, NaN-producing values, deep JSON, ESC in names);
- files: damaged input files (.json, .npz, .npy truncated, zero-byte, renamed, huge headers,
  encrypted or unsupported zip members), FILE as a FIFO, a symlink to /dev/zero, a directory,
  standard input, and hostile environments (ADCLI_MAX_BYTES, COLUMNS, XDG_CACHE_HOME, locale);
- surroundings (applied to any of the above): closed stdin, stdout or stderr, stdout on /dev/full or
  into a pipe its reader closes early (`| head -c N`), a terminal 0 to 300 columns wide, NO_COLOR,
  TERM=dumb, LANG=C; and the cache: cold then warm, or several runs at once on one fresh cache.

Everything is a pure function of a random.Random, so a (seed, index) pair reproduces a case.
"""

from __future__ import annotations

import base64
import io
import json
import math
import random
import re
import struct
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

COMMANDS = ["grad", "eval", "trace", "jvp", "derivative", "jacobian", "hessian", "graph", "check", "cost",
            "functions"]
COMMAND_WEIGHTS = [16, 12, 10, 7, 6, 7, 7, 8, 9, 6, 2]
# Commands fuzzed when `adcli --help` lists them (newer than the list above), with their weights.
OPTIONAL_COMMANDS = {"export": 6, "lint": 4, "hvp": 5, "vjp": 5}


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

@dataclass
class Case:
    """One run: the FILE, the other files, the arguments and the environment."""

    kind: str  # which generator made it
    command: str
    source: bytes | None = b""  # the .ad file's bytes (None: no FILE argument, as for `functions`)
    file_mode: str = "file"  # file | stdin | fifo | devzero | devnull | missing | directory | nonutf8name
    args: list = field(default_factory=list)  # after FILE; "{dir}" is the case's directory
    files: dict = field(default_factory=dict)  # name -> bytes, written in the case's directory
    links: dict = field(default_factory=dict)  # name -> target of a symlink ("fifo:NAME" makes a FIFO fed NAME)
    env: dict = field(default_factory=dict)  # environment overrides ("{dir}" expanded); "" value: unset
    notes: list = field(default_factory=list)  # what was done to it, for the report
    file_name: str = "model.ad"
    budget: float = 1.0  # the run's time limit is the campaign's --timeout times this (big legitimate work)
    # The surroundings (see SURROUNDINGS): how stdin, stdout and stderr are connected, and the cache.
    streams: str = "files"  # files | stdout-closed | stderr-closed | stdin-closed | all-closed | stdout-full | head | tty
    head: int = 0  # streams "head": the reader takes this many bytes of stdout, then closes the pipe
    columns: int = 80  # streams "tty": the terminal's width
    cache: str = "shared"  # shared (the campaign's warm cache) | cold+warm | concurrent (a fresh cache each)
    copies: int = 1  # cache "concurrent": this many runs at once on one fresh cache

    def wants_json(self) -> bool:
        return "--json" in self.args or (self.command == "trace" and self.format_json())

    def format_json(self) -> bool:
        for i, a in enumerate(self.args):
            if a in ("-f", "--format") and i + 1 < len(self.args) and self.args[i + 1] == "json":
                return True
            if a == "--format=json":
                return True
        return False

    def size(self) -> int:
        return (len(self.source or b"") + sum(len(v) for v in self.files.values()) +
                sum(len(str(a)) for a in self.args) + 10 * len(self.args))

    def to_json(self) -> dict:
        d = asdict(self)
        d["source"] = None if self.source is None else base64.b64encode(self.source).decode()
        d["files"] = {k: base64.b64encode(v).decode() for k, v in self.files.items()}
        return d

    @staticmethod
    def from_json(d: dict) -> "Case":
        d = dict(d)
        d["source"] = None if d.get("source") is None else base64.b64decode(d["source"])
        d["files"] = {k: base64.b64decode(v) for k, v in d.get("files", {}).items()}
        return Case(**d)


# ---------------------------------------------------------------------------------------------
# The language's functions, from the registry when it can be imported
# ---------------------------------------------------------------------------------------------

class FunctionInfo:
    """One meaning of a callable name: operands, parameters, operand kinds and the shape rule."""

    def __init__(self, name, op, nargs, params, kinds, dtype, shape_rule):
        self.name, self.op, self.nargs, self.params = name, op, nargs, params
        self.kinds, self.dtype, self.shape_rule = kinds, dtype, shape_rule


FALLBACK_UNARY = ("relu exp log sin cos tan tanh sigmoid sqrt abs log1p expm1 square softplus gelu silu "
                  "sign floor ceil round atan erf").split()


def load_functions() -> tuple[dict, list]:
    """name -> [FunctionInfo], and the constructor names; a fallback table if adcli cannot be imported
    (the developer may be in the middle of an edit)."""
    try:
        from adcli.operations import CONSTRUCTORS, FUNCTIONS
        table = {}
        for name, ops in FUNCTIONS.items():
            table[name] = [FunctionInfo(name, op.name, op.nargs, tuple(op.params), tuple(op.kinds) or (),
                                        op.dtype, op.shape) for op in ops]
        return table, sorted(CONSTRUCTORS)
    except Exception:  # noqa: BLE001 - any breakage of the package under test
        table = {n: [FunctionInfo(n, n, 1, (), (), "float", None)] for n in FALLBACK_UNARY}
        for n in ("sum", "mean", "max", "min", "prod", "logsumexp", "softmax"):
            table[n] = [FunctionInfo(n, n, 1, (("axis", None), ("keepdims", False)), (), "float", None)]
        return table, ["zeros", "ones", "eye", "arange"]


# ---------------------------------------------------------------------------------------------
# Hostile texts
# ---------------------------------------------------------------------------------------------

HOSTILE_NUMBERS = [
    "0", "-0", "0.0", "1e308", "1.7976931348623157e308", "1e309", "1e-320", "4.9e-324", "1e-400", "2.5e-308",
    "9" * 400, "9" * 5000, "1" + "0" * 310, "0." + "0" * 400 + "1", "1e99999999999", "123456789012345678901234567890",
    "1e300", "-1e300", "1e-300", "7", "3.5", ".5", "5.", "1e3", "1E-3", "00012", "1e+00", "2**1024", "inf", "-inf",
    "nan", "pi", "e", "1/0", "0/0", "-1e308*10",
]
HOSTILE_VALUE_TEXTS = [
    "1e999", "-1e999", "NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1/0", "0/0", "log(0)", "sqrt(-1)",
    "exp(1000)", "true", "false", "null", '"3"', "{}", '{"a": 1}', "[]", "[[]]", "[[], []]", "[1, [2]]", "[[1, 2], [3]]",
    "١٢", "１２", "12\u0663", "1_000", "0x10", "1e", ".", "-", "--1", "+-1", "pi**pi**pi", "2**1024", "10**400",
    "1e-400", "x", "sin(x)", "y + 1", "\x1b[31mred\x1b[0m", "\x07", "1\x00", "1\n2", "[1,\n2]", "9" * 5000,
    "[" * 33 + "1" + "]" * 33, "[" * 1000 + "1" + "]" * 1000, "[" * 60000 + "1" + "]" * 60000,
    "[" * 40 + "]" * 40, "(" * 1000 + "1" + ")" * 1000, "-" * 5000 + "1", "1" + "+1" * 20000,
    "[" + ", ".join(["1"] * 40000) + "]", "zeros([100000, 100000])", "ones([3])", "arange(5)", "eye(3)",
    "range(3)", "[1, 2", "1]", "[1 2]", "[1,,2]", "[1,]", "1e308*10", "-0", "1e-320", "True", "None",
    "\u2212" + "1", "1\u00a0", " 1 ", "\ufeff1", "\u202e1", "𝟙", "½",
]
HOSTILE_NAMES = [
    "x\x1b[2J", "\x1b]0;pwn\x07", "é", "x\u200b", "١", "_", "__", "x" * 5000, "input", "for", "def", "return", "in",
    "range", "pi", "e", "inf", "True", "None", "sum", "zeros", "x y", "x=1", "", " ", "x'", "h''", "U1", "1x", "\u212a",
    "x\x00", "x\t", "x\n", "ÿ", "x[0]", "x[0, 1]", "x[1e300]", "x[-1]", "x[١]", "x[",
]
HOSTILE_CHARS = ["\x1b", "\x07", "\x00", "\x7f", "\x9b", "\r", "\f", "\v", "\t", "\u2028", "\u2029", "\u00a0",
                 "\ufeff", "\u200b", "\u202e", "\u0663", "\uff11", "\u00b7", "\u2212", "\u00f7", "\u00d7", "é", "😀",
                 "\u0301", "\\", "\\\n", "#", ";", ":", "\"", "'", "`", "$", "?", "!", "&", "|", "~", "^", "%", "{", "}"]

# FILE names that are hard to print or to embed: in a terminal, a docstring, a comment, a DOT label.
# ADCLI_FUZZ_INJECTED marks an attempt at running code: the fuzzer looks for it as a name in exported
# modules (it must only ever be inside a string or a comment).
HOSTILE_FILE_NAMES = [
    "q\\N.ad", 'a"""b.ad', 'a""";ADCLI_FUZZ_INJECTED;"""b.ad', "a''';ADCLI_FUZZ_INJECTED;'''b.ad", "it's.ad",
    "x\nADCLI_FUZZ_INJECTED\n.ad", "m\x1b[2J\x07.ad", "\\x1b.ad", "back\\.ad", "tab\tname.ad", "cr\rname.ad",
    'a"b.ad', "sp ace.ad", "\u00e9.ad", "\u202eda.ad", "{file}.ad", "%s%n.ad", "<script>.ad", "a|b;c.ad", "-x.ad",
    "a\\u12.ad", "a\\x.ad", "a\\\n.ad",
]
BROKEN_KEYWORD_VALUES = ["0", "-1", "1e300", "-40", "33", "True", "2", "[0, 1]", "[]", "x", "1.5", '"ij"', "None", "-0",
                         "2**31", "1e-300", "inf"]
SHAPE_BOMBS = [
    "zeros([100000, 100000])", "ones([100000, 100000])", "eye(1000000)", "eye(100000000000)", "arange(1000000000000)",
    "zeros([2147483648])", "zeros([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10])", "zeros([" + ", ".join(["2"] * 40) + "])",
    "zeros([1e300])", "zeros([-1])", "zeros([0, 100000000000])", "ones([99999999999999999999])", "zeros([1.5])",
    "zeros(3)", "eye(-1)", "arange(-5)", "eye(2.5)", "zeros([" + "9" * 400 + "])",
]


def hostile_number(rng: random.Random) -> str:
    return rng.choice(HOSTILE_NUMBERS)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

def number_text(rng: random.Random, lo=-3.0, hi=3.0, hostile=0.0) -> str:
    if rng.random() < hostile:
        return rng.choice(["1e308", "-1e308", "1e-320", "0", "-0.0", "1e300", "1e-300", "709.8", "-745.2", "1e16",
                           "0.5", "1", "-1", "40", "1e5", "3.0e-320", "1e154"])
    x = rng.uniform(lo, hi)
    return repr(round(x, rng.choice([0, 1, 2, 3, 6])))


def value_for(rng: random.Random, shape, kind="f", hostile=0.0, bound=None) -> object:
    """A nested list (or number) of the shape, as Python data for json.dumps."""
    if not shape:
        if kind == "i":
            n = bound if bound else 3
            if rng.random() < hostile:
                return rng.choice([-1, n, 10 ** 9, -(2 ** 63), 2 ** 62, 1.5, 1e300])
            return rng.randrange(max(n, 1))
        if kind == "b":
            return rng.choice([0, 1])
        return float(number_text(rng, hostile=hostile))
    return [value_for(rng, shape[1:], kind, hostile, bound) for _ in range(shape[0])]


def dumps_value(v) -> str:
    return json.dumps(v, separators=(",", ":") if isinstance(v, list) else (", ", ": "))


# ---------------------------------------------------------------------------------------------
# Random programs using every construct
# ---------------------------------------------------------------------------------------------

class ProgramGen:
    """A random program: declarations, assignments, functions and loops, tracking each name's shape
    and kind (f float, i integer data, b boolean) so most programs are valid."""

    def __init__(self, rng: random.Random, functions: dict, constructors: list, bad: float = 0.06):
        self.rng, self.functions, self.constructors, self.bad = rng, functions, constructors, bad
        self.lines: list[str] = []
        self.vars: dict[str, tuple] = {}  # name -> (shape, kind)
        self.inputs: dict[str, tuple] = {}  # name -> (shape, kind, declared text shape or None, data?)
        self.dims: dict[str, int] = {}
        self.user_funcs: dict[str, int] = {}  # name -> number of parameters (elementwise bodies)
        self.counter = 0
        self.used_features: set[str] = set()

    # ---- names ------------------------------------------------------------------------------
    def fresh(self, prefix="v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def size(self) -> int:
        r = self.rng.random()
        return 0 if r < 0.02 else 1 if r < 0.12 else self.rng.choice([2, 2, 3, 3, 4, 5])

    def random_shape(self, max_ndim=3):
        nd = self.rng.choice([0, 0, 1, 1, 1, 2, 2, 3][: max_ndim * 2 + 2])
        return tuple(self.size() for _ in range(nd))

    # ---- inputs -----------------------------------------------------------------------------
    def declare(self, name=None, shape=None, kind="f", data=False, declare=True):
        rng = self.rng
        name = name or self.fresh(rng.choice(["x", "W", "b", "v", "A", "p"]))
        shape = self.random_shape() if shape is None else shape
        dims_text = []
        for n in shape:
            if rng.random() < 0.4:  # a named dimension, reused when one of that size exists
                same = [d for d, s in self.dims.items() if s == n]
                d = rng.choice(same) if same and rng.random() < 0.7 else rng.choice("nmkdhT") + str(len(self.dims))
                self.dims[d] = n
                dims_text.append(d)
            else:
                dims_text.append(str(n))
        if declare:
            kw = "data" if data else "input"
            ty = ("int" if kind == "i" else "") + "[" + ", ".join(dims_text) + "]"
            if not shape and kind == "f" and rng.random() < 0.3:
                self.lines.append(f"{kw} {name}")
            else:
                self.lines.append(f"{kw} {name}: {ty}")
            self.used_features.add("data" if data else "input")
        self.inputs[name] = (shape, kind, data)
        self.vars[name] = (shape, kind)
        return name

    # ---- expressions ------------------------------------------------------------------------
    def floats(self, shape=None):
        return [n for n, (s, k) in self.vars.items() if k == "f" and (shape is None or s == shape)]

    def literal(self, shape):
        rng = self.rng
        if not shape:
            return number_text(rng, hostile=0.03) if rng.random() < 0.85 else rng.choice(["pi", "e", ".5", "1e-3", "2"])
        if len(shape) == 1 and rng.random() < 0.2 and shape[0] > 0:
            return rng.choice(["ones", "zeros"]) + f"([{shape[0]}])"
        if rng.random() < 0.15 and all(n > 0 for n in shape) and math.prod(shape) < 200:
            self.used_features.add("constructor")
            return rng.choice(["ones", "zeros"]) + "([" + ", ".join(map(str, shape)) + "])"
        if len(shape) == 2 and shape[0] == shape[1] and rng.random() < 0.2:
            self.used_features.add("constructor")
            return f"eye({shape[0]})"
        return dumps_value(value_for(rng, shape)).replace(",", ", ")

    def atom(self, shape):
        """An expression of exactly this shape, made of names and literals."""
        rng = self.rng
        names = self.floats(shape)
        if names and rng.random() < 0.75:
            return rng.choice(names)
        if shape and rng.random() < 0.3:
            # a broadcast: a scalar name or literal times ones
            scal = self.floats(())
            s = rng.choice(scal) if scal else number_text(rng)
            return f"({s} * ones([{', '.join(map(str, shape))}]))" if all(shape) else self.literal(shape)
        if not shape and rng.random() < 0.5:
            arrays = [(n, s) for n, (s, k) in self.vars.items() if k == "f" and s]
            if arrays:
                n, s = rng.choice(arrays)
                return rng.choice(["sum", "mean", "max", "min"]) + f"({n})" if all(s) else f"sum({n})"
        return self.literal(shape)

    def expr(self, shape, depth=0):
        """A float expression of the given shape."""
        rng = self.rng
        if depth > 3 or rng.random() < 0.25:
            return self.atom(shape)
        choice = rng.random()
        if choice < 0.25:
            return self.binary(shape, depth)
        if choice < 0.5:
            return self.call(shape, depth)
        if choice < 0.58 and shape:
            return self.index_expr(shape, depth)
        if choice < 0.63:
            self.used_features.add("where")
            op = rng.choice(["<", "<=", ">", ">=", "==", "!="])
            a = self.expr(shape, depth + 1)
            return f"where({a} {op} {self.atom(shape if rng.random() < 0.5 else ())}, {self.expr(shape, depth + 1)}, " \
                   f"{self.atom(shape if rng.random() < 0.5 else ())})"
        if choice < 0.68 and len(shape) <= 2:
            return self.matmul(shape, depth)
        if choice < 0.72 and len(shape) == 2:
            self.used_features.add("transpose")
            return f"({self.expr(shape[::-1], depth + 1)}).T"
        if choice < 0.77 and self.user_funcs:
            name = rng.choice(list(self.user_funcs))
            n = self.user_funcs[name]
            self.used_features.add("call-def")
            return f"{name}(" + ", ".join(self.expr(shape, depth + 1) for _ in range(n)) + ")"
        if choice < 0.82:
            return self.einsum(shape, depth)
        if choice < 0.86:
            self.used_features.add("power")
            return f"({self.expr(shape, depth + 1)}) ** {rng.choice(['2', '3', '0.5', '-1', '2.5', '0', '-2'])}"
        if choice < 0.9:
            return f"-({self.atom(shape)})"
        if choice < 0.93 and len(shape) >= 1 and shape[0] <= 6:
            self.used_features.add("stack")
            return "[" + ", ".join(self.expr(shape[1:], depth + 1) for _ in range(shape[0])) + "]"
        return f"({self.expr(shape, depth + 1)})"

    def binary(self, shape, depth):
        rng = self.rng
        op = rng.choice(["+", "-", "*", "/", "+", "*"])
        left = self.expr(shape, depth + 1)
        r = rng.random()
        if r < 0.6 or not shape:
            right_shape = shape
        elif r < 0.8:
            right_shape = ()
        else:
            right_shape = shape[1:]  # trailing broadcast
        right = self.expr(right_shape, depth + 1)
        if rng.random() < 0.5:
            left, right = right, left
        return f"({left} {op} {right})"

    def matmul(self, shape, depth):
        rng = self.rng
        self.used_features.add("matmul")
        k = self.size() or 2
        if len(shape) == 2:
            return f"({self.expr((shape[0], k), depth + 1)} @ {self.expr((k, shape[1]), depth + 1)})"
        if len(shape) == 1:
            if rng.random() < 0.5:
                return f"({self.expr((shape[0], k), depth + 1)} @ {self.expr((k,), depth + 1)})"
            return f"({self.expr((k,), depth + 1)} @ {self.expr((k, shape[0]), depth + 1)})"
        return f"({self.expr((k,), depth + 1)} @ {self.expr((k,), depth + 1)})"

    def einsum(self, shape, depth):
        rng = self.rng
        self.used_features.add("einsum")
        letters = "ijklmn"
        out = letters[: len(shape)]
        extra = rng.choice(["", "p"]) if len(out) < 4 else ""
        sizes = dict(zip(out, shape))
        sizes["p"] = self.size() or 2
        n_ops = rng.choice([1, 2, 2, 3])
        specs, operands = [], []
        pool = out + extra
        for _ in range(n_ops):
            sub = "".join(c for c in pool if rng.random() < 0.7)
            if not sub and pool:
                sub = pool[0]
            specs.append(sub)
            operands.append(self.expr(tuple(sizes[c] for c in sub), depth + 1))
        covered = set("".join(specs))
        if not set(out) <= covered:  # every output letter must appear in some operand
            specs[0] += "".join(c for c in out if c not in covered)
            operands[0] = self.expr(tuple(sizes[c] for c in specs[0]), depth + 1)
        spec = ",".join(specs) + ("->" + out if rng.random() < 0.9 or True else "")
        return f'einsum("{spec}", {", ".join(operands)})'

    def index_expr(self, shape, depth):
        """An expression of `shape` made by indexing a bigger array: x[i], x[1:], x[:, None], x[idx]."""
        rng = self.rng
        r = rng.random()
        if r < 0.3:  # integer index drops a leading axis
            n = rng.choice([2, 3, 4])
            i = rng.choice([0, n - 1, -1, -n, rng.randrange(n)])
            self.used_features.add("index")
            return f"({self.expr((n,) + shape, depth + 1)})[{i}]"
        if r < 0.55:  # a slice along the first axis
            self.used_features.add("slice")
            n = shape[0]
            full = n + rng.choice([0, 1, 2])
            if full == n:
                return f"({self.expr(shape, depth + 1)})[:]"
            start = full - n
            return f"({self.expr((full,) + shape[1:], depth + 1)})[{start}:]" if rng.random() < 0.5 else \
                f"({self.expr((full,) + shape[1:], depth + 1)})[:{n}]"
        if r < 0.65 and shape[0] > 0:  # reversed
            self.used_features.add("slice")
            return f"({self.expr(shape, depth + 1)})[::-1]"
        if r < 0.75 and len(shape) >= 2 and shape[0] == 1:  # a new axis
            self.used_features.add("newaxis")
            return f"({self.expr(shape[1:], depth + 1)})[None]"
        if r < 0.8 and len(shape) >= 2 and shape[-1] == 1:
            self.used_features.add("newaxis")
            return f"({self.expr(shape[:-1], depth + 1)})[{', '.join([':'] * (len(shape) - 1))}, None]"
        # a gather with integer data
        labels = [n for n, (s, k) in self.vars.items() if k == "i" and len(s) == 1 and s[0] == shape[0]]
        self.used_features.add("gather")
        n = rng.choice([2, 3, 4])
        if labels:
            lab = rng.choice(labels)
            self.int_bounds[lab] = min(self.int_bounds.get(lab, n), n)
            return f"({self.expr((n,) + shape[1:], depth + 1)})[{lab}]"
        n = max(n, shape[0])
        return f"({self.expr((n,) + shape[1:], depth + 1)})[arange({shape[0]})]"

    # ---- calls ------------------------------------------------------------------------------
    def param_value(self, pname, default, operand_shapes, info):
        rng = self.rng
        nd = len(operand_shapes[0]) if operand_shapes else 0
        if pname == "axis":
            if nd == 0:
                return None
            if rng.random() < 0.2:
                return [None]  # marker: leave default
            return rng.randrange(-nd, nd)
        if pname == "keepdims":
            return rng.choice(["True", "False"])
        if pname == "ddof":
            return rng.choice([0, 1])
        if pname == "k":
            return rng.choice([0, 1, -1, 2, 3]) if info.op != "one_hot" else rng.choice([3, 4, 5])
        if pname in ("alpha", "slope"):
            return rng.choice(["0.1", "1.0", "2.5", "0.01"])
        if pname == "lower":
            return rng.choice(["True", "False"])
        if pname == "axes":
            perm = list(range(nd))
            rng.shuffle(perm)
            return perm
        if pname == "shape":
            s = operand_shapes[0] if operand_shapes else ()
            if info.op == "broadcast_to":
                return [rng.choice([1, 2, 3])] + list(s)
            size = math.prod(s)
            if size in (0, 1):
                return [1] * rng.choice([0, 1, 2])
            for a in (2, 3, 4, 5):
                if size % a == 0 and rng.random() < 0.5:
                    return [a, size // a]
            return [size]
        return default

    def call(self, shape, depth):
        """A registry function whose result (by its own shape rule) has `shape`, when one is found;
        else an elementwise function; sometimes a deliberately broken call."""
        rng = self.rng
        if rng.random() < self.bad:
            return self.broken_call(shape, depth)
        names = list(self.functions)
        for _ in range(12):
            name = rng.choice(names)
            info = rng.choice(self.functions[name])
            if info.kinds and any(k in ("bool", "int") for k in info.kinds):
                continue
            if info.dtype == "bool" or (info.dtype == "int" and shape != ()) or \
                    info.nargs == -1 and info.op not in ("stack", "concat"):
                continue
            made = self.try_call(name, info, shape, depth)
            if made is not None:
                self.used_features.add("fn:" + name)
                return made
        unary = [n for n in ("sin", "exp", "tanh", "relu", "abs", "sigmoid", "cos", "softplus") if n in self.functions]
        return f"{rng.choice(unary or ['sin'])}({self.expr(shape, depth + 1)})"

    def try_call(self, name, info, shape, depth):
        rng = self.rng
        if info.shape_rule is None:
            return None
        n = max(info.nargs, 1)
        for _ in range(6):
            if info.op in ("stack", "concat"):
                count = rng.choice([1, 2, 3])
                base = shape[1:] if info.op == "stack" and shape else self.random_shape(2)
                operand_shapes = [base] * count
            else:
                candidates = [shape, shape, self.random_shape(2)]
                if shape:
                    candidates.append(shape[:-1] + (self.size() or 2,) + shape[-1:])
                    candidates.append((rng.choice([2, 3]),) + shape)
                    candidates.append(shape + (rng.choice([2, 3]),))
                k = rng.choice([1, 2, 3])
                candidates += [(k, k), shape[:-1] + (shape[-1], shape[-1]) if shape else (k, k)]
                if shape:
                    candidates += [shape[1:], shape[:-1]]
                if len(shape) >= 2 and shape[-1] == shape[-2]:
                    candidates += [shape, shape]
                s0 = rng.choice(candidates)
                operand_shapes = [s0] + [rng.choice([s0, (), s0[-1:] if s0 else ()]) for _ in range(n - 1)]
                if info.op in ("solve", "solve_triangular"):
                    operand_shapes = [s0, s0]
            params = {}
            for pname, default in info.params:
                if rng.random() < 0.6 or pname == "shape" or (pname == "k" and info.op == "one_hot"):
                    v = self.param_value(pname, default, operand_shapes, info)
                    if v != [None]:
                        params[pname] = v
            kw_params = {p: (tuple(v) if isinstance(v, list) else (v == "True" if v in ("True", "False") else
                                                                    float(v) if isinstance(v, str) else v))
                         for p, v in params.items()}
            try:
                out = tuple(info.shape_rule(*operand_shapes, **kw_params))
            except Exception:  # noqa: BLE001 - the rule refused these shapes: try others
                continue
            if out != tuple(shape):
                continue
            if info.op in ("stack", "concat"):
                items = ", ".join(self.expr(s, depth + 1) for s in operand_shapes)
                args = [f"[{items}]"]
            else:
                args = [self.expr(s, depth + 1) for s in operand_shapes]
            order = [p for p, _ in info.params]
            positional = rng.random() < 0.3 and list(params) == order[: len(params)]
            for pname, v in params.items():
                text = json.dumps(v) if isinstance(v, list) else str(v)
                args.append(text if positional else f"{pname}={text}")
            return f"{name}({', '.join(args)})"
        return None

    def broken_call(self, shape, depth):
        rng = self.rng
        name = rng.choice(list(self.functions) + ["sigmod", "softmaxx", "zeros", "eye", "range", "input", "f"])
        count = rng.choice([0, 1, 2, 3, 4, 7])
        args = [self.expr(self.random_shape(2), depth + 2) for _ in range(count)]
        kw = rng.choice([None, "axis", "keepdims", "ddof", "k", "alpha", "shape", "axes", "foo", "lower", "spec", "x"])
        if kw:
            args.append(kw + "=" + rng.choice(BROKEN_KEYWORD_VALUES))
        if rng.random() < 0.2 and kw:
            args.append(args[-1])  # the same keyword twice
        self.used_features.add("broken-call")
        return f"sum({name}({', '.join(args)}))" if rng.random() < 0.5 else f"{name}({', '.join(args)})"

    # ---- statements -------------------------------------------------------------------------
    def assign(self, name=None, shape=None, indent=""):
        shape = self.random_shape() if shape is None else shape
        name = name or self.fresh(self.rng.choice(["h", "z", "u", "t", "a", "H", "P"]))
        self.lines.append(f"{indent}{name} = {self.expr(shape)}")
        self.vars[name] = (shape, "f")
        return name

    def define_function(self):
        rng = self.rng
        name = self.fresh("f")
        nparams = rng.choice([1, 1, 2, 3])
        params = [f"p{i}" for i in range(nparams)]
        saved = dict(self.vars)
        for p in params:
            self.vars[p] = ((), "f")  # bodies use parameters elementwise: any shape works
        body_ops = lambda: " + ".join(  # noqa: E731
            f"{rng.choice(['sin', 'tanh', 'exp', 'sigmoid', 'softplus', 'cos', 'abs', 'square'])}({rng.choice(params)})"
            if rng.random() < 0.6 else f"{rng.choice(params)} * {number_text(rng)}"
            for _ in range(rng.choice([1, 2, 3])))
        if rng.random() < 0.5:
            self.lines.append(f"def {name}({', '.join(params)}) = {body_ops()}")
            self.used_features.add("def-inline")
        else:
            self.lines.append(f"def {name}({', '.join(params)}):")
            local = "q"
            self.lines.append(f"    {local} = {body_ops()}")
            if rng.random() < 0.5:
                self.lines.append(f"    {local} = {local} * {rng.choice(params)} + {number_text(rng)}")
            self.lines.append(f"    return {local} + {rng.choice(params)}")
            self.used_features.add("def-block")
        self.vars = saved
        self.user_funcs[name] = nparams

    def loop(self, nested=False):
        rng = self.rng
        self.used_features.add("for-nested" if nested else "for")
        n = rng.choice([1, 2, 3, 4, 5])
        seq = [n for n, (s, k) in self.vars.items() if k == "f" and len(s) >= 1 and s[0] > 0]
        acc = self.fresh("acc")
        if seq and rng.random() < 0.6:
            v = rng.choice(seq)
            s = self.vars[v][0]
            self.lines.append(f"{acc} = {self.atom(s[1:])}")
            if nested and len(s) >= 2 and s[1] > 0:
                self.lines.append(f"for i in range({s[0]}):")
                self.lines.append(f"    for j in range({s[1]}):")
                self.lines.append(f"        {acc} = {acc} + {v}[i, j] * {self.atom(s[2:])}")
                self.vars[acc] = (s[1:], "f")
                return
            start = rng.choice([0, 1]) if s[0] > 1 else 0
            bounds = f"{start}, {s[0]}" if start else f"{s[0]}"
            if rng.random() < 0.2:
                bounds = f"{s[0] - 1}, -1, -1"
            self.lines.append(f"for t in range({bounds}):")
            prev = f"{v}[t - 1]" if start == 1 and rng.random() < 0.5 else f"{v}[t]"
            self.lines.append(f"    {acc} = {rng.choice(['tanh', 'sin', 'relu', ''])}({acc} * 0.5 + {prev})")
            self.vars[acc] = (s[1:], "f")
            return
        shape = self.random_shape(2)
        self.lines.append(f"{acc} = {self.atom(shape)}")
        self.vars[acc] = (shape, "f")
        if nested:
            self.lines.append(f"for i in range({n}):")
            self.lines.append(f"    for j in range(i, {n + 1}):")
            self.lines.append(f"        {acc} = {acc} * 0.9 + sin({acc}) * {number_text(rng)}")
        else:
            self.lines.append(f"for t in range({rng.choice([str(n), f'0, {n}', f'{n}, 0, -1', f'1, {n + 1}, 2'])}):")
            self.lines.append(f"    {acc} = {self.expr(shape, 2)} * 0.1 + {acc}")
            if rng.random() < 0.3:
                self.lines.append(f"    {acc} = {acc} * t")

    def build(self, output_scalar=True):
        """The program's text, and its inputs with shapes and kinds."""
        rng = self.rng
        self.int_bounds: dict[str, int] = {}
        for _ in range(rng.choice([1, 2, 2, 3, 4])):
            self.declare(declare=rng.random() < 0.85)
        if rng.random() < 0.3:
            self.declare(shape=(), data=True)
        if rng.random() < 0.35:  # integer labels for gathers and one_hot
            n = rng.choice([2, 3, 4])
            lab = self.declare(self.fresh("y"), shape=(n,), kind="i", data=rng.random() < 0.5)
            self.int_bounds[lab] = 3
            if "one_hot" in self.functions and rng.random() < 0.5:
                k = rng.choice([3, 4])
                self.int_bounds[lab] = k
                name = self.fresh("oh")
                self.lines.append(f"{name} = one_hot({lab}, {k})")
                self.vars[name] = ((n, k), "f")
                self.used_features.add("one_hot")
        for _ in range(rng.choice([0, 0, 1, 2])):
            self.define_function()
        for _ in range(rng.choice([1, 2, 3, 4])):
            r = rng.random()
            if r < 0.15:
                self.loop()
            elif r < 0.22:
                self.loop(nested=True)
            else:
                self.assign()
        if rng.random() < 0.2:  # a statement line with semicolons, a continuation, a comment
            a, b = self.fresh("s"), self.fresh("s")
            self.lines.append(f"{a} = {self.atom(())}; {b} = {a} * 2  # two statements")
            self.vars[a] = self.vars[b] = ((), "f")
        if rng.random() < 0.1:
            c = self.fresh("c")
            self.lines.append(f"{c} = {self.atom(())} + \\")
            self.lines.append(f"    {self.atom(())}")
            self.vars[c] = ((), "f")
        out_shape = () if output_scalar else self.random_shape(2)
        last = self.fresh("out")
        arrays = [n for n, (s, k) in self.vars.items() if k == "f" and n not in self.inputs and s]
        if output_scalar and arrays and rng.random() < 0.5:
            self.lines.append(f"{last} = {rng.choice(['sum', 'mean'])}({rng.choice(arrays)}) + {self.expr((), 1)}")
        else:
            self.lines.append(f"{last} = {self.expr(out_shape)}")
        self.vars[last] = (out_shape, "f")
        text = "\n".join(self.lines) + "\n"
        return text, self.inputs, self.int_bounds


def program_values(rng, inputs, int_bounds, hostile=0.0) -> dict:
    """A value for every input (Python data), integer labels within their bounds."""
    values = {}
    for name, (shape, kind, data) in inputs.items():
        values[name] = value_for(rng, shape, kind, hostile, bound=int_bounds.get(name, 3))
    return values


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------

TOKEN = re.compile(r"""(?P<nl>\r?\n)|(?P<ws>[ \t\f]+)|(?P<comment>\#[^\n]*)|(?P<string>"[^"\n]*")|"""
                   r"""(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)|"""
                   r"""(?P<op>\*\*|<=|>=|==|!=|\.T|[-+*/@<>=()\[\],:;.\\])|(?P<other>.)""", re.S)

KEYWORD_TOKENS = ["input", "data", "for", "in", "range", "def", "return", "int", "float", "None", "True", "False",
                  "pi", "e", "inf"]
OP_TOKENS = ["+", "-", "*", "/", "@", "**", "<", "<=", ">", ">=", "==", "!=", "=", "(", ")", "[", "]", ",", ":",
             ";", ".T", ".", "\\", "#"]


def tokens(text: str) -> list[tuple[str, str]]:
    return [(m.lastgroup, m.group()) for m in TOKEN.finditer(text)]


def wrap_token(rng, tok, functions) -> str:
    choice = rng.random()
    if choice < 0.5:
        f = rng.choice(list(functions) + ["zeros", "eye", "arange", "range", "undefined_fn"])
        extra = rng.choice(["", "", ", axis=0", ", axis=-1", ", 1", ", axis=1e300", ", keepdims=True", ", axis=[0, 1]",
                            ", axis=None", ", k=2", ", " + tok, ", shape=[2, 2]", ", foo=1"])
        return f"{f}({tok}{extra})"
    if choice < 0.75:
        return tok + rng.choice(["[0]", "[-1]", "[1:]", "[::-1]", "[:, None]", "[None]", "[0, 0]", "[::0]", "[5]",
                                 "[1e300]", "[0.5]", "[t]", "[x]", "[[0, 1]]", "[:, 0]", "[" + "0, " * 40 + "0]", "[...]"])
    if choice < 0.85:
        return f"({tok}).T"
    return f"[{tok}, {tok}]"


def mutate_tokens(rng: random.Random, text: str, functions: dict, names: list[str]) -> tuple[str, str]:
    toks = tokens(text)
    idx = [i for i, (k, _) in enumerate(toks) if k not in ("ws", "nl")]
    if not idx:
        return text + rng.choice(["y = x\n", "(", "\x1b"]), "append"
    i = rng.choice(idx)
    kind, val = toks[i]
    op = rng.choice(["number", "name", "delete", "duplicate", "swap", "insert", "wrap", "wrap", "string"])
    if op == "number" or (kind == "number" and rng.random() < 0.5):
        nums = [j for j in idx if toks[j][0] == "number"]
        if nums:
            i = rng.choice(nums)
        toks[i] = ("number", hostile_number(rng))
        what = "hostile number"
    elif op == "name":
        nm = [j for j in idx if toks[j][0] == "name"]
        if nm:
            i = rng.choice(nm)
        toks[i] = ("name", rng.choice(names + list(functions) + KEYWORD_TOKENS + ["x" * 300, "U1", "_", "h"]))
        what = "name swapped"
    elif op == "delete":
        del toks[i]
        what = "token deleted"
    elif op == "duplicate":
        toks.insert(i, toks[i])
        what = "token duplicated"
    elif op == "swap" and len(idx) > 1:
        j = idx[min(idx.index(i) + 1, len(idx) - 1)]
        toks[i], toks[j] = toks[j], toks[i]
        what = "tokens swapped"
    elif op == "insert":
        toks.insert(i, ("op", " " + rng.choice(OP_TOKENS + KEYWORD_TOKENS + names[:5] + ["1", '"ij->i"']) + " "))
        what = "token inserted"
    elif op == "string":
        toks.insert(i, ("string", rng.choice(['"ij,jk->ik"', '"\x1b[2J"', '""', '"ii->"', '"' + "i" * 60 + '->"',
                                              '"...->"', '"i,i"', '"\u00e9"', '"' + ",".join("abcdefghijklmnopqrstuvwxyz") + '"'])))
        what = "string inserted"
    else:
        if kind in ("name", "number"):
            toks[i] = (kind, wrap_token(rng, val, functions))
            what = "wrapped"
        else:
            toks.insert(i, ("op", rng.choice(OP_TOKENS)))
            what = "operator inserted"
    return "".join(v for _, v in toks), what


def mutate_lines(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.split("\n")
    if not lines:
        return text, "none"
    i = rng.randrange(len(lines))
    op = rng.choice(["dup", "delete", "swap", "indent", "dedent", "join", "loop", "def", "tab", "move-first", "crlf"])
    if op == "dup":
        lines.insert(i, lines[i])
    elif op == "delete":
        del lines[i]
    elif op == "swap" and len(lines) > 1:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "indent":
        lines[i] = rng.choice(["    ", "  ", "\t", " \t", "        "]) + lines[i]
    elif op == "dedent":
        lines[i] = lines[i].lstrip()
    elif op == "join" and i + 1 < len(lines):
        lines[i: i + 2] = [lines[i] + rng.choice(["; ", " ", ";", " \\ "]) + lines[i + 1]]
    elif op == "loop":
        k = rng.choice(["3", "0", "1", "-1", "2, 5", "5, 0, -1", "0, 4, 0", "1e300", "1000000000", "2.5", "x", "", "1, 2, 3, 4"])
        lines[i: i + 1] = [f"for t in range({k}):", "    " + lines[i].lstrip()]
    elif op == "def":
        lines[i: i + 1] = ["def g(t):", "    " + lines[i].lstrip(), "    return t"]
    elif op == "tab":
        lines[i] = lines[i].replace("    ", "\t")
    elif op == "move-first":
        lines.insert(0, lines.pop(i))
    elif op == "crlf":
        return text.replace("\n", "\r\n"), "CRLF"
    return "\n".join(lines), "line " + op


def mutate_chars(rng: random.Random, text: str) -> tuple[str, str]:
    if not text:
        return rng.choice(HOSTILE_CHARS), "char"
    i = rng.randrange(len(text) + 1)
    op = rng.random()
    if op < 0.6:
        return text[:i] + rng.choice(HOSTILE_CHARS) + text[i:], "hostile character"
    if op < 0.8:
        return text[:i], "truncated"
    j = min(len(text), i + rng.randrange(1, 20))
    return text[:i] + text[j:], "cut"


def mutate(rng: random.Random, text: str, functions: dict, rounds: int | None = None) -> tuple[str, list[str]]:
    names = sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", text)) - set(KEYWORD_TOKENS))[:30] or ["x"]
    rounds = rounds or rng.choice([1, 1, 1, 2, 2, 3])
    done = []
    for _ in range(rounds):
        r = rng.random()
        if r < 0.6:
            text, what = mutate_tokens(rng, text, functions, names)
        elif r < 0.85:
            text, what = mutate_lines(rng, text)
        else:
            text, what = mutate_chars(rng, text)
        done.append(what)
    return text, done


def encode(rng: random.Random, text: str) -> tuple[bytes, str]:
    r = rng.random()
    if r < 0.9:
        return text.encode("utf-8", "surrogatepass"), "utf-8"
    if r < 0.93:
        return "\ufeff".encode() + text.encode("utf-8"), "utf-8 with BOM"
    if r < 0.96:
        return text.encode("utf-16"), "utf-16"
    if r < 0.98:
        return text.encode("latin-1", "replace") + b"\xe9\xff", "latin-1"
    data = bytearray(text.encode())
    if data:
        data[rng.randrange(len(data))] = rng.choice([0xff, 0xc3, 0x80, 0x00, 0xfe])
    return bytes(data), "byte flipped"


# ---------------------------------------------------------------------------------------------
# Input files: .json, .npz, .npy, healthy and damaged
# ---------------------------------------------------------------------------------------------

def npy_bytes(shape=(3,), descr="<f8", fortran=False, data: bytes | None = None, version=(1, 0),
              header_text: str | None = None) -> bytes:
    """An .npy file written by hand, so its header can claim anything."""
    header = header_text if header_text is not None else \
        "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, tuple(shape))
    major, minor = version
    magic = b"\x93NUMPY" + bytes([major, minor])
    head = header.encode("latin-1", "replace")
    if major == 1:
        total = len(magic) + 2 + len(head) + 1
        pad = (64 - total % 64) % 64
        head = head + b" " * pad + b"\n"
        prefix = magic + struct.pack("<H", min(len(head), 65535))
    else:
        total = len(magic) + 4 + len(head) + 1
        pad = (64 - total % 64) % 64
        head = head + b" " * pad + b"\n"
        prefix = magic + struct.pack("<I", len(head))
    if data is None:
        try:
            count = math.prod(shape) if all(isinstance(d, int) and d >= 0 for d in shape) else 0
        except TypeError:
            count = 0
        itemsize = 8 if descr[-1:] == "8" else 4 if descr[-1:] == "4" else 1
        data = bytes(min(count * itemsize, 1 << 16))
    return prefix + head + data


def empty_or(value, shape):
    """The value, or zeros of its declared shape when that shape has no elements."""
    import numpy as np
    return np.zeros(shape) if shape and 0 in shape else value


def healthy_npy(values) -> bytes:
    import numpy as np
    buf = io.BytesIO()
    np.save(buf, np.asarray(values, dtype=np.float64))
    return buf.getvalue()


def zip_bytes(members: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def patched_zip(members: dict, flag_bits=None, method=None) -> bytes:
    """A zip whose local and central headers claim other flags (encrypted) or another method."""
    raw = bytearray(zip_bytes(members, zipfile.ZIP_STORED))
    for sig, flag_off, method_off in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = 0
        while True:
            at = raw.find(sig, start)
            if at < 0:
                break
            if flag_bits is not None:
                raw[at + flag_off: at + flag_off + 2] = struct.pack("<H", flag_bits)
            if method is not None:
                raw[at + method_off: at + method_off + 2] = struct.pack("<H", method)
            start = at + 4
    return bytes(raw)


def inflating_npy_member(claim_shape, real_bytes: int) -> bytes:
    """An .npy whose header claims `claim_shape` followed by `real_bytes` zeros (compresses to little)."""
    return npy_bytes(shape=claim_shape, data=bytes(real_bytes))


def damaged_input_file(rng: random.Random, values: dict) -> tuple[str, bytes, str]:
    """(file name, bytes, what) for --inputs: healthy, then damaged in one of many ways."""
    good_json = json.dumps(values).encode()
    r = rng.random()
    if r < 0.25:  # damaged JSON
        kind = rng.choice(["truncated", "empty", "list", "deep-object", "deep-list", "nan", "huge-number", "esc-key",
                           "dup-key", "utf16", "bad-utf8", "bom", "string-value", "bool-value", "null", "ragged",
                           "whitespace", "many-keys", "100k-digits", "nested-in-value", "empty-key"])
        data = {
            "truncated": good_json[: rng.randrange(max(len(good_json), 1))],
            "empty": b"",
            "list": b"[1, 2, 3]",
            "deep-object": ('{"a": ' * 5000 + "1" + "}" * 5000).encode(),
            "deep-list": ('{"x": ' + "[" * 100000 + "1" + "]" * 100000 + "}").encode(),
            "nan": b'{"x": NaN, "W": Infinity}',
            "huge-number": b'{"x": 1e999, "W": -1e400}',
            "esc-key": json.dumps({"x\x1b[2J\x07": 1, **values}).encode(),
            "dup-key": good_json[:-1] + (b', "x": 2}' if len(good_json) > 2 else b'"x": 2}'),
            "utf16": json.dumps(values).encode("utf-16"),
            "bad-utf8": b'{"x": 1, "\xff": 2}',
            "bom": b"\xef\xbb\xbf" + good_json,
            "string-value": b'{"x": "3"}',
            "bool-value": b'{"x": true}',
            "null": b"null",
            "ragged": b'{"x": [[1, 2], [3]]}',
            "whitespace": b" " * 100000 + good_json,
            "many-keys": json.dumps({f"k{i}": i for i in range(20000)}).encode(),
            "100k-digits": b'{"x": ' + b"9" * 100000 + b"}",
            "nested-in-value": b'{"x": {"y": 1}}',
            "empty-key": b'{"": 1}',
        }[kind]
        name = rng.choice(["in.json", "in.json", "in.JSON", "in.txt", "in", "in.npz", "in.npy"]) if kind != "empty" \
            else rng.choice(["in.json", "in.npz", "in.npy"])
        return name, data, f"json {kind} as {name}"
    if r < 0.6:  # .npz
        import numpy as np
        members = {f"{k}.npy": healthy_npy(v) for k, v in values.items()}
        kind = rng.choice(["healthy", "healthy", "truncated", "zero-byte", "renamed-json", "huge-header", "negative-shape",
                           "object-dtype", "complex", "bool", "float32", "int", "big-endian", "fortran", "version3",
                           "bad-header", "encrypted", "unsupported-method", "not-npy-member", "dir-member",
                           "esc-member", "short-data", "nan", "inf", "many-members", "bomb-claim", "bzip2",
                           "huge-ndim", "header-not-dict", "header-nested", "empty-zip", "trailing-garbage"])
        some = next(iter(values), "x")
        if kind == "healthy":
            data = zip_bytes(members)
        elif kind == "truncated":
            full = zip_bytes(members)
            data = full[: rng.randrange(max(len(full), 1))]
        elif kind == "zero-byte":
            data = b""
        elif kind == "renamed-json":
            data = good_json
        elif kind == "huge-header":
            members[f"{some}.npy"] = npy_bytes(shape=rng.choice([(10 ** 6, 10 ** 6), (2 ** 62,), (2 ** 40, 2 ** 40, 2 ** 40),
                                                                 (10 ** 100,)]))
            data = zip_bytes(members)
        elif kind == "negative-shape":
            members[f"{some}.npy"] = inflating_npy_member(rng.choice([(-1,), (-1, 3), (2, -2), (-(2 ** 62),)]), 1 << 20)
            data = zip_bytes(members)
        elif kind == "object-dtype":
            members[f"{some}.npy"] = npy_bytes(shape=(2,), descr="|O")
            data = zip_bytes(members)
        elif kind in ("complex", "bool", "float32", "int", "big-endian", "nan", "inf"):
            arr = {"complex": np.array([1 + 2j]), "bool": np.array([True, False]),
                   "float32": np.array([1.5, 2.5], dtype=np.float32), "int": np.array([1, 2, 3]),
                   "big-endian": np.array([1.0, 2.0], dtype=">f8"), "nan": np.array([np.nan, 1.0]),
                   "inf": np.array([np.inf, 1.0])}[kind]
            buf = io.BytesIO()
            np.save(buf, arr)
            members[f"{some}.npy"] = buf.getvalue()
            data = zip_bytes(members)
        elif kind == "fortran":
            members[f"{some}.npy"] = npy_bytes(shape=(2, 3), fortran=True, data=bytes(48))
            data = zip_bytes(members)
        elif kind == "version3":
            members[f"{some}.npy"] = npy_bytes(version=(3, 0))
            data = zip_bytes(members)
        elif kind == "bad-header":
            members[f"{some}.npy"] = npy_bytes(header_text=rng.choice(["{", "{'descr': '<f8'}", "import os", "[1, 2]",
                                                                        "{'descr': '<f8', 'fortran_order': False, 'shape': (1e300,), }",
                                                                        "{'descr': 'zz', 'fortran_order': False, 'shape': (2,), }",
                                                                        "\x00\x1b" * 20, "{'descr': '<f8', 'fortran_order': 2, 'shape': (2,), }"]))
            data = zip_bytes(members)
        elif kind == "header-nested":
            members[f"{some}.npy"] = npy_bytes(header_text="{'descr': '<f8', 'fortran_order': False, 'shape': " +
                                               "(" * 3000 + ")" * 3000 + ", }")
            data = zip_bytes(members)
        elif kind == "header-not-dict":
            members[f"{some}.npy"] = npy_bytes(header_text="(1, 2, 3)")
            data = zip_bytes(members)
        elif kind == "huge-ndim":
            members[f"{some}.npy"] = npy_bytes(shape=(1,) * 40)
            data = zip_bytes(members)
        elif kind == "encrypted":
            data = patched_zip(members, flag_bits=0x1)
        elif kind == "unsupported-method":
            data = patched_zip(members, method=rng.choice([1, 6, 97, 98, 99, 93, 12, 14]))
        elif kind == "bzip2":
            data = zip_bytes(members, zipfile.ZIP_BZIP2)
        elif kind == "not-npy-member":
            members["readme.txt"] = b"hello"
            data = zip_bytes(members)
        elif kind == "dir-member":
            members["sub/"] = b""
            data = zip_bytes(members)
        elif kind == "esc-member":
            members["\x1b[2J\x07.npy"] = healthy_npy([1.0])
            data = zip_bytes(members)
        elif kind == "short-data":
            members[f"{some}.npy"] = npy_bytes(shape=(1000,), data=bytes(16))
            data = zip_bytes(members)
        elif kind == "many-members":
            data = zip_bytes({f"m{i}.npy": healthy_npy([float(i)]) for i in range(3000)})
        elif kind == "bomb-claim":
            members[f"{some}.npy"] = inflating_npy_member((2 ** 28,), 1 << 20)  # claims 2 GiB, holds 1 MiB
            data = zip_bytes(members)
        elif kind == "empty-zip":
            data = zip_bytes({})
        else:  # trailing-garbage
            data = zip_bytes(members) + b"\x00garbage" * 100
        name = rng.choice(["in.npz"] * 6 + ["in.NPZ", "in.json", "in.npy", "in"])
        return name, data, f"npz {kind} as {name}"
    if r < 0.75:  # .npy for a one-input file
        v = next(iter(values.values()), 1.0)
        kind = rng.choice(["healthy", "truncated", "zero-byte", "huge-header", "negative-shape", "bad-magic", "object",
                           "version2", "huge-header-len"])
        data = {
            "healthy": healthy_npy(v),
            "truncated": healthy_npy(v)[: rng.randrange(len(healthy_npy(v)))],
            "zero-byte": b"",
            "huge-header": npy_bytes(shape=(10 ** 9, 10 ** 9)),
            "negative-shape": npy_bytes(shape=(-1,), data=bytes(64)),
            "bad-magic": b"\x93NUMPX\x01\x00" + bytes(100),
            "object": npy_bytes(shape=(1,), descr="|O"),
            "version2": npy_bytes(shape=(2,), version=(2, 0), data=bytes(16)),
            "huge-header-len": b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 31) + b"{" * 1000,
        }[kind]
        name = rng.choice(["in.npy"] * 5 + ["in.npz", "in.json"])
        return name, data, f"npy {kind} as {name}"
    return "in.json", good_json, "json healthy"


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------

HOSTILE_OPTION_VALUES = {
    "--eps": ["1e-320", "0", "-1", "nan", "inf", "1e300", "1", "2", "1e-20", "abc", "4.9e-324", "-0"],
    "--rtol": ["-1", "nan", "inf", "0", "1e300", "1e-320"],
    "--atol": ["-1", "nan", "inf", "0", "1e300"],
    "--seed": ["-1", "4294967296", "18446744073709551616", "1e3", "0", "4294967295", "9" * 5000, "abc"],
    "--directions": ["1e20", "0", "-1", "100000000000000000000", "1", "1000000", "abc"],
    "--max-elements": ["-1", "0", "1000000000000000000000000000000", "1e9", "1"],
    "--show": ["-1", "0", "1000000000000", "1e9"],
    "--order": ["1000", "0", "-1", "170", "171", "1000000000000000000000", "1e3", "100"],
}


def option_pool(command: str) -> list[str]:
    common = {
        "grad": ["--json", "--full", "--strict", "--ascii", "--mode"],
        "eval": ["--json", "--full", "--strict", "--ascii"],
        "trace": ["--json", "--full", "--strict", "--ascii", "--mode", "--format", "--only"],
        "jvp": ["--json", "--full", "--strict", "--ascii"],
        "derivative": ["--json", "--full", "--strict", "--ascii", "--order"],
        "jacobian": ["--json", "--full", "--strict", "--ascii", "--mode", "--dense", "--pattern"],
        "hessian": ["--json", "--full", "--strict", "--ascii", "--dense", "--pattern"],
        "hvp": ["--json", "--full", "--strict", "--ascii"],
        "vjp": ["--json", "--full", "--strict", "--ascii"],
        "graph": ["--format", "-o", "--ascii"],
        "check": ["--json", "--full", "--strict", "--ascii", "--eps", "--rtol", "--atol", "--max-elements",
                  "--directions", "--seed", "--show", "--junit-xml"],
        "cost": ["--json", "--ascii"],
        "functions": ["--json", "--ascii"],
        "export": ["--to", "-o", "--mode", "--ascii"],
        "lint": ["--json", "--format"],
    }
    return common[command]


def option_args(rng: random.Random, command: str, hostile: float) -> list[str]:
    out = []
    pool = option_pool(command)
    for opt in pool:
        p = 0.45 if opt == "--json" else 0.15
        if rng.random() >= p:
            continue
        if opt in ("--json", "--full", "--strict", "--ascii", "--dense", "--pattern"):
            out.append(opt)
        elif opt == "--to":
            out += [opt, rng.choice(["numpy", "numpy", "jax", "torch"] + (["tensorflow"] if rng.random() < hostile else []))]
        elif opt == "--mode":
            modes = {"grad": ["reverse", "forward"], "trace": ["reverse", "forward"], "export": ["reverse", "forward"],
                     "jacobian": ["auto", "forward", "reverse"]}[command]
            out += [opt, rng.choice(modes + (["backward", ""] if rng.random() < hostile else []))]
        elif opt == "--format":
            formats = {"trace": ["rich", "plain", "markdown", "latex", "json"], "graph": ["tree", "dot", "mermaid"],
                       "lint": ["text", "github"]}[command]
            out += [opt, rng.choice(formats)]
        elif opt == "--only":
            out += [opt, rng.choice(["forward", "backward"])]
        elif opt == "-o" and command == "export":
            out += [opt, rng.choice(["{dir}/mod.py", "{dir}/mod.py", "{dir}/no/such/dir/m.py", "{dir}", "{dir}/m.txt"])]
        elif opt == "-o":
            out += [opt, "{dir}/out." + rng.choice(["dot", "gv", "mmd", "txt", "svg", "png", "xyz", "", "DOT"])]
        elif opt == "--junit-xml":
            out += [opt, rng.choice(["{dir}/junit.xml", "{dir}/no/such/dir/j.xml", "{dir}"])]
        elif opt in HOSTILE_OPTION_VALUES:
            if rng.random() < hostile:
                out += [opt, rng.choice(HOSTILE_OPTION_VALUES[opt])]
            else:
                normal = {"--eps": ["1e-6", "1e-4", "1e-8"], "--rtol": ["1e-6", "1e-3"], "--atol": ["1e-8", "1e-5"],
                          "--seed": ["0", "1", "42"], "--directions": ["1", "4", "16"], "--max-elements": ["0", "2", "256"],
                          "--show": ["1", "5"], "--order": ["1", "2", "3", "5", "8"]}[opt]
                out += [opt, rng.choice(normal)]
    return out


# What adcli must survive around the case itself. The harness (fuzz.py) runs such a case twice, in
# plain surroundings and in odd ones, and compares: a closed or full stdout is exit 74 exactly when the
# plain run printed something, a closed stderr or stdin changes neither the exit code nor stdout,
# `| head -c N` reads the first N bytes of the plain run's output, a terminal of any width runs as a
# file does; a cache case runs cold then warm (or several at once on one fresh cache), all alike.
SURROUNDINGS = ["stdout-closed", "stderr-closed", "stdin-closed", "all-closed", "stdout-full", "head", "tty"]
TERMINAL_ENV = [{}, {"NO_COLOR": ""}, {"NO_COLOR": "", "TERM": "xterm-256color"}, {"TERM": "dumb", "NO_COLOR": ""},
                {"LANG": "C", "LC_ALL": "C"}, {"LANG": "POSIX", "LC_ALL": "POSIX", "NO_COLOR": ""},
                {"LC_ALL": "C", "NO_COLOR": "", "TERM": "xterm-256color"}, {"FORCE_COLOR": "1"}]


def odd_streams(rng: random.Random, case: Case) -> None:
    """Run the case with closed, full or half-read standard streams, or on a terminal of some width."""
    case.kind = "surroundings"
    case.streams = rng.choice(SURROUNDINGS)
    if case.streams == "head":
        case.head = rng.choice([0, 1, 10, 100, 1000, 4096, 70000])
    if case.streams == "tty":
        case.columns = rng.choice([0, 1, 2, 5, 10, 20, 40, 60, 80, 100, 120, 160, 200, 250, 300])
        if rng.random() < 0.3:
            case.env["COLUMNS"] = str(rng.choice([0, 1, 40, 300]))
    env = rng.choice(TERMINAL_ENV)
    case.env.update(env)
    case.notes.append(f"streams {case.streams}" + (f" (head -c {case.head})" if case.streams == "head" else "") +
                      (f" ({case.columns} columns)" if case.streams == "tty" else "") +
                      "".join(f", {k}={v!r}" for k, v in env.items()))


def odd_cache(rng: random.Random, case: Case) -> None:
    """Run the case on a fresh cache: cold then warm, or several copies at once then once more."""
    case.kind = "cache"
    if rng.random() < 0.5 or case.budget > 1:  # big legitimate work is not multiplied by running it at once
        case.cache = "cold+warm"
    else:
        case.cache, case.copies = "concurrent", rng.choice([2, 3, 4, 6])
    case.notes.append(f"cache {case.cache}" + (f" x{case.copies}" if case.cache == "concurrent" else ""))


def hostile_env(rng: random.Random) -> dict:
    choice = rng.choice([
        {"ADCLI_MAX_BYTES": rng.choice(["1e400", "0", "abc", "1E9999999999", "-1", ".5", "99999999999T", " ", "1e-5",
                                        "1", "100", "1K", "5G", "1 G", "1.5MiB", "١٢", "1e3", "0x10"])},
        {"COLUMNS": rng.choice(["1", "0", "-5", "abc", "100000", "20", "99999999999999999999"])},
        {"LINES": rng.choice(["0", "-1", "abc"])},
        {"LANG": "C", "LC_ALL": "C"},
        {"PYTHONIOENCODING": rng.choice(["ascii", "latin-1", "cp437", "ascii:strict"])},
        {"TERM": rng.choice(["dumb", "xterm-256color", ""]), "NO_COLOR": ""},
        {"FORCE_COLOR": "1"},
        # Only paths inside the case's directory, or ones that cannot be created: an empty HOME is
        # tests/test_resources.py's business, since a bug there writes to /.cache.
        {"XDG_CACHE_HOME": rng.choice(["relative/cache", "/dev/null", "/dev/null/x", "{dir}/cachefile", "{dir}/new/x"])},
        {"HOME": rng.choice(["relative", "/dev/null", "{dir}/nohome"]), "XDG_CACHE_HOME": "relative"},
        {"ADCLI_DEBUG": ""},
    ])
    return choice


# ---------------------------------------------------------------------------------------------
# Building cases
# ---------------------------------------------------------------------------------------------

def set_args(values: dict, rng: random.Random, hostile=0.0) -> list[str]:
    if not values:
        return []
    items = []
    for name, v in values.items():
        text = dumps_value(v)
        if rng.random() < hostile:
            r = rng.random()
            if r < 0.5:
                text = rng.choice(HOSTILE_VALUE_TEXTS)
            elif r < 0.75:
                name = rng.choice(HOSTILE_NAMES)
            elif r < 0.85 and not isinstance(v, list):
                text = rng.choice(["pi/2", "-pi", "2*e", "1/3", "exp(1)", "[1, 2*pi]", "sqrt(2)", "-inf"])
            else:
                text = text.replace("1", "١") if "1" in text else text + "\x1b"
        items.append(f"{name}={text}")
    if rng.random() < 0.5:
        return ["--set"] + items
    out = []
    for it in items:
        out += [rng.choice(["--set", "-s"]), it]
    return out


def pick_command(rng: random.Random, extra: tuple = ()) -> str:
    names = COMMANDS + [c for c in extra if c in OPTIONAL_COMMANDS]
    weights = COMMAND_WEIGHTS + [OPTIONAL_COMMANDS[c] for c in extra if c in OPTIONAL_COMMANDS]
    return rng.choices(names, weights)[0]


def command_requirements(rng, command, inputs: dict, values: dict, hostile: float) -> list[str]:
    """The options a command needs: --wrt for derivative, --tangent for jvp, --wrt/--of sometimes."""
    args = []
    floats = [n for n, (s, k, data) in inputs.items() if k == "f" and not data]
    scalars = [n for n in floats if not inputs[n][0]]
    if command == "derivative":
        pool = scalars or floats or list(inputs) or ["x"]
        w = rng.choice(pool)
        if rng.random() < hostile:
            w = rng.choice(HOSTILE_NAMES)
        args += ["--wrt", w]
    elif command in ("jvp", "hvp"):
        option = "--tangent" if command == "jvp" else "--vector"
        if floats and rng.random() > 0.05:
            items = []
            for n in rng.sample(floats, rng.randint(1, len(floats))):
                v = values.get(n, 1.0)
                t = dumps_value(v) if isinstance(v, list) and rng.random() < 0.5 else number_text(rng)
                if rng.random() < hostile:
                    t = rng.choice(HOSTILE_VALUE_TEXTS)
                items.append(f"{n}={t}")
            args += [option] + items
        else:
            args += [option, rng.choice(["x=1", "nope=1", "x", "=1", "x=[1,2,3,4,5]"])]
    elif command == "vjp":  # the output's name is the file's last assignment, or a wrong one
        name = rng.choice(["y", "loss", "out", "h", "H"] + (HOSTILE_NAMES if rng.random() < hostile else []))
        t = number_text(rng) if rng.random() > hostile else rng.choice(HOSTILE_VALUE_TEXTS)
        args += ["--cotangent", f"{name}={t}"]
    elif command in ("grad", "jacobian", "hessian", "check", "cost", "trace", "export") and floats and rng.random() < 0.25:
        for n in rng.sample(floats, rng.randint(1, len(floats))):
            args += ["--wrt", n]
        if command == "trace" and rng.random() < 0.5:
            arrays = [n for n in floats if inputs[n][0] and all(inputs[n][0])]
            if arrays:
                n = rng.choice(arrays)
                idx = ", ".join(str(rng.randrange(d)) for d in inputs[n][0])
                args = ["--wrt", f"{n}[{idx}]", "--mode", "forward"]
    if rng.random() < 0.05 + hostile * 0.3:
        args += ["--of", rng.choice(HOSTILE_NAMES + ["H", "loss", "y", "h'", "U1", "out"])]
    if rng.random() < hostile * 0.3 and command != "derivative":
        args += ["--wrt", rng.choice(HOSTILE_NAMES)]
    return args


def values_args(rng, command, inputs, values, hostile, case: Case) -> list[str]:
    """How values reach adcli: --set, --inputs (a json/npz/npy file, maybe damaged), or both."""
    if command == "cost" and rng.random() < 0.5:
        dims = []
        for d in sorted({d for d in re.findall(r"\b([nmkdhT]\d*)\b", (case.source or b"").decode("utf-8", "replace"))}):
            dims.append(f"{d}={rng.choice(['2', '3', '256', '0', '1000000', 'x', '-1', '1e3', '²', '١٢', '9' * 30] if rng.random() < hostile else ['2', '3', '4', '100'])}")
        return (["--dim"] + dims) if dims else []
    r = rng.random()
    if any(len(s) > 1 and 0 in s for s, _, _ in inputs.values()) and values:
        case.files["in.npz"] = zip_bytes({f"{k}.npy": healthy_npy(empty_or(v, inputs[k][0])) for k, v in values.items()})
        case.notes.append("--inputs npz (an empty array)")
        return ["--inputs", "{dir}/in.npz"]
    if r < 0.65 or not values:
        return set_args(values, rng, hostile)
    if r < 0.9:
        if rng.random() < max(hostile, 0.3):
            name, data, what = damaged_input_file(rng, values)
        else:
            kind = rng.choice(["json", "npz", "npy"] if len(values) == 1 else ["json", "npz"])
            if kind == "json":
                name, data, what = "in.json", json.dumps(values).encode(), "json"
            elif kind == "npz":
                name, data, what = "in.npz", zip_bytes({f"{k}.npy": healthy_npy(v) for k, v in values.items()}), "npz"
            else:
                name, data, what = "in.npy", healthy_npy(next(iter(values.values()))), "npy"
        case.files[name] = data
        case.notes.append("--inputs " + what)
        return ["--inputs", "{dir}/" + name]
    # both: a file for some, --set for the others (and the same name in both, --set wins)
    keys = list(values)
    half = {k: values[k] for k in keys[: len(keys) // 2 + 1]}
    rest = {k: values[k] for k in keys[len(keys) // 2:]}
    case.files["in.json"] = json.dumps(half).encode()
    case.notes.append("--inputs json and --set")
    return ["--inputs", "{dir}/in.json"] + set_args(rest, rng, hostile)


class Generator:
    """Makes case number i of a campaign, from Random(f"{seed}:{i}")."""

    def __init__(self, seed: int, repo: Path = REPO, light: bool = False, extra_commands: tuple = ()):
        self.seed, self.light = seed, light  # light: hostile sizes scaled down (a quick CI run)
        self.extra = tuple(extra_commands)  # commands adcli has beyond COMMANDS (export)
        self.functions, self.constructors = load_functions()
        self.samples = []
        for path in sorted((repo / "samples").glob("*.ad")):
            text = path.read_text(encoding="utf-8", errors="replace")
            values = None
            js = path.with_suffix(".json")
            if js.exists():
                try:
                    values = json.loads(js.read_text())
                except ValueError:
                    values = None
            self.samples.append((path.name, text, values))

    def case(self, index: int) -> Case:
        rng = random.Random(f"{self.seed}:{index}")
        r = rng.random()
        if r < 0.42:
            case = self.program_case(rng)
        elif r < 0.62:
            case = self.sample_case(rng)
        elif r < 0.8:
            case = self.hostile_case(rng)
        else:
            case = self.file_case(rng)
        if rng.random() < 0.05:
            env = hostile_env(rng)
            case.env.update(env)
            case.notes.append("env " + ", ".join(f"{k}={v!r}" for k, v in env.items()))
        r = rng.random()
        if r < 0.1:
            odd_streams(rng, case)
        elif r < 0.16:
            odd_cache(rng, case)
        return case

    # ---- kinds ------------------------------------------------------------------------------
    def program_case(self, rng, mutate_p=0.35) -> Case:
        command = pick_command(rng, self.extra)
        scalar = command not in ("jacobian", "jvp", "eval", "vjp") or rng.random() < 0.5
        gen = ProgramGen(rng, self.functions, self.constructors)
        text, inputs, bounds = gen.build(output_scalar=scalar)
        hostile = 0.0 if rng.random() < 0.7 else rng.choice([0.1, 0.3, 0.6])
        values = program_values(rng, inputs, bounds, hostile=hostile * 0.3)
        used = set(re.findall(r"\b[A-Za-z_]\w*\b", text))
        values = {k: v for k, v in values.items() if k in used}
        notes = ["program: " + ", ".join(sorted(gen.used_features))]
        if rng.random() < mutate_p:
            text, done = mutate(rng, text, self.functions)
            notes.append("mutated: " + ", ".join(done))
        return self.finish(rng, "program" if len(notes) == 1 else "program+mutation", command, text, inputs, values,
                           hostile, notes)

    def sample_case(self, rng) -> Case:
        name, text, values = rng.choice(self.samples) if self.samples else ("inline.ad", "y = x * (x + 1)\n", None)
        command = pick_command(rng, self.extra)
        inputs = self.guess_inputs(text, values)
        if values is None:
            values = {n: value_for(rng, s, k) for n, (s, k, _) in inputs.items()}
        notes = [f"sample {name}"]
        mutated = rng.random() < 0.75
        if mutated:
            text, done = mutate(rng, text, self.functions)
            notes.append("mutated: " + ", ".join(done))
        hostile = 0.0 if rng.random() < 0.7 else rng.choice([0.1, 0.3])
        return self.finish(rng, "sample+mutation" if mutated else "sample", command, text, inputs, values, hostile, notes)

    def guess_inputs(self, text, values) -> dict:
        """Inputs of a sample: from its .json values, else its declarations, else scalars."""
        inputs = {}
        if values:
            import numpy as np
            for k, v in values.items():
                a = np.asarray(v)
                kind = "i" if re.search(rf"\b{k}\s*:\s*int\[", text) else "f"
                data = bool(re.search(rf"^\s*data\s+{k}\b", text, re.M))
                inputs[k] = (a.shape, kind, data)
            return inputs
        for m in re.finditer(r"^\s*(input|data)\s+(\w+)\s*(?::\s*(int)?\[([^\]]*)\])?", text, re.M):
            dims = [d.strip() for d in (m.group(4) or "").split(",") if d.strip()]
            shape = tuple(int(d) if d.isdigit() else 3 for d in dims)
            inputs[m.group(2)] = (shape, "i" if m.group(3) else "f", m.group(1) == "data")
        if not inputs:
            for n in ("W", "x", "b"):
                if re.search(rf"\b{n}\b", text):
                    inputs[n] = ((), "f", False)
        return inputs

    def hostile_case(self, rng) -> Case:
        command = pick_command(rng, self.extra)
        kind = rng.choice(["bomb", "loop", "laughs", "deep", "long", "values", "options", "numbers", "einsum", "axes",
                           "names", "strings", "shapes"])
        heavy = False
        inputs = {"x": ((), "f", False)}
        values = {"x": 0.5}
        hostile = 0.3
        if kind == "bomb":
            text = f"y = sum({rng.choice(SHAPE_BOMBS)}) + x\n"
            if rng.random() < 0.5:
                text = rng.choice([
                    "input v: [60000]\ninput w: [60000, 1]\ny = sum(v + w)\n",
                    "input v: [n]\ny = sum(outer(outer(v, v), v))\n",
                    "input v: [n]\ny = sum(v[:, None] * v[None, :])\n",
                    "input v: [n]\ny = sum(broadcast_to(v, [100000, 100000]))\n",
                    "input v: [n]\ny = sum(reshape(v, [2147483648, 2147483648]))\n",
                    "input v: [n]\ny = sum(one_hot(arange(100000), 100000))\n",
                    "input v: [n]\ny = sum(diag(ones([100000])))\n",
                    "input v: [n]\ny = sum(einsum(\"a,b,c,d,e,f->abcdef\", v, v, v, v, v, v))\n",
                    "input v: [n]\ny = sum(tril(ones([100000, 100000])))\n",
                    "input v: [n]\ny = sum(stack([" + ", ".join(["v"] * 5000) + "]))\n",
                ])
                inputs = {"v": ((rng.choice([3, 100, 60000]),), "f", False)}
                if "w: [60000, 1]" in text:
                    inputs = {"v": ((60000,), "f", False), "w": ((60000, 1), "f", False)}
                if any(math.prod(s) > 1000 for s, _, _ in inputs.values()):
                    import numpy as np
                    case = Case("hostile:bomb", command)
                    case.files["in.npz"] = zip_bytes({f"{k}.npy": healthy_npy(np.zeros(s)) for k, (s, _, _) in inputs.items()})
                    return self.finish(rng, "hostile:bomb", command, text, inputs, {}, 0.0, ["bomb with npz"],
                                       case=case, extra_args=["--inputs", "{dir}/in.npz"])
                values = {k: value_for(rng, s, k2) for k, (s, k2, _) in inputs.items()}
        elif kind == "loop":
            bound = rng.choice(["1000000000", "10000", "10 ** 9", "2147483648", "99999999999999999999", "1e300",
                                "-1000000000", "0, 1000000000, 1", "1000000000, 0, -1", "10000"])
            if rng.random() < 0.5:
                text = f"h = x\nfor t in range({bound}):\n    h = sin(h) + x\n"
            else:
                text = "h = x\nfor i in range(1000):\n    for j in range(1000):\n        for k in range(1000):\n" \
                       "            h = h + x\n"
        elif kind == "laughs":
            base = rng.choice(["x", "1.0", "[1.0, 2.0]", "ones([10])"])
            lines = [f"a0 = {base}"]
            for i in range(1, rng.choice([8, 11, 12, 20])):
                lines.append(f"a{i} = [" + ", ".join([f"a{i - 1}"] * 10) + "]")
            if rng.random() < 0.5:
                lines = [f"a0 = {base}"] + [f"a{i} = a{i - 1} + a{i - 1}" for i in range(1, 60)]
            lines.append(f"y = sum(a{len(lines) - 1})")
            text = "\n".join(lines) + "\n"
            if rng.random() < 0.3:  # the same through user functions
                text = "def f0(a) = a * 2\n" + "".join(f"def f{i}(a) = f{i - 1}(f{i - 1}(a))\n" for i in range(1, 40)) + \
                       "y = f39(x)\n"
        elif kind == "deep":
            n = rng.choice([1000, 5000] if self.light else [1000, 100000, 200000])
            heavy = n > 5000
            text = rng.choice([
                "y = " + "(" * n + "x" + ")" * n + "\n",
                "y = " + "sin(" * n + "x" + ")" * n + "\n",
                "y = " + "-" * n + "x\n",
                "y = " + " ** ".join(["x"] * n) + "\n",
                "y = " + "[" * 40 + "x" + "]" * 40 + "\n",
                "y = x" + "[0]" * n + "\n",
                "y = x" + ".T" * n + "\n",
                "y = " + "(" * n + "x\n",
                "y = x" + ")" * n + "\n",
                "y = " + "[" * n + "\n",
                "".join(f"{'    ' * i}for t{i} in range(1):\n" for i in range(rng.choice([50, 100, 500]))) +
                "    " * rng.choice([50, 100, 500]) + "y = x\n",
                "y = x\n" + "    " * 1000 + "z = 1\n",
                "y = " + "x + " * n + "x\n",
                "y = sum(x" + ", axis=0" * 100 + ")\n",
            ])
        elif kind == "long":
            k = 20 if self.light else 1  # sizes divided by k in a light run
            heavy = not self.light
            text = rng.choice([
                "y = x + " + "1" * (1_000_000 // k) + "\n",
                "y = " + "x" * (1_000_000 // k) + "\n",
                "y = x\n" * (100000 // k),
                "y = x # " + "\x1b" * (100000 // k) + "\n",
                "y = x " + "\x1b" * 1000 + "\n",
                "# " + "a" * (2_000_000 // k) + "\ny = x\n",
                "\n" * (1_000_000 // k) + "y = x\n",
                "\n" * (1_000_000 // k) + "y = x +\n",
                "y = x" + " \\\n" * (100000 // k) + "\n",
                ";" * (100000 // k) + "y = x\n",
            ])
        elif kind == "values":
            text = rng.choice(["y = x * 2\n", "y = sum(x * x)\n", "y = log(x) + sqrt(x)\n", "y = exp(x) / x\n",
                               "y = x ** x\n", "input x: [3]\ny = sum(softmax(x))\n", "y = x - x\n", "y = tan(x) * acosh(x)\n"])
            values = {"x": rng.choice([1e308, -1e308, 1e-320, 0.0, -0.0, 1e300, 709.8, -745.2, [1e308, 1e308, -1e308],
                                       [0.0, 0.0, 0.0], 1.0, -1.0])}
            hostile = 0.6
        elif kind == "options":
            text = rng.choice(["y = x * x\n", "y = sin(x) + x ** 3\n", "input x: [3]\ny = sum(exp(x))\n"])
            if "[3]" in text:
                values = {"x": [0.1, 0.2, 0.3]}
                inputs = {"x": ((3,), "f", False)}
            hostile = 0.9
        elif kind == "numbers":
            text = f"y = x * {hostile_number(rng)} + {hostile_number(rng)}\n"
        elif kind == "einsum":
            spec = rng.choice(["ij,jk->ik", "ii->", "i,i->", "->", "", "i->ii", "ij->ji", "...->", "i,j->ij", "a" * 40 + "->",
                               "ij,jk", "i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i->",
                               "\x1b[2J", "i\u00e9->i", "ab,cd,ef,gh,ij,kl,mn,op->abcdefghijklmnop", "i->j", "I->", "i,->",
                               "ij,ij->", "ij, jk -> ik", " i , i -> ", ",".join("abcdefghijklmnopqrstuvwxyz") + "->" + "abcdefghijklmnopqrstuvwxyz"])
            nops = spec.split("->")[0].count(",") + 1
            text = f'input v: [3]\ny = sum(einsum("{spec}", {", ".join(["v"] * nops)}))\n'
            inputs = {"v": ((3,), "f", False)}
            values = {"v": [0.5, 1.0, -1.0]}
        elif kind == "shapes":  # every einsum letter, spaced specs, 33+ dimensions, stacked solve
            letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            ones = lambda n: "[" + ", ".join(["1"] * n) + "]"
            text = rng.choice([
                f"input v: [3]\ny = sum(einsum(\"{letters[:26]},{letters[26:]}->{letters[:26]}\", "
                f"reshape(v[:1], {ones(26)}), ones({ones(26)}))) + sum(v)\n",
                "input v: [3]\ny = sum(einsum(\"i, j -> ij\", v, v))\n",
                "input v: [3]\ny = sum(einsum(\" i , i -> \", v, v))\n",
                f"input v: [3]\ninput w: {ones(rng.choice([32, 33, 40, 64, 65, 70]))}\ny = sum(w * w) + sum(v)\n",
                "input v: [3]\ny = sum(solve(ones([4, 3, 3]) + eye(3), v))\n",
                "input v: [3]\ny = sum(solve_triangular(eye(3)[None] + zeros([4, 1, 1]), v))\n",
                "input v: [3]\ny = sum(solve(eye(3) + zeros([4, 3, 3]), broadcast_to(v, [4, 3])))\n",
                "input v: [3]\ny = sum(zeros([4294967296, 4294967296]) + zeros([4294967296])) + sum(v)\n",
            ])
            inputs = {"v": ((3,), "f", False)}
            values = {"v": [0.5, 1.0, -1.0]}
            if "input w" in text:
                rank = text.split("input w: ")[1].split("\n")[0].count("1")
                inputs["w"] = ((1,) * rank, "f", False)
                values["w"] = value_for(rng, (1,) * rank)
        elif kind == "axes":
            fn = rng.choice([n for n in ("sum", "mean", "max", "softmax", "logsumexp", "cumsum", "var", "std", "norm",
                                         "flip", "squeeze", "expand_dims", "transpose", "stack", "concat", "prod")
                             if n in self.functions] or ["sum"])
            ax = rng.choice(["1e300", "-1e300", "2**31", "-33", "33", "1.5", "[0, 0]", "[0, 1, 2, 3]", "None", "True", "x",
                             "[]", "[[0]]", "-0", "0", "1", "-1", "99999999999999999999", "inf", "nan", "1e-300"])
            arg = "[v, v]" if fn in ("stack", "concat") else "v"
            kwname = "axes" if fn == "transpose" else "axis"
            text = f"input v: [2, 3]\ny = sum({fn}({arg}, {kwname}={ax}))\n" if rng.random() < 0.7 else \
                f"input v: [2, 3]\ny = sum({fn}({arg}, {ax}))\n"
            inputs = {"v": ((2, 3), "f", False)}
            values = {"v": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}
        elif kind == "names":
            nm = rng.choice(["x" * 100000, "é", "x\x1b", "ﬁ", "\u212a", "_" * 5000, "input", "U1", "h'", "pi", "e"])
            text = f"{nm} = x * 2\ny = {nm} + 1\n"
        else:  # strings
            s = rng.choice(['"\x1b[2J\x07"', '"' + "a" * 100000 + '"', '"unterminated', '""', '"\u202e"', '"\x00"'])
            text = f"y = x * {s}\n" if rng.random() < 0.5 else f"y = sum(einsum({s}, x))\n"
        case = self.finish(rng, f"hostile:{kind}", command, text, inputs, values, hostile, [f"hostile {kind}"])
        if heavy:
            case.budget = 4.0  # legitimately big work: 100,000 nested operations or a megabyte of source
        return case

    def file_case(self, rng) -> Case:
        """FILE itself made hostile: a FIFO, /dev/zero, a directory, missing, stdin, non-UTF-8, empty."""
        command = pick_command(rng, self.extra)
        if command == "functions":
            command = "eval"
        name, text, values = rng.choice(self.samples) if self.samples else ("s.ad", "y = x * (x + 1)\n", None)
        inputs = self.guess_inputs(text, values)
        if values is None:
            values = {n: value_for(rng, s, k) for n, (s, k, _) in inputs.items()}
        mode = rng.choice(["fifo", "fifo", "devzero", "devnull", "devurandom", "missing", "directory", "stdin", "stdin",
                           "nonutf8name", "nonutf8name", "hostile-name", "hostile-name", "hostile-name",
                           "empty", "nonutf8", "only-comments", "only-bom", "huge-file", "inputs-devzero",
                           "inputs-fifo", "inputs-directory", "inputs-missing", "inputs-stdin", "nonutf8name",
                           "inputs-devzero-npz", "dash-dash-file", "option-like-file"])
        case = Case(f"file:{mode}", command)
        source = text
        if mode == "hostile-name":
            case.file_name = rng.choice(HOSTILE_FILE_NAMES)
            if rng.random() < 0.6:  # commands that print or embed the file's name
                command = case.command = rng.choice([c for c in ("export", "export", "cost", "graph", "trace", "check")
                                                     if c in COMMANDS or c in self.extra])
            if command == "export" and rng.random() < 0.3:  # a name that tries to run code in the module
                case.file_name = rng.choice([n for n in HOSTILE_FILE_NAMES if "ADCLI_FUZZ_INJECTED" in n])
        if mode == "empty":
            source = ""
        elif mode == "nonutf8":
            source = None
            case.source = text.encode("latin-1", "replace") + b"\n# \xff\xfe caf\xe9\n"
        elif mode == "only-comments":
            source = "# nothing\n\n   # here\n"
        elif mode == "only-bom":
            source = "\ufeff"
        elif mode == "huge-file":
            case.file_mode = "huge"  # the runner extends the file to 300 MiB (sparse), over ADCLI_MAX_BYTES=256M
        extra = []
        if mode.startswith("inputs-"):
            target = mode[len("inputs-"):]
            if target in ("devzero", "devzero-npz"):
                ext = ".npz" if target == "devzero-npz" else rng.choice([".json", ".npy", ""])
                case.links["in" + ext] = "/dev/zero"
                extra = ["--inputs", "{dir}/in" + ext]
            elif target == "fifo":
                case.files["in.src"] = json.dumps(values).encode()
                ext = rng.choice([".json", ".json", ".npz"])
                case.links["in" + ext] = "fifo:in.src"
                extra = ["--inputs", "{dir}/in" + ext]
            elif target == "directory":
                extra = ["--inputs", "{dir}"]
            elif target == "missing":
                extra = ["--inputs", "{dir}/nope.json"]
            else:
                extra = ["--inputs", "/dev/stdin"]
            values = {}
        elif mode in ("fifo", "devzero", "devnull", "devurandom", "missing", "directory", "stdin", "nonutf8name",
                      "dash-dash-file", "option-like-file"):
            case.file_mode = mode
        out = self.finish(rng, case.kind, command, source, inputs, values, 0.0, [f"file {mode}"], case=case,
                          extra_args=extra)
        return out

    # ---- assembling -------------------------------------------------------------------------
    def finish(self, rng, kind, command, text, inputs, values, hostile, notes, case: Case | None = None,
               extra_args=()) -> Case:
        case = case or Case(kind, command)
        case.kind, case.command = kind, command
        case.notes += notes
        if command == "functions":
            case.source = None
            args = []
            if rng.random() < 0.5:
                args.append(rng.choice(list(self.functions) + ["zeros", "+", "neg", "nope", "x\x1b", "", "mean", "var"]))
            case.args = args + option_args(rng, command, hostile)
            return case
        if text is not None:
            if kind.startswith("file:") and case.file_mode in ("file", "huge"):
                case.source = text.encode("utf-8", "surrogatepass")
            elif case.source == b"" or case.source is None:
                case.source, enc = encode(rng, text) if hostile or "mutation" in kind else (text.encode("utf-8", "surrogatepass"), "utf-8")
                if enc != "utf-8":
                    case.notes.append("encoded " + enc)
        args = list(extra_args) if command not in ("export", "lint") else []
        if command in ("export", "lint"):
            pass  # these take no values: export only the file, --to, -o, --of, --wrt, --mode; lint files
        elif not extra_args or command == "cost":
            args += values_args(rng, command, inputs, values, hostile, case)
        if command != "lint":
            args += command_requirements(rng, command, inputs, values, hostile)
        args += option_args(rng, command, hostile)
        if rng.random() < 0.02:
            args.append(rng.choice(["--nope", "-x", "--json=1", "--set", "--", "--wrt", "-", "--help", "-V"]))
        case.args = args
        return case

