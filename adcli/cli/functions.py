"""The `functions` command: every function and operator a .ad file can use, with its derivative."""

from __future__ import annotations

import sys
import textwrap
from typing import Annotated, Optional

import typer

from adcli.cli.app import Ascii, Json, app
from adcli.cli.support import emit_json, reporting
from adcli.errors import InputError

WIDTH = 80
CALL = 26  # the width of the call column


def function_lines(rows: list[dict]) -> list[str]:
    """Rows as text: a heading per family, each call with its meaning, then its derivative."""
    lines, family = [], None
    for row in rows:
        if row["family"] != family:
            family = row["family"]
            lines += (["", family] if lines else [family])
        call = row["call"]
        body = textwrap.wrap(row["meaning"], WIDTH - CALL - 2) or [""]
        derivative = textwrap.wrap(row["derivative"], WIDTH - CALL - 2)
        convention = textwrap.wrap(f"where it has none: {row['convention']}", WIDTH - CALL - 2) \
            if row["convention"] else []
        first = f"  {call}".ljust(CALL) if len(call) + 2 < CALL else f"  {call}\n" + " " * CALL
        lines.append(first + body[0])
        lines += [" " * CALL + part for part in body[1:] + derivative + convention]
    return lines


@app.command(short_help="Every function of the language, with its derivative.")
def functions(name: Annotated[Optional[str], typer.Argument(
                  metavar="[NAME]", help="One function (or operator) to describe; default: all of them.",
                  show_default=False)] = None,
              json_: Json = False, ascii_: Ascii = False):
    """Every function and operator of the language, with its meaning and its derivative.


    \b

    Example: adcli functions log1p
    """
    from adcli.operations import function_table
    from adcli.symbols import ASCII, can_encode
    with reporting():
        rows = function_table()
        if name is not None:
            from adcli.operations import FUNCTIONS
            meant = {op.name for op in FUNCTIONS.get(name, ())}  # an alias (concatenate) means its function
            chosen = [row for row in rows if name in (row["name"], row["operation"]) or row["operation"] in meant]
            if not chosen:
                from adcli.language.syntax_errors import unknown_function_message
                raise InputError(unknown_function_message(name))
            rows = chosen
    if json_:
        emit_json(rows)
        return
    text = "\n".join(function_lines(rows)) + "\n"
    if ascii_ or not can_encode(sys.stdout):
        text = text.translate(ASCII)
    sys.stdout.write(text)
