"""The `graph` and `check` commands: draw the computational graph, and check the derivatives."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import (File, Inputs, Json, Of, Set, Strict, app, console_for_stdout, emit_json, given_values, notify,
                  reporting)
from .errors import AdError, EXIT_CHECK_FAILED


class GraphFormat(str, Enum):
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"


# ---------------------------------------------------------------------------------------------
# adcli graph
# ---------------------------------------------------------------------------------------------

def caption(file: str, graph, given: dict) -> str:
    """`samples/relu.ad · W = 2, x = 3, b = 1`: the file and the values drawn (shapes for arrays)."""
    from .registry import fmt_shape
    from .values import format_number
    parts = []
    for name in graph.input_names():
        if name in given:
            v = given[name]
            parts.append(f"{name} = {format_number(v)}" if v.ndim == 0 else f"{name}: {fmt_shape(v.shape)}")
    return file + (" · " + ", ".join(parts) if parts else "")


def write_output(view, path: str, format_: GraphFormat | None) -> None:
    """Write the view to `path` in the format its extension names (which --format may not contradict)."""
    from .graphview import IMAGE_FORMATS, TEXT_FORMATS, render_image, to_dot, to_mermaid, tree_text
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_FORMATS:
        data = render_image(to_dot(view), IMAGE_FORMATS[suffix])
    elif suffix in TEXT_FORMATS:
        if format_ is not None and format_.value != TEXT_FORMATS[suffix]:
            raise AdError(f"--format {format_.value} does not match -o {path}; the extension decides")
        render = {"dot": to_dot, "mermaid": to_mermaid, "tree": tree_text}[TEXT_FORMATS[suffix]]
        data = render(view).encode("utf-8")
    else:
        known = ", ".join(list(IMAGE_FORMATS) + list(TEXT_FORMATS))
        raise AdError(f"-o {path}: cannot tell the format from '{suffix or 'no extension'}'; use one of {known}")
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        raise AdError(f"-o {path}: cannot write it ({e.strerror or e})") from None


def print_tree(view) -> None:
    """The tree on the terminal: inputs cyan, the output bold green, non-finite values bold red."""
    from rich.text import Text

    from .graphview import node_text, tree_lines
    from .symbols import ASCII
    console, ascii_only = console_for_stdout()
    for line in tree_lines(view, ascii_only):
        node = view.nodes[line.node]
        style = ("bold red" if node.nonfinite else "bold green" if node.output else "cyan" if node.kind == "input"
                 else "dim" if node.kind == "const" or line.repeat else "")
        body = node_text(node, line.note)
        if ascii_only:
            body = body.translate(ASCII)
        title, _, rest = body.partition("  ")
        console.print(Text.assemble((line.prefix, "dim"), (title, style), ("  " + rest if rest else "", "")),
                      soft_wrap=True)


@app.command()
def graph(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None,
          format_: Annotated[Optional[GraphFormat], typer.Option(
              "--format", "-f", help="tree (default), dot (Graphviz) or mermaid.")] = None,
          output: Annotated[Optional[str], typer.Option(
              "--output", "-o", metavar="PATH",
              help="Write to PATH: .svg or .png (drawn by Graphviz's dot), .dot, .mmd or .txt.")] = None):
    """The computational graph: one node per value, an edge from each operand to its result.

    With values (--set), each node also shows its value and, for a scalar output, its gradient.

    Example: adcli graph samples/relu.ad --set W=2 x=3 b=1 -o relu.svg
    """
    from .graphview import build_view, to_dot, to_mermaid
    from .program import load
    with reporting():
        program = load(file)
        given = given_values(set_, inputs)
        graph_ = program.graph
        values = program.values(given) if given or not graph_.inputs else None
        _, out = program.output_node(of)
        view = build_view(graph_, values, out, caption(graph_.file, graph_, given))
        if output is not None:
            write_output(view, output, format_)
            return
    if format_ in (None, GraphFormat.tree):
        print_tree(view)
    else:
        sys.stdout.write(to_dot(view) if format_ == GraphFormat.dot else to_mermaid(view))


# ---------------------------------------------------------------------------------------------
# adcli check
# ---------------------------------------------------------------------------------------------

def sci(x) -> str:
    """An error in two significant digits, `-` when nothing was compared."""
    return "-" if x is None else f"{x:.1e}"


def worst_text(c) -> str:
    """`[2, 1]: -0.8620933734 vs -0.86209337276` (reverse vs finite differences)."""
    if c.worst is None:
        return "-"
    values = f"{c.reverse:.12g} vs {c.numeric:.12g}"
    return values if c.worst == () else f"{probe_name(c.worst)}: {values}"


def probe_name(where) -> str:
    """`[2, 1]` for an element, `direction 3` for a random direction."""
    return f"[{', '.join(map(str, where))}]" if isinstance(where, tuple) else f"direction {where}"


def check_table(report, ascii_only: bool):
    """One row per input: size, largest errors, the worst element, forward vs reverse, status."""
    from rich import box
    from rich.table import Table
    from rich.text import Text
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("input", "size", "abs err", "rel err"):
        table.add_column(name, no_wrap=True)
    table.add_column("worst: reverse vs numeric", overflow="fold")
    if report.forward:
        table.add_column("fwd-rev", no_wrap=True)
    table.add_column("status", no_wrap=True)
    from .check import FAIL, KINK, PASS, UNSURE
    styles = {PASS: "green", FAIL: "bold red", KINK: "yellow", UNSURE: "yellow"}
    for c in report.inputs:
        size = str(c.size) + ("" if c.mode == "elements" else f" ({c.probes} dirs)")
        errors = (sci(c.max_abs), sci(c.max_rel)) if c.compared else ("-", "-")
        row = [c.name, size, *errors, worst_text(c)]
        if report.forward:
            row.append(sci(c.forward_max_abs))
        row.append(Text(c.status.upper() if c.status == FAIL else c.status, styles[c.status]))
        table.add_row(*row)
    return table


def check_notes(report) -> list[str]:
    """Lines under the table: kinks met, inconclusive inputs, and the verdict."""
    lines = []
    for c in report.inputs:
        for k in c.kinks:
            unit = "elements" if c.mode == "elements" else "directions"
            count = "" if c.size == 1 else f"; at {k.probes} of {c.probes} {unit}, first {probe_name(k.first)}"
            lines.append(f"{c.name}: not differentiable here: {k.convention} at line {k.line}, col {k.col} "
                         f"({k.node}{count})")
        if c.status == "inconclusive":
            lines.append(f"{c.name}: inconclusive: at {c.unsure} of {c.probes} probes the difference lies within "
                         "the rounding noise of finite differences; try a larger --eps")
        if c.forward_failed:
            lines.append(f"{c.name}: forward and reverse mode disagree by up to {sci(c.forward_max_abs)}")
    failed = [c.name for c in report.inputs if c.status == "fail"]
    settings = f"eps {report.eps:g}, rtol {report.rtol:g}, atol {report.atol:g}"
    if report.forward:
        settings += "; forward mode compared too"
    if failed:
        lines.append(f"FAIL: {', '.join(failed)} ({len(failed)} of {len(report.inputs)} inputs; {settings})")
    else:
        counts = [f"{sum(c.status == s for c in report.inputs)} {s}" for s in ("pass", "not differentiable",
                                                                                "inconclusive")]
        lines.append(f"ok: {', '.join(n for n in counts if not n.startswith('0 '))} ({settings})")
    return lines


@app.command()
def check(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None,
          eps: Annotated[float, typer.Option("--eps", help="Finite-difference step.")] = 1e-6,
          rtol: Annotated[float, typer.Option("--rtol", help="Relative tolerance.")] = 1e-6,
          atol: Annotated[float, typer.Option("--atol", help="Absolute tolerance.")] = 1e-8,
          max_elements: Annotated[int, typer.Option(
              "--max-elements", metavar="N", help="Check inputs up to N elements one by one; beyond, along "
                                                 "random directions.")] = 256,
          directions: Annotated[int, typer.Option("--directions", metavar="K",
                                                  help="Random directions per large input.")] = 16,
          seed: Annotated[int, typer.Option("--seed", help="Seed for the random directions.")] = 0,
          json_: Json = False, strict: Strict = False):
    """Compare reverse mode with central finite differences (and forward mode, where it exists).

    Exit status: 0 when no input fails, 1 when one does, 2 on errors.

    Example: adcli check samples/mlp.ad --inputs samples/mlp.json
    """
    from .check import check_gradients, report_json
    from .program import load
    with reporting():
        if not eps > 0 or not rtol >= 0 or not atol >= 0:
            raise AdError("--eps must be positive, --rtol and --atol not negative")
        if max_elements < 0 or directions < 1:
            raise AdError("--max-elements must not be negative and --directions must be at least 1")
        program = load(file)
        report = check_gradients(program, given_values(set_, inputs), of, eps, rtol, atol, max_elements,
                                 directions, seed, strict)
    notify([report.warning])
    if json_:
        emit_json(report_json(report))
    else:
        from .render import show
        from .symbols import ASCII
        console, ascii_only = console_for_stdout()
        if not console.is_terminal:  # a file or pipe gets whole rows, not columns squeezed to 80
            console.width = 1000
        show(console, check_table(report, ascii_only))
        for line in check_notes(report):
            console.print(line.translate(ASCII) if ascii_only else line, soft_wrap=True)
    if report.failed:
        raise typer.Exit(EXIT_CHECK_FAILED)
