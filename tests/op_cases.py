"""Where every registry operation is checked: operand shapes, parameters and a domain for the
values (away from kinks, poles and ties), shared by the registry, dual-number, cost and trace
tests. A newly registered operation must be given cases here."""

from __future__ import annotations

import numpy as np

from adcli import parse
from adcli.operations import OPS, source_text
from adcli.operations.indexing import index_text

# ---------------------------------------------------------------------------------------------
# Where each operation is checked: operand shapes, parameters, and a domain for the values
# ---------------------------------------------------------------------------------------------

BINARY_SHAPES = [
    ((), ()), ((3,), (3,)), ((2, 3), (2, 3)),
    ((3,), ()), ((), (2, 3)), ((2, 3), (3,)), ((3,), (2, 3)),  # vector + scalar, matrix + row
    ((2, 3), (2, 1)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1)), ((1,), (2, 3)),  # columns, outer
]
UNARY_SHAPES = [(), (3,), (2, 3), (2, 1, 3)]
MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),  # 1-D and 2-D
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((2, 1, 2, 3), (5, 3, 4)),
    ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),  # batched, with broadcast batch dimensions
    ((), ()), ((), (2, 3)), ((2, 3), ()), ((), (3,)),  # a scalar on either side multiplies
]
REDUCTIONS = [((), {}), ((3,), {}), ((2, 3), {}), ((2, 3), {"axis": None}), ((2, 3), {"axis": 0}),
              ((2, 3), {"axis": -1}), ((2, 3), {"axis": 1}), ((2, 3, 4), {"axis": 1}),
              ((2, 3, 4), {"axis": -3}), ((2, 3, 4), {})]
ALONG_AXIS = [((3,), {}), ((2, 3), {}), ((2, 3), {"axis": 0}), ((2, 3), {"axis": -1}),
              ((2, 3), {"axis": 1}), ((2, 3, 4), {"axis": 1}), ((2, 3, 4), {"axis": -3})]


def normal(rng, shapes):
    return [rng.normal(size=s) for s in shapes]


def positive(rng, shapes):
    """Away from log's and sqrt's singularity at 0."""
    return [rng.uniform(0.5, 3.0, size=s) for s in shapes]


def away_from_zero(rng, shapes):
    """|x| > 0.1: away from the kinks of relu and abs."""
    return [rng.choice([-1.0, 1.0], size=s) * rng.uniform(0.1, 2.0, size=s) for s in shapes]


def distinct(rng, shapes):
    """Values at least 0.1 apart across all operands, so max and min have no ties."""
    sizes = [int(np.prod(s)) for s in shapes]
    pool = rng.permutation(sum(sizes)) * 0.1 - 0.05 * sum(sizes)
    out, start = [], 0
    for s, n in zip(shapes, sizes):
        out.append(pool[start:start + n].reshape(s) + 0.0)
        start += n
    return out


def nonzero_divisor(rng, shapes):
    x, y = normal(rng, shapes[:1])[0], away_from_zero(rng, shapes[1:])[0]
    y = np.sign(y) * (np.abs(y) + 0.4)
    return [x, y]


def positive_base(rng, shapes):
    return [rng.uniform(0.5, 2.0, size=shapes[0]), rng.normal(size=shapes[1])]


def near_zero(rng, shapes):
    """tan away from its poles at ±π/2."""
    return [rng.uniform(-1.2, 1.2, size=s) for s in shapes]


def inside_unit(rng, shapes):
    """|x| < 0.9: atanh, asin, acos away from ±1."""
    return [rng.uniform(-0.9, 0.9, size=s) for s in shapes]


def above_one(rng, shapes):
    """acosh away from 1."""
    return [rng.uniform(1.2, 4.0, size=s) for s in shapes]


def above_minus_one(rng, shapes):
    """log1p away from -1."""
    return [rng.uniform(-0.6, 3.0, size=s) for s in shapes]


def between_jumps(rng, shapes):
    """floor and ceil away from whole numbers."""
    return [rng.integers(-3, 3, size=s) + rng.uniform(0.2, 0.8, size=s) for s in shapes]


def away_from_halves(rng, shapes):
    """round away from its jumps at k + 0.5."""
    return [rng.integers(-3, 3, size=s) + rng.uniform(-0.3, 0.3, size=s) for s in shapes]


def off_the_poles(rng, shapes):
    """Positive values, and negative ones at least 0.2 from a whole number: gammaln and digamma away
    from their poles at 0, -1, -2, …"""
    out = []
    for s in shapes:
        positive = rng.uniform(0.2, 4.0, size=s)
        negative = -rng.integers(0, 4, size=s) - rng.uniform(0.2, 0.8, size=s)
        out.append(np.where(rng.random(size=s) < 0.5, positive, negative))
    return out


def logarithm_of_positive(rng, shapes):
    """xlogy(x, y): any x (never 0, where PyTorch's ∂/∂x differs), y > 0."""
    return [away_from_zero(rng, shapes[:1])[0], rng.uniform(0.2, 3.0, size=shapes[1])]


def logarithm_above_minus_one(rng, shapes):
    """xlog1py(x, y): any x (never 0), y > -1."""
    return [away_from_zero(rng, shapes[:1])[0], rng.uniform(-0.8, 3.0, size=shapes[1])]


def clip_domain(rng, shapes):
    """x away from the bounds lo < hi."""
    x, lo, hi = shapes
    lo_v = -0.5 - rng.uniform(0, 0.2, size=lo)
    hi_v = 0.5 + rng.uniform(0, 0.2, size=hi)
    xv = rng.choice([-2.0, 0.0, 2.0], size=x) + rng.uniform(-0.2, 0.2, size=x)
    return [xv, lo_v, hi_v]


def condition(rng, shapes):
    """where(cond, x, y): a condition with both values, then two operands."""
    cond = rng.random(size=shapes[0]) < 0.5
    if cond.size > 1:
        cond.flat[0], cond.flat[-1] = True, False
    return [cond] + normal(rng, shapes[1:])


def square_matrices(rng, shapes):
    """Well-conditioned square matrices (n·I plus noise), then any other operands."""
    a = rng.normal(size=shapes[0]) + shapes[0][-1] * np.eye(shapes[0][-1])
    return [a] + normal(rng, shapes[1:])


def spd(rng, shapes):
    """Symmetric positive definite matrices with distinct eigenvalues."""
    m = rng.normal(size=shapes[0])
    n = shapes[0][-1]
    return [m @ np.swapaxes(m, -1, -2) + np.diag(np.arange(1.0, n + 1.0)) * n]


def lower_triangular(rng, shapes):
    a = np.tril(rng.normal(size=shapes[0])) + shapes[0][-1] * np.eye(shapes[0][-1])
    return [a] + normal(rng, shapes[1:])


def labels(k):
    """Integer data in [0, k), then nothing else."""
    def domain(rng, shapes):
        return [rng.integers(0, k, size=s) for s in shapes]
    return domain


def gather_domain(rng, shapes):
    """x, then integer index arrays within x's first axes (repeats included)."""
    x = rng.normal(size=shapes[0])
    out = [x]
    for axis, s in enumerate(shapes[1:]):
        index = rng.integers(-x.shape[axis], x.shape[axis], size=s)
        if index.size > 1:
            index.flat[1] = index.flat[0]  # a repeated index: its gradients add up
        out.append(index)
    return out


def compiled_params(name: str, source: str) -> dict:
    """The parameters of a node of `name` (its compiled functions), as a file makes them: `source`
    holds the defs."""
    function = source.split()[1].split("(")[0]
    call = f"{function}(x0, a)" if name in ("rule", "loop", "while") else f"{name}({function}, x0, a)"
    program = parse(f"{source}\ninput x0\ninput a\ny = {call}\n")
    return dict(program.graph.nodes[program.graph.output].params)


# x = 0.5·sin(x) + a contracts (|∂f/∂x| ≤ 0.5); x + 0.5·sin(x) = a has one root (its slope is ≥ 0.5);
# smooth(x, a) = x·a + sin(x) has its derivative rule written out. Named apart, so that one file may
# hold them all (tests/test_export_parity.py puts every operation in one).
IMPLICIT_DEFS = {"fixed_point": "def contraction(x, a) = 0.5 * sin(x) + a",
                 "root": "def monotone(x, a) = x + 0.5 * sin(x) - a",
                 "rule": "def smooth(x, a) = x * a + sin(x)\ndef smooth.vjp(x, a, g) = g * (a + cos(x)), g * x",
                 # a loop kept as a loop (64 steps: the fewest kept), called through a function
                 "loop": "def steps(h, b):\n    for t in range(64):\n        h = 0.9 * h + 0.1 * sin(h * b)\n    return h",
                 # a while loop whose count the values decide (h shrinks by 0.4 to 0.6 a step)
                 "while": "def shrink(h, b):\n    while max(abs(h)) > 0.001, max_iter=500:\n"
                          "        h = 0.5 * h + 0.1 * h * tanh(h * b)\n    return h"}
IMPLICIT_PARAMS = {name: compiled_params(name, source) for name, source in IMPLICIT_DEFS.items()}
IMPLICIT_BODIES = {name: params["body"] for name, params in IMPLICIT_PARAMS.items()}
IMPLICIT_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), ())]


def cases(shape_list, params=None):
    return [(tuple(s), params or {}) for s in shape_list]


UNARY = cases([(s,) for s in UNARY_SHAPES])
KEEP = [((s,), {**p, "keepdims": True}) for s, p in REDUCTIONS if p.get("axis", 0) is not None or True]
CASES = {
    "add": (normal, cases(BINARY_SHAPES)),
    "sub": (normal, cases(BINARY_SHAPES)),
    "mul": (normal, cases(BINARY_SHAPES)),
    "div": (nonzero_divisor, cases(BINARY_SHAPES)),
    "pow": (positive_base, cases(BINARY_SHAPES)),
    "maximum": (distinct, cases(BINARY_SHAPES)),
    "minimum": (distinct, cases(BINARY_SHAPES)),
    "atan2": (away_from_zero, cases(BINARY_SHAPES)),
    "hypot": (away_from_zero, cases(BINARY_SHAPES)),
    "logaddexp": (normal, cases(BINARY_SHAPES)),
    **{name: (normal, cases(BINARY_SHAPES)) for name in ("less", "less_equal", "greater", "greater_equal",
                                                          "equal", "not_equal")},
    "where": (condition, cases([((), (), ()), ((3,), (3,), (3,)), ((2, 3), (3,), ()), ((2, 1), (1, 3), (2, 3))])),
    "clip": (clip_domain, cases([((), (), ()), ((3,), (), ()), ((2, 3), (3,), (2, 1))])),
    "neg": (normal, UNARY),
    "relu": (away_from_zero, UNARY),
    "abs": (away_from_zero, UNARY),
    "exp": (normal, UNARY),
    "log": (positive, UNARY),
    "sqrt": (positive, UNARY),
    "sin": (normal, UNARY),
    "cos": (normal, UNARY),
    "tan": (near_zero, UNARY),
    "tanh": (normal, UNARY),
    "sigmoid": (normal, UNARY),
    "log1p": (above_minus_one, UNARY),
    "expm1": (normal, UNARY),
    "log2": (positive, UNARY),
    "log10": (positive, UNARY),
    "exp2": (normal, UNARY),
    "square": (normal, UNARY),
    "cbrt": (away_from_zero, UNARY),
    "reciprocal": (away_from_zero, UNARY),
    "sinh": (normal, UNARY),
    "cosh": (normal, UNARY),
    "asinh": (normal, UNARY),
    "acosh": (above_one, UNARY),
    "atanh": (inside_unit, UNARY),
    "asin": (inside_unit, UNARY),
    "acos": (inside_unit, UNARY),
    "atan": (normal, UNARY),
    "erf": (normal, UNARY),
    "erfc": (normal, UNARY),
    "softplus": (normal, UNARY),
    "gelu": (normal, UNARY),
    "silu": (normal, UNARY),
    "elu": (away_from_zero, UNARY + cases([((3,),)], {"alpha": 0.5})),
    "leaky_relu": (away_from_zero, UNARY + cases([((3,),)], {"slope": 0.2})),
    "log_sigmoid": (normal, UNARY),
    "gammaln": (off_the_poles, UNARY),
    "digamma": (off_the_poles, UNARY + cases([((3,),)], {"n": 1}) + cases([((2, 3),)], {"n": 2})
                + cases([((),)], {"n": 5})),
    "xlogy": (logarithm_of_positive, cases(BINARY_SHAPES)),
    "xlog1py": (logarithm_above_minus_one, cases(BINARY_SHAPES)),
    "sinc": (normal, UNARY),
    "sign": (away_from_zero, UNARY),
    "floor": (between_jumps, UNARY),
    "ceil": (between_jumps, UNARY),
    "round": (away_from_halves, UNARY),
    "matmul": (normal, cases(MATMUL_SHAPES)),
    "dot": (normal, cases([((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((), (2, 3)),
                           ((2, 3), ()), ((), ())])),
    "outer": (normal, cases([((3,), (4,)), ((2, 2), (3,)), ((), (2,))])),
    "kron": (normal, cases([((2,), (3,)), ((2, 2), (2, 3)), ((3,), (2, 2)), ((2, 3), (2,)), ((), (2,)), ((), ()),
                            ((1, 2), (3, 1))])),
    "einsum": (normal, [(((2, 3), (3, 4)), {"spec": "ij,jk->ik"}), (((2, 3),), {"spec": "ij->j"}),
                        (((3,), (3,)), {"spec": "i,i->"}), (((2, 3), (4,)), {"spec": "ij,k->ikj"}),
                        (((2, 3), (3, 4), (4,)), {"spec": "ij,jk,k->i"})]),
    "transpose": (normal, cases([((),), ((3,),), ((2, 3),), ((2, 3, 4),)], {"axes": None})
                  + [(((2, 3, 4),), {"axes": (1, 2, 0)})]),
    "stack": (normal, cases([((), ()), ((3,), (3,), (3,)), ((2, 3), (2, 3)), ((2,),)])
              + [(((2, 3), (2, 3)), {"axis": 1}), (((2, 3), (2, 3)), {"axis": -1})]),
    "concat": (normal, [(((2, 3), (1, 3)), {"axis": 0}), (((2, 3), (2, 1), (2, 2)), {"axis": 1}),
                        (((3,), (2,)), {"axis": 0})]),
    "reshape": (normal, [(((2, 3),), {"shape": (3, 2)}), (((2, 3),), {"shape": (-1,)}),
                         (((6,),), {"shape": (2, -1)}), (((),), {"shape": (1, 1)})]),
    "expand_dims": (normal, [(((2, 3),), {"axis": 0}), (((2, 3),), {"axis": -1}), (((),), {"axis": 0})]),
    "squeeze": (normal, [(((1, 3, 1),), {"axis": None}), (((1, 3),), {"axis": 0})]),
    "flip": (normal, [(((3,),), {"axis": None}), (((2, 3),), {"axis": 1}), (((2, 3),), {"axis": None})]),
    "roll": (normal, [(((3,),), {"shift": 1, "axis": None}), (((2, 3),), {"shift": -1, "axis": 1}),
                      (((2, 3),), {"shift": 4, "axis": None}), (((2, 1, 3),), {"shift": 5, "axis": 2}),
                      (((2, 3),), {"shift": 0, "axis": -2})]),
    "broadcast_to": (normal, [(((3,),), {"shape": (2, 3)}), (((),), {"shape": (2,)}),
                              (((2, 1),), {"shape": (2, 4)})]),
    "diag": (normal, [(((3,),), {"k": 0}), (((3, 3),), {"k": 0}), (((2, 3),), {"k": 1}), (((3,),), {"k": -1})]),
    "trace": (normal, cases([((3, 3),), ((2, 3),)])),
    "tril": (normal, [(((3, 3),), {"k": 0}), (((2, 3),), {"k": -1})]),
    "triu": (normal, [(((3, 3),), {"k": 0}), (((3, 2),), {"k": 1})]),
    "sum": (normal, [((s,), p) for s, p in REDUCTIONS] + KEEP),
    "mean": (normal, [((s,), p) for s, p in REDUCTIONS] + KEEP),
    "amax": (distinct, [((s,), p) for s, p in REDUCTIONS] + KEEP),
    "amin": (distinct, [((s,), p) for s, p in REDUCTIONS] + KEEP),
    "prod": (normal, [((s,), p) for s, p in REDUCTIONS] + [(((2, 3),), {"axis": 1, "keepdims": True})]),
    "var": (normal, [((s,), p) for s, p in REDUCTIONS if s != ()] + [(((2, 3),), {"axis": 0, "ddof": 1})]),
    "std": (normal, [((s,), p) for s, p in REDUCTIONS if s != ()] + [(((4,),), {"ddof": 1, "keepdims": True})]),
    "norm": (normal, [((s,), p) for s, p in REDUCTIONS] + [(((2, 3),), {"axis": 1, "keepdims": True})]),
    "cumsum": (normal, [(((3,),), {"axis": None}), (((2, 3),), {"axis": 1}), (((2, 3),), {"axis": None}),
                        (((2, 3),), {"axis": -2})]),
    "cumprod": (normal, [(((3,),), {"axis": None}), (((2, 3),), {"axis": 1}), (((2, 3),), {"axis": None}),
                         (((2, 3),), {"axis": -2}), (((2, 1, 3),), {"axis": 2})]),
    "logcumsumexp": (normal, [(((3,),), {"axis": None}), (((2, 3),), {"axis": 1}), (((2, 3),), {"axis": None}),
                              (((2, 3),), {"axis": -2}), (((2, 1, 3),), {"axis": 2})]),
    "diff": (normal, [(((4,),), {"n": 1, "axis": -1}), (((2, 3),), {"n": 1, "axis": 0}),
                      (((3, 4),), {"n": 2, "axis": -1}), (((2, 3),), {"n": 0, "axis": 1}),
                      (((2, 4, 2),), {"n": 3, "axis": 1})]),
    "sort": (distinct, [(((4,),), {"axis": -1}), (((2, 3),), {"axis": 0}), (((2, 3),), {"axis": -1}),
                        (((2, 3),), {"axis": None}), (((2, 1, 3),), {"axis": 2})]),
    "argmax": (distinct, [(((4,),), {}), (((2, 3),), {"axis": 1}), (((2, 3),), {"axis": None, "keepdims": True}),
                          (((2, 3),), {"axis": -2, "keepdims": True}), (((),), {})]),
    "argmin": (distinct, [(((4,),), {}), (((2, 3),), {"axis": 0}), (((2, 3),), {"axis": None, "keepdims": True}),
                          (((2, 3, 2),), {"axis": -1})]),
    "softmax": (normal, [((s,), p) for s, p in ALONG_AXIS]),
    "log_softmax": (normal, [((s,), p) for s, p in ALONG_AXIS]),
    "logsumexp": (normal, [((s,), p) for s, p in ALONG_AXIS] + [(((2, 3),), {"axis": 1, "keepdims": True})]),
    "solve": (square_matrices, cases([((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3))])),
    "inv": (square_matrices, cases([((3, 3),), ((2, 2, 2),)])),
    "det": (square_matrices, cases([((3, 3),), ((2, 2, 2),)])),
    "logdet": (square_matrices, cases([((3, 3),), ((2, 2, 2),)])),
    "cholesky": (spd, cases([((3, 3),), ((2, 2, 2),)])),
    "eigvalsh": (spd, cases([((3, 3),), ((2, 2, 2),)])),
    "solve_triangular": (lower_triangular, [(((3, 3), (3,)), {"lower": True}), (((3, 3), (3, 2)), {"lower": True})]),
    "getitem": (normal, [(((4,),), {"index": (1,)}), (((4,),), {"index": (slice(1, None),)}),
                         (((4,),), {"index": (slice(None, None, -1),)}), (((3, 4),), {"index": (slice(None), 1)}),
                         (((3, 4),), {"index": (slice(1, None), slice(None, 2))}),
                         (((3,),), {"index": (slice(None), None)}), (((3, 4),), {"index": (-1, -2)})]),
    # x[index] = v as a value (x.at[index].set(v)); v broadcast to the part's shape now and then. No
    # case overwrites all of x (a NaN x must still show in the result: test_nan_is_never_hidden).
    "setitem": (normal, [(((4,), ()), {"index": (1,)}), (((4,), (2,)), {"index": (slice(1, 3),)}),
                         (((4,), (2,)), {"index": (slice(None, None, -2),)}),
                         (((4,), (3,)), {"index": (slice(3, 0, -1),)}),
                         (((3, 4), (3,)), {"index": (slice(None), 1)}),
                         (((3, 4), (4,)), {"index": (slice(1, None),)}),
                         (((3, 4), (1, 2)), {"index": (slice(1, None), slice(None, 2))}),
                         (((3,), (1,)), {"index": (slice(1, None), None)}), (((3, 4), ()), {"index": (-1, -2)}),
                         (((2, 3, 4), (2,)), {"index": (Ellipsis, 1, slice(2, 0, -1))})]),
    "gather": (gather_domain, [(((4,), (5,)), {"layout": (("array", 1),)}),
                               (((4, 3), (2,)), {"layout": (("array", 1),)}),
                               (((4, 3), (5,), (5,)), {"layout": (("array", 1), ("array", 2))}),
                               (((4, 3), (2,)), {"layout": (slice(None), ("array", 1))})]),
    "size": (normal, [(((2, 3),), {"axis": 0}), (((2, 3),), {"axis": None})]),
    "filled": (normal, [(((2, 3),), {"kind": "zeros", "shape": (("dim", 0, 1, "k"), 2)}),
                        (((4,),), {"kind": "eye", "shape": (("dim", 0, 0, "n"),)}),
                        (((4,),), {"kind": "arange", "shape": (("dim", 0, 0, "n"),)})]),
    "one_hot": (labels(3), [(((4,),), {"k": 3}), (((2, 2),), {"k": 5})]),
    **{name: (normal, [(shapes, IMPLICIT_PARAMS[name]) for shapes in IMPLICIT_SHAPES])
       for name in ("fixed_point", "root", "rule", "loop", "while")},
}

# Operations with no derivative at all: booleans and counts.
NO_DERIVATIVE = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "size", "one_hot", "filled",
                 "argmax", "argmin"}
# Operations whose vjp or jvp is zero, by design, where an element is not selected.
SPARSE = {"where", "getitem", "setitem", "gather", "tril", "triu", "diag", "clip", "solve_triangular", "amax", "amin"}





ALL_OPS = sorted(OPS)


def checked_cases(name):
    """The cases of operation `name`; a newly registered operation must be given some."""
    assert name in CASES, f"operation '{name}' is registered but tests/test_registry.py has no CASES for it"
    return CASES[name]


def points(name):
    """(operand values, params) for every case of `name`, reproducibly random."""
    domain, shape_cases = checked_cases(name)
    for i, (shapes, params) in enumerate(shape_cases):
        rng = np.random.default_rng(1000 + 37 * i + sum(map(ord, name)))
        yield [np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else np.asarray(x)
               for x in domain(rng, shapes)], params


def floats(xs):
    """The operands that carry derivatives (floats), by position."""
    return [k for k, x in enumerate(xs) if x.dtype == np.float64]




# ---------------------------------------------------------------------------------------------
# Each operation as a .ad file writes it
# ---------------------------------------------------------------------------------------------

def call_text(name: str, params: dict, operands: list[str]) -> str:
    """Operation `name` applied to the named operands, in the language: a + b, sum(a, axis=1), a[1:]."""
    if name in ("loop", "while"):  # a statement: IMPLICIT_DEFS' function holds it
        return f"{'steps' if name == 'loop' else 'shrink'}({', '.join(operands)})"
    if name == "setitem":  # the registry shows x[…] ← v; a file writes JAX's x.at[…].set(v)
        return f"{operands[0]}.at[{index_text(params.get('index', ()))}].set({operands[1]})"
    text = source_text(name, operands, params)
    return f"transpose({operands[0]})" if text == f"{operands[0]}.T" else text


def declaration(name: str, x) -> str:
    """`input a: [2, 3]` (or int[...] for integer data)."""
    kind = "int" if x.dtype.kind in "iu" else ""
    return f"input {name}: {kind}[{', '.join(map(str, x.shape))}]"


def op_program(name, xs, params):
    """A program applying operation `name` to inputs a, b, ... holding xs, and a scalar loss of
    its result (sum(y * W), W random data); with the values to run it at."""
    names = [chr(ord("a") + k) for k in range(len(xs))]
    values = {n: np.where(x, 1.0, -1.0) if x.dtype == bool else x for n, x in zip(names, xs)}
    lines = [declaration(n, v) for n, v in values.items()]
    operands = [f"({n} > 0)" if x.dtype == bool else n for n, x in zip(names, xs)]
    if name == "filled":
        dims = {d[2]: d[3] for d in params["shape"] if isinstance(d, tuple)}
        lines[0] = f"input a: [{', '.join(dims.get(i, str(n)) for i, n in enumerate(xs[0].shape))}]"
    if name in IMPLICIT_DEFS:  # the function it solves with, defined first
        lines.insert(0, IMPLICIT_DEFS[name])
    lines.append(f"y = {call_text(name, params, operands)}")
    w = np.random.default_rng(len(name)).normal(size=np.shape(OPS[name].forward(*xs, **params)))
    lines.append(f"data W: [{', '.join(map(str, w.shape))}]")
    lines.append("loss = sum(where(y, W, 0))" if OPS[name].dtype == "bool" else "loss = sum(y * W)")
    return parse("\n".join(lines) + "\n", "op.ad"), {**values, "W": w}
