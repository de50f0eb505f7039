"""Values known before evaluation: literals as numpy data, `[a, b]` displays folded into one
constant, arithmetic on loop variables done while the file is read, and the whole numbers an
index, bound or axis must be (a mixin of Expander, with the integer helpers they use)."""

from __future__ import annotations

import operator

import numpy as np

from adcli.errors import NameResolutionError, NeedsSizes, ShapeError
from adcli.language.expand_values import Display, Literal
from adcli.language.graph import BOOL, CONST, FLOAT, INPUT, INT, is_count
from adcli.language.syntax_errors import abbreviate
from adcli.numbers import format_short
from adcli.operations import OPS, Mismatch, fmt_shape

# ---------------------------------------------------------------------------------------------
# Integers and whole numbers
# ---------------------------------------------------------------------------------------------


def iterations(*bounds) -> int:
    """len(range(*bounds)), for bounds too large for a range's length."""
    start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else (*bounds, 1)[:3]
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // -step)


INT64 = (-2**63, 2**63 - 1)
EXACT_FLOAT = 2**53  # from here on float64 skips whole numbers: a float this large may not be the one meant
# Integer arithmetic done while the file is read: exact on Python ints (`@` of scalars multiplies;
# `**` with a negative exponent gives a float, as in Python).
INTEGER_FOLDS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "matmul": operator.matmul,
                 "pow": operator.pow}
FOLD_WORDS = {"add": "sum", "sub": "difference", "mul": "product", "matmul": "product", "pow": "power"}
# Python's min, max and abs on whole numbers known as the file is read: exact, never a node.
INTEGER_CALLS = {"min": min, "max": max, "abs": abs, "minimum": min, "maximum": max, "absolute": abs}


def is_integer(x) -> bool:
    """Held as an integer (a Python int, or numpy integers), not as a float or a boolean."""
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "iu" or x.dtype.kind == "O" and all(type(v) is int for v in x.flat)
    return type(x) is int or isinstance(x, np.integer)


def is_whole(x) -> bool:
    if is_integer(x):
        return np.ndim(x) == 0
    return np.ndim(x) == 0 and np.isfinite(x) and float(x).is_integer()


def dtype_of(value) -> str:
    kind = np.asarray(value).dtype.kind
    return BOOL if kind == "b" else INT if kind in "iu" else FLOAT


# ---------------------------------------------------------------------------------------------
# The expander's static values
# ---------------------------------------------------------------------------------------------


class StaticValues:
    """Expander methods for values known before evaluation (see adcli.language.expand.Expander for
    the state they use)."""

    # ---- literals ---------------------------------------------------------------------------
    def literal_data(self, value: Literal, as_int: bool = False) -> np.ndarray:
        """A literal as numpy data: numbers are float64, as in numpy, but a whole number beside
        integer data (`as_int`), a loop variable and arithmetic on one stay integers (int64)."""
        v = value.value
        if type(v) is int:
            if as_int or value.static:
                return np.asarray(self.int64(v, value.line, value.col), dtype=np.int64)
            return np.asarray(float(v))  # in range: the parser refused numbers too large for float64
        data = np.asarray(v)
        if data.dtype.kind == "f" or not (as_int or data.dtype.kind in "biu"):
            data = data.astype(np.float64)
        return data

    def int64(self, value: int, line: int, col: int) -> int:
        """An exact integer that must be held in 64 bits, or an error at its place: never wrapped."""
        if not INT64[0] <= value <= INT64[1]:
            raise self.error(ShapeError, f"the integer {abbreviate(str(value))} is beyond the range of 64-bit "
                             "integers (-2**63 to 2**63 - 1)", line, col)
        return value

    def display(self, value: Display):
        """`[a, b]`: one literal array when every item is a literal, else a stack of the items."""
        items = [self.display(v) if isinstance(v, Display) else v for v in value.items]
        if all(isinstance(v, Literal) for v in items):
            arrays = [self.literal_data(v) for v in items]
            shapes = {a.shape for a in arrays}
            if len(shapes) > 1:
                other = next(a.shape for a in arrays if a.shape != arrays[0].shape)
                raise self.error(ShapeError, "array literal items must have one shape, but found "
                                 f"{fmt_shape(arrays[0].shape)} and {fmt_shape(other)}", value.line, value.col)
            dtype = np.float64 if any(a.dtype.kind == "f" for a in arrays) or not arrays else None
            return Literal(np.array(arrays, dtype=dtype), value.line, value.col,
                           static=any(v.static for v in items))
        return self.add_op("stack", items, value.line, value.col, {"axis": 0})

    def static(self, value):
        """A value known before evaluation (a literal, a constant node), or None."""
        if isinstance(value, Literal):
            return value.value
        if isinstance(value, int) and self.nodes[value].op == CONST:
            return self.nodes[value].data
        if isinstance(value, Display):
            items = [self.static(v) for v in value.items]
            if any(i is None for i in items) or len({np.shape(i) for i in items}) > 1:
                return None  # not one array: the display itself says why, where it is built
            return np.array(items)
        return None

    def whole(self, value, at, what: str) -> int:
        """A whole number known as the file is read (a literal, an integer constant such as N = 4, a
        loop variable, a size, or integer arithmetic on them), for an index, bound or axis."""
        x = self.static(value)
        if x is None:
            self.need_sizes(value, what, at)
        if x is None or not is_whole(x):
            depends = x is None and isinstance(value, int) and self.nodes[value].op != CONST
            raise self.error(NameResolutionError, f"{what} must be a whole number known as the file is read: a "
                             "number, an integer constant (N = 4), a loop variable, a size, or integer arithmetic on "
                             "them (+ - * // % **, min, max, abs)" + ("; this one depends on the inputs' values"
                                                                      if depends else ""), *at)
        if not is_integer(x) and abs(float(x)) >= EXACT_FLOAT:
            raise self.error(NameResolutionError, f"{what} is {format_short(x)}, a float: beyond 2**53 a float "
                             "may not be the whole number meant; write the integer itself (integer arithmetic known "
                             "as the file is read, + - * // % **, is exact)", *at)
        return int(x)

    def sized_by(self, value) -> list[str]:
        """The named dimensions and scalar int inputs a value is computed from, when it depends on
        nothing else (T - 1, x.shape[0] // 2, [n, 2], range(steps)): a number once the program is
        specialised to the inputs' sizes and those inputs' values."""
        items = value.items if isinstance(value, Display) else [value]
        todo = [v for v in items if isinstance(v, int)]
        if len(todo) != sum(isinstance(v, int) for v in items) or not todo or \
                any(self.static(v) is None for v in items if not isinstance(v, int)):
            return []
        names, seen = [], set()
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            node = self.nodes[i]
            if node.op == "size":
                owner = self.nodes[node.args[0]]
                declared = owner.data if owner.op == INPUT else None
                axis = (node.params or {}).get("axis")
                if declared and axis is None:  # x.size: every named dimension of x
                    names += [d for d in declared if isinstance(d, str)]
                    continue
                dim = declared[axis] if declared and axis is not None and isinstance(declared[axis], str) else None
                names.append(dim or node.label or "?")
            elif is_count(node):  # input n: int, as range(n)
                names.append(node.label)
            elif node.op != CONST and node.dtype == INT and node.op in OPS and node.op != INPUT:
                todo.extend(node.args)
            elif node.op != CONST:
                return []
        return sorted(set(names))

    def need_sizes(self, value, what, at) -> None:
        """Raise NeedsSizes when a number the file needs comes from the inputs' sizes alone."""
        dims = self.sized_by(value)
        if dims:
            ints = [d for d in dims if d in self.env and is_count(self.nodes[self.env[d]])]
            sizes = [d for d in dims if d not in ints]
            quoted = [" and ".join(f"'{d}'" for d in group) for group in (sizes, ints)]
            said = [(f"{quoted[0]} {'is a named dimension' if len(sizes) == 1 else 'are named dimensions'} whose "
                     "size comes from the inputs")] if sizes else []
            said += [f"{quoted[1]} {'is an int input' if len(ints) == 1 else 'are int inputs'}"] if ints else []
            one = dims == ints and len(ints) == 1
            raise NeedsSizes(f"{what} must be a whole number known as the file is read: {'; '.join(said)}; give "
                             f"{'its value' if one else 'their values'} (--set or --inputs) and adcli specialises "
                             f"the program to {'it' if one else 'them'}",
                             self.span(*at), dims)

    # ---- folding ----------------------------------------------------------------------------
    def exact_power(self, values, line, col) -> bool:
        """Whether `a ** b` on integers stays an integer (b ≥ 0, as in Python); a power far past 64
        bits is refused before it is computed (2 ** 10**9 would take a while to learn that)."""
        base, exponent = (v.value for v in values)
        if np.ndim(base) or np.ndim(exponent):
            return False  # arrays of integers: numpy's float power, elementwise
        if exponent < 0:
            return False
        if abs(int(base)) > 1 and exponent > 64:
            raise self.error(ShapeError, "this power is beyond the range of 64-bit integers (-2**63 to 2**63 - 1): "
                             "integer arithmetic known as the file is read is exact, never wrapped", line, col)
        return True

    def known_number(self, value):
        """A scalar whole number known as the file is read, as a Literal that folds exactly: a loop
        variable, a whole number written in the file (3, not 3.0), or a name holding one (N = 4)."""
        if isinstance(value, int):
            node = self.nodes[value]
            if node.op == CONST and node.dtype == INT and np.ndim(node.data) == 0:
                return Literal(int(node.data), node.line, node.col, node.label, static=True)
            return value
        if isinstance(value, Literal) and not value.static and type(value.value) is int:
            return Literal(value.value, value.line, value.col, value.text, static=True)
        return value

    def fold(self, name, values, line, col) -> Literal:
        """Arithmetic on loop variables, done now: the result is known before evaluation. `+ - * @`
        on integers is exact (on Python ints) and refused, not wrapped, beyond 64 bits; `/` and `**`
        give floats."""
        try:
            OPS[name].shape(*(np.shape(v.value) for v in values))
        except Mismatch as e:
            raise self.error(ShapeError, str(e), line, col) from None
        if name in INTEGER_FOLDS and all(is_integer(v.value) for v in values) and \
                (name != "pow" or self.exact_power(values, line, col)):
            xs = [v.value if type(v.value) is int else np.asarray(v.value, dtype=object) for v in values]
            scalar = not (np.ndim(xs[0]) and np.ndim(xs[1]))  # a scalar on either side of @ multiplies
            exact = operator.mul(*xs) if name == "matmul" and scalar else INTEGER_FOLDS[name](*xs)
            for item in np.ravel(np.asarray(exact, dtype=object)):
                if not INT64[0] <= item <= INT64[1]:
                    raise self.error(ShapeError, f"this {FOLD_WORDS[name]} is {abbreviate(str(item))}, beyond the "
                                     "range of 64-bit integers (-2**63 to 2**63 - 1): integer arithmetic known as "
                                     "the file is read is exact, never wrapped", line, col)
            value = int(exact) if np.ndim(exact) == 0 else np.asarray(exact, dtype=np.int64)
            return Literal(value, line, col, static=True)
        xs = [self.literal_data(v) for v in values]
        if name in ("div", "pow"):
            xs = [x.astype(np.float64) for x in xs]
        with np.errstate(all="ignore"):
            value = OPS[name].forward(*xs)
        return Literal(value, line, col, static=True)
