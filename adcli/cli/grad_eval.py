"""What `adcli grad` and `adcli eval` do, as plain functions without typer: the typer commands
(adcli.cli.grad) and the fast path that answers the plain forms of both before typer loads
(adcli.cli.entry) call the same code, so they print the same bytes and exit with the same codes."""

from __future__ import annotations

import sys
from enum import Enum

from adcli.cli.support import (ANNOTATIONS, Style, console_for_stdout, emit_json, given_values, guard_command,
                               kink_notes, notify, plain_out, reporting, run_main)
from adcli.errors import InputError


class GradMode(str, Enum):
    reverse = "reverse"
    forward = "forward"


class Engine(str, Enum):
    numpy = "numpy"
    jax = "jax"
    torch = "torch"


def only_batched(batch, run, chunk):
    """The --batch run's settings; --workers, --scheduler, -o and --resume are for --batch alone."""
    from adcli.cli.batch import Run
    run = run or Run(chunk)
    given = [option for option, value in (("--workers", run.workers), ("--scheduler", run.scheduler),
                                           ("-o", run.output)) if value is not None] + ["--resume"] * run.resume
    if given and not batch:
        raise InputError(f"{given[0]} is for the chunks of a --batch run: give --batch NAME too")
    if run.resume and run.output is None:
        raise InputError("--resume goes on with the run whose results are in -o FOLDER: give -o too")
    return run


def grad_command(file: str, set_=None, inputs=None, of=None, wrt=None, json_=False, full=False, strict=False,
                 ascii_=False, engine=Engine.numpy, batch=None, chunk=None, checkpoint=None, memory_budget=None,
                 mode=GradMode.reverse, format_=Style.text, run=None) -> None:
    """The output's value and its gradient with respect to every input (see `adcli grad --help`)."""
    from adcli.engine.diagnose import inspect_grad
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program, batch)
        run = only_batched(batch, run, chunk)
        kinks, notes_first = [], []
        if batch and checkpoint is None and memory_budget is not None:
            run.budget = memory_budget  # with --batch, the budget sizes the chunks
        if checkpoint is not None or (memory_budget is not None and not batch):
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
        elif batch and engine is Engine.jax:
            from adcli.cli.export import batch_grad_jax
            if mode is GradMode.forward or run.workers or run.scheduler or run.output:
                raise InputError("--engine jax --batch runs the exported module under jax.vmap on JAX's devices: "
                                 "leave out --mode forward, --workers, --scheduler and -o (adcli's own engine "
                                 "takes them)")
            result, notes = batch_grad_jax(program, given, batch, run.chunks(), of, wrt), []
        elif batch:
            from adcli.cli.batch import batch_grad
            only_numpy(engine, "--batch", mode is GradMode.forward)
            result, notes, kinks = batch_grad(program, given, batch, run, of, wrt, strict)
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
    if batch and run.output is not None:
        from adcli.cli.batch import written
        written(run.output, result.output, len(result.value), json_)
        return
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


def eval_command(file: str, set_=None, inputs=None, of=None, json_=False, full=False, strict=False, ascii_=False,
                 engine=Engine.numpy, batch=None, chunk=None, format_=Style.text, run=None) -> None:
    """The value of every assignment, or of one with --of (see `adcli eval --help`)."""
    from adcli.engine.diagnose import inspect_eval
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program, batch)
        run = only_batched(batch, run, chunk)
        if batch:
            from adcli.cli.batch import batch_eval
            only_numpy(engine, "--batch")
            values, notes = batch_eval(program, given, batch, run, of, strict)
        elif engine is Engine.numpy:
            values = program.eval(of=of, **given)
        else:
            from adcli.cli.export import eval_by_engine
            values = eval_by_engine(program, given, engine.value, of)
        notify(notes if batch else [inspect_eval(program, given, of, values, strict)])
    if batch and run.output is not None:
        from adcli.cli.batch import written
        written(run.output, of or program.graph.output_name, len(next(iter(values.values()))), json_)
        return
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


def run_plain(command: str, file: str, items: list[str], flags: list[str]) -> None:
    """`adcli grad` or `adcli eval` from the fast path (adcli.cli.entry.plain_request), guarded as
    the typer app guards every command, exiting as click would: 0 when the command returns."""
    call = grad_command if command == "grad" else eval_command
    run_main(lambda: guard_command(lambda: call(file, set_=items or None, **dict.fromkeys(flags, True))))
    sys.exit(0)
