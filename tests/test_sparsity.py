"""Sparse Jacobians and Hessians: the registry's sparsity rules, the graph's patterns, colourings, the
compressed results against the dense ones, and the products H·v and vᵀJ.

1. every registry operation's `pattern` rule holds every non-zero of the operation's own Jacobian
   (its jvp along unit tangents, at several points of each case in tests/op_cases.py), and is exact
   for the operations whose rule says so; a bilinear rule's triples hold every mixed second
   derivative; through the engine, a one-operation program's Jacobian and Hessian patterns hold the
   dense results' non-zeros, and the compressed results equal the dense ones;
2. piecewise-linear (curved=False) and linear operations have a zero Hessian at generic points;
3. random programs (tests/random_programs_lib.py, fixed seeds and the session's fresh seed): the
   compressed Jacobian (auto, forward, reverse) and Hessian equal the dense ones, whose non-zeros lie
   inside the graph's patterns; at hostile points (NaN, infinities) the Jacobians too, NaN for NaN
   inside the pattern;
4. known structures: a tridiagonal residual (3 passes at any size, against JAX), a 5-point stencil,
   block-diagonal batches, an arrowhead Hessian, Rosenbrock, a dense Hessian, blocks that are zero,
   empty inputs and outputs, integer and data inputs, a subset of inputs, patterns too large to build,
   plans reused across calls;
5. hvp and vjp against the dense matrices and JAX, and their errors;
6. colourings of random patterns are valid, deterministic and no better than the bound;
7. compressed and dense results as scipy's coo_array.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import random_programs_lib as lib
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from op_cases import ALL_OPS, NO_DERIVATIVE, checked_cases, floats, op_program, points

import adcli
from adcli.engine import colouring
from adcli.engine.evaluate import bind_inputs, evaluate
from adcli.engine.matrices import Coo, hessian, hvp, jacobian, vjp
from adcli.engine.sparsity import Pattern, hessian_pattern, jacobian_pattern
from adcli.errors import InputError, ShapeError
from adcli.operations import OPS
from adcli.operations.patterns import Triples, relations

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def with_defaults(op, params: dict) -> dict:
    """The parameters as the parser stores them in a graph node: every default filled in. (Rules read
    only the parameters given: logsumexp's rule, given no axis, reduces over every axis, though the
    operation's default axis is -1.)"""
    return {**dict(op.params), **params}


def as_operands(xs) -> list:
    return [np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else np.asarray(x) for x in xs]


def local_jacobian(op, xs, params, k) -> np.ndarray:
    """∂op(xs)/∂xs[k] as a (result size, operand size) matrix, by the jvp along each unit tangent."""
    ans = np.asarray(op.forward(*xs, **params))
    J = np.zeros((ans.size, xs[k].size))
    for j in range(xs[k].size):
        ts = []
        for m, x in enumerate(xs):
            if m == k:
                t = np.zeros(x.shape)
                t.flat[j] = 1.0
            else:
                t = None if op.elementwise else np.zeros(x.shape)
            ts.append(t)
        with np.errstate(all="ignore"):
            got = np.asarray(op.jvp(ts, ans, xs, params), dtype=np.float64)
        J[:, j] = np.broadcast_to(got, ans.shape).ravel()
    return J


def rule_of(op, xs, params):
    """The rule's relations (one per operand) and triples, for operands xs."""
    ans = np.asarray(op.forward(*xs, **params))
    local = op.pattern(ans.shape, [x.shape for x in xs], params, xs, op.forward)
    rels, triples = relations(local, len(xs))
    assert len(rels) == len(xs), (op.name, len(rels), len(xs))
    for k, rel in enumerate(rels):
        if rel is None:
            continue
        out, arg = (np.asarray(r) for r in rel)
        assert out.shape == arg.shape and out.dtype.kind in "iu" and arg.dtype.kind in "iu", (op.name, k)
        assert np.all((0 <= out) & (out < ans.size)), (op.name, k, "result index out of range")
        assert np.all((0 <= arg) & (arg < xs[k].size)), (op.name, k, "operand index out of range")
    return ans, rels, triples


def relation_matrix(rel, n_out: int, n_in: int) -> np.ndarray:
    m = np.zeros((n_out, n_in), dtype=bool)
    if rel is not None:
        m[rel[0], rel[1]] = True
    return m


def draws(name: str, extra: int):
    """op_cases' points of `name`, then `extra` more draws of each case from its domain (integer index
    arrays, whose values shape the rule, only at op_cases' own points)."""
    domain, shape_cases = checked_cases(name)
    fixed = list(points(name))
    for i, (shapes, params) in enumerate(shape_cases):
        found = [fixed[i][0]]
        if name != "gather":
            for d in range(extra):
                found.append(as_operands(domain(np.random.default_rng(7919 * d + 31 * i + 5), shapes)))
        yield shapes, params, found


# Rules that must be exact at generic points: the union of the Jacobian's non-zeros over a few points
# is the rule's relation. (amax, amin and sort read values; where ignores its condition; the linear
# algebra rules are dense: all of these over-state by design.)
STRUCTURAL = {"getitem", "setitem", "gather", "reshape", "transpose", "stack", "concat", "flip", "roll", "diag",
              "tril", "triu", "expand_dims", "squeeze", "broadcast_to", "trace", "sum", "mean", "prod", "var", "std",
              "norm", "logsumexp", "softmax", "log_softmax", "matmul", "dot", "outer", "kron", "einsum", "cumsum",
              "cumprod", "logcumsumexp", "diff"}
EXACT = STRUCTURAL | {name for name in ALL_OPS if OPS[name].elementwise}
OVERSTATED = {"amax", "amin", "sort", "where", "solve", "inv", "det", "logdet", "cholesky", "eigvalsh",
              "solve_triangular", "fixed_point", "root", "rule", "loop", "while"}


def test_every_op_is_exact_or_known_to_overstate():
    """A new operation must be placed: its rule exact, over-stating by design, or no derivative."""
    assert set(ALL_OPS) == EXACT | OVERSTATED | set(NO_DERIVATIVE)
    assert not EXACT & OVERSTATED


# ---------------------------------------------------------------------------------------------
# 1. Every registry rule against the operation's own Jacobian
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_OPS)
def test_rule_holds_every_nonzero_of_the_local_jacobian(name):
    op = OPS[name]
    assert op.pattern is not None, f"{name} has no sparsity rule"
    # Piecewise-linear operations zero some derivatives at a point: more draws, so their union is whole.
    extra = 11 if not op.curved else 3
    for shapes, params, found in draws(name, extra):
        params = with_defaults(op, params)
        union, rule = {}, {}
        for xs in found:
            ans, rels, _ = rule_of(op, xs, params)
            for k in floats(xs):
                if name in NO_DERIVATIVE:  # no jvp at all: the rule must say so
                    assert rels[k] is None, f"{name} has no derivative, yet a relation for operand {k}"
                    continue
                J = local_jacobian(op, xs, params, k)
                M = relation_matrix(rels[k], ans.size, xs[k].size)
                missed = np.argwhere((J != 0) & ~M)
                assert not len(missed), \
                    f"{name}{shapes} {params}: operand {k}'s rule misses (result, operand) {missed[:5].tolist()}"
                if name == "gather":  # the rule reads the index values: exact at each point
                    assert np.array_equal(J != 0, M), f"gather{shapes} {params}: rule {M}, Jacobian {J != 0}"
                union[k] = union.get(k, np.zeros(M.shape, bool)) | (J != 0)
                assert np.array_equal(rule.setdefault(k, M), M), f"{name}: the rule changed with float values"
        if name in EXACT:
            for k, seen in union.items():
                assert np.array_equal(seen, rule[k]), \
                    f"{name}{shapes} {params}: operand {k}'s rule has {int(rule[k].sum())} pairs, " \
                    f"the Jacobians {int(seen.sum())}: {np.argwhere(rule[k] & ~seen)[:5].tolist()} never seen"


def bilinear_form(op, xs, params, j, k) -> np.ndarray:
    """∂²op/∂a[j]∂b[k] of a bilinear operation: op(e_j, e_k)."""
    a, b = np.zeros(xs[0].shape), np.zeros(xs[1].shape)
    a.flat[j], b.flat[k] = 1.0, 1.0
    return np.asarray(op.forward(a, b, **params), dtype=np.float64).ravel()


@pytest.mark.parametrize("name", ["mul", "matmul", "dot", "outer", "kron", "einsum"])
def test_triples_are_exactly_the_mixed_second_derivatives(name):
    op = OPS[name]
    for xs, params in points(name):
        params = with_defaults(op, params)
        _, _, triples = rule_of(op, xs, params)
        if len(xs) != 2:
            assert triples is None, f"{name} of {len(xs)} operands gave triples"
            continue
        assert isinstance(triples, Triples), f"{name}{[x.shape for x in xs]}: a bilinear rule gives Triples"
        got = set(zip(triples.out.tolist(), triples.a.tolist(), triples.b.tolist()))
        want = set()
        for j in range(xs[0].size):
            for k in range(xs[1].size):
                for i in np.flatnonzero(bilinear_form(op, xs, params, j, k)):
                    want.add((int(i), j, k))
        assert got == want, f"{name}{[x.shape for x in xs]} {params}: extra {sorted(got - want)[:5]}, " \
                            f"missing {sorted(want - got)[:5]}"
        assert len(got) == len(triples.out), f"{name}: a triple listed twice"


def dense_hessian(H, names) -> np.ndarray:
    sizes = [math.prod(H.shapes[n]) for n in names]
    return np.block([[np.reshape(H.blocks[(a, b)], (sa, sb)) for b, sb in zip(names, sizes)]
                     for a, sa in zip(names, sizes)]) if names else np.zeros((0, 0))


def dense_jacobian(J, names) -> np.ndarray:
    rows = math.prod(np.shape(J.value))
    return np.concatenate([np.reshape(J.blocks[n], (rows, -1)) for n in names], axis=1) if names \
        else np.zeros((rows, 0))


def assert_pattern_holds(pattern: Pattern, matrix: np.ndarray, what: str):
    assert pattern.shape == matrix.shape, f"{what}: pattern {pattern.shape}, matrix {matrix.shape}"
    outside = np.argwhere((matrix != 0) & ~np.isnan(matrix) & ~pattern.dense()) if matrix.size else []
    assert not len(outside), f"{what}: non-zeros outside the pattern at {outside[:5].tolist()}"


def same(got, want, what, rtol=1e-13, floor=0.0):
    """Equal to `rtol` relative to the largest element of `want` (or `floor`, when larger), NaN for NaN."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaN in one only\n{got}\n{want}"
    scale = max(floor, float(np.max(np.abs(np.where(np.isfinite(want), want, 0.0)), initial=0.0)))
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: equal, found by ==
        ok = np.isnan(want) | (got == want) | (np.abs(got - want) <= rtol * np.maximum(np.abs(want), scale))
    assert np.all(ok), f"{what}: differs by {np.nanmax(np.abs(got - want))}\n{got}\n{want}"


@pytest.mark.parametrize("name", ALL_OPS)
def test_one_operation_programs_compress_exactly(name):
    """Through the engine: the program y = op(a, b, ...), loss = sum(y * W). The patterns of ∂y and of
    the Hessian of loss hold the dense results' non-zeros; the compressed results equal them; and a
    piecewise-linear or linear operation has no curvature at all."""
    op = OPS[name]
    for xs, params in points(name):
        program, values = op_program(name, xs, params)
        graph = program.graph
        wrt = program.wrt_nodes(None)
        names = [graph.nodes[w].label for w in wrt]
        if not wrt:
            continue
        _, y = program.output_node("y")
        evaluated = evaluate(graph, bind_inputs(graph, values), y)
        if op.dtype != "bool":  # (a comparison's Jacobian is not asked for)
            dense = jacobian(program, of="y", dense=True, **values)
            pattern, _ = jacobian_pattern(graph, evaluated, y, wrt)
            assert_pattern_holds(pattern, dense_jacobian(dense, names), f"∂y of {name}")
            for mode in ("auto", "forward", "reverse"):
                sparse = jacobian(program, of="y", mode=mode, **values)
                for n in names:
                    same(sparse.blocks[n], dense.blocks[n], f"{name}: ∂y/∂{n} ({mode}, {sparse.passes} passes)")
        if not op.second_order:
            with pytest.raises(ShapeError, match="second derivatives"):
                hessian(program, **values)
            continue
        H = hessian(program, dense=True, **values)
        matrix = dense_hessian(H, names)
        _, out = program.output_node("loss")
        full = evaluate(graph, bind_inputs(graph, values), out)
        assert_pattern_holds(hessian_pattern(graph, full, out, wrt)[0], matrix, f"Hessian of sum({name}(...) * W)")
        compressed = hessian(program, **values)
        for key in H.blocks:
            # std of two elements is piecewise linear: its Hessian is rounding, differently made
            same(compressed.blocks[key], H.blocks[key], f"{name}: Hessian block {key}", floor=1.0)
        if op.linear or not op.curved:
            assert not np.any(matrix), f"{name} (linear={op.linear}, curved={op.curved}) has curvature:\n{matrix}"
            assert hessian_pattern(graph, full, out, wrt)[0].nnz == 0, name


# ---------------------------------------------------------------------------------------------
# 2. Curvature flags, with random weights
# ---------------------------------------------------------------------------------------------

FLAT = sorted(name for name in ALL_OPS if OPS[name].linear or not OPS[name].curved)


def test_curvature_flags_cover_the_piecewise_linear_family():
    assert {"relu", "abs", "maximum", "minimum", "clip", "sort", "where", "gather", "amax", "amin",
            "leaky_relu"} <= {name for name in ALL_OPS if not OPS[name].curved}
    assert not any(OPS[name].linear and name in NO_DERIVATIVE for name in ALL_OPS)


@pytest.mark.parametrize("name", FLAT)
def test_flat_operations_have_zero_hessian(name):
    """Hessian of sum(op(...) * c) with random weights c, at the operation's generic points, is 0."""
    for index, (xs, params) in enumerate(points(name)):
        program, values = op_program(name, xs, params)
        if not program.wrt_nodes(None):
            continue
        values["W"] = np.random.default_rng(100 + index).normal(size=np.shape(values["W"])) * 3.0
        H = hessian(program, dense=True, **values)
        for key, block in H.blocks.items():
            assert not np.any(block), f"{name}{[x.shape for x in xs]}: Hessian block {key} = {block}"


# ---------------------------------------------------------------------------------------------
# 3. Random programs: compressed against dense
# ---------------------------------------------------------------------------------------------

RANDOM_EXAMPLES = 150
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FRESH_EXAMPLES = 25
HOSTILE_EXAMPLES = 60
SETTINGS = {"deadline": None, "database": None, "phases": [Phase.explicit, Phase.reuse, Phase.generate],
            "report_multiple_bugs": False,
            "suppress_health_check": [HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large]}


def well_scaled_point(program, inputs, point_seed):
    """A point as test_random_programs takes one: up to VALUE_TRIES draws, else the program is
    rejected (hypothesis's assume), as there."""
    for attempt in range(lib.VALUE_TRIES):
        values = lib.well_scaled_values(program, inputs, point_seed + attempt)
        if lib.acceptable(program.graph, lib.strict(program.values, values)):
            return values
    from hypothesis import assume
    assume(False)


def check_random_program(statements, inputs, point_seed, counts, hostile_values=None):
    """Compressed against dense: Jacobians (auto, forward, reverse) of the loss and of the last array
    assignment, and the loss's Hessian. At hostile points (NaN, infinities, huge values: given) only
    the Jacobians, NaN for NaN: the calls may warn there."""
    hostile = hostile_values is not None
    source = lib.print_program(statements, np.random.default_rng(point_seed))
    program = lib.strict(adcli.parse, source, "random.ad")
    values = {n: hostile_values[n] for n in program.inputs} if hostile else \
        well_scaled_point(program, inputs, point_seed)
    call = quiet if hostile else lib.strict
    context = f"\n{source}\nvalues: {values}"
    graph = program.graph
    wrt = program.wrt_nodes(None)
    names = [graph.nodes[w].label for w in wrt]
    if not wrt:
        return
    counts["programs"] += 1
    full = call(evaluate, graph, bind_inputs(graph, values), None)
    # The Jacobians of the last array assignment (if any) and of the loss.
    outputs = ["loss"]
    for label, index in reversed(graph.assigned):
        # (a version that only renames an earlier value, x' of `x = x`, is no name --of takes)
        if label != "loss" and graph.nodes[index].label == label and graph.nodes[index].dtype == "f" \
                and np.size(full[index]) > 1:
            outputs.append(label)
            break
    for of in outputs:
        _, out = program.output_node(of)
        dense = {mode: call(jacobian, program, of=of, mode=mode, dense=True, **values)
                 for mode in ("forward", "reverse")}
        pattern, _ = call(jacobian_pattern, graph, full, out, wrt)
        assert_pattern_holds(pattern, dense_jacobian(dense["forward"], names), f"∂{of}{context}")
        assert_pattern_holds(pattern, dense_jacobian(dense["reverse"], names), f"∂{of}{context}")
        scale = max([1.0] + [float(np.max(np.abs(b), initial=0.0)) for b in dense["reverse"].blocks.values()])
        for n in names if not hostile else ():
            assert np.allclose(dense["forward"].blocks[n], dense["reverse"].blocks[n], rtol=0,
                               atol=lib.FORWARD_RTOL * scale), f"∂{of}/∂{n}: dense forward and reverse{context}"
        for mode in ("auto", "forward", "reverse"):
            sparse = call(jacobian, program, of=of, mode=mode, **values)
            reference = dense[sparse.mode]  # the same passes' kind: the same arithmetic
            what = f"∂{of} ({mode}, {sparse.mode}){context}"
            if sparse.sparse is not None:
                counts["compressed jacobians"] += 1
                assert sparse.passes == sparse.sparse.colours < sparse.sparse.dense_passes, what
                assert sparse.sparse.nnz == pattern.nnz, what
            if hostile and sparse.sparse is not None:
                # A NaN value times a zero tangent puts NaN in the dense Jacobian where the pattern
                # says 0 (log_softmax of a NaN column, seeded along another column): compare inside.
                inside = pattern.dense()
                got, want = dense_jacobian(sparse, names), dense_jacobian(reference, names)
                same(got[inside], want[inside], what)
                assert not np.any(got[~inside]), what
                assert np.all((want[~inside] == 0) | np.isnan(want[~inside])), what
                continue
            for n in names:
                same(sparse.blocks[n], reference.blocks[n], f"∂{of}/∂{n} ({mode}, {sparse.mode}){context}")
    if hostile or any(not OPS[n.op].second_order for n in graph.nodes if n.op in OPS):
        return
    H = lib.strict(hessian, program, dense=True, **values)
    _, out = program.output_node("loss")
    assert_pattern_holds(hessian_pattern(graph, full, out, wrt)[0], dense_hessian(H, names), f"Hessian{context}")
    compressed = lib.strict(hessian, program, **values)
    counts["compressed hessians"] += compressed.sparse is not None
    # rounding at the points' scale (values near 1): an entry that is 0 but for rounding (b after a
    # softmax over the axis the loss sums) is noise of 1e-17 in either pass, not a relative error
    scale = max([1.0] + [float(np.max(np.abs(np.where(np.isfinite(b), b, 0.0)), initial=0.0)) for b in H.blocks.values()])
    for key in H.blocks:
        # each entry from the pass seeded along its row, as the dense way: the same bits; a star
        # colouring's mirrored entries are the other pass's, equal up to rounding
        exact = compressed.sparse is None or compressed.sparse.mirrored == 0
        same(compressed.blocks[key], H.blocks[key], f"Hessian block {key} ({compressed.passes} passes){context}",
             rtol=0.0 if exact else 1e-13, floor=scale)


def quiet(call, *args, **kwargs):
    """At hostile points overflow and NaN are expected: numpy's warnings are silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def run_random_programs(examples: int, fresh_seed: int | None = None, hostile: bool = False) -> dict:
    """Check `examples` programs (derandomized, or from `fresh_seed`); how many did what."""
    counts = {"programs": 0, "compressed jacobians": 0, "compressed hessians": 0}
    settings_ = settings(max_examples=examples, derandomize=fresh_seed is None, **SETTINGS)

    @settings_
    @given(lib.programs(hostile=hostile), st.integers(0, 2**32 - 1))
    def check(case, point_seed):
        statements, inputs, values = case
        check_random_program(statements, inputs, point_seed, counts, values)

    (check if fresh_seed is None else seed(fresh_seed)(check))()
    return counts


def test_random_programs_compress_exactly():
    counts = run_random_programs(RANDOM_EXAMPLES)
    print(counts)
    # The set is fixed: it must keep exercising the compressed paths.
    assert counts["programs"] >= RANDOM_EXAMPLES * 2 // 3 and counts["compressed jacobians"] >= 100 \
        and counts["compressed hessians"] >= 50, counts


def test_random_programs_compress_exactly_at_hostile_points():
    counts = run_random_programs(HOSTILE_EXAMPLES, hostile=True)
    assert counts["programs"] >= HOSTILE_EXAMPLES // 2 and counts["compressed jacobians"] >= 20, counts


def test_fresh_random_programs_compress_exactly(fresh_seed):
    print(f"{FRESH_EXAMPLES} programs from ADCLI_SEED={fresh_seed}; replay: ADCLI_SEED={fresh_seed} "
          "python -m pytest tests/test_sparsity.py -k fresh")
    counts = run_random_programs(FRESH_EXAMPLES, fresh_seed)
    print(counts)


# ---------------------------------------------------------------------------------------------
# 4. Known structures
# ---------------------------------------------------------------------------------------------

TRIDIAGONAL = "input x: [n]\nr = 2 * x[1:n-1] - x[:n-2] - x[2:] + x[1:n-1] ** 3\ns = sum(r * r)\n"


def tridiagonal_expected(x):
    n = len(x)
    J = np.zeros((max(n - 2, 0), n))
    for i in range(n - 2):
        J[i, i], J[i, i + 1], J[i, i + 2] = -1.0, 2.0 + 3.0 * x[i + 1] ** 2, -1.0
    return J


def jax_module():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # adcli computes in float64: so must the reference
    return jax


def tridiagonal_jax(x):
    return 2 * x[1:-1] - x[:-2] - x[2:] + x[1:-1] ** 3


@pytest.mark.parametrize("n", [10, 200, 2000])
def test_tridiagonal_residual_takes_three_passes(n):
    program = adcli.parse(TRIDIAGONAL)
    x = np.linspace(-1, 1, n)
    J = jacobian(program, of="r", x=x)
    assert J.passes == 3 and J.sparse is not None and J.sparse.colours == 3
    assert J.sparse.nnz == 3 * (n - 2) and J.sparse.dense_passes == n - 2
    assert isinstance(J.entries["x"], Coo) and len(J.entries["x"].data) == 3 * (n - 2)
    np.testing.assert_array_equal(J.sparse.pattern.dense(), tridiagonal_expected(x) != 0)
    np.testing.assert_allclose(J.blocks["x"], tridiagonal_expected(x), rtol=1e-15, atol=0)
    for mode in ("forward", "reverse"):
        assert jacobian(program, of="r", mode=mode, x=x).passes == 3
    if n <= 200:
        dense = jacobian(program, of="r", dense=True, x=x)
        assert dense.sparse is None and dense.passes == n - 2
        np.testing.assert_array_equal(J.blocks["x"], dense.blocks["x"])
        jax = jax_module()
        want = np.asarray(jax.jacfwd(tridiagonal_jax)(jax.numpy.asarray(x)))
        np.testing.assert_allclose(J.blocks["x"], want, rtol=1e-14, atol=1e-14)


def test_tridiagonal_of_two_and_three_points():
    program = adcli.parse(TRIDIAGONAL)
    J = jacobian(program, of="r", x=np.array([0.5, -1.0]))
    assert J.blocks["x"].shape == (0, 2) and np.shape(J.value) == (0,)
    assert J.passes == 0
    J = jacobian(program, of="r", x=np.array([0.5, -1.0, 2.0]))
    np.testing.assert_array_equal(J.blocks["x"], [[-1.0, 5.0, -1.0]])
    H = hessian(program, of="s", x=np.array([0.5, -1.0]))
    np.testing.assert_array_equal(H.blocks[("x", "x")], np.zeros((2, 2)))


LAPLACIAN = ("input u: [k, k]\n"
             "c = u[1:k-1, 1:k-1]\n"
             "L = 4 * c - u[:k-2, 1:k-1] - u[2:, 1:k-1] - u[1:k-1, :k-2] - u[1:k-1, 2:] + c ** 2\n")


@pytest.mark.parametrize("k", [5, 12, 30])
def test_laplacian_stencil_on_a_grid(k):
    program = adcli.parse(LAPLACIAN)
    u = np.random.default_rng(3).normal(size=(k, k))
    J = jacobian(program, of="L", u=u)
    assert J.sparse is not None and J.sparse.nnz == 5 * (k - 2) ** 2
    # Five columns meet in every row: at least 5 passes. (5 suffice, colouring i + 2j mod 5; the greedy
    # largest-first colouring takes 7 on large grids, whatever their size.)
    assert 5 <= J.passes <= 7, J.passes
    dense = jacobian(program, of="L", mode=J.mode, dense=True, u=u)
    np.testing.assert_array_equal(J.blocks["u"], dense.blocks["u"])
    expected = np.zeros((k - 2, k - 2, k, k))
    for i in range(k - 2):
        for j in range(k - 2):
            expected[i, j, i + 1, j + 1] = 4 + 2 * u[i + 1, j + 1]
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                expected[i, j, i + 1 + di, j + 1 + dj] = -1.0
    np.testing.assert_allclose(J.blocks["u"], expected, rtol=1e-15)


def test_block_diagonal_batch():
    B, m = 40, 3
    program = adcli.parse(f"input x: [{B}, {m}]\ndata W: [{B}, {m}]\n"
                          "s = sum(W * x, axis=1)\nz = tanh(s)[:, None] * x\n")
    rng = np.random.default_rng(4)
    x, W = rng.normal(size=(B, m)), rng.normal(size=(B, m))
    # ∂s/∂x: one row per batch element, rows that share no column: a single reverse pass.
    J = jacobian(program, of="s", x=x, W=W)
    assert J.passes == 1 and J.mode == "reverse", (J.passes, J.mode)
    expected = np.zeros((B, B, m))
    expected[np.arange(B), np.arange(B)] = W
    np.testing.assert_array_equal(J.blocks["x"], expected)
    # ∂z/∂x: B dense m×m blocks on the diagonal: m passes.
    Jz = jacobian(program, of="z", x=x, W=W)
    assert Jz.passes == m
    block = np.kron(np.eye(B, dtype=bool), np.ones((m, m), dtype=bool))
    np.testing.assert_array_equal(Jz.sparse.pattern.dense(), block)
    same_mode = jacobian(program, of="z", mode=Jz.mode, dense=True, x=x, W=W)
    np.testing.assert_array_equal(Jz.blocks["x"], same_mode.blocks["x"])
    # The dense way of the other mode rounds differently (it sums the other way round), no more.
    np.testing.assert_allclose(Jz.blocks["x"], jacobian(program, of="z", dense=True, x=x, W=W).blocks["x"],
                               rtol=1e-14, atol=1e-16)


def test_arrowhead_hessian_is_right_however_it_is_coloured():
    n = 30
    program = adcli.parse("input x: [n]\ny = sum(x[0] * x)\n")
    x = np.random.default_rng(5).normal(size=n)
    graph = program.graph
    _, out = program.output_node()
    values = evaluate(graph, bind_inputs(graph, {"x": x}), out)
    pattern, _ = hessian_pattern(graph, values, out, program.wrt_nodes(None))
    arrow = np.zeros((n, n), dtype=bool)
    arrow[0, :], arrow[:, 0] = True, True
    np.testing.assert_array_equal(pattern.dense(), arrow)
    assert colouring.count(colouring.colour_columns(pattern)) == n  # distance-2: every column meets row 0
    H = hessian(program, x=x)
    expected = np.zeros((n, n))
    expected[0, :] += 1.0
    expected[:, 0] += 1.0
    np.testing.assert_array_equal(H.blocks[("x", "x")], expected)
    # a star colouring uses the symmetry: x[0] one colour, every other element the second
    star = colouring.star_colours(pattern)
    assert colouring.count(star) == 2 and H.passes == 2 and H.sparse.colours == 2
    np.testing.assert_array_equal(H.blocks[("x", "x")], hessian(program, dense=True, x=x).blocks[("x", "x")])


def test_a_batched_softmax_loss_has_a_block_diagonal_hessian():
    """Each row's log_softmax couples that row's elements only: the Hessian is block diagonal, its
    pattern built from each row once (not once per element), and c colours give it whatever the
    batch size."""
    source = "input X: [b, c]\ndata Y: [b, c]\ny = -sum(log_softmax(X, axis=1) * Y)\n"
    rng = np.random.default_rng(3)
    for b, c in ((6, 5), (40, 7)):
        program = adcli.parse(source)
        X, Y = rng.normal(size=(b, c)), rng.random((b, c))
        graph = program.graph
        _, out = program.output_node()
        values = evaluate(graph, bind_inputs(graph, {"X": X, "Y": Y}), out)
        pattern, _ = hessian_pattern(graph, values, out, program.wrt_nodes(None))
        np.testing.assert_array_equal(pattern.dense(), np.kron(np.eye(b, dtype=bool), np.ones((c, c), dtype=bool)))
        H = hessian(program, X=X, Y=Y)
        assert H.passes == c and H.sparse.dense_passes == b * c
        np.testing.assert_array_equal(H.blocks[("X", "X")], hessian(program, dense=True, X=X, Y=Y).blocks[("X", "X")])


@pytest.mark.parametrize("case", range(30))
def test_star_colourings_recover_every_entry_of_random_symmetric_matrices(case):
    """A random symmetric pattern (diagonal or not), a random matrix on it, the passes H·s_c as the
    engine forms them: every entry read where star_reads says is the entry itself, to the bit (an
    unmixed read sums one non-zero and zeros)."""
    rng = np.random.default_rng(900 + case)
    n = int(rng.integers(1, 45))
    upper = np.triu(rng.random((n, n)) < float(rng.choice([0.03, 0.1, 0.3])), 1)
    if case % 3 == 0:  # arrowheads and stars: a few dense rows
        upper[rng.integers(0, n, size=2), :] = True
        upper = np.triu(upper, 1)
    dense = upper | upper.T | (np.eye(n, dtype=bool) & (rng.random(n) < 0.7))
    pattern = Pattern.from_pairs(*np.nonzero(dense), (n, n))
    star = colouring.star_colours(pattern)
    distance2 = colouring.colour_columns(pattern)
    np.testing.assert_array_equal(colouring.star_colours(pattern), star)  # the same on every run
    off = dense & ~np.eye(n, dtype=bool)
    assert not np.any(off & (star[:, None] == star[None, :])), "neighbours share a colour"
    values = np.where(dense, rng.normal(size=(n, n)), 0.0)
    H = np.triu(values) + np.triu(values, 1).T  # symmetric, on the pattern
    for colours in (star, distance2):
        seeds = np.stack([colours == c for c in range(colouring.count(colours))], axis=1).astype(float)
        table = H @ seeds
        rows, cols = pattern.coo()
        np.testing.assert_array_equal(table[colouring.star_reads(pattern, colours)], H[rows, cols])
    # distance-2 colourings always read in the dense way's orientation (row j of i's colour's pass)
    read_rows, read_colours = colouring.star_reads(pattern, distance2)
    np.testing.assert_array_equal(read_rows, pattern.coo()[1])
    np.testing.assert_array_equal(read_colours, distance2[pattern.coo()[0]])


ROSENBROCK = "input x: [n]\nf = sum(100 * (x[1:] - x[:n-1] ** 2) ** 2 + (1 - x[:n-1]) ** 2)\n"


def rosenbrock_jax(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] -= 400 * x[i]
        H[i + 1, i] -= 400 * x[i]
    return H


@pytest.mark.parametrize("n", [2, 3, 50])
def test_rosenbrock_hessian_takes_three_colours(n):
    program = adcli.parse(ROSENBROCK)
    x = np.random.default_rng(n).uniform(-2, 2, size=n)
    H = hessian(program, x=x)
    if n > 3:
        assert H.sparse is not None and H.passes == 3 and H.sparse.nnz == 3 * n - 2
        assert isinstance(H.entries[("x", "x")], Coo)
    np.testing.assert_allclose(H.blocks[("x", "x")], rosenbrock_hessian(x), rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(H.blocks[("x", "x")], hessian(program, dense=True, x=x).blocks[("x", "x")],
                               rtol=1e-13, atol=1e-12)


def test_rosenbrock_hessian_matches_jax():
    jax = jax_module()
    x = np.random.default_rng(8).uniform(-2, 2, size=40)
    H = hessian(adcli.parse(ROSENBROCK), x=x)
    want = np.asarray(jax.jacfwd(jax.grad(rosenbrock_jax))(jax.numpy.asarray(x)))
    np.testing.assert_allclose(H.blocks[("x", "x")], want, rtol=1e-13, atol=1e-10)


def test_dense_hessian_falls_back_and_is_right():
    n = 12
    program = adcli.parse(f"input x: [{n}]\ndata A: [{n}, {n}]\nf = sum(exp(A @ x))\n")
    rng = np.random.default_rng(9)
    A, x = rng.normal(size=(n, n)) * 0.3, rng.normal(size=n)
    H = hessian(program, x=x, A=A)
    assert H.passes == n and H.sparse is None
    np.testing.assert_allclose(H.blocks[("x", "x")], A.T @ np.diag(np.exp(A @ x)) @ A, rtol=1e-12, atol=1e-12)
    J = jacobian(program, x=x, A=A)
    np.testing.assert_allclose(J.blocks["x"], np.exp(A @ x) @ A, rtol=1e-13)


def test_blocks_of_inputs_the_output_ignores_are_zero():
    program = adcli.parse("input x: [5]\ninput y: [4]\ninput z: []\n"
                          "r = sin(x) * z\nq = sum(r) + 0 * sum(y ** 0)\nf = sum(r * r) * z\n")
    rng = np.random.default_rng(10)
    x, y, z = rng.normal(size=5), rng.normal(size=4), 1.5
    J = jacobian(program, of="r", x=x, y=y, z=z)
    assert J.blocks["y"].shape == (5, 4) and not np.any(J.blocks["y"])
    np.testing.assert_allclose(J.blocks["x"], np.diag(np.cos(x) * z), rtol=1e-15)
    np.testing.assert_allclose(J.blocks["z"], np.sin(x), rtol=1e-15)
    dense = jacobian(program, of="r", dense=True, x=x, y=y, z=z)
    for name in ("x", "y", "z"):
        np.testing.assert_array_equal(J.blocks[name], dense.blocks[name])
    H = hessian(program, of="f", x=x, y=y, z=z)
    Hd = hessian(program, of="f", dense=True, x=x, y=y, z=z)
    for key in Hd.blocks:
        np.testing.assert_allclose(H.blocks[key], Hd.blocks[key], rtol=1e-14, atol=0)
        if "y" in key:
            assert not np.any(H.blocks[key]), key
    assert H.blocks[("y", "x")].shape == (4, 5) and H.blocks[("z", "y")].shape == ()  + (4,)


def test_integer_and_data_inputs_mixed_in():
    program = adcli.parse("input x: [n]\ndata w: [m]\ninput idx: int[m]\n"
                          "r = w * x[idx] ** 2 + x[idx] * x[0]\nf = sum(r)\n")
    x = np.array([0.5, -1.0, 2.0, 1.5])
    idx = np.array([3, 1, 1, 0, 2, 3])
    w = np.arange(1.0, 7.0)
    J = jacobian(program, of="r", x=x, w=w, idx=idx)
    assert list(J.blocks) == ["x"]
    expected = np.zeros((6, 4))
    expected[np.arange(6), idx] += 2 * w * x[idx]
    expected[np.arange(6), idx] += x[0]
    expected[:, 0] += x[idx]
    np.testing.assert_allclose(J.blocks["x"], expected, rtol=1e-15)
    np.testing.assert_array_equal(J.blocks["x"], jacobian(program, of="r", dense=True, x=x, w=w, idx=idx).blocks["x"])
    H = hessian(program, of="f", x=x, w=w, idx=idx)
    Hd = hessian(program, of="f", dense=True, x=x, w=w, idx=idx)
    np.testing.assert_allclose(H.blocks[("x", "x")], Hd.blocks[("x", "x")], rtol=1e-15, atol=0)
    expected_h = np.zeros((4, 4))
    np.add.at(expected_h, (idx, idx), 2 * w)
    np.add.at(expected_h, (idx, 0), 1.0)
    np.add.at(expected_h, (0, idx), 1.0)
    np.testing.assert_allclose(H.blocks[("x", "x")], expected_h, rtol=1e-15)


def test_empty_inputs_and_inputs_as_outputs():
    program = adcli.parse("input x: [n]\ninput y: [2]\nr = sin(x)\nz = concat([x, y])\ns = sum(r * r) + sum(y * y)\n")
    x, y = np.zeros(0), np.array([0.5, -2.0])
    for dense in (False, True):
        J = jacobian(program, of="r", dense=dense, x=x, y=y)
        assert J.blocks["x"].shape == (0, 0) and J.blocks["y"].shape == (0, 2) and J.passes == 0
        H = hessian(program, of="s", dense=dense, x=x, y=y)
        assert H.blocks[("x", "y")].shape == (0, 2) and H.blocks[("y", "x")].shape == (2, 0)
        np.testing.assert_array_equal(H.blocks[("y", "y")], 2 * np.eye(2))
        J = jacobian(program, of="z", dense=dense, x=x, y=y)
        np.testing.assert_array_equal(J.blocks["y"], np.eye(2))
    assert hessian(program, of="s", x=x, y=y).passes == 1  # a diagonal: one colour
    product = hvp(program, {"y": np.ones(2)}, of="s", x=x, y=y)
    assert product.products["x"].shape == (0,)
    np.testing.assert_array_equal(product.products["y"], [2.0, 2.0])
    # An output that is an input, or a constant: identity and zero blocks, in one pass.
    x = np.arange(3.0)
    J = jacobian(adcli.parse("input x: [3]\ninput y: [2]\nz = x\nc = ones([4]) * 2\n"), of="z", x=x, y=y)
    np.testing.assert_array_equal(J.blocks["x"], np.eye(3))
    assert J.passes == 1 and not np.any(J.blocks["y"])
    J = jacobian(adcli.parse("input x: [3]\ninput y: [2]\nz = x\nc = ones([4]) * 2\n"), of="c", x=x, y=y)
    assert J.blocks["x"].shape == (4, 3) and not np.any(J.blocks["x"]) and J.passes <= 1


def test_a_subset_of_inputs():
    program = adcli.parse("input x: [6]\ninput y: [6]\nr = x[1:] * y[:5] + x[:5] ** 2\nf = sum(r * r)\n")
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=6), rng.normal(size=6)
    for wrt in (["x"], ["y"], ["y", "x"]):
        J = jacobian(program, of="r", wrt=wrt, x=x, y=y)
        dense = jacobian(program, of="r", wrt=wrt, dense=True, mode=J.mode, x=x, y=y)
        assert list(J.blocks) == sorted(wrt) and J.passes < dense.passes
        for name in wrt:
            np.testing.assert_array_equal(J.blocks[name], dense.blocks[name])
        H = hessian(program, of="f", wrt=wrt, x=x, y=y)
        Hd = hessian(program, of="f", wrt=wrt, dense=True, x=x, y=y)
        assert set(H.blocks) == {(a, b) for a in wrt for b in wrt}
        for key in Hd.blocks:
            np.testing.assert_allclose(H.blocks[key], Hd.blocks[key], rtol=1e-14, atol=1e-14)


def test_patterns_too_large_to_build_fall_back_to_dense_passes(monkeypatch):
    from adcli.operations import patterns
    x = np.linspace(-1, 1, 40)
    before = jacobian(adcli.parse(TRIDIAGONAL), of="r", x=x)
    H_before = hessian(adcli.parse(TRIDIAGONAL), of="s", x=x)
    assert before.passes == 3 and H_before.sparse is not None
    monkeypatch.setattr(patterns, "MAX_PAIRS", 20)
    program = adcli.parse(TRIDIAGONAL)  # a new graph: no plan made before
    J = jacobian(program, of="r", x=x)
    assert J.sparse is None and J.passes == 38
    np.testing.assert_allclose(J.blocks["x"], before.blocks["x"], rtol=1e-15)
    H = hessian(program, of="s", x=x)
    assert H.sparse is None and H.passes == 40
    np.testing.assert_allclose(H.blocks[("x", "x")], H_before.blocks[("x", "x")], rtol=1e-13, atol=1e-13)


def test_a_plan_is_reused_only_where_it_still_holds():
    """The colouring is kept between calls on one program: new float values reuse it, new integer
    indices (which move the non-zeros) and new sizes make another."""
    program = adcli.parse("input x: [n]\ninput idx: int[m]\nr = x[idx] ** 2 * x[1:m+1]\nf = sum(r * x[:m])\n")
    rng = np.random.default_rng(17)
    for n, m in ((8, 5), (8, 5), (8, 6), (12, 5)):
        for _ in range(2):
            x, idx = rng.normal(size=n), rng.integers(0, n, size=m)
            J = jacobian(program, of="r", x=x, idx=idx)
            expected = np.zeros((m, n))
            np.add.at(expected, (np.arange(m), idx), 2 * x[idx] * x[1:m + 1])
            expected[np.arange(m), np.arange(1, m + 1)] += x[idx] ** 2
            np.testing.assert_allclose(J.blocks["x"], expected, rtol=1e-15)
            np.testing.assert_array_equal(J.blocks["x"], jacobian(program, of="r", mode=J.mode, dense=True,
                                                                  x=x, idx=idx).blocks["x"])
            H = hessian(program, of="f", x=x, idx=idx)
            Hd = hessian(program, of="f", dense=True, x=x, idx=idx)
            np.testing.assert_allclose(H.blocks[("x", "x")], Hd.blocks[("x", "x")], rtol=1e-14, atol=1e-14)


def test_a_single_input_element_is_never_compressed():
    program = adcli.parse("input x: []\ny = [sin(x), x * x, 3 * x]\n")
    J = jacobian(program, x=0.7)
    assert J.passes == 1 and J.sparse is None
    np.testing.assert_allclose(J.blocks["x"], [np.cos(0.7), 1.4, 3.0], rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# 5. H·v and vᵀJ
# ---------------------------------------------------------------------------------------------

HVP_PROGRAMS = {
    "rosenbrock": (ROSENBROCK, lambda rng: {"x": rng.uniform(-2, 2, 9)}),
    "tridiagonal": (TRIDIAGONAL, lambda rng: {"x": rng.normal(size=9)}),
    "three inputs": (("input x: [4]\ninput y: [2, 3]\ninput z: []\ndata D: [3]\n"
                      "h = tanh(y @ D) * z ** 2\nq = sum(exp(x[:2] * h)) + sum(x * x) * z + sum(y * log(1 + y * y))\n"),
                     lambda rng: {"x": rng.normal(size=4), "y": rng.normal(size=(2, 3)), "z": 0.8,
                                  "D": rng.normal(size=3)}),
}


@pytest.mark.parametrize("name", sorted(HVP_PROGRAMS))
def test_hvp_is_the_dense_hessian_times_v(name):
    source, draw = HVP_PROGRAMS[name]
    program = adcli.parse(source)
    rng = np.random.default_rng(11)
    values = draw(rng)
    H = hessian(program, dense=True, **values)
    names = list(H.shapes)
    subsets = [names, names[:1], names[-1:], names[::2]]
    for subset in subsets:
        vectors = {n: rng.normal(size=H.shapes[n]) for n in subset}
        product = hvp(program, vectors, **values)
        assert set(product.products) == set(names)
        np.testing.assert_allclose(product.value, H.value, rtol=0, atol=0)
        for a in names:
            want = sum(np.tensordot(H.blocks[(a, b)], vectors[b], axes=len(H.shapes[b])) for b in subset)
            got = product.products[a]
            assert np.shape(got) == H.shapes[a], (name, a, np.shape(got))
            scale = max(1e-300, float(np.max(np.abs(want), initial=0.0)))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale,
                                       err_msg=f"{name}: (H·v)[{a}] for {subset}")


@pytest.mark.parametrize("name", ["rosenbrock", "tridiagonal"])
def test_hvp_matches_jax(name):
    jax = jax_module()
    jnp = jax.numpy
    fn = rosenbrock_jax if name == "rosenbrock" else (lambda x: jnp.sum(tridiagonal_jax(x) ** 2))
    rng = np.random.default_rng(12)
    x, v = rng.uniform(-1.5, 1.5, 30), rng.normal(size=30)
    got = hvp(adcli.parse(HVP_PROGRAMS[name][0]), {"x": v}, of="f" if name == "rosenbrock" else "s", x=x)
    _, want = jax.jvp(jax.grad(fn), (jnp.asarray(x),), (jnp.asarray(v),))
    want = np.asarray(want)
    np.testing.assert_allclose(got.products["x"], want, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(want))))


def test_vjp_is_v_times_the_jacobian():
    program = adcli.parse("input x: [5]\ninput y: [2, 3]\nr = stack([x[:3] * sum(y, axis=0), exp(y[1])])\n")
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=5), rng.normal(size=(2, 3))
    J = jacobian(program, dense=True, x=x, y=y)
    v = rng.normal(size=(2, 3))
    product = vjp(program, v, x=x, y=y)
    for name, shape in (("x", (5,)), ("y", (2, 3))):
        want = (v.ravel() @ J.blocks[name].reshape(6, -1)).reshape(shape)
        np.testing.assert_allclose(product.products[name], want, rtol=1e-13, atol=1e-15)
    # A scalar cotangent broadcasts: 2·(1ᵀJ).
    product = vjp(program, 2.0, x=x, y=y)
    assert product.given["r"].shape == (2, 3)
    for name, shape in (("x", (5,)), ("y", (2, 3))):
        want = 2.0 * J.blocks[name].reshape(6, -1).sum(axis=0).reshape(shape)
        np.testing.assert_allclose(product.products[name], want, rtol=1e-13, atol=1e-15)
    # A cotangent of one row broadcasts along the first axis too.
    row = rng.normal(size=3)
    product = vjp(program, row, wrt=["y"], x=x, y=y)
    assert list(product.products) == ["y"]
    want = (np.tile(row, 2) @ J.blocks["y"].reshape(6, 6)).reshape(2, 3)
    np.testing.assert_allclose(product.products["y"], want, rtol=1e-13, atol=1e-15)


def test_vjp_of_the_tridiagonal_residual():
    program = adcli.parse(TRIDIAGONAL)
    x = np.linspace(-1, 1, 50)
    v = np.random.default_rng(14).normal(size=48)
    got = vjp(program, v, of="r", x=x).products["x"]
    np.testing.assert_allclose(got, v @ tridiagonal_expected(x), rtol=1e-13, atol=1e-14)


def test_product_errors():
    program = adcli.parse(TRIDIAGONAL)
    x = np.linspace(-1, 1, 10)
    with pytest.raises(InputError) as info:
        vjp(program, np.ones(7), of="r", x=x)
    assert "[7]" in str(info.value) and "[8]" in str(info.value) and "'r'" in str(info.value)
    with pytest.raises(InputError) as info:
        vjp(program, np.ones((2, 8)), of="r", x=x)
    assert "[2, 8]" in str(info.value)
    with pytest.raises(ShapeError) as info:
        hvp(program, {"x": np.ones(10)}, of="r", x=x)
    assert "scalar" in str(info.value) and "[8]" in str(info.value)
    with pytest.raises(InputError) as info:
        hvp(program, {"x": np.ones(3)}, of="s", x=x)
    assert str(info.value).endswith("--vector x: a vector part of shape [3] does not fit input 'x' of shape [10]")
    with pytest.raises(InputError) as info:
        hvp(program, {"nope": np.ones(10)}, of="s", x=x)
    assert "--vector nope: 'nope' is not an input" in str(info.value)
    with pytest.raises(InputError) as info:  # the cotangent names the output
        vjp(program, 1.0, of="q", x=x)
    assert "--cotangent q: the file has no value named 'q'" in str(info.value)
    with pytest.raises(ShapeError) as info:
        hessian(program, of="r", x=x)
    assert "scalar" in str(info.value)


# ---------------------------------------------------------------------------------------------
# 6. Colourings
# ---------------------------------------------------------------------------------------------

def random_pattern(rng, rows, cols, density) -> tuple[Pattern, np.ndarray]:
    dense = rng.random((rows, cols)) < density
    r, c = np.nonzero(dense)
    return Pattern.from_pairs(r, c, (rows, cols)), dense


def assert_valid_columns(colours, dense, what):
    assert colours.shape == (dense.shape[1],) and colours.dtype.kind in "iu", what
    assert np.all(colours >= 0), what
    for r in range(dense.shape[0]):
        used = colours[dense[r]]
        assert len(np.unique(used)) == len(used), f"{what}: row {r} holds two columns of one colour"


@pytest.mark.parametrize("case", range(40))
def test_colourings_of_random_patterns(case):
    rng = np.random.default_rng(500 + case)
    rows, cols = int(rng.integers(0, 40)), int(rng.integers(0, 40))
    pattern, dense = random_pattern(rng, rows, cols, float(rng.choice([0.0, 0.02, 0.08, 0.2, 0.6, 1.0])))
    assert pattern.nnz == dense.sum()
    np.testing.assert_array_equal(pattern.dense(), dense)
    np.testing.assert_array_equal(pattern.transpose().dense(), dense.T)
    by_columns = colouring.colour_columns(pattern)
    assert_valid_columns(by_columns, dense, f"columns of case {case}")
    by_rows = colouring.colour_rows(pattern)
    assert_valid_columns(by_rows, dense.T, f"rows of case {case}")
    largest_row = int(dense.sum(axis=1).max(initial=0))
    largest_column = int(dense.sum(axis=0).max(initial=0))
    assert colouring.count(by_columns) >= largest_row == colouring.lower_bound(pattern)
    assert colouring.count(by_rows) >= largest_column
    assert colouring.count(by_columns) <= cols and colouring.count(by_rows) <= rows
    np.testing.assert_array_equal(colouring.colour_columns(pattern), by_columns)
    np.testing.assert_array_equal(colouring.colour_rows(pattern), by_rows)
    # Columns never sharing a row: one colour; every column in one row: one colour each.
    if cols and not dense.any():
        assert colouring.count(by_columns) == 1
    if rows and dense.all():
        assert sorted(by_columns.tolist()) == list(range(cols))


def test_star_colouring_gives_way_to_the_dense_way_past_its_work_bound(monkeypatch):
    """A hub of more neighbours than the greedy star colouring may visit: None, and hessian takes the
    dense way (right, only slower)."""
    program = adcli.parse("input x: [n]\ny = sum(x[0] * x ** 2)\n")
    x = np.linspace(-1.0, 2.0, 40)
    monkeypatch.setattr(colouring, "STAR_WORK", 100)
    H = hessian(program, x=x)
    assert H.sparse is None and H.passes == 40
    monkeypatch.undo()
    star = hessian(adcli.parse("input x: [n]\ny = sum(x[0] * x ** 2)\n"), x=x)  # a new graph: no plan kept
    assert star.passes == 2 and star.sparse.colouring == "star"
    np.testing.assert_array_equal(H.blocks[("x", "x")], star.blocks[("x", "x")])


def test_colour_seeds_and_count():
    colours = np.array([0, 2, 1, 0, 2])
    assert colouring.count(colours) == 3 and colouring.count(np.zeros(0, dtype=np.int64)) == 0
    np.testing.assert_array_equal(colouring.seeds(colours, 2), [0.0, 1.0, 0.0, 0.0, 1.0])
    # A band of half-width w takes 2w + 1 colours, the band's width.
    n, w = 30, 2
    r, c = np.nonzero(np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= w)
    assert colouring.count(colouring.colour_columns(Pattern.from_pairs(r, c, (n, n)))) == 2 * w + 1


def test_pattern_from_pairs_merges_and_sorts():
    p = Pattern.from_pairs(np.array([2, 0, 2, 0, 2]), np.array([1, 3, 1, 0, 0]), (3, 4))
    assert p.nnz == 4 and p.indptr.tolist() == [0, 2, 2, 4] and p.indices.tolist() == [0, 3, 0, 1]
    rows, cols = p.coo()
    assert rows.tolist() == [0, 0, 2, 2] and cols.tolist() == [0, 3, 0, 1]
    empty = Pattern.from_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), (0, 0))
    assert empty.nnz == 0 and empty.dense().shape == (0, 0)


# ---------------------------------------------------------------------------------------------
# 7. Coo and scipy
# ---------------------------------------------------------------------------------------------

def test_coo_as_scipy():
    pytest.importorskip("scipy")
    program = adcli.parse(TRIDIAGONAL)
    x = np.linspace(-1, 1, 30)
    J = jacobian(program, of="r", x=x)
    entry = J.entries["x"]
    assert isinstance(entry, Coo) and entry.shape == (28, 30)
    matrix = entry.scipy()
    assert matrix.shape == (28, 30) and matrix.nnz == 84
    np.testing.assert_array_equal(matrix.toarray(), J.blocks["x"])
    np.testing.assert_array_equal(entry.dense((28, 30)), J.blocks["x"])
    H = hessian(adcli.parse(ROSENBROCK), x=x)
    block = H.entries[("x", "x")]
    assert isinstance(block, Coo)
    np.testing.assert_array_equal(block.scipy().toarray(), H.blocks[("x", "x")])
    # Blocks of several inputs: each its own coordinates.
    program = adcli.parse("input a: [6]\ninput b: [6]\nr = a[1:] * b[:5] + a[:5] ** 2\n")
    rng = np.random.default_rng(15)
    J = jacobian(program, a=rng.normal(size=6), b=rng.normal(size=6))
    assert J.sparse is not None
    for name in ("a", "b"):
        assert isinstance(J.entries[name], Coo)
        np.testing.assert_array_equal(J.entries[name].scipy().toarray(), J.blocks[name])
        np.testing.assert_array_equal(J.scipy(name).toarray(), J.blocks[name])
    whole = np.concatenate([J.blocks["a"], J.blocks["b"]], axis=1)
    np.testing.assert_array_equal(J.scipy().toarray(), whole)
    # A dense result as scipy's too: the same matrix.
    dense = jacobian(program, dense=True, mode=J.mode, a=rng.normal(size=6), b=rng.normal(size=6))
    assert dense.sparse is None
    np.testing.assert_array_equal(dense.scipy().toarray(),
                                  np.concatenate([dense.blocks["a"], dense.blocks["b"]], axis=1))
    np.testing.assert_array_equal(dense.scipy("b").toarray(), dense.blocks["b"])
    # Hessians: a block, and the whole symmetric matrix, compressed and dense alike.
    program = adcli.parse("input a: [6]\ninput b: [6]\nf = sum((a[1:] * b[:5] + a[:5] ** 2) ** 2)\n")
    values = {"a": rng.normal(size=6), "b": rng.normal(size=6)}
    for H in (hessian(program, **values), hessian(program, dense=True, **values)):
        assert (H.sparse is None) == (H.passes == 12)
        np.testing.assert_array_equal(H.scipy("a", "b").toarray(), H.blocks[("a", "b")])
        full = np.block([[H.blocks[("a", "a")], H.blocks[("a", "b")]], [H.blocks[("b", "a")], H.blocks[("b", "b")]]])
        np.testing.assert_array_equal(H.scipy().toarray(), full)
        np.testing.assert_allclose(full, full.T, rtol=1e-13, atol=1e-13)


def test_hvp_and_vjp_commands_need_their_vector():
    """Without --vector or --cotangent the commands say what to give (exit 2), never a traceback."""
    from typer.testing import CliRunner

    from adcli.cli.main import app
    runner = CliRunner()
    result = runner.invoke(app, ["hvp", str(SAMPLES / "rosenbrock.ad"), "--inputs", str(SAMPLES / "rosenbrock.json")])
    assert result.exit_code == 2
    assert result.stderr == "adcli: error: give the vector with --vector NAME=VALUE (inputs without one get 0)\n"
    result = runner.invoke(app, ["vjp", str(SAMPLES / "tridiagonal.ad"), "--inputs", str(SAMPLES / "tridiagonal.json")])
    assert result.exit_code == 2
    assert result.stderr == "adcli: error: give one output's cotangent with --cotangent NAME=VALUE, NAME the output\n"
