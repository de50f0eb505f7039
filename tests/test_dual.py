"""Dual numbers: the lecture's example, operators, numpy on duals, nesting without confusion."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import adcli
from adcli import ops
from adcli.engine.dual import Dual, derivative, derivatives, fresh_tag, jvp
from adcli.operations import OPS


def test_lecture_example_verbatim():
    def f(x):
        return x*x + 1.0

    y = f(Dual(3.0, 1.0))
    assert y.value == 10
    assert y.tangent == 6
    assert repr(y) == "Dual(10.0, 6.0)"
    assert adcli.Dual is Dual


def test_arithmetic_operators_follow_the_rules():
    x, y = Dual(3.0, 1.0), Dual(2.0, 0.5)
    cases = [
        (x + y, 5.0, 1.5), (x - y, 1.0, 0.5), (x * y, 6.0, 1.0 * 2.0 + 3.0 * 0.5),
        (x / y, 1.5, (1.0 * 2.0 - 3.0 * 0.5) / 4.0), (-x, -3.0, -1.0), (+x, 3.0, 1.0),
        (x ** 2, 9.0, 6.0), (2.0 ** x, 8.0, 8.0 * math.log(2.0)), (x ** y, 9.0, 2 * 3.0 * 1.0 + 9.0 * math.log(3.0) * 0.5),
        (abs(-x), 3.0, 1.0), (x @ y, 6.0, 3.5),
        (1.0 + x, 4.0, 1.0), (1.0 - x, -2.0, -1.0), (2 * x, 6.0, 2.0), (6.0 / x, 2.0, -6.0 / 9.0),
        (np.float64(2.0) * x, 6.0, 2.0), (x * np.float64(2.0), 6.0, 2.0), (np.float64(1.0) - x, -2.0, -1.0),
    ]
    for result, value, tangent in cases:
        assert isinstance(result, Dual)
        assert result.value == pytest.approx(value, rel=1e-15)
        assert result.tangent == pytest.approx(tangent, rel=1e-15)


def test_a_constant_exponent_has_no_tangent_even_where_its_partial_is_nan():
    # ∂(x**2)/∂2 = x² log x is NaN at x < 0; with no tangent on the 2 it must not appear.
    y = Dual(-2.0, 1.0) ** 2
    assert (y.value, y.tangent) == (4.0, -4.0)


def test_arrays_on_either_side_broadcast():
    x = Dual(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0]))
    left = np.array([10.0, 20.0, 30.0]) * x
    right = x * np.array([10.0, 20.0, 30.0])
    for y in (left, right):
        assert y.value.tolist() == [10.0, 40.0, 90.0] and y.tangent.tolist() == [10.0, 0.0, 0.0]
    scalar = Dual(2.0, 1.0) + np.array([1.0, 2.0])  # the scalar's tangent reaches each element
    assert scalar.tangent.tolist() == [1.0, 1.0]
    assert np.sum(scalar).tangent == 2.0
    m = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) @ x
    assert m.value.tolist() == [14.0, 32.0] and m.tangent.tolist() == [1.0, 4.0]
    assert (x @ np.ones(3)).tangent == 1.0


def test_tangent_broadcasts_to_the_value_and_a_wrong_shape_is_refused():
    assert Dual(np.zeros(3), 1.0).tangent.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        Dual(np.zeros(3), np.ones(2))


def test_comparisons_look_at_the_value():
    x = Dual(3.0, 1.0)
    assert x > 2 and x >= 3 and x < 4 and x <= 3 and x == 3.0 and x != 2.0
    assert not (x > Dual(5.0, -1.0))
    v = Dual(np.array([1.0, -1.0]), 1.0)
    assert (v > 0).tolist() == [True, False]
    assert bool(Dual(1.0, 0.0)) and not bool(Dual(0.0, 1.0))


def test_numpy_functions_on_duals():
    x = Dual(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert np.sum(x).tangent == 2.0
    assert np.sum(x, axis=0).tangent.tolist() == [1.0, 1.0]
    assert np.transpose(x).value.tolist() == [[1.0, 3.0], [2.0, 4.0]] and x.T.tangent.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert np.reshape(x, (4,)).tangent.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert x[1].value.tolist() == [3.0, 4.0] and x[1, 1].tangent == 1.0
    assert x.shape == (2, 2) and x.ndim == 2 and x.size == 4 and len(x) == 2
    assert np.shape(x) == (2, 2) and np.zeros_like(x).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    top = np.max(x)  # the registry's amax: the tangent of the winner
    assert (top.value, top.tangent) == (4.0, 1.0)
    kept = np.max(x, axis=1, keepdims=True)
    assert kept.value.tolist() == [[2.0], [4.0]] and kept.tangent.tolist() == [[0.0], [1.0]]
    picked = np.where(np.array([True, False]), Dual(np.array([1.0, 2.0]), 1.0), 5.0)
    assert picked.value.tolist() == [1.0, 5.0] and picked.tangent.tolist() == [1.0, 0.0]
    stacked = np.stack([Dual(1.0, 1.0), 2.0])
    assert stacked.value.tolist() == [1.0, 2.0] and stacked.tangent.tolist() == [1.0, 0.0]
    e = np.exp(Dual(0.0, 2.0))
    assert (e.value, e.tangent) == (1.0, 2.0)
    assert np.sign(Dual(-3.0, 1.0)) == -1.0  # piecewise constant: a plain value
    assert np.prod(Dual(np.array([2.0, 3.0]), 1.0)).tangent == 5.0  # the registry's prod
    with pytest.raises(TypeError):
        np.median(Dual(np.array([1.0, 2.0]), 1.0))  # not in the registry: refused, not guessed


def test_the_language_functions_from_python():
    s = ops.sin(Dual(0.0, 1.0))
    assert (s.value, s.tangent) == (0.0, 1.0)
    assert ops.sin(0.0) == 0.0 and ops.relu(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
    both = ops.max(Dual(1.0, 1.0), Dual(1.0, 3.0))  # a tie splits the tangent evenly
    assert (both.value, both.tangent) == (1.0, 2.0)
    reduced = ops.max(Dual(np.array([1.0, 3.0]), np.array([5.0, 7.0])))
    assert (reduced.value, reduced.tangent) == (3.0, 7.0)
    assert ops.sum(Dual(np.ones((2, 3)), 1.0), axis=0).tangent.tolist() == [2.0, 2.0, 2.0]
    sm = ops.softmax(Dual(np.array([0.0, 0.0]), np.array([1.0, 0.0])))
    assert sm.value.tolist() == [0.5, 0.5] and sm.tangent.tolist() == [0.25, -0.25]
    assert ops.sigmoid(Dual(0.0, 1.0)).tangent == 0.25
    with pytest.raises(TypeError, match="max"):
        ops.max(1.0, 2.0, 3.0)
    for name in OPS:
        assert callable(getattr(ops, name)), name


def test_duals_use_the_registry_rule_not_their_own(monkeypatch):
    # A registry whose ∂(x·y)/∂x is wrongly 2y: the dual must follow it.
    mul = OPS["mul"]
    wrong = dataclasses.replace(mul, deriv_code=("2 * {y}", "{x}"))
    monkeypatch.setitem(OPS, "mul", wrong)
    assert (Dual(3.0, 1.0) * 5.0).tangent == 10.0


def test_perturbation_confusion():
    # d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1; mixing the two ε's up gives 2.
    assert derivative(lambda x: x * derivative(lambda y: x + y, 2.0), 1.0) == 1.0
    # and a derivative that does depend on the outer variable: d/dx [x · d/dy (x·y)] = 2x
    assert derivative(lambda x: x * derivative(lambda y: x * y, 2.0), 3.0) == 6.0


def test_nested_duals_give_higher_derivatives():
    assert [float(d) for d in derivatives(lambda x: x ** 3, 2.0, 4)] == [12.0, 12.0, 6.0, 0.0]
    assert [float(d) for d in derivatives(np.sin, 0.0, 5)] == [1.0, 0.0, -1.0, 0.0, 1.0]
    assert float(derivative(np.exp, 1.0, order=3)) == pytest.approx(math.e, rel=1e-15)
    # a dual of duals built by hand: x + ε₁ + ε₂, the coefficient of ε₁ε₂ is f''
    inner = Dual(2.0, 1.0)
    outer = Dual(inner, 1.0)
    assert outer.tag > inner.tag
    y = outer ** 3
    assert y.tangent.tangent == 12.0 and y.value.value == 8.0


def test_tags_must_nest():
    inner = Dual(1.0, 1.0, tag=fresh_tag())
    with pytest.raises(ValueError, match="tag"):
        Dual(inner, 0.0, tag=inner.tag)


def test_jvp_helper_on_arrays():
    value, tangent = jvp(lambda v: np.sum(v * v), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    assert value == 5.0 and tangent == 6.0
