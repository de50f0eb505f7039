"""numpy as people write it (a mixin of Expander): `np.` names, methods and attributes, tuples and
their unpacking, `+=`, and `a if c else b`, each turned into the operations the language has."""

from __future__ import annotations

import numpy as np

from adcli.errors import NameResolutionError, ShapeError
from adcli.language.expand_static import is_whole
from adcli.language.expand_values import Display, Literal, Marker
from adcli.language.graph import BOOL, CONST, INPUT, INT
from adcli.language.numpy_names import ATTRIBUTE_HELP, CONSTANTS, METHOD_HELP, METHODS, resolve, unknown_name_message
from adcli.operations import BINARY_SYMBOLS, OPS, Mismatch

STAND_IN = 7919  # a named dimension in a shape worked out here: a large number no shape rule settles


class Tuple(Display):
    """`(a, b)`: a display that unpacks (`m, s = x.mean(), x.std()`) and indexes (`x.shape[0]`) item by item."""

    __slots__ = ()


class Numpy:
    """Expander methods for numpy's spellings (see adcli.language.expand.Expander for the state they use)."""

    # ---- modules, constants and types -------------------------------------------------------
    def do_module(self, ins, pc):
        _, path, line, col = ins
        kind, what = resolve(path)
        if kind == "constant":
            value = Marker("none", None, line, col) if what == "newaxis" else \
                Literal(CONSTANTS[what], line, col, text=what)
        elif kind == "type":
            value = Marker("type", what, line, col)
        elif kind == "module":
            raise self.error(NameResolutionError, f"'{path}' is a module: use one of its functions, as in "
                             f"{path}.{'norm' if path.endswith('linalg') else 'exp'}(x)", line, col)
        elif kind == "function":
            raise self.error(NameResolutionError, f"'{path}' is a function; call it as {path}(...)", line, col)
        else:
            raise self.error(NameResolutionError, unknown_name_message(path), line, col)
        self.push(value, line, col)
        return pc + 1

    # ---- tuples -----------------------------------------------------------------------------
    def do_tuple(self, ins, pc):
        _, n, line, col = ins
        items, _ = self.pop(n)
        depth = 1 + max((v.depth if isinstance(v, Display) else self.literal_depth(v) for v in items), default=0)
        self.push(Tuple(items, line, col, depth), line, col)
        return pc + 1

    def items_of(self, value, count, line, col) -> list:
        """The values `a, b = value` binds: a tuple's items, or an array's rows (its first axis)."""
        if isinstance(value, Display):
            items = value.items
        elif isinstance(value, Literal) and np.ndim(value.value):
            items = [Literal(v, line, col, static=value.static) for v in value.value]
        else:
            if isinstance(value, Literal):
                value = self.operand(value)
            shape = self.shape_of(value)
            if shape and shape[0] >= STAND_IN:
                self.need_sizes(self.add("size", (value,), line, col, {"axis": 0}, dtype=INT), "the number of "
                                "names on the left of '='", (line, col))
            if shape is None or not shape or shape[0] >= STAND_IN:
                what = "a number" if shape == () else "an array whose first axis is not a number written in the file"
                raise self.error(ShapeError, f"{count} names cannot be unpacked from {what}", line, col)
            items = [self.add_op("getitem", [value], line, col, {"index": (k,)}) for k in range(shape[0])]
        if len(items) != count:
            raise self.error(ShapeError, f"{count} names on the left of '=', but {len(items)} value"
                             f"{'s' * (len(items) != 1)} on the right", line, col)
        return items

    def do_unpack(self, ins, pc):
        _, names, positions, line, col = ins
        (value,), _ = self.pop(1)
        for name, (nl, nc), item in zip(names, positions, self.items_of(value, len(names), line, col)):
            self.push(item, nl, nc)
            self.do_assign(("assign", name, nl, nc), pc)
        return pc + 1

    # ---- h += x, and a if c else b ----------------------------------------------------------
    def do_augment(self, ins, pc):
        _, name, symbol, line, col, opline, opcol = ins
        (value,), (at,) = self.pop(1)
        self.push(self.lookup(name, line, col), line, col)
        self.push(value, *at)
        self.do_binary(("binary", symbol, opline, opcol), pc)
        return self.do_assign(("assign", name, line, col), pc)

    def do_choose(self, ins, pc):
        _, line, col = ins
        (then, cond, other), where = self.pop(3)
        known = self.static(cond)
        if known is not None and np.ndim(known) == 0:
            chosen, at = (then, where[0]) if bool(known) else (other, where[2])
            self.push(chosen, *at)
            return pc + 1
        if not isinstance(cond, int) or self.nodes[cond].dtype != BOOL:
            raise self.error(ShapeError, "the condition of 'a if c else b' must be a comparison such as x > 0",
                             *where[1])
        self.push(self.add_op("where", [cond, then, other], line, col), line, col)
        return pc + 1

    # ---- attributes and methods -------------------------------------------------------------
    def do_attr(self, ins, pc):
        _, name, line, col = ins
        (value,), _ = self.pop(1)
        if isinstance(value, Tuple):
            value = self.display(Display(value.items, value.line, value.col, value.depth))
        if name == "at":  # JAX's x.at[i].set(v)
            result = Marker("at", (value, None, None, None), line, col)
        elif name == "T":
            result = self.add_op("transpose", [value], line, col, {"axes": None})
        elif name in ("real", "conj"):
            result = value
        elif name == "shape":
            result = self.shape_tuple(value, line, col)
        elif name == "ndim":
            result = Literal(len(self.known_shape(value, line, col, ".ndim")), line, col, static=True)
        elif name == "size":
            shape = self.known_shape(value, line, col, ".size")
            if all(d < STAND_IN for d in shape):
                result = Literal(int(np.prod(shape, dtype=np.int64)), line, col, static=True)
            elif len(shape) == 1:  # a vector's size is its dimension: eye(mu.size) reads it
                node = self.operand(value)
                result = self.add("size", (node,), line, col, {"axis": 0}, dtype=INT, label=self.dim_label(node, 0))
            else:
                result = self.add("size", (self.operand(value),), line, col, {"axis": None}, dtype=INT)
        elif name in METHODS:
            raise self.error(NameResolutionError, f"'.{name}' is a method: call it, as in x.{name}()", line, col)
        else:
            raise self.error(NameResolutionError, ATTRIBUTE_HELP.get(name, f"arrays have no attribute '{name}': "
                             "adcli knows .T, .shape, .ndim and .size"), line, col)
        self.push(result, line, col)
        return pc + 1

    def do_method(self, ins, pc):
        _, name, layout, positions, line, col = ins
        args, where = self.pop(len(layout))
        (receiver,), (at,) = self.pop(1)
        if isinstance(receiver, Marker) and receiver.kind == "at":
            self.push(self.at_method(receiver, name, args, where, layout, line, col), line, col)
            return pc + 1
        if name in ("astype", "copy", "conj"):
            for value, (vl, vc) in zip(args, where):
                if isinstance(value, Marker) and value.kind == "type" and value.value != "float":
                    raise self.error(ShapeError, f"adcli computes in float64: .astype({value.value}) would change "
                                     "the values' type, which differentiation cannot follow", vl, vc)
            # numpy's x.copy() and x.astype(float) are arrays of their own: an update of one changes no other name
            self.push(self.copy_of(receiver, line, col) if name != "conj" else receiver, *at)
            return pc + 1
        if name in ("flatten", "ravel"):
            flat = self.add_op("reshape", [receiver], line, col, {"shape": (-1,)})
            if name == "flatten":  # numpy's flatten copies, where ravel gives a view
                self.copies.add(flat)
            self.push(flat, line, col)
            return pc + 1
        if name in ("reshape", "transpose") and len(args) > 1 and all(k is None for k in layout):
            args, where = [Tuple(args, line, col, 1)], [where[0]]  # x.reshape(3, 4): the sizes one by one
            layout, positions = (None,), (None,)
        if name not in METHODS:
            raise self.error(NameResolutionError, METHOD_HELP.get(name, f"arrays have no method '{name}' in adcli; "
                             "its methods are " + ", ".join(f".{m}()" for m in sorted(METHODS))), line, col)
        self.push(receiver, *at)
        for value, position in zip(args, where):
            self.push(value, *position)
        return self.do_call(("call", METHODS[name], (None,) + tuple(layout), (None,) + tuple(positions), line, col),
                            pc)

    # ---- shapes -----------------------------------------------------------------------------
    def shape_tuple(self, value, line, col) -> Tuple:
        """x.shape: each size a number when the file fixes it, else a node reading it (size(x, k))."""
        node = self.operand(value)
        shape = self.known_shape(node, line, col, ".shape")
        items = [Literal(int(d), line, col, static=True) if d < STAND_IN else
                 self.add("size", (node,), line, col, {"axis": k}, dtype=INT, label=self.dim_label(node, k))
                 for k, d in enumerate(shape)]
        return Tuple(items, line, col, 1)

    def dim_label(self, node, axis) -> str | None:
        """The declared name of an input's axis (n in `input x: [n, 3]`), shown in traces."""
        declared = self.nodes[node].data if self.nodes[node].op == INPUT else None
        return declared[axis] if declared and isinstance(declared[axis], str) else None

    def known_shape(self, value, line, col, what) -> tuple:
        """A value's shape, named dimensions as stand-ins (>= STAND_IN); an error if not even its rank is known."""
        if isinstance(value, Literal):
            return tuple(np.shape(value.value))
        shape = self.shape_of(self.operand(value))
        if shape is None:
            raise self.error(ShapeError, f"{what} needs this value's shape, which depends on an input whose shape "
                             "is not declared: declare it, as in input x: [n, 3]", line, col)
        return shape

    def shape_of(self, index: int) -> tuple | None:
        """A node's shape worked out from the declarations alone, for the nodes made so far (None if unknown)."""
        cache = self.__dict__.setdefault("shape_cache", [])
        stand_in = self.__dict__.setdefault("stand_ins", {})
        for node in self.nodes[len(cache):index + 1]:
            if node.op == CONST:
                cache.append(tuple(np.shape(node.data)))
            elif node.op == INPUT:
                declared = node.data
                cache.append(None if declared is None else tuple(
                    d if isinstance(d, int) else self.sizes[d] if d in self.sizes else
                    stand_in.setdefault(d, STAND_IN + len(stand_in)) for d in declared))
            else:
                args = [cache[a] for a in node.args]
                try:
                    cache.append(None if None in args else tuple(OPS[node.op].shape(*args, **(node.params or {}))))
                except (Mismatch, ValueError, TypeError):
                    cache.append(None)
        return cache[index]

    # ---- numpy's functions that are not operations of their own ------------------------------
    def numpy_call(self, name, args, where, layout, line, col):
        """np.zeros_like(x), np.full(shape, v), np.linspace(a, b, n), np.asarray(x): a value built from
        the language's operations, or None when `name` is an ordinary function."""
        positional = [v for v, k in zip(args, layout) if k is None]
        keywords = {k: v for v, k in zip(args, layout) if k is not None}
        for k, v in keywords.items():
            if k == "dtype" and not (isinstance(v, Marker) and v.kind == "type" and v.value == "float"):
                raise self.error(ShapeError, "adcli computes in float64: dtype= may only be float", line, col)
        if name.startswith("stats."):
            return self.normal(name, positional, keywords, line, col)
        if name == "len":  # Python's len(): the size of the first axis
            if len(positional) != 1 or keywords:
                raise self.error(NameResolutionError, "len() takes one array", line, col)
            shape = self.known_shape(positional[0], line, col, "len()")
            if not shape:
                raise self.error(ShapeError, "len() of a number: it has no first axis", line, col)
            if shape[0] < STAND_IN:
                return Literal(int(shape[0]), line, col, static=True)
            node = self.operand(positional[0])
            return self.add("size", (node,), line, col, {"axis": 0}, dtype=INT, label=self.dim_label(node, 0))
        if name in ("asarray", "array", "copy"):  # np.asarray shares x's array; np.array and np.copy copy it
            if len(positional) != 1:
                return None
            return positional[0] if name == "asarray" else self.copy_of(positional[0], line, col)
        if name in ("zeros_like", "ones_like", "full_like"):
            if len(positional) != (2 if name == "full_like" else 1):
                raise self.error(NameResolutionError, f"{name}() takes {'x and a value' if name == 'full_like' else 'x'}",
                                 line, col)
            base = self.operand(positional[0])
            shape = self.known_shape(base, line, col, f"{name}()")
            sizes = Display([Literal(int(d), line, col) if d < STAND_IN else
                             self.add("size", (base,), line, col, {"axis": k}, dtype=INT,
                                      label=self.dim_label(base, k)) for k, d in enumerate(shape)], line, col, 1)
            if name == "full_like":
                return self.full(sizes, positional[1], line, col)
            return self.construct("zeros" if name == "zeros_like" else "ones", [sizes], [(line, col)], (None,), line, col)
        if name == "full":
            if len(positional) != 2:
                raise self.error(NameResolutionError, "full() takes a shape and a value: full([2, 3], 0.5)", line, col)
            return self.full(positional[0], positional[1], line, col)
        if name in ("take_along_axis", "matrix_power", "slogdet", "meshgrid", "polyval"):
            return getattr(self, name)(positional, keywords, line, col)
        if name == "linspace":
            values = [self.static(v) for v in positional]
            if len(values) != 3 or any(v is None or np.ndim(v) for v in values) or not is_whole(values[2]):
                raise self.error(NameResolutionError, "linspace(start, stop, num) takes numbers written in the file",
                                 line, col)
            return Literal(np.linspace(float(values[0]), float(values[1]), int(values[2])), line, col)
        return None

    def full(self, sizes, value, line, col):
        """An array of one value: a constant when the value is known, else the value broadcast."""
        ones = self.construct("ones", [sizes], [(line, col)], (None,), line, col)
        known = self.static(value)
        if known is not None and np.ndim(known) == 0 and isinstance(ones, Literal):
            return Literal(np.full(np.shape(ones.value), float(known)), line, col)
        return self.add_op("mul", [value, ones], line, col)

    def operator_call(self, name, args, where, layout, line, col):
        """np.add(a, b), np.power(x, 2), np.greater(a, b): the operator itself."""
        symbol = next(s for s, op in BINARY_SYMBOLS.items() if op == name)
        if len(args) != 2 or any(k is not None for k in layout):
            raise self.error(NameResolutionError, f"this function takes two arrays, as a {symbol} b does", line, col)
        self.push(args[0], *where[0])
        self.push(args[1], *where[1])
        self.do_binary(("binary", symbol, line, col), 0)
        (result,), _ = self.pop(1)
        return result

    # ---- numpy functions built from several operations ----------------------------------------
    def take_along_axis(self, positional, keywords, line, col):
        """np.take_along_axis(x, idx, axis): a gather whose other axes are aranges (as numpy defines it)."""
        if len(positional) + len(keywords) != 3:
            raise self.error(NameResolutionError, "take_along_axis() takes x, indices and axis", line, col)
        x, idx = (self.operand(v) for v in positional[:2])
        axis_value = positional[2] if len(positional) == 3 else keywords.get("axis")
        shape = self.known_shape(x, line, col, "take_along_axis()")
        axis = self.whole(axis_value, (line, col), "the axis of take_along_axis()") % max(len(shape), 1)
        if self.nodes[idx].dtype != INT:
            raise self.error(ShapeError, "take_along_axis() needs integer indices (an input declared int[...])",
                             line, col)
        arrays = []
        for j, size in enumerate(shape):
            if j == axis:
                arrays.append(idx)
                continue
            if size >= STAND_IN:
                self.need_sizes(self.add("size", (x,), line, col, {"axis": j}, dtype=INT), "take_along_axis()",
                                (line, col))
            spread = [1] * len(shape)
            spread[j] = size
            arrays.append(self.operand(Literal(np.arange(size, dtype=np.int64).reshape(spread), line, col),
                                       as_int=True))
        layout = tuple(("array", k + 1) for k in range(len(arrays)))
        return self.add_op("gather", [x] + arrays, line, col, {"layout": layout})

    def matrix_power(self, positional, keywords, line, col):
        """np.linalg.matrix_power(A, k): k written in the file; products by repeated squaring, inv for k < 0."""
        if len(positional) != 2:
            raise self.error(NameResolutionError, "matrix_power() takes a matrix and a whole number", line, col)
        a = self.operand(positional[0])
        k = self.whole(positional[1], (line, col), "the power of matrix_power()")
        shape = self.known_shape(a, line, col, "matrix_power()")
        if k < 0:
            a, k = self.add_op("inv", [a], line, col), -k
        if k == 0:
            if len(shape) != 2 or shape[0] >= STAND_IN:
                raise self.error(ShapeError, "matrix_power(A, 0) needs A's size written in the file", line, col)
            return Literal(np.eye(shape[0]), line, col)
        result, square = None, a
        while k:
            if k & 1:
                result = square if result is None else self.add_op("matmul", [result, square], line, col)
            k >>= 1
            if k:
                square = self.add_op("matmul", [square, square], line, col)
        return result

    def slogdet(self, positional, keywords, line, col):
        """np.linalg.slogdet(A): (sign, log|det A|), the sign without a derivative."""
        if len(positional) != 1:
            raise self.error(NameResolutionError, "slogdet() takes one matrix", line, col)
        a = self.operand(positional[0])
        sign = self.add_op("sign", [self.add_op("det", [a], line, col)], line, col)
        return Tuple([sign, self.add_op("logdet", [a], line, col)], line, col, 1)

    def meshgrid(self, positional, keywords, line, col):
        """np.meshgrid(a, b, indexing="xy"): each vector spread over the grid of all of them."""
        indexing = keywords.get("indexing")
        ij = isinstance(indexing, Marker) and indexing.kind == "str" and indexing.value == "ij"
        vectors = [self.operand(v) for v in positional]
        sizes = [self.known_shape(v, line, col, "meshgrid()") for v in vectors]
        if any(len(s) != 1 or s[0] >= STAND_IN for s in sizes):
            raise self.error(ShapeError, "meshgrid() takes vectors whose sizes are written in the file", line, col)
        grid = [s[0] for s in sizes]
        if not ij and len(grid) >= 2:
            grid[0], grid[1] = grid[1], grid[0]
        items = []
        for k, v in enumerate(vectors):
            axis = (1 if k == 0 else 0 if k == 1 else k) if not ij and len(vectors) >= 2 else k
            spread = [1] * len(vectors)
            spread[axis] = sizes[k][0]
            shaped = self.add_op("reshape", [v], line, col, {"shape": tuple(spread)})
            items.append(self.add_op("broadcast_to", [shaped], line, col, {"shape": tuple(grid)}))
        return Tuple(items, line, col, 1)

    def normal(self, name, positional, keywords, line, col):
        """scipy.special.ndtr and scipy.stats.norm's cdf, sf, pdf and logpdf with loc= and scale=:
        Φ(z) = erfc(-z/√2)/2, exact in the lower tail where 1 - erfc would cancel."""
        names = ("x", "loc", "scale")
        given = dict(zip(names, positional)) | keywords
        if not 1 <= len(positional) <= 3 or set(given) - set(names) or "x" not in given or \
                (name == "stats.ndtr" and len(given) != 1):
            raise self.error(NameResolutionError, f"{name.replace('stats.', '')}() takes x, and optionally loc and "
                             "scale", line, col)

        def op(kind, *args, params=None):
            return self.add_op(kind, list(args), line, col, params)
        z = given["x"]
        if "loc" in given:
            z = op("sub", z, given["loc"])
        if "scale" in given:
            z = op("div", z, given["scale"])
        half = Literal(0.5, line, col)
        if name in ("stats.ndtr", "stats.norm.cdf", "stats.norm.sf"):
            t = op("mul", z, Literal(-np.sqrt(0.5) if name != "stats.norm.sf" else np.sqrt(0.5), line, col))
            return op("mul", half, op("erfc", t))
        log_density = op("sub", op("mul", Literal(-0.5, line, col), op("mul", z, z)),
                         Literal(0.5 * np.log(2 * np.pi), line, col))
        if "scale" in given:
            log_density = op("sub", log_density, op("log", given["scale"]))
        return log_density if name == "stats.norm.logpdf" else op("exp", log_density)

    def polyval(self, positional, keywords, line, col):
        """np.polyval(p, x): Horner's rule, y = y·x + p[i] from the highest power, as numpy computes it."""
        if len(positional) != 2 or keywords:
            raise self.error(NameResolutionError, "polyval() takes the coefficients and x", line, col)
        p, x = (self.operand(v) for v in positional)
        shape = self.known_shape(p, line, col, "polyval()")
        if len(shape) != 1:
            raise self.error(ShapeError, "polyval() takes a vector of coefficients", line, col)
        if shape[0] >= STAND_IN:
            self.need_sizes(self.add("size", (p,), line, col, {"axis": 0}, dtype=INT), "polyval()'s degree", (line, col))
        y = self.add_op("mul", [Literal(0.0, line, col), x], line, col)  # numpy's: zeros_like(x), then Horner
        for i in range(shape[0]):
            coefficient = self.add_op("getitem", [p], line, col, {"index": (i,)})
            y = self.add_op("add", [self.add_op("mul", [y, x], line, col), coefficient], line, col)
        return y

