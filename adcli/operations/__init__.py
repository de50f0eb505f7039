"""The operations: one registry entry per operation, holding everything adcli knows about it.

Each family lives in its own module, a table of entries: arithmetic (operators, comparisons,
where), elementwise functions, reductions, structure (shape), linear algebra and indexing; the
constructors (zeros, eye, ...) make constants. This module assembles the one `OPS` table and the
names a .ad file can call. `kernels` holds the numerical pieces the entries share (the strong-zero
product, stable softplus, ...), which the engine and the exported modules run too. This layer
imports nothing of adcli's but the base modules at the top of `adcli/`.
"""

from __future__ import annotations

import importlib
import math
import re

from adcli.operations.constructors import CONSTRUCTORS, Constructor
from adcli.operations.core import (OPS, Mismatch, Op, along_axis_shape, broadcast_shape, check_axis, fill, fmt_shape,
                                   mentions, reduce_shape, same_shape, with_functions)

# The families, in the order `adcli functions` lists them: each module registers its own entries.
FAMILIES: dict[str, list[str]] = {}
for _family in ("arithmetic", "elementwise", "reductions", "shape", "linalg", "indexing", "implicit"):
    _before = set(OPS)
    importlib.import_module(f".{_family}", __name__)
    FAMILIES[_family] = [name for name in OPS if name not in _before]

# Only after the loop: imported before it, indexing's entries would be registered outside any family
# (and `adcli functions` would not list getitem, gather or size).
from adcli.operations.indexing import IndexMismatch, index_text  # noqa: E402

# Operator symbols, for the parser.
BINARY_SYMBOLS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "**": "pow",
                  "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal", "==": "equal",
                  "!=": "not_equal"}

# The functions a .ad file can call: name -> the operations it may mean (max(a, b) or max(x)).
FUNCTIONS: dict[str, list[Op]] = {}
for _op in OPS.values():
    for _name in (_op.func, *_op.aliases) if _op.func else ():
        FUNCTIONS.setdefault(_name, []).append(_op)

CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}
SYMBOLS = {name: symbol for symbol, name in BINARY_SYMBOLS.items()}


def param_text(value) -> str:
    """A parameter as a .ad file writes it: 1, True, [2, 3], "ij->j"."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(param_text(v) for v in value) + "]"
    return repr(value)


def source_text(name: str, operands: list[str], params: dict | None = None) -> str:
    """Operation `name` applied to operand texts, as a .ad file writes it: a + b, sqrt(x), sum(x, axis=1)."""
    op, params = OPS[name], params or {}
    if name in SYMBOLS:
        return f"{operands[0]} {SYMBOLS[name]} {operands[1]}"
    if name == "neg":
        return f"-{operands[0]}"
    if name == "transpose" and params.get("axes") is None:
        return f"{operands[0]}.T"
    if op.show is not None and name != "einsum":
        return op.show(operands, params)
    shown = {k: v for k, v in params.items() if k != "spec" and v != dict(op.params).get(k)}
    keywords = "".join(f", {k}={param_text(v)}" for k, v in shown.items())
    if name == "einsum":
        return f"einsum({param_text(params.get('spec', ''))}, {', '.join(operands)})"
    if op.variadic:
        return (f"[{', '.join(operands)}]" if name == "stack" and not shown else
                f"{op.func}([{', '.join(operands)}]{keywords})")
    return f"{op.func}({', '.join(operands)}{keywords})"

def function_table() -> list[dict]:
    """Every function and operator a file can use, by family: name, signature, meaning and the
    derivative's convention where it does not exist (plain data, for `adcli functions`)."""
    rows = []
    for family, names in FAMILIES.items():
        for name in names:
            op = OPS[name]
            if name in SYMBOLS or name == "neg":
                call = "-x" if name == "neg" else f"x {SYMBOLS[name]} y"
            elif op.func:
                call = op.signature
            elif op.signature:
                call = op.signature
            else:
                continue
            rows.append({"family": family, "name": op.func or SYMBOLS.get(name, "-" if name == "neg" else name),
                         "operation": name, "call": call, "meaning": op.doc, "derivative": derivative_text(op),
                         "convention": op.convention})
    for c in CONSTRUCTORS.values():
        rows.append({"family": "constructors", "name": c.name, "operation": None, "call": c.signature,
                     "meaning": c.doc, "derivative": "none: a constant", "convention": ""})
    return rows


def spelled(template: str, names: list[str]) -> str:
    """A registry text with operands {0}, {1} named and parameters {n}, {ddof} left as words."""
    return re.sub(r"\{(\w+)\}", lambda m: names[int(m[1])] if m[1].isdigit() else m[1], template)


def derivative_text(op: Op) -> str:
    """The local derivative in words a reader knows: ∂/∂x = 1/(1 + x), or the vector–Jacobian product."""
    if op.dtype in ("bool", "int"):
        return "none: no derivative"
    names = ["x"] if op.variadic else list(op.args)
    if op.variadic and len(op.vjp_text) > 1:  # fixed_point, root: the start, then each parameter
        texts = [t.replace("{body}", "f") for t in op.vjp_text]
        return f"x0: {texts[0]} (it only starts the search); each parameter p: {texts[1]}"
    if op.elementwise:
        return "; ".join(f"∂/∂{a} = {spelled(p, names)}" for a, p in zip(names, op.partials) if a not in ("cond",))
    texts = [spelled(t, names) for t in op.vjp_text[:max(op.nargs, 1)]]
    return "; ".join(f"{a}: {t}" for a, t in zip(names, texts) if t not in ("0",)) if len(texts) > 1 else texts[0]


__all__ = ["FAMILIES", "function_table", "BINARY_SYMBOLS", "CONSTANTS", "CONSTRUCTORS", "Constructor", "FUNCTIONS",
           "IndexMismatch", "Mismatch", "OPS", "Op", "along_axis_shape", "broadcast_shape", "check_axis", "fill",
           "fmt_shape", "index_text", "mentions", "param_text", "reduce_shape", "same_shape", "source_text",
           "with_functions"]
