"""Iterative programs with element updates, read-time integers and scopes, against hand-written JAX (float64)."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
import adcli.engine.evaluate as evaluate_module
from adcli.cli.main import app
from adcli.engine.forward import forward_grad
from adcli.engine.matrices import hessian

jax.config.update("jax_enable_x64", True)  # adcli computes in float64: so must the reference

runner = CliRunner()  # the commands in this process; `adcli check` runs as its own process too
RTOL = 1e-12
ATOL = 1e-14  # gradients that are exactly 0 (an overwritten slot, a dead branch) meet rounding noise
HESSIAN_RTOL = 1e-10
# Fixed seeds: the points are the same on every run, whichever tests are selected
RNG = np.random.default_rng(20240611)  # the programs' points, drawn once at import in a fixed order


# ---------------------------------------------------------------------------------------------
# The programs: each as a .ad source and as a JAX function of the same inputs
# ---------------------------------------------------------------------------------------------

# a. Backward induction on a binomial tree. The leaves are S·exp(σ√dt·(2i − N)) − K, so at S = K
# the middle leaf is exactly 0: a tie in maximum.
BINOMIAL = """
input S
input sigma
input r
input K
N = 6
dt = 1.5 / N
up = exp(sigma * sqrt(dt))
p = (exp(r * dt) - 1 / up) / (up - 1 / up)
disc = exp(-r * dt)
v = zeros([N + 1])
for i in range(N + 1):
    v[i] = maximum(S * exp(sigma * sqrt(dt) * (2 * i - N)) - K, 0.0)
for j in range(N - 1, -1, -1):
    for i in range(j + 1):
        v[i] = disc * (p * v[i + 1] + (1 - p) * v[i])
price = v[0]
"""


def binomial(S, sigma, r, K):
    """Each level in one slice update: the inner loop reads v[i + 1] before it is written and v[i]
    just before, so the element-by-element loop of the source must equal this."""
    N = 6
    dt = 1.5 / N
    up = jnp.exp(sigma * jnp.sqrt(dt))
    p = (jnp.exp(r * dt) - 1 / up) / (up - 1 / up)
    disc = jnp.exp(-r * dt)
    v = jnp.maximum(S * jnp.exp(sigma * jnp.sqrt(dt) * (2 * jnp.arange(N + 1) - N)) - K, 0.0)
    for j in range(N - 1, -1, -1):
        v = v.at[:j + 1].set(disc * (p * v[1:j + 2] + (1 - p) * v[:j + 1]))
    return v[0]


# b. An explicit heat-equation stencil: 12 points, 8 steps, interior updated element by element and
# the boundary pinned; the loop variable t is read after its loop.
HEAT = """
input u0: [12]
input kappa: []  # declared scalar: len(u) below needs u's shape
n = len(u0)
u = u0 * 1.0
for t in range(8):
    u_new = u * 1.0
    for i in range(1, n - 1):
        u_new[i] = u[i] + kappa * (u[i - 1] - 2.0 * u[i] + u[i + 1])
    u_new[0] = 0.0
    u_new[-1] = 0.0
    u = u_new
weights = arange(n + 1)[1:]
energy = (sum(weights * u * u) + max(u) + u[n // 2] - u[len(u) - 2]) / (t + 1)
"""


def heat(u0, kappa):
    """The interior in one slice update: each new value reads only the old u."""
    n = u0.shape[0]
    u = u0 * 1.0
    for t in range(8):
        u = u.at[1:-1].set(u[1:-1] + kappa * (u[:-2] - 2.0 * u[1:-1] + u[2:]))
        u = u.at[0].set(0.0).at[-1].set(0.0)
    weights = jnp.arange(n + 1)[1:]
    return (jnp.sum(weights * u * u) + jnp.max(u) + u[n // 2] - u[n - 2]) / (t + 1)


# c. A ring: each element meets its neighbours across the wrap-around ((i + 1) % n and i - 1 = -1),
# then neighbours are paired with i // 2 and accumulated with +=.
RING = """
input x: [6]
n = x.shape[0]
y = zeros([n])
for i in range(n):
    y[i] = x[(i + 1) % n] * x[i - 1] - 0.5 * x[i]
pairs = zeros([n // 2])
for i in range(n):
    pairs[i // 2] += x[i] * y[i]
half = x.shape[0] // 2
s = sum(pairs * pairs) + max(y) - min(x) + x[-half] * y[abs(1 - n)] + y[min(n - 1, 3)]
"""


def ring(x):
    """The neighbours by jnp.roll; the pairs by .at[i // 2].add, as the source's +=."""
    n = x.shape[0]
    y = jnp.roll(x, -1) * jnp.roll(x, 1) - 0.5 * x
    pairs = jnp.zeros(n // 2)
    for i in range(n):
        pairs = pairs.at[i // 2].add(x[i] * y[i])
    half = n // 2
    return jnp.sum(pairs * pairs) + jnp.max(y) - jnp.min(x) + x[-half] * y[abs(1 - n)] + y[min(n - 1, 3)]


# d. Horner's rule from the top (c[0] is the leading coefficient), the derivative's sum written
# with t ** (k - 1) (t ** 0 at k = 1, also at t = 0), and a 2 ** k weighting.
HORNER = """
input c: [5]
input t
N = len(c)
acc = 0.0 * t
for k in range(N - 1, -1, -1):
    acc = acc * t + c[N - 1 - k]
slope = 0.0 * t
for k in range(1, N):
    slope = slope + k * c[N - 1 - k] * t ** (k - 1) + c[k] / 2 ** k
y = acc * acc + slope + c[int(N / 2)]
"""


def horner(c, t):
    N = c.shape[0]
    acc = 0.0 * t
    for k in range(N - 1, -1, -1):
        acc = acc * t + c[N - 1 - k]
    slope = 0.0 * t
    for k in range(1, N):
        slope = slope + k * c[N - 1 - k] * t ** (k - 1) + c[k] / 2 ** k
    return acc * acc + slope + c[int(N / 2)]


# e. Scopes: smooth's own i, s and loop do not disturb the caller's i and s; smooth reads its i
# after its loop (len(v) - 1), and the caller reads its i after its loop (2).
SCOPES = """
input x: [4]
input w
def smooth(v, a):
    s = 0.0 * a
    for i in range(len(v)):
        s = s + a * v[i] * v[len(v) - 1 - i]
    out = s + i * a
    return out
s = 10.0 * w
acc = 0.0 * w
for i in range(3):
    acc = acc + smooth(x * (i + 1), w) * x[i]
last = i
y = acc * last + x[i] + tanh(w * x[-1]) + s * w
"""


def scopes(x, w):
    def smooth(v, a):
        s = 0.0 * a
        for i in range(v.shape[0]):
            s = s + a * v[i] * v[v.shape[0] - 1 - i]
        return s + i * a

    s = 10.0 * w
    acc = 0.0 * w
    for i in range(3):
        acc = acc + smooth(x * (i + 1), w) * x[i]
    return acc * i + x[i] + jnp.tanh(w * x[-1]) + s * w


# f. A matrix updated by rows, columns and elements, in both spellings (A[i, :] = row and
# A.at[i].set(row)), including .max and .min, whose ties split as jnp.maximum's do.
MATRIX = """
input A0: [3, 4]
input row: [4]
input col: [3]
A = A0 * 1.0
A[1, :] = row * 2.0 - A0[1, :]
for j in range(4):
    A[:, j] += col * (j + 1)
A[0, 0] *= 3.0
A = A.at[2].set(A[2] * row)
A = A.at[0, 1].add(col[1])
A = A.at[:, 3].multiply(col)
A = A.at[1].max(A0[1])
A = A.at[2, :].min(row)
A[0, 1:3] = A[2, 2:4]
g = A.at[1, 2].get()
y = sum(A * A) + g * col[0]
"""


def matrix(A0, row, col):
    A = A0 * 1.0
    A = A.at[1, :].set(row * 2.0 - A0[1, :])
    for j in range(4):
        A = A.at[:, j].add(col * (j + 1))
    A = A.at[0, 0].multiply(3.0)
    A = A.at[2].set(A[2] * row)
    A = A.at[0, 1].add(col[1])
    A = A.at[:, 3].multiply(col)
    A = A.at[1].max(A0[1])
    A = A.at[2, :].min(row)
    A = A.at[0, 1:3].set(A[2, 2:4])
    g = A.at[1, 2].get()
    return jnp.sum(A * A) + g * col[0]


# g. An RNN writing each hidden state into a preallocated H: T steps driven by X, then T steps on
# its own (range(T, 2 * T)), then a loss over all of H.
RNN = """
input X: [4, 3]
input Wx: [3, 5]
input Wh: [5, 5]
input b: [5]
T = X.shape[0]
H = zeros([2 * T, 5])
h = zeros([5])
for t in range(T):
    h = tanh(X[t] @ Wx + h @ Wh + b)
    H[t, :] = h
for t in range(T, 2 * T):
    h = tanh(h @ Wh + b)
    H[t] = h
loss = sum(H[1:] * H[:2 * T - 1]) + mean(H ** 2) + sum(H[t]) - max(H[0])
"""


def rnn(X, Wx, Wh, b):
    T = X.shape[0]
    H = jnp.zeros((2 * T, 5))
    h = jnp.zeros(5)
    for t in range(T):
        h = jnp.tanh(X[t] @ Wx + h @ Wh + b)
        H = H.at[t, :].set(h)
    for t in range(T, 2 * T):
        h = jnp.tanh(h @ Wh + b)
        H = H.at[t].set(h)
    return jnp.sum(H[1:] * H[:2 * T - 1]) + jnp.mean(H ** 2) + jnp.sum(H[t]) - jnp.max(H[0])


def point(**values) -> dict:
    return {name: np.array(v, dtype=np.float64) for name, v in values.items()}


def normal(*shape):
    return RNG.normal(size=shape)


# name -> (source, JAX function, points; the first point is away from kinks and ties, for
# `adcli check`). The others hold negative values, zeros and ties in max/min.
PROGRAMS = {
    "binomial": (BINOMIAL, binomial, [
        point(S=90.0, sigma=0.35, r=-0.01, K=100.0),
        point(S=100.0, sigma=0.2, r=0.05, K=100.0),  # S = K: the middle leaf ties with 0
        point(S=120.0, sigma=-0.25, r=0.0, K=95.0),
        point(S=0.0, sigma=0.3, r=0.02, K=0.0),  # every leaf ties with 0
    ]),
    "heat": (HEAT, heat, [
        point(u0=normal(12), kappa=0.2),
        point(u0=np.zeros(12), kappa=0.25),  # max over all zeros: a 12-way tie
        point(u0=np.linspace(-3.0, 2.5, 12), kappa=-0.1),
        point(u0=np.where(np.arange(12) % 3 == 0, 0.0, -np.abs(normal(12))), kappa=0.0),
    ]),
    "ring": (RING, ring, [
        point(x=[1.0, -2.0, 0.25, 3.0, -1.0, 0.5]),
        point(x=[-1.0, 2.0, -1.0, 0.5, 0.0, 3.0]),  # min(x) ties at -1
        point(x=np.zeros(6)),  # max(y) and min(x) tie everywhere
        point(x=normal(6)),
    ]),
    "horner": (HORNER, horner, [
        point(c=normal(5), t=0.7),
        point(c=[1.0, -2.0, 0.0, 3.0, -1.0], t=-1.3),
        point(c=normal(5), t=0.0),  # t ** 0 and t ** 1 at t = 0
        point(c=np.zeros(5), t=2.0),
    ]),
    "scopes": (SCOPES, scopes, [
        point(x=[1.0, -2.0, 0.5, 3.0], w=0.5),
        point(x=np.zeros(4), w=-0.3),
        point(x=normal(4), w=0.0),
        point(x=[-1.0, -1.0, 2.0, -0.5], w=-1.5),
    ]),
    "matrix": (MATRIX, matrix, [
        point(A0=normal(3, 4), row=[1.1, -0.7, 2.3, 0.4], col=[0.5, -1.3, 2.1]),
        # A[1] = 2·row − A0[1] + col[1]·(j + 1) meets A0[1] for j < 3: ties in .max; row[3] = 0
        # and A[2, 3] = 0: a tie in .min
        point(A0=[[1.0, 2.0, 3.0, 4.0], [0.5, -2.0, 0.5, -3.0], [0.5, 1.5, -2.0, 1.0]],
              row=[1.0, -1.0, 2.0, 0.0], col=[0.5, -1.0, 2.0]),
        point(A0=np.zeros((3, 4)), row=np.zeros(4), col=np.zeros(3)),
        point(A0=-np.abs(normal(3, 4)), row=[-1.0, 0.0, -2.5, 1.0], col=[-0.5, 0.0, 1.5]),
    ]),
    "rnn": (RNN, rnn, [
        point(X=normal(4, 3), Wx=0.5 * normal(3, 5), Wh=0.4 * normal(5, 5), b=0.1 * normal(5)),
        point(X=np.zeros((4, 3)), Wx=0.5 * normal(3, 5), Wh=0.4 * normal(5, 5), b=np.zeros(5)),  # H all 0
        point(X=-np.abs(normal(4, 3)), Wx=0.5 * normal(3, 5), Wh=-0.3 * np.eye(5), b=[0.2, 0.2, -0.1, 0.0, 0.2]),
    ]),
}

CASES = [(name, k) for name, (_, _, points) in PROGRAMS.items() for k in range(len(points))]
# Small programs whose Hessians JAX computes quickly, with the updates set and add among them
HESSIAN_PROGRAMS = ["binomial", "ring", "horner", "scopes"]


def program_of(name: str):
    return adcli.parse(PROGRAMS[name][0], f"{name}.ad")


# Compiled once per function: JAX op by op over these unrolled loops would take most of the run.
@functools.cache
def jitted_value_and_grad(fn):
    return jax.jit(jax.value_and_grad(lambda d: fn(**d)))


@functools.cache
def jitted_value_and_grad_of_one(fn):
    return jax.jit(jax.value_and_grad(fn))


@functools.cache
def jitted_hessian(fn):
    # forward over reverse, as adcli's own (jax.hessian's forward over jacrev compiles slower here)
    return jax.jit(jax.jacfwd(jax.grad(lambda d: fn(**d))))


def as_jax(values: dict) -> dict:
    return {k: jnp.asarray(v) for k, v in values.items()}


def jax_value_and_grad(fn, values: dict):
    """fn's value and gradient with respect to every input (keyword arguments), as numpy."""
    value, grads = jitted_value_and_grad(fn)(as_jax(values))
    return np.asarray(value), {k: np.asarray(g) for k, g in grads.items()}


def close(got, want, what: str, rtol: float = RTOL):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.all(np.isfinite(want)), (what, want)  # a NaN reference would make the comparison idle
    np.testing.assert_allclose(got, want, rtol=rtol, atol=ATOL, err_msg=what)


def set_args(values: dict) -> list[str]:
    """--set NAME=VALUE arguments; json keeps each float's shortest exact repr."""
    return [f"{name}={json.dumps(np.asarray(v).tolist())}" for name, v in values.items()]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adcli", *args], capture_output=True, text=True, timeout=120, check=False)


def write_program(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.ad"
    path.write_text(PROGRAMS[name][0])
    return path


# ---------------------------------------------------------------------------------------------
# Value, gradient, forward mode and Hessian against JAX
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "k"), CASES)
def test_value_and_gradient_match_jax(name, k):
    values = PROGRAMS[name][2][k]
    program = program_of(name)
    result = program.grad(**values)
    value, grads = jax_value_and_grad(PROGRAMS[name][1], values)
    close(result.value, value, f"{name} value")
    assert sorted(result.grad) == sorted(grads)
    for input_name, g in grads.items():
        close(result.grad[input_name], g, f"{name} ∂/∂{input_name}")


@pytest.mark.parametrize(("name", "k"), CASES)
def test_forward_mode_equals_reverse_mode(name, k):
    values = PROGRAMS[name][2][k]
    program = program_of(name)
    reverse = program.grad(**values)
    forward = forward_grad(program, **values)
    close(forward.value, reverse.value, f"{name} value")
    assert sorted(forward.grad) == sorted(reverse.grad)
    for input_name, g in reverse.grad.items():
        close(forward.grad[input_name], g, f"{name} forward ∂/∂{input_name}")


@pytest.mark.parametrize("name", HESSIAN_PROGRAMS)
def test_hessian_matches_jax(name):
    program = program_of(name)
    fn = PROGRAMS[name][1]
    for values in PROGRAMS[name][2][:2]:  # away from ties, and at ties or zeros
        want = jitted_hessian(fn)(as_jax(values))
        got = hessian(program, **values)
        assert sorted(got.blocks) == sorted((a, b) for a in want for b in want[a])
        for a in want:
            for b in want[a]:
                close(got.blocks[(a, b)], want[a][b], f"{name} ∂²/∂{a}∂{b} at {values}", rtol=HESSIAN_RTOL)


def test_the_command_lines_forward_mode_equals_reverse_mode(tmp_path):
    """`adcli grad --mode forward --json` against reverse mode, through the command line."""
    for name, (_, _, points) in PROGRAMS.items():
        path = write_program(tmp_path, name)
        values = points[1]  # a point with ties or zeros: both modes must take the same conventions
        runs = {}
        for mode in ("reverse", "forward"):
            done = runner.invoke(app, ["grad", str(path), "--set", *set_args(values), "--json", "--mode", mode])
            assert done.exit_code == 0, (name, mode, done.output)
            runs[mode] = json.loads(done.stdout)
        close(runs["forward"]["value"], runs["reverse"]["value"], f"{name} value")
        assert sorted(runs["forward"]["grad"]) == sorted(values)
        for input_name in values:
            close(runs["forward"]["grad"][input_name], runs["reverse"]["grad"][input_name], f"{name} {input_name}")
        close(runs["reverse"]["value"], program_of(name).grad(**values).value, f"{name} the command's value")


# ---------------------------------------------------------------------------------------------
# adcli check and adcli export --to jax
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_check_passes(name, tmp_path):
    done = run_cli("check", str(write_program(tmp_path, name)), "--set", *set_args(PROGRAMS[name][2][0]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.match(r"ok\b", done.stdout.strip().splitlines()[-1]), done.stdout


def import_file(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_export_to_jax_gives_adclis_gradient(name, tmp_path):
    out = tmp_path / f"{name}_mod.py"
    done = runner.invoke(app, ["export", str(write_program(tmp_path, name)), "--to", "jax", "-o", str(out)])
    assert done.exit_code == 0, done.output
    module = import_file(out, f"exported_{name}")
    # Under jax.jit, as JAX's users run it, except where XLA compiles a long chain of scalar updates
    # more slowly than JAX runs them op by op
    run = (lambda fn: fn) if name in ("binomial", "heat") else jax.jit
    f, grad_f = run(module.f), run(module.grad_f)
    program = program_of(name)
    for values in PROGRAMS[name][2][:2]:  # away from ties, and at ties or zeros
        args = [jnp.asarray(values[n]) for n in program.inputs]
        result = program.grad(**values)
        close(f(*args), result.value, f"{name} f")
        value, grads = grad_f(*args)
        close(value, result.value, f"{name} grad_f value")
        assert sorted(grads) == sorted(result.grad)
        for input_name, g in result.grad.items():
            close(grads[input_name], g, f"{name} grad_f {input_name}")


# ---------------------------------------------------------------------------------------------
# Update semantics
# ---------------------------------------------------------------------------------------------

def test_a_value_read_before_its_slot_is_overwritten_keeps_its_gradient():
    """The old u[1] reaches y through a only; after u[1] = ..., the slot's old value reaches nothing."""
    read_first = "input x: [4]\nu = x * 1.0\na = u[1] * 3.0\nu[1] = x[0] * x[0]\ny = sum(u * u) + a\n"
    never_read = "input x: [4]\nu = x * 1.0\nu[1] = x[0] * x[0]\ny = sum(u * u)\n"

    def read_first_jax(x):
        u = x * 1.0
        a = u[1] * 3.0
        u = u.at[1].set(x[0] * x[0])
        return jnp.sum(u * u) + a

    def never_read_jax(x):
        return jnp.sum(x.at[1].set(x[0] * x[0]) ** 2)

    for x in (np.array([1.5, -2.0, 0.5, 3.0]), np.array([0.0, 4.0, -1.0, 0.0]),
              np.random.default_rng(1).normal(size=4)):
        for source, fn in ((read_first, read_first_jax), (never_read, never_read_jax)):
            result = adcli.parse(source).grad(x=x)
            value, grad = jitted_value_and_grad_of_one(fn)(jnp.asarray(x))
            close(result.value, value, source)
            close(result.grad["x"], grad, source)
            forward = forward_grad(adcli.parse(source), x=x)
            close(forward.grad["x"], result.grad["x"], source)
        # The overwritten slot: no gradient at all when nothing read it first, not even a 0·x term
        assert adcli.parse(never_read).grad(x=x).grad["x"][1] == 0.0
        # read first, it gets exactly a's gradient: sum(u * u) no longer sees it
        assert adcli.parse(read_first).grad(x=x).grad["x"][1] == \
            adcli.parse("input x: [4]\ny = x[1] * 3.0\n").grad(x=x).grad["x"][1]


def test_an_update_needs_an_array_and_gives_a_new_version():
    """x[i] = v rebinds x: the old version, copied under another name, is unchanged."""
    source = "input x: [3]\nu = x * 1.0\nold = u.copy()\nu[0] = 7.0 * x[2]\nu[2] += old[0]\ny = sum(old * u)\n"
    x = np.array([2.0, -1.0, 0.5])
    result = adcli.parse(source).grad(x=x)

    def fn(x):
        u = x * 1.0
        old = u
        u = u.at[0].set(7.0 * x[2])
        u = u.at[2].add(old[0])
        return jnp.sum(old * u)

    value, grad = jitted_value_and_grad_of_one(fn)(jnp.asarray(x))
    close(result.value, value, "value")
    close(result.grad["x"], grad, "gradient")
    assert np.array_equal(x, [2.0, -1.0, 0.5])  # the caller's array is never written


# ---------------------------------------------------------------------------------------------
# The in-place fast path: the same bits as copies, and never visible through a view
# ---------------------------------------------------------------------------------------------

# Programs in which a part of u is copied and kept, u is then updated, and the copy is used after:
# the engine's copy is a numpy view of u's memory (x[...]), so an update written into that memory
# would change it. JAX's functional .at is the reference. (Without .copy(), numpy's names would
# share the array and reading the part after the update is refused: see test_updates_and_scopes.)
def slice_kept(x):
    u = jnp.zeros(4).at[0].set(x[0]).at[1].set(x[1] * 2.0).at[2].set(x[2] + x[3])
    a = u[1:3]
    u = u.at[1].set(5.0).at[2].multiply(x[3])
    return jnp.sum(a * a) + jnp.sum(u)


def slice_summed(x):
    u = (x * 1.0).at[3].set(x[0] * x[1])
    a = u[2:]
    u = u.at[2].set(-1.0).at[3].set(2.0)
    return jnp.sum(a) * x[0] + jnp.sum(u * u)


def strided(x):
    u = (x * 1.0).at[0].set(x[5])
    b = u[::2]
    for i in range(6):
        u = u.at[i].set(u[i] * 2.0)
    return jnp.sum(b * x[:3]) + jnp.sum(u)


def row_and_column(W):
    A = (W * 1.0).at[0, 0].set(W[2, 2])
    r, c = A[1], A[:, 2]
    A = A.at[1, :].set(0.0).at[:, 2].add(1.0)
    return jnp.sum(r * c) + jnp.sum(A * W)


VIEW_SLICE = """
input x: [4]
u = zeros([4])
u[0] = x[0]
u[1] = x[1] * 2.0
u[2] = x[2] + x[3]
a = u[1:3].copy()
u[1] = 5.0
u[2] *= x[3]
y = sum(a * a) + sum(u)
"""
# sum's derivative reads no values: a is not kept for the backward pass, only until sum(a)
VIEW_SUMMED = """
input x: [4]
u = x * 1.0
u[3] = x[0] * x[1]
a = u[2:].copy()
u[2] = -1.0
u[3] = 2.0
y = sum(a) * x[0] + sum(u * u)
"""
VIEW_STRIDED = """
input x: [6]
u = x * 1.0
u[0] = x[5]
b = u[::2].copy()
for i in range(6):
    u[i] = u[i] * 2.0
y = sum(b * x[:3]) + sum(u)
"""
VIEW_ROW_AND_COLUMN = """
input W: [3, 3]
A = W * 1.0
A[0, 0] = W[2, 2]
r = A[1].copy()
c = A[:, 2].copy()
A[1, :] = 0.0
A[:, 2] += 1.0
y = sum(r * c) + sum(A * W)
"""
# name -> (source, JAX function, input name, input shape)
VIEWS = {
    "slice": (VIEW_SLICE, slice_kept, "x", (4,)),
    "slice read only by sum": (VIEW_SUMMED, slice_summed, "x", (4,)),
    "strided": (VIEW_STRIDED, strided, "x", (6,)),
    "row and column of a matrix": (VIEW_ROW_AND_COLUMN, row_and_column, "W", (3, 3)),
}


def no_fast_path(monkeypatch):
    monkeypatch.setattr(evaluate_module, "updatable", lambda *a, **k: False)


def counting_fast_path(monkeypatch) -> list:
    """Count the updates the engine writes in place, so a comparison with copies is never idle."""
    original = evaluate_module.updatable
    taken = []

    def counted(*args, **kwargs):
        answer = original(*args, **kwargs)
        taken.append(answer)
        return answer

    monkeypatch.setattr(evaluate_module, "updatable", counted)
    return taken


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_a_view_kept_across_an_update_sees_the_old_values(name, monkeypatch):
    source, fn, input_name, shape = VIEWS[name]
    for x in (np.arange(np.prod(shape), dtype=np.float64).reshape(shape) - 1.5,
              np.random.default_rng(2).normal(size=shape),
              np.zeros(shape)):
        value, grad = jitted_value_and_grad_of_one(fn)(jnp.asarray(x))
        fast = adcli.parse(source).grad(**{input_name: x})
        close(fast.value, value, f"{name} value")
        close(fast.grad[input_name], grad, f"{name} gradient")
        close(adcli.parse(source).eval(of="y", **{input_name: x})["y"], value, f"{name} eval")
        with monkeypatch.context() as m:
            no_fast_path(m)
            slow = adcli.parse(source).grad(**{input_name: x})
        assert np.array_equal(fast.value, slow.value)
        assert np.array_equal(fast.grad[input_name], slow.grad[input_name])


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_in_place_updates_give_the_bits_of_copies(name, monkeypatch):
    program = program_of(name)
    for values in PROGRAMS[name][2]:
        given = {k: v.copy() for k, v in values.items()}
        with monkeypatch.context() as m:
            no_fast_path(m)
            copies = program.grad(**values)
            copies_eval = program.eval(**values)
        fast = program.grad(**values)
        assert np.array_equal(fast.value, copies.value)
        for input_name, g in copies.grad.items():
            assert np.array_equal(fast.grad[input_name], g), input_name
        fast_eval = program.eval(**values)
        assert list(fast_eval) == list(copies_eval)
        for label, v in copies_eval.items():
            assert np.array_equal(fast_eval[label], v), label
        for input_name, v in values.items():  # inputs are never written, fast path or not
            assert np.array_equal(v, given[input_name]), input_name


def test_the_fast_path_is_taken_in_these_programs(monkeypatch):
    """Without this the bit-for-bit comparison above could compare copies with copies."""
    taken = counting_fast_path(monkeypatch)
    for name in ("heat", "binomial", "rnn"):
        before = sum(taken)
        program_of(name).grad(**PROGRAMS[name][2][0])
        assert sum(taken) > before, name


# ---------------------------------------------------------------------------------------------
# Read-time integers as bounds, indices, slice bounds and sizes
# ---------------------------------------------------------------------------------------------

def test_read_time_integers_pick_the_same_elements_as_python():
    source = """
input x: [8]
N = 4
k = 3
m = len(x) - 1
h = x.shape[0] // 2
z = zeros([N + 1])
for i in range(N, 2 * N):
    z[i - N] += x[i] * x[N - 1 - (i - N)]
for i in range(N - 1, -1, -1):
    z[(i + 1) % N] *= 1.0 + x[i // 2]
z[N] = x[m] + x[min(N - 1, k)] - x[max(-2, -N)] + x[abs(k - N)] * x[int(N / 2)]
w = arange(N + 1) * z
y = sum(w * w) + sum(x[h:m] * x[2 ** k - 2 ** (k - 1) - N:h - 1]) + x[h - 1 - N]
"""

    def fn(x):
        N, k = 4, 3
        m = x.shape[0] - 1
        h = x.shape[0] // 2
        z = jnp.zeros(N + 1)
        for i in range(N, 2 * N):
            z = z.at[i - N].add(x[i] * x[N - 1 - (i - N)])
        for i in range(N - 1, -1, -1):
            z = z.at[(i + 1) % N].multiply(1.0 + x[i // 2])
        z = z.at[N].set(x[m] + x[min(N - 1, k)] - x[max(-2, -N)] + x[abs(k - N)] * x[int(N / 2)])
        w = jnp.arange(N + 1) * z
        return jnp.sum(w * w) + jnp.sum(x[h:m] * x[2 ** k - 2 ** (k - 1) - N:h - 1]) + x[h - 1 - N]

    program = adcli.parse(source)
    for x in (np.random.default_rng(3).normal(size=8), np.linspace(-2.0, 1.5, 8), np.zeros(8)):
        result = program.grad(x=x)
        value, grad = jitted_value_and_grad_of_one(fn)(jnp.asarray(x))
        close(result.value, value, "value")
        close(result.grad["x"], grad, "gradient")
        close(forward_grad(program, x=x).grad["x"], result.grad["x"], "forward")


# Python's integer arithmetic, negative operands included: floor division and modulo round toward
# -inf, int() truncates toward 0. Each picks an element of x, so a wrong integer shows as a wrong value.
INTEGER_EXPRESSIONS = ["(-7) // 2", "-7 // 2", "(-7) % 3", "7 % -3", "-(7 // 2)", "int(-7 / 2)", "int(7 / 2)",
                       "abs(-3)", "min(-2, -5)", "max(2 - 9, -3)", "2 ** 3 - 9", "(3 - 10) // -2", "len(x) // 3 - 5",
                       "x.shape[0] % 4", "-1 % 10", "-2 ** 2 + 3", "(-2) ** 2 - 6", "int(9 / 4) * -1",
                       "int(-0.5)", "3 // 2 * 2 - 4"]


@pytest.mark.parametrize("expression", INTEGER_EXPRESSIONS)
def test_a_read_time_integer_is_pythons(expression):
    x = np.arange(10.0) * 1.5 - 3.0
    index = eval(expression, {"x": x, "len": len})  # the test's own reference: Python's arithmetic
    assert isinstance(index, int)
    program = adcli.parse(f"input x: [10]\nu = x * 1.0\nu[{expression}] = -100.0\ny = x[{expression}]\n")
    got = program.eval(x=x)
    assert got["y"] == x[index]
    want = x.copy()
    want[index] = -100.0
    assert np.array_equal(got["u'"], want)


# ---------------------------------------------------------------------------------------------
# Scopes at their edges
# ---------------------------------------------------------------------------------------------

def test_an_update_of_a_parameter_leaves_the_callers_array_alone():
    """Updates are values: the function's v[0] = ... makes its own v, as x.at[0].set would; the
    caller passes a copy, since numpy would change the caller's u through the parameter."""
    source = """
input x: [5]
def bump(v, a):
    v[0] = a * 100.0
    for i in range(1, len(v)):
        v[i] += v[i - 1]
    return sum(v)
u = x * 1.0
s = bump(u.copy(), x[1])
y = s + sum(u * u)
"""

    def fn(x):
        def bump(v, a):
            v = v.at[0].set(a * 100.0)
            for i in range(1, v.shape[0]):
                v = v.at[i].add(v[i - 1])
            return jnp.sum(v)

        u = x * 1.0
        return bump(u, x[1]) + jnp.sum(u * u)

    program = adcli.parse(source)
    for x in (np.array([1.5, -2.0, 0.0, 3.0, -0.5]), np.zeros(5)):
        result = program.grad(x=x)
        value, grad = jitted_value_and_grad_of_one(fn)(jnp.asarray(x))
        close(result.value, value, "value")
        close(result.grad["x"], grad, "gradient")
        assert np.array_equal(program.eval(x=x)["u"], x)


def test_a_functions_name_read_before_the_function_assigns_it_is_refused():
    """A name a function assigns is its own throughout (Python's UnboundLocalError otherwise)."""
    source = "input x: [3]\nu = x * 1.0\ndef f(a):\n    t = u[0] + a\n    u = x * 2.0\n    return t\ny = f(x[1])\n"
    with pytest.raises(adcli.AdError) as caught:
        adcli.parse(source, "local.ad").eval(x=np.array([2.5, -1.0, 0.5]))
    assert "'u' is read before f() assigns it" in str(caught.value) and "local.ad:4:9:" in str(caught.value)
