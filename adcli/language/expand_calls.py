"""The expander's calls: a registry function or constructor with its static parameters chosen
and checked, and a user function's body run with its parameters bound (a mixin of Expander)."""

from __future__ import annotations

import numpy as np

from adcli.errors import NameResolutionError, ShapeError
from adcli.language.expand_implicit import IMPLICIT
from adcli.language.expand_static import INTEGER_CALLS, is_whole
from adcli.language.expand_values import Call, Display, Function, Literal, Marker
from adcli.language.graph import INT, SHAPED
from adcli.language.numpy_names import BUILT, REDUCTIONS, resolve, unknown_name_message
from adcli.language.syntax_errors import KEYWORDS, arity_message, unknown_function_message
from adcli.limits import MAX_DIMENSIONS
from adcli.operations import BINARY_SYMBOLS, CONSTRUCTORS, FUNCTIONS, OPS


class Calls:
    """Expander methods for calls (see adcli.language.expand.Expander for the state they use)."""

    # ---- calls ------------------------------------------------------------------------------
    def do_call(self, ins, pc):
        _, name, layout, kw_positions, line, col = ins
        args, where = self.pop(len(layout))
        candidates = None
        if "." in name:  # np.exp, scipy.special.gammaln, x.sum(): numpy's spelling of a function the language has
            spelled, (kind, name) = name, resolve(name)
            if kind != "function":
                raise self.error(NameResolutionError, unknown_name_message(spelled) if kind == "unknown" else
                                 f"'{spelled}' is not a function", line, col)
            if name in REDUCTIONS:
                candidates = [OPS[REDUCTIONS[name]]]
            elif name in BINARY_SYMBOLS.values():
                self.push(self.operator_call(name, args, where, layout, line, col), line, col)
                return pc + 1
        elif name in self.functions and self.functions[name].rule is not None and \
                self.functions[name].rule not in self.solving:  # kept whole, with its rule
            # (inside its own rule, f is the plain function its rule differentiates: inlined)
            self.check_call(self.functions[name], args, layout, kw_positions, line, col)
            self.push(self.rule_call(self.functions[name], args, line, col), line, col)
            return pc + 1
        elif name in self.functions:
            return self.call_function(self.functions[name], args, layout, kw_positions, line, col, pc)
        elif name in IMPLICIT:
            self.push(self.implicit_call(name, args, where, layout, line, col), line, col)
            return pc + 1
        folded = self.integer_call(name, args, where, layout, line, col)
        if folded is not None:
            self.push(folded, line, col)
            return pc + 1
        built = self.numpy_call(name, args, where, layout, line, col) if name in BUILT else None
        if built is not None:
            self.push(built, line, col)
        elif name in CONSTRUCTORS:
            self.push(self.construct(name, args, where, layout, line, col), line, col)
        elif name in FUNCTIONS:
            self.push(self.call_op(name, args, where, layout, kw_positions, line, col, candidates), line, col)
        elif name in self.later:
            later = self.later[name]
            raise self.error(NameResolutionError, f"function '{name}' is used before its definition at line "
                             f"{later[-2]}; define functions before they are used", line, col)
        elif name == "range":
            raise self.error(NameResolutionError, "range() gives the values of a loop: for t in range(3):",
                             line, col)
        else:
            raise self.error(NameResolutionError, unknown_function_message(name, list(self.functions)), line, col)
        return pc + 1

    def integer_call(self, name, args, where, layout, line, col):
        """min, max and abs of whole numbers known as the file is read (max(N - 1, 0)), and int() of a
        number known so (int(N / 2) truncates, as Python's): exact, a Literal rather than a node."""
        if name not in INTEGER_CALLS and name != "int" or any(layout) or not args:
            return None
        known = [self.known_number(v) for v in args]
        if name == "int":
            x = self.static(known[0]) if len(known) == 1 else None
            if x is None or np.ndim(x) or not np.isfinite(float(x)):
                raise self.error(NameResolutionError, "int() takes one number known as the file is read (int(N / 2)); "
                                 "on values write trunc(x) or floor(x)", line, col)
            return Literal(self.int64(int(x), line, col), line, col, static=True)
        if not all(isinstance(v, Literal) and v.static and type(v.value) is int for v in known):
            return None  # on values: the registry's elementwise maximum, or a reduction
        if (len(known) != 1) if name in ("abs", "absolute") else len(known) < 2:
            return None  # abs of one number; min and max of several (min(x) of one array is a reduction)
        return Literal(self.int64(INTEGER_CALLS[name](*(v.value for v in known)), line, col), line, col, static=True)

    def construct(self, name, args, where, layout, line, col):
        """zeros([2, 3]), eye(3), arange(4): a constant array of sizes written in the file; with a
        declared dimension's name among the sizes (eye(n)), a node that reads that dimension."""
        maker = CONSTRUCTORS[name]
        for value, at, keyword in zip(args, where, layout):  # numpy's dtype=float: adcli's only float type
            if keyword == "dtype" and not (isinstance(value, Marker) and value.kind == "type" and value.value == "float"):
                raise self.error(NameResolutionError, "adcli computes in float64: dtype= may only be float", *at)
        args, where = zip(*[(v, at) for v, at, k in zip(args, where, layout) if k != "dtype"]) if args else ((), ())
        layout = tuple(k for k in layout if k != "dtype")
        if name == "arange" and 2 <= len(args) <= 3 and not any(layout):  # arange(start, stop[, step])
            bounds = [self.whole(v, at, "a bound of arange()") for v, at in zip(args, where)]
            if len(bounds) == 3 and bounds[2] == 0:
                raise self.error(ShapeError, "arange() step cannot be 0", *where[2])
            return Literal(np.arange(*bounds), line, col)
        if len(args) != 1 or layout[0] is not None:
            raise self.error(NameResolutionError, f"{maker.signature} takes one argument", line, col)
        (value,), (at,) = args, where
        if maker.sizes != "count" and not isinstance(value, Display) and \
                (self.dimension(value) or (self.static(value) is not None and np.ndim(self.static(value)) == 0)):
            value = Display([value], value.line if isinstance(value, Literal) else line,
                            value.col if isinstance(value, Literal) else col, 1)  # numpy's zeros(3): one size
        sized = self.sized_by_dimensions(value, maker.sizes == "count")
        if sized is not None:
            owners, shape = sized
            return self.add("filled", owners, line, col, {"kind": name, "shape": shape},
                            dtype=INT if name == "arange" else SHAPED)
        if maker.sizes == "count":
            size = self.whole(value, at, f"the size in {name}()")
            sizes = (size,)
        else:
            x = self.static(value)
            if x is None:
                self.need_sizes(value, f"the shape in {name}()", at)
            if x is None or np.ndim(x) > 1 or not all(is_whole(d) for d in np.ravel(x)):
                raise self.error(NameResolutionError, f"the shape in {name}() must be a list of whole numbers "
                                 "such as [2, 3]", *at)
            sizes = (tuple(int(d) for d in np.ravel(x)),)
        flat = sizes[0] if isinstance(sizes[0], tuple) else sizes
        if any(d < 0 for d in flat):
            raise self.error(ShapeError, f"{name}() cannot make a negative size", line, col)
        from adcli.limits import check_size
        check_size(flat if name != "eye" else (flat[0], flat[0]), lambda m: self.error(ShapeError, m, line, col))
        return Literal(maker.build(*sizes), line, col)

    def sized_by_dimensions(self, value, count: bool):
        """(input nodes, shape spec) when some size is a dimension (n, or size(x, 0)); else None."""
        items = [value] if count else value.items if isinstance(value, Display) else None
        if items is None or not any(self.dimension(v) for v in items):
            return None
        owners, shape = [], []
        for v in items:
            if self.dimension(v):
                node = self.nodes[v]
                owner = node.args[0]
                if owner not in owners:
                    owners.append(owner)
                shape.append(("dim", owners.index(owner), node.params["axis"], node.label or ""))
            else:
                x = self.static(v)
                if x is None:
                    self.need_sizes(v, "a size", (v.line, v.col) if not isinstance(v, int) else
                                    (self.nodes[v].line, self.nodes[v].col))
                if x is None or not is_whole(x) or x < 0:
                    vl, vc = (v.line, v.col) if not isinstance(v, int) else (self.nodes[v].line, self.nodes[v].col)
                    raise self.error(NameResolutionError, "a size must be a whole number or a declared dimension's "
                                     "name", vl, vc)
                shape.append(int(x))
        return owners, tuple(shape)

    def dimension(self, value) -> bool:
        """Whether a value reads one axis of an input's shape: a dimension's name, or size(x, k)."""
        return isinstance(value, int) and self.nodes[value].op == "size" and \
            (self.nodes[value].params or {}).get("axis") is not None

    def call_op(self, name, args, where, layout, kw_positions, line, col, candidates=None) -> int:
        """A registry function: operands from the positional arguments, parameters from the rest."""
        candidates = candidates or FUNCTIONS[name]
        positional = [(v, at) for v, at, k in zip(args, where, layout) if k is None]
        keywords = {k: (v, at) for v, at, k in zip(args, where, layout) if k is not None}
        named_at = {k: pos for k, pos in zip(layout, kw_positions) if k is not None}
        op = self.choose(name, candidates, [v for v, _ in positional], keywords, named_at, line, col)
        params = dict(op.params)
        if op.variadic:
            if op.name == "einsum":
                spec, at = positional.pop(0)
                if not (isinstance(spec, Marker) and spec.kind == "str"):
                    raise self.error(NameResolutionError, "einsum() takes its spec first, as a string: "
                                     "einsum(\"ij,jk->ik\", A, B)", *at)
                params["spec"] = "".join(spec.value.split())  # "ij, jk -> ik": one spelling for every rule
                operands, extras = [v for v, _ in positional], []
            else:
                first, at = positional[0]
                if not isinstance(first, Display):
                    raise self.error(NameResolutionError, f"{name}() takes a list of arrays: {name}([a, b], ...)", *at)
                operands, extras = first.items, positional[1:]
        else:
            operands, extras = [v for v, _ in positional[:op.nargs]], positional[op.nargs:]
        names = [p for p in op.param_names if p != "spec"]
        for pname, (value, at) in zip(names, extras):
            params[pname] = self.param(op, pname, value, at)
        for pname, (value, at) in keywords.items():
            params[pname] = self.param(op, pname, value, at)
        if not operands:
            raise self.error(NameResolutionError, f"{name}() needs at least one array", line, col)
        return self.add_op(op.name, operands, line, col, params or None)

    def choose(self, name, candidates, positional, keywords, named_at, line, col):
        """Which operation a call means: max(a, b) is the elementwise maximum, max(x, axis=0) the reduction."""
        for kw in keywords:
            if not any(kw in op.param_names for op in candidates):
                raise self.error(NameResolutionError, f"{name}() has no argument '{kw}'", *named_at[kw])
        n = len(positional)
        for op in candidates:
            operands = 1 if op.variadic and op.name != "einsum" else op.nargs
            if op.name == "einsum":
                if n >= 2 and not keywords:
                    return op
                continue
            extra = n - operands
            statics = all(self.static(v) is not None or isinstance(v, Marker) for v in positional[operands:])
            if 0 <= extra <= len(op.params) and statics and set(keywords) <= set(op.param_names) and \
                    not set(op.param_names[:extra]) & set(keywords):
                exact = extra == 0
                if exact or not any(o.nargs == n for o in candidates if not o.variadic):
                    return op
        for op in candidates:  # the count fits, but a parameter is not written out: say which
            operands = 1 if op.variadic else op.nargs
            for pname, value in zip(op.param_names, positional[operands:] if n - operands <= len(op.params) else []):
                if self.static(value) is None and not isinstance(value, Marker):
                    self.need_sizes(value, f"the {pname} of {name}()", (line, col))
        raise self.error(NameResolutionError, arity_message(name, candidates, n + len(keywords)), line, col)

    def param(self, op, pname, value, at):
        """A parameter's value, which the file must write out (shapes never depend on values)."""
        default = dict(op.params)[pname]
        line, col = at
        what = f"the {pname} of {op.func or op.name}()"
        if pname in ("axis", "axes", "shape"):
            x = self.static(value)
            if x is None:
                self.need_sizes(value, what, at)
            if pname in ("axis", "axes") and isinstance(value, Marker) and value.kind == "none":
                return None  # every axis (axis=None), or transpose's reversed order (axes=None)
            if x is None or np.ndim(x) > 1 or not all(is_whole(d) for d in np.ravel(x)):
                raise self.error(NameResolutionError, f"{what} must be a whole number such as 0 or -1"
                                 if pname == "axis" else f"{what} must be a list of whole numbers such as [2, 3]",
                                 line, col)
            limit = 2 ** 31 if pname == "shape" else MAX_DIMENSIONS
            if any(abs(float(d)) > limit for d in np.ravel(x)):
                raise self.error(NameResolutionError, f"{what} is out of range: arrays have at most "
                                 f"{MAX_DIMENSIONS} dimensions" if pname != "shape" else f"{what} is too large",
                                 line, col)
            if np.ndim(x) == 0 and pname == "axis":
                return int(x)
            return tuple(int(d) for d in np.ravel(x))
        if isinstance(default, bool):
            x = self.static(value)
            if x is None or np.asarray(x).dtype.kind != "b" or np.ndim(x):
                raise self.error(NameResolutionError, f"{what} must be True or False", line, col)
            return bool(x)
        if isinstance(default, int):
            return self.whole(value, at, what)
        if isinstance(default, float):
            x = self.static(value)
            if x is None or np.ndim(x) or not np.isfinite(float(x)):
                raise self.error(NameResolutionError, f"{what} must be a number written in the file", line, col)
            return float(x)
        raise self.error(NameResolutionError, f"{what} cannot be given here", line, col)

    # ---- user functions ---------------------------------------------------------------------
    def call_function(self, function, args, layout, kw_positions, line, col, pc):
        self.check_call(function, args, layout, kw_positions, line, col)
        name = function.name
        if len(self.nodes) + function.size > self.limit:  # f(f(...)) chains grow exponentially
            raise self.error(ShapeError, f"calling {name}() makes about {function.size:,} operations (its body, and "
                             f"the calls in it, unrolled), more than the limit of {self.limit:,} (it follows "
                             "ADCLI_MAX_BYTES)", line, col)
        call = Call(function, dict(zip(function.params, args)), pc + 1, line, col)
        self.calls.append(call)
        for param, value in call.env.items():  # a parameter shares its argument's array, as in numpy
            self.bind(call, param, value)
        self.frames.append(("call", name, line, col))
        self.set_context()
        return function.start + 1

    def check_call(self, function, args, layout, kw_positions, line, col) -> None:
        """Arguments by position, as many as the parameters, and no recursion."""
        name = function.name
        if any(k is not None for k in layout):
            kl, kc = next(p for p in kw_positions if p is not None)
            raise self.error(NameResolutionError, f"{name}() takes its arguments by position", kl, kc)
        if len(args) != len(function.params):
            expected = len(function.params)
            raise self.error(NameResolutionError, f"{name}() takes {expected} argument{'s' * (expected != 1)} "
                             f"({', '.join(function.params)}; defined at line {function.line}), but {len(args)} "
                             f"{'was' if len(args) == 1 else 'were'} given", line, col)
        if any(c.function is function for c in self.calls):
            raise self.error(NameResolutionError, f"'{name}' calls itself: recursion is not supported (the graph is "
                             "unrolled, so it would never end)", line, col)

    def do_return(self, ins, pc):
        call = self.calls.pop()
        self.unbind_scope(call)
        self.frames.pop()
        self.set_context()
        return call.back

    def do_def(self, ins, pc):
        _, name, params, positions, end, line, col = ins
        if name in KEYWORDS or name in ("True", "False", "None", "range"):
            raise self.error(NameResolutionError, f"cannot define '{name}': it is a reserved name", line, col)
        if name in self.functions:
            raise self.error(NameResolutionError, f"function '{name}' is defined twice (first at line "
                             f"{self.functions[name].line})", line, col)
        if name in self.env:
            raise self.error(NameResolutionError, f"cannot define '{name}': it already names a value", line, col)
        for p, (pl, pc_) in zip(params, positions):  # a parameter named e or pi shadows the constant, as a value may
            if p in KEYWORDS or p in ("True", "False", "None"):
                raise self.error(NameResolutionError, f"'{p}' cannot be a parameter: it is a reserved name", pl, pc_)
        for ins_ in self.code[pc + 1:end]:  # calls in the body must name functions defined before it
            if ins_[0] == "call":
                callee = ins_[1]
                if callee == name:
                    raise self.error(NameResolutionError, f"'{name}' calls itself: recursion is not supported "
                                     "(the graph is unrolled, so it would never end)", ins_[-2], ins_[-1])
                if callee in self.later and callee not in self.functions:
                    raise self.error(NameResolutionError, f"function '{callee}' is used before its definition at "
                                     f"line {self.later[callee][-2]}; define functions before they are used",
                                     ins_[-2], ins_[-1])
        size = sum(self.functions[i[1]].size if i[0] == "call" and i[1] in self.functions else 1
                   for i in self.code[pc + 1:end])
        # As in Python, a name the body assigns (=, +=, a, b = ..., a loop variable) is the function's
        # own throughout it: reading it before that is an error, not a read of the file's name.
        assigns: dict[str, int] = {}
        for ins_ in self.code[pc + 1:end]:
            if ins_[0] in ("assign", "augment", "for"):
                assigns.setdefault(ins_[1], ins_[-2] if ins_[0] != "augment" else ins_[3])
            elif ins_[0] == "unpack":
                for assigned in ins_[1]:
                    assigns.setdefault(assigned, ins_[-2])
        function = Function(name, params, positions, pc, end, line, col, size, assigns)
        if name.endswith(".vjp"):  # def f.vjp(x, g): f's derivative rule
            self.add_rule(function)
        else:
            self.functions[name] = function
        return end + 1

    def add_rule(self, rule) -> None:
        """Give a function its derivative rule: the cotangent of each argument from the result's."""
        name = rule.name[:-len(".vjp")]
        function = self.functions.get(name)
        if function is None:
            raise self.error(NameResolutionError, f"'{rule.name}' is the derivative rule of '{name}', which must be "
                             "defined before it (def " + name + "(...) = ...)", rule.line, rule.col)
        if function.rule is not None:
            raise self.error(NameResolutionError, f"'{rule.name}' is defined twice (first at line "
                             f"{function.rule.line})", rule.line, rule.col)
        if len(rule.params) != len(function.params) + 1:
            raise self.error(NameResolutionError, f"'{rule.name}' takes {name}()'s {len(function.params)} "
                             f"argument{'s' * (len(function.params) != 1)} ({', '.join(function.params)}) and then the "
                             f"cotangent of its result: {len(function.params) + 1} parameters, not "
                             f"{len(rule.params)}", rule.line, rule.col)
        function.rule = rule

    def do_enddef(self, ins, pc):
        return pc + 1
