"""numpy as people write it: each spelling gives the bits of the language's own spelling, and
every refusal is one positioned message. (The corpus of whole programs is test_numpy_corpus.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import adcli

X = np.array([0.5, -1.25, 2.0])
W = np.array([[0.3, -0.7, 1.1], [2.0, 0.1, -0.4]])
HEADER = "input x: [3]\ninput W: [2, 3]\n"

# numpy's spelling, then the language's own: the same value and gradients, to the bit.
SAME = [
    ("np.sum(np.tanh(W @ x))", "sum(tanh(W @ x))"),
    ("np.tanh(W @ x).sum(axis=0)", "sum(tanh(W @ x), axis=0)"),
    ("jnp.exp(x).mean()", "mean(exp(x))"),
    ("W.max(0).sum()", "sum(max(W, axis=0))"),
    ("np.max(W, 1).sum()", "sum(max(W, axis=1))"),
    ("np.amin(W)", "min(W)"),
    ("np.maximum(x, 0).sum()", "sum(max(x, 0))"),
    ("np.minimum(x, 0.5).sum()", "sum(min(x, 0.5))"),
    ("(W.T @ W).trace()", "trace(transpose(W) @ W)"),
    ("np.linalg.norm(W)", "norm(W)"),
    ("W.std(axis=1, ddof=1).sum()", "sum(std(W, axis=1, ddof=1))"),
    ("x.var() + x.prod()", "var(x) + prod(x)"),
    ("x.cumsum().sum() + x.cumprod().sum()", "sum(cumsum(x)) + sum(cumprod(x))"),
    ("W.reshape(3, 2).sum(axis=1).sum()", "sum(sum(reshape(W, [3, 2]), axis=1))"),
    ("W.reshape((3, 2))[1, 0]", "reshape(W, [3, 2])[1, 0]"),
    ("W.ravel()[4] + W.flatten()[1]", "reshape(W, [-1])[4] + reshape(W, [-1])[1]"),
    ("W.transpose(1, 0)[2, 1]", "transpose(W, axes=[1, 0])[2, 1]"),
    ("x.dot(x) + x.clip(-1, 1).sum()", "dot(x, x) + sum(clip(x, -1, 1))"),
    ("x.astype(float).sum()", "sum(x)"),
    ("np.arctan2(x, 2.0).sum()", "sum(atan2(x, 2.0))"),
    ("np.power(x, 2).sum()", "sum(x ** 2)"),
    ("np.add(x, np.multiply(x, x)).sum()", "sum(x + x * x)"),
    ("scipy.special.expit(x).sum()", "sum(sigmoid(x))"),
    ("scipy.special.gammaln(x * x + 1).sum()", "sum(gammaln(x * x + 1))"),
    ("scipy.special.xlogy(x * x, 2.0).sum()", "sum(xlogy(x * x, 2.0))"),
    ("math.lgamma(3.0) + math.sqrt(2.0) * x[0]", "gammaln(3.0) + sqrt(2.0) * x[0]"),
    ("np.pi * x[0] + np.e + math.pi", "pi * x[0] + e + pi"),
    ("(x[:, np.newaxis] * W.T).sum()", "sum(x[:, None] * transpose(W))"),
    ("(np.zeros(3) + np.ones((3,)) @ x).sum()", "sum(zeros([3]) + ones([3]) @ x)"),
    ("(np.zeros_like(x) + np.ones_like(x) * x).sum()", "sum(zeros([3]) + ones([3]) * x)"),
    ("(np.full((3,), 2.5) * x).sum()", "sum(2.5 * ones([3]) * x)"),
    ("(np.full_like(x, 2.5) * x).sum()", "sum(2.5 * ones([3]) * x)"),
    ("(np.linspace(0, 1, 3) * x).sum()", "sum([0.0, 0.5, 1.0] * x)"),
    ("(np.arange(1, 4) * x).sum()", "sum(arange(4)[1:] * x)"),
    ("x.shape[0] * x[0] + W.ndim + W.size", "3 * x[0] + 2 + 6"),
    ("x.sum() if 2 > 1 else x.prod()", "sum(x)"),
    ("np.polyval(W[0], x).sum()", "sum(((0.0 * x * x + W[0, 0]) * x + W[0, 1]) * x + W[0, 2])"),
    ("len(W) * x[0] + len(x)", "2 * x[0] + 3"),
]


def both(numpy_style: str, plain: str):
    a = adcli.parse(HEADER + f"y = {numpy_style}\n", "numpy.ad").grad(of="y", x=X, W=W)
    b = adcli.parse(HEADER + f"y = {plain}\n", "plain.ad").grad(of="y", x=X, W=W)
    return a, b


@pytest.mark.parametrize(("numpy_style", "plain"), SAME)
def test_numpy_spelling_gives_the_languages_bits(numpy_style, plain):
    a, b = both("0.0 * x[0] + " + numpy_style, "0.0 * x[0] + " + plain)
    assert np.array_equal(a.value, b.value)
    for name in ("x", "W"):
        assert np.array_equal(a.grad[name], b.grad[name]), name


def test_numpy_max_with_a_number_is_a_reduction_and_maximum_is_elementwise():
    """np.max(W, 0) reduces along axis 0, as numpy does; the language's max(W, 0) is relu-like."""
    source = HEADER + "a = np.max(W, 0)\nb = max(W, 0)\nc = np.maximum(W, 0)\n"
    got = adcli.parse(source, "m.ad").eval(x=X, W=W)
    assert np.array_equal(got["a"], W.max(axis=0))
    assert np.array_equal(got["b"], np.maximum(W, 0)) and np.array_equal(got["c"], np.maximum(W, 0))


def test_augmented_assignment_updates_the_name():
    source = "input x: []\nh = x\nh += 2.0\nh *= x\nh -= 1.0\nh /= 2.0\nh **= 2\n"
    program = adcli.parse(source, "aug.ad")
    result = program.grad(of="h", x=np.array(3.0))
    value = (((3.0 + 2.0) * 3.0 - 1.0) / 2.0) ** 2
    assert result.value == value
    assert result.grad["x"] == 2 * ((3.0 + 2.0) * 3.0 - 1.0) / 2.0 * (2 * 3.0 + 2.0) / 2.0
    labels = [label for label, _ in program.graph.assigned]
    assert labels[0] == "h" and len(labels) == 6 and len(set(labels)) == 6  # each update a new version of h


def test_matmul_update():
    source = "input A: [2, 2]\ninput v: [2]\nv @= A\ny = v.sum()\n"
    A, v = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0])
    result = adcli.parse(source, "m.ad").grad(of="y", A=A, v=v)
    assert result.value == (v @ A).sum()
    assert np.array_equal(result.grad["v"], A.sum(axis=1))


def test_tuples_unpack_from_tuples_rows_shapes_and_functions():
    source = ("input W: [2, 3]\n"
              "def moments(a):\n    return a.mean(), a.std()\n"
              "m, s = moments(W)\n"
              "first, second = W\n"
              "rows, cols = W.shape\n"
              "a, b, = 1.0, 2.0\n"
              "y = m + s + first.sum() * a + second[0] * b + rows * cols\n")
    got = adcli.parse(source, "t.ad").eval(W=W)
    assert got["m"] == W.mean() and got["s"] == W.std()
    assert np.array_equal(got["first"], W[0]) and np.array_equal(got["second"], W[1])
    assert got["y"] == W.mean() + W.std() + W[0].sum() * 1.0 + W[1, 0] * 2.0 + 6


def test_conditional_expression_on_values_is_where():
    source = "input x: [3]\ny = (x * 2.0 if x.sum() > 0 else -x).sum()\n"
    program = adcli.parse(source, "c.ad")
    for x in (X, -X):
        result = program.grad(of="y", x=x)
        assert result.value == (x * 2.0 if x.sum() > 0 else -x).sum()
        assert np.array_equal(result.grad["x"], np.full(3, 2.0 if x.sum() > 0 else -1.0))


def test_a_def_may_take_a_builtins_name_and_a_value_may_too():
    source = ("input x: [3]\ndef sigmoid(a):\n    return 1.0 / (1.0 + np.exp(-a))\n"
              "mean = x.mean()\ny = sigmoid(x).sum() + mean\n")
    got = adcli.parse(source, "s.ad").eval(x=X)
    assert np.allclose(got["y"], (1 / (1 + np.exp(-X))).sum() + X.mean(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("line", [
    "import numpy as np", "import numpy", "import jax.numpy as jnp", "from scipy import special",
    "from scipy.special import gammaln, expit as sig", "import math", "from numpy import linalg as la",
])
def test_imports_are_accepted(line):
    source = f"{line}\ninput x: [3]\ny = x.sum()\n"
    assert adcli.parse(source, "i.ad").eval(x=X)["y"] == X.sum()


def test_imported_names_call_what_they_name():
    source = ("from scipy.special import gammaln, expit as sig\nfrom numpy import linalg as la\n"
              "import jax.numpy as jnp\ninput x: [3]\ny = sig(x).sum() + gammaln(3.0) + la.norm(x) + jnp.sum(x)\n")
    got = adcli.parse(source, "i.ad").eval(x=X)["y"]
    expected = adcli.parse("input x: [3]\ny = sigmoid(x).sum() + gammaln(3.0) + norm(x) + sum(x)\n", "p.ad")
    assert got == expected.eval(x=X)["y"]


@pytest.mark.parametrize(("source", "message", "at"), [
    ("import torch\ny = 1\n", "adcli cannot import 'torch'", "1:8"),
    ("y = np.exq(2.0)\n", "adcli has no 'numpy.exq'; did you mean numpy.exp?", "1:5"),
    ("y = np.linalg\n", "'numpy.linalg' is a module", "1:5"),
    ("y = np.exp\n", "'numpy.exp' is a function; call it as numpy.exp(...)", "1:5"),
    ("input x: [3]\ny = x.sort()\n", "numpy's x.sort() sorts in place and gives None", "2:7"),
    ("input x: [3]\ny = x.astype(int)\n", "adcli computes in float64", "2:14"),
    ("input x: [3]\ny = x.dtype\n", "there is no .dtype", "2:7"),
    ("input x: [3]\na, b = x\n", "2 names on the left of '=', but 3 values on the right", "2:1"),
    ("a, b = 1.0, 2.0, 3.0\n", "2 names on the left of '=', but 3 values on the right", "1:1"),
    ("a, a = 1.0, 2.0\n", "'a' appears twice on the left of '='", "1:4"),
    ("y = x.shape[0]\n", "needs this value's shape", "1:7"),
    ("input x: [3]\ny = x.shape[3]\n", "index 3 is out of range for a tuple of 1", "2:13"),
    ("input x: [3]\ny = 1.0 if x else 2.0\n", "must be a comparison", "2:12"),
    ("input x: [3]\ny = x // 2\n", "'//' is for whole numbers known as the file is read", "2:5"),
    ("input x: [3]\nfeats = []\nfeats.append(x)\n", "a method that changes a list or an array in place", "3:6"),
    ("y = 3 % 0\n", "'%' by zero", "1:7"),
    ("input x: [3]\ny = x.mean\n", "'.mean' is a method: call it, as in x.mean()", "2:7"),
    ("from scipy.special import gammaln, foo\ny = 1\n", "adcli has no 'scipy.special.foo'", "1:36"),
])
def test_refusals_are_positioned_messages(source, message, at):
    with pytest.raises(adcli.AdError) as caught:
        adcli.parse(source, "bad.ad").eval(x=X)
    text = str(caught.value)
    assert message in text, text
    assert f"bad.ad:{at}:" in text, text


SAMPLE = """import numpy as np
input W: [2, 3]
input x: [3]
h = np.tanh(W @ x)
h += 0.5 * h ** 2
m, s = h.mean(), h.std()
loss = (h - m).sum() + s + np.linalg.norm(W.T)
"""


@pytest.mark.parametrize("command", [
    ["grad"], ["trace"], ["trace", "--mode", "forward", "--wrt", "x"], ["check"], ["graph"], ["cost"],
    ["jvp", "--tangent", "x=[1,0,0]"], ["hessian", "--wrt", "x"], ["grad", "--checkpoint", "sqrt"], ["lint"],
])
def test_every_command_takes_a_numpy_style_program(command, tmp_path):
    path = tmp_path / "model.ad"
    path.write_text(SAMPLE, encoding="utf-8")
    args = [sys.executable, "-m", "adcli", command[0], str(path), *command[1:]]
    if command[0] not in ("lint", "graph", "cost"):
        args += ["--set", "W=[[0.3,-0.7,1.1],[2.0,0.1,-0.4]]", "x=[0.5,-1.25,2.0]"]
    done = subprocess.run(args, capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0, done.stderr


def test_grad_json_batch_and_exports_agree(tmp_path):
    """--json, --batch over two points, and the numpy, JAX and PyTorch modules give the engine's numbers."""
    from adcli.export import export_source, load_module
    path = tmp_path / "model.ad"
    path.write_text(SAMPLE, encoding="utf-8")
    program = adcli.parse(SAMPLE, "model.ad")
    result = program.grad(of="loss", W=W, x=X)
    done = subprocess.run([sys.executable, "-m", "adcli", "grad", str(path), "--json", "--set",
                           "W=[[0.3,-0.7,1.1],[2.0,0.1,-0.4]]", "x=[0.5,-1.25,2.0]"],
                          capture_output=True, text=True, encoding="utf-8", check=True)
    out = json.loads(done.stdout)
    assert out["value"] == float(result.value) and out["grad"]["x"] == result.grad["x"].tolist()
    points = tmp_path / "points.npz"
    np.savez(points, W=np.stack([W, 2 * W]), x=X)
    done = subprocess.run([sys.executable, "-m", "adcli", "grad", str(path), "--json", "--inputs", str(points),
                           "--batch", "W"], capture_output=True, text=True, encoding="utf-8", check=True)
    batch = json.loads(done.stdout)
    second = program.grad(of="loss", W=2 * W, x=X)
    assert batch["value"] == [float(result.value), float(second.value)]
    assert batch["grad"]["x"] == [result.grad["x"].tolist(), second.grad["x"].tolist()]
    module = load_module(export_source(program, "numpy"))
    value, grads = module.grad_f(W, X)
    assert value == result.value and np.array_equal(grads["W"], result.grad["W"])
    for target, convert in (("jax", lambda a: __import__("jax.numpy").numpy.asarray(a)),
                            ("torch", lambda a: __import__("torch").as_tensor(a))):
        pytest.importorskip(target)
        value, grads = load_module(export_source(program, target)).grad_f(convert(W), convert(X))
        assert np.allclose(np.asarray(value), result.value, rtol=1e-13, atol=0)
        assert np.allclose(np.asarray(grads["x"]), result.grad["x"], rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Sizes from the inputs: range(T), x[:n - 1], reshape(n, 2) with named dimensions
# ---------------------------------------------------------------------------------------------

RUNNING = """input x: [T]
input w: []
h = 0.0
for t in range(T):
    h = np.tanh(w * h + x[t])
pairs = x[:T - 1] * x[1:]
loss = h + pairs.sum() + x.reshape(T, 1).sum()
"""


def running_reference(x, w):
    h = 0.0
    for t in range(len(x)):
        h = np.tanh(w * h + x[t])
    return h + (x[:-1] * x[1:]).sum() + x.sum()


def test_a_program_is_specialised_to_each_size_it_is_given():
    program = adcli.parse(RUNNING, "running.ad")
    assert program.pending is not None  # no graph until the sizes are known
    for x in (np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.2, 0.3, 0.4, -0.5]), np.array([0.7])):
        result = program.grad(of="loss", x=x, w=np.array(0.8))
        assert program.sizes == {"T": len(x)}
        assert np.isclose(result.value, running_reference(x, 0.8), rtol=1e-15, atol=0)
        eps = 1e-6
        bumped = [(running_reference(x + eps * e, 0.8) - running_reference(x - eps * e, 0.8)) / (2 * eps)
                  for e in np.eye(len(x))]
        assert np.allclose(result.grad["x"], bumped, rtol=1e-7, atol=1e-9)
    assert len(program._graphs) == 3  # one graph per set of sizes, kept for the next call


def test_sizes_come_from_the_last_axes_of_a_batch(tmp_path):
    path = tmp_path / "running.ad"
    path.write_text(RUNNING, encoding="utf-8")
    points = tmp_path / "points.npz"
    xs = np.array([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]])
    np.savez(points, x=xs, w=np.array(0.8))
    done = subprocess.run([sys.executable, "-m", "adcli", "grad", str(path), "--json", "--inputs", str(points),
                           "--batch", "x"], capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0, done.stderr
    assert np.allclose(json.loads(done.stdout)["value"], [running_reference(x, 0.8) for x in xs], rtol=1e-15, atol=0)


def test_without_values_the_need_for_sizes_is_one_message_and_lint_is_clean(tmp_path):
    path = tmp_path / "running.ad"
    path.write_text(RUNNING, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "adcli", "graph", str(path)],
                          capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"{path}:4:16: error: a bound of range() must be a whole number known as the file is read: 'T' is a " \
           "named dimension" in done.stderr
    lint = subprocess.run([sys.executable, "-m", "adcli", "lint", str(path)],
                          capture_output=True, text=True, encoding="utf-8", check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_command_specialises_to_the_given_sizes(tmp_path):
    path = tmp_path / "running.ad"
    path.write_text(RUNNING, encoding="utf-8")
    values = ["--set", "x=[0.5,-1.0,2.0]", "w=0.8"]
    for command in (["grad"], ["trace"], ["trace", "--mode", "forward", "--wrt", "w"], ["check"], ["graph"],
                    ["cost"], ["jvp", "--tangent", "w=1"], ["grad", "--checkpoint", "sqrt"], ["export"]):
        done = subprocess.run([sys.executable, "-m", "adcli", command[0], str(path), *command[1:], *values],
                              capture_output=True, text=True, encoding="utf-8", check=False)
        assert done.returncode == 0, (command, done.stderr)
    from adcli.export import export_source, load_module
    program = adcli.parse(RUNNING, "running.ad")
    x = np.array([0.5, -1.0, 2.0])
    result = program.grad(of="loss", x=x, w=np.array(0.8))
    value, grads = load_module(export_source(program, "numpy")).grad_f(x, np.array(0.8))
    assert value == result.value and np.array_equal(grads["x"], result.grad["x"])


def test_meshgrid_slogdet_matrix_power_and_take_along_axis_match_pytorch():
    torch = pytest.importorskip("torch")
    source = """input A: [2, 2]
input a: [3]
input b: [2]
data idx: int[2, 2]
X, Y = np.meshgrid(a, b)
P, Q = np.meshgrid(a, b, indexing="ij")
s, ld = np.linalg.slogdet(A)
M = np.linalg.matrix_power(A, 3) + np.linalg.matrix_power(A, -2) + np.linalg.matrix_power(A, 0)
T = np.take_along_axis(A, idx, axis=1)
y = (X * Y).sum() + (P * Q * P).sum() + s * ld + M.sum() + (T * T).sum()
"""
    values = {"A": np.array([[2.0, 1.0], [0.5, 3.0]]), "a": np.array([1.0, 2.0, 3.0]), "b": np.array([4.0, 5.0]),
              "idx": np.array([[1, 0], [1, 1]])}
    result = adcli.parse(source, "more.ad").grad(of="y", **values)
    t = {k: torch.tensor(v, requires_grad=v.dtype.kind == "f") for k, v in values.items()}
    X, Y = torch.meshgrid(t["a"], t["b"], indexing="xy")
    P, Q = torch.meshgrid(t["a"], t["b"], indexing="ij")
    s, ld = torch.linalg.slogdet(t["A"])
    M = sum(torch.linalg.matrix_power(t["A"], k) for k in (3, -2, 0))
    T = torch.take_along_dim(t["A"], t["idx"], dim=1)
    y = (X * Y).sum() + (P * Q * P).sum() + s * ld + M.sum() + (T * T).sum()
    y.backward()
    assert np.isclose(result.value, y.item(), rtol=1e-14, atol=0)
    for name in ("A", "a", "b"):
        assert np.allclose(result.grad[name], t[name].grad.numpy(), rtol=1e-13, atol=1e-14), name


def test_integer_lists_and_masks_written_in_the_file_index():
    source = "input x: [4]\ny = x[[0, 2]].sum() + x[np.array([1, 3])].sum() * 10 + x[[True, False, False, True]].sum() * 100\n"
    result = adcli.parse(source, "i.ad").grad(of="y", x=np.array([1.0, 2.0, 3.0, 4.0]))
    assert result.value == 564.0
    assert result.grad["x"].tolist() == [101.0, 10.0, 1.0, 110.0]


def test_a_comprehension_is_refused_with_the_array_way():
    with pytest.raises(adcli.AdError) as caught:
        adcli.parse("input x: [3]\ny = [v * 2 for v in x]\n", "c.ad")
    assert "c.ad:2:12: error: adcli has no comprehensions" in str(caught.value)


def test_scipy_stats_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    source = """from scipy.stats import norm
import scipy.special
input x: [3]
input s: []
y = norm.cdf(x).sum() + norm.sf(x, 0.5, s).sum() + norm.pdf(x, scale=s).sum() + norm.logpdf(x, 1.0, s).sum()
y += scipy.special.ndtr(x).sum()
"""
    x, s = np.array([-9.0, 0.3, 2.0]), np.array(1.5)
    result = adcli.parse(source, "norm.ad").grad(x=x, s=s)
    tx, ts = torch.tensor(x, requires_grad=True), torch.tensor(s, requires_grad=True)
    normal = torch.distributions.Normal
    one = torch.tensor(1.0, dtype=torch.float64)
    y = (normal(0.0, one).cdf(tx).sum() + (1 - normal(0.5, ts).cdf(tx)).sum() + normal(0.0, ts).log_prob(tx).exp().sum()
         + normal(1.0, ts).log_prob(tx).sum() + torch.special.ndtr(tx).sum())
    y.backward()
    assert np.isclose(result.value, y.item(), rtol=1e-15, atol=0)
    assert np.allclose(result.grad["x"], tx.grad.numpy(), rtol=1e-14, atol=0)
    assert np.isclose(result.grad["s"], ts.grad.item(), rtol=1e-14, atol=0)


def test_len_whole_division_and_single_quoted_einsum():
    source = """input y: [n]
input K: [n, n]
m = len(y)
dh = 8 // 3 + 7 % 4 + m // 2 + (-7) // 2 + (-7) % 3
s = np.einsum('i,ij->j', y, K).sum()
z = y[:m - 1].sum() * dh + s + len(K) * 1.0
"""
    y, K = np.array([1.0, 2.0, 3.0]), np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]])
    result = adcli.parse(source, "len.ad").grad(of="z", y=y, K=K)
    dh = 8 // 3 + 7 % 4 + 3 // 2 + (-7) // 2 + (-7) % 3
    assert result.value == y[:2].sum() * dh + (y @ K).sum() + 3.0
    assert np.array_equal(result.grad["y"], np.array([dh, dh, 0.0]) + K.sum(axis=1))
