"""Expansion: run the parser's instructions to build the graph, unrolling loops and inlining calls.

The instructions are postfix (`name x`, `num 2`, `binary *`, `assign y`), so one loop with a value
stack builds the graph without recursion, however deep the nesting. A `for` runs its body once per
value of its range, a call runs the function's body with its parameters bound, and every node
remembers which iteration and which call made it (Graph.contexts), for traces and errors.

Values on the stack are graph nodes (their indices) or things not yet in the graph: literals,
`[a, b]` displays, `None` (a new axis), strings (einsum's spec). A loop variable is a literal that
folds: arithmetic on it is done here, so `x[t - 1]` indexes with a number known before anything is
evaluated. Shapes never depend on values.
"""

from __future__ import annotations

import numpy as np

from adcli.errors import AdError, NameResolutionError, ParseError, ShapeError, Span
from adcli.language.expand_calls import Calls
from adcli.language.expand_implicit import Implicit
from adcli.language.expand_loops import Loops
from adcli.language.expand_numpy import Numpy, Tuple
from adcli.language.expand_statements import Statements
from adcli.language.expand_static import StaticValues, dtype_of, is_integer
from adcli.language.expand_updates import Updates
from adcli.language.expand_values import Call, Display, Function, Literal, Loop, Marker
from adcli.language.graph import BOOL, CONST, FLOAT, INPUT, INT, SHAPED, Graph, Node, is_count, label_temporaries
from adcli.language.numpy_names import TYPES
from adcli.language.syntax_errors import KEYWORD_AS_NAME, KEYWORDS, nothing_assigned_message
from adcli.limits import MAX_DIMENSIONS, operation_limit
from adcli.numbers import format_number
from adcli.operations import BINARY_SYMBOLS, CONSTANTS, CONSTRUCTORS, FUNCTIONS, OPS

# Python's whole-number division and remainder (floor and sign of the divisor, as numpy's for integers).
WHOLE_DIVISION = {"//": lambda x, y: x // y, "%": lambda x, y: x % y}

# ---------------------------------------------------------------------------------------------
# The expander
# ---------------------------------------------------------------------------------------------

class Expander(Calls, Implicit, Loops, Statements, StaticValues, Numpy, Updates):
    """Runs the instructions of one file, building its graph: names, operators and subscripts here; calls,
    statements and values known before evaluation in the mixins it inherits."""

    def __init__(self, code: list[tuple], file: str, source: str, sizes: dict | None = None, unroll: bool = False):
        self.code, self.file, self.source = code, file, source
        self.unroll = unroll  # every loop unrolled (a trace lists each step), else long ones kept as loops
        self.sizes = dict(sizes or {})  # named dimension -> its size, when the program is specialised to them
        self.nodes: list[Node] = []
        self.env: dict[str, int] = {}  # the file's names -> node of their latest version
        self.versions: dict[str, int] = {}
        self.declared: list[int] = []
        self.used: list[int] = []
        self.assigned: list[tuple[str, int]] = []
        self.dims: dict[str, tuple[int, int]] = {}  # declared dimension -> (input node, axis)
        self.dim_nodes: dict[str, int] = {}
        self.functions: dict[str, Function] = {}
        self.calls: list[Call] = []
        self.loops: list[Loop] = []
        self.loop_values: dict[str, Literal] = {}
        self.after_loop: dict[str, Literal] = {}  # a finished loop's variable: its last value, until rebound
        self.frames: list[tuple] = []  # ("call", name, line, col) and ("for", var, value, line)
        self.contexts: list[tuple] = [()]
        self.context_ids: dict[tuple, int] = {}  # (the context around, frame) -> its index
        self.frame_ids: list[tuple] = []  # per level of self.frames: (that frame, its context)
        self.ctx = 0
        self.stack: list = []
        self.at: list[tuple[int, int]] = []  # where each value on the stack is written (a use, not a definition)
        self.later = {ins[1]: ins for ins in code if ins[0] == "def"}  # every def, to say "defined later"
        self.limit = operation_limit()
        # numpy's sharing of arrays between names (adcli.language.expand_updates)
        self.held: dict[tuple, int] = {}  # (scope, name) -> the node holding its array's memory
        self.holders: dict[int, list[tuple]] = {}
        self.stale: dict[tuple, tuple] = {}  # (scope, name) -> (the name updated, its line)
        self.copies: set[int] = set()
        self.solving: tuple = ()  # the functions compiled on their own around this expander, outermost first

    @property
    def plain(self) -> type:
        """The expander class itself, whatever subclass this one is (lint's goes on after errors)."""
        return Expander

    # ---- errors and positions ---------------------------------------------------------------
    def span(self, line, col) -> Span:
        return Span(line, col, self.file, self.source, self.where())

    def error(self, cls, message, line, col) -> AdError:
        return cls(message, self.span(line, col))

    def where(self) -> str:
        from adcli.language.graph import context_text
        return context_text(tuple(self.frames))

    def set_context(self) -> None:
        """The context of the current frames, as Graph.contexts holds them: (the context around, frame).
        Frames change only at the top of the stack, so only the levels that changed are looked up."""
        frames, ids = self.frames, self.frame_ids  # ids[k]: (frames[k], the context of frames[:k + 1])
        del ids[len(frames):]
        while ids and ids[-1][0] is not frames[len(ids) - 1]:
            ids.pop()
        for frame in frames[len(ids):]:
            key = (ids[-1][1] if ids else 0, frame)
            ctx = self.context_ids.get(key)
            if ctx is None:
                ctx = self.context_ids[key] = len(self.contexts)
                self.contexts.append(key)
            ids.append((frame, ctx))
        self.ctx = ids[-1][1] if ids else 0

    # ---- nodes ------------------------------------------------------------------------------
    def add(self, op, args, line, col, params=None, dtype=FLOAT, **kw) -> int:
        if len(self.nodes) >= self.limit:  # loops and calls unrolled without end (f(f(...)) 40 deep)
            raise self.error(ShapeError, f"unrolling the loops and calls makes more than {self.limit:,} "
                             "operations (the limit follows ADCLI_MAX_BYTES); this one is made here", line, col)
        self.nodes.append(Node(op, tuple(args), params, line=line, col=col, dtype=dtype, ctx=self.ctx, **kw))
        return len(self.nodes) - 1

    def add_op(self, name, values, line, col, params=None, as_int=False) -> int:
        """A node applying registry operation `name` to the values (placed in the graph first)."""
        op = OPS[name]
        ints = as_int or any(isinstance(v, int) and self.nodes[v].dtype != FLOAT for v in values)
        args = [self.operand(v, as_int=ints and op.dtype == "same") for v in values]
        kinds = [self.nodes[a].dtype for a in args]
        for k, (need, a) in enumerate(zip(op.kinds, args)):
            if need == "bool" and kinds[k] != BOOL:
                al, ac = self.nodes[a].line, self.nodes[a].col
                raise self.error(ShapeError, f"{op.func}() needs a condition such as x > 0 (a comparison) as its "
                                 "first argument, not a number", al, ac)
            if need == "int" and kinds[k] != INT:
                al, ac = self.nodes[a].line, self.nodes[a].col
                raise self.error(ShapeError, f"{op.func}() needs integer labels (an input declared int[...]), "
                                 "not float values", al, ac)
        if op.dtype == "same":  # a float made from shapes alone (zeros([n])) is a float too
            dtype = FLOAT if FLOAT in kinds or SHAPED in kinds or not kinds else INT if INT in kinds else BOOL
        else:
            dtype = {"float": FLOAT, "bool": BOOL, "int": INT, "constant": SHAPED}[op.dtype]
        return self.add(name, args, line, col, params, dtype=dtype)

    def operand(self, value, as_int: bool = False) -> int:
        """A node index for a value, placing a literal or a display in the graph first."""
        if isinstance(value, int):
            return value
        if isinstance(value, Display):
            value = self.display(value)
            if isinstance(value, int):
                return value
        if isinstance(value, Marker):
            if value.kind == "none":
                raise self.error(NameResolutionError, "None makes a new axis, and only inside a subscript: "
                                 "x[:, None]", value.line, value.col)
            if value.kind == "function":
                raise self.error(NameResolutionError, f"'{value.value.name}' is a function; call it as "
                                 f"{value.value.name}(...), or solve with it: fixed_point({value.value.name}, x0, ...)",
                                 value.line, value.col)
            if value.kind == "at":
                raise self.error(NameResolutionError, "x.at[i] is the start of an update: finish it with .set(v), "
                                 ".add(v), .multiply(v), … (or read with .get())", value.line, value.col)
            raise self.error(NameResolutionError, "adcli has no strings, except the spec of "
                             "einsum(\"ij,jk->ik\", A, B)", value.line, value.col)
        data = self.literal_data(value, as_int)
        label = (value.text or format_number(data)) if data.ndim == 0 else None
        self.nodes.append(Node(CONST, (), None, None, label, value.line, value.col, data, dtype_of(data), self.ctx))
        return len(self.nodes) - 1

    # ---- running ----------------------------------------------------------------------------
    def handlers(self) -> dict:
        """Instruction kind -> the method that runs it (`do_assign` for "assign")."""
        return {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("do_")}

    def run(self) -> Graph:
        code, pc = self.code, 0
        handlers = self.handlers()
        while pc < len(code):
            ins = code[pc]
            pc = handlers[ins[0]](ins, pc)
        if not self.assigned:
            raise ParseError(nothing_assigned_message(self.source, self.declared), Span(1, 1, self.file, self.source))
        graph = Graph(self.nodes, self.declared + self.used, self.assigned, dict(self.env), self.file, self.source,
                      self.contexts)
        label_temporaries(graph)
        return graph

    def push(self, value, line, col) -> None:
        self.stack.append(value)
        self.at.append((line, col))

    def pop(self, n: int) -> tuple[list, list]:
        """The top n values and where each is written, in order."""
        if not n:
            return [], []
        values, where = self.stack[-n:], self.at[-n:]
        del self.stack[-n:], self.at[-n:]
        return values, where

    def do_num(self, ins, pc):
        _, value, _, line, col = ins
        self.push(Literal(value, line, col), line, col)
        return pc + 1

    def do_str(self, ins, pc):
        _, value, line, col = ins
        self.push(Marker("str", value, line, col), line, col)
        return pc + 1

    def do_name(self, ins, pc):
        _, name, line, col = ins
        self.push(self.lookup(name, line, col), line, col)
        return pc + 1

    def lookup(self, name, line, col):
        """A name's value: a local, a loop variable, a file name, a constant, a dimension, or a new input."""
        if self.calls and name in self.calls[-1].env:  # a function's parameters, locals and loop variables
            self.check_stale(self.calls[-1], name, line, col)
            value = self.calls[-1].env[name]
            return Literal(value.value, line, col, value.text, static=True) if isinstance(value, Literal) and \
                value.static else value
        if self.calls and name in self.calls[-1].function.assigns:
            function = self.calls[-1].function
            raise self.error(NameResolutionError, f"'{name}' is read before {function.name}() assigns it: a name a "
                             f"function assigns (line {function.assigns[name]}) is its own throughout the function, as "
                             f"in Python; assign it first, or give the function's own value another name", line, col)
        if name in self.loop_values or name in self.after_loop:  # a loop variable, or its last value
            value = self.loop_values.get(name) or self.after_loop[name]
            return Literal(value.value, line, col, value.text, static=True)
        if name in self.env:  # a file's own e, pi or inf shadows the constant
            self.check_stale(None, name, line, col)
            if name in self.sizes and is_count(self.nodes[self.env[name]]):  # input n: int, specialised
                return Literal(self.sizes[name], line, col, name, static=True)
            return self.env[name]
        if name in CONSTANTS:
            return Literal(CONSTANTS[name], line, col, text=name)
        if name in ("True", "False"):
            return Literal(name == "True", line, col, text=name)
        if name == "None":
            return Marker("none", None, line, col)
        if name in KEYWORDS:
            raise self.error(NameResolutionError, KEYWORD_AS_NAME.replace("'input'", f"'{name}'"), line, col)
        if name in ("float", "int", "bool"):  # .astype(float), dtype=float
            return Marker("type", TYPES[name], line, col)
        if name in self.functions:  # an argument of fixed_point() or root(); anywhere else operand() refuses it
            return Marker("function", self.functions[name], line, col)
        if name in FUNCTIONS or name in CONSTRUCTORS:
            raise self.error(NameResolutionError, f"'{name}' is a function; call it as {name}(...)", line, col)
        if name in self.dims:
            if name in self.sizes:  # specialised: the size is a number known as the file is read
                return Literal(self.sizes[name], line, col, name, static=True)
            if name not in self.dim_nodes:
                node, axis = self.dims[name]
                self.dim_nodes[name] = self.add("size", (node,), line, col, {"axis": axis}, dtype=INT, label=name)
            return self.dim_nodes[name]
        if self.parent is not None:  # a loop's body: a number known around it stays one, a value is an input
            outer = self.outer_value(name, line, col)
            if outer is not None:
                return outer
        index = self.add(INPUT, (), line, col, name=name, label=name)
        self.env[name], self.versions[name] = index, 1
        self.bind(None, name, index)
        self.used.append(index)
        return index

    def do_array(self, ins, pc):
        _, n, line, col = ins
        items, _ = self.pop(n)
        depth = 1 + max((v.depth if isinstance(v, Display) else self.literal_depth(v) for v in items), default=0)
        if depth > MAX_DIMENSIONS:
            raise self.error(ShapeError, f"array literals are nested more than {MAX_DIMENSIONS} levels deep; "
                             f"arrays have at most {MAX_DIMENSIONS} dimensions", line, col)
        self.push(Display(items, line, col, depth), line, col)
        return pc + 1

    def literal_depth(self, value) -> int:
        """How many dimensions a value has at least, looking through stacks (at most 33 levels)."""
        depth = 0
        while isinstance(value, int) and self.nodes[value].op == "stack" and depth <= MAX_DIMENSIONS:
            depth, value = depth + 1, self.nodes[value].args[0]
        if isinstance(value, Literal):
            return depth + np.ndim(value.value)
        if isinstance(value, int) and self.nodes[value].op == CONST:
            return depth + np.ndim(self.nodes[value].data)
        return depth

    # ---- operators --------------------------------------------------------------------------
    def do_binary(self, ins, pc):
        _, symbol, line, col = ins
        (a, b), where = self.pop(2)
        ka, kb = self.known_number(a), self.known_number(b)
        if symbol in WHOLE_DIVISION:
            self.push(self.whole_division(symbol, ka, kb, where, line, col), line, col)
            return pc + 1
        name = BINARY_SYMBOLS[symbol]
        if isinstance(ka, Literal) and isinstance(kb, Literal) and ka.static and kb.static:
            a, b = ka, kb  # integers known as the file is read (N - 1, 2 * n): exact, and folded now
        else:  # a number beside a value keeps numpy's meaning: 2 * x multiplies by the float 2.0
            a, b = (k if isinstance(v, int) else v for v, k in ((a, ka), (b, kb)))
        if isinstance(a, Literal) and isinstance(b, Literal) and (a.static or b.static):
            self.push(self.fold(name, [a, b], line, col), line, col)
        else:
            self.push(self.add_op(name, [a, b], line, col), line, col)
        return pc + 1

    def whole_division(self, symbol, a, b, where, line, col) -> Literal:
        """`n // 2` and `t % n` on whole numbers known as the file is read (sizes, loop variables)."""
        for v, at in zip((a, b), where):
            if self.static(v) is None and not self.sized_by(v):
                raise self.error(ShapeError, f"'{symbol}' is for whole numbers known as the file is read (sizes, loop "
                                 f"variables); on values write {'floor(x / y)' if symbol == '//' else 'x - y * floor(x / y)'}",
                                 *at)
        x, y = (self.whole(v, at, f"each side of '{symbol}'") for v, at in zip((a, b), where))
        if y == 0:
            raise self.error(ShapeError, f"'{symbol}' by zero", line, col)
        return Literal(WHOLE_DIVISION[symbol](x, y), line, col, static=True)

    def do_neg(self, ins, pc):
        _, line, col = ins
        (value,), _ = self.pop(1)
        if isinstance(value, Display):
            value = self.display(value)
        if isinstance(value, int):  # -N, N an integer constant: a number known as the file is read
            value = self.known_number(value)
        if isinstance(value, Literal):  # -3 is a literal, not an operation
            text = None if value.text is None else "-" + value.text
            negated = -np.asarray(value.value)[()] if np.ndim(value.value) else -value.value
            if value.static and type(negated) is int:
                self.int64(negated, line, col)
            self.push(Literal(negated, line, col, text, value.static), line, col)
        else:
            self.push(self.add_op("neg", [value], line, col), line, col)
        return pc + 1

    def do_transpose(self, ins, pc):
        _, line, col = ins
        (value,), _ = self.pop(1)
        self.push(self.add_op("transpose", [value], line, col, {"axes": None}), line, col)
        return pc + 1

    # ---- subscripts -------------------------------------------------------------------------
    def do_index(self, ins, pc):
        _, layout, line, col = ins
        count = sum(1 if item is None else sum(item) for item in layout)
        values, where = self.pop(count)
        (base,), _ = self.pop(1)
        if isinstance(base, Marker) and base.kind == "at":  # x.at[i], then .set(v)
            self.push(self.at_index(base, layout, values, where, line, col), line, col)
            return pc + 1
        if isinstance(base, Tuple) and layout == (None,):  # x.shape[0], pair[1]: the item itself
            k = self.whole(values[0], where[0], "an index of a tuple")
            if not -len(base.items) <= k < len(base.items):
                raise self.error(ShapeError, f"index {k} is out of range for a tuple of {len(base.items)}", *where[0])
            self.push(base.items[k], line, col)
            return pc + 1
        items, positions, arrays = self.index_items(layout, values, where, line, col)
        if arrays:
            layout = tuple(("array", k + 1) if isinstance(i, Marker) else i for i, k in
                           zip(items, self.array_numbers(items)))
            node = self.add_op("gather", [base] + arrays, line, col, {"layout": layout})
        else:
            node = self.add_op("getitem", [base], line, col, {"index": tuple(items)})
        self.nodes[node].extra = tuple(positions)
        self.push(node, line, col)
        return pc + 1

    def index_items(self, layout, values, where, line, col):
        """A subscript's items (ints, slices, None, ..., markers of index arrays), where each is
        written, and the index arrays' nodes."""
        items, positions, arrays = [], [], []
        it = iter(zip(values, where))
        for item in layout:
            if item is None:
                value, at = next(it)
                positions.append(at)
                items.append(self.subscript(value, arrays, at))
                if items[-1] is Ellipsis and items.count(Ellipsis) > 1:
                    raise self.error(ShapeError, "a subscript can hold only one ...", *at)
            else:
                parts = [self.whole(*next(it), "a slice bound") if given else None for given in item]
                if parts[2] == 0:
                    raise self.error(ShapeError, "a slice step cannot be 0", line, col)
                positions.append((line, col))
                items.append(slice(*parts))
        return items, positions, arrays

    @staticmethod
    def array_numbers(items):
        k = 0
        for item in items:
            yield k
            if isinstance(item, Marker):
                k += 1

    def do_ellipsis(self, ins, pc):
        _, line, col = ins
        self.push(Marker("ellipsis", None, line, col), line, col)
        return pc + 1

    def subscript(self, value, arrays: list, at):
        """One item of a subscript: an int, None (a new axis), ... (every axis not named), or an
        integer array (a gather)."""
        if isinstance(value, Marker) and value.kind in ("none", "ellipsis"):
            return None if value.kind == "none" else Ellipsis
        x = self.static(value)
        if x is not None and np.ndim(x) == 0:
            return self.whole(value, at, "an index")
        already = isinstance(value, int) and np.asarray(x).dtype == np.int64  # idx = arange(2), then x[idx]
        if x is not None and np.ndim(x) == 1 and not already and (is_integer(x) or np.asarray(x).dtype.kind == "b"):
            # x[[0, 2]] and a mask written in the file, x[[True, False, True]]: indices known as the file is read
            picked = np.flatnonzero(x) if np.asarray(x).dtype.kind == "b" else np.asarray(x, dtype=np.int64)
            value = self.operand(Literal(picked.astype(np.int64), *at), as_int=True)
        if isinstance(value, Display):
            value = self.display(value)
        if isinstance(value, Literal):
            value = self.operand(value, as_int=True)
        if isinstance(value, int):
            kind = self.nodes[value].dtype
            if kind == INT:
                arrays.append(value)
                return Marker("array", None, 0, 0)
            line, col = at
            if kind == BOOL:
                raise self.error(ShapeError, "a boolean mask cannot index: its result's shape would depend on "
                                 "values; use where(cond, x, 0) instead", line, col)
            raise self.error(ShapeError, "an index must be a whole number known as the file is read (an "
                             "integer constant, a loop variable, integer arithmetic on them), or integer data (declare "
                             "the input as int[...])", line, col)
        raise self.error(ShapeError, "this cannot be an index", *at)


def expand(code: list[tuple], file: str, source: str, sizes: dict | None = None, unroll: bool = False) -> Graph:
    """The graph the instructions describe (with `sizes`, specialised to those dimensions' sizes;
    with `unroll`, every loop unrolled)."""
    return Expander(code, file, source, sizes, unroll).run()
