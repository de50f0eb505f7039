"""The expander's updates: `x[i] = v`, `x[a:b] += v` and JAX's `x.at[i].set(v)`, each a new value of
x equal to the old one with one part replaced (a mixin of Expander).

An update never changes the old value: it is the registry's `setitem`, whose reverse rule gives
the overwritten part no gradient and the new part's gradient to v. `x[i] += v` reads the part first
(getitem), combines it with v, and places the result (setitem), so its derivative is the chain
rule's through three ordinary operations.
"""

from __future__ import annotations

import numpy as np

from adcli.errors import NameResolutionError, ShapeError
from adcli.language.expand_static import is_integer
from adcli.language.expand_values import Literal, Marker
from adcli.language.graph import FLOAT, INT

# Operations whose result numpy holds in its operand's memory (a view): an update through one
# changes the other. A copy (x.copy()) is a getitem of `...` that is not a view.
VIEWS = ("getitem", "transpose", "reshape", "expand_dims", "squeeze")

# JAX's x.at[i].<method>(v): the operation combining the old part with v (None: v replaces it).
AT_METHODS = {"set": None, "add": "+", "subtract": "-", "multiply": "*", "mul": "*", "divide": "/",
              "power": "**", "min": "minimum", "max": "maximum"}


class Updates:
    """Expander methods for updates (see adcli.language.expand.Expander for the state they use)."""

    def do_update(self, ins, pc):
        """`name[items] = value` or `name[items] op= value`: name becomes the updated array."""
        _, name, layout, symbol, line, col, bline, bcol, oline, ocol = ins
        (value,), (vat,) = self.pop(1)
        count = sum(1 if item is None else sum(item) for item in layout)
        values, where = self.pop(count)
        base = self.updated(name, line, col)
        items, positions, arrays = self.index_items(layout, values, where, bline, bcol)
        self.push(self.update(base, items, positions, arrays, value, vat, symbol, bline, bcol, oline, ocol),
                  line, col)
        if isinstance(base, int):
            self.mark_shared(self.current_call(), name, base, line)
        return self.do_assign(("assign", name, line, col), pc)

    # ---- numpy's sharing: b = a, row = A[0], a function's parameter --------------------------
    # An update makes a new value and changes no other name, as in JAX. Where numpy's names would
    # share the updated array, numpy would change the others too: reading one of them afterwards is
    # refused, so a program written with numpy's aliasing in mind never silently gets JAX's answer.
    def memory_of(self, node: int) -> int:
        """The node whose array numpy would hold `node`'s elements in: itself, or what it views."""
        nodes = self.nodes
        while nodes[node].op in VIEWS and node not in self.copies:
            node = nodes[node].args[0]
        return node

    def bind(self, scope, name, value) -> None:
        """Note the array `name` holds in `scope` (a Call, or None for the file's names)."""
        key = (scope, name)
        old = self.held.pop(key, None)
        if old is not None:
            self.holders[old].remove(key)
        self.stale.pop(key, None)
        if isinstance(value, int):
            memory = self.memory_of(value)
            self.held[key] = memory
            self.holders.setdefault(memory, []).append(key)

    def unbind_scope(self, scope) -> None:
        """Forget a returning call's names."""
        for name in scope.env:
            self.bind(scope, name, None)

    def copy_of(self, value, line, col):
        """x.copy(), np.copy(x), np.array(x): the same values in an array of its own."""
        if not isinstance(value, int):
            return value
        node = self.add_op("getitem", [value], line, col, {"index": (Ellipsis,)})
        self.copies.add(node)
        return node

    def check_stale(self, scope, name, line, col) -> None:
        changed = self.stale.get((scope, name))
        if changed is not None:
            other, at = changed
            raise self.error(NameResolutionError, f"'{name}' and '{other}' hold one array in numpy (one was assigned "
                             f"the other, is a view of it such as a[0] or a.T, or is a function's parameter), so "
                             f"numpy's update of {other} at line {at} changes '{name}' too, where an update in adcli "
                             f"changes no other name; copy where the two came to share it (.copy()) if '{name}' "
                             f"should keep its old values, or read '{other}'", line, col)

    def mark_shared(self, scope, name, base, line) -> None:
        """After `name[...] = v` on `base`: every other name numpy would have changed is stale."""
        for key in self.holders.get(self.memory_of(base), ()):
            if key != (scope, name):
                self.stale[key] = (name, line)

    def updated(self, name, line, col):
        """The value an update of `name` starts from: a value the file (or the function) has."""
        call = self.current_call()
        scope = call.env if call else self.env
        local = scope.get(name)
        if (isinstance(local, Literal) and local.static) or \
                (call is None or local is None) and (name in self.loop_values or name in self.after_loop):
            raise self.error(NameResolutionError, f"'{name}' is a loop variable, a number: it has no parts to "
                             "update", line, col)
        if name not in scope and not (call and name in self.env):
            raise self.error(NameResolutionError, f"'{name}[…] = v' updates an array, but '{name}' has no value "
                             f"yet; make it first, as in {name} = zeros(n)", line, col)
        return self.lookup(name, line, col)

    def update(self, base, items, positions, arrays, value, vat, symbol, line, col, oline, ocol) -> int:
        """The node of `base` with base[items] replaced by value (or by `base[items] symbol value`)."""
        if arrays and self.scalar_indices(base, items, arrays):
            return self.masked_update(base, items, arrays, value, vat, symbol, line, col, oline, ocol)
        if arrays:
            raise self.error(ShapeError, "an update's subscript takes numbers, slices, None and ... known as the file "
                             "is read, not an array of indices: repeated indices would make numpy's x[idx] += v and "
                             "JAX's x.at[idx].add(v) differ; write the update with where() or one_hot()", *next(
                                 at for item, at in zip(items, positions) if isinstance(item, Marker)))
        index = tuple(items)
        base = self.operand(base)
        if self.nodes[base].dtype == INT:
            if self.kind_of(value) == FLOAT:
                raise self.error(ShapeError, "this array holds integers: an update may not place float values into "
                                 "it (numpy would truncate them); make it a float array first, as in x = x * 1.0", *vat)
            known = self.static(value)
            if known is not None:  # [8, 9] written in the file: integers here, as the array's own
                value = Literal(int(known) if np.ndim(known) == 0 else np.asarray(known, dtype=np.int64), *vat,
                                static=True)
        if symbol is not None:
            part = self.add_op("getitem", [base], line, col, {"index": index})
            self.nodes[part].extra = tuple(positions)
            value = self.combined(part, value, vat, symbol, line, col, oline, ocol)
        node = self.add_op("setitem", [base, value], line, col, {"index": index})
        self.nodes[node].extra = tuple(positions)
        return node

    def scalar_indices(self, base, items, arrays) -> bool:
        """Whether the subscript is whole numbers alone, some of them integer values (a loop's variable,
        in a loop kept as a loop), on an array whose shape is known: one element or row, never a repeat."""
        if not isinstance(base, int) or not all(isinstance(i, (int, Marker)) for i in items):
            return False
        shapes = self.node_shapes()
        shape = shapes[base]
        return shape is not None and len(items) <= len(shape) and all(shapes[a] == () for a in arrays)

    def masked_update(self, base, items, arrays, value, vat, symbol, line, col, oline, ocol) -> int:
        """x[i, j] = v (or op= v) at integer values i, j: where(position == (i, j), v, x), the position
        counted over the subscripted axes; an index is read through arange(n)[i], so a negative one
        counts from the end and one out of range is an error, as numpy's."""
        shape = self.node_shapes()[base]
        lead = shape[:len(items)]
        dynamic = iter(arrays)
        flat = None
        for axis, item in enumerate(items):
            n = lead[axis]
            if isinstance(item, Marker):  # arange(n)[i]: i from the end if negative, an error if out of range
                axis_positions = Literal(np.arange(n, dtype=np.int64), line, col, static=True)
                index = self.add_op("gather", [axis_positions, next(dynamic)], line, col, {"layout": (("array", 1),)})
            else:
                index = Literal(item % n if n else item, line, col, static=True)
            stride = int(np.prod(lead[axis + 1:], dtype=np.int64))
            term = index if stride == 1 else self.add_op("mul", [index, Literal(stride, line, col, static=True)],
                                                           line, col)
            flat = term if flat is None else self.add_op("add", [flat, term], line, col)
        count = int(np.prod(lead, dtype=np.int64))
        positions = Literal(np.arange(count, dtype=np.int64).reshape(lead + (1,) * (len(shape) - len(lead))), line,
                            col, static=True)
        mask = self.add_op("equal", [positions, flat], line, col)
        if symbol is not None:
            part = self.add_op("gather", [base] + list(arrays), line, col,
                               {"layout": tuple(("array", k + 1) if isinstance(i, Marker) else i
                                                for i, k in zip(items, self.array_numbers(items)))})
            value = self.combined(part, value, vat, symbol, line, col, oline, ocol)
        return self.add_op("where", [mask, value, base], line, col)

    def combined(self, part, value, vat, symbol, line, col, oline, ocol):
        """`part symbol value`, for x[i] op= v: an operator, or minimum and maximum (.at[i].min(v))."""
        if symbol in ("minimum", "maximum"):
            return self.add_op(symbol, [part, value], oline, ocol)
        self.push(part, line, col)
        self.push(value, *vat)
        self.do_binary(("binary", symbol, oline, ocol), 0)
        (value,), _ = self.pop(1)
        return value

    def kind_of(self, value) -> str:
        """A value's element type, placing nothing in the graph."""
        if isinstance(value, int):
            return self.nodes[value].dtype
        known = self.static(value)  # a literal, or a [1, 2] display of literals
        if known is not None:
            return INT if is_integer(known) or np.asarray(known).dtype.kind == "b" else FLOAT
        return FLOAT

    # ---- JAX's spelling: x.at[i].set(v) -------------------------------------------------------
    def at_index(self, marker, layout, values, where, line, col):
        """`x.at[i]`: the part an update method will replace."""
        if marker.value[1] is not None:
            raise self.error(ShapeError, "x.at[i] takes one subscript, then .set(v), .add(v), …", line, col)
        items, positions, arrays = self.index_items(layout, values, where, line, col)
        return Marker("at", (marker.value[0], items, positions, arrays), line, col)

    def at_method(self, marker, name, args, where, layout, line, col):
        """`x.at[i].set(v)`, `.add(v)`, `.multiply(v)`, …, and `.get()`, as JAX has them."""
        base, items, positions, arrays = marker.value
        if items is None:
            raise self.error(NameResolutionError, f"x.at needs a subscript before .{name}(): x.at[i].{name}(v)",
                             line, col)
        if any(k is not None for k in layout):
            raise self.error(NameResolutionError, f"x.at[i].{name}() takes its value by position only (adcli has "
                             "no mode= or other options here)", line, col)
        if name == "get":
            if args:
                raise self.error(NameResolutionError, "x.at[i].get() takes no value", line, col)
            if arrays:
                raise self.error(ShapeError, "x.at[i].get() takes numbers and slices; for an array of indices "
                                 "write x[idx]", line, col)
            node = self.add_op("getitem", [base], line, col, {"index": tuple(items)})
            self.nodes[node].extra = tuple(positions)
            return node
        if name not in AT_METHODS:
            raise self.error(NameResolutionError, f"x.at[i] has no method .{name}() in adcli; it has "
                             + ", ".join(f".{m}()" for m in (*AT_METHODS, "get")), line, col)
        if len(args) != 1:
            raise self.error(NameResolutionError, f"x.at[i].{name}() takes one value", line, col)
        return self.update(base, items, positions, arrays, args[0], where[0], AT_METHODS[name], marker.line,
                           marker.col, line, col)
