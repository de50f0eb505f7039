"""The `trace` command: the step-by-step listing of reverse (or forward) mode, in six formats."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from adcli.cli.app import Ascii, Checkpoint, File, Inputs, Json, MemoryBudget, Of, Set, Strict, app
from adcli.cli.grad_eval import GradMode as Mode
from adcli.cli.support import ANNOTATIONS, given_values, kink_notes, notify, reporting, write_file
from adcli.errors import InputError
from adcli.symbols import can_encode


class Format(str, Enum):
    rich = "rich"
    plain = "plain"
    markdown = "markdown"
    latex = "latex"
    json = "json"
    html = "html"
    github = "github"  # the plain trace, with errors and warnings as GitHub Actions annotations


class Phase(str, Enum):
    forward = "forward"
    backward = "backward"


FormatOption = Annotated[Optional[Format], typer.Option(
    "--format", "-f", case_sensitive=False, show_default=False,
    help="rich (default on a terminal), plain (default otherwise), markdown, latex, json, or html (a page to "
    "step through in a browser); github: plain, with errors and warnings as GitHub Actions annotations.")]
OutputOption = Annotated[Optional[str], typer.Option(
    "--output", "-o", metavar="PATH", help="Write the trace to this file instead of standard output.",
    show_default=False)]
OnlyOption = Annotated[Optional[Phase], typer.Option(
    "--only", case_sensitive=False, help="List only the forward or only the backward phase.")]
ModeOption = Annotated[Mode, typer.Option(
    "--mode", case_sensitive=False, help="reverse: accumulators, as backprop; forward: (value, tangent) pairs.")]
TraceWrt = Annotated[Optional[list[str]], typer.Option(
    "--wrt", metavar="NAME", help="Forward mode: the input whose tangent is 1 (an array's every element), or "
    "NAME[i, j] for one element. Reverse mode: limit the gradient to these inputs (repeatable).")]
PracticeOption = Annotated[bool, typer.Option(
    "--practice", help="With an HTML page: open it in practice mode, where each scalar step's new value is asked "
    "for before it is shown (a toggle on the page turns it off).")]
VaryOption = Annotated[Optional[int], typer.Option(
    "--vary", metavar="SEED", help="Trace at other input values, drawn from SEED near the given ones (whole numbers "
    "stay whole), so that each student of a class gets an exercise of their own.", show_default=False)]
UnrollOption = Annotated[bool, typer.Option(
    "--unroll", help="List every iteration of every loop (by default a loop of more than six iterations lists its "
    "first two and last two, and one line says what it folded).")]
IterationsOption = Annotated[Optional[str], typer.Option(
    "--iterations", metavar="SLICES", help="The iterations of each loop to list, as Python slices and numbers: "
    "0:3,-2: lists the first three and the last two.", show_default=False)]
FullOption = Annotated[bool, typer.Option(
    "--full", help="Every digit and every element (default: 8 significant digits, and arrays "
    "abbreviated as numpy does until a plain line fits 80 columns).")]


def default_format() -> Format:
    """Rich for a person at a terminal; plain text for pipes, files and CI logs."""
    return Format.rich if sys.stdout.isatty() else Format.plain


@app.command(short_help="Every step of the derivative, as a worked example.")
def trace(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: TraceWrt = None,
          mode: ModeOption = Mode.reverse, format_: FormatOption = None, only: OnlyOption = None,
          ascii_: Ascii = False, full: FullOption = False, strict: Strict = False, json_: Json = False,
          checkpoint: Checkpoint = None, memory_budget: MemoryBudget = None, output: OutputOption = None,
          practice: PracticeOption = False, vary: VaryOption = None, unroll: UnrollOption = False,
          iterations: IterationsOption = None):
    """Every step of the derivative's computation, as in the lecture's worked examples.


    \b

    Example: adcli trace samples/product.ad --set x=17

    Example: adcli trace samples/relu.ad --set W=2 x=3 b=1 -o trace.html

    Example: adcli trace samples/product.ad --set x=17 --practice -o drill.html

    Example: adcli trace samples/rnn.ad --inputs samples/rnn.json --iterations -1
    """
    from adcli.engine.diagnose import inspect_grad
    from adcli.engine.program import load
    from adcli.engine.results import Gradient
    from adcli.explain.formats import render_json, render_latex, render_markdown, render_plain
    from adcli.explain.trace import forward_trace, reverse_trace
    only_phase = only.value if only else None
    if json_ and format_ not in (None, Format.json):
        raise typer.BadParameter("--json means --format json; give one of them", param_hint="'--json'")
    ANNOTATIONS.start(format_)
    with reporting():
        if unroll and iterations is not None:
            raise InputError("--unroll lists every iteration and --iterations chooses some: give one of them")
        # a trace lists every step: loops unrolled (but the middle of a very long one, unless --unroll)
        program = load(file, unroll=True if unroll else f"trace:{iterations or ''}")
        given = given_values(set_, inputs, program)
        if vary is not None:
            from adcli.explain.practice import varied
            given = varied(program, given, vary, of)
        if mode is Mode.forward:
            if checkpoint is not None or memory_budget is not None:
                raise InputError("--checkpoint is for reverse mode: forward mode keeps nothing for a backward pass")
            if only_phase == "backward":
                raise InputError("--only backward: a forward-mode trace has no backward phase")
            if wrt and len(wrt) > 1:
                raise InputError("forward mode traces one input's tangent: give --wrt once")
            result = forward_trace(program, given, wrt[0] if wrt else None, of)
            warning, kinks = inspect_grad(program, given, of, [result.wrt_label], strict=strict)
        else:
            schedule = None
            if checkpoint is not None or memory_budget is not None:
                schedule = program.checkpointed(checkpoint or "auto", memory_budget).plan(of, wrt, **given)[0]
            result = reverse_trace(program, given, of, wrt, schedule)
            computed = Gradient(result.output, result.value,
                                {s.label: s.value for s in result.steps if s.kind == "result"})
            warning, kinks = inspect_grad(program, given, of, wrt, computed, strict=strict)
    if not unroll:  # the page steps through every state, so it folds loops into boxes instead
        from adcli.explain.folding import fold
        with reporting():
            fold(result, program.graph, iterations)
    notify([warning] + kink_notes(program.graph, kinks))
    if not program.graph.parameters() and mode is Mode.reverse and not wrt:
        notify(["adcli: note: this file has no inputs to differentiate: nothing to trace but its values"])
    chosen = Format.json if json_ else format_ or (by_suffix(output) if output else default_format())
    if practice and chosen is not Format.html:
        with reporting():
            raise InputError("--practice is for the HTML page: add -o page.html (or --format html)")
    if chosen is Format.rich:
        if output is not None:
            with reporting():
                raise InputError("--format rich is for a terminal: write a file with --format plain, markdown, "
                                 "latex, json or html")
        from adcli.cli.terminal import make_console, show, trace_renderables
        ascii_only = ascii_ or not can_encode(sys.stdout)
        console = make_console(ascii_only)
        show(console, *trace_renderables(result, ascii_only, full, only_phase, console.width))
        return
    # A file gets Unicode unless --ascii asks otherwise; a stream gets what it can show.
    ascii_only = ascii_ or (output is None and not can_encode(sys.stdout))
    with reporting():
        if chosen is Format.json:
            text = render_json(result, only_phase, [k.to_json() for k in kinks])
        elif chosen is Format.latex:
            text = render_latex(result, full, only_phase)
        elif chosen is Format.html:
            from adcli.explain.html import page_html
            text = page_html(program, result, ascii_only, full, only_phase, practice)
        else:
            render = render_markdown if chosen is Format.markdown else render_plain
            text = render(result, ascii_only, full, only_phase)
        if output is None:
            sys.stdout.write(text)
        else:
            write_file(output, text, sources=(file, inputs))


SUFFIXES = {".html": Format.html, ".htm": Format.html, ".json": Format.json, ".tex": Format.latex,
            ".md": Format.markdown}


def by_suffix(path: str) -> Format:
    """-o without --format: the file's extension decides (trace.html is a page), else plain text."""
    from pathlib import PurePath
    return SUFFIXES.get(PurePath(path).suffix.lower(), Format.plain)
