"""The `jacobian`, `hessian`, `hvp` and `vjp` commands: whole derivative matrices, dense or
compressed by colouring, and the products that avoid them."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from adcli.cli.app import Ascii, File, FormatOption, Full, Inputs, Json, Of, Set, Strict, Wrt, app
from adcli.cli.forward import fit, headline, new_table, require_or_warn_finite, to_json
from adcli.cli.support import ANNOTATIONS, Style, console_for_stdout, emit_json, given_values, reporting, write_file

# A sparse block with more elements than this is given in coordinate form by --json.
COORDINATES_FROM = 10_000


class JacobianMode(str, Enum):
    auto = "auto"
    forward = "forward"
    reverse = "reverse"


Dense = Annotated[bool, typer.Option(
    "--dense", help="One pass per input (or output) element, even where colouring a sparse matrix needs fewer.")]
ShowPattern = Annotated[bool, typer.Option(
    "--pattern", help="Draw the sparsity pattern (Braille dots; '#' with --ascii); with --json, add its coordinates.")]
Output = Annotated[Optional[str], typer.Option(
    "--output", "-o", metavar="PATH",
    help="Also write the matrix: .npz in scipy.sparse's format (load_npz reads it), .html a page drawing its "
         "pattern.")]
Vector = Annotated[Optional[list[str]], typer.Option(
    "--vector", metavar="NAME=VALUE",
    help="An input's part of the vector v, shaped like the input or a scalar for all its elements; several may "
         "follow one --vector. Inputs without one get 0.")]
Cotangent = Annotated[Optional[list[str]], typer.Option(
    "--cotangent", metavar="NAME=VALUE",
    help="The output's cotangent v (NAME is the output), shaped like it or a scalar for all its elements.")]


def passes_note(mode: str, passes: int, n_in: int, n_out: int, sparse) -> str:
    """Which mode ran and why it took that many passes."""
    plural = "" if passes == 1 else "es"
    if sparse is not None:
        return (f"{mode} mode: {passes} pass{plural}, one per colour of {'columns' if mode == 'forward' else 'rows'} "
                f"(dense: {sparse.dense_passes}; {sparse.nnz} stored)")
    per = "input" if mode == "forward" else "output"
    return (f"{mode} mode: {passes} pass{plural}, one per {per} element "
            f"(inputs: {n_in} element{'' if n_in == 1 else 's'}, output: {n_out})")


def block_json(entry, shape_of_block: tuple):
    """A block as JSON: nested lists, or a large compressed block's coordinates."""
    from adcli.engine.matrices import Coo
    if isinstance(entry, Coo):
        if entry.shape[0] * entry.shape[1] > COORDINATES_FROM:
            return {"row": entry.row.tolist(), "col": entry.col.tolist(), "data": to_json(entry.data),
                    "shape": list(entry.shape)}
        return to_json(entry.dense(shape_of_block))
    return to_json(entry)


def sparse_json(result) -> dict:
    s = result.sparse
    return {} if s is None else {"sparse": {"colours": s.colours, "colouring": s.colouring, "stored": s.nnz,
                                            "dense_passes": s.dense_passes}}


def pattern_of(program, result, given: dict, of, wrt, second: bool = False):
    """The structural pattern: the one a compressed result used, else found from the graph."""
    from adcli.engine.matrices import structure
    from adcli.errors import InputError
    found = result.sparse.pattern if result.sparse else structure(program, second, of=of, wrt=wrt, **given)
    if found is None:
        raise InputError("--pattern: the pattern is too large to build (over 20 million element pairs)")
    return found


def pattern_json(pattern) -> dict:
    rows, cols = pattern.coo()
    return {"pattern": {"row": rows.tolist(), "col": cols.tolist(), "shape": list(pattern.shape)}}


def write_matrix(path: str, result, title: str, facts: list[str], sources) -> None:
    """-o: the whole matrix as scipy's .npz, or an HTML page of its pattern."""
    from adcli.errors import InputError
    from adcli.explain.pattern import page, scipy_npz
    whole = result.whole()
    lower = path.lower()
    if lower.endswith(".npz"):
        write_file(path, scipy_npz(whole.row, whole.col, whole.data, whole.shape), sources=sources)
    elif lower.endswith((".html", ".htm")):
        write_file(path, page(whole.row, whole.col, whole.shape, title, facts), sources=sources)
    else:
        raise InputError(f"-o {path}: expected a .npz file (the matrix, for scipy) or a .html page (its pattern)")


def show_pattern(console, pattern, ascii_only: bool) -> list:
    from rich.text import Text

    from adcli.explain.pattern import caption, picture
    rows, cols = pattern.coo()
    lines, scale = picture(rows, cols, pattern.shape, width=max(console.width - 2, 8), height=40, ascii_only=ascii_only)
    return [Text("\n".join(lines), no_wrap=True, overflow="ignore"),
            Text(caption(pattern.shape, pattern.nnz, scale, ascii_only), style="dim")]


def shape_words(shape: tuple) -> str:
    from adcli.operations import fmt_shape
    return "scalar" if shape == () else fmt_shape(shape)


def summary_cell(entry, shape: tuple, full: bool) -> str:
    """A table cell: the block, or for a large compressed one its count of stored entries."""
    from adcli.engine.matrices import Coo
    from adcli.numbers import format_block
    if isinstance(entry, Coo) and entry.shape[0] * entry.shape[1] > COORDINATES_FROM:
        # as a table cell it would be mostly zeros, and perhaps gigabytes of them
        return f"{len(entry.data)} stored entries (--json or -o file.npz for all)"
    return format_block(entry.dense(shape) if isinstance(entry, Coo) else entry, full)


# ---------------------------------------------------------------------------------------------
# adcli jacobian
# ---------------------------------------------------------------------------------------------

@app.command(short_help="The full Jacobian, by forward or reverse mode, compressed when sparse.")
def jacobian(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: Wrt = None,
             mode: Annotated[JacobianMode, typer.Option(
                 "--mode", help="auto: forward when that takes fewer passes, else reverse.")] = JacobianMode.auto,
             dense: Dense = False, pattern: ShowPattern = False, output: Output = None,
             json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
             format_: FormatOption = Style.text):
    """The full Jacobian of the output (any shape) with respect to each input.

    Each block has shape output.shape + input.shape. When the graph shows the Jacobian is sparse,
    columns (or rows) that share no row (or column) are coloured alike and one pass per colour
    gives them all (--dense: one pass per element).

    \b
    Example: adcli jacobian samples/product.ad --set x=17
    """
    import numpy as np

    from adcli.cli.terminal import show
    from adcli.engine.matrices import jacobian as full_jacobian
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        result = full_jacobian(program, of=of, wrt=wrt, mode=mode.value, dense=dense, **given)
        require_or_warn_finite(program, given, of, {result.output: result.value, **{
            f"∂{result.output}/∂{name}": getattr(e, "data", e) for name, e in result.entries.items()}}, strict)
        out_shape = np.shape(result.value)
        note = passes_note(result.mode, result.passes, result.input_size, result.output_size, result.sparse)
        found = pattern_of(program, result, given, of, wrt) if pattern else None
        if output:
            write_matrix(output, result, f"∂{result.output}/∂({', '.join(result.shapes)})", [note],
                         [file, inputs])
    if json_:
        emit_json({"output": result.output, "value": to_json(result.value), "mode": result.mode,
                   "passes": result.passes, **sparse_json(result),
                   "jacobian": {name: block_json(e, out_shape + result.shapes[name]) for name, e in
                                result.entries.items()}, **(pattern_json(found) if pattern else {})})
        return
    console, ascii_only = console_for_stdout(ascii_)
    table = new_table(ascii_only, "input", "shape", f"∂{result.output}/∂input")
    for name, e in result.entries.items():
        shape = out_shape + result.shapes[name]
        table.add_row(name, shape_words(shape), summary_cell(e, shape, full))
    parts = [*headline(result.output, result.value, full, note=fit(note, ascii_only)), table]
    show(console, *parts, *(show_pattern(console, found, ascii_only) if pattern else []))


# ---------------------------------------------------------------------------------------------
# adcli hessian
# ---------------------------------------------------------------------------------------------

@app.command(short_help="The Hessian of a scalar output (forward over reverse), compressed when sparse.")
def hessian(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: Wrt = None,
            dense: Dense = False, pattern: ShowPattern = False, output: Output = None,
            json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
            format_: FormatOption = Style.text):
    """The Hessian of a scalar output, for each pair of inputs (forward over reverse).

    The block for inputs (a, b) has shape a.shape + b.shape. When the graph shows the Hessian is
    sparse, columns that share no row are coloured alike and one pass per colour gives them all
    (--dense: one pass per input element).

    \b
    Example: adcli hessian samples/relu.ad --set W=2 x=3 b=1
    """
    from adcli.cli.terminal import show
    from adcli.engine.matrices import hessian as full_hessian
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        result = full_hessian(program, of=of, wrt=wrt, dense=dense, **given)
        require_or_warn_finite(program, given, of, {result.output: result.value, **{
            f"∂²{result.output}/∂{a}∂{b}": getattr(e, "data", e) for (a, b), e in result.entries.items()}}, strict)
        plural = "" if result.passes == 1 else "es"
        if result.sparse:
            note = (f"forward over reverse: {result.passes} pass{plural}, one per colour "
                    f"(dense: {result.sparse.dense_passes}; {result.sparse.nnz} stored)")
        else:
            note = f"forward over reverse: {result.passes} pass{plural}, one per input element"
        found = pattern_of(program, result, given, of, wrt, second=True) if pattern else None
        if output:
            write_matrix(output, result, f"∂²{result.output}/∂({', '.join(result.shapes)})²", [note],
                         [file, inputs])
    if json_:
        nested: dict = {}
        for (a, b), e in result.entries.items():
            nested.setdefault(a, {})[b] = block_json(e, result.shapes[a] + result.shapes[b])
        emit_json({"output": result.output, "value": to_json(result.value), "passes": result.passes,
                   **sparse_json(result), "hessian": nested, **(pattern_json(found) if pattern else {})})
        return
    console, ascii_only = console_for_stdout(ascii_)
    table = new_table(ascii_only, "derivative", "shape", "value")
    y = result.output
    for (a, b), e in result.entries.items():
        symbol = f"∂²{y}/∂{a}²" if a == b else f"∂²{y}/∂{a}∂{b}"
        shape = result.shapes[a] + result.shapes[b]
        table.add_row(fit(symbol, ascii_only), shape_words(shape), summary_cell(e, shape, full))
    show(console, *headline(y, result.value, full, note=fit(note, ascii_only)), table,
         *(show_pattern(console, found, ascii_only) if pattern else []))


# ---------------------------------------------------------------------------------------------
# adcli hvp and adcli vjp
# ---------------------------------------------------------------------------------------------

def show_products(result, column: str, full: bool, ascii_: bool, note: str) -> None:
    import numpy as np

    from adcli.cli.terminal import shape_text, show
    from adcli.numbers import format_block
    console, ascii_only = console_for_stdout(ascii_)
    table = new_table(ascii_only, "input", "shape", column)
    for name, p in result.products.items():
        table.add_row(name, shape_text(np.asarray(p)), format_block(p, full))
    show(console, *headline(result.output, result.value, full, note=fit(note, ascii_only)), table)


@app.command(short_help="A Hessian-vector product H v (forward over reverse), without the Hessian.")
def hvp(file: File, vector: Vector = None, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: Wrt = None,
        json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
        format_: FormatOption = Style.text):
    """H·v, the Hessian of a scalar output times a vector v over the inputs, at the cost of about
    two gradients: reverse mode on dual numbers whose tangents are v.

    \b
    Example: adcli hvp samples/product.ad --set x=17 --vector x=1
    """
    from adcli.engine.inputs import parse_assignments
    from adcli.engine.matrices import hvp as product
    from adcli.engine.program import load
    from adcli.errors import InputError
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        vectors = parse_assignments(vector or [], "--vector")
        if not vectors:
            raise InputError("give the vector with --vector NAME=VALUE (inputs without one get 0)")
        result = product(program, vectors, of=of, wrt=wrt, **given)
        require_or_warn_finite(program, given, of, {result.output: result.value, **{
            f"(H·v) for {name}": p for name, p in result.products.items()}}, strict)
    if json_:
        emit_json({"output": result.output, "value": to_json(result.value),
                   "hvp": {name: to_json(p) for name, p in result.products.items()},
                   "vector": {name: to_json(v) for name, v in result.given.items()}})
        return
    show_products(result, "H·v", full, ascii_, "forward over reverse: one pass on dual numbers")


@app.command(short_help="A vector-Jacobian product v^T J of an array output (reverse mode).")
def vjp(file: File, cotangent: Cotangent = None, set_: Set = None, inputs: Inputs = None, wrt: Wrt = None,
        json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
        format_: FormatOption = Style.text):
    """vᵀ·J for a cotangent v of an output (any shape): one reverse pass, the partner of jvp.

    \b
    Example: adcli vjp samples/product.ad --set x=17 --cotangent y=2
    """
    from adcli.engine.inputs import parse_assignments
    from adcli.engine.matrices import vjp as product
    from adcli.engine.program import load
    from adcli.errors import InputError
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        cotangents = parse_assignments(cotangent or [], "--cotangent")
        if len(cotangents) != 1:
            raise InputError("give one output's cotangent with --cotangent NAME=VALUE, NAME the output"
                             + (f" (got {len(cotangents)}: {', '.join(cotangents)})" if cotangents else ""))
        ((of, v),) = cotangents.items()
        result = product(program, v, of=of, wrt=wrt, **given)
        require_or_warn_finite(program, given, of, {result.output: result.value, **{
            f"vᵀ·∂{result.output}/∂{name}": p for name, p in result.products.items()}}, strict)
    if json_:
        emit_json({"output": result.output, "value": to_json(result.value),
                   "vjp": {name: to_json(p) for name, p in result.products.items()},
                   "cotangent": to_json(result.given[result.output])})
        return
    show_products(result, f"vᵀ·∂{result.output}/∂input", full, ascii_, "reverse mode: one pass")
