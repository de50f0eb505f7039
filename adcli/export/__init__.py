"""Export: a program and its derivative as a Python module for numpy, JAX or PyTorch.

Owns the emitter (the graph and its reverse or forward sweep as statements, each commented with its
trace line), the names the module gives values, and each target's spelling of the operations and
kernels. It may import the explanations, the engine, the language and the operations; the command
line (`adcli export`, `--engine`) imports it.
"""

from __future__ import annotations

import types

from adcli.errors import InputError
from adcli.export.emit import emit
from adcli.export.names import identifier
from adcli.export.render import render
from adcli.export.targets import TARGETS
from adcli.language.graph import is_count

MODES = ("reverse", "forward")


def export_source(program, target: str = "numpy", of: str | None = None, wrt=None, mode: str = "reverse") -> str:
    """The module's text: f, grad_f (and jvp_f with mode="forward") for the program's output."""
    if target not in TARGETS:
        raise InputError(f"--to {target}: expected one of {', '.join(TARGETS)}")
    if mode not in MODES:
        raise InputError(f"--mode {mode}: expected reverse or forward")
    graph = program.graph
    _, output = program.output_node(of)
    from adcli.language.shapes import symbolic_shapes
    symbolic_shapes(graph)  # shapes the file settles in numbers are checked now, as every other command does
    emitted = emit(graph, output, program.wrt_nodes(wrt))
    # A program specialised to an int input's value (range(n)) holds that value: the module checks it.
    fixed = {graph.nodes[i].label: program.sizes[graph.nodes[i].label] for i in graph.inputs
             if graph.nodes[i].label in program.sizes and is_count(graph.nodes[i])}
    return render(emitted, target, graph.file, graph.source, mode, fixed)


def load_module(source: str, name: str = "adcli_exported") -> types.ModuleType:
    """A module from exported text. The text is adcli's own: the file's names become identifiers and
    its constants numbers; nothing the file contains is executed as code."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - adcli's generated code
    return module


__all__ = ["MODES", "TARGETS", "export_source", "identifier", "load_module"]
