"""What iterative programs need: integer expressions known as the file is read, updates of a part as
values (x[i] = v, x.at[i].set(v)), Python's scopes, and the named constants; each checked against
numpy on real values, through every command, and with the bad inputs around them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import adcli
from adcli.engine.forward import forward_grad

X5 = np.array([0.5, -1.25, 2.0, 0.0, -3.0])


def run(source: str, **given):
    return adcli.parse(source, "it.ad").grad(**given)


def numeric_grad(f, x, eps=1e-6):
    """Central differences, the check against which a linear rule must agree to rounding."""
    out = np.zeros_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e.flat[k] = eps
        out.flat[k] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


# ---------------------------------------------------------------------------------------------
# Integer expressions known as the file is read
# ---------------------------------------------------------------------------------------------

def test_the_issues_refused_integer_expressions_now_index_and_bound():
    source = """input x: [5]
N = 4
s = 0
for i in range(N - 1):
    s = s + x[i] * x[i + 1]
for i in range(N - 1, -1, -1):
    s = s + x[N - 1 - i] * (i + 1)
for k in range(N, 2 * N):
    s = s + x[k % 5]
for k in range(2 * 2):
    s = s + x[k // 2]
y = s + sum(arange(N + 1) * x)
"""
    def reference(x):
        s = sum(x[i] * x[i + 1] for i in range(3))
        s += sum(x[3 - i] * (i + 1) for i in range(3, -1, -1))
        s += sum(x[k % 5] for k in range(4, 8)) + sum(x[k // 2] for k in range(4))
        return s + (np.arange(5) * x).sum()
    result = run(source, x=X5)
    assert result.value == pytest.approx(reference(X5), rel=1e-15)
    np.testing.assert_allclose(result.grad["x"], numeric_grad(reference, X5), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(("expression", "expected"), [
    ("N - 1", 5), ("N // 4", 1), ("N % 4", 2), ("-N % 4", 2), ("N ** 2 - 30", 6), ("2 ** 2", 4),
    ("min(N, 3)", 3), ("max(N - 7, 0)", 0), ("abs(2 - N)", 4), ("int(N / 4)", 1), ("int(-N / 4)", -1),
    ("len(x) - 1", 6), ("x.shape[0] // 2", 3), ("max(1, min(N, 9) // 2)", 3), ("(N + 1) * (N - 1) // 7", 5),
])
def test_integer_arithmetic_is_python_s(expression, expected):
    """Each expression indexes x: the index must be the whole number Python computes."""
    source = f"input x: [7]\nN = 6\ny = x[{expression}]\n"
    x = np.arange(7.0) * 1.5 - 2.0
    assert run(source, x=x).value == x[expected]


def test_integers_are_exact_beyond_float_and_refused_beyond_64_bits():
    got = adcli.parse("big = 2 ** 62 + (2 ** 62 - 1)\nsmall = big - (2 ** 62 - 1) * 2\ny = small * 1.5\n",
                      "big.ad").eval()
    assert got["y"] == 1.5  # 2**63 - 1 - (2**63 - 2): exact, where float64 would give 0 or 2
    for source, at in (("N = 2 ** 62\ny = N * 2\n", "2:7"), ("y = 3 ** 41\n", "1:7"), ("y = -2 ** 64\n", "1:8")):
        with pytest.raises(adcli.AdError) as caught:
            adcli.parse(source, "big.ad").eval()
        assert "64-bit integers" in str(caught.value) and f"big.ad:{at}:" in str(caught.value), str(caught.value)


def test_a_constant_integer_sizes_constructors_reshapes_and_one_hot():
    source = """input x: [6]
input y: int[2]
N = 3
M = 2 * N
z = zeros([N - 1, N]) + reshape(x, [N - 1, M // (N - 1)])
o = one_hot(y, N + 1)
t = sum(z) + sum(o @ arange(N + 1)) + x[M - 1]
"""
    x, y = np.linspace(-1, 1, 6), np.array([0, 3])
    result = adcli.parse(source, "c.ad").grad(of="t", x=x, y=y)
    assert result.value == pytest.approx(x.sum() + 3 + x[5], rel=1e-15)
    np.testing.assert_array_equal(result.grad["x"], [1, 1, 1, 1, 1, 2])


def test_a_float_stays_a_float_beside_values():
    """N = 4 is an integer for bounds, but beside a value it is numpy's number: x / N divides."""
    got = adcli.parse("input x: [2]\nN = 4\na = x / N\nb = N / 8\nc = x ** N\n", "f.ad").eval(
        x=np.array([1.0, -3.0]))
    np.testing.assert_array_equal(got["a"], [0.25, -0.75])
    assert got["b"] == 0.5
    np.testing.assert_array_equal(got["c"], [1.0, 81.0])


def test_negative_steps_and_sized_bounds_with_named_dimensions(tmp_path):
    source = "input x: [n]\ns = 0.0\nfor i in range(n - 1, 0, -2):\n    s = s + x[i] * x[i - 1]\ny = s\n"
    x = np.array([1.0, 2.0, -3.0, 4.0, 5.0])
    result = run(source, x=x)
    assert result.value == x[4] * x[3] + x[2] * x[1]
    np.testing.assert_array_equal(result.grad["x"], [0, x[2], x[1], x[4], x[3]])


# ---------------------------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------------------------

def test_a_function_s_loop_variable_is_its_own():
    source = """input x: [4]
def total(v):
    s = 0.0
    for i in range(3):
        s = s + v[i + 1]
    t = s
    return t
acc = 0.0
for i in range(2):
    acc = acc + total(x) * x[i]
for t in range(2):
    acc = acc + total(x * t)
y = acc + i + t
"""
    x = np.array([1.0, 2.0, -0.5, 4.0])
    inner = x[1:].sum()
    result = run(source, x=x)
    assert result.value == inner * (x[0] + x[1]) + 0.0 + inner + 1 + 1
    expected = np.array([inner, inner, 0, 0]) + (x[0] + x[1]) * np.array([0, 1, 1, 1]) + np.array([0, 1, 1, 1])
    np.testing.assert_allclose(result.grad["x"], expected, rtol=1e-15)


def test_a_loop_variable_keeps_its_last_value_and_may_be_reused():
    source = "input x: [5]\nfor i in range(3):\n    z = x[i]\nfor i in range(i, 5):\n    z = z + x[i]\ny = z + i\n"
    result = run(source, x=X5)
    assert result.value == X5[2] + X5[2:].sum() + 4


@pytest.mark.parametrize("source", [
    "input e\ny = e * 2.0\n",                                     # an input
    "input x\ne = x + 1.0\ny = e * 2.0\n",                        # a value
    "input x\ndef f(e) = e * 2.0\ny = f(x + 1.0)\n",             # a parameter
    "input x\ndef pi(e) = e * 2.0\ny = pi(x + 1.0)\n",           # a function
])
def test_a_name_the_file_binds_shadows_the_constant_everywhere(source):
    name = "e" if source.startswith("input e") else "x"
    value = 3.0 if name == "x" else 4.0
    result = run(source, **{name: value})
    assert result.value == 8.0
    assert result.grad[name] == 2.0


def test_the_constants_and_what_an_input_named_like_one_does(tmp_path):
    got = adcli.parse("y = [pi, e, inf, nan]\n", "k.ad").eval()
    np.testing.assert_array_equal(got["y"][:3], [np.pi, np.e, np.inf])
    assert np.isnan(got["y"][3])
    path = tmp_path / "k.ad"
    path.write_text("input x\ny = x * e\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "adcli", "grad", str(path), "--set", "x=1", "e=0.3"],
                          capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode != 0 and "'e' is the constant 2.718281828459045" in done.stderr
    assert "input e" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------------
# Updates as values
# ---------------------------------------------------------------------------------------------

UPDATES = """input x: [5]
z = x * 1.0
z[0] = 3.0 * x[1]
z[1:3] += x[0:2]
z[-1] *= z[0]
z[::2] -= 0.5
w = zeros([2, 3])
w[1, :] = x[:3]
w[:, 2] += x[3:5]
w[0] = x[4]
y = sum(z * z) + sum(w * w * w)
"""


def updates_reference(x):
    z = x.copy()
    z[0] = 3.0 * x[1]
    z[1:3] += x[0:2]
    z[-1] *= z[0]
    z[::2] -= 0.5
    w = np.zeros((2, 3))
    w[1, :] = x[:3]
    w[:, 2] += x[3:5]
    w[0] = x[4]
    with np.errstate(over="ignore"):  # 1e200 squared is inf, in adcli as in numpy
        return (z * z).sum() + (w * w * w).sum()


@pytest.mark.parametrize("x", [X5, np.zeros(5), np.array([1e200, -1e-300, 3.0, -0.0, 7.5])])
def test_updates_give_numpy_s_values_and_the_chain_rule_s_gradients(x):
    result = run(UPDATES, x=x)
    assert result.value == updates_reference(x)
    if np.all(np.abs(x) < 1e10):
        np.testing.assert_allclose(result.grad["x"], numeric_grad(updates_reference, x), rtol=1e-7, atol=1e-7)
    forward = forward_grad(adcli.parse(UPDATES, "u.ad"), x=x)
    assert forward.value == result.value
    np.testing.assert_allclose(forward.grad["x"], result.grad["x"], rtol=1e-15)


def test_an_overwritten_part_passes_no_gradient_but_its_earlier_reads_do():
    source = "input x: [3]\nz = x * 2.0\na = z[0] * z[0]\nz[0] = 5.0\ny = a + sum(z)\n"
    result = run(source, x=np.array([1.5, -2.0, 4.0]))
    assert result.value == 9.0 + 5.0 - 4.0 + 8.0
    np.testing.assert_array_equal(result.grad["x"], [2 * 2 * 3.0, 2.0, 2.0])


def test_jax_s_spelling_is_the_same_update():
    plain = "input x: [4]\nz = x * 1.0\nz[1] = x[0]\nz[2:] += x[:2]\nz[0] *= 3.0\nz[3] = max(z[3], 0.5)\ny = sum(z * z)\n"
    jax_style = ("input x: [4]\nz = x.at[1].set(x[0])\nz = z.at[2:].add(x[:2])\nz = z.at[0].multiply(3.0)\n"
                 "z = z.at[3].max(0.5)\ny = sum(z * z) + 0.0 * z.at[1].get()\n")
    for x in (np.array([0.5, -1.0, 2.0, -3.0]), np.array([1.0, 2.0, -2.5, 0.25])):
        a, b = run(plain, x=x), run(jax_style, x=x)
        assert a.value == b.value
        np.testing.assert_array_equal(a.grad["x"], b.grad["x"])


def test_an_update_broadcasts_its_value_and_keeps_integers_integers():
    source = "input A: [2, 3]\nB = A * 1.0\nB[:, 1:] = A[0, 0]\nC = B[..., None] * 1.0\nC[..., 0] += 1.0\ny = sum(C)\n"
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    result = run(source, A=A)
    assert result.value == 1 + 4 + 4 * 1.0 + 6 + 1 * 0  # 1, 4 kept; four copies of A[0,0]; +1 each
    np.testing.assert_array_equal(result.grad["A"], [[5, 0, 0], [1, 0, 0]])
    got = adcli.parse("input k: int[4]\nj = k * 1\nj[0] = 7\nj[1:3] = [8, 9]\nj[3] += 1\ny = j\n",
                      "i.ad").eval(k=np.array([1, 2, 3, 4]))
    assert got["y"].dtype.kind == "i" and got["y"].tolist() == [7, 8, 9, 5]


def test_the_in_place_fast_path_changes_no_bit(monkeypatch):
    """A chain of updates writes into the old array when nothing else holds it; a view kept alive
    (a = u[1:3]) must stop that, and the numbers are the copies' to the bit either way."""
    source = ("input x: [6]\nu = x * 1.0\nfor i in range(1, 5):\n    u[i] = u[i - 1] * 0.5 + u[i + 1]\n"
              "a = u[1:3].copy()\nu[1] = 5.0\nu[2] += a[0]\ny = sum(a * a) + sum(u * u)\n")
    x = np.array([0.3, -1.0, 2.0, 0.5, -0.25, 4.0])
    fast = run(source, x=x)
    from adcli.engine import evaluate
    monkeypatch.setattr(evaluate, "updatable", lambda *args, **kw: False)
    slow = run(source, x=x)
    assert fast.value == slow.value
    np.testing.assert_array_equal(fast.grad["x"], slow.grad["x"])
    u = x.copy()
    for i in range(1, 5):
        u[i] = u[i - 1] * 0.5 + u[i + 1]
    a = u[1:3].copy()
    u[1] = 5.0
    u[2] += a[0]
    assert fast.value == (a * a).sum() + (u * u).sum()


# ---------------------------------------------------------------------------------------------
# Every command
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["grad"], ["grad", "--mode", "forward"], ["trace"], ["trace", "--mode", "forward", "--wrt", "x"], ["check"],
    ["graph"], ["cost"], ["jvp", "--tangent", "x=[1,0,0,0,0]"], ["hessian"], ["grad", "--checkpoint", "sqrt"],
    ["lint"], ["export", "--to", "numpy"], ["export", "--to", "jax"], ["export", "--to", "torch"],
])
def test_every_command_takes_updates(command, tmp_path):
    path = tmp_path / "u.ad"
    path.write_text(UPDATES, encoding="utf-8")
    args = [sys.executable, "-m", "adcli", command[0], str(path), *command[1:]]
    if command[0] not in ("lint", "graph", "cost", "export"):
        args += ["--set", "x=[0.5,-1.25,2.0,0.0,-3.0]"]
    done = subprocess.run(args, capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0, done.stderr
    if command[0] == "trace":
        assert "z[0] ← " in done.stdout and "w′[:, 2] ← " in done.stdout.replace("w'", "w′")
    if command[0] == "export":
        assert "set_at(" in done.stdout


def test_batch_and_exports_agree_with_the_engine(tmp_path):
    from adcli.export import export_source, load_module
    program = adcli.parse(UPDATES, "u.ad")
    points = np.array([X5, -X5, np.zeros(5)])
    path, data = tmp_path / "u.ad", tmp_path / "points.json"
    path.write_text(UPDATES, encoding="utf-8")
    data.write_text(json.dumps({"x": points.tolist()}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "adcli", "grad", str(path), "--json", "--inputs", str(data),
                           "--batch", "x"], capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0, done.stderr
    batch = json.loads(done.stdout)
    for k, x in enumerate(points):
        one = program.grad(x=x)
        assert batch["value"][k] == one.value
        np.testing.assert_array_equal(batch["grad"]["x"][k], one.grad["x"])
        for target in ("numpy", "jax", "torch"):
            module = load_module(export_source(program, target=target), f"updates_{target}_{k}")
            value, grads = module.grad_f(x)
            np.testing.assert_allclose(float(value), one.value, rtol=1e-15)
            np.testing.assert_allclose(np.asarray(grads["x"]), one.grad["x"], rtol=1e-14, atol=1e-300)


# ---------------------------------------------------------------------------------------------
# Bad inputs around them
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "message", "at"), [
    ("input x: [4]\nN = 4\ny = x[N]\n", "index 4 is out of range for axis 0 of size 4", "3:7"),
    ("input x: [4]\nN = 4\ny = x[N - 1 - 8]\n", "index -5 is out of range for axis 0 of size 4", "3:13"),
    ("input x: [4]\nfor i in range(sum(x)):\n    y = x[0]\n", "depends on the inputs' values", "2:16"),
    ("input x: [4]\nN = 0\nfor i in range(4 // N):\n    y = x[0]\n", "'//' by zero", "3:18"),
    ("input x: [4]\ny = x[2 % (1 - 1)]\n", "'%' by zero", "2:9"),
    ("input x: [4]\nz[0] = x[1]\n", "'z[…] = v' updates an array, but 'z' has no value yet", "2:1"),
    ("input x: [4]\nfor i in range(2):\n    i[0] = 1.0\n", "'i' is a loop variable", "3:5"),
    ("input x: [4]\ny = x * 1.0\ny[0:2] = x\n", "a value of shape [4] cannot be placed into [2]", "3:2"),
    ("input x: [4]\ninput k: int[4]\ny = x * 1.0\ny[k] = 1.0\ny = y\n", "not an array of indices", "4:3"),
    ("input k: int[4]\nj = k * 1\nj[0] = 0.5\n", "holds integers", "3:8"),
    ("input x: [4]\ny = x * 1.0\ny[5] = 1.0\n", "index 5 is out of range", "3:3"),
    ("input x: [4]\ny = x.at[0]\n", "finish it with .set(v)", "2:9"),
    ("input x: [4]\ny = x.at[0].put(1.0)\n", "has no method .put()", "2:13"),
    ("input x: [4]\nfor i in range(2):\n    i = 3\n", "cannot assign to the loop variable 'i' inside its loop", "3:5"),
    ("input x: [4]\nfor i in range(2):\n    for i in range(3):\n        y = x[i]\n", "already the variable of a loop",
     "3:9"),
    ("y = int(x)\n", "int() takes one number known as the file is read", "1:5"),
])
def test_bad_inputs_are_positioned_messages(source, message, at):
    with pytest.raises(adcli.AdError) as caught:
        program = adcli.parse(source, "bad.ad")
        program.eval(**{name: np.arange(4.0) if name == "x" else np.arange(4) for name in program.inputs})
    text = str(caught.value)
    assert message in text, text
    if at:
        assert f"bad.ad:{at}:" in text, text


def test_lint_reports_each_statement_s_error_once_whatever_the_statement():
    """Updates, `a, b = ...` and `h += ...` are statements of their own: an error in one is reported,
    and the next is linted as itself (a statement boundary missed would swallow it)."""
    from adcli.language.lint import lint_source
    source = ("input x: [4]\nz[0] = x[1]\ny = x * 1.0\ny[0:2] = x\nw = x.at[0]\n"
              "a, b = x[0], q(1)\nh = x\nh += zz(1)\nc = a + h + w + b\n")
    found = [(e.span.line, e.span.col, e.message.split(":")[0][:30]) for e in lint_source(source, "l.ad")]
    assert [(line, col) for line, col, _ in found] == [(2, 1), (4, 2), (5, 9), (6, 14), (8, 6)], found


def test_dual_numbers_take_updates_as_numpy_arrays_do():
    """x[i] = v on a dual number (or a Taylor series) is the registry's update: first and second
    derivatives of a Python function that writes into an array, against their closed forms."""
    def f(t):
        a = np.exp(t) * np.ones(3)
        a[1] = t * t
        a[2:] *= t
        return np.sum(a * a)

    t = 0.5
    first = 2 * np.exp(2 * t) + 4 * t ** 3 + 2 * np.exp(2 * t) * (t * t + t)
    second = 4 * np.exp(2 * t) + 12 * t * t + np.exp(2 * t) * (4 * t * t + 8 * t + 2)
    d1, d2 = adcli.derivatives(f, t, 2)
    assert d1 == pytest.approx(first, rel=1e-15)
    assert d2 == pytest.approx(second, rel=1e-14)


@pytest.mark.parametrize(("source", "stale", "at"), [
    ("u = x * 1.0\nold = u\nu[0] = 7.0\ny = sum(old)\n", "'old' and 'u' hold one array in numpy", "4:9"),
    ("u = x * 1.0\na = u[1:3]\nu[1] = 5.0\ny = sum(a)\n", "'a' and 'u'", "4:9"),
    ("A = reshape(x, [2, 2])\nr = A.T\nA[0, 1] = 5.0\ny = sum(r)\n", "'r' and 'A'", "4:9"),
    ("u = x * 1.0\nrow = u[:2]\nrow[0] = 5.0\ny = sum(u)\n", "'u' and 'row'", "4:9"),
    ("new = x\nfor i in range(1, 3):\n    new[i] = x[i - 1] + x[i + 1]\ny = sum(new)\n", "'x' and 'new'", "3:14"),
    ("def f(v):\n    v[0] = 0.0\n    return sum(v)\ny = f(x) + x[0]\n", "'x' and 'v'", "4:12"),
    ("u = x * 1.0\na, b = u, u\na[0] = 5.0\ny = sum(b)\n", "'b' and 'a'", "4:9"),
    ("u = x * 1.0\nf = u.ravel()\nf[0] = 5.0\ny = sum(u)\n", "'u' and 'f'", "4:9"),
    ("u = x * 1.0\ndef f(a):\n    u[0] = a\n    return sum(u)\ny = f(x[1]) + sum(u)\n", "'u' and 'u'", "5:19"),
])
def test_a_name_numpy_would_have_changed_through_another_is_refused(source, stale, at):
    """numpy's names share arrays (b = a, views, parameters) and an update through one changes the
    others; adcli's updates change no other name (JAX's meaning). Reading such a name afterwards
    would silently give JAX's answer to a numpy program: it is refused at the read."""
    with pytest.raises(adcli.AdError) as caught:
        adcli.parse("input x: [4]\n" + source, "alias.ad").eval(x=np.arange(4.0))
    text = str(caught.value)
    assert stale in text and f"alias.ad:{int(at.split(':')[0]) + 1}:{at.split(':')[1]}:" in text, text


@pytest.mark.parametrize("source", [
    "u = x * 1.0\nold = u.copy()\nu[0] = 7.0\ny = sum(old) + sum(u)\n",
    "u = x * 1.0\na = np.array(u[1:3])\nu[1] = 5.0\ny = sum(a) + sum(u)\n",
    "u = x * 1.0\nold = u\nu[0] = 7.0\ny = sum(u)\n",                      # old never read again
    "u = x * 1.0\nold = u\nu = u * 2.0\nu[0] = 7.0\ny = sum(old) + sum(u)\n",  # u rebound first
    "def f(v):\n    v[0] = 0.0\n    return sum(v)\ny = f(x.copy()) + x[0]\n",
    "u = x * 1.0\nf = u.flatten()\nf[0] = 5.0\ny = sum(u) + sum(f)\n",  # flatten copies; ravel is a view
])
def test_copies_and_rebound_names_share_nothing(source):
    got = adcli.parse("input x: [4]\n" + source, "fine.ad").eval(x=np.arange(4.0))
    assert np.isfinite(got["y"])


def test_element_reads_add_into_the_accumulator_in_place_with_the_rule_s_numbers():
    """x[i] read from an accumulator the sweep owns adds ḡ into that element (O(1), not a zeros
    array of x's shape and a sum): the numbers are the full rule's, which a trace's sweep uses."""
    from adcli.engine.evaluate import bind_inputs, evaluate
    from adcli.engine.reverse import backward
    source = ("input u0: [7]\ninput k\nu = u0 * 1.0\nfor t in range(3):\n    new = u * 1.0\n"
              "    for i in range(1, 6):\n        new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1]) * u[i, ...]\n"
              "    u = new\ny = sum(u * u) + sum(u[2:5]) * u[0]\n")
    program = adcli.parse(source, "heat.ad")
    graph = program.graph
    given = {"u0": np.array([0.5, -1.0, 2.0, 0.0, -0.0, 3.0, 1e-300]), "k": 0.3}
    _, out = program.output_node(None)
    values = evaluate(graph, bind_inputs(graph, given), out)
    wrt = program.wrt_nodes(None)
    fast = backward(graph, list(values), out, wrt)
    ruled = backward(graph, list(values), out, wrt, on_update=lambda *args: None)
    for w in wrt:
        assert np.array_equal(fast[w], ruled[w]), graph.nodes[w].label
    assert np.array_equal(program.grad(**given).grad["u0"], ruled[wrt[0]])


def test_the_trace_page_shows_an_update_as_a_step(tmp_path):
    """The HTML trace of an update program: the update's formula and its reverse steps are on the page."""
    path, page = tmp_path / "u.ad", tmp_path / "page.html"
    path.write_text(UPDATES, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "adcli", "trace", str(path), "--set", "x=[0.5,-1.25,2.0,0.0,-3.0]",
                           "-o", str(page)], capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert "z[0] ← " in html and "ḡ with 0 at the updated part" in html
