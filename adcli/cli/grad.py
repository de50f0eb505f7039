"""`adcli grad` and `adcli eval`: their options, as typer declares them; the work is in adcli.cli.grad_eval."""

from __future__ import annotations

from typing import Annotated

import typer

from adcli.cli.app import (Ascii, Batch, Checkpoint, Chunk, File, FormatOption, Full, Inputs, Json, MemoryBudget, Of,
                           BatchOutput, Resume, Scheduler, Set, Strict, Workers, Wrt, app)
from adcli.cli.batch import Run
from adcli.cli.grad_eval import Engine, GradMode, eval_command, grad_command
from adcli.cli.support import Style

EngineOption = Annotated[Engine, typer.Option(
    "--engine", case_sensitive=False, help="numpy (adcli's own), or the exported module run in jax or torch "
    "(pip install 'adcli[jax]' or 'adcli[torch]').")]


@app.command(short_help="Value and gradient of the output, by reverse or forward mode.")
def grad(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: Wrt = None,
         json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
         engine: EngineOption = Engine.numpy, batch: Batch = None, chunk: Chunk = None,
         workers: Workers = None, scheduler: Scheduler = None, output: BatchOutput = None, resume: Resume = False,
         checkpoint: Checkpoint = None, memory_budget: MemoryBudget = None,
         mode: Annotated[GradMode, typer.Option("--mode", help="reverse: one backward pass; forward: one "
                                                "pass per input element (the same gradient).")] = GradMode.reverse,
         format_: FormatOption = Style.text):
    """The output's value and its gradient with respect to every input (reverse mode, or --mode forward).


    \b

    Example: adcli grad samples/relu.ad --set W=2 x=3 b=1
    """
    grad_command(file, set_, inputs, of, wrt, json_, full, strict, ascii_, engine, batch, chunk, checkpoint,
                 memory_budget, mode, format_, Run(chunk, workers, scheduler, output, resume))


@app.command("eval", short_help="Every assigned value, or one with --of.")
def eval_(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, json_: Json = False,
          full: Full = False, strict: Strict = False, ascii_: Ascii = False, engine: EngineOption = Engine.numpy,
          batch: Batch = None, chunk: Chunk = None, workers: Workers = None, scheduler: Scheduler = None,
          output: BatchOutput = None, resume: Resume = False, format_: FormatOption = Style.text):
    """The value of every assignment, or of one with --of.


    \b

    Example: adcli eval samples/product.ad --set x=17
    """
    eval_command(file, set_, inputs, of, json_, full, strict, ascii_, engine, batch, chunk, format_,
                 Run(chunk, workers, scheduler, output, resume))
