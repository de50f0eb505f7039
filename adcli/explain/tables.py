"""Tables as plain text for output that is not a terminal, laid out exactly as Rich lays out the same
table, so that `adcli grad ... | cat` never needs Rich (a fifth of a cold start).

Only what is sure to come out the same is written here: Rich's SIMPLE_HEAD table without edges,
every line within the width and every character one cell wide. Anything else (--ascii's box, a
wide or combining character, a line that would need wrapping) answers None and the caller prints
with Rich as before.
"""

from __future__ import annotations

import os
import sys
import unicodedata

from adcli.numbers import format_block, format_value
from adcli.operations import fmt_shape

GAP = 3  # the spaces Rich's SIMPLE_HEAD box puts between columns: padding, separator, padding


def off_terminal() -> bool:
    """Whether Rich would treat stdout as no terminal (no colour, no live display)."""
    env = os.environ
    if "FORCE_COLOR" in env or "TTY_COMPATIBLE" in env:  # Rich's overrides: let Rich decide
        return False
    try:
        return not sys.stdout.isatty()
    except ValueError:
        return False


def output_width() -> int:
    """The width Rich gives a console on stdout: a terminal on any standard stream, COLUMNS over it, else 80."""
    width = None
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd).columns
            break
        except (AttributeError, ValueError, OSError):
            pass
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


def single_width(text: str) -> bool:
    """Every character takes one cell: no wide, combining or control characters (or a tab)."""
    return text.isascii() and text.isprintable() or all(
        ch.isprintable() and not unicodedata.combining(ch) and unicodedata.east_asian_width(ch) not in "WF"
        for ch in text)


def shape_text(value) -> str:
    shape = getattr(value, "shape", ())
    return "scalar" if shape == () else fmt_shape(shape)


def array_cells(columns: list[str], rows: list[list], full: bool, width: int, is_text=None) -> list[list]:
    """The table's cells, an array written as a block of lines: each array row on its own line, rows too
    wide for the room the other columns leave wrapped by numpy at that width, so no line exceeds it."""
    is_text = is_text or (lambda cell: isinstance(cell, str))
    texts = [[cell if is_text(cell) else None for cell in row] for row in rows]
    plain = [max([len(c)] + [len(str(t[i])) for t in texts if t[i] is not None]) for i, c in enumerate(columns)]
    arrays = [i for i in range(len(columns)) if any(t[i] is None for t in texts)]
    fixed = sum(w for i, w in enumerate(plain) if i not in arrays) + GAP * (len(columns) - 1)
    room = max(24, (width - fixed) // max(len(arrays), 1))
    return [[t if t is not None else format_block(cell, full, room) for cell, t in zip(row, text)]
            for row, text in zip(rows, texts)]


def table_text(columns: list[str], cells: list[list[str]], width: int) -> str | None:
    """The table as Rich writes it off a terminal (trailing spaces removed), or None if Rich would
    have to shrink or wrap it."""
    blocks = [[str(cell).split("\n") for cell in row] for row in cells]
    widths = [max([len(name)] + [len(line) for row in blocks for line in row[i]]) for i, name in enumerate(columns)]
    total = sum(widths) + GAP * (len(columns) - 1)
    every = columns + [line for row in blocks for cell in row for line in cell]
    if total > width or not all(single_width(text) for text in every):
        return None
    lines = [(" " * GAP).join(name.ljust(w) for name, w in zip(columns, widths)).rstrip(), "─" * total]
    for row in blocks:
        for k in range(max(len(cell) for cell in row)):
            parts = [(cell[k] if k < len(cell) else "").ljust(w) for cell, w in zip(row, widths)]
            lines.append((" " * GAP).join(parts).rstrip())
    return "\n".join(lines)


def lines_text(lines: list[str], width: int) -> str | None:
    """Lines of prose as Rich prints them when each fits (None: Rich would wrap one)."""
    if not all(len(line) <= width and single_width(line) for line in lines):
        return None
    return "\n".join(lines)


def batch_words(size: int, names, what: str) -> str:
    """`1000 points (x batched; other inputs shared): values and gradients per point`."""
    return (f"{size} point{'s' if size != 1 else ''} ({', '.join(names)} batched; other inputs shared): {what} "
            "per point")


def grad_text(result, full: bool, width: int, batch=None) -> str | None:
    """`grad`'s output off a terminal: the value line, then input, shape and gradient."""
    lead = [batch_words(len(result.value), batch, "values and gradients")] if batch else []
    head = lines_text(lead + [f"{result.output} = {format_value(result.value, full)}"], width)
    columns = ["input", "shape", f"∂{result.output}/∂input"]
    rows = [[name, shape_text(g), g] for name, g in result.grad.items()]
    table = table_text(columns, array_cells(columns, rows, full, width), width)
    return None if head is None or table is None else f"{head}\n{table}\n"


def values_text(values: dict, full: bool, width: int, where: dict | None = None, batch=None) -> str | None:
    """`eval`'s output off a terminal: name, shape and value of each (and where it was made)."""
    columns = ["name", "shape", "value"] + (["where"] if where else [])
    rows = [[name, shape_text(v), v] + ([where.get(name, "")] if where else []) for name, v in values.items()]
    lead = lines_text([batch_words(len(next(iter(values.values()))), batch, "values")], width) \
        if batch and values else ""
    table = table_text(columns, array_cells(columns, rows, full, width), width)
    if lead is None or table is None:
        return None
    return (f"{lead}\n" if lead else "") + table + "\n"
