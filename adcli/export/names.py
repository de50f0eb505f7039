"""Names in a generated module: the file's values as Python identifiers, never one the module's own
helpers, imports or functions use, whichever target it is written for."""

from __future__ import annotations

import builtins
import functools
import inspect
import keyword
import re

from adcli.export.targets import TARGETS
from adcli.language.graph import Graph
from adcli.operations import OPS, kernels

# What every generated module defines for its callers.
MODULE_API = ("f", "grad_f", "jvp_f", "values", "INPUTS", "WRT", "OUTPUT", "SOURCE", "SHA256")

DEFINED = re.compile(r"^(?:def|class)\s+(\w+)|^(\w+)\s*=|^import\s+[\w.]+\s+as\s+(\w+)|^import\s+(\w+)", re.M)
WORD = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?!\w)")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@functools.lru_cache(maxsize=1)
def kernel_names() -> frozenset[str]:
    """adcli's kernels: the functions of adcli.operations.kernels and the constants it assigns at its top level."""
    assigned = {line.split(" =")[0] for line in inspect.getsource(kernels).splitlines()
                if re.match(r"[A-Za-z_]\w* = ", line)}
    return frozenset(name for name, obj in vars(kernels).items()
                     if ((inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == kernels.__name__
                         and name != "linear")
                     or name in assigned)


def defined_names(text: str) -> set[str]:
    """The names a piece of module text binds at its top level (def, class, assignment, import)."""
    return {next(g for g in match.groups() if g) for match in DEFINED.finditer(text)}


def template_builtins() -> set[str]:
    """The Python built-ins the registry's templates call (sum, enumerate, list): a value named so
    would hide them from the statement that calls them."""
    used = set()
    for op in OPS.values():
        for code in (op.forward_code, op.common_code, op.jvp_code, *(op.deriv_code or ()), *(op.vjp_code or ())):
            used.update(WORD.findall(PLACEHOLDER.sub("", code or "")))
    return {name for name in used if hasattr(builtins, name)}


COMPREHENSION = re.compile(r"\bfor\s+(\w+(?:\s*,\s*\w+)*)\s+in\b")


def bound_in(template: str) -> list[str]:
    """The variables a template's comprehensions bind (einsum's jvp: i, d, j, x)."""
    return [name.strip() for match in COMPREHENSION.finditer(template) for name in match[1].split(",")]


def comprehension_names() -> dict[str, str]:
    """Each variable a template's comprehension binds, and its private name in generated code: a
    value of the file called x or d must not be read as the comprehension's own."""
    names = {}
    for op in OPS.values():
        for code in (op.forward_code, op.common_code, op.jvp_code, *(op.deriv_code or ()), *(op.vjp_code or ())):
            names.update({name: f"_{name}" for name in bound_in(code or "")})
    return names


def private_locals(template: str) -> str:
    """A template with its comprehensions' variables renamed to their private, reserved names."""
    bound = set(bound_in(template))
    if not bound:
        return template
    parts = re.split(r"(\{[^{}]*\})", template)  # placeholders are the file's names: left alone
    return "".join(part if part.startswith("{") else
                   WORD.sub(lambda m: f"_{m[1]}" if m[1] in bound else m[1], part) for part in parts)


@functools.lru_cache(maxsize=1)
def reserved() -> frozenset[str]:
    """Every name a generated body may call, for any target: kernels, each target's own versions and
    helpers, imports, the module's functions and the built-ins the templates use."""
    names = set(MODULE_API) | kernel_names() | template_builtins() | set(comprehension_names().values()) | {"math"}
    for target in TARGETS.values():
        names |= defined_names("\n".join(target.imports)) | set(target.overrides) | {target.namespace}
    return frozenset(names | set(keyword.kwlist) | {"True", "False", "None"})


def identifier(label: str) -> str:
    """A label as a Python name: h' -> h_1, h'' -> h_2, h'5 -> h_5, cell.z -> cell__z, U1 -> U1."""
    base, _, marks = label.partition("'")
    version = 0
    if _:
        rest = marks.lstrip("'")
        version = int(rest) if rest.isdigit() else len(marks) + 1
    name = base.replace(".", "__")
    return f"{name}_{version}" if version else name


class Namer:
    """Stable, unique Python names for values, gradients and tangents (the scheme is documented)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.used: set[str] = set(reserved())
        self.names: dict[tuple[str, int], str] = {}

    def take(self, wanted: str) -> str:
        """`wanted`, or with trailing underscores until no other name and no helper has it."""
        name = wanted
        while name in self.used or keyword.iskeyword(name):
            name += "_"
        self.used.add(name)
        return name

    def value(self, node: int) -> str:
        return self.name("v", node, identifier(self.graph.nodes[node].label))

    def grad(self, node: int) -> str:
        return self.name("g", node, "g_" + identifier(self.graph.nodes[node].label))

    def tangent(self, node: int) -> str:
        return self.name("d", node, "d_" + identifier(self.graph.nodes[node].label))

    def common(self, node: int) -> str:
        return self.name("c", node, "c_" + identifier(self.graph.nodes[node].label))

    def name(self, kind: str, node: int, wanted: str) -> str:
        key = (kind, node)
        if key not in self.names:
            self.names[key] = self.take(wanted)
        return self.names[key]
