"""One measurement in a fresh process: `python -m bench.worker '{"task": ..., ...}'` prints JSON.

A fresh process per measurement keeps memory figures honest (nothing freed earlier is reused) and
keeps one library's imports and garbage from slowing another's run.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

# `python -m` puts the working directory first on the path; a tree chosen with --tree goes before it.
if os.environ.get("BENCH_ADCLI_TREE"):
    sys.path.insert(0, os.environ["BENCH_ADCLI_TREE"])

from .stats import Stats, interleaved, repeat, rss_peak, traced_peak


def scalar_task(spec: dict) -> dict:
    """Time (and measure) one implementation on one generated scalar workload."""
    from . import gen, peers
    impl, kind, n = spec["impl"], spec["kind"], spec["n"]
    source, given, (inputs, ops) = gen.scalar_workload(kind, n)
    _, expected = peers.float_tape(inputs, ops)
    out = {"impl": impl, "kind": kind, "n": n, "ops": len(ops)}
    warm_inputs, warm_ops = gen.chain_ops(8)
    if impl == "adcli":
        import adcli
        adcli.parse(gen.chain_source(8)).grad(x=1.0, a=1.0)  # loads the grammar and the registry
        del warm_inputs, warm_ops
        start = time.perf_counter()
        program = adcli.parse(source)
        out["parse"] = time.perf_counter() - start
        out["lines"] = source.count("\n")
        out["chars_per_line"] = len(source) / out["lines"]
        out["nodes"] = len(program.graph.nodes)

        def run():
            return program.grad(**given).grad
    else:
        fn = peers.SCALAR_PEERS[impl]
        fn(warm_inputs, warm_ops)  # imports the library and runs its one-time set-up
        del source

        def run():
            return fn(inputs, ops)[1]
    # The first call measures the resident-set peak (and is the only timed run when runs is 1).
    release_freed_memory()
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    rss, got = rss_peak(run)
    first = Stats.of([time.perf_counter() - start], [time.process_time() - start_cpu])
    out["rss_peak"] = rss
    if impl == "adcli":  # gradients by name, in the peers' input order
        got = [float(got[name]) for name, _ in inputs]
    out["max_grad_error"] = max(abs(float(g) - e) / max(1.0, abs(e)) for g, e in zip(got, expected))
    runs = spec.get("runs", 3)
    out["time"] = (repeat(run, runs, warmup=0) if runs > 1 else first).as_dict()
    if spec.get("traced"):
        out["traced_peak"] = traced_peak(run)[0]
    return out


WEIGHTS = ["W1", "b1", "W2", "b2"]


def mlp_task(spec: dict) -> dict:
    """The MLP loss: adcli beside hand-written numpy in one process, or one framework alone."""
    import numpy as np

    from . import gen, peers
    inputs = gen.mlp_inputs()
    impl, runs = spec["impl"], spec.get("runs", 10)
    _, expected = peers.mlp_numpy_grad(**inputs)
    out = {"impl": impl, "input_bytes": sum(v.nbytes for v in inputs.values())}
    if impl == "adcli":
        import adcli
        program = adcli.parse(gen.MLP_SOURCE)
        got = program.grad(**inputs).grad
        fns = {
            "adcli grad": lambda: program.grad(**inputs),
            "numpy grad": lambda: peers.mlp_numpy_grad(**inputs),
            "adcli grad (weights)": lambda: program.grad(wrt=WEIGHTS, **inputs),
            "numpy grad (weights)": lambda: peers.mlp_numpy_grad(**inputs, wrt_x=False),
            "adcli forward": lambda: program.eval(**inputs),
            "numpy forward": lambda: peers.mlp_numpy_forward(**inputs),
        }
        out["cost"] = cost_estimate(program, inputs)
    elif impl == "torch":
        got = peers.mlp_torch(inputs)[1]
        fns = {"torch grad": lambda: peers.mlp_torch(inputs),
               "torch grad (weights)": lambda: peers.mlp_torch(inputs, wrt_x=False)}
    elif impl == "jax":
        eager, jit = peers.mlp_jax(jit=False), peers.mlp_jax(jit=True)
        got = dict(zip(("X", "W1", "b1", "W2", "b2"), eager(inputs)))
        fns = {"jax grad (eager)": lambda: eager(inputs), "jax grad (jit)": lambda: jit(inputs)}
    else:
        raise ValueError(impl)
    out["max_grad_error"] = max(float(np.max(np.abs(np.asarray(got[k]) - e)) / max(1.0, float(np.max(np.abs(e)))))
                                for k, e in expected.items())
    out["time"] = {name: st.as_dict() for name, st in interleaved(fns, runs).items()}
    out["traced_peak"], out["rss_peak"] = {}, {}
    for name, fn in fns.items():
        out["traced_peak"][name] = traced_peak(fn)[0]
        release_freed_memory()
        out["rss_peak"][name] = rss_peak(fn)[0]
    return out


def modes_task(spec: dict) -> dict:
    """Forward mode against reverse mode on one generated function of n scalar inputs."""
    import adcli

    from . import gen
    n = spec["n"]
    program = adcli.parse(gen.inputs_source(n, spec.get("lines", 1000)))
    given = gen.inputs_values(n)
    forward, how = forward_gradient()
    reverse = program.grad(**given).grad
    got = forward(program, given)
    out = {"n": n, "ops": sum(1 for node in program.graph.nodes if node.op not in ("input", "const")),
           "forward_how": how,
           "max_grad_error": max(abs(float(got[k]) - float(v)) / max(1.0, abs(float(v))) for k, v in reverse.items())}
    out["reverse"] = repeat(lambda: program.grad(**given), spec.get("runs", 3)).as_dict()
    out["forward"] = repeat(lambda: forward(program, given), spec.get("forward_runs", 1), warmup=0).as_dict()
    try:
        from adcli.engine.cost import program_cost
        cost = program_cost(program, given)
        out["flops"] = {"forward": cost.jacobian["forward"]["flops"], "reverse": cost.jacobian["reverse"]["flops"]}
    except ImportError:
        pass
    return out


def forward_gradient():
    """adcli's forward-mode gradient, or, in an adcli without one, a loop over the registry's jvp rules."""
    try:
        from adcli.engine.forward import forward_grad
        return (lambda program, given: forward_grad(program, **given).grad), "adcli.engine.forward.forward_grad"
    except ImportError:
        pass
    import numpy as np

    from adcli.engine.evaluate import bind_inputs, evaluate
    from adcli.operations import OPS

    def loop(program, given):
        graph = program.graph
        values = evaluate(graph, bind_inputs(graph, given))
        grads = {}
        for w in graph.inputs:  # one pass per (scalar) input, its tangent seeded with 1
            tangents = [None] * len(values)
            tangents[w] = np.float64(1.0)
            for i, node in enumerate(graph.nodes):
                if node.op in ("input", "const"):
                    continue
                ts = [tangents[a] for a in node.args]
                if any(t is not None for t in ts):
                    ts = [np.float64(0.0) if t is None else t for t in ts]
                    tangents[i] = OPS[node.op].jvp(ts, values[i], [values[a] for a in node.args], node.params or {})
            grads[graph.nodes[w].label] = tangents[graph.output]
        return grads
    return loop, "a loop over the registry's jvp rules (this adcli has no adcli.engine.forward)"


def export_task(spec: dict) -> dict:
    """adcli export's module for numpy (beside the engine and numpy by hand) or JAX (jit, beside JAX by hand)."""
    import numpy as np

    import adcli
    from adcli.export import export_source, load_module

    from . import gen, peers
    impl, runs = spec["impl"], spec.get("runs", 10)
    inputs = gen.mlp_inputs()
    mlp = adcli.parse(gen.MLP_SOURCE)
    chain = adcli.parse(gen.chain_source(spec["chain"]))
    modules = {name: load_module(export_source(p, impl)) for name, p in (("mlp", mlp), ("chain", chain))}
    order = ("X", "W1", "b1", "W2", "b2")
    chain_args = {"x": 1.0, "a": 1.0}
    engine = {"mlp": mlp.grad(**inputs).grad, "chain": chain.grad(**chain_args).grad}
    out = {"impl": impl, "lines": {k: export_source(p, impl).count("\n") for k, p in (("mlp", mlp), ("chain", chain))}}
    if impl == "numpy":
        tape = gen.chain_ops(spec["chain"])
        fns = {
            "mlp": {"exported numpy grad_f": lambda: modules["mlp"].grad_f(*(inputs[k] for k in order)),
                    "adcli engine": lambda: mlp.grad(**inputs),
                    "numpy by hand": lambda: peers.mlp_numpy_grad(**inputs)},
            "scalar chain 10⁴": {"exported numpy grad_f": lambda: modules["chain"].grad_f(1.0, 1.0),
                                 "adcli engine": lambda: chain.grad(**chain_args),
                                 "Python floats by hand (a tape)": lambda: peers.float_tape(*tape)},
        }
        got = {"mlp": modules["mlp"].grad_f(*(inputs[k] for k in order))[1],
               "chain": modules["chain"].grad_f(1.0, 1.0)[1]}
    else:
        import jax
        jax.config.update("jax_enable_x64", True)
        jitted = {k: jax.jit(m.grad_f) for k, m in modules.items()}
        hand = peers.mlp_jax(jit=True)
        args = [jax.numpy.asarray(inputs[k]) for k in order]

        def exported_mlp():
            return jax.block_until_ready(jitted["mlp"](*args))
        fns = {"mlp": {"exported JAX grad_f (jit)": exported_mlp, "JAX by hand (jit)": lambda: hand(inputs)}}
        got = {"mlp": exported_mlp()[1]}
    out["max_grad_error"] = max(
        float(np.max(np.abs(np.asarray(got[w][k]) - e))) / max(1.0, float(np.max(np.abs(e))))
        for w in got for k, e in engine[w].items())
    out["time"] = {w: {name: st.as_dict() for name, st in interleaved(f, runs).items()} for w, f in fns.items()}
    return out


def batch_task(spec: dict) -> dict:
    """B points at once (program.batch) against B separate program.grad calls (timed on a sample of
    points and scaled to B) and, for relu, against vectorised numpy written by hand."""
    import json

    import numpy as np

    import adcli
    size, sample = spec["points"], spec.get("sample", 2000)
    rng = np.random.default_rng(0)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if spec["sample_file"] == "relu":
        program = adcli.load(os.path.join(root, "samples", "relu.ad"))
        given = {name: rng.normal(size=size) for name in ("W", "x", "b")}
        names = ["W", "x", "b"]
    else:
        program = adcli.load(os.path.join(root, "samples", "mlp.ad"))
        with open(os.path.join(root, "samples", "mlp.json")) as f:
            given = {k: np.array(v) for k, v in json.load(f).items()}
        given["X"] = rng.normal(size=(size,) + given["X"].shape)
        names = ["X"]
    many = program.batch(*names)
    point = lambda k: {n: (v[k] if n in names else v) for n, v in given.items()}  # noqa: E731
    runs = spec.get("runs", 5)
    out = {"points": size, "sample": sample}
    out["batched"] = repeat(lambda: many.grad(**given), runs).as_dict()
    one_by_one = repeat(lambda: [program.grad(**point(k)) for k in range(sample)], max(1, runs // 2))
    out["per_point"] = {k: v * size / sample if isinstance(v, float) else v for k, v in one_by_one.as_dict().items()}
    result = many.grad(**given)
    worst = 0.0
    for k in range(0, size, max(1, size // 50)):
        one = program.grad(**point(k))
        for n, g in one.grad.items():
            worst = max(worst, float(np.max(np.abs(result.grad[n][k] - g))))
    out["max_difference"] = worst
    if spec["sample_file"] == "relu":
        W, x, b = given["W"], given["x"], given["b"]

        def by_hand():
            u = W * x + b
            h = np.maximum(u, 0.0)
            slope = np.where(u > 0, 1.0, 0.0)
            return h, x * slope, W * slope, slope
        times = interleaved({"adcli": lambda: many.grad(**given), "numpy by hand": by_hand}, runs)
        out["interleaved"] = {k: v.as_dict() for k, v in times.items()}
    out["traced_peak"] = traced_peak(lambda: many.grad(**given))[0]
    return out


def checkpoint_task(spec: dict) -> dict:
    """Plain reverse mode against each checkpointing schedule: time, peak memory (tracemalloc, above
    the inputs), and adcli cost's prediction of that peak."""
    import numpy as np

    import adcli
    from adcli.engine.cost import schedule_costs
    if spec["workload"] == "recurrence":
        n = spec["steps"]
        source = f"input x: []\ninput a: []\nh = x\nfor t in range({n}):\n    h = a * h + 0.1 * sin(h)\ny = h\n"
        given = {"x": np.array(0.3), "a": np.array(0.9)}
    else:
        n, width = spec["steps"], spec["width"]
        wrt = ", ".join(spec.get("wrt", ["h0", "W"]))
        source = (f"input h0: [{width}]\ninput W: [{width}, {width}]\ndata xs: [{n}, {width}]\nh = h0\n"
                  f"for t in range({n}):\n    h = tanh(W @ h + xs[t])\nloss = sum(h * h)\n")
        rng = np.random.default_rng(0)
        given = {"h0": rng.normal(size=width), "W": rng.normal(size=(width, width)) / np.sqrt(width),
                 "xs": rng.normal(size=(n, width))}
        del wrt
    start = time.perf_counter()
    program = adcli.parse(source, unroll=True)  # checkpointing the unrolled graph (case 13 runs loops as loops)
    out = {"workload": spec["workload"], "steps": n, "nodes": len(program.graph.nodes),
           "parse": time.perf_counter() - start, "schedules": {}}
    wrt = spec.get("wrt")
    plain = program.grad(wrt=wrt, **given)
    predicted = {r.schedule: r for r in schedule_costs(program, given, [k for k in spec["kinds"] if k != "none"],
                                                         wrt=wrt)}
    runs = {}
    for kind in spec["kinds"]:
        run = (lambda: program.grad(wrt=wrt, **given)) if kind == "none" else \
            (lambda c=program.checkpointed(kind): c.grad(wrt=wrt, **given))
        run()  # the schedule is made once, on the first call
        runs[str(kind)] = run
    # Interleaved, so that the machine's drift (large on a shared machine) reaches every schedule alike.
    times = interleaved(runs, max(spec.get("runs", 3), 5))
    for kind in spec["kinds"]:
        run = runs[str(kind)]
        result = run()
        same = result.value == plain.value and all(np.array_equal(result.grad[k], plain.grad[k]) for k in plain.grad)
        peak = traced_peak(run)[0]
        row = predicted.get("none" if kind == "none" else ("sqrt" if kind == "sqrt" else f"every {kind} nodes"))
        out["schedules"][str(kind)] = {
            "time": times[str(kind)].as_dict(), "peak": peak, "identical": bool(same),
            "predicted_peak": None if row is None else row.peak_bytes - row.resident_bytes,
            "segments": None if row is None else row.segments, "kept_values": None if row is None else row.kept_values,
            "gradient_bytes": int(sum(np.asarray(g).nbytes for g in plain.grad.values()))}
    return out


def cost_estimate(program, inputs) -> dict | None:
    """`adcli cost`'s figures for the same program, where this adcli has the cost module."""
    try:
        from adcli.engine.cost import program_cost
    except ImportError:
        return None
    cost = program_cost(program, inputs).to_json()
    return {"resident_bytes": cost["resident_bytes"], "reverse": cost["reverse"], "forward": cost["forward"]}


def parse_task(spec: dict) -> dict:
    """adcli's parse, Lark's LALR with null callbacks on the same grammar and post-lexer, and a load
    from the program cache (in a private cache folder of its own), interleaved."""
    import tempfile

    from lark import Lark, Transformer, Tree

    from adcli.language.layout import Layout
    from adcli.language.parser import parse_source
    from adcli.language.program_cache import cached_graph
    from adcli.language.source import grammar_path

    from . import gen

    empty = Tree("_", [])

    class Null(Transformer):
        def __default__(self, data, children, meta):
            return empty if data.startswith("_") else None  # an inlined rule's result is spliced: no children

    source = gen.chain_source(spec["n"])
    lark = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual", postlex=Layout(),
                transformer=Null(), maybe_placeholders=True)
    parse_source("x = 1\n", "warm.ad")
    with tempfile.TemporaryDirectory() as home:
        os.environ["XDG_CACHE_HOME"] = home
        cached_graph(source, "chain.ad")  # writes the entry the cache row reads
        fns = {"Lark, null callbacks": lambda: lark.parse(source),
               "adcli parse": lambda: parse_source(source, "chain.ad"),
               "adcli, from the cache": lambda: cached_graph(source, "chain.ad")}
        times = interleaved(fns, spec.get("runs", 5))
    return {"lines": source.count("\n"), "time": {k: v.as_dict() for k, v in times.items()}}


def release_freed_memory() -> None:
    """Give memory freed so far back to the system, so the resident-set peak counts new use only."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main() -> None:
    spec = json.loads(sys.argv[1])
    task = {"parse": parse_task, "scalar": scalar_task, "mlp": mlp_task, "modes": modes_task, "export": export_task, "batch": batch_task,
            "checkpoint": checkpoint_task}[spec["task"]]
    try:
        result = task(spec)
    except Exception as e:  # reported as a skipped row, with the reason
        result = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
