"""The expander's functions compiled on their own rather than inlined (a mixin of Expander): the
`f` of fixed_point(f, x0, *params) and root(f, x0, *params), and a function with a derivative rule
(`def f.vjp(x, g)`) with its rule.

A function's graph is made by a second expander that runs only the function's body, with one
input per argument; a name of the file that the body reads becomes one more input of it, given
the file's value at the call (as a closure's variable is), so the solution's derivative reaches it.
"""

from __future__ import annotations

from adcli.errors import NameResolutionError, ShapeError
from adcli.language.expand_numpy import Tuple
from adcli.language.expand_values import Literal, Marker
from adcli.language.graph import CONST, FLOAT, INPUT, INT, SHAPED, Graph, label_temporaries
from adcli.operations import OPS
from adcli.operations.implicit import Body

IMPLICIT = ("fixed_point", "root")
MAX_NESTED = 64  # each nested solution's function is compiled by an expander of its own


class Implicit:
    """Expander methods for fixed_point() and root() (see adcli.language.expand.Expander)."""

    def implicit_call(self, name, args, where, layout, line, col) -> int:
        op = OPS[name]
        positional = [(v, at) for v, at, k in zip(args, where, layout) if k is None]
        keywords = {k: (v, at) for v, at, k in zip(args, where, layout) if k is not None}
        if not positional or not (isinstance(positional[0][0], Marker) and positional[0][0].kind == "function"):
            at = positional[0][1] if positional else (line, col)
            raise self.error(NameResolutionError, f"{name}() takes a function defined with def first: "
                             f"{name}(f, x0, *params)", *at)
        function = positional[0][0].value
        solving = self.solving
        if function in solving or any(c.function is function for c in self.calls):
            raise self.error(NameResolutionError, f"{name}() inside {function.name}() solves with {function.name}() "
                             "itself: a function cannot be defined by its own solution", line, col)
        if len(solving) >= MAX_NESTED:
            raise self.error(ShapeError, f"{name}() inside the functions of {MAX_NESTED} other solutions: adcli "
                             "compiles at most that many nested fixed_point() and root() calls", line, col)
        operands = positional[1:]
        if not operands:
            raise self.error(NameResolutionError, f"{name}() needs a starting point after the function: "
                             f"{name}({function.name}, x0, *params)", line, col)
        if len(function.params) != len(operands):
            expected = len(function.params)
            raise self.error(NameResolutionError, f"{name}() passes {function.name}() x and the {len(operands) - 1} "
                             f"value{'s' * (len(operands) != 2)} after x0, but {function.name}() takes {expected} "
                             f"argument{'s' * (expected != 1)} ({', '.join(function.params)}; defined at line "
                             f"{function.line})", line, col)
        params = {"body": None, "tol": op.params[1][1], "max_iter": op.params[2][1]}
        for key, (value, at) in keywords.items():
            if key not in ("tol", "max_iter"):
                raise self.error(NameResolutionError, f"{name}() has no argument '{key}' (it takes tol= and "
                                 "max_iter=)", *at)
            params[key] = self.param(op, key, value, at)
        nodes = [self.operand(v) for v, _ in operands]
        if self.nodes[nodes[0]].dtype not in (FLOAT, SHAPED, INT):
            raise self.error(ShapeError, f"{name}() needs a number or an array of numbers to start from",
                             *operands[0][1])
        dtypes = [FLOAT] + [INT if self.nodes[n].dtype == INT else FLOAT for n in nodes[1:]]  # x is a float
        body, closure = self.compile_body(function, dtypes, line, col)
        if len(body.outputs) != 1:
            raise self.error(ShapeError, f"{function.name}() returns {len(body.outputs)} values; {name}() needs "
                             "a function giving one value of x's shape", line, col)
        params["body"] = body
        return self.add(name, nodes + closure, line, col, params, dtype=FLOAT)

    def rule_call(self, function, args, line, col) -> int:
        """A call of a function with a derivative rule: one node, its value by the function's graph and
        its derivative by the rule's (JAX's custom_vjp)."""
        if len(self.solving) >= MAX_NESTED:
            raise self.error(ShapeError, f"{function.name}() inside the functions of {MAX_NESTED} other rules and "
                             "solutions: adcli compiles at most that many, one inside another", line, col)
        nodes = [self.operand(v) for v in args]
        dtypes = [INT if self.nodes[n].dtype == INT else FLOAT for n in nodes]
        body, closure = self.compile_body(function, dtypes, line, col)
        rule, rule_closure = self.compile_body(function.rule, dtypes + [FLOAT], line, col)
        for fn, compiled, values in ((function, body, closure), (function.rule, rule, rule_closure)):
            for index, node in zip(compiled.graph.inputs[len(fn.params):], values):
                if self.nodes[node].op != CONST and self.nodes[node].dtype == FLOAT:
                    raise self.error(NameResolutionError, f"{fn.name}() reads '{compiled.graph.nodes[index].label}' "
                                     f"of the file, but {function.name}() has a derivative rule, which says how its "
                                     "result moves with its arguments alone: pass it as an argument", fn.line, fn.col)
        if len(body.outputs) != 1:
            raise self.error(ShapeError, f"{function.name}() returns {len(body.outputs)} values; a function with a "
                             "derivative rule returns one", function.line, function.col)
        if len(rule.outputs) != len(function.params):
            n = len(function.params)
            raise self.error(ShapeError, f"{function.rule.name}() returns {len(rule.outputs)} value"
                             f"{'s' * (len(rule.outputs) != 1)}, but {function.name}() takes {n} argument"
                             f"{'s' * (n != 1)}: the rule returns one cotangent for each, in order "
                             f"(return {', '.join('g_' + p for p in function.params)})",
                             function.rule.line, function.rule.col)
        params = {"body": body, "rule": rule, "split": (len(nodes), len(closure))}
        return self.add("rule", nodes + closure + rule_closure, line, col, params, dtype=FLOAT)

    def compile_body(self, function, dtypes, line, col) -> tuple[Body, list[int]]:
        """`function` as a graph of its own, its arguments of the types `dtypes`, and the file's values
        its body reads (closure), which the call passes after the arguments. A function returning a
        tuple has one output per item."""
        sub = type(self)(self.code, self.file, self.source, self.sizes)  # an Expander, as this one
        sub.unroll = self.unroll
        sub.functions, sub.later, sub.limit = self.functions, self.later, self.limit - len(self.nodes)
        sub.frames = list(self.frames)
        sub.solving = (*self.solving, function)
        sub.set_context()
        inputs = []
        for param, dtype in zip(function.params, dtypes):
            inputs.append(sub.add(INPUT, (), line, col, name=param, label=param, dtype=dtype))
        handlers = sub.handlers()
        pc = sub.call_function(function, inputs, (None,) * len(inputs), (None,) * len(inputs), line, col, -1)
        while sub.calls:  # the body alone: its return pops the call
            ins = self.code[pc]
            pc = handlers[ins[0]](ins, pc)
        (result,), _ = sub.pop(1)
        items = result.items if isinstance(result, Tuple) else [result]
        outputs = []
        for item in items:
            if isinstance(item, Literal) and item.static:
                item = Literal(item.value, item.line, item.col)
            outputs.append(sub.operand(item))
        closure = []
        for index in sub.used:  # the file's names the body reads: inputs of the body, values at the call
            value = self.lookup(sub.nodes[index].label, line, col)
            closure.append(self.operand(value))
            sub.nodes[index].dtype = INT if self.nodes[closure[-1]].dtype == INT else FLOAT
        graph = Graph(sub.nodes, inputs + sub.used, [(function.name, out) for out in outputs], {}, self.file,
                      self.source, sub.contexts)
        label_temporaries(graph)
        return Body(function.name, graph, tuple(function.params), function.line, function.col,
                    self.span(line, col), outputs), closure
