"""adcli's gradients against PyTorch's autograd (float64) on programs written here.

Each program is written twice, once in the .ad language and once by hand in PyTorch, and both are
evaluated at random points away from kinks and ties. Skipped where PyTorch is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import adcli

torch = pytest.importorskip("torch")

RTOL = 1e-9


def normal(*shape):
    return lambda rng: rng.normal(size=shape)


def positive(*shape):
    return lambda rng: rng.uniform(0.5, 2.5, size=shape)


# name -> (.ad source, PyTorch function of the inputs as keyword arguments, input samplers)
PROGRAMS = {
    "mlp": (
        """
        input X: [n, d]
        input Y: [n, k]
        H1 = relu(X @ W1 + b1)
        H2 = tanh(H1 @ W2 + b2)
        P = sigmoid(H2 @ W3 + b3)
        loss = mean((P - Y)**2) + 0.01 * sum(W1 * W1)
        """,
        lambda X, Y, W1, b1, W2, b2, W3, b3: (
            ((torch.sigmoid(torch.tanh(torch.relu(X @ W1 + b1) @ W2 + b2) @ W3 + b3) - Y) ** 2).mean()
            + 0.01 * (W1 * W1).sum()),
        {"X": normal(6, 3), "Y": normal(6, 2), "W1": normal(3, 5), "b1": normal(5),
         "W2": normal(5, 4), "b2": normal(4), "W3": normal(4, 2), "b3": normal(2)},
    ),
    "softmax_cross_entropy": (
        """
        Z = X @ W + b
        ce = mean(logsumexp(Z, axis=1) - sum(Y * Z, axis=-1))
        p = softmax(Z)
        loss = ce + sum(p * C) - mean(log(softmax(Z, 0)))
        """,
        lambda X, W, b, Y, C: (
            (torch.logsumexp(X @ W + b, dim=1) - (Y * (X @ W + b)).sum(dim=-1)).mean()
            + (torch.softmax(X @ W + b, dim=-1) * C).sum()
            - torch.log(torch.softmax(X @ W + b, dim=0)).mean()),
        {"X": normal(5, 3), "W": normal(3, 4), "b": normal(4), "Y": normal(5, 4), "C": normal(5, 4)},
    ),
    "max_min": (
        """
        m = max(a, b) * min(a, c)
        loss = max(m) - min(a) + sum(max(a, axis=0)) * sum(min(b, axis=1)) + sum(max(m, 0.1 * a))
        """,
        lambda a, b, c: (
            torch.maximum(a, b) * torch.minimum(a, c)).max() - a.min()
        + torch.amax(a, dim=0).sum() * torch.amin(b, dim=1).sum()
        + torch.maximum(torch.maximum(a, b) * torch.minimum(a, c), 0.1 * a).sum(),
        {"a": normal(3, 4), "b": normal(3, 4), "c": normal(4)},
    ),
    "elementary": (
        """
        u = x ** y + x ** 2.5 + 2 ** y
        v = sqrt(x) / (y + 3) - log(x) * exp(-y)
        w = abs(y - x) + sin(x) * cos(y) + tan(y / 4)
        loss = sum(u * v - w / x) + sum(-x ** 2) + sum(x ** -1.5)
        """,
        lambda x, y: (
            (x ** y + x ** 2.5 + 2 ** y) * (torch.sqrt(x) / (y + 3) - torch.log(x) * torch.exp(-y))
            - (torch.abs(y - x) + torch.sin(x) * torch.cos(y) + torch.tan(y / 4)) / x).sum()
        + (-(x ** 2)).sum() + (x ** -1.5).sum(),
        {"x": positive(2, 3), "y": positive(2, 3)},
    ),
    "broadcasting": (
        """
        A = M + r
        B = M * c - s
        C = c * r / (1 + s * s)
        loss = sum(A * B) + mean(C ** 2) + sum(t + M)
        """,
        lambda M, r, c, s, t: (
            ((M + r) * (M * c - s)).sum() + ((c * r / (1 + s * s)) ** 2).mean() + (t + M).sum()),
        {"M": normal(3, 4), "r": normal(4), "c": normal(3, 1), "s": normal(), "t": normal(2, 1, 4)},
    ),
    "matmul": (
        """
        a = v @ v
        b = M @ v
        c = u @ M
        D = M.T @ M
        E = T @ N
        loss = a * s + sum(b * b) + sum(c) + sum(D @ N) + mean(E) + sum(s @ M) + sum(u @ T @ v)
        """,
        lambda v, u, M, N, T, s: (
            (v @ v) * s + ((M @ v) ** 2).sum() + (u @ M).sum() + ((M.T @ M) @ N).sum()
            + (T @ N).mean() + (s * M).sum() + (u @ T @ v).sum()),
        {"v": normal(4), "u": normal(3), "M": normal(3, 4), "N": normal(4, 2), "T": normal(5, 3, 4),
         "s": normal()},
    ),
    "transpose_and_means": (
        """
        G = transpose(X) @ X
        loss = mean(G, 0) @ mean(X.T, axis=-1) + sum(mean(X, axis=1) * w) + mean(mean(X.T)) + sum(mean(S, -2))
        """,
        lambda X, w, S: (
            (X.T @ X).mean(dim=0) @ X.T.mean(dim=-1) + (X.mean(dim=1) * w).sum() + X.T.mean()
            + S.mean(dim=-2).sum()),
        {"X": normal(5, 3), "w": normal(5), "S": normal(2, 3, 4)},
    ),
    "arrays_and_reuse": (
        """
        h = tanh(x)
        h = h * h + x
        V = [h, x * 2, [1, 2, 3]]
        loss = sum(softmax(V, axis=0) * V) + logsumexp(sum(V, axis=0))
        """,
        lambda x: (
            (torch.softmax(torch.stack([torch.tanh(x) ** 2 + x, x * 2, torch.tensor([1.0, 2.0, 3.0],
                                                                                     dtype=torch.float64)]), dim=0)
             * torch.stack([torch.tanh(x) ** 2 + x, x * 2, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)])
             ).sum()
            + torch.logsumexp(torch.stack([torch.tanh(x) ** 2 + x, x * 2,
                                           torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)]).sum(dim=0), dim=-1)),
        {"x": normal(3)},
    ),
}


def torch_grad(fn, point):
    tensors = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in point.items()}
    out = fn(**tensors)
    out.backward()
    return float(out.detach()), {name: t.grad.numpy() for name, t in tensors.items()}


def assert_agree(ours, theirs, what):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1e-300)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale, err_msg=what)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradients_match_pytorch(name, seed):
    source, fn, samplers = PROGRAMS[name]
    rng = np.random.default_rng(seed)
    point = {input_name: sample(rng) for input_name, sample in samplers.items()}
    program = adcli.parse("\n".join(line.strip() for line in source.strip().splitlines()))
    assert sorted(program.inputs) == sorted(point)
    result = program.grad(**point)
    value, grads = torch_grad(fn, point)
    assert_agree(result.value, value, f"{name} value")
    for input_name in program.inputs:
        assert_agree(result.grad[input_name], grads[input_name], f"{name} ∂/∂{input_name}")


@pytest.mark.parametrize("source, point", [
    ("y = relu(x)", {"x": 0.0}),
    ("y = abs(x)", {"x": 0.0}),
    ("y = max(a, b)", {"a": 2.0, "b": 2.0}),
    ("y = min(a, b)", {"a": 2.0, "b": 2.0}),
    ("y = max(x)", {"x": [1.0, 3.0, 3.0, 3.0]}),
    ("y = sum(min(x, axis=1))", {"x": [[1.0, 1.0, 2.0], [0.0, 5.0, 0.0]]}),
    ("y = sqrt(x)", {"x": 0.0}),
    ("y = x ** p", {"x": 0.0, "p": 2.0}),
    ("y = x ** p", {"x": 0.0, "p": 0.0}),
])
def test_conventions_match_pytorch(source, point):
    fns = {"relu": torch.relu, "abs": torch.abs, "sqrt": torch.sqrt}
    result = adcli.parse(source).grad(**point)
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in point.items()}
    if "**" in source:
        out = tensors["x"] ** tensors["p"]
    elif "axis=1" in source:
        out = torch.amin(tensors["x"], dim=1).sum()
    elif source == "y = max(x)":
        out = tensors["x"].max()
    elif "max(a, b)" in source or "min(a, b)" in source:
        out = (torch.maximum if "max" in source else torch.minimum)(tensors["a"], tensors["b"])
    else:
        out = fns[source[4:source.index("(")]](tensors["x"])
    out.backward()
    for name, t in tensors.items():
        np.testing.assert_array_equal(result.grad[name], t.grad.numpy(), err_msg=f"{source} ∂/∂{name}")
