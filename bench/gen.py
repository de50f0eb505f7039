"""Generated workloads: each one as .ad source for adcli and as a plain op list for the peers.

An op list is `(inputs, ops)`: `inputs` is [(name, value)], and each op is `(kind, a, b)` where a
and b index earlier slots (the inputs first, then one slot per op) or, for `b`, hold a float
constant. Every peer interprets the same list, so all of them compute the same function.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------------------------
# Scalar chain: one operation per line, every value used once by the next line.
# The cycle keeps values and gradients finite at any length: v·a + 0.5, relu, - 0.5 with a = 1.
# ---------------------------------------------------------------------------------------------

CHAIN_CYCLE = ("mul_a", "add_c", "relu", "sub_c")


def chain_source(n: int) -> str:
    lines = ["v0 = x * a"]
    for i in range(1, n):
        kind = CHAIN_CYCLE[i % 4]
        p = f"v{i - 1}"
        lines.append(f"v{i} = " + {"mul_a": f"{p} * a", "add_c": f"{p} + 0.5",
                                   "relu": f"relu({p})", "sub_c": f"{p} - 0.5"}[kind])
    return "\n".join(lines) + "\n"


def chain_ops(n: int):
    inputs = [("x", 1.0), ("a", 1.0)]
    ops = [("mul", 0, 1)]
    for i in range(1, n):
        p = 2 + i - 1  # slot of v{i-1}
        ops.append({"mul_a": ("mul", p, 1), "add_c": ("add", p, 0.5),
                    "relu": ("relu", p, None), "sub_c": ("sub", p, 0.5)}[CHAIN_CYCLE[i % 4]])
    return inputs, ops


# ---------------------------------------------------------------------------------------------
# Wide sum: s_j = s_(j-1) + x_p * x_q over 100 inputs, two operations per line, each input
# feeding n/100 products, so every input's gradient accumulator takes many contributions.
# ---------------------------------------------------------------------------------------------

WIDE_INPUTS = 100


def _wide_pairs(lines: int):
    for j in range(lines):
        yield (j * 7) % WIDE_INPUTS, (j * 13 + 1) % WIDE_INPUTS


def wide_source(n: int) -> str:
    lines = []
    for j, (p, q) in enumerate(_wide_pairs(max(n // 2, 1))):
        lines.append(f"s{j} = x{p} * x{q}" if j == 0 else f"s{j} = s{j - 1} + x{p} * x{q}")
    return "\n".join(lines) + "\n"


def wide_inputs(n: int) -> list[tuple[str, float]]:
    """The inputs the first n/2 lines use (all 100 from 200 operations on), in index order."""
    used = sorted({k for pair in _wide_pairs(max(n // 2, 1)) for k in pair})
    # Values near 1 keep the sum moderate.
    return [(f"x{k}", 1.0 + k / 1000) for k in used]


def wide_ops(n: int):
    inputs = wide_inputs(n)
    slot = {int(name[1:]): i for i, (name, _) in enumerate(inputs)}
    m = len(inputs)
    ops, last = [], None
    for j, (p, q) in enumerate(_wide_pairs(max(n // 2, 1))):
        ops.append(("mul", slot[p], slot[q]))
        prod = m + len(ops) - 1
        if j == 0:
            last = prod
        else:
            ops.append(("add", last, prod))
            last = m + len(ops) - 1
    return inputs, ops


def scalar_workload(kind: str, n: int):
    """(source, given values, op list) of a generated scalar workload."""
    if kind == "chain":
        inputs, ops = chain_ops(n)
        return chain_source(n), dict(inputs), (inputs, ops)
    if kind == "wide":
        inputs, ops = wide_ops(n)
        return wide_source(n), dict(inputs), (inputs, ops)
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# Many inputs, one fixed-size graph: t_k = tanh(t_(k-1)) + x_(k mod n), for forward vs reverse.
# The graph has the same 2·lines operations whatever n is, so only the number of inputs changes;
# each gradient is of order 1 (the latest uses of an input dominate it).
# ---------------------------------------------------------------------------------------------

def inputs_source(n_inputs: int, lines: int = 1000) -> str:
    out = ["t0 = tanh(x0)"]
    for k in range(1, lines):
        out.append(f"t{k} = tanh(t{k - 1}) + x{k % n_inputs}")
    return "\n".join(out) + "\n"


def inputs_values(n_inputs: int) -> dict:
    return {f"x{i}": 0.9 + (i % 7) / 50 for i in range(n_inputs)}


# ---------------------------------------------------------------------------------------------
# The MLP loss of the issue: sum((relu(X@W1+b1)@W2+b2)**2)
# ---------------------------------------------------------------------------------------------

MLP_SOURCE = """\
input X: [256, 784]
input W1: [784, 1024]
input b1: [1024]
input W2: [1024, 10]
input b2: [10]
L = sum((relu(X @ W1 + b1) @ W2 + b2) ** 2)
"""


def mlp_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "X": rng.standard_normal((256, 784)),
        "W1": rng.standard_normal((784, 1024)) * 784 ** -0.5,
        "b1": rng.standard_normal(1024) * 0.1,
        "W2": rng.standard_normal((1024, 10)) * 1024 ** -0.5,
        "b2": rng.standard_normal(10) * 0.1,
    }
