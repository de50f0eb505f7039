"""The `export` command, and running grad and eval in JAX or PyTorch (--engine)."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from adcli.cli.app import Ascii, File, FormatOption, Inputs, Of, Set, Wrt, app
from adcli.cli.support import ANNOTATIONS, Style, given_values, reporting, write_file
from adcli.errors import InputError
from adcli.symbols import ASCII, can_encode


class Target(str, Enum):
    numpy = "numpy"
    jax = "jax"
    torch = "torch"


class ExportMode(str, Enum):
    reverse = "reverse"
    forward = "forward"


@app.command(short_help="The program and its derivative as a Python module: numpy, JAX or PyTorch.")
def export(file: File,
           to: Annotated[Target, typer.Option("--to", case_sensitive=False, help="The framework the module is for.")]
           = Target.numpy,
           output: Annotated[Optional[str], typer.Option("--output", "-o", metavar="PATH",
                                                         help="Write the module to PATH (default: stdout).")] = None,
           of: Of = None, wrt: Wrt = None,
           mode: Annotated[ExportMode, typer.Option("--mode", case_sensitive=False, help="reverse: f and grad_f; "
                                                    "forward: also jvp_f.")] = ExportMode.reverse,
           ascii_: Ascii = False, format_: FormatOption = Style.text, set_: Set = None, inputs: Inputs = None):
    """The program, its gradient by adcli's own reverse sweep (and its forward mode), as source code.

    The module defines f(inputs), grad_f(inputs) -> (value, {input: gradient}), values(inputs), and with
    --mode forward jvp_f(inputs, tangents): pure functions, one statement per accumulator update, each
    commented with the trace line it implements. numpy's gives adcli's own numbers to the bit; JAX's works
    under jit, vmap and grad; PyTorch's under torch.func and torch.compile.

    \b
    A file that sizes a loop or a slice by a named dimension (range(T)) is exported for the sizes of
    the inputs given with --set or --inputs.

    \b
    Example: adcli export samples/mlp.ad --to jax -o mlp_jax.py
    """
    from adcli.engine.program import load
    from adcli.export import export_source
    ANNOTATIONS.start(format_)
    with reporting():
        program = load(file)
        if set_ or inputs:  # sizes for a program that needs them, checked as every command checks its values
            from adcli.engine.evaluate import bind_inputs
            given = given_values(set_, inputs, program)
            bind_inputs(program.graph, given)
        text = export_source(program, to.value, of, wrt, mode.value)
        if ascii_ or (output is None and not can_encode(sys.stdout)):
            # Only comments and docstrings hold symbols (the code is ASCII): ∂ becomes d, and what
            # has no ASCII spelling (a name in the file's comments) becomes ?.
            text = text.translate(ASCII).encode("ascii", "replace").decode("ascii")
        if output is None:
            # A module is UTF-8 (PEP 3120) whatever the terminal's encoding: cp437 bytes would not parse.
            raw = getattr(sys.stdout, "buffer", None)
            if raw is None:
                sys.stdout.write(text)
            else:
                sys.stdout.flush()
                raw.write(text.encode("utf-8", "surrogateescape"))
            return
        write_file(output, text, error=InputError, sources=(file,))


# ---------------------------------------------------------------------------------------------
# --engine: grad and eval computed by the exported module in another framework
# ---------------------------------------------------------------------------------------------

INSTALL = {"jax": "pip install 'adcli[jax]' (or pip install jax)", "torch": "pip install 'adcli[torch]' "
                                                                        "(or pip install torch)"}


def framework(engine: str):
    """The framework's module, or an error saying what to install."""
    try:
        if engine == "jax":
            import jax.numpy
            return jax.numpy
        import torch
        return torch
    except ImportError:
        raise InputError(f"--engine {engine} needs {'JAX' if engine == 'jax' else 'PyTorch'}, which is not installed: "
                         f"{INSTALL[engine]}") from None


def arguments(program, given: dict, engine: str) -> dict:
    """The inputs as the framework's float64 (or int64) arrays, checked as adcli checks them."""
    import numpy as np

    from adcli.engine.evaluate import bind_inputs
    graph = program.graph
    bound = bind_inputs(graph, given)
    xp = framework(engine)
    out = {}
    for i, value in bound.items():
        label = graph.nodes[i].label
        if engine == "jax":
            out[label] = xp.asarray(value)
        else:
            out[label] = xp.as_tensor(np.array(value))
    return out


def engine_module(program, engine: str, of=None, wrt=None):
    from adcli.export import export_source, load_module
    framework(engine)
    return load_module(export_source(program, engine, of, wrt), f"adcli_{engine}")


def to_numpy(value):
    """A framework's array as numpy's float64 (a Python float for a scalar)."""
    import numpy as np
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    a = np.asarray(value, dtype=np.float64)
    return a.item() if a.ndim == 0 else a


def grad_by_engine(program, given: dict, engine: str, of=None, wrt=None):
    """The Gradient grad would print, computed by the exported module in JAX or PyTorch."""
    from adcli.engine.results import Gradient, require_scalar
    module = engine_module(program, engine, of, wrt)
    name, out = program.output_node(of)
    args = arguments(program, given, engine)
    value, grads = module.grad_f(*(args[label] for label in module.INPUTS))
    require_scalar(program.graph, name, out, to_numpy(value))
    return Gradient(name, to_numpy(value), {label: to_numpy(g) for label, g in grads.items()})


def batch_grad_jax(program, given: dict, names, chunk=None, of=None, wrt=None):
    """Value and gradient at every point by the exported JAX module under jax.vmap, compiled once;
    each chunk's points sharded across JAX's devices (jax.sharding: several GPUs, or CPU devices
    made with XLA_FLAGS=--xla_force_host_platform_device_count=N), the shared inputs replicated."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as Spec

    from adcli.engine.batch import BatchGradient, Budget, batch_size, chunks, point_bytes
    from adcli.engine.evaluate import bind_inputs, infer_shapes
    from adcli.engine.results import require_scalar
    module = engine_module(program, "jax", of, wrt)
    graph = program.graph
    name, out = program.output_node(of)
    size, batched = batch_size(graph, given, names)
    bound = bind_inputs(graph, given, batched={graph.nodes[i].label for i in batched})
    shapes = infer_shapes(graph, {i: np.shape(v)[1:] if i in batched else np.shape(v) for i, v in bound.items()},
                          out + 1)
    require_scalar(graph, name, out, np.broadcast_to(0.0, shapes[out]))
    values = {graph.nodes[i].label: v for i, v in bound.items()}
    points = {graph.nodes[i].label for i in batched}
    devices = jax.devices()
    mesh = Mesh(np.array(devices), ("points",))
    spread, whole = NamedSharding(mesh, Spec("points")), NamedSharding(mesh, Spec())
    shared = {label: jax.device_put(v, whole) for label, v in values.items() if label not in points}
    f = jax.jit(jax.vmap(module.grad_f, in_axes=tuple(0 if label in points else None for label in module.INPUTS)))
    per_point = point_bytes(shapes, out + 1) * 4  # the values and their cotangents, with XLA's own
    parts = []
    for start, stop in chunks(size, chunk if chunk is not None else Budget(1 << 28), per_point):
        n = stop - start
        padded = -(-n // len(devices)) * len(devices)  # each device the same number of points
        rows = {label: np.concatenate([values[label][start:stop], np.repeat(values[label][stop - 1:stop],
                                                                              padded - n, axis=0)])
                if padded > n else values[label][start:stop] for label in points}
        value, grads = f(*(jax.device_put(rows[label], spread) if label in points else shared[label]
                           for label in module.INPUTS))
        parts.append((np.asarray(value)[:n], {label: np.asarray(g)[:n] for label, g in grads.items()}))
    value = np.concatenate([v for v, _ in parts]) if parts else np.zeros(0)
    order = [graph.nodes[w].label for w in program.wrt_nodes(wrt)]  # the inputs' order, as adcli's own gives
    grads = {label: np.concatenate([g[label] for _, g in parts]) for label in order if parts and label in parts[0][1]}
    return BatchGradient(name, value.astype(np.float64), {k: g.astype(np.float64) for k, g in grads.items()},
                         np.zeros(size, dtype=bool))


def eval_by_engine(program, given: dict, engine: str, of=None) -> dict:
    """Every assigned value (or only `of`), computed by the exported module in JAX or PyTorch."""
    module = engine_module(program, engine, of)
    args = arguments(program, given, engine)
    values = module.values(*(args[label] for label in module.INPUTS))
    if of is not None:
        name, _ = program.output_node(of)
        return {name: to_numpy(values[name])} if name in values else {name: to_numpy(module.f(
            *(args[label] for label in module.INPUTS)))}
    return {label: to_numpy(v) for label, v in values.items()}
