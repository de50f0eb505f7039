"""The Python API: a parsed program that evaluates and differentiates itself."""

from __future__ import annotations

import difflib

import numpy as np

from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.results import Gradient, plain, require_scalar
from adcli.engine.reverse import backward, backward_reads
from adcli.engine.scalar import scalar_pass
from adcli.errors import InputError, Span
from adcli.language.graph import Graph, paused_gc


class Program:
    """A parsed .ad file: `.eval(**values)` and `.grad(of=None, wrt=None, **values)`."""

    def __init__(self, graph: Graph | None, source: str | None = None, file: str = "<input>", pending=None,
                 unroll: bool = False):
        self._graph = graph
        self.unroll = unroll  # every loop unrolled (for a trace), else long ones kept as loops
        # A file that sizes a loop, a slice or a reshape by a named dimension (range(T)) has no graph until
        # it is given inputs: `pending` is why, and specialise() expands it for their sizes.
        self.source, self.file, self.pending = source, file, pending
        self.sizes: dict[str, int] = {}
        self._graphs: dict[tuple, Graph] = {}
        self._declared: list | None = None  # (input, declared shape) for inputs with one
        self._counts: dict = {}  # scalar int input -> its declaration's place (range(n) may need its value)
        self._wanted: set = set()  # those the file has needed as numbers so far

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            raise self.pending
        return self._graph

    def specialise(self, given: dict) -> Program:
        """This program for the sizes of the given inputs (itself, rebound), when its file needs them
        as numbers; any other program is returned as it is. As JAX traces a function again for new
        shapes, each set of sizes gets its own graph, kept for the next call with the same sizes."""
        if self.pending is None:
            return self
        from adcli.errors import NeedsSizes
        from adcli.language.parser import parse_source
        if self._declared is None:  # read once: the file's declarations do not change with the values
            from adcli.language.parser import compile_source
            declares = [ins for ins in compile_source(self.source, self.file) if ins[0] == "declare"]
            self._declared = [(ins[1], ins[3]) for ins in declares if ins[3]]
            self._counts = {ins[1]: Span(ins[5], ins[6], self.file, self.source) for ins in declares
                            if ins[2] == "int" and ins[3] == ()}
            self._wanted = set(self.pending.dims) & set(self._counts)
        while True:
            # A scalar int input is specialised to its value only where the file needs it as a number
            # (range(n)): anywhere else (x[k]) it stays a value, and one graph serves every k.
            sizes = {**dimension_sizes(self._declared, given), **counts(self._wanted, given, self._counts)}
            key = tuple(sorted(sizes.items()))
            if key in self._graphs:
                break
            try:
                self._graphs[key] = parse_source(self.source, self.file, sizes, self.unroll)
                break
            except NeedsSizes as more:
                new = (set(more.dims) & set(self._counts)) - self._wanted
                if not new:
                    raise
                self._wanted |= new
        self._graph, self.sizes = self._graphs[key], sizes
        return self

    @property
    def inputs(self) -> list[str]:
        """Input names, declared ones first, then in order of first use."""
        return self.graph.input_names()

    def output_node(self, of: str | None = None) -> tuple[str, int]:
        """The (name, node) of the output: `of`, or the last assigned name."""
        graph = self.graph
        if of is None:
            return graph.output_name, graph.output
        if of in graph.names:
            return of, graph.names[of]
        labels = {node.label: i for i, node in enumerate(graph.nodes) if node.label}
        if of in labels:
            return of, labels[of]
        close = difflib.get_close_matches(of, list(graph.names), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise InputError(f"--of {of}: the file has no value named '{of}'{hint}")

    def wrt_nodes(self, wrt) -> list[int]:
        """Input nodes to differentiate with respect to: `wrt` names, or every parameter (each float
        input not declared as data)."""
        graph = self.graph
        if not wrt:
            return graph.parameters()
        if isinstance(wrt, str):
            wrt = [wrt]
        by_name = {graph.nodes[i].label: i for i in graph.inputs}
        chosen = []
        for name in wrt:
            if name not in by_name:
                # the candidates are what --wrt can take: integer and data inputs never are
                candidates = [graph.nodes[i].label for i in graph.parameters()]
                close = difflib.get_close_matches(name, candidates, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else \
                    f" (the inputs it can differentiate are {', '.join(candidates)})" if candidates else \
                    " (it has no input that can be differentiated)"
                raise InputError(f"--wrt {name}: '{name}' is not an input of this file{hint}")
            node = graph.nodes[by_name[name]]
            if not graph.differentiable(by_name[name]):
                why = "integer data has no derivative" if node.dtype != "f" else \
                    "it is declared as data, which is not differentiated (declare it with 'input' to differentiate it)"
                raise InputError(f"--wrt {name}: '{name}' cannot be differentiated: {why}", graph.span(by_name[name]))
            if by_name[name] not in chosen:
                chosen.append(by_name[name])
        return sorted(chosen, key=graph.inputs.index)

    def values(self, given: dict, upto: int | None = None, keep: list[bool] | None = None) -> list:
        """Every node's value (up to node `upto`) for the given input values; with `keep`, only the
        marked ones stay whole (the others are released after their last use)."""
        self.specialise(given)
        bound = bind_inputs(self.graph, given)
        with paused_gc():
            return evaluate(self.graph, bound, upto, keep=keep)

    def where(self) -> dict[str, str]:
        """For each assignment made inside a loop or a function call, which iteration and call made
        it, briefly: {"h'": "t=1", "cell.z": "t=0, cell@7:9"}."""
        graph = self.graph
        return {label: graph.context_words(graph.nodes[index].ctx, short=True) for label, index in graph.assigned
                if graph.nodes[index].ctx}

    def eval(self, of: str | None = None, **given) -> dict[str, np.ndarray]:
        """The value of every assignment by label (h, h', ...) in file order, or only of `of`."""
        # Only what is returned is held: a long chain of temporaries costs one or two at a time.
        self.specialise(given)
        keep = [False] * len(self.graph.nodes)
        if of is not None:
            name, index = self.output_node(of)
            keep[index] = True
            return {name: plain(self.values(given, upto=index, keep=keep)[index])}
        for _, index in self.graph.assigned:
            keep[index] = True
        values = self.values(given, keep=keep)
        return {label: plain(values[index]) for label, index in self.graph.assigned}

    def batch(self, *names: str, chunk: int | None = None, progress=None, cluster=None, output=None):
        """The program at many points at once: the named inputs hold B points along a first axis.
        `program.batch("x").grad(W=w, x=xs)` gives values [B] and gradients [B, ...]. With
        `cluster=adcli.Cluster(workers=2)` (or `address=...`) the chunks run on Dask; with
        `output=adcli.Output("folder")` the results are .npy files there, written chunk by chunk."""
        from adcli.engine.batch import BatchedProgram
        return BatchedProgram(self, names, chunk, progress, cluster, output)

    def checkpointed(self, kind="auto", budget=None):
        """The program's gradients by checkpointing: `program.checkpointed("sqrt").grad(**values)`
        equals `program.grad(**values)` bit for bit, keeping about 2√n values instead of n. `kind`
        is "auto", "sqrt" or N nodes per segment; `budget` ("200MB") bounds the predicted peak."""
        from adcli.engine.checkpoint import Checkpointed
        return Checkpointed(self, kind, budget)

    def grad(self, of: str | None = None, wrt=None, **given) -> Gradient:
        """The output's value and its gradient with respect to each input (reverse mode)."""
        self.specialise(given)
        name, out = self.output_node(of)
        wrt_nodes = self.wrt_nodes(wrt)
        bound = bind_inputs(self.graph, given)
        with paused_gc():
            fast = scalar_pass(self.graph, bound, out, wrt_nodes)
            values, grads = fast if fast is not None else (None, None)
            if fast is None:  # arrays, or a case only numpy handles: the general engine
                reads = self.graph.memo(("reads", out, tuple(wrt_nodes)),
                                        lambda: backward_reads(self.graph, out, wrt_nodes))
                values = evaluate(self.graph, bound, out, keep=reads)
                require_scalar(self.graph, name, out, values[out])
                grads = backward(self.graph, values, out, wrt_nodes, release=True)
        nodes = self.graph.nodes
        return Gradient(name, plain(values[out]), {nodes[w].label: plain(grads[w]) for w in wrt_nodes},
                        values if fast is not None else None)


def counts(names, given: dict, declared: dict) -> dict[str, int]:
    """The values of the scalar int inputs the file needs as numbers (range(n)): one whole number
    each, so a batch of points cannot vary them."""
    from adcli.engine.evaluate import whole_numbers
    found = {}
    for name in sorted(names):
        if name in given:
            value = np.asarray(given[name])
            if value.ndim:
                raise InputError(f"input '{name}' is a number the file needs as it is read (a loop bound, a size), "
                                 f"so it takes one whole number, not an array of shape {list(value.shape)}: a batch "
                                 "of points cannot vary it", declared[name])
            found[name] = int(whole_numbers(value, name, declared[name]))
    return found


def dimension_sizes(declared: list, given: dict) -> dict[str, int]:
    """Each named dimension's size, read from the given inputs declared with it (`input x: [T, n]`).
    A value with more axes than declared (a batch of points) is read by its last axes."""
    sizes: dict[str, int] = {}
    for name, dims in declared:
        if name in given:
            shape = np.shape(given[name])
            if len(shape) >= len(dims):
                for dim, size in zip(dims, shape[len(shape) - len(dims):]):
                    if isinstance(dim, str):
                        sizes.setdefault(dim, int(size))
    return sizes


def parse(source: str, file: str = "<input>", unroll: bool = False) -> Program:
    """Parse .ad source text into a Program (with `unroll`, every loop unrolled)."""
    from adcli.errors import NeedsSizes
    from adcli.language.parser import parse_source
    try:
        return Program(parse_source(source, file, unroll=unroll), unroll=unroll)
    except NeedsSizes as pending:
        return Program(None, source, file, pending, unroll)


def load(path: str, unroll: bool = False) -> Program:
    """Read and parse a .ad file ('-' for standard input); an unchanged file's graph comes from the
    program cache, without parsing. With `unroll`, every loop is unrolled, as a trace lists them."""
    from adcli.errors import NeedsSizes
    from adcli.language.program_cache import cached_graph
    from adcli.language.source import plain_source, read_source
    source, name = read_source(path)
    try:
        return Program(cached_graph(source, name, unroll), unroll=unroll)
    except NeedsSizes as pending:
        return Program(None, plain_source(source), name, pending, unroll)
