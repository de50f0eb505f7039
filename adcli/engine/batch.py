"""Many points at once: the graph transformed to carry a leading batch axis, run in chunks.

`--batch x` says that input x holds B points along its first axis. Each node that depends on a
batched input is rewritten by its operation's batching rule (registry/batching.py) into nodes
that compute every point at once; the others stay as they are, computed once and shared. Reverse
and forward mode then run unchanged on the batched graph. Inputs differentiated but shared (the
weights, when only x is batched) enter as read-only broadcast views, so that their gradients are
per point, as per-example gradients are meant. Points are processed in chunks, which bounds memory.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import Callable

import numpy as np

from adcli.engine.evaluate import bind_inputs, evaluate, infer_shapes
from adcli.engine.reverse import backward, backward_reads
from adcli.engine.zarr_store import ZarrPoints
from adcli.errors import InputError, ShapeError
from adcli.language.graph import BOOL, CONST, FLOAT, INPUT, INT, SHAPED, Graph, Node, paused_gc
from adcli.limits import max_bytes
from adcli.operations import OPS, fmt_shape
from adcli.operations.batching import Operand

# Operations that only move elements keep their operand's element type (a lifted condition stays boolean).
MOVERS = ("reshape", "broadcast_to", "transpose", "getitem", "gather", "expand_dims")
CHUNK_BYTES = 256 * 2**20  # a chunk's values, at most (and a sixteenth of ADCLI_MAX_BYTES)


class Batcher:
    """Builds the batched graph node by node; the batching rules call its methods."""

    def __init__(self, graph: Graph, shapes: list, batched: set[int], size: int):
        self.graph, self.shapes, self.size = graph, shapes, size
        self.nodes: list[Node] = []
        self.is_batched: list[bool] = []  # per new node
        self.new: list[int] = []  # per original node, its node in the batched graph
        self.current: Node | None = None
        self.current_index = -1
        self.inputs = batched

    # ---- what the rules call ------------------------------------------------------------------
    def op(self, name: str, args, params=None, dtype=None) -> int:
        """A new node applying registry operation `name` to new nodes `args`."""
        args = tuple(args)
        if dtype is None:
            kinds = [self.nodes[a].dtype for a in args]
            kind = OPS[name].dtype
            if name in MOVERS:
                dtype = kinds[0]
            elif kind == "same":
                dtype = FLOAT if FLOAT in kinds or not kinds else INT if INT in kinds else BOOL
            else:
                dtype = {"float": FLOAT, "bool": BOOL, "int": INT, "constant": SHAPED}[kind]
        return self.add(Node(name, args, params or None, dtype=dtype), any(self.is_batched[a] for a in args))

    def lift(self, x: Operand, rank: int) -> int:
        """A batched operand with ones inserted after the batch axis, up to `rank` axes at a point."""
        if len(x.shape) >= rank:
            return x.node
        shape = (self.size,) + (1,) * (rank - len(x.shape)) + tuple(x.shape)
        return self.op("reshape", [x.node], {"shape": shape})

    def spread(self, x: Operand) -> int:
        """An operand batched: a shared one broadcast along a new batch axis (a view, no copy)."""
        if x.batched:
            return x.node
        return self.op("broadcast_to", [x.node], {"shape": (self.size,) + tuple(x.shape)})

    def const(self, value, dtype: str) -> int:
        """A constant node (shared by every point)."""
        return self.add(Node(CONST, (), None, label=None, data=np.asarray(value), dtype=dtype), False)

    @property
    def out_shape(self) -> tuple:
        """The shape at one point of the node being rewritten."""
        return tuple(self.shapes[self.current_index])

    def body(self, body, shapes: list, fixed: int = 0):
        """A function compiled on its own (fixed_point's f, a derivative rule, a loop's body) for every point
        at once: its graph batched in every argument but the first `fixed` (a loop's variable)."""
        from adcli.operations.implicit import Body
        graph = body.graph
        point = infer_shapes(graph, dict(zip(graph.inputs, (tuple(s) for s in shapes))), len(graph.nodes))
        batched = batched_graph(graph, point, set(graph.inputs[fixed:]), self.size, len(graph.nodes))
        return Body(body.name, batched.graph, body.params, body.line, body.col, body.site,
                    [batched.new[o] for o in body.outputs])

    def refuse(self, message: str):
        raise ShapeError(message, self.graph.span(self.current_index))

    # ---- building -----------------------------------------------------------------------------
    def add(self, node: Node, batched: bool) -> int:
        if self.current is not None:
            node.line, node.col, node.ctx = self.current.line, self.current.col, self.current.ctx
        self.nodes.append(node)
        self.is_batched.append(batched)
        return len(self.nodes) - 1

    def build(self, stop: int) -> None:
        """The batched nodes of the original nodes before `stop`."""
        nodes = self.graph.nodes
        for i in range(stop):
            node = nodes[i]
            self.current, self.current_index = node, i
            if node.op in (INPUT, CONST):
                copy = Node(node.op, (), node.params, node.name, node.label, node.line, node.col, node.data,
                            node.dtype, node.ctx, node.extra)
                self.new.append(self.add(copy, i in self.inputs))
                continue
            xs = [Operand(self.new[a], self.is_batched[self.new[a]], self.shapes[a]) for a in node.args]
            if any(x.batched for x in xs):
                index = OPS[node.op].batch(self, node, xs)
            else:
                index = self.add(Node(node.op, tuple(x.node for x in xs), node.params, dtype=node.dtype), False)
            made = self.nodes[index]
            made.name, made.label, made.dtype, made.extra = node.name, node.label, node.dtype, node.extra
            self.new.append(index)
        self.current = None


@dataclass
class Batched:
    """A batched graph, and where each original node went."""

    graph: Graph
    new: list[int]  # original node -> batched graph node
    batched: list[bool]  # per original node: whether its value carries the batch axis


def batched_graph(graph: Graph, shapes: list, inputs: set[int], size: int, stop: int) -> Batched:
    """The batched graph for `size` points (cached on the graph: chunks share it)."""
    key = (tuple(sorted(inputs)), tuple(tuple(s) if s is not None else None for s in shapes[:stop]), size, stop)
    cache = graph.__dict__.setdefault("_batched", {})
    if key in cache:
        return cache[key]
    b = Batcher(graph, shapes, inputs, size)
    b.build(stop)
    for i in graph.inputs:  # an input first used after the output still has a value (and a zero gradient)
        if i >= stop:
            b.new += [-1] * (i + 1 - len(b.new))
            node = graph.nodes[i]
            b.new[i] = b.add(Node(INPUT, (), None, node.name, node.label, node.line, node.col, node.data,
                                  node.dtype, node.ctx, node.extra), i in inputs)
    new_graph = Graph(b.nodes, [b.new[i] for i in graph.inputs],
                      [(label, b.new[i]) for label, i in graph.assigned if i < stop],
                      {name: b.new[i] for name, i in graph.names.items() if i < stop}, graph.file, graph.source,
                      graph.contexts)
    new_graph.__dict__["_trusted"] = True  # its shapes follow from the checked original: no second plan
    new_graph.__dict__["_points"] = b.is_batched  # which nodes hold points along their first axis
    result = Batched(new_graph, b.new, [b.new[i] >= 0 and b.is_batched[b.new[i]] for i in range(len(b.new))])
    if len(cache) > 8:
        cache.clear()
    cache[key] = result
    return result


# ---------------------------------------------------------------------------------------------
# Inputs: which are batched, and how many points
# ---------------------------------------------------------------------------------------------

def batch_size(graph: Graph, given: dict, names) -> tuple[int, set[int]]:
    """(B, batched input nodes) for `--batch` names, each an input whose value has a leading axis
    of the common size B."""
    by_name = {graph.nodes[i].label: i for i in graph.inputs}
    size, first, nodes = None, None, set()
    for name in names:
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else \
                (f" (its inputs are {', '.join(by_name)})" if by_name else " (it has no inputs)")
            raise InputError(f"--batch {name}: '{name}' is not an input of this file{hint}")
        if name not in given:
            continue  # bind_inputs says that no value was given
        shape = np.shape(given[name])
        if not shape:
            raise InputError(f"--batch {name}: input '{name}' is a scalar; a batched input has its points along "
                             "a leading axis, shape [B, ...]", graph.span(by_name[name]))
        if size is None:
            size, first = shape[0], name
        elif shape[0] != size:
            raise InputError(f"--batch {name}: input '{name}' has {shape[0]} points along its first axis, but "
                             f"'{first}' has {size}: batched inputs share one number of points",
                             graph.span(by_name[name]))
        nodes.add(by_name[name])
    return (0 if size is None else size), nodes


def point_bytes(shapes: list, stop: int) -> int:
    """An upper bound on the bytes of one point's values (every node kept, 8 bytes an element)."""
    return 8 * sum(math.prod(s) for s in shapes[:stop] if s is not None) + 8


@dataclass(frozen=True)
class Budget:
    """A chunk given as the bytes its values may take (--memory-budget with --batch), not as points."""

    bytes: int


def chunks(size: int, chunk: int | Budget | None, per_point: int) -> list[tuple[int, int]]:
    """(start, stop) of each chunk of points: `chunk` points, or as many as fit the chunk budget
    (a Budget's bytes, or by default 256 MiB and a sixteenth of ADCLI_MAX_BYTES)."""
    if chunk is None or isinstance(chunk, Budget):
        budget = chunk.bytes if chunk is not None else min(CHUNK_BYTES, max_bytes() // 16)
        chunk = max(1, budget // max(per_point, 1))
    if chunk < 1:
        raise InputError(f"--chunk {chunk}: a chunk holds at least one point")
    return [(start, min(start + chunk, size)) for start in range(0, size, chunk)] or [(0, 0)]


@dataclass
class Plan:
    """One batched run's inputs and shapes, before any chunk is computed."""

    graph: Graph
    bound: dict[int, np.ndarray]  # input node -> value (batched ones with their leading axis)
    batched: set[int]  # input nodes with a batch axis in the given values
    spread: set[int]  # shared inputs run as batched (differentiated, or given a tangent)
    size: int
    shapes: list  # per node, its shape at one point
    stop: int
    spans: list[tuple[int, int]] = field(default_factory=list)
    # jvp's tangents by input node, and those given per point (which travel with their chunk's rows)
    seeds: dict[int, np.ndarray] = field(default_factory=dict)
    seeded_each: set[int] = field(default_factory=set)
    graphs: dict = field(default_factory=dict, repr=False, compare=False)  # batched graphs made, by chunk size

    def chunk_inputs(self, b: Batched, start: int, stop: int) -> dict[int, np.ndarray]:
        """Batched graph's input node -> value for points start..stop: batched ones sliced, spread
        ones broadcast, shared ones as they are."""
        out = {}
        for i, value in self.bound.items():
            if i in self.batched:  # C order, as a worker receives it: numpy picks its loops by strides
                value = MappedRows.of(value, start, stop).read() if from_file(value) else \
                    c_order(np.asarray(value[start:stop]))
            elif i in self.spread:
                value = np.broadcast_to(value, (stop - start,) + np.shape(value))
            out[b.new[i]] = value
        return out

    def point_shape(self, i: int) -> tuple:
        """Input i's shape at one point."""
        return np.shape(self.bound[i])[1:] if i in self.batched else np.shape(self.bound[i])

    def batched_graph(self, points: int) -> Batched:
        """The graph rewritten for `points` points at once, made once per chunk size (every chunk but
        the last has the same)."""
        if points not in self.graphs:
            if len(self.graphs) > 2:
                self.graphs.clear()
            self.graphs[points] = batched_graph(self.graph, self.shapes, self.batched | self.spread, points,
                                                self.stop)
        return self.graphs[points]

    def shared(self) -> Plan:
        """The plan without any point's rows: what a Dask cluster is sent once, for every chunk."""
        return Plan(self.graph, {i: v for i, v in self.bound.items() if i not in self.batched}, self.batched,
                    self.spread, 0, self.shapes, self.stop, [], {i: t for i, t in self.seeds.items()
                                                                 if i not in self.seeded_each}, self.seeded_each)

    def rows(self, start: int, stop: int, mapped: bool = False) -> dict:
        """A chunk's rows of the batched inputs and per-point tangents (by input node; tangents by
        -1 - node). With `mapped`, rows of a file mapped in memory are given as their place in it
        (MappedRows), for the worker to read itself."""
        rows = {i: MappedRows.of(v, start, stop) if mapped and from_file(v) else
                c_order(np.asarray(v[start:stop])) for i, v in self.bound.items() if i in self.batched}
        rows.update({-1 - i: t[start:stop] for i, t in self.seeds.items() if i in self.seeded_each})
        return rows

    def with_rows(self, rows: dict, points: int) -> Plan:
        """The shared plan with one chunk's rows (read here when they are a file's): a plan of its
        own points, sharing this one's batched graphs."""
        read = {i: v.read() if isinstance(v, MappedRows) else v for i, v in rows.items()}
        bound = {**self.bound, **{i: v for i, v in read.items() if i >= 0}}
        seeds = {**self.seeds, **{-1 - i: t for i, t in read.items() if i < 0}}
        return Plan(self.graph, bound, self.batched, self.spread, points, self.shapes, self.stop, [(0, points)],
                    seeds, self.seeded_each, self.graphs)


def from_file(value) -> bool:
    """Points read from a file a chunk at a time: an .npy file mapped in memory, or a Zarr array."""
    return isinstance(value, (np.memmap, ZarrPoints))


@dataclass(frozen=True)
class MappedRows:
    """Rows start..stop of a file of points (an .npy file's path, or a Zarr array), sent in place of
    the rows themselves: a worker that sees the same file or store reads them, and nothing but their
    place travels."""

    source: str | ZarrPoints
    start: int
    stop: int

    @staticmethod
    def of(value, start: int, stop: int) -> MappedRows:
        return MappedRows(os.path.abspath(value.filename) if isinstance(value, np.memmap) else value, start, stop)

    def read(self) -> np.ndarray:
        """The rows, copied, and the file unmapped: memory holds a chunk's rows, whatever the file's size."""
        if isinstance(self.source, ZarrPoints):
            return self.source.rows(self.start, self.stop)
        return np.array(np.load(self.source, mmap_mode="r", allow_pickle=False)[self.start:self.stop], order="C")


def plan(graph: Graph, given: dict, names, stop: int, spread=(), chunk: int | None = None) -> Plan:
    """Check the batch: names, sizes, each point's shapes (errors as for one point), chunks."""
    size, batched = batch_size(graph, given, names)
    labels = {i: graph.nodes[i].label for i in batched}
    bound = bind_inputs(graph, given, batched=set(labels.values()))
    bound = {i: v if i in batched else c_order(v) for i, v in bound.items()}  # as a worker gets them
    shapes = infer_shapes(graph, {i: np.shape(v)[1:] if i in batched else np.shape(v) for i, v in bound.items()},
                          stop)
    for i in batched:
        if graph.nodes[i].dtype == INT:
            used_as_index(graph, i, stop)
    p = Plan(graph, bound, batched, set(spread) - batched, size, shapes, stop)
    p.spans = chunks(size, chunk, point_bytes(shapes, stop))
    return p


def c_order(value: np.ndarray) -> np.ndarray:
    """The array in C order (copied only if it is not), its shape kept (a scalar stays one)."""
    return value if value.flags.c_contiguous else np.ascontiguousarray(value).reshape(value.shape)


def used_as_index(graph: Graph, index: int, stop: int) -> None:
    """A batched integer input may not reach an index array (an index is the same at every point)."""
    if index >= stop:  # first used after the output: it reaches nothing the output needs
        return
    reaches = [False] * stop
    reaches[index] = True
    for i in range(index + 1, stop):
        node = graph.nodes[i]
        if node.dtype == INT and any(reaches[a] for a in node.args):
            reaches[i] = True
        if node.op == "gather" and any(reaches[a] for a in node.args[1:]):
            label = graph.nodes[index].label
            raise ShapeError(f"--batch {label}: '{label}' is used here as an index, and an index cannot differ "
                             "from point to point; leave it out of --batch, or use one_hot() and a product",
                             graph.span(i))


# ---------------------------------------------------------------------------------------------
# Running: grad, eval and jvp over every point
# ---------------------------------------------------------------------------------------------

Progress = Callable[[int, int], None]  # (points done, points in all)


BLOCK_BYTES = 1 << 26  # a chunk is computed in blocks of about this many bytes of values: see in_blocks


def in_blocks(work, p: Plan, start: int, stop: int) -> dict:
    """work(p, start, stop), computed a block of points at a time and joined. A chunk is what is
    scheduled, read and written; a block is what is computed at once: measured on bench/programs/
    four.ad, blocks of about 64 MiB of values run 15-45% faster than 250,000-point chunks computed
    whole (each node's array stays in the allocator's reach), while large chunks keep the cost of
    scheduling them small. The blocks of a chunk differ in size by at most one point (two batched
    graphs), and each point's results do not depend on the blocking: the same bits."""
    size = stop - start
    most = max(1, BLOCK_BYTES // point_bytes(p.shapes, p.stop))
    count = -(-size // most)
    if count <= 1:
        return work(p, start, stop)
    edges = [start + size * k // count for k in range(count + 1)]
    parts = [work(p, a, b) for a, b in pairwise(edges)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def run_parts(p: Plan, work, progress: Progress | None = None, cluster=None, skip=frozenset(), writer=None):
    """(k, work(plan, start, stop)) for each chunk k not in `skip`, yielded in order as each is done:
    here, one after another, or on a Dask cluster (adcli.engine.distributed), each chunk sent with
    its own rows (or their place in a file) and, with a `writer`, written to the output folder by the
    worker itself: then (k, None) is yielded."""
    todo = [k for k in range(len(p.spans)) if k not in skip]
    done = p.size - sum(p.spans[k][1] - p.spans[k][0] for k in todo)  # points a resumed run already has
    if cluster is not None:
        yield from cluster.run(p, work, todo, progress, done, writer)
        return
    for k in todo:
        start, stop = p.spans[k]
        with paused_gc():
            part = in_blocks(work, p, start, stop)
        yield k, part  # kept (in memory or on disk) before it counts as done
        done += stop - start
        if progress is not None:
            progress(done, p.size)


def run_into(program, p: Plan, work, fields: dict, progress, cluster, output, settings: dict) -> dict:
    """Every chunk's results gathered in a Store: arrays in memory, or .npy files in output.folder
    (a run resumed from the chunks already there with output.resume)."""
    from adcli.engine.batch_store import Store, digest
    if output is None:
        store = Store(fields, p.size, p.spans)
    else:
        batched = {p.graph.nodes[i].label: v for i, v in p.bound.items()}
        identity = digest(program.graph.source, {**settings, "spans": p.spans}, batched)
        store = Store(fields, p.size, p.spans, output.folder, identity, output.resume)
    writer = store.writer() if cluster is not None else None
    try:
        for k, part in run_parts(p, work, progress, cluster, store.done, writer):
            store.put(k, part)
    except BaseException:  # interrupted, or the cluster gone: the manifest lists what is written
        store.abandon()
        raise
    return store.finish()


def per_point(value, size: int):
    """A node's value for `size` points: a shared (unbatched) one repeated along a new first axis."""
    return np.broadcast_to(value, (size,) + np.shape(value))


def grad(program, given: dict, names, of=None, wrt=None, chunk=None, progress: Progress | None = None,
         cluster=None, output=None):
    """Value and gradient at every point: (output name, values [B], {input: gradients [B, ...]},
    kink counts per point)."""
    from adcli.engine.results import require_scalar
    graph = program.graph
    name, out = program.output_node(of)
    wrt_nodes = program.wrt_nodes(wrt)
    p = plan(graph, given, names, out + 1, spread=wrt_nodes, chunk=chunk)
    require_scalar(graph, name, out, np.broadcast_to(0.0, p.shapes[out]))
    labels = [graph.nodes[w].label for w in wrt_nodes]
    gradients = {f"grad.{n}": (p.point_shape(w), np.float64) for n, w in zip(labels, wrt_nodes)}
    fields = {"value": ((), np.float64), **gradients, "kinked": ((), np.bool_)}
    work = partial(grad_part, out=out, wrt=tuple(wrt_nodes), kinks=tuple(kinkable(graph, out, wrt_nodes)))
    results = run_into(program, p, work, fields, progress, cluster, output,
                       {"command": "grad", "of": name, "wrt": labels, "batch": sorted(names)})
    return name, results["value"], {n: results[f"grad.{n}"] for n in labels}, results["kinked"]


def grad_part(p: Plan, start: int, stop: int, out: int, wrt: tuple, kinks: tuple) -> dict:
    """One chunk's values, gradients and kinked points."""
    b = p.batched_graph(stop - start)
    g = b.graph
    new_out = b.new[out]
    keep = backward_reads(g, new_out, [b.new[w] for w in wrt])
    for i in kinks:
        for a in (b.new[i], *g.nodes[b.new[i]].args):
            keep[a] = True
    values = evaluate(g, p.chunk_inputs(b, start, stop), new_out, keep=keep)
    kinked = kink_points(b, values, kinks, stop - start)
    result = values[new_out]
    value = np.reshape(result, (-1,)) if b.batched[out] else np.full(stop - start, np.reshape(result, ()))
    got = backward(g, values, new_out, [b.new[w] for w in wrt], release=True)
    labels = [p.graph.nodes[w].label for w in wrt]
    return {"value": value, **{f"grad.{n}": got[b.new[w]] for n, w in zip(labels, wrt)}, "kinked": kinked}


def kinkable(graph: Graph, out: int, wrt: list[int]) -> list[int]:
    """The nodes whose operation can kink, on a path from `wrt` to `out`."""
    from adcli.engine.kinks import on_path
    path = on_path(graph, out, wrt)
    return [i for i in range(out + 1) if path[i] and graph.nodes[i].op not in (INPUT, CONST)
            and OPS[graph.nodes[i].op].kink_code is not None]


def kink_points(b: Batched, values: list, nodes: list[int], size: int) -> np.ndarray:
    """Per point, whether the derivative passed a kink there (the kink rules on the batched values)."""
    hit = np.zeros(size, dtype=bool)
    g = b.graph
    for i in nodes:
        n = g.nodes[b.new[i]]
        if n.op not in OPS or OPS[n.op].kink_code is None:
            continue
        with np.errstate(all="ignore"):
            mask = np.asarray(OPS[n.op].kink(values[b.new[i]], *(values[a] for a in n.args), **(n.params or {})))
        if b.batched[i] and mask.shape[:1] == (size,):
            hit |= np.reshape(mask, (size, math.prod(mask.shape[1:]))).any(axis=1)  # -1 is ambiguous at 0 points
        else:  # a shared value's kink is at every point
            hit |= bool(mask.any())
    return hit


def evaluate_all(program, given: dict, names, of=None, chunk=None, progress: Progress | None = None,
                 cluster=None, output=None) -> dict:
    """Every assigned value (or only `of`) at every point, each with a leading axis of B."""
    graph = program.graph
    if of is not None:
        name, out = program.output_node(of)
        wanted = [(name, out)]
    else:
        wanted = list(graph.assigned)
    stop = max(i for _, i in wanted) + 1
    p = plan(graph, given, names, stop, chunk=chunk)
    fields = {label: (tuple(p.shapes[i]), dtype_of(graph, i)) for label, i in wanted}
    return run_into(program, p, partial(eval_part, wanted=tuple(wanted)), fields, progress, cluster, output,
                    {"command": "eval", "of": of, "batch": sorted(names)})


def eval_part(p: Plan, start: int, stop: int, wanted: tuple) -> dict:
    """One chunk's wanted values, each with a leading axis of its points."""
    b = p.batched_graph(stop - start)
    values = evaluate(b.graph, p.chunk_inputs(b, start, stop), b.new[p.stop - 1])
    return {label: values[b.new[i]] if b.batched[i] else per_point(values[b.new[i]], stop - start)
            for label, i in wanted}


def dtype_of(graph: Graph, index: int):
    return {INT: np.int64, BOOL: np.bool_}.get(graph.nodes[index].dtype, np.float64)


def jvp(program, directions: dict, given: dict, names, of=None, chunk=None, progress: Progress | None = None,
        cluster=None, output=None):
    """Value and directional derivative at every point. A tangent shaped like one point's input is
    the same at every point; one with a leading axis of B (and the rest of the input's shape) is
    per point."""
    from adcli.engine.evaluate import unknown_input_message
    graph = program.graph
    name, out = program.output_node(of)
    by_name = {graph.nodes[i].label: i for i in graph.inputs}
    for n in directions:
        if n not in by_name:
            raise InputError(f"--tangent {n}: " + unknown_input_message(n, list(by_name)))
    p = plan(graph, given, names, out + 1, spread=[by_name[n] for n in directions], chunk=chunk)
    for n, t in directions.items():  # a tangent for every point (with a leading axis of B), or for one
        i = by_name[n]
        one = p.point_shape(i)
        t = np.asarray(t, dtype=np.float64)
        if t.shape == (p.size,) + one:
            p.seeds[i] = t
            p.seeded_each.add(i)
        else:  # contiguous: a worker receives it so, and numpy's products pick their loops by strides
            p.seeds[i] = c_order(check_tangent(n, t, one, p.size))
    fields = {"value": (tuple(p.shapes[out]), np.float64), "tangent": (tuple(p.shapes[out]), np.float64)}
    seeds = {graph.nodes[i].label: t for i, t in p.seeds.items()}
    results = run_into(program, p, partial(jvp_part, out=out), fields, progress, cluster, output,
                       {"command": "jvp", "of": name, "batch": sorted(names),
                        "tangents": {n: [list(np.shape(t)), t.tobytes().hex()] for n, t in sorted(seeds.items())}})
    return name, results["value"], results["tangent"]


def jvp_part(p: Plan, start: int, stop: int, out: int) -> tuple:
    """One chunk's values and tangents."""
    from adcli.engine.forward import tangent_or_zeros, tangents
    b = p.batched_graph(stop - start)
    inputs = p.chunk_inputs(b, start, stop)
    tangent_of = {b.new[i]: t[start:stop] if i in p.seeded_each else np.broadcast_to(t, np.shape(inputs[b.new[i]]))
                  for i, t in p.seeds.items()}
    values = evaluate(b.graph, inputs, b.new[out])
    v = values[b.new[out]]
    value = v if b.batched[out] else per_point(v, stop - start)
    return {"value": value, "tangent": tangent_or_zeros(tangents(b.graph, values, b.new[out], tangent_of)[b.new[out]],
                                                        value)}


def check_tangent(name: str, t: np.ndarray, one: tuple, size: int) -> np.ndarray:
    """A tangent for one point, broadcast to it, or an error naming the shapes that would fit."""
    try:
        return np.broadcast_to(t, one)
    except ValueError:
        raise InputError(f"--tangent {name}: a tangent of shape {fmt_shape(t.shape)} fits neither one point's "
                         f"input (shape {fmt_shape(one)}) nor every point's ({fmt_shape((size,) + tuple(one))})") \
            from None


# ---------------------------------------------------------------------------------------------
# The Python API: program.batch("x").grad(...)
# ---------------------------------------------------------------------------------------------

@dataclass
class BatchGradient:
    """Values [B] and gradients [B, ...] at every point; which points passed a kink."""

    output: str
    value: np.ndarray
    grad: dict[str, np.ndarray]
    kinked: np.ndarray  # per point: the derivative passed a kink there (a convention was applied)


class BatchedProgram:
    """A program run at many points at once: `program.batch("x", chunk=1000).grad(**values)`.

    The named inputs hold their points along a first axis (all the same length B); the other inputs
    are shared. Results carry a leading axis of B; gradients with respect to shared inputs are per
    point too (per-example gradients).
    """

    def __init__(self, program, names, chunk: int | None = None, progress: Progress | None = None, cluster=None,
                 output=None):
        self.program, self.names, self.chunk, self.progress = program, list(names), chunk, progress
        self.cluster = cluster  # an adcli.engine.distributed.Cluster: the chunks run on Dask
        self.output = output  # an adcli.engine.batch_store.Output: the results go to .npy files as they come

    def grad(self, of: str | None = None, wrt=None, **given) -> BatchGradient:
        name, value, grads, kinked = grad(self.program, given, self.names, of, wrt, self.chunk, self.progress,
                                          self.cluster, self.output)
        return BatchGradient(name, value, grads, kinked)

    def eval(self, of: str | None = None, **given) -> dict[str, np.ndarray]:
        return evaluate_all(self.program, given, self.names, of, self.chunk, self.progress, self.cluster,
                            self.output)

    def jvp(self, directions: dict, of: str | None = None, **given):
        from adcli.engine.forward import JVP
        name, value, tangent = jvp(self.program, directions, given, self.names, of, self.chunk, self.progress,
                                   self.cluster, self.output)
        return JVP(name, value, tangent, dict(directions))

    def point(self, given: dict, index: int) -> dict:
        """The inputs of one point: each batched input's row `index`, the shared ones as they are."""
        return {k: ((v[index] if from_file(v) else np.asarray(v)[index]) if k in self.names else v)
                for k, v in given.items()}
