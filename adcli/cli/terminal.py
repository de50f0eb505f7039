"""Terminal rendering of results with Rich: reads plain results, never computes them."""

from __future__ import annotations

import os
import sys

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adcli.explain.formats import (array_rule, folded_text, header_lines, line_text, listed, make_notation, sections,
                                   step_parts, with_contexts)
from adcli.explain.notation import brief_value
from adcli.explain.tables import array_cells, batch_words, shape_text  # noqa: F401 - shape_text is rendering's too
from adcli.numbers import format_value
from adcli.symbols import ASCII


def plain_terminal() -> bool:
    """NO_COLOR (set and not empty) or TERM=dumb: no escape sequences at all, not even bold."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def make_console(ascii_only: bool = False) -> Console:
    """A stdout console; colour follows the terminal, NO_COLOR and TERM=dumb (no escape sequences at
    all, as docs/errors.md promises), and markup in data is never interpreted."""
    plain = ascii_only or plain_terminal()
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False,
                   safe_box=True, legacy_windows=False, **({"color_system": None} if plain else {}))


def show(console: Console, *parts) -> None:
    """Print renderables; off a terminal, without the trailing spaces Rich pads table cells with."""
    if console.is_terminal:
        for part in parts:
            console.print(part)
        return
    with console.capture() as captured:
        for part in parts:
            console.print(part)
    console.file.write("\n".join(line.rstrip() for line in captured.get().split("\n")))


def array_table(columns: list[str], rows: list[list], ascii_only: bool, full: bool, width: int = 80) -> Table:
    """A table whose cells may hold arrays: each array row is written on its own line, and rows too
    wide for the room left by the other columns are wrapped by numpy at that width, aligned, so no
    line ever exceeds `width` (the terminal's, 80 off a terminal)."""
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    cells = array_cells(columns, rows, full, width, lambda cell: isinstance(cell, (str, Text)))
    arrays = {i for i in range(len(columns)) if any(not isinstance(row[i], (str, Text)) for row in rows)}
    for i, name in enumerate(columns):
        table.add_column(name.translate(ASCII) if ascii_only else name, style="cyan" if i == 0 else None,
                         no_wrap=True, overflow="fold" if i in arrays else "ellipsis")
    for row in cells:
        table.add_row(*row)
    return table


def grad_table(result, ascii_only: bool = False, full: bool = False, width: int = 80, batch=None) -> list:
    """The output's value line, then a table of input, shape and gradient (with --batch: a line
    saying how many points, and every shape with the points' axis first)."""
    header = Text.assemble((result.output, "bold"), " = ", format_value(result.value, full))
    rows = [[name, shape_text(g), g] for name, g in result.grad.items()]
    lead = [batch_line(len(result.value), batch, "values and gradients")] if batch else []
    return lead + [header, array_table(["input", "shape", f"∂{result.output}/∂input"], rows, ascii_only, full,
                                       width)]


def batch_line(size: int, names, what: str) -> Text:
    """`1000 points (x batched; other inputs shared): values and gradients per point`."""
    return Text(batch_words(size, names, what), style="dim")


def values_table(values: dict, ascii_only: bool = False, full: bool = False, width: int = 80,
                 where: dict | None = None) -> Table:
    """One row per assigned value: name, shape, value (and the loop iteration or call that made it)."""
    columns = ["name", "shape", "value"] + (["where"] if where else [])
    rows = [[name, shape_text(value), value] + ([where.get(name, "")] if where else []) for name, value in values.items()]
    return array_table(columns, rows, ascii_only, full, width)


def trace_renderables(trace, ascii_only: bool = False, full: bool = False, only: str | None = None,
                      width: int = 80) -> list:
    """A header, then one table: a titled section per phase, each step with its source line. Lines
    use the terminal's `width`; an array accumulator's step shows its value before, the share it
    adds and its value after, each on a line of its own."""
    numbers = len(str(len(trace.steps)))
    room = max(40, width - numbers - 14)  # the step column: the width less the number and line columns
    nt = make_notation(ascii_only, full, room)
    head = header_lines(nt, trace)
    out: list = [Text(nt.finish(head[0]), style="bold")] + [Text(nt.finish(line)) for line in head[1:]]
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("step")
    table.add_column("line", justify="right", style="dim", no_wrap=True)
    for name, steps in sections(listed(trace, only)):
        table.add_row("", Text(name.capitalize(), style="bold cyan"), "")
        for where, n, step in with_contexts(trace, steps):
            if where is not None:
                table.add_row("", Text(nt.finish(f"[{where}]"), style="italic magenta"), "")
                continue
            if n is None:
                table.add_row("", Text(nt.finish(folded_text(nt, step)), style="italic dim"), "",
                              end_section=step is steps[-1][1])
                continue
            line = step.line if step.kind in ("compute", "accumulate") else 0
            if step.kind == "accumulate" and not step.scalar:
                text = array_step(nt, step, trace.output, room)
            else:
                parts = step_parts(nt, step, trace)
                text = Text(nt.finish(line_text(parts)))
                if step.kind in ("compute", "result"):  # the name being defined stands out
                    text.stylize("bold", 0, len(nt.finish(parts[0][0])))
            table.add_row(str(n), text, str(line) if line else "", end_section=step is steps[-1][1])
    return out + [table]


def array_step(nt, step, output: str, room: int) -> Text:
    """An array accumulator's update: the rule, then before, the share added and after, each array
    written to fit the room (or whole, wrapping, with --full)."""
    acc = nt.grad(output, step.label)
    text = Text(nt.finish(f"{acc} {nt.arrow} {array_rule(nt, step, output)}"))
    before = np.zeros_like(np.asarray(step.after, dtype=np.float64)) if step.before is None else step.before
    for word, value in (("before", before), ("+ share", step.contribution), ("= after", step.after)):
        shape = shape_text(value)
        label = f"  {word:<8}{shape} "
        text.append("\n" + nt.finish(label), style="dim")
        text.append(nt.finish(brief_value(value, room - len(label), nt.full)))
    return text
