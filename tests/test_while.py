"""`while cond, max_iter=K:`: the body run while its condition holds, differentiated through the
iterations that ran. Against closed forms (Newton's √a), against the same loop written as a `for` of
the count that ran (unrolled: the same bits), at its edges (no iteration, NaN, the bound), in every
command, with --batch (each point its own count) and in the exported modules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_loops import run  # the file written as loop.ad, and the command run on it

import adcli
from adcli.engine.forward import forward_grad
from adcli.engine.higher import derivatives
from adcli.engine.matrices import hessian
from adcli.export import export_source, load_module

NEWTON = """input a
r = 1.0
while abs(r * r - a) > 1e-15 * a, max_iter=100:
    r = r - (r * r - a) / (2 * r)
y = r
"""

# Several carried values (an array, a count begun as the integer 0, a running sum), a condition
# reading a value of the file (tol), and a closure of the body (W).
SYSTEM = """input x: [3]
input W: [3, 3]
input tol
v = x
n = 0
s = 0.0
while sum(v * v) > tol, max_iter=1000:
    v = 0.5 * tanh(W @ v) + 0.1 * sin(v)
    n = n + 1
    s = s + sum(v * x)
y = s + n + sum(v)
"""
SYSTEM_VALUES = {"x": np.array([1.0, 2.0, -3.0]), "W": np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.0, 0.7, 0.2]]),
                 "tol": np.array(1e-6)}


def as_for(source: str, count: int) -> str:
    """The same program with its while loop a `for` of `count` iterations (the count that ran)."""
    head = next(line for line in source.splitlines() if line.startswith("while"))
    return source.replace(head, f"for k_ in range({count}):")


def system_count(x, W, tol) -> int:
    v, n = x.astype(float), 0
    while np.sum(v * v) > tol:
        v, n = 0.5 * np.tanh(W @ v) + 0.1 * np.sin(v), n + 1
    return n


def test_newton_gives_the_square_root_and_its_derivatives():
    program = adcli.parse(NEWTON)
    for a in (2.0, 1e-8, 1e8, 0.25):
        result = program.grad(a=a)
        assert result.value == pytest.approx(math.sqrt(a), rel=1e-15)
        assert result.grad["a"] == pytest.approx(0.5 / math.sqrt(a), rel=1e-12)
        assert forward_grad(program, a=a).grad["a"] == pytest.approx(0.5 / math.sqrt(a), rel=1e-12)
        assert float(hessian(program, a=a).blocks[("a", "a")]) == pytest.approx(-0.25 * a ** -1.5, rel=1e-9)
        orders = derivatives(program, "a", 3, a=a).derivatives
        assert orders[2] == pytest.approx(0.375 * a ** -2.5, rel=1e-8)


def test_the_loop_is_the_for_loop_of_the_count_that_ran():
    """Value: the same bits as the unrolled `for` of that count; derivatives: to rounding (the kept
    loop sums a parameter's shares step by step)."""
    count = system_count(SYSTEM_VALUES["x"], SYSTEM_VALUES["W"], float(SYSTEM_VALUES["tol"]))
    assert 5 < count < 100
    kept, unrolled = adcli.parse(SYSTEM), adcli.parse(as_for(SYSTEM, count), unroll=True)
    assert [n.op for n in kept.graph.nodes].count("while") == 1
    want = unrolled.grad(**SYSTEM_VALUES)
    got = kept.grad(**SYSTEM_VALUES)
    assert got.value == want.value
    for name in ("x", "W"):
        np.testing.assert_allclose(got.grad[name], want.grad[name], rtol=1e-13, atol=1e-15)
    assert got.grad["tol"] == 0.0  # the condition has no derivative
    forward = forward_grad(kept, **SYSTEM_VALUES)
    np.testing.assert_allclose(forward.grad["x"], want.grad["x"], rtol=1e-13, atol=1e-15)
    h_kept = hessian(kept, wrt=["x"], **SYSTEM_VALUES).blocks[("x", "x")]
    h_unrolled = hessian(unrolled, wrt=["x"], **SYSTEM_VALUES).blocks[("x", "x")]
    np.testing.assert_allclose(h_kept, h_unrolled, rtol=1e-11, atol=1e-13)


def test_no_iteration_nan_and_the_bound():
    program = adcli.parse("input x\nh = x\nwhile h > 1, max_iter=50:\n    h = h * 0.5\ny = 3 * h\n")
    zero = program.grad(x=0.75)  # the condition fails at once: h is x
    assert zero.value == 2.25 and zero.grad["x"] == 3.0
    ten = program.grad(x=1000.0)  # 1000 / 2**10 < 1: ten steps
    assert ten.value == 3 * 1000.0 / 1024 and ten.grad["x"] == 3.0 / 1024
    nan = program.grad(x=float("nan"))  # NaN > 1 is false: the loop ends, the NaN is the value
    assert math.isnan(nan.value)
    with pytest.raises(adcli.AdError, match="still holds after max_iter=50"):
        program.grad(x=1e300)  # 2**50 halvings are not enough


def test_checkpointing_keeps_the_bits():
    plain = adcli.parse(SYSTEM).grad(**SYSTEM_VALUES)
    saved = adcli.parse(SYSTEM).checkpointed("sqrt").grad(**SYSTEM_VALUES)
    for name in plain.grad:
        np.testing.assert_array_equal(saved.grad[name], plain.grad[name])


def test_checkpointing_thins_what_a_while_loop_keeps():
    """Checkpointed, a while loop keeps its carried value before every ⌈√N⌉-th of the N steps that
    ran (the others recomputed a stretch at a time): the same bits in a fraction of the memory."""
    import tracemalloc
    source = ("input a: [200]\nr = a * 0 + 1.0\nwhile max(abs(r - 0.5 * cos(r) * a)) > 0, max_iter=3000, "
              "on_max_iter=\"warn\":\n    r = 0.5 * cos(r) * a + 1e-9 * sin(r)\ny = sum(r * r)\n")
    program, a = adcli.parse(source), np.linspace(0.1, 1.5, 200)
    peaks = []
    for work in (lambda: program.grad(a=a), lambda: program.checkpointed("sqrt").grad(a=a)):
        tracemalloc.start()
        result = work()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        np.testing.assert_array_equal(result.grad["a"], program.grad(a=a).grad["a"])
    assert peaks[1] < peaks[0] / 5, peaks  # 3,000 carried vectors kept, against about 2·55


def test_inside_a_function_inside_a_loop():
    source = ("input a: [2]\ndef isqrt(v):\n    r = 1.0 + 0.0 * v\n    while max(abs(r * r - v)) > 1e-12, max_iter=60:\n"
              "        r = 0.5 * (r + v / r)\n    return r\ns = 0.0\nfor t in range(3):\n    s = s + sum(isqrt(a * (t + 1)))\n"
              "y = s\n")
    a = np.array([2.0, 5.0])
    want = sum(math.sqrt(v * (t + 1)) for t in range(3) for v in a)
    grad = [sum(0.5 * (t + 1) / math.sqrt(v * (t + 1)) for t in range(3)) for v in a]
    result = adcli.parse(source).grad(a=a)
    assert result.value == pytest.approx(want, rel=1e-14)
    np.testing.assert_allclose(result.grad["a"], grad, rtol=1e-12)


def test_commands(tmp_path):
    grad = run(tmp_path, NEWTON, "grad", "--set", "a=2", "--json")
    assert grad.exit_code == 0, grad.output
    assert json.loads(grad.stdout)["grad"]["a"] == adcli.parse(NEWTON).grad(a=2.0).grad["a"]
    check = run(tmp_path, NEWTON, "check", "--set", "a=2")
    assert check.exit_code == 0 and "ok: 1 pass" in check.stdout, check.output
    graph = run(tmp_path, NEWTON, "graph")
    assert "while abs(r * r - a) > 1e-15 * a, max_iter=100 from r, a" in graph.stdout, graph.output
    cost = run(tmp_path, NEWTON, "cost", "--set", "a=2")
    assert cost.exit_code == 0 and "while" in cost.stdout, cost.output
    assert run(tmp_path, NEWTON, "lint").exit_code == 0
    trace = run(tmp_path, NEWTON, "trace", "--set", "a=2")  # one step: the count is known only as it runs
    assert trace.exit_code == 0 and "over the steps that ran" in trace.stdout, trace.output
    page = run(tmp_path, NEWTON, "trace", "--set", "a=2", "--format", "html")
    assert page.exit_code == 0 and "<html" in page.stdout
    points = [2.0, 9.0, 0.25, 1e6]  # each point runs its own count
    (tmp_path / "in.json").write_text(json.dumps({"a": points}))
    batch = run(tmp_path, NEWTON, "grad", "--inputs", str(tmp_path / "in.json"), "--batch", "a", "--json")
    assert batch.exit_code == 0, batch.output
    out = json.loads(batch.stdout)
    for k, a in enumerate(points):
        alone = adcli.parse(NEWTON).grad(a=a)
        assert out["value"][k] == alone.value and out["grad"]["a"][k] == alone.grad["a"]


@pytest.mark.parametrize("source, where, words", [
    ("input a\nr = 1.0\nwhile r > 0:\n    r = r - a\ny = r\n", ":3:1", "needs its bound"),
    ("input a\nr = 1.0\nwhile r > 0, limit=5:\n    r = r - a\ny = r\n", ":3:14", "max_iter=N"),
    ("input a\nr = 1.0\nwhile r > 0, max_iter=a:\n    r = r - a\ny = r\n", ":3:23", "known as the file is read"),
    ("input a\nr = 1.0\nwhile r > 0, max_iter=0:\n    r = r - a\ny = r\n", ":3:23", "from 1"),
    ("input a\nr = 1.0\nwhile r > 0, max_iter=9:\n    z = r - a\n    r = z\ny = r + z\n", ":3:1", "'z' is first"),
    # a function defined after the loop reads the file's z when it is called: z is read after the loop
    ("input a\nr = 1.0\nwhile r > 0, max_iter=9:\n    z = r - a\n    r = z\ndef g(v) = v + z\ny = g(r)\n", ":3:1",
     "'z' is first"),
    ("input a: [2]\nr = a\nwhile r > 0, max_iter=9:\n    r = r - 1\ny = sum(r)\n", ":3:1", "one value"),
    ("input a\nr = 1.0\nwhile r > 0, max_iter=9:\n    r = r - a * ones(2)\ny = r\n", ":3:1", "one shape"),
    ("input a\nr = 1.0\nwhile r < 10, max_iter=9:\n    r = r + a\ny = r\n", ":3:1", "still holds after max_iter=9"),
    ("input a\nr = 1.0\nwhile r < 10, max_iter=9, on_max_iter=\"error\":\n    r = r + a\ny = r\n", ":3:1",
     'on_max_iter="warn"'),
    ("input a\nr = 1.0\nwhile r < 10, max_iter=9, on_max_iter=\"quiet\":\n    r = r + a\ny = r\n", ":3:39",
     'on_max_iter is "error"'),
    ("input a\nr = 1.0\nwhile r < 10, max_iter=9, on_max_iter=a:\n    r = r + a\ny = r\n", ":3:39",
     'on_max_iter is "error"'),
    ("input a\nr = 1.0\nwhile r < 10, max_iter=9, tol=1:\n    r = r + a\ny = r\n", ":3:27", "on_max_iter="),
])
def test_errors_are_one_message_at_their_place(tmp_path, source, where, words):
    done = run(tmp_path, source, "grad", "--set", "a=0.5")
    assert done.exit_code == 2 and f"loop.ad{where}" in done.output and words in done.output, done.output
    assert "Traceback" not in done.output


def arguments(program, values: dict, target: str) -> list:
    """The inputs in the exported module's order, as the target's arrays."""
    args = [values[n] for n in program.inputs]
    if target == "torch":
        torch = pytest.importorskip("torch")
        args = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in args]
    return args


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_exports(target):
    program = adcli.parse(SYSTEM)
    expected = program.grad(**SYSTEM_VALUES)
    module = load_module(export_source(program, target=target, mode="forward"), f"while_{target}")
    args = arguments(program, SYSTEM_VALUES, target)
    value, grads = module.grad_f(*args)
    assert float(value) == pytest.approx(expected.value, rel=1e-13)
    for k in ("x", "W"):
        np.testing.assert_allclose(np.asarray(grads[k]), expected.grad[k], rtol=1e-11, atol=1e-14)
    if target == "jax":  # under jit and grad: a lax.fori_loop over max_iter whose finished steps keep the value
        import jax
        value, grads = jax.jit(module.grad_f)(*args)
        np.testing.assert_allclose(np.asarray(grads["x"]), expected.grad["x"], rtol=1e-11, atol=1e-14)
        by_jax = jax.grad(module.f)(*args)
        np.testing.assert_allclose(np.asarray(by_jax), expected.grad["x"], rtol=1e-11, atol=1e-14)


def test_a_name_made_in_the_body_of_a_function_is_its_own():
    """A name the body makes is refused only when its own scope reads it after the loop: a
    function's temporary z is not the file's z, and a z assigned again after the loop is a new one."""
    inside = ("def f(v):\n    r = v\n    while r > 1, max_iter=100:\n        z = r * 0.5\n        r = z\n    return r\n"
              "z = 3.0\ninput a\ny = f(a) + z\n")
    assert adcli.parse(inside).grad(a=10.0).value == 10.0 / 16 + 3.0
    again = "input a\nr = a\nwhile r > 1, max_iter=100:\n    z = r * 0.5\n    r = z\nz = 2.0\ny = r + z\n"
    assert adcli.parse(again).grad(a=10.0).value == 10.0 / 16 + 2.0


WARNED = """input a
input x: [2]
v = x
while sum(v * v) > 1e-30, max_iter=7, on_max_iter="warn":
    v = 0.5 * sin(a * v) + 0.1 * v
y = sum(v * x)
"""


def test_on_max_iter_warn_gives_the_value_after_max_iter_steps(tmp_path):
    """Past its bound, the loop is the `for` loop of max_iter steps: its value, gradients, tangents
    and Hessian; the commands say so in a warning at the loop's line, and exit 0."""
    values = {"a": np.array(1.7), "x": np.array([0.8, -2.5])}
    warned = adcli.parse(WARNED)
    seven = adcli.parse(as_for(WARNED, 7))
    got, want = warned.grad(**values), seven.grad(**values)
    assert got.value == want.value
    for name in ("a", "x"):
        np.testing.assert_array_equal(got.grad[name], want.grad[name])
        np.testing.assert_allclose(forward_grad(warned, **values).grad[name], want.grad[name], rtol=1e-13)
    blocks, unrolled = hessian(warned, **values).blocks, hessian(seven, **values).blocks
    for pair, block in unrolled.items():
        np.testing.assert_allclose(blocks[pair], block, rtol=1e-11, atol=1e-14)
    for command in ("grad", "eval", "trace"):
        done = run(tmp_path, WARNED, command, "--set", "a=1.7", "x=[0.8,-2.5]")
        assert done.exit_code == 0, done.output
        assert 'loop.ad:4:1 stopped at max_iter=7 with its condition still holding (on_max_iter="warn")' in \
            done.stderr, (command, done.output)
    ended = run(tmp_path, WARNED.replace("max_iter=7", "max_iter=5000"), "grad", "--set", "a=1.7", "x=[0.8,-2.5]")
    assert ended.exit_code == 0 and "warning" not in ended.stderr, ended.output  # it ended before its bound


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_on_max_iter_warn_in_the_exports(target):
    """Every module gives the value after max_iter steps: JAX's too, where an error's NaN was."""
    values = {"a": np.array(1.7), "x": np.array([0.8, -2.5])}
    program = adcli.parse(WARNED)
    want = program.grad(**values)
    module = load_module(export_source(program, target=target), f"warned_{target}")
    value, grads = module.grad_f(*arguments(program, values, target))
    assert float(value) == pytest.approx(want.value, rel=1e-14)
    np.testing.assert_allclose(np.asarray(grads["x"]), want.grad["x"], rtol=1e-12)
