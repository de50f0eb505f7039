"""The `cost` command: operations, flops and memory of each pass, and which mode a Jacobian wants."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from adcli.cli.app import Ascii, Checkpoint, File, FormatOption, Inputs, Json, MemoryBudget, Of, Set, Wrt, app
from adcli.cli.support import ANNOTATIONS, Style, console_for_stdout, emit_json, given_values, reporting
from adcli.errors import InputError

Dim = Annotated[Optional[list[str]], typer.Option(
    "--dim", metavar="NAME=SIZE",
    help="The size of a named dimension in input declarations; several may follow one --dim: --dim n=256 d=784.")]


def parse_dims(items) -> dict[str, int]:
    """`NAME=SIZE` items from --dim."""
    dims: dict[str, int] = {}
    for item in items or []:
        name, eq, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not eq or not name.isidentifier() or not (text.isascii() and text.isdigit()):
            raise InputError(f"--dim {item!r}: expected NAME=SIZE with a whole number, such as n=256")
        if len(text.lstrip("0")) > 12:
            raise InputError(f"--dim {name}: the size {text[:12]}… is too large")
        dims[name] = int(text)
    return dims


# ---------------------------------------------------------------------------------------------
# Human units
# ---------------------------------------------------------------------------------------------

def si(n: float, unit: str = "") -> str:
    """12,345,678 -> '12.3 M': three significant figures and a decimal prefix."""
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {prefix}{unit}"
    return f"{n:g} {unit}".rstrip()


def nbytes(n: int) -> str:
    return si(n, "B") if n >= 1000 else f"{n} B"


def cost_tables(cost, file: str, ascii_only: bool) -> list:
    """The summary line, then tables: operations, passes, the full Jacobian; and the recommendation."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from adcli.operations import fmt_shape
    from adcli.symbols import ASCII

    style = box.ASCII if ascii_only else box.SIMPLE_HEAD

    def table(*columns):
        t = Table(box=style, show_edge=False, pad_edge=False)
        for i, name in enumerate(columns):
            t.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
        return t

    inputs = ", ".join(f"{name} {fmt_shape(shape)}" for name, shape in cost.inputs) or "none"
    shape = fmt_shape(cost.output_shape) if cost.output_shape else "(scalar)"
    head = Text.assemble(("cost of ", ""), (cost.output, "bold"), f" {shape} in {file}\n",
                         f"inputs: {inputs} ({nbytes(cost.resident_bytes)} with constants; "
                         f"float64, 8 bytes per element)")
    ops = table("operation", "count", "flops")
    for name, count, flops in cost.by_op:
        ops.add_row(name, f"{count:,}", si(flops))
    ops.add_row("total", f"{cost.operations:,}", si(cost.forward.flops), style="bold")

    passes = table("one pass", "flops", "peak memory", "kept for backward")
    rows = (("forward (value only)", cost.forward, ""),
            ("reverse (one Jacobian row)", cost.reverse, nbytes(cost.reverse.kept_bytes)),
            ("forward mode (one column)", cost.forward_mode, ""))
    for label, one_pass, kept in rows:
        passes.add_row(label, si(one_pass.flops), nbytes(one_pass.peak_bytes), kept)

    j = cost.jacobian
    jac = table(f"full Jacobian, {cost.jacobian_rows:,} × {cost.jacobian_columns:,}", "passes", "flops",
                "peak memory")
    for mode in ("forward", "reverse"):
        jac.add_row(f"{mode} mode", f"{j[mode]['passes']:,}", si(j[mode]["flops"]), nbytes(j[mode]["peak_bytes"]))
    coloured = cost.coloured_json().get("coloured")
    if coloured:  # compressed by colouring: one pass per colour, each costing one pass of that mode
        for mode in ("forward", "reverse"):
            if coloured[mode]["passes"] < j[mode]["passes"]:
                jac.add_row(f"{mode} mode, coloured", f"{coloured[mode]['passes']:,}", si(coloured[mode]["flops"]),
                            nbytes(j[mode]["peak_bytes"]))

    notes = [f"A tape keeping every value would hold {nbytes(cost.all_values_bytes)}; peak memory frees each "
             "value after its last use and counts array payloads only.",
             *coloured_notes(coloured, cost.jacobian_rows, cost.jacobian_columns), *cost.notes]
    tail = Text.assemble(("recommended: ", "bold"), cost.recommendation(), "\n", "\n".join(notes))
    parts = [head, ops, passes, jac, tail]
    if ascii_only:
        parts = [Text(p.plain.translate(ASCII)) if isinstance(p, Text) else p for p in parts]
    return parts


def coloured_notes(coloured, rows: int, columns: int) -> list[str]:
    """What colouring saves, if anything: the Jacobian's passes in one mode, the Hessian's."""
    if not coloured:
        return []
    notes = []
    if coloured["forward"]["passes"] < columns or coloured["reverse"]["passes"] < rows:
        notes.append(f"The Jacobian stores {coloured['stored']:,} of {rows * columns:,} entries: columns (rows) that "
                     "share no row (column) take one pass per colour, as adcli jacobian does.")
    h = coloured.get("hessian")
    if h and h["passes"] < h["dense_passes"]:
        notes.append(f"Hessian: {h['passes']:,} coloured pass{'es' if h['passes'] != 1 else ''} instead of "
                     f"{h['dense_passes']:,} ({h['stored']:,} stored entries).")
    return notes


def schedule_table(rows, ascii_only: bool):
    """One row per checkpointing schedule: segments, values kept, predicted peak, work done again."""
    from rich import box
    from rich.table import Table
    t = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, name in enumerate(("reverse pass", "segments", "values kept", "bytes kept", "peak", "redone flops")):
        t.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for r in rows:
        label = "plain" if r.schedule == "none" else r.schedule
        t.add_row(label, f"{r.segments:,}", f"{r.kept_values:,}", nbytes(r.kept_bytes), nbytes(r.peak_bytes),
                  si(r.extra_flops))
    return t


def saved_table(rows, ascii_only: bool):
    """The values the backward pass keeps, largest first, each with where the file makes it."""
    from rich import box
    from rich.table import Table

    from adcli.operations import fmt_shape
    t = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, name in enumerate(("kept value", "shape", "bytes", "line:col", "where")):
        t.add_column(name, justify="right" if name == "bytes" else "left", no_wrap=True)
    for r in rows:
        t.add_row(r.name, fmt_shape(r.shape), nbytes(r.bytes), f"{r.line}:{r.col}", r.where)
    return t


Saved = Annotated[bool, typer.Option("--saved", help="List the values the backward pass keeps (with --checkpoint: "
                                     "the checkpoints), largest first, with where the file makes each.")]


@app.command(short_help="Operations, flops and memory of each way to differentiate.")
def cost(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: Wrt = None,
         dim: Dim = None, json_: Json = False, ascii_: Ascii = False, checkpoint: Checkpoint = None,
         memory_budget: MemoryBudget = None, saved: Saved = False, format_: FormatOption = Style.text):
    """Operations, flops and memory of a forward, a reverse and a forward-mode pass, and a full Jacobian.

    Shapes come from values (--set, --inputs) or from input declarations (named sizes with --dim).
    The program runs once, at the values given (0.5 where none is), to find the sparsity pattern
    and count the passes of a Jacobian and Hessian compressed by colouring.


    \b
    Example: adcli cost samples/mlp.ad --dim n=256 d=784 h=1024 k=10
    """
    from adcli.engine.checkpoint import parse_budget, parse_kind
    from adcli.engine.cost import add_colours, program_cost, saved_values, schedule_costs
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given, dims = given_values(set_, inputs, program), parse_dims(dim)
        result = program_cost(program, given, of=of, wrt=wrt, dims=dims)
        add_colours(result, program, given, of=of, wrt=wrt, dims=dims)
        budget = None if memory_budget is None else parse_budget(memory_budget)
        kind = None if checkpoint is None and budget is None else parse_kind(checkpoint or "auto")
        schedules = [] if kind is None else schedule_costs(program, given, [kind], of, wrt, dims, budget)
        kept = saved_values(program, given, of, wrt, dims, kind, budget) if saved else []
    if json_:
        out = result.to_json()
        if schedules:
            out["checkpoint"] = [r.to_json() for r in schedules]
        if saved:
            out["saved"] = [r.to_json(program.graph.file) for r in kept]
        emit_json(out)
        return
    from adcli.cli.terminal import show
    console, ascii_only = console_for_stdout(ascii_)
    parts = cost_tables(result, program.graph.file, ascii_only)
    if schedules:
        parts.append(schedule_table(schedules, ascii_only))
    if saved:
        parts.append(saved_table(kept, ascii_only))
    show(console, *parts)
