"""The operation registry: one entry per operation, holding everything adcli knows about it.

Each family lives in its own module, a table of entries: arithmetic (operators, comparisons,
where), elementwise functions, reductions, structure (shape), linear algebra and indexing; the
constructors (zeros, eye, ...) make constants. This module assembles the one `OPS` table and the
names a .ad file can call.
"""

from __future__ import annotations

import math

from . import arithmetic, elementwise, indexing, linalg, reductions, shape  # noqa: F401 - they register
from .constructors import CONSTRUCTORS, Constructor
from .core import (OPS, Mismatch, Op, along_axis_shape, broadcast_shape, check_axis, fill, fmt_shape, mentions,
                   reduce_shape, same_shape)
from .indexing import IndexMismatch, index_text

# Operator symbols, for the parser.
BINARY_SYMBOLS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "**": "pow",
                  "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal", "==": "equal",
                  "!=": "not_equal"}

# The functions a .ad file can call: name -> the operations it may mean (max(a, b) or max(x)).
FUNCTIONS: dict[str, list[Op]] = {}
for _op in OPS.values():
    for _name in (_op.func, *_op.aliases) if _op.func else ():
        FUNCTIONS.setdefault(_name, []).append(_op)

CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf}

__all__ = ["BINARY_SYMBOLS", "CONSTANTS", "CONSTRUCTORS", "Constructor", "FUNCTIONS", "IndexMismatch", "Mismatch",
           "OPS", "Op", "along_axis_shape", "broadcast_shape", "check_axis", "fill", "fmt_shape", "index_text",
           "mentions", "reduce_shape", "same_shape"]
