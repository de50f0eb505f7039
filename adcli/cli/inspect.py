"""The `graph` command: draw the computational graph."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from adcli.cli.app import Ascii, File, Inputs, Of, Set, app
from adcli.cli.support import ANNOTATIONS, console_for_stdout, given_values, reporting, write_file
from adcli.errors import AdError


class GraphFormat(str, Enum):
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"
    github = "github"  # the tree, with errors and warnings as GitHub Actions annotations


# ---------------------------------------------------------------------------------------------
# adcli graph
# ---------------------------------------------------------------------------------------------

def caption(file: str, graph, given: dict) -> str:
    """`samples/relu.ad · W = 2, x = 3, b = 1`: the file and the values drawn (shapes for arrays)."""
    from adcli.numbers import format_number
    from adcli.operations import fmt_shape
    parts = []
    for name in graph.input_names():
        if name in given:
            v = given[name]
            parts.append(f"{name} = {format_number(v)}" if v.ndim == 0 else f"{name}: {fmt_shape(v.shape)}")
    from adcli.language.source import shown
    return shown(file) + (" · " + ", ".join(parts) if parts else "")


def write_output(view, path: str, format_: GraphFormat | None, sources=()) -> None:
    """Write the view to `path` in the format its extension names (which --format may not contradict);
    `sources`, the files read, are never written over."""
    from adcli.explain.graphview import IMAGE_FORMATS, TEXT_FORMATS, render_image, to_dot, to_mermaid, tree_text
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
    write_file(path, data, sources=sources)


def print_tree(view, ascii_: bool = False) -> None:
    """The tree on the terminal: inputs cyan, the output bold green, non-finite values bold red."""
    from rich.text import Text

    from adcli.explain.graphview import node_text, tree_lines
    from adcli.symbols import ASCII
    console, ascii_only = console_for_stdout(ascii_)
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


@app.command(short_help="The computational graph: a tree, DOT, Mermaid, SVG or PNG.")
def graph(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None,
          format_: Annotated[Optional[GraphFormat], typer.Option(
              "--format", "-f", help="tree (default), dot (Graphviz), mermaid, or github: the tree, with errors as "
              "GitHub Actions annotations.")] = None,
          output: Annotated[Optional[str], typer.Option(
              "--output", "-o", metavar="PATH",
              help="Write to PATH: .svg or .png (drawn by Graphviz's dot), .dot, .mmd or .txt.")] = None,
          ascii_: Ascii = False):
    """The computational graph: one node per value, an edge from each operand to its result.

    With values (--set), each node also shows its value and, for a scalar output, its gradient.


    \b

    Example: adcli graph samples/relu.ad --set W=2 x=3 b=1 -o relu.svg
    """
    from adcli.engine.program import load
    from adcli.explain.graphview import build_view, to_dot, to_mermaid
    ANNOTATIONS.start(format_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        graph_ = program.graph
        values = program.values(given) if given or not graph_.inputs else None
        _, out = program.output_node(of)
        view = build_view(graph_, values, out, caption(graph_.file, graph_, given))
        if output is not None:
            write_output(view, output, None if format_ is GraphFormat.github else format_, (file, inputs))
            return
    if format_ in (None, GraphFormat.tree, GraphFormat.github):
        print_tree(view, ascii_)
    else:
        sys.stdout.write(to_dot(view) if format_ == GraphFormat.dot else to_mermaid(view))
