"""The `jvp` and `derivative` commands: forward mode and derivatives of higher order."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from adcli.cli.app import (Ascii, Batch, BatchOutput, Chunk, File, FormatOption, Full, Inputs, Json, Of, Resume,
                           Scheduler, Set, Strict, Workers, app)
from adcli.cli.support import ANNOTATIONS, Style, console_for_stdout, emit_json, given_values, notify, reporting

Tangent = Annotated[Optional[list[str]], typer.Option(
    "--tangent", metavar="NAME=VALUE",
    help="An input's tangent (the direction), shaped like the input or a scalar for all its elements; "
         "several may follow one --tangent. Inputs without one get 0.")]
Order = Annotated[int, typer.Option("--order", "-k", metavar="K", help="The highest order to compute (1 to 170).")]
OneWrt = Annotated[str, typer.Option("--wrt", metavar="NAME", help="The scalar input to differentiate by.",
                                     show_default=False)]


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def require_or_warn_finite(program, given: dict, of, results: dict, strict: bool) -> None:
    """Results that are NaN or infinite are never shown as clean: a warning naming where the first
    non-finite value arose, or under --strict a NonFiniteError (exit 1)."""
    from adcli.engine.diagnose import inspect_eval, nonfinite
    from adcli.errors import NonFiniteError
    notify([inspect_eval(program, given, of, results, strict)])  # raises at a non-finite value
    notify(strong_zeros_at(program, given, of, strict))
    bad = [name for name, value in results.items() if nonfinite(value)]
    if strict and bad:  # every value finite, a derivative not (sqrt at 0, say)
        _, index = program.output_node(of)
        raise NonFiniteError(f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not finite",
                             program.graph.span(index))


def strong_zeros_at(program, given: dict, of, strict: bool) -> list[str]:
    """Where the computation took 0·∞ as 0 and the derivative depends on it: warnings (an error
    under --strict), located by one reverse pass at the point."""
    from adcli.engine.strong_zero import strong_zero_report
    from adcli.operations.core import STRONG_ZEROS
    if not STRONG_ZEROS.count:
        return []
    _, out = program.output_node(of)
    values = program.values(given, upto=out)  # an array output: one reverse pass for its sum finds the places
    return strong_zero_report(program.graph, values, out, program.wrt_nodes(None), strict)


def parse_tangents(items, program) -> dict:
    """`NAME=VALUE` items from --tangent, in order; a name twice is an error, and so is a tangent for
    data or integers, refused as --wrt refuses them: they are never differentiated."""
    from adcli.engine.inputs import parse_assignments
    from adcli.errors import InputError
    tangents = parse_assignments(items or [], "--tangent")
    if not tangents:
        raise InputError("give a direction with --tangent NAME=VALUE (inputs without one get 0)")
    from adcli.engine.forward import require_differentiable
    inputs = set(program.inputs)
    for name in tangents:
        if name in inputs:  # an unknown name is the forward pass's to report, with its near misses
            require_differentiable(program, name)
    return tangents


def new_table(ascii_only: bool, *columns: str):
    """A table in adcli's style; the first column holds names."""
    from rich import box
    from rich.table import Table

    from adcli.symbols import ASCII
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column.translate(ASCII) if ascii_only else column,
                         style="cyan" if i == 0 else None, no_wrap=i < len(columns) - 1)
    return table


def headline(name: str, value, full: bool, where: str = "", note: str = ""):
    """`y = 306 at x = 17`, then a dim note such as the mode and the number of passes."""
    from rich.text import Text

    from adcli.numbers import format_value
    parts = [Text.assemble((name, "bold"), " = ", format_value(value, full), where)]
    return parts + ([Text(note, style="dim", no_wrap=True, overflow="ignore")] if note else [])


def fit(text: str, ascii_only: bool) -> str:
    from adcli.symbols import ASCII
    return text.translate(ASCII) if ascii_only else text


# ---------------------------------------------------------------------------------------------
# adcli jvp
# ---------------------------------------------------------------------------------------------


def to_json(value):
    """A value as JSON data; numpy is imported only when a command asks for JSON."""
    from adcli.numbers import to_json as convert
    return convert(value)

@app.command(short_help="A directional derivative along given tangents (forward mode).")
def jvp(file: File, tangent: Tangent = None, set_: Set = None, inputs: Inputs = None, of: Of = None,
        json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
        batch: Batch = None, chunk: Chunk = None, workers: Workers = None, scheduler: Scheduler = None,
        output: BatchOutput = None, resume: Resume = False, format_: FormatOption = Style.text):
    """The output's value and its directional derivative along the input tangents (forward mode).


    \b

    Example: adcli jvp samples/product.ad --set x=17 --tangent x=1
    """
    import numpy as np

    from adcli.cli.grad_eval import only_batched
    from adcli.cli.terminal import shape_text, show
    from adcli.engine.forward import jvp as directional
    from adcli.engine.program import load
    from adcli.numbers import format_block
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program, batch)
        from adcli.cli.batch import Run
        run = only_batched(batch, Run(chunk, workers, scheduler, output, resume), chunk)
        if batch:
            from adcli.cli.batch import batch_jvp
            result, notes = batch_jvp(program, parse_tangents(tangent, program), given, batch, run, of, strict)
        else:
            result = directional(program, parse_tangents(tangent, program), of=of, **given)
            require_or_warn_finite(program, given, of, {result.output: result.value,
                                                        f"the tangent of {result.output}": result.tangent}, strict)
    if batch:
        notify(notes)
        if output is not None:
            from adcli.cli.batch import written
            written(output, result.output, len(result.value), json_)
            return
    if json_:
        emit_json({"output": result.output, "value": to_json(result.value), "tangent": to_json(result.tangent),
                   "tangents": {name: to_json(t) for name, t in result.seeds.items()}})
        return
    console, ascii_only = console_for_stdout(ascii_)
    rows = []
    for name in program.inputs:
        value = np.asarray(given[name], dtype=np.float64)
        seed = result.seeds.get(name)  # as given (with --batch, for one point or for every point)
        rows.append([name, "input", shape_text(value), value, np.zeros(value.shape) if seed is None else
                     np.asarray(seed, dtype=np.float64)])
    rows.append([result.output, "output", shape_text(np.asarray(result.value)), result.value, result.tangent])
    if batch:  # arrays of every point: wrapped to the terminal's width
        from adcli.cli.terminal import array_table, batch_line
        show(console, batch_line(len(result.value), batch, "values and tangents"),
             array_table(["name", "role", "shape", "value", "tangent"], rows, ascii_only, full, console.width))
        return
    table = new_table(ascii_only, "name", "role", "shape", "value", "tangent")
    for row in rows:
        table.add_row(*row[:3], format_block(row[3], full), format_block(row[4], full))
    show(console, table)


# ---------------------------------------------------------------------------------------------
# adcli derivative
# ---------------------------------------------------------------------------------------------

def derivative_symbol(output: str, wrt: str, k: int, ascii_only: bool) -> str:
    """dy/dx, d²y/dx², …; d^2y/dx^2 in ASCII."""
    if k == 1:
        return f"d{output}/d{wrt}"
    if ascii_only:
        return f"d^{k}{output}/d{wrt}^{k}"
    power = str(k).translate(SUPERSCRIPTS)
    return f"d{power}{output}/d{wrt}{power}"


@app.command(short_help="Derivatives of orders 1 to K along one scalar input.")
def derivative(file: File, wrt: OneWrt, order: Order = 1, set_: Set = None, inputs: Inputs = None,
               of: Of = None, json_: Json = False, full: Full = False, strict: Strict = False,
               ascii_: Ascii = False, format_: FormatOption = Style.text):
    """The derivatives of orders 1..K of the output with respect to one scalar input (Taylor series).


    \b

    Example: adcli derivative samples/product.ad --wrt x --order 3 --set x=17
    """
    from adcli.cli.terminal import shape_text, show
    from adcli.engine.higher import derivatives
    from adcli.engine.program import load
    from adcli.numbers import format_block, format_value
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        result = derivatives(program, wrt, order, of=of, **given)
        require_or_warn_finite(program, given, of, {result.output: result.value, **{
            f"derivative {k}": d for k, d in enumerate(result.derivatives, start=1)}}, strict)
    if json_:
        emit_json([to_json(d) for d in result.derivatives])
        return
    console, ascii_only = console_for_stdout(ascii_)
    table = new_table(ascii_only, "order", "derivative", "shape", "value")
    for k, d in enumerate(result.derivatives, start=1):
        table.add_row(str(k), derivative_symbol(result.output, result.wrt, k, ascii_only), shape_text(d),
                      format_block(d, full))
    show(console, *headline(result.output, result.value, full, f" at {result.wrt} = {format_value(result.at)}"), table)
