"""The peers: the same scalar op lists and the same MLP, differentiated by other means.

Each scalar peer takes `(inputs, ops)` from `bench.gen` and returns (output value, [gradient of
each input]); each builds its graph (or tape) as it runs forward, then runs backward. Optional
libraries are imported on use; `available(name)` says whether one is installed.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

OPTIONAL = {"torch": "torch", "jax": "jax", "autograd": "autograd", "micrograd": "micrograd"}


def available(peer: str) -> bool:
    module = OPTIONAL.get(peer)
    return module is None or importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------------------------------------
# Tapes written by hand: the floor that any interpreter of a scalar graph is measured against
# ---------------------------------------------------------------------------------------------

def float_tape(inputs, ops):
    """Plain Python floats: a forward loop appending to a value list, a backward loop over it."""
    vals = [float(v) for _, v in inputs]
    for kind, a, b in ops:
        x = vals[a]
        y = vals[b] if b.__class__ is int else b
        if kind == "mul":
            vals.append(x * y)
        elif kind == "add":
            vals.append(x + y)
        elif kind == "sub":
            vals.append(x - y)
        else:  # relu
            vals.append(x if x > 0.0 else 0.0)
    m = len(inputs)
    grads = [0.0] * len(vals)
    grads[-1] = 1.0
    for i in range(len(ops) - 1, -1, -1):
        g = grads[m + i]
        kind, a, b = ops[i]
        slot = b.__class__ is int
        if kind == "mul":
            grads[a] += g * (vals[b] if slot else b)
            if slot:
                grads[b] += g * vals[a]
        elif kind == "add":
            grads[a] += g
            if slot:
                grads[b] += g
        elif kind == "sub":
            grads[a] += g
            if slot:
                grads[b] -= g
        elif vals[a] > 0.0:
            grads[a] += g
    return vals[-1], grads[:m]


def numpy_scalar_tape(inputs, ops):
    """The same tape with numpy float64 scalars and ufunc calls, as a numpy-based engine does."""
    mul, add, sub, maximum, greater = np.multiply, np.add, np.subtract, np.maximum, np.greater
    vals = [np.float64(v) for _, v in inputs]
    for kind, a, b in ops:
        x = vals[a]
        y = vals[b] if b.__class__ is int else np.float64(b)
        if kind == "mul":
            vals.append(mul(x, y))
        elif kind == "add":
            vals.append(add(x, y))
        elif kind == "sub":
            vals.append(sub(x, y))
        else:
            vals.append(maximum(x, 0.0))
    m = len(inputs)
    grads = [np.float64(0.0)] * len(vals)
    grads[-1] = np.float64(1.0)
    for i in range(len(ops) - 1, -1, -1):
        g = grads[m + i]
        kind, a, b = ops[i]
        slot = b.__class__ is int
        if kind == "mul":
            grads[a] = add(grads[a], mul(g, vals[b] if slot else b))
            if slot:
                grads[b] = add(grads[b], mul(g, vals[a]))
        elif kind == "add":
            grads[a] = add(grads[a], g)
            if slot:
                grads[b] = add(grads[b], g)
        elif kind == "sub":
            grads[a] = add(grads[a], g)
            if slot:
                grads[b] = sub(grads[b], g)
        else:
            grads[a] = add(grads[a], mul(g, greater(vals[a], 0.0)))
    return vals[-1], grads[:m]


# ---------------------------------------------------------------------------------------------
# Eager frameworks, interpreting the op list with their own operators
# ---------------------------------------------------------------------------------------------

def _interpret(leaves, ops, relu, const=lambda c: c):
    vals = list(leaves)
    for kind, a, b in ops:
        x = vals[a]
        y = vals[b] if b.__class__ is int else const(b)
        if kind == "mul":
            vals.append(x * y)
        elif kind == "add":
            vals.append(x + y)
        elif kind == "sub":
            vals.append(x - y)
        else:
            vals.append(relu(x))
    return vals[-1]


def micrograd(inputs, ops):
    """karpathy/micrograd: Value objects; its recursive topological sort needs a raised limit."""
    from micrograd.engine import Value
    leaves = [Value(float(v)) for _, v in inputs]
    out = _interpret(leaves, ops, lambda x: x.relu())
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(ops) + 1000))
    try:
        out.backward()
    finally:
        sys.setrecursionlimit(limit)
    return out.data, [v.grad for v in leaves]


def micrograd_default_limit(n_ops: int) -> str | None:
    """What micrograd's backward does at the default recursion limit, on a chain of n_ops."""
    from micrograd.engine import Value
    v = Value(1.0)
    for _ in range(n_ops):
        v = v * 1.0
    try:
        v.backward()
    except RecursionError:
        return "RecursionError"
    return None


def torch_eager(inputs, ops):
    """PyTorch eager mode, float64 0-d tensors, `backward()`."""
    import torch
    leaves = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for _, v in inputs]
    out = _interpret(leaves, ops, torch.relu)
    out.backward()
    return out.item(), [0.0 if t.grad is None else t.grad.item() for t in leaves]


def autograd_hips(inputs, ops):
    """HIPS autograd: `grad` of a function of a list of floats, traced as it runs."""
    import autograd
    import autograd.numpy as anp

    def f(xs):
        return _interpret([xs[i] for i in range(len(inputs))], ops, lambda x: anp.maximum(x, 0.0))
    grads = autograd.grad(f)([float(v) for _, v in inputs])
    return None, [float(g) for g in grads]


def jax_eager(inputs, ops):
    """JAX without jit: `jax.grad` traces every operation through its JVP machinery."""
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def f(xs):
        return _interpret(list(xs), ops, lambda x: jnp.maximum(x, 0.0))
    grads = jax.grad(f)([jnp.float64(v) for _, v in inputs])
    return None, [float(g) for g in grads]


SCALAR_PEERS = {
    "float tape": float_tape,
    "numpy-scalar tape": numpy_scalar_tape,
    "micrograd": micrograd,
    "torch": torch_eager,
    "autograd": autograd_hips,
    "jax": jax_eager,
}


# ---------------------------------------------------------------------------------------------
# The MLP: hand-written numpy forward and backward, and the frameworks
# ---------------------------------------------------------------------------------------------

def mlp_numpy_forward(X, W1, b1, W2, b2):
    return np.sum((np.maximum(X @ W1 + b1, 0.0) @ W2 + b2) ** 2)


def mlp_numpy_grad(X, W1, b1, W2, b2, wrt_x: bool = True):
    """Forward, then the backward pass written out by hand (dX only when asked)."""
    h = X @ W1 + b1
    a = np.maximum(h, 0.0)
    o = a @ W2 + b2
    loss = np.sum(o * o)
    do = 2.0 * o
    dW2 = a.T @ do
    db2 = do.sum(axis=0)
    dh = (do @ W2.T) * (h > 0)
    dW1 = X.T @ dh
    db1 = dh.sum(axis=0)
    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    if wrt_x:
        grads["X"] = dh @ W1.T
    return loss, grads


def mlp_torch(inputs: dict, wrt_x: bool = True):
    """PyTorch: float64 tensors that share the numpy buffers, forward then `backward()`."""
    import torch
    ts = {k: torch.from_numpy(v).requires_grad_(k != "X" or wrt_x) for k, v in inputs.items()}
    loss = ((torch.relu(ts["X"] @ ts["W1"] + ts["b1"]) @ ts["W2"] + ts["b2"]) ** 2).sum()
    loss.backward()
    return loss.item(), {k: t.grad for k, t in ts.items() if t.grad is not None}


def mlp_jax(jit: bool):
    """JAX `grad` of the loss with respect to every input, eager or compiled once."""
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def loss(X, W1, b1, W2, b2):
        return jnp.sum((jax.nn.relu(X @ W1 + b1) @ W2 + b2) ** 2)
    g = jax.grad(loss, argnums=(0, 1, 2, 3, 4))
    if jit:
        g = jax.jit(g)

    def run(inputs):
        out = g(*(inputs[k] for k in ("X", "W1", "b1", "W2", "b2")))
        jax.block_until_ready(out)
        return out
    return run
