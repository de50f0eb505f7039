"""Jacobians and Hessians, dense or compressed by colouring, and the products that avoid them.

A dense Jacobian takes one forward pass per input element or one reverse pass per output
element; a dense Hessian one forward-over-reverse pass per input element. When the graph shows
the matrix is sparse (engine/sparsity.py), columns (or rows) that never share a row (or column)
are coloured alike (engine/colouring.py) and one pass per colour gives all their entries: a
tridiagonal Jacobian takes 3 passes whatever its size. Both ways compute each entry by the same
rules on the same values, so they agree. `hvp` and `vjp` give H·v and vᵀJ directly, at the cost
of about two gradients.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from adcli.engine import colouring
from adcli.engine.dual import Dual, apply, fresh_tag, tangent_at, value_at
from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.forward import seed_tangents, tangents, unit
from adcli.engine.higher import require_second_order
from adcli.engine.results import require_scalar
from adcli.engine.reverse import backward
from adcli.engine.sparsity import Layout, Pattern, hessian_pattern, jacobian_pattern
from adcli.errors import InputError, ShapeError
from adcli.limits import check_size
from adcli.operations import fmt_shape
from adcli.operations.patterns import TooDense

if TYPE_CHECKING:
    from adcli.engine.program import Program


@dataclass
class Coo:
    """A block in coordinate form: entry k is (row[k], col[k]) = data[k], over flat indices."""

    row: np.ndarray
    col: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    def dense(self, shape: tuple) -> np.ndarray:
        out = np.zeros(self.shape)
        out[self.row, self.col] = self.data
        return out.reshape(shape)

    def scipy(self):
        """As scipy.sparse's coo_array (scipy is an optional extra: pip install 'adcli[sparse]')."""
        try:
            from scipy import sparse
        except ImportError:
            raise InputError("sparse matrices need scipy: pip install 'adcli[sparse]'") from None
        return sparse.coo_array((self.data, (self.row, self.col)), shape=self.shape)


def split(pattern: Pattern, data: np.ndarray, rows: Layout | None, cols: Layout) -> dict:
    """A compressed result cut into blocks: by input pairs (rows a Layout) or by input."""
    r, c = pattern.coo()
    blocks = {}
    row_parts = [(None, 0, pattern.shape[0])] if rows is None else \
        [(w, o, math.prod(s)) for w, o, s in zip(rows.nodes, rows.offsets, rows.shapes)]
    for a, ra, na in row_parts:
        in_rows = (r >= ra) & (r < ra + na)
        for b, cb, s in zip(cols.nodes, cols.offsets, cols.shapes):
            nb = math.prod(s)
            keep = in_rows & (c >= cb) & (c < cb + nb)
            blocks[b if a is None else (a, b)] = Coo(r[keep] - ra, c[keep] - cb, data[keep], (na, nb))
    return blocks


@dataclass
class Sparse:
    """How a sparse result was found: colours (passes), stored entries, and the dense way's passes;
    the pattern and its entries' values over the whole matrix (inputs after one another)."""

    colours: int
    nnz: int
    dense_passes: int
    colouring: str  # "columns" or "rows" (a Jacobian's), "distance-2" or "star" (a Hessian's)
    pattern: Pattern = field(repr=False)
    data: np.ndarray = field(repr=False)
    mirrored: int = 0  # a star colouring's entries read from their mirror's pass: equal up to rounding

    def whole(self) -> Coo:
        return Coo(*self.pattern.coo(), self.data, self.pattern.shape)


def whole_dense(blocks: list[np.ndarray], rows: int) -> Coo:
    """Dense blocks side by side as one matrix's non-zero entries (NaN included)."""
    matrix = np.concatenate([np.reshape(b, (rows, -1)) for b in blocks], axis=1) if blocks else np.zeros((rows, 0))
    r, c = np.nonzero(matrix)
    return Coo(r, c, matrix[r, c], matrix.shape)


# ---------------------------------------------------------------------------------------------
# Jacobians
# ---------------------------------------------------------------------------------------------

@dataclass
class Jacobian:
    """∂output/∂input for each input, shaped output.shape + input.shape, and how it was found."""

    output: str
    value: np.ndarray
    mode: str  # "forward" or "reverse"
    passes: int
    input_size: int  # elements over all inputs differentiated
    output_size: int
    shapes: dict[str, tuple]  # each input's shape
    entries: dict[str, np.ndarray | Coo]  # dense blocks, or a compressed result's coordinates
    sparse: Sparse | None = None

    @property
    def blocks(self) -> dict[str, np.ndarray]:
        """Each block as a dense array (a compressed result is expanded: mind its size)."""
        out_shape = np.shape(self.value)
        return {name: dense_block(e, out_shape + self.shapes[name], f"the Jacobian block ∂{self.output}/∂{name}")
                for name, e in self.entries.items()}

    def whole(self) -> Coo:
        """The Jacobian as one matrix: a row per output element, the inputs' elements as columns."""
        return self.sparse.whole() if self.sparse else whole_dense(list(self.entries.values()), self.output_size)

    def scipy(self, name: str | None = None):
        """A scipy.sparse array: input `name`'s block flattened to 2-D, or the whole Jacobian."""
        if name is None:
            return self.whole().scipy()
        entry = self.entries[name]
        return (entry if isinstance(entry, Coo) else whole_dense([entry], self.output_size)).scipy()


def dense_block(entry, shape: tuple, what: str) -> np.ndarray:
    if isinstance(entry, Coo):
        check_size(shape, InputError, what)
        return entry.dense(shape)
    return entry


def evaluated(program: Program, of: str | None, given: dict):
    """The output's (name, node), the graph for these values' sizes, the bound inputs and every value."""
    name, out = program.specialise(given).output_node(of)
    graph = program.graph
    bound = bind_inputs(graph, given)
    return name, out, graph, bound, evaluate(graph, bound, out)


MODES = ("auto", "forward", "reverse")


def jacobian(program: Program, of: str | None = None, wrt=None, mode: str = "auto", dense: bool = False,
             **given) -> Jacobian:
    """The full Jacobian; `auto` runs forward mode when the inputs have fewer elements than the
    output. Unless `dense`, a sparse Jacobian is compressed when that takes fewer passes."""
    if mode not in MODES:
        raise InputError(f"--mode {mode}: expected one of {', '.join(MODES)}")
    name, out, graph, _, values = evaluated(program, of, given)
    nodes = program.wrt_nodes(wrt)
    labels = [graph.nodes[w].label for w in nodes]
    out_shape = np.shape(values[out])
    shapes = {w: np.shape(values[w]) for w in nodes}
    n_in = sum(math.prod(s) for s in shapes.values())
    n_out = math.prod(out_shape)
    dense_mode = mode if mode != "auto" else "forward" if n_in < n_out else "reverse"
    dense_passes = n_in if dense_mode == "forward" else n_out
    found = None if dense or dense_passes <= 1 else graph.memo(
        ("jacobian plan", mode, out, tuple(nodes), fingerprint(values, out)),
        lambda: compressible(lambda: jacobian_pattern(graph, values, out, nodes), mode, dense_passes))
    if found is not None:
        pattern, layout, how, colours = found
        data = compressed_jacobian(graph, values, out, pattern, layout, how, colours)
        blocks = split(pattern, data, None, layout)
        sparse = Sparse(colouring.count(colours), pattern.nnz, dense_passes,
                        "columns" if how == "forward" else "rows", pattern, data)
        return Jacobian(name, values[out], how, sparse.colours, n_in, n_out, dict(zip(labels, (shapes[w] for w in nodes))),
                        {graph.nodes[w].label: blocks[w] for w in nodes}, sparse)
    for w in nodes:
        check_size(out_shape + shapes[w], lambda m: ShapeError(m, graph.span(out)),
                   f"the Jacobian block ∂{name}/∂{graph.nodes[w].label}")
    blocks = {w: np.zeros(out_shape + shapes[w]) for w in nodes}
    whole_output = (slice(None),) * len(out_shape)
    if dense_mode == "forward":  # one column per pass
        for w in nodes:
            for index in np.ndindex(shapes[w]):
                t = tangents(graph, values, out, {w: unit(shapes[w], index)})[out]
                blocks[w][whole_output + index] = 0.0 if t is None else t
    else:  # one row per pass
        for index in np.ndindex(out_shape):
            grads = backward(graph, values, out, nodes, seed=unit(out_shape, index))
            for w in nodes:
                blocks[w][index] = grads[w]
    return Jacobian(name, values[out], dense_mode, dense_passes, n_in, n_out,
                    {graph.nodes[w].label: shapes[w] for w in nodes}, {graph.nodes[w].label: blocks[w] for w in nodes})


def structure(program: Program, second: bool = False, of: str | None = None, wrt=None, **given) -> Pattern | None:
    """The Jacobian's (or with `second` the Hessian's) sparsity pattern as the graph shows it, the
    same at every point; None when it is too large to build."""
    _, out, graph, _, values = evaluated(program, of, given)
    try:
        return (hessian_pattern if second else jacobian_pattern)(graph, values, out, program.wrt_nodes(wrt))[0]
    except TooDense:
        return None


def colour_counts(program: Program, of: str | None = None, wrt=None, **given) -> dict | None:
    """How many coloured passes the Jacobian takes each way, and the Hessian (for a scalar output),
    from the patterns at these values; None when a pattern is too large to build."""
    _, out, graph, _, values = evaluated(program, of, given)
    nodes = program.wrt_nodes(wrt)
    try:
        pattern, _ = jacobian_pattern(graph, values, out, nodes)
    except TooDense:
        return None
    counts = {"forward": colouring.count(colouring.colour_columns(pattern)),
              "reverse": colouring.count(colouring.colour_rows(pattern)), "stored": pattern.nnz}
    if np.size(values[out]) == 1:
        try:
            second, _ = hessian_pattern(graph, values, out, nodes)
            counts["hessian"] = {"passes": colouring.count(colouring.colour_columns(second)), "stored": second.nnz}
        except TooDense:
            counts["hessian"] = None
    return counts


def compressible(find, mode: str, dense_passes: int):
    """(pattern, layout, mode, colours) when colouring saves passes over the dense way, else None."""
    try:
        pattern, layout = find()
    except TooDense:
        return None
    # Colour the side whose lower bound is smaller first; the other only if it could do better.
    sides = {"forward": (pattern, colouring.lower_bound(pattern))}
    if mode != "forward":
        flipped = pattern.transpose()
        sides["reverse"] = (flipped, colouring.lower_bound(flipped))
    if mode == "reverse":
        del sides["forward"]
    best = None
    for how, (p, bound) in sorted(sides.items(), key=lambda side: side[1][1]):
        if best is not None and best[0] <= bound:
            break
        colours = colouring.colour_columns(p)
        if best is None or colouring.count(colours) < best[0]:
            best = colouring.count(colours), how, colours
    passes, how, colours = best
    if pattern.nnz == 0:  # nothing depends on the inputs: no pass at all
        passes, colours = 0, np.full(len(colours), -1)
    if passes >= dense_passes:
        return None
    return pattern, layout, how, colours


def compressed_jacobian(graph, values, out, pattern: Pattern, layout: Layout, how: str,
                        colours: np.ndarray) -> np.ndarray:
    """The pattern's entries, one pass per colour: forward passes seeded with a colour's columns
    give J·s, reverse passes seeded with its rows give sᵀ·J."""
    out_shape = np.shape(values[out])
    rows, cols = pattern.coo()
    compressed = []
    for c in range(colouring.count(colours)):
        seed = colouring.seeds(colours, c)
        if how == "forward":
            parts = {w: seed[o:o + math.prod(s)].reshape(s) for w, o, s in zip(layout.nodes, layout.offsets, layout.shapes)}
            t = tangents(graph, values, out, parts)[out]
            compressed.append(np.zeros(pattern.shape[0]) if t is None else np.ravel(t))
        else:
            grads = backward(graph, values, out, layout.nodes, seed=seed.reshape(out_shape))
            compressed.append(np.concatenate([np.ravel(grads[w]) for w in layout.nodes]))
    if not compressed:
        return np.zeros(0)
    table = np.stack(compressed, axis=1) if how == "forward" else np.stack(compressed, axis=0)
    return table[rows, colours[cols]] if how == "forward" else table[colours[rows], cols]


# ---------------------------------------------------------------------------------------------
# Hessians
# ---------------------------------------------------------------------------------------------

@dataclass
class Hessian:
    """∂²output/∂a∂b for each pair of inputs (a, b), shaped a.shape + b.shape."""

    output: str
    value: np.ndarray
    passes: int
    shapes: dict[str, tuple]
    entries: dict[tuple[str, str], np.ndarray | Coo]
    sparse: Sparse | None = None

    @property
    def blocks(self) -> dict[tuple[str, str], np.ndarray]:
        return {(a, b): dense_block(e, self.shapes[a] + self.shapes[b], f"the Hessian block ∂²{self.output}/∂{a}∂{b}")
                for (a, b), e in self.entries.items()}

    def whole(self) -> Coo:
        """The Hessian as one symmetric matrix over the inputs' elements, one input after another."""
        if self.sparse:
            return self.sparse.whole()
        names = list(self.shapes)
        rows = [np.concatenate([np.reshape(self.entries[(a, b)], (math.prod(self.shapes[a]), -1)) for b in names],
                               axis=1) for a in names]
        n = sum(math.prod(s) for s in self.shapes.values())
        return whole_dense([np.concatenate(rows, axis=0)] if rows else [], n)

    def scipy(self, a: str | None = None, b: str | None = None):
        """A scipy.sparse array: the block of inputs (a, b) flattened to 2-D, or the whole Hessian."""
        if a is None:
            return self.whole().scipy()
        entry = self.entries[(a, b or a)]
        return (entry if isinstance(entry, Coo) else whole_dense([entry], math.prod(self.shapes[a]))).scipy()


def hessian(program: Program, of: str | None = None, wrt=None, dense: bool = False, **given) -> Hessian:
    """The Hessian of a scalar output by forward over reverse: reverse mode runs on dual values
    seeded along one input element (or, compressed, along every element of one colour), and the
    gradient's tangent is a column."""
    name, out, graph, bound, values = evaluated(program, of, given)
    if np.size(values[out]) != 1:
        raise ShapeError(f"hessian needs a scalar output, but '{name}' has shape {fmt_shape(np.shape(values[out]))}; "
                         f"reduce it first, for example sum({name}), or use jacobian", graph.span(out))
    nodes = program.wrt_nodes(wrt)
    require_second_order(program, out, nodes, "hessian")
    labels = {w: graph.nodes[w].label for w in nodes}
    shapes = {w: np.shape(bound[w]) for w in nodes}
    n_in = sum(math.prod(s) for s in shapes.values())
    found = None if dense or n_in <= 1 else graph.memo(
        ("hessian plan", out, tuple(nodes), fingerprint(values, out)),
        lambda: hessian_plan(graph, values, out, nodes, n_in))
    named_shapes = {labels[w]: shapes[w] for w in nodes}
    if found is not None:
        pattern, layout, colours, kind = found
        columns = [hessian_columns(graph, bound, out, layout, colouring.seeds(colours, c))
                   for c in range(colouring.count(colours))]
        table = np.stack(columns, axis=1) if columns else np.zeros((n_in, 0))
        # entry (i, j) from the pass seeded along i's colour, as the dense way takes it, so the two
        # agree to the bit; a star colouring reads some entries from their mirror (j's colour, row i)
        reads = colouring.star_reads(pattern, colours)
        data = table[reads] if columns else np.zeros(0)
        blocks = split(pattern, data, layout, layout)
        mirrored = int(np.count_nonzero(reads[0] != pattern.coo()[1]))
        sparse = Sparse(colouring.count(colours), pattern.nnz, n_in, kind, pattern, data, mirrored)
        return Hessian(name, values[out], sparse.colours, named_shapes,
                       {(labels[a], labels[b]): blocks[(a, b)] for a in nodes for b in nodes}, sparse)
    for a in nodes:
        for b in nodes:
            check_size(shapes[a] + shapes[b], lambda m: ShapeError(m, graph.span(out)),
                       f"the Hessian block ∂²{name}/∂{labels[a]}∂{labels[b]}")
    blocks = {(a, b): np.zeros(shapes[a] + shapes[b]) for a in nodes for b in nodes}
    for a in nodes:
        for index in np.ndindex(shapes[a]):
            column = hessian_products(graph, bound, out, nodes, {a: unit(shapes[a], index)})
            for b in nodes:
                blocks[(a, b)][index] = column[b]
    return Hessian(name, values[out], n_in, named_shapes,
                   {(labels[a], labels[b]): blocks[(a, b)] for a in nodes for b in nodes})


def hessian_plan(graph, values, out: int, nodes: list[int], n_in: int):
    """(pattern, layout, colours) when colouring the Hessian saves passes, else None: a distance-2
    colouring, or a star colouring when it takes fewer colours."""
    try:
        pattern, layout = hessian_pattern(graph, values, out, nodes)
    except TooDense:
        return None
    if not pattern.nnz:
        return pattern, layout, np.full(n_in, -1), "distance-2"
    colours, kind = colouring.colour_columns(pattern), "distance-2"
    star = colouring.star_colours(pattern)
    if star is not None and colouring.count(star) < colouring.count(colours):
        colours, kind = star, "star"
    return (pattern, layout, colours, kind) if colouring.count(colours) < n_in else None


def fingerprint(values: list, out: int) -> tuple:
    """What a pattern depends on besides the graph: every value's shape, and the integers and
    booleans (indices, masks) the rules may read. Float values never matter, so a Newton loop
    colours its Jacobian once."""
    digest = hashlib.blake2b(digest_size=16)
    for v in values[:out + 1]:
        a = np.asarray(v)
        if a.dtype.kind in "biu":
            digest.update(a.tobytes())
    return tuple(np.shape(v) for v in values[:out + 1]), digest.hexdigest()


def hessian_products(graph, bound: dict, out: int, wrt: list[int], vectors: dict, check=None) -> dict[int, np.ndarray]:
    """H·v for each input in `wrt`, v given per input (the others 0): reverse mode on dual values.
    `check(value)` sees the output's value before the reverse pass."""
    tag = fresh_tag()
    lifted = dict(bound)
    for w, v in vectors.items():
        lifted[w] = Dual(bound[w], v, tag)
    duals = evaluate(graph, lifted, out, apply=apply)
    if check is not None:
        check(value_at(duals[out], tag))
    grads = backward(graph, duals, out, wrt)
    return {w: np.array(np.broadcast_to(np.asarray(tangent_at(grads[w], tag), dtype=np.float64), np.shape(bound[w])))
            for w in wrt}


def hessian_columns(graph, bound: dict, out: int, layout: Layout, seed: np.ndarray) -> np.ndarray:
    """H·s over every input element, for a seed s over them all."""
    parts = {w: seed[o:o + math.prod(s)].reshape(s) for w, o, s in zip(layout.nodes, layout.offsets, layout.shapes)}
    column = hessian_products(graph, bound, out, layout.nodes, parts)
    return np.concatenate([np.ravel(column[w]) for w in layout.nodes])


# ---------------------------------------------------------------------------------------------
# Products: H·v and vᵀ·J without the matrices
# ---------------------------------------------------------------------------------------------

@dataclass
class Product:
    """The output's value and, for each input, a product: (H·v) or (vᵀ·J) restricted to it."""

    output: str
    value: np.ndarray
    products: dict[str, np.ndarray]
    given: dict[str, np.ndarray]  # the vector (per input) or cotangent (of the output) as used


def hvp(program: Program, vectors: dict, of: str | None = None, wrt=None, **given) -> Product:
    """H·v by forward over reverse: one evaluation and one backward pass on dual numbers, for any
    number of inputs; `vectors` maps input names to v's parts (the others are 0)."""
    name, out = program.specialise(given).output_node(of)
    graph = program.graph
    bound = bind_inputs(graph, given)
    seeds = seed_tangents(program, bound, vectors, "--vector", "a vector part")
    nodes = program.wrt_nodes(wrt)
    for w in seeds:
        if w not in nodes:
            nodes = sorted(nodes + [w], key=graph.inputs.index)
    require_second_order(program, out, nodes, "hvp")
    value = []

    def scalar(y):  # one evaluation, on dual numbers: its value is the output's
        value.append(np.asarray(y, dtype=np.float64))
        require_scalar(graph, name, out, value[0], "hvp", f", or use vjp with --cotangent {name}=... for a vector-Jacobian product")

    products = hessian_products(graph, bound, out, nodes, seeds, check=scalar)
    label = {w: graph.nodes[w].label for w in nodes}
    return Product(name, value[0], {label[w]: products[w] for w in nodes},
                   {graph.nodes[w].label: v for w, v in seeds.items()})


def vjp(program: Program, cotangent, of: str | None = None, wrt=None, **given) -> Product:
    """vᵀ·J for the output's cotangent v (its shape, or broadcast to it): one reverse pass."""
    try:
        name, out, graph, _, values = evaluated(program, of, given)
    except InputError as e:  # the output is named by the cotangent, not by --of
        raise InputError(e.message.replace("--of", "--cotangent", 1), e.span) from None
    shape = np.shape(values[out])
    v = np.asarray(cotangent, dtype=np.float64)
    try:
        v = np.array(np.broadcast_to(v, shape))
    except ValueError:
        raise InputError(f"--cotangent {name}: a cotangent of shape {fmt_shape(v.shape)} does not fit "
                         f"'{name}' of shape {fmt_shape(shape)}") from None
    nodes = program.wrt_nodes(wrt)
    grads = backward(graph, values, out, nodes, seed=v)
    return Product(name, values[out], {graph.nodes[w].label: np.asarray(grads[w], dtype=np.float64) for w in nodes},
                   {name: v})
