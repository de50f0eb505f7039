"""The .ad language's functions from Python, on numbers, arrays and duals alike: `ops.sin(d)`.

Generated from the registry: one function per name a .ad file can call (max and min choose the
elementwise or the reducing operation by their number of arguments, as in a file), and one per
operation name (add, mul, pow, neg, matmul, stack, amax, ...).
"""

from __future__ import annotations

import numpy as np

from adcli.engine.dual import Lifted, apply
from adcli.operations import FUNCTIONS, OPS


def _operand(x):
    """Duals pass through; anything else becomes a float64 number or array, as in a .ad file."""
    return x if isinstance(x, Lifted) else np.asarray(x, dtype=np.float64)


def _fits(op, extras) -> bool:
    """Whether positional arguments beyond the operands fit the parameters: an axis is a whole
    number (or a tuple), a flag a bool, never an array."""
    for (name, default), value in zip(op.params, extras):
        if isinstance(value, (np.ndarray, Lifted)) and name not in ("shape", "axes"):
            return False
        if name == "axis" and not (value is None or isinstance(value, (int, np.integer, tuple, list))):
            return False
        if isinstance(default, bool) and not isinstance(value, (bool, np.bool_)):
            return False
    return True


def _choose(name: str, choices: list, args: tuple):
    """The operation a call means: an exact number of operands first (max(a, b)), else one whose
    parameters take the rest (sum(x, 0))."""
    count = len(args)
    exact = [op for op in choices if op.nargs == count]
    if exact:
        return exact[0]
    for op in choices:
        if op.nargs == -1 or (0 <= count - op.nargs <= len(op.params) and _fits(op, args[op.nargs:])):
            return op
    counts = " or ".join(sorted({str(op.nargs) for op in choices}))
    raise TypeError(f"{name}() takes {counts} operand(s), not {count}")


def _function(name: str, choices: list):
    """A Python function for `name`, picking the operation as a .ad file's call does."""

    def function(*args, **params):
        op = _choose(name, choices, args)
        if op.nargs == -1:
            if op.name == "einsum":
                params["spec"], args = args[0], args[1:]
            elif len(args) and isinstance(args[0], (list, tuple)):
                args, rest = tuple(args[0]), args[1:]  # stack([a, b], 1) as well as stack(a, b)
                params.update(zip(op.param_names, rest))
        else:
            args, rest = args[:op.nargs], args[op.nargs:]
            params.update(zip(op.param_names, rest))
        return apply(op.name, *(_operand(a) for a in args), **params)

    function.__name__ = function.__qualname__ = name
    signatures = "; ".join(f"{op.signature or op.name}: {op.doc}" for op in choices)
    registry = ", ".join(op.name for op in choices)
    function.__doc__ = f"{signatures} On numbers, arrays or duals (registry: {registry})."
    return function


# The loop defines max, min, sum and abs in this module, so its own code must not call them.
_NAMES: dict[str, list] = {name: [op] for name, op in OPS.items()}
_NAMES.update(FUNCTIONS)  # the .ad names win: max is maximum or amax by arity
for _name, _choices in _NAMES.items():
    globals()[_name] = _function(_name, _choices)

__all__ = sorted(_NAMES)
