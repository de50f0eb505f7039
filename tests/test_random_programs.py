"""Random well-formed programs (hypothesis): DOCSTRING PLACEHOLDER"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adcli.registry import OPS

import random_programs_lib as lib  # noqa: E402

WELL_SCALED_EXAMPLES = int(os.environ.get("ADCLI_WELL_SCALED_EXAMPLES", "400"))
HOSTILE_EXAMPLES = int(os.environ.get("ADCLI_HOSTILE_EXAMPLES", "400"))
COVERAGE_EXAMPLES = 600
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
    "transpose", "stack", "concat", "reshape", "expand_dims", "squeeze", "flip", "broadcast_to", "diag", "trace",
    "tril", "triu", "outer", "dot", "einsum", "one_hot",
    "solve", "inv", "det", "logdet", "cholesky", "eigvalsh", "solve_triangular",
    "getitem", "gather", "size",
}

SETTINGS = dict(deadline=None, database=None,
                suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large])


def test_the_generator_covers_every_registry_operation():
    assert GENERATED_OPS == set(OPS)


def test_the_generator_produces_every_operation():
    """Programs drawn as CI draws them make every operation in GENERATED_OPS, in both modes."""
    seen: set[str] = set()

    @settings(max_examples=COVERAGE_EXAMPLES, derandomize=True, **SETTINGS)
    @given(st.booleans().flatmap(lambda hostile: lib.programs(hostile)))
    def collect(case):
        seen.update(lib.operations_of(case[0]))

    collect()
    assert GENERATED_OPS - seen == set()


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


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **SETTINGS)
@given(st.booleans().flatmap(lambda hostile: lib.programs(hostile)), st.integers(0, 2**32 - 1))
def test_many_random_programs(case, seed):
    statements, inputs, values = case
    lib.check_program(statements, inputs, seed, values)
