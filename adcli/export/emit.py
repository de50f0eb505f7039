"""The program and its derivative as statements: one per value, one per accumulator update.

A statement is plain data (a target name, an expression, and the trace line it implements with
its FILE:LINE:COL), built from the registry's code templates exactly as adcli's engine runs them:
the same operations in the same order, so exported numpy code gives adcli's numbers to the bit.
Rendering a target (numpy, JAX, PyTorch) only changes the namespace the expressions call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from adcli.engine.reverse import depends_on, feeds
from adcli.export.names import Namer, identifier, private_locals
from adcli.language.graph import CONST, FLOAT, LEAVES, Graph
from adcli.operations import OPS, fill, source_text, with_functions

SCALAR_TYPES = {"f": "float64", "i": "int64", "u": "int64", "b": "bool_"}


@dataclass
class Statement:
    """`target = expression`, with the trace line it implements and where the file says it."""

    target: str
    expression: str
    comment: str
    where: str  # FILE:LINE:COL, or "" for the seed


@dataclass
class Emitted:
    """Everything a target renders: names, constants, the forward and backward statements."""

    inputs: list[tuple[str, str, int]]  # (identifier, label, node) in the file's input order
    input_kinds: list[tuple[str, str]]  # (identifier, "float64" or "int64")
    wrt: list[tuple[str, str, int, str]]  # the differentiated inputs, with their tangents' names
    output: str  # the output's identifier
    output_label: str
    constants: list[tuple[str, object]]  # module-level arrays: (name, value)
    indexes: list[tuple[str, tuple]]  # module-level subscripts: (name, index tuple)
    forward: list[Statement]
    backward: list[Statement]
    tangent: list[Statement]  # forward mode
    everything: list[Statement]  # every value of the file, for values()
    assigned: list[tuple[str, str]]  # (label, expression) of every assignment
    gradients: dict[str, str]  # input label -> gradient expression returned
    output_tangent: str
    shapes: dict[str, str]  # input label -> declared shape text
    kernels: set[str] = field(default_factory=set)  # adcli kernels the expressions call
    functions: list = field(default_factory=list)  # Function: what fixed_point() and root() solve with


def number(value) -> str:
    """A float as numpy code: its repr (exact), and inf and NaN by numpy's names."""
    if math.isfinite(value):
        return repr(value)
    return "np.nan" if math.isnan(value) else ("np.inf" if value > 0 else "-np.inf")


def scalar(data: np.ndarray) -> str:
    """A 0-d constant as a numpy number of its own type, as the engine holds it: IEEE arithmetic
    holds (x / 0 is inf, not Python's ZeroDivisionError) and it has a shape."""
    value = data.item()
    text = number(value) if isinstance(value, float) else repr(value)
    return f"np.{SCALAR_TYPES[data.dtype.kind]}({text})"


def parameter(value) -> str:
    """A parameter as the engine passes it (a Python number, tuple, string), inf and NaN included."""
    return number(value) if isinstance(value, float) else repr(value)


def code(template: str, names: dict[str, str]) -> str:
    """A registry template filled with the node's names (its comprehensions' variables private)."""
    return fill(private_locals(template), names)


KERNEL_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")


class Emitter:
    """Builds the statements of one program, output and choice of inputs."""

    def __init__(self, graph: Graph, output: int, wrt: list[int], module: Emitter | None = None):
        self.graph, self.output, self.wrt = graph, output, wrt
        self.namer = Namer(graph)
        # A function's emitter (fixed_point's f) writes its constants, subscripts and kernels into its
        # module's, so that every name at the module's top level is made by one namer.
        self.module = module or self
        self.constants: list[tuple[str, object]] = []
        self.const_names: dict[tuple, str] = {}
        self.indexes: list[tuple[str, tuple]] = []
        self.kernels: set[str] = set()
        self.classes: dict[int, tuple] = {}  # id(Body) -> (the class the module writes for it, the Body)

    # ---- operands ---------------------------------------------------------------------------
    def operand(self, node: int) -> str:
        """An operand's text: its value's name, or a constant written out."""
        n = self.graph.nodes[node]
        if n.op != CONST:
            return self.namer.value(node)
        data = np.asarray(n.data)
        if data.ndim == 0:
            return scalar(data)
        module, key = self.module, (id(self.graph), node)
        if key not in module.const_names:
            module.const_names[key] = module.namer.take(f"C{len(module.constants) + 1}")
            module.constants.append((module.const_names[key], data))
        return module.const_names[key]

    def index(self, index: tuple) -> str:
        """A subscript as a named module constant (I1 = (slice(1, None, None), None)  # [1:, None])."""
        module = self.module
        for name, value in module.indexes:
            if value == index:
                return name
        name = module.namer.take(f"I{len(module.indexes) + 1}")
        module.indexes.append((name, index))
        return name

    def names_for(self, op, node: int, **extra) -> dict[str, str]:
        """The template names of one node: its operands, parameters, result, gradient, tangents."""
        n = self.graph.nodes[node]
        args = [self.operand(a) for a in n.args]
        names = {"ans": self.namer.value(node), "c": self.namer.common(node)}
        if op.variadic:
            names["xs"] = "[" + ", ".join(args) + "]"
        else:
            names.update(zip(op.args, args))
        params = {**dict(op.params), **(n.params or {})}
        names.update({p: self.index(params[p]) if p == "index" else
                      self.function(params[p]) if p in ("body", "rule", "test")
                      else parameter(params[p]) for p in op.param_names})
        names.update(extra)
        return names

    def uses(self, text: str) -> str:
        """Note the kernels an expression calls (their source is copied into the module)."""
        self.module.kernels.update(KERNEL_NAME.findall(text))
        return text

    def function(self, body) -> str:
        """The class the module writes for a function compiled on its own (fixed_point's f, a rule)."""
        classes = self.module.classes
        if id(body) not in classes:
            classes[id(body)] = (self.module.namer.take(identifier(body.name)), body)
        return classes[id(body)][0]

    def where(self, node: int) -> str:
        n = self.graph.nodes[node]
        return f"{self.graph.file}:{n.line}:{n.col}"

    def source(self, node: int) -> str:
        """The value as the file writes it: U1 = X @ W1."""
        n = self.graph.nodes[node]
        labels = [self.graph.nodes[a].label for a in n.args]
        return f"{n.label} = {source_text(n.op, labels, n.params)}"

    # ---- the program ------------------------------------------------------------------------
    def forward(self) -> list[Statement]:
        graph, out = self.graph, self.output
        need = feeds(graph, out)
        statements = []
        for i in range(out + 1):
            n = graph.nodes[i]
            if not need[i] or n.op in LEAVES:
                continue
            op = OPS[n.op]
            text = code(op.forward_code, self.names_for(op, i))
            statements.append(Statement(self.namer.value(i), self.uses(text), self.source(i), self.where(i)))
        if graph.nodes[out].op == CONST:  # the output is a constant itself
            statements.append(Statement(self.namer.value(out), self.operand(out), f"{graph.nodes[out].label}", ""))
        return statements

    def assignments(self) -> tuple[list[Statement], list[tuple[str, str]]]:
        """Every value of the file, for values(): (statements, [(label, expression)] of assignments)."""
        graph = self.graph
        statements = []
        for i, n in enumerate(graph.nodes):
            if n.op in LEAVES:
                continue
            op = OPS[n.op]
            text = code(op.forward_code, self.names_for(op, i))
            statements.append(Statement(self.namer.value(i), self.uses(text), self.source(i), self.where(i)))
        return statements, [(label, self.operand(index)) for label, index in graph.assigned]

    def backward(self, seed: str | None = None) -> tuple[list[Statement], dict[str, str]]:
        """The reverse sweep, statement by statement in the engine's order (adcli.engine.reverse.backward);
        `seed` names the output's cotangent (default: ones)."""
        graph, out = self.graph, self.output
        active = depends_on(graph, self.wrt, out)
        statements: list[Statement] = []
        has: set[int] = set()
        out_label = graph.nodes[out].label
        if active[out]:
            seed = f"np.ones_like({self.namer.value(out)})" if seed is None else seed
            statements.append(Statement(self.namer.grad(out), seed, f"∂{out_label}/∂{out_label} ← {seed}"
                                        if seed == "cotangent" else f"∂{out_label}/∂{out_label} ← 1", ""))
            has.add(out)
        for i in range(out, -1, -1):
            n = graph.nodes[i]
            if i not in has or n.op in LEAVES:
                continue
            op = OPS[n.op]
            g = self.namer.grad(i)
            names = self.names_for(op, i, g=g)
            if op.common_code is not None and any(active[a] for a in n.args):
                text = code(op.common_code, names)
                statements.append(Statement(names["c"], self.uses(text), f"shared by the operands of {n.label}",
                                            self.where(i)))
            for k in range(len(n.args) - 1, -1, -1):
                a = n.args[k]
                if not active[a]:
                    continue
                share = self.share(op, k, names, a)
                target = self.namer.grad(a)
                label = graph.nodes[a].label
                share_text = re.sub(r"\{(\d+)\}", lambda m: graph.nodes[n.args[int(m[1])]].label,
                                    op.vjp_text[min(k, len(op.vjp_text) - 1)])
                share_text = share_text.replace("[k]", f"[{k}]").replace("{n}", "n").replace("{ddof}", "ddof")
                share_text = with_functions(share_text, n.params or {})
                added = f"- {share_text[1:]}" if share_text.startswith("-") else f"+ {share_text}"
                comment = f"∂{out_label}/∂{label} ← ∂{out_label}/∂{label} {added}"
                expression = share if a not in has else f"{target} + {share}"
                statements.append(Statement(target, self.uses(expression), comment, self.where(i)))
                has.add(a)
        gradients = {}
        for w in self.wrt:
            label = graph.nodes[w].label
            gradients[label] = self.namer.grad(w) if w in has else f"np.zeros(np.shape({self.namer.value(w)}))"
        return statements, gradients

    def share(self, op, k: int, names: dict, a: int) -> str:
        """Operand k's share of ḡ as adcli.operations.core.Op.vjp makes it: g·∂ₖ (an exact zero factor
        wins) summed back to the operand's shape, or the vjp template, zero where ḡ is all zero."""
        operand = self.operand(a)
        if op.elementwise:
            local = names["g"] if op.ones[k] else f"chain({names['g']}, {code(op.deriv_code[k], names)})"
            return f"unbroadcast({local}, np.shape({operand}))"
        share = code(op.vjp_code_for(k), {**names, "k": str(k)} if op.variadic else names)
        return f"strong_vjp({share}, {names['g']}, np.shape({operand}))"

    def tangents(self) -> tuple[list[Statement], str]:
        """Forward mode: every value's tangent along the input tangents (adcli.engine.forward.tangents)."""
        graph, out = self.graph, self.output
        need = feeds(graph, out)
        has: dict[int, str] = {w: self.namer.tangent(w) for w in self.wrt}
        statements = []
        for i in range(out + 1):
            n = graph.nodes[i]
            if not need[i] or n.op in LEAVES or n.dtype != FLOAT or OPS[n.op].dtype in ("bool", "int"):
                continue
            ts = [has.get(a) for a in n.args]
            if all(t is None for t in ts):
                continue
            op = OPS[n.op]
            names = self.names_for(op, i)
            if op.elementwise:
                terms = []
                for k, t in enumerate(ts):
                    if t is None:
                        continue
                    # an exact zero factor wins: 0·∞ is 0 (adcli.operations.core.Op.jvp)
                    terms.append(f"chain({t}, {code(op.deriv_code[k], names)})")
                text = " + ".join(terms)
                text = f"np.broadcast_to({text}, np.shape({names['ans']}))"
            else:
                text = self.structural_tangent(op, n, ts, names)
            target = self.namer.tangent(i)
            statements.append(Statement(target, self.uses(text), f"{n.label}̇", self.where(i)))
            has[i] = target
        result = has.get(out, f"np.zeros(np.shape({self.namer.value(out)}))")
        return statements, result


    def structural_tangent(self, op, n, ts: list, names: dict) -> str:
        """A tangent by the jvp template as adcli.operations.core.Op.jvp applies it: a constant
        operand's tangent is zeros, zero tangents give zero, and a bilinear rule's terms are taken
        apart (each a lambda, called only where the whole has an infinity or NaN)."""
        zeros = [f"np.zeros(np.shape({self.operand(a)}))" for a in n.args]
        filled = [t if t is not None else z for t, z in zip(ts, zeros)]
        tangent = code(op.jvp_code, {**names, **self.tangent_names(op, filled)})
        terms = ""
        if op.bilinear and not op.variadic:
            parts = []
            for k in range(len(op.args)):
                only = [t if j == k else z for j, (t, z) in enumerate(zip(filled, zeros))]
                moved = {name: z if j == k else names[name] for j, (name, z) in enumerate(zip(op.args, zeros))}
                parts.append("lambda: " + code(op.jvp_code, {**names, **moved, **self.tangent_names(op, only)}))
            terms = ", (" + ", ".join(parts) + ")"
        return f"strong_jvp({tangent}, [{', '.join(filled)}], np.shape({names['ans']}){terms})"

    @staticmethod
    def tangent_names(op, tangents: list[str]) -> dict[str, str]:
        """The template's tangent placeholders: dxs for a list of operands, else dx, dy, ..."""
        if op.variadic:
            return {"dxs": "[" + ", ".join(tangents) + "]"}
        return {"d" + name: t for name, t in zip(op.args, tangents)}


@dataclass
class Function:
    """A function compiled on its own (fixed_point's and root's f, a function with a derivative rule,
    the rule), as a class of the module: its value (a rule: its results), its vjp (a cotangent per
    argument) and its jvp, each the engine's statements for the function's graph."""

    name: str  # the class's name
    label: str  # the def's name
    where: str  # FILE:LINE of the def
    args: list[str]  # the arguments' identifiers, x first
    kinds: list[str]  # "float64" or "int64" per argument
    forward: list[Statement]
    output: str
    outputs: list[str]  # every result (a derivative rule's: one cotangent per argument of its function)
    backward: list[Statement]
    gradients: list[str]  # per argument, its cotangent (zeros for one that does not move)
    tangent: list[Statement]
    tangents: list[str]  # per argument, its tangent's identifier
    output_tangent: str


def function_of(module: Emitter, name: str, body) -> Function:
    """The statements of one function's class, its constants and kernels written into `module`."""
    graph = body.graph
    floats = [i for i in graph.inputs if graph.nodes[i].dtype == FLOAT]
    emitter = Emitter(graph, graph.output, floats, module)
    emitter.namer.take("cotangent")
    args = [emitter.namer.value(i) for i in graph.inputs]
    kinds = ["float64" if graph.nodes[i].dtype == FLOAT else "int64" for i in graph.inputs]
    if len(body.outputs) > 1:  # a derivative rule: its results only (the engine never differentiates them here)
        forward = emitter.assignments()[0]
        return Function(name, body.name, f"{graph.file}:{body.line}", args, kinds, forward,
                        emitter.operand(body.outputs[0]), [emitter.operand(o) for o in body.outputs], [], [], [], [],
                        "")
    forward = emitter.forward()
    backward, gradients = emitter.backward(seed="cotangent")
    tangent, output_tangent = emitter.tangents()
    grads = [gradients.get(graph.nodes[i].label, f"np.zeros(np.shape({a}))") if i in floats else
             f"np.zeros(np.shape({a}))" for i, a in zip(graph.inputs, args)]
    output = emitter.operand(graph.output)
    return Function(name, body.name, f"{graph.file}:{body.line}", args, kinds, forward, output, [output], backward,
                    grads, tangent, [emitter.namer.tangent(i) for i in graph.inputs], output_tangent)


def functions_of(module: Emitter) -> list[Function]:
    """Every function the module's statements solve with, and those their own statements do (met
    while they are emitted: a work list, not recursion)."""
    done: list[Function] = []
    emitted: set[int] = set()
    while len(emitted) < len(module.classes):
        key = next(k for k in module.classes if k not in emitted)
        emitted.add(key)
        done.append(function_of(module, *module.classes[key]))
    return done


def emit(graph: Graph, output: int, wrt: list[int]) -> Emitted:
    """The statements of f, grad_f and jvp_f for `output`, differentiated with respect to `wrt`."""
    emitter = Emitter(graph, output, wrt)
    inputs = [(emitter.namer.value(i), graph.nodes[i].label, i) for i in graph.inputs]
    forward = emitter.forward()
    backward, gradients = emitter.backward()
    tangent, output_tangent = emitter.tangents()
    everything, assigned = emitter.assignments()
    functions = functions_of(emitter)
    shapes = {}
    for i in graph.inputs:
        n = graph.nodes[i]
        dims = "" if n.data is None else "[" + ", ".join(map(str, n.data)) + "]"
        kind = "int" if n.dtype != FLOAT else "data" if n.extra == "data" else ""
        shapes[n.label] = " ".join(part for part in (dims or "any shape", f"({kind})" if kind else "") if part)
    kinds = [(name, "float64" if graph.nodes[i].dtype == FLOAT else "int64") for name, _, i in inputs]
    return Emitted(inputs, kinds, [(emitter.namer.value(w), graph.nodes[w].label, w, emitter.namer.tangent(w)) for w in wrt],
                   emitter.namer.value(output), graph.nodes[output].label, emitter.constants, emitter.indexes,
                   forward, backward,
                   tangent, everything, assigned, gradients, output_tangent, shapes, emitter.kernels, functions)
