"""`adcli grad` and `adcli eval`: the value and gradient of the output, and every assigned value."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from adcli.cli.app import (ANNOTATIONS, Ascii, Batch, Checkpoint, Chunk, File, FormatOption, Full, Inputs, Json,
                           MemoryBudget, Of, Set, Strict, Style, Wrt, app, console_for_stdout, emit_json, given_values,
                           kink_notes, notify, plain_out, reporting)
from adcli.errors import InputError


class GradMode(str, Enum):
    reverse = "reverse"
    forward = "forward"


class Engine(str, Enum):
    numpy = "numpy"
    jax = "jax"
    torch = "torch"


EngineOption = Annotated[Engine, typer.Option(
    "--engine", case_sensitive=False, help="numpy (adcli's own), or the exported module run in jax or torch "
    "(pip install 'adcli[jax]' or 'adcli[torch]').")]


@app.command(short_help="Value and gradient of the output, by reverse or forward mode.")
def grad(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: Wrt = None,
         json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
         engine: EngineOption = Engine.numpy, batch: Batch = None, chunk: Chunk = None,
         checkpoint: Checkpoint = None, memory_budget: MemoryBudget = None,
         mode: Annotated[GradMode, typer.Option("--mode", help="reverse: one backward pass; forward: one "
                                                "pass per input element (the same gradient).")] = GradMode.reverse,
         format_: FormatOption = Style.text):
    """The output's value and its gradient with respect to every input (reverse mode, or --mode forward).


    \b

    Example: adcli grad samples/relu.ad --set W=2 x=3 b=1
    """
    from adcli.engine.diagnose import inspect_grad
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        kinks, notes_first = [], []
        if checkpoint is not None or memory_budget is not None:
            given_option = "--checkpoint" if checkpoint is not None else "--memory-budget"  # the one the user wrote
            only_numpy(engine, given_option, mode is GradMode.forward)
            if batch:
                raise InputError(f"{given_option} and --batch do not combine: run the points in chunks (--chunk) "
                                 "to bound memory")
            checkpointed = program.checkpointed(checkpoint or "auto", memory_budget)
            result = checkpointed.grad(of=of, wrt=wrt, **given)
            chosen = checkpointed.schedule
            if checkpointed.kind == "auto":
                notes_first = ["adcli: note: --checkpoint auto: "
                               + ("no checkpoints needed (the plain pass fits)" if chosen.kind == "none" else
                                  f"{len(chosen.segments)} segments, {chosen.checkpoints} values kept")]
        elif batch:
            from adcli.cli.batch import batch_grad
            only_numpy(engine, "--batch", mode is GradMode.forward)
            result, notes, kinks = batch_grad(program, given, batch, chunk, of, wrt, strict)
        elif engine is not Engine.numpy:
            if mode is GradMode.forward:
                raise InputError(f"--engine {engine.value} runs the exported reverse sweep: leave out --mode forward")
            from adcli.cli.export import grad_by_engine
            result = grad_by_engine(program, given, engine.value, of, wrt)
        elif mode is GradMode.forward:
            from adcli.engine.forward import forward_grad
            result = forward_grad(program, of=of, wrt=wrt, **given)
        else:
            result = program.grad(of=of, wrt=wrt, **given)
        if not batch:
            warning, kinks = inspect_grad(program, given, of, wrt, result, strict=strict)
            notes = notes_first + [warning] + kink_notes(program.graph, kinks)
            kinks = [k.to_json() for k in kinks]
    notify(notes + ([] if result.grad or wrt else ["adcli: note: this file has no inputs to differentiate"]))
    if json_:
        from adcli.numbers import to_json
        out = {"output": result.output, "value": to_json(result.value),
               "grad": {name: to_json(g) for name, g in result.grad.items()}}
        if kinks:  # only then, so output without kinks stays exactly as it was
            out["kinks"] = kinks
        emit_json(out)
        return
    from adcli.explain.tables import grad_text
    if plain_out(lambda width: grad_text(result, full, width, batch), ascii_):
        return
    from adcli.cli.terminal import grad_table, show
    console, ascii_only = console_for_stdout(ascii_)
    show(console, *grad_table(result, ascii_only, full, console.width, batch))


@app.command("eval", short_help="Every assigned value, or one with --of.")
def eval_(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, json_: Json = False,
          full: Full = False, strict: Strict = False, ascii_: Ascii = False, engine: EngineOption = Engine.numpy,
          batch: Batch = None, chunk: Chunk = None, format_: FormatOption = Style.text):
    """The value of every assignment, or of one with --of.


    \b

    Example: adcli eval samples/product.ad --set x=17
    """
    from adcli.engine.diagnose import inspect_eval
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        if batch:
            from adcli.cli.batch import batch_eval
            only_numpy(engine, "--batch")
            values, notes = batch_eval(program, given, batch, chunk, of, strict)
        elif engine is Engine.numpy:
            values = program.eval(of=of, **given)
        else:
            from adcli.cli.export import eval_by_engine
            values = eval_by_engine(program, given, engine.value, of)
        notify(notes if batch else [inspect_eval(program, given, of, values, strict)])
    where = {k: v for k, v in program.where().items() if k in values}
    if json_:
        from adcli.numbers import to_json
        out = {"values": {name: to_json(v) for name, v in values.items()}}
        if where:  # only then, so the output of a file without loops or functions stays as it was
            out["where"] = where
        emit_json(out)
        return
    from adcli.explain.tables import values_text
    if plain_out(lambda width: values_text(values, full, width, where, batch), ascii_):
        return
    from adcli.cli.terminal import batch_line, show, values_table
    console, ascii_only = console_for_stdout(ascii_)
    lead = [batch_line(len(next(iter(values.values()))), batch, "values")] if batch and values else []
    show(console, *lead, values_table(values, ascii_only, full, console.width, where))


def only_numpy(engine: Engine, option: str, forward: bool = False) -> None:
    """Options that adcli's own engine alone runs."""
    if engine is not Engine.numpy:
        raise InputError(f"{option} runs on adcli's own engine: leave out --engine {engine.value} (or export the "
                         f"module and use the framework's vmap)")
    if forward:
        raise InputError(f"{option} computes gradients by reverse mode: leave out --mode forward (adcli jvp "
                         f"--batch gives forward mode at every point)")
