"""Random well-formed programs (hypothesis), over the whole language and every registry operation:
they parse as written, evaluate as this file's own numpy evaluation says, print back to the same
graph, and differentiate consistently, at comfortable points and at hostile ones.

The drawing, printing, reference evaluation and checks live in tests/random_programs_lib.py.

What is drawn
-------------
A program is a list of statements, drawn as a small syntax tree and printed as .ad text:

* inputs: 1 to 4 float inputs of shapes (), [1], [2], [3], [2, 3], [3, 2], [1, 3], [2, 1], [2, 2],
  [3, 3], [2, 2, 3], [2, 3, 3], declared (`input x: [2, 3]`, dimensions as numbers or as the names
  one, n, k, which always stand for 1, 2, 3; `input x: []`; `input x`) or used undeclared; now and
  then a data input (`data D: [2, 3]`, never differentiated) and integer labels
  (`input lab: int[n]`, `input idx: int[2, 3]`, values in [0, K) or [-K, K));
* definitions: up to two functions, inline (`def f(a, b) = ...`) or as a block of local
  assignments (reassigning a parameter or a local, or running a loop) ending in `return`, with 1 to
  3 parameters of fixed shapes; a body reads only its parameters and locals, and may call
  functions defined before it; a call may stand anywhere an expression of the result's shape may,
  several times, inside loops and inside other functions' bodies;
* loops: `for t in range(...)` with 1 to 3 bounds (range(3), range(-1, 2), range(3, 0, -1),
  range(0, 4, 2), empty ranges), nested once, with bounds from the outer variable
  (`for j in range(i + 1, 3)`, `range(i)`, `range(0, i + 1)`); the body (indented by 1, 2 or 4
  spaces, or on the `for` line itself) reassigns names with their shape kept (`s = s + x[t]`),
  makes names of its own, and uses the loop variable as an index (`x[t]`, `x[t - 1]`, `x[t + 1]`,
  `x[t:t + 2]`), as a number (`h * (t + 1)`) and as an exponent (`x ** t`);
* assignments, with names reassigned (versions h, h', h'', ..., also of inputs), and a scalar
  output `loss` summing the last values.

Expressions choose among every registry operation with about equal weight, written every way a
file may write it: operators (+ - * / @ ** with numpy broadcasting, unary - and +, .T, the six
comparisons); every elementwise function (elu's alpha, leaky_relu's slope, digamma's n; gammaln,
digamma and log_sigmoid also as lgamma, psi and log_expit); max/min of two operands; xlogy and
xlog1py; clip (bounds in order, constants, or in any order); where(comparison, a, b) and
comparisons used as numbers ((x > 0) * h), of floats or of integer labels; reductions (sum, mean,
max, min, prod, var, std, norm) over everything, an axis, a negative axis, a list of axes or
`axis=None`, with keepdims and ddof, by keyword or by position; cumsum, cumprod, logcumsumexp and
sort (along an axis or flattened); diff (n from 0 to 3); argmax and argmin (along an axis, kept, or
of everything) added to or multiplying a value; softmax, log_softmax and
logsumexp along any axis; transpose (.T, transpose(x), transpose(x, axes=[...]) with negative axes,
transpose(x, axes=None)); stacks (`[a, b]`, stack([...], axis=k)); concat/concatenate;
reshape (with -1); expand_dims; squeeze; flip (an axis, a list, all); broadcast_to; diag (k);
trace; tril/triu (k); dot; outer; kron (operands of lower rank too); einsum with random specs (1
to 3 operands, contracted and broadcast letters, scalar operands); one_hot(labels, k); size(x), size(x, axis) and declared
dimensions read as numbers; zeros/ones/eye/arange sized by numbers, dimension names or
size(x, k) (adcli's `filled`); indexing with ints, negative ints, slices with negative bounds and
steps, None axes and loop variables; updates as values, x.at[items].set(v) (and .add(v),
.multiply(v), .max(v), .min(v)), items ints, slices, a None and loop variables, v broadcast to the
part; gathers E[lab], Z[arange(n), lab], Z[:, lab], E[lab, None], E[lab - 1, :]. Linear algebra takes well-conditioned operands built in the program: P Pᵀ + (n+1)I
(symmetric positive definite; P Pᵀ also as einsum("bij,bkj->bik", P, P) for batches) or
tanh(M) + (n+1)I (diagonally dominant), for solve, solve_triangular (lower or upper), inv, det,
logdet, cholesky and eigvalsh, batched or not; det, a polynomial, also takes any matrix now and
then (singular ones included). Functions with a restricted domain get operands
built inside it (log(positive), acosh(1 + positive), asin(0.9·tanh(...))). Leaves are names,
names reshaped, broadcast, reduced or indexed to the shape wanted, numbers, pi, array literals,
ones/zeros/eye, and loop variables. Printing adds noise: redundant parentheses, comments, blank
lines, `;`, backslash continuations, one-line bodies, `a:b:` slices.

Two modes, both run in CI:

* well-scaled: values uniform in [-2, 2] (in [0.5, 2] for inputs the program treats as positive),
  labels in range; a point is used when every value is finite and at most LIMIT = 1e4, and no
  operation is within MARGIN = 1e-3 of a kink, a jump, a pole or the edge of its domain (relu, abs,
  sign, cbrt, reciprocal, elu, leaky_relu at 0; floor/ceil/round at their jumps; ties of max/min,
  of reductions' extremes, of argmax/argmin, of sort's neighbours and of comparisons; gammaln and
  digamma near their poles 0, -1, -2, …; xlogy's y near 0 and xlog1py's near -1; clip at its
  bounds; log, log2, log10 and sqrt near 0, log1p near -1, acosh near 1, atanh/asin/acos near
  ±1; divisors and powers' bases near 0; tan near its poles; atan2 near the origin and its branch cut; hypot, norm and std near 0; matrices
  with condition number over 1e4 (but a det of an exactly singular matrix is checked), and for
  cholesky and eigvalsh near-singular or repeated eigenvalues); up to 4 value draws, then the program is rejected. 20% of programs are all scalars.
* hostile: every element drawn from 0, -0.0, ±1, ±2, ±0.5, 3, -4, ±2.5, ±1e-300, 5e-324, 1e-8,
  ±1e10, ±1e200, 1.8e308, ±inf, NaN, pi/2 (4 in 10), an exact tie with an element drawn before
  (2 in 10), a small integer (2 in 10), or a float in [-3, 3] (2 in 10); labels anywhere in their
  range (repeats and negative labels included); a third of the numbers written in a program are
  hostile constants (0.0, -0.0, ±1, 2, 0.5, 2.5, 3, 1e10, 1e300, 1e-300, 5e-324, inf, -inf), powers
  take exponents such as 2.5, 0, -0.5 and 1e-300, and functions with a restricted domain (and
  divisors and powers' bases) now and then take unconstrained operands, so values are NaN or
  infinite at many points. 40% of programs are all scalars, so the scalar fast path runs.

What is checked
---------------
For every program, with every adcli call run with Python warnings as errors (no ComplexWarning,
RuntimeWarning or other warning may escape), and any exception (a crash) a failure:

1. the printed text parses, and GENERATED_OPS == set(OPS): every registry operation is made by
   the programs CI draws (the last test checks the operations actually parsed);
2. round trip: the graph printed back as straight-line text (every operation on its own line, in
   node order, constants inside their one consumer) parses to the same graph: operations,
   operands, parameters, constants, element types, inputs with their declared shapes and roles;
3. values: the labels of the assignments (h, h', f.h for a function's local, inputs' reassignments
   starting at x') are those this file's reference evaluator gives, in order, and every value
   equals its numpy evaluation (written here against numpy alone, never adcli's registry or
   kernels) to 1e-12 relative and absolute (well-scaled), or, NaN for NaN, to 1e-9 relative (or
   1e-9 of the largest finite element) (hostile);
4. gradients exist exactly for the float inputs not declared as data;
5. the scalar fast path is bit-identical to the general engine: program.grad's value and
   gradients against adcli.engine.reverse.backward run on adcli.engine.evaluate.evaluate's values,
   np.array_equal(..., equal_nan=True);
6. forward mode (adcli.engine.forward.forward_grad) agrees with reverse mode: well-scaled, every element
   finite and within 1e-10 of the largest gradient element; hostile, elementwise, NaN for NaN
   (a number where the other mode gives NaN fails), inf for inf with its sign, except that a finite
   element of at least 1e100 against an infinity is allowed (the modes multiply the same factors
   from opposite ends, and one may overflow), and within 1e-9 relative where both are finite;
7. at every point where all values are finite, within LIMIT and away from kinks (every
   well-scaled point, and the hostile points that qualify) the gradient is finite and agrees with
   five-point central differences, step h = 1e-6·max(1, |x|), to FD_RTOL = 1e-5 relative plus
   FD_ATOL = 1e-7·(1 + |loss|) absolute.

Every run (CI's and a developer's alike) checks fixed, derandomized sets of 500 well-scaled and 400
hostile programs, the regression set (ADCLI_WELL_SCALED_EXAMPLES, ADCLI_HOSTILE_EXAMPLES change the
counts), and then ADCLI_FRESH_EXAMPLES more of each mode (default 100, about 25 seconds of one
core) drawn from the session's seed: ADCLI_SEED when set, otherwise a fresh one, which
the session's first lines print (tests/conftest.py). `pytest -m slow tests/test_random_programs.py`
runs a larger set of ADCLI_RANDOM_EXAMPLES programs (default 5,000) of both modes from the same seed.

A failure reports the program and its values as found, and the command that replays it, such as
`ADCLI_SEED=1234 python -m pytest tests/test_random_programs.py -k fresh_programs_at_hostile_points`;
ADCLI_RANDOM_SHRINK=1 lets hypothesis shrink it first (which can take minutes).
"""

from __future__ import annotations

import os

import pytest
import random_programs_lib as lib  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from adcli.operations import OPS

WELL_SCALED_EXAMPLES = int(os.environ.get("ADCLI_WELL_SCALED_EXAMPLES", "500"))
HOSTILE_EXAMPLES = int(os.environ.get("ADCLI_HOSTILE_EXAMPLES", "400"))
FRESH_EXAMPLES = int(os.environ.get("ADCLI_FRESH_EXAMPLES", "100"))  # per mode, from the session's seed
COVERAGE_EXAMPLES = 8  # per operation the two main tests did not make
SLOW_EXAMPLES = int(os.environ.get("ADCLI_RANDOM_EXAMPLES", "5000"))

# The registry operations the generator can produce; a new operation must be added here (and to
# the generator: test_the_generator_produces_every_operation draws programs and looks).
GENERATED_OPS = {
    "add", "sub", "mul", "div", "pow", "neg", "matmul",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "where",
    "relu", "exp", "log", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt", "abs", "log1p", "expm1", "log2",
    "log10", "exp2", "square", "cbrt", "reciprocal", "sinh", "cosh", "asinh", "acosh", "atanh", "asin", "acos",
    "atan", "erf", "erfc", "softplus", "gelu", "silu", "elu", "leaky_relu", "sign", "floor", "ceil", "round",
    "maximum", "minimum", "atan2", "hypot", "logaddexp", "clip",
    "sum", "mean", "amax", "amin", "prod", "var", "std", "norm", "cumsum", "softmax", "log_softmax", "logsumexp",
    "transpose", "stack", "concat", "reshape", "expand_dims", "squeeze", "flip", "roll", "broadcast_to", "diag", "trace",
    "tril", "triu", "outer", "dot", "einsum", "one_hot",
    "solve", "inv", "det", "logdet", "cholesky", "eigvalsh", "solve_triangular",
    "getitem", "setitem", "gather", "size", "filled",
    "log_sigmoid", "gammaln", "digamma", "xlogy", "xlog1py", "sinc", "cumprod", "logcumsumexp", "diff", "sort",
    "argmax", "argmin", "kron", "fixed_point", "root", "rule", "loop", "while",
}

# Shrinking a failing program can take hypothesis minutes; a failure reports the program and its
# values as found, and ADCLI_RANDOM_SHRINK=1 asks for the smallest one instead.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + \
    ([Phase.shrink] if os.environ.get("ADCLI_RANDOM_SHRINK") == "1" else [])
SETTINGS = dict(deadline=None, database=None, phases=PHASES, report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large])


def test_the_generator_covers_every_registry_operation():
    assert GENERATED_OPS == set(OPS)


# The regression set: the same programs on every run. (Hypothesis derives a derandomized test's
# programs from its source: editing these two functions changes the set.)

@settings(max_examples=WELL_SCALED_EXAMPLES, derandomize=True, **SETTINGS)
@given(lib.programs(hostile=False), st.integers(0, 2**32 - 1))
def test_random_programs_at_well_scaled_points(case, seed):
    statements, inputs, _ = case
    lib.check_program(statements, inputs, seed)


@settings(max_examples=HOSTILE_EXAMPLES, derandomize=True, **SETTINGS)
@given(lib.programs(hostile=True), st.integers(0, 2**32 - 1))
def test_random_programs_at_hostile_points(case, seed):
    statements, inputs, values = case
    lib.check_program(statements, inputs, seed, values)


# Fresh programs: new ones on every run, from the session's seed (ADCLI_SEED replays them).

def check_fresh(fresh_seed: int, examples: int, strategy, test: str, slow: bool = False):
    """`examples` programs drawn by hypothesis from fresh_seed, each checked like the fixed sets'."""
    command = f"ADCLI_SEED={fresh_seed} python -m pytest " + ("-m slow " if slow else "") + \
        f"tests/test_random_programs.py -k {test}"
    print(f"{test}: {examples} programs from ADCLI_SEED={fresh_seed}; replay: {command}")

    @seed(fresh_seed)
    @settings(max_examples=examples, **SETTINGS)
    @given(strategy, st.integers(0, 2**32 - 1))
    def check(case, point_seed):
        statements, inputs, values = case
        lib.check_program(statements, inputs, point_seed, values, replay=command)

    check()


def test_fresh_programs_at_well_scaled_points(fresh_seed):
    check_fresh(fresh_seed, FRESH_EXAMPLES, lib.programs(hostile=False), "fresh_programs_at_well_scaled_points")


def test_fresh_programs_at_hostile_points(fresh_seed):
    check_fresh(fresh_seed, FRESH_EXAMPLES, lib.programs(hostile=True), "fresh_programs_at_hostile_points")


@pytest.mark.slow
def test_many_random_programs(fresh_seed):
    check_fresh(fresh_seed, SLOW_EXAMPLES, st.booleans().flatmap(lambda hostile: lib.programs(hostile)),
                "test_many_random_programs", slow=True)


def test_the_generator_produces_every_operation():
    """The programs CI draws make every operation in GENERATED_OPS: the two tests above record the
    operations they parse; any not seen there (the test run alone, or after a failure above) must
    appear in a few programs whose first assignment comes from a generator meant to make it."""
    missing = set()
    for op in sorted(GENERATED_OPS - lib.OPS_SEEN):
        seen: set[str] = set()
        kinds = lib.producers(op)
        assert kinds, f"no generator makes {op}"

        @settings(max_examples=COVERAGE_EXAMPLES, derandomize=True, **SETTINGS)
        @given(st.sampled_from(kinds).flatmap(lambda kind: lib.programs(False, root=kind)))
        def collect(case):
            if op not in seen:
                seen.update(lib.operations_of(case[0]))

        collect()
        if op not in seen:
            missing.add(op)
    assert missing == set()
