"""Terminal rendering of results with Rich: reads plain results, never computes them."""

from __future__ import annotations

import sys

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .registry import fmt_shape
from .symbols import ASCII
from .values import format_block, format_value

def make_console(ascii_only: bool = False) -> Console:
    """A stdout console; colour follows the terminal and NO_COLOR, markup is never interpreted."""
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False,
                   safe_box=True, legacy_windows=False,
                   **({"color_system": None} if ascii_only else {}))


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


def shape_text(value) -> str:
    shape = getattr(value, "shape", ())
    return "scalar" if shape == () else fmt_shape(shape)


def grad_table(result, ascii_only: bool = False, full: bool = False) -> list:
    """The output's value line, then a table of input, shape and gradient."""
    header = Text.assemble((result.output, "bold"), " = ", format_value(result.value, full))
    symbol = f"∂{result.output}/∂input"
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("input", style="cyan", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column(symbol.translate(ASCII) if ascii_only else symbol)
    for name, g in result.grad.items():
        table.add_row(name, shape_text(g), format_block(g, full))
    return [header, table]


def values_table(values: dict, ascii_only: bool = False, full: bool = False) -> Table:
    """One row per assigned value: name, shape, value."""
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("value")
    for name, value in values.items():
        table.add_row(name, shape_text(value), format_block(value, full))
    return table
