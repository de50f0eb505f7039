"""The JAX side of the sparse case, run in its own process: `python -m bench.sparse_jax SPEC`.

SPEC is a JSON object: {"inputs": "in.npz", "outputs": "out.npz", "runs": 5}. The inputs file holds
the points and vectors `bench.sparse` differentiates at (so both sides see the same bits); this
process writes JAX's results to the outputs file and prints one JSON line of timings. Everything
runs in float64 (`jax_enable_x64`) under `jax.jit`; each function's compile time (lowering and
XLA's compilation, `jit(f).lower(...).compile()`) is measured apart from its runs.

The functions are the ones in bench/programs/*.ad, written with jax.numpy:
- the tridiagonal residual, r = 2 x[1:n-1] - x[:n-2] - x[2:] + x[1:n-1]**3: `jax.jacfwd`;
- the chained Rosenbrock function: `jax.grad`, H·v as `jax.jvp(jax.grad(f), (x,), (v,))`, and the
  dense `jax.hessian` at the smaller size;
- a tanh MLP's mean squared error (bench/programs/mlp_tanh.ad): `jax.grad` and H·v over its weights.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from .stats import repeat

WEIGHTS = ("W1", "b1", "W2", "b2")


def functions():
    import jax.numpy as jnp

    def tridiagonal(x):
        return 2 * x[1:-1] - x[:-2] - x[2:] + x[1:-1] ** 3

    def rosenbrock(x):
        return jnp.sum((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2)

    def mlp(weights, X, Y):
        W1, b1, W2, b2 = weights
        return jnp.mean((jnp.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)

    return tridiagonal, rosenbrock, mlp


def measure(jitted, args: tuple, runs: int) -> tuple[dict, float, object]:
    """(time Stats as a dict, compile seconds, result): compile first, then warm up and time runs."""
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - start

    def call():
        out = compiled(*args)
        import jax
        return jax.block_until_ready(out)
    result = call()
    return repeat(call, runs, warmup=1).as_dict(), compile_s, result


def main(spec: dict) -> dict:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    tridiagonal, rosenbrock, mlp = functions()
    given = dict(np.load(spec["inputs"]))
    runs = spec.get("runs", 5)
    out, arrays = {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}, {}

    # 1. The tridiagonal Jacobian, dense from jacfwd.
    x = jnp.asarray(given["tri_x"])
    out["jacfwd"], out["jacfwd_compile"], jac = measure(jax.jit(jax.jacfwd(tridiagonal)), (x,), runs)
    arrays["jacfwd"] = np.asarray(jac)

    # 2. H·v against one gradient, the Rosenbrock function and the MLP.
    x, v = jnp.asarray(given["rosen_x"]), jnp.asarray(given["rosen_v"])
    grad = jax.jit(jax.grad(rosenbrock))
    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(rosenbrock), (x,), (v,))[1])
    out["rosen_grad"], out["rosen_grad_compile"], _ = measure(grad, (x,), runs)
    out["rosen_hvp"], out["rosen_hvp_compile"], product = measure(hvp, (x, v), runs)
    arrays["rosen_hvp"] = np.asarray(product)

    weights = tuple(jnp.asarray(given["mlp_" + w]) for w in WEIGHTS)
    vectors = tuple(jnp.asarray(given["mlp_v_" + w]) for w in WEIGHTS)
    X, Y = jnp.asarray(given["mlp_X"]), jnp.asarray(given["mlp_Y"])
    grad = jax.jit(jax.grad(mlp))
    hvp = jax.jit(lambda w, v, X, Y: jax.jvp(lambda w: jax.grad(mlp)(w, X, Y), (w,), (v,))[1])
    out["mlp_grad"], out["mlp_grad_compile"], _ = measure(grad, (weights, X, Y), runs)
    out["mlp_hvp"], out["mlp_hvp_compile"], product = measure(hvp, (weights, vectors, X, Y), runs)
    for w, p in zip(WEIGHTS, product):
        arrays["mlp_hvp_" + w] = np.asarray(p)

    # 3. The dense Hessian of the Rosenbrock function at the sparse Hessian's size.
    x = jnp.asarray(given["hess_x"])
    out["hessian"], out["hessian_compile"], hess = measure(jax.jit(jax.hessian(rosenbrock)), (x,), runs)
    arrays["hessian"] = np.asarray(hess)

    np.savez(spec["outputs"], **arrays)
    return out


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
