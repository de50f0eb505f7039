"""Loops kept as loops: a `for` of 64 iterations or more is one node whose body is compiled once, and
gives the numbers the unrolled loop gives, in every mode and command: reverse and forward mode,
Hessians, higher orders, checkpointing, --batch, check, graph, cost, lint, and the exported modules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.forward import forward_grad
from adcli.engine.higher import derivatives
from adcli.engine.matrices import hessian
from adcli.export import export_source, load_module

runner = CliRunner()

RECURRENCE = """input a
h = 0.5
for t in range(300):
    h = h + 0.001 * sin(a * h)
y = h
"""

# Several carried values of several shapes, a closure of arrays, x[t] read with the loop variable,
# a carried array written through it, and an integer 0 that the body turns into a float.
SYSTEM = """input a: []
input W: [3, 3]
input xs: [120, 3]
h = zeros(3)
v = 1.0
s = 0
m = zeros([120])
for t in range(120):
    h = tanh(W @ h + xs[t] * a)
    v = v * 0.99 + sum(h) * 0.01
    s += v * v
    m[t] = h[0] * v
y = s + sum(h * h) + sum(m * m) * a
"""

# An RNN cell in a function called in the loop, a loop inside a function called twice, two loops one
# inside the other (both long), a range with a start and a step, and one counting down.
NESTED = """input a: []
input b: [4]
def settle(u, c):
    for k in range(70):
        u = u - 0.1 * (u * u * u - c)
    return u
z = settle(b, a) + settle(b * 0.5, a * a)
q = b
for i in range(65):
    for j in range(2, 200, 3):
        q = q * 0.999 + 0.001 * cos(q + j * 0.01)
w = b
for t in range(300, 0, -4):
    w = w + sin(w * t * 0.001) * 0.01
y = sum(z * q * w)
"""

# Several scalars carried (packed into one vector, run on floats): an oscillator by semi-implicit
# Euler steps, a swap, and a carried value set to a parameter.
SCALARS = """input k: []
input c: []
x = 1.0
v = 0.0
p = 0.5
q = -0.5
for t in range(500):
    x = x + 0.01 * v
    v = v - 0.01 * k * x - 0.001 * c * v * abs(v)
    p, q = q * 0.999, sin(p) + c
y = x * x + v + p * q
"""

VALUES = {
    "RECURRENCE": (RECURRENCE, {"a": 1.3}),
    "SYSTEM": (SYSTEM, {"a": 0.7, "W": np.random.default_rng(1).normal(size=(3, 3)) * 0.5,
                        "xs": np.random.default_rng(2).normal(size=(120, 3))}),
    "NESTED": (NESTED, {"a": 0.8, "b": np.array([0.3, -0.7, 1.1, 0.05])}),
    "SCALARS": (SCALARS, {"k": 2.0, "c": 0.3}),
}


def loops(program) -> int:
    return sum(1 for node in program.graph.nodes if node.op == "loop")


def kept_and_unrolled(name):
    source, values = VALUES[name]
    kept, unrolled = adcli.parse(source), adcli.parse(source, unroll=True)
    assert loops(kept) >= 1 and loops(unrolled) == 0
    return kept, unrolled, values


def same(a, b):
    assert a.value == b.value
    for k in a.grad:
        np.testing.assert_array_equal(a.grad[k], b.grad[k], err_msg=k)


@pytest.mark.parametrize("name", list(VALUES))
def test_reverse_mode_agrees_with_the_unrolled_loop(name):
    """The same operations on the same operands: the value to the bit; a gradient to the bit where each
    step's share reaches its input alone (the recurrence), else to rounding (a parameter's shares are
    summed over the steps first, then added to what the rest of the program gives it)."""
    kept, unrolled, values = kept_and_unrolled(name)
    a, b = kept.grad(**values), unrolled.grad(**values)
    if name == "RECURRENCE":
        same(a, b)
    assert a.value == b.value
    for k in a.grad:
        np.testing.assert_allclose(a.grad[k], b.grad[k], rtol=1e-13, atol=1e-16, err_msg=k)


@pytest.mark.parametrize("name", list(VALUES))
def test_forward_mode_and_hessians_agree_with_the_unrolled_loop(name):
    kept, unrolled, values = kept_and_unrolled(name)
    a, b = forward_grad(kept, **values), forward_grad(unrolled, **values)
    assert a.value == b.value
    for k in a.grad:
        np.testing.assert_allclose(a.grad[k], b.grad[k], rtol=1e-13, atol=1e-15)
    first = next(iter(values))
    h1 = hessian(kept, wrt=[first], dense=True, **values).blocks[(first, first)]
    h2 = hessian(unrolled, wrt=[first], dense=True, **values).blocks[(first, first)]
    np.testing.assert_allclose(h1, h2, rtol=1e-12)


def test_the_nodes_are_the_body_once():
    """The graph holds the body once, whatever the number of steps."""
    small = adcli.parse(RECURRENCE.replace("300", "100"))
    large = adcli.parse(RECURRENCE.replace("300", "1000000"))
    assert len(small.graph.nodes) == len(large.graph.nodes) < 10


def test_a_long_recurrence_against_floats_by_hand():
    """h ← h + 0.001·sin(a·h), 200,000 steps, and dh/da by the chain rule written out on floats."""
    a, n = 1.3, 200_000
    h, dh = 0.5, 0.0
    for _ in range(n):
        dh = dh + 0.001 * math.cos(a * h) * (h + a * dh)
        h = h + 0.001 * math.sin(a * h)
    program = adcli.parse(RECURRENCE.replace("300", str(n)))
    result = program.grad(a=a)
    assert result.value == pytest.approx(h, rel=1e-13)
    assert result.grad["a"] == pytest.approx(dh, rel=1e-9)
    assert forward_grad(program, a=a).grad["a"] == pytest.approx(dh, rel=1e-9)


def test_higher_orders_run_through_the_loop():
    kept, unrolled, values = kept_and_unrolled("RECURRENCE")
    a = derivatives(kept, "a", 3, **values).derivatives
    b = derivatives(unrolled, "a", 3, **values).derivatives
    np.testing.assert_allclose([float(x) for x in a], [float(x) for x in b], rtol=1e-12)


@pytest.mark.parametrize("name", list(VALUES))
def test_checkpointing_a_loop_keeps_the_bits(name):
    kept, _, values = kept_and_unrolled(name)
    plain = kept.grad(**values)
    for kind in ("sqrt", 5):
        same(kept.checkpointed(kind).grad(**values), plain)


def test_special_values_flow_through():
    """NaN in gives NaN out; an infinity stays one; a zero-sized carried array is carried."""
    program = adcli.parse(RECURRENCE)
    assert math.isnan(program.grad(a=float("nan")).grad["a"])
    empty = adcli.parse("input x: [0]\nh = x\nfor t in range(100):\n    h = h * 0.5 + sin(h)\ny = sum(h)\n")
    result = empty.grad(x=np.zeros(0))
    assert result.value == 0.0 and result.grad["x"].shape == (0,)
    zero = adcli.parse(RECURRENCE).grad(a=0.0)
    assert zero.value == 0.5 and zero.grad["a"] == pytest.approx(0.001 * 0.5 * 300, rel=1e-2)


def test_loops_that_must_be_unrolled_still_run():
    """A loop variable used where a number must be known (t % 4 as an index, range(t)), a carried value
    that grows, a value made in the body and read after it, and an integer counter (n = n + 1 stays
    an integer, where s += x[t] from s = 0 is carried as a float): unrolled, as before."""
    for source in ("h = zeros(4)\nfor t in range(100):\n    h[t % 4] = h[t % 4] + t * a\ny = sum(h)\n",
                   "h = a\nfor t in range(70):\n    for k in range(t % 3):\n        h = h * 0.9 + a\ny = h\n",
                   "h = a * ones(1)\nfor t in range(70):\n    h = concat([h, a * ones(1)])\ny = sum(h)\n",
                   "h = a\nfor t in range(70):\n    u = h * 2\n    h = sin(u)\ny = h + u\n",
                   "n = 0\nh = a\nfor t in range(70):\n    n = n + 1\n    h = h * 0.5 + a\ny = h + n\n"):
        program = adcli.parse("input a: []\n" + source)
        assert loops(program) == 0
        assert np.isfinite(program.grad(a=0.3).grad["a"])


def test_the_loop_variable_reads_and_writes_arrays():
    """x[t] reads one row a step and m[t] = v writes one element a step: every row of xs gets its own
    gradient, and every element of m its value, as unrolled."""
    kept, unrolled, values = kept_and_unrolled("SYSTEM")
    source = SYSTEM.replace("y = s + sum(h * h) + sum(m * m) * a", "y = m")
    np.testing.assert_array_equal(adcli.parse(source).eval(**values)["y"],
                                  adcli.parse(source, unroll=True).eval(**values)["y"])
    result = kept.grad(**values)
    assert np.count_nonzero(result.grad["xs"]) == 360
    np.testing.assert_allclose(result.grad["xs"], unrolled.grad(**values).grad["xs"], rtol=1e-13, atol=1e-16)


def run(tmp_path, source, *args):
    path = tmp_path / "loop.ad"
    path.write_text(source)
    return runner.invoke(app, [args[0], str(path), *args[1:]])


def test_commands_on_a_loop(tmp_path):
    grad = run(tmp_path, RECURRENCE, "grad", "--set", "a=1.3", "--json")
    assert grad.exit_code == 0, grad.output
    value = json.loads(grad.stdout)["grad"]["a"]
    assert value == adcli.parse(RECURRENCE, unroll=True).grad(a=1.3).grad["a"]
    check = run(tmp_path, RECURRENCE, "check", "--set", "a=1.3")
    assert check.exit_code == 0 and "ok: 1 pass" in check.stdout, check.output
    graph = run(tmp_path, RECURRENCE, "graph")
    assert "for t in range(300) from h, a" in graph.stdout and "loop" in graph.stdout
    cost = run(tmp_path, RECURRENCE, "cost", "--set", "a=1.3")
    assert cost.exit_code == 0 and "loop" in cost.stdout
    lint = run(tmp_path, RECURRENCE, "lint")
    assert lint.exit_code == 0, lint.output
    trace = run(tmp_path, RECURRENCE, "trace", "--set", "a=1.3")  # a trace lists the steps: unrolled, folded
    assert trace.exit_code == 0 and "iterations folded" in trace.stdout
    points = [1.3, 0.2, -4.0, 0.0]
    (tmp_path / "in.json").write_text(json.dumps({"a": points}))
    batch = run(tmp_path, RECURRENCE, "grad", "--inputs", str(tmp_path / "in.json"), "--batch", "a", "--json")
    assert batch.exit_code == 0, batch.output
    out = json.loads(batch.stdout)
    for k, a in enumerate(points):  # the batched body, each point's bits as alone
        alone = adcli.parse(RECURRENCE).grad(a=a)
        assert out["value"][k] == alone.value and out["grad"]["a"][k] == alone.grad["a"]


def test_a_shape_error_in_a_long_loop_points_into_its_body(tmp_path):
    source = "input x: [100]\nh = zeros(3)\nfor t in range(100):\n    h = h + x[t] * ones(4)\ny = sum(h)\n"
    for command in ("lint", "grad"):
        done = run(tmp_path, source, command, *(["--set", f"x={[1.0] * 100}"] if command == "grad" else []))
        assert done.exit_code == 2 and "loop.ad:4:11" in done.output and "[3] and [4]" in done.output


def test_an_index_out_of_range_through_the_loop_variable_is_an_error(tmp_path):
    """Reading or writing m[t + 1] at the last step is refused, as numpy does, never a silent no-op."""
    for line in ("    h = h + x[t + 1]", "    m[t + 1] = x[t]"):
        source = f"input x: [100]\nh = 0.0\nm = zeros([100])\nfor t in range(100):\n{line}\ny = h + sum(m)\n"
        assert loops(adcli.parse(source)) == 1
        done = run(tmp_path, source, "grad", "--set", f"x={[1.0] * 100}")
        assert done.exit_code == 2 and "index 100 is out of range for axis 0 of size 100" in done.output, done.output


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("name", ["RECURRENCE", "SYSTEM"])
def test_exports_keep_the_loop_as_a_loop(name, target):
    source, values = VALUES[name]
    program = adcli.parse(source)
    expected = program.grad(**values)
    module = load_module(export_source(program, target=target, mode="forward"), f"loop_{name}_{target}")
    args = [values[n] for n in program.inputs]
    value, grads = module.grad_f(*args)
    assert float(value) == pytest.approx(expected.value, rel=1e-13)
    for k in expected.grad:
        np.testing.assert_allclose(np.asarray(grads[k]), expected.grad[k], rtol=1e-11, atol=1e-14)
    if target == "jax":  # under jit the body is traced once (lax.fori_loop and lax.scan)
        import jax
        value, grads = jax.jit(module.grad_f)(*args)
        assert float(value) == pytest.approx(expected.value, rel=1e-13)
        text = export_source(program, target=target)
        assert "lax.scan" in text and "fori_loop" in text


def test_a_trace_of_a_million_steps_lists_the_first_and_last(tmp_path):
    """A loop of 10,000 iterations or more: its first two and last two iterations unrolled in the
    trace, the ones between kept as one loop node, the gradient that of `grad`."""
    source = "input a\nh = 0.5\nfor t in range(1000000):\n    h = h + 0.001 * sin(a * h)\ny = h\n"
    done = run(tmp_path, source, "trace", "--set", "a=1.3", "--json")
    assert done.exit_code == 0, done.output
    trace = json.loads(done.stdout)
    assert trace["grad"]["a"] == adcli.parse(source).grad(a=1.3).grad["a"]
    text = json.dumps(trace["steps"], ensure_ascii=False)
    assert "for t in range(2, 999998) from" in text
    plain = run(tmp_path, source, "trace", "--set", "a=1.3", "--format", "plain").stdout
    for shown in ("[t = 0]", "[t = 1]", "[t = 999998]", "[t = 999999]"):
        assert shown in plain
    assert "[t = 2]" not in plain and "[t = 999997]" not in plain
    refused = run(tmp_path, source, "trace", "--set", "a=1.3", "--unroll")
    assert refused.exit_code == 2 and "1,000,000 times" in refused.output


def test_a_name_the_body_makes_is_read_later_only_in_its_own_scope():
    """A loop is kept unless its own scope reads a name the body makes after it: a function's
    temporary z is not the file's z; a function defined later that reads the file's z does read it."""
    inside = ("input a\ndef f(x):\n    for t in range(100):\n        z = x * 0.001\n        x = x + z\n    return x\n"
              "z = 3.0\ny = f(a) + z\n")
    kept = adcli.parse(inside)
    assert any(node.op == "loop" for node in kept.graph.nodes)
    value = kept.grad(a=2.0).value
    assert value == adcli.parse(inside, unroll=True).grad(a=2.0).value  # the same bits as unrolled
    assert value == pytest.approx(2.0 * 1.001 ** 100 + 3.0, rel=1e-14)
    later = ("input a\nx = a\nfor t in range(100):\n    z = x * 0.001\n    x = x + z\ndef g(v) = v + z\ny = g(x)\n")
    unrolled = adcli.parse(later)  # g reads the last iteration's z: the loop is unrolled to give it
    assert not any(node.op == "loop" for node in unrolled.graph.nodes)
    assert unrolled.grad(a=2.0).value == pytest.approx(2.0 * 1.001 ** 100 + 2.0 * 1.001 ** 99 * 0.001, rel=1e-15)
