"""The .ad language's functions from Python, on numbers, arrays and duals alike: `ops.sin(d)`.

Generated from the registry: one function per name a .ad file can call (max and min choose the
elementwise or the reducing operation by their number of arguments, as in a file), and one per
operation name (add, mul, pow, neg, matmul, stack, amax, ...).
"""

from __future__ import annotations

import builtins

import numpy as np

from .dual import Lifted, apply
from .registry import FUNCTIONS, OPS


def _operand(x):
    """Duals pass through; anything else becomes a float64 number or array, as in a .ad file."""
    return x if isinstance(x, Lifted) else np.asarray(x, dtype=np.float64)


def _function(name: str, choices: list):
    """A Python function for `name`, picking the operation whose arity matches the call."""
    by_arity = {op.nargs: op for op in choices}

    def function(*args, **params):
        op = by_arity.get(len(args)) or by_arity.get(-1)
        if op is None:
            counts = " or ".join(str(n) for n in sorted(by_arity))
            raise TypeError(f"{name}() takes {counts} argument(s), not {len(args)}")
        if op.nargs == -1 and len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])  # stack([a, b]) as well as stack(a, b)
        return apply(op.name, *(_operand(a) for a in args), **params)

    function.__name__ = function.__qualname__ = name
    formulas = ", ".join(op.formula([chr(ord("a") + k) for k in range(builtins.max(op.nargs, 1))])
                         for op in choices)
    registry = ", ".join(op.name for op in choices)
    function.__doc__ = f"{name}: {formulas}, on numbers, arrays or duals (registry: {registry})."
    return function


# The loop defines max, min, sum and abs in this module, so its own code says builtins.max.
_NAMES: dict[str, list] = {name: [op] for name, op in OPS.items()}
_NAMES.update(FUNCTIONS)  # the .ad names win: max is maximum or amax by arity
for _name, _choices in _NAMES.items():
    globals()[_name] = _function(_name, _choices)

__all__ = sorted(_NAMES)
