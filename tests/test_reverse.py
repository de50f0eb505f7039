"""Reverse mode through whole programs: the lecture's examples, accumulation, broadcasting, models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import adcli
from adcli.engine.reverse import backward
from adcli.errors import InputError, ShapeError
from adcli.language.graph import CONST, INPUT
from adcli.operations import OPS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def floats(grads: dict) -> dict:
    return {name: float(g) for name, g in grads.items()}


def numeric_grad(program, inputs: dict, name: str, of=None) -> np.ndarray:
    """∂output/∂inputs[name] by central differences in float64."""
    x = np.asarray(inputs[name], dtype=np.float64)
    grad = np.zeros(x.shape)
    for j in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[j]))
        sides = []
        for step in (h, -h):
            moved = x.copy()
            moved[j] += step
            sides.append(float(program.grad(of=of, wrt=[name], **{**inputs, name: moved}).value))
        grad[j] = (sides[0] - sides[1]) / (2 * h)
    return grad


def graph_jvp(program, inputs: dict, tangents: dict, of=None):
    """The output's tangent by forward mode over the graph, reading each op's jvp rule."""
    graph = program.graph
    _, out = program.output_node(of)
    values = program.values(inputs, upto=out)
    by_label = {graph.nodes[i].label: i for i in graph.inputs}
    dots = {by_label[name]: np.asarray(t, dtype=np.float64) for name, t in tangents.items()}
    for i in range(out + 1):
        node = graph.nodes[i]
        if node.op == CONST:
            dots[i] = np.zeros(np.shape(values[i]))
        elif node.op != INPUT:
            xs = [values[a] for a in node.args]
            dots[i] = OPS[node.op].jvp([dots[a] for a in node.args], values[i], xs, node.params or {})
    return dots[out]


# ---------------------------------------------------------------------------------------------
# The lecture's worked examples
# ---------------------------------------------------------------------------------------------

def test_lecture_relu_example():
    program = adcli.load(str(SAMPLES / "relu.ad"))
    result = program.grad(W=2, x=3, b=1)
    assert result.output == "H" and float(result.value) == 7.0
    assert floats(result.grad) == {"W": 3.0, "x": 2.0, "b": 1.0}
    assert list(result.grad) == ["W", "x", "b"]
    # The forward steps of the lecture: U1 = 2·3 = 6, U2 = U1 + b = 7, H = ReLU(U2) = 7.
    values = program.values({"W": 2, "x": 3, "b": 1})
    steps = {node.label: float(values[i]) for i, node in enumerate(program.graph.nodes)}
    assert steps == {"W": 2.0, "x": 3.0, "b": 1.0, "U1": 6.0, "U2": 7.0, "H": 7.0}


def test_lecture_product_example():
    program = adcli.load(str(SAMPLES / "product.ad"))
    result = program.grad(x=17)
    assert (result.output, float(result.value), floats(result.grad)) == ("y", 306.0, {"x": 35.0})
    assert {k: float(v) for k, v in program.eval(x=17).items()} == {"u": 18.0, "y": 306.0}


def updates(program, given):
    """Every accumulator update of a backward pass, as (operand, before, contribution, after)."""
    graph = program.graph
    values = program.values(given)
    seen = []

    def hook(node, k, operand, before, upstream, contribution, after):
        assert graph.nodes[node].args[k] == operand
        seen.append((graph.nodes[operand].label, None if before is None else float(before),
                     float(upstream), float(contribution), float(after)))

    grads = backward(graph, values, graph.output, list(graph.inputs), on_update=hook)
    return seen, grads


def test_update_hook_follows_the_lecture_for_the_product():
    seen, grads = updates(adcli.load(str(SAMPLES / "product.ad")), {"x": 17})
    assert seen == [
        ("u", None, 1.0, 17.0, 17.0),   # dy/du ← 0 + 1·x
        ("x", None, 1.0, 18.0, 18.0),   # dy/dx ← 0 + 1·u
        ("x", 18.0, 17.0, 17.0, 35.0),  # dy/dx ← 18 + dy/du·1
    ]
    assert [float(g) for g in grads.values()] == [35.0]


def test_update_hook_for_the_relu_example():
    seen, _ = updates(adcli.load(str(SAMPLES / "relu.ad")), {"W": 2, "x": 3, "b": 1})
    # One update per edge, each accumulator starting from 0; the constant-free graph has five edges.
    assert {label: (before, contribution) for label, before, _, contribution, _ in seen} == {
        "U2": (None, 1.0), "b": (None, 1.0), "U1": (None, 1.0), "W": (None, 3.0), "x": (None, 2.0)}
    assert [label for label, *_ in seen][:3] == ["U2", "b", "U1"]


# ---------------------------------------------------------------------------------------------
# Accumulation: a value used several times gets the sum of its contributions
# ---------------------------------------------------------------------------------------------

def test_fan_out():
    result = adcli.parse("b = a + a\nc = b + b").grad(a=5.0)
    assert (float(result.value), float(result.grad["a"])) == (20.0, 4.0)
    result = adcli.parse("y = x * x").grad(x=3.0)
    assert float(result.grad["x"]) == 6.0
    # A diamond: u feeds y twice, and x feeds both u and y.
    result = adcli.parse("u = exp(x)\ny = u * u + u * x").grad(x=0.5)
    e = np.exp(0.5)
    np.testing.assert_allclose(float(result.grad["x"]), 2 * e * e + e * 0.5 + e, rtol=1e-15)


def test_fan_out_of_arrays_and_updates_do_not_alias():
    # The same array accumulates from several consumers; no contribution may be modified in place.
    result = adcli.parse("a = v * 1\nb = a + a\nc = sum(b * a + a)").grad(v=[1.0, 2.0])
    np.testing.assert_array_equal(result.grad["v"], [4 * 1.0 + 1, 4 * 2.0 + 1])


# ---------------------------------------------------------------------------------------------
# Broadcasting: gradients summed back to each operand's shape
# ---------------------------------------------------------------------------------------------

C = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_vector_plus_scalar():
    result = adcli.parse("y = sum((v + s) * [1, 2, 3])").grad(v=[0.0, 0.0, 0.0], s=1.0)
    np.testing.assert_array_equal(result.grad["v"], [1.0, 2.0, 3.0])
    assert result.grad["s"] == 6.0 and isinstance(result.grad["s"], float)  # a scalar input's gradient is a float


def test_matrix_plus_row():
    result = adcli.parse("y = sum((M + r) * C)").grad(M=np.zeros((2, 3)), r=[1.0, 1.0, 1.0], C=C)
    assert result.grad["r"].shape == (3,)
    np.testing.assert_array_equal(result.grad["r"], C.sum(axis=0))
    np.testing.assert_array_equal(result.grad["M"], C)


def test_matrix_plus_column():
    result = adcli.parse("y = sum((M + c) * C)").grad(M=np.zeros((2, 3)), c=[[1.0], [1.0]], C=C)
    assert result.grad["c"].shape == (2, 1)
    np.testing.assert_array_equal(result.grad["c"], C.sum(axis=1, keepdims=True))


def test_column_times_row_and_scalar_times_matrix():
    c, r = np.array([[1.0], [2.0]]), np.array([[3.0, 4.0, 5.0]])
    result = adcli.parse("y = sum(c * r * C)").grad(c=c, r=r, C=C)
    np.testing.assert_array_equal(result.grad["c"], (r * C).sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(result.grad["r"], (c * C).sum(axis=0, keepdims=True))
    result = adcli.parse("y = sum((s @ C) * C)").grad(s=2.0, C=C)
    assert float(result.grad["s"]) == float((C * C).sum())


# ---------------------------------------------------------------------------------------------
# Which gradients: every input, its own shape, --of and --wrt
# ---------------------------------------------------------------------------------------------

def test_every_input_gets_a_gradient_of_its_own_shape():
    program = adcli.parse("input unused: [2, 2]\nside = q * 3\ny = sum(a * 2)\n")
    result = program.grad(unused=np.ones((2, 2)), q=[1.0, 2.0, 3.0], a=[1.0, 2.0])
    assert list(result.grad) == ["unused", "q", "a"]
    assert result.grad["unused"].shape == (2, 2) and not result.grad["unused"].any()
    assert result.grad["q"].shape == (3,) and not result.grad["q"].any()
    np.testing.assert_array_equal(result.grad["a"], [2.0, 2.0])
    for g in result.grad.values():
        assert isinstance(g, np.ndarray) and g.dtype == np.float64


def test_output_that_is_an_input_or_a_constant():
    assert floats(adcli.parse("y = x").grad(x=4.0).grad) == {"x": 1.0}
    result = adcli.parse("y = x\nz = 5").grad(x=4.0)
    assert (result.output, float(result.value), floats(result.grad)) == ("z", 5.0, {"x": 0.0})


def test_of_chooses_the_output():
    program = adcli.load(str(SAMPLES / "product.ad"))
    result = program.grad(of="u", x=17)
    assert (result.output, float(result.value), floats(result.grad)) == ("u", 18.0, {"x": 1.0})
    with pytest.raises(InputError, match="--of v: the file has no value named 'v'"):
        program.grad(of="v", x=17)
    with pytest.raises(InputError, match="did you mean 'u'"):
        program.grad(of="uu", x=17)


def test_wrt_chooses_the_inputs():
    program = adcli.load(str(SAMPLES / "relu.ad"))
    assert floats(program.grad(wrt=["b", "W"], W=2, x=3, b=1).grad) == {"W": 3.0, "b": 1.0}  # input order
    assert floats(program.grad(wrt="x", W=2, x=3, b=1).grad) == {"x": 2.0}
    assert floats(program.grad(wrt=["x", "x"], W=2, x=3, b=1).grad) == {"x": 2.0}
    with pytest.raises(InputError, match=r"--wrt H: 'H' is not an input of this file \(the inputs it can differentiate are W, x, b\)"):
        program.grad(wrt=["H"], W=2, x=3, b=1)
    with pytest.raises(InputError, match="did you mean 'b'"):
        program.grad(wrt=["bb"], W=2, x=3, b=1)


def test_non_scalar_output_is_refused_with_advice():
    with pytest.raises(ShapeError) as info:
        adcli.parse("y = x * 2", "f.ad").grad(x=[1.0, 2.0])
    assert info.value.message == ("grad needs a scalar output, but 'y' has shape [2]; "
                                  "reduce it first, for example sum(y) or mean(y)")
    assert (info.value.span.line, info.value.span.col) == (1, 7)
    # One element in any shape is a scalar output.
    result = adcli.parse("y = x * 2").grad(x=[[3.0]])
    assert result.value.tolist() == [[6.0]] and result.grad["x"].tolist() == [[2.0]]


def test_missing_and_unknown_inputs():
    program = adcli.load(str(SAMPLES / "relu.ad"))
    with pytest.raises(InputError, match="no value given for input 'b'"):
        program.grad(W=2, x=3)
    with pytest.raises(InputError, match="'c' is not an input of this file"):
        program.grad(W=2, x=3, b=1, c=4)


# ---------------------------------------------------------------------------------------------
# Models: against finite differences, hand-written numpy gradients, and forward mode
# ---------------------------------------------------------------------------------------------

MLP = """
input X: [n, d]
input Y: [n, k]
H = relu(X @ W1 + b1)
P = H @ W2 + b2
loss = mean((P - Y)**2)
"""


def mlp_point(seed=0):
    rng = np.random.default_rng(seed)
    return {"X": rng.normal(size=(5, 3)), "Y": rng.normal(size=(5, 2)), "W1": rng.normal(size=(3, 4)),
            "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=2)}


def mlp_by_hand(X, Y, W1, b1, W2, b2):
    Z = X @ W1 + b1
    H = np.maximum(Z, 0)
    P = H @ W2 + b2
    dP = 2 * (P - Y) / P.size
    dH = dP @ W2.T
    dZ = dH * (Z > 0)
    return {"X": dZ @ W1.T, "Y": -dP, "W1": X.T @ dZ, "b1": dZ.sum(0), "W2": H.T @ dP, "b2": dP.sum(0)}


def test_mlp_against_numpy_by_hand_and_finite_differences():
    program, point = adcli.parse(MLP), mlp_point()
    result = program.grad(**point)
    assert list(result.grad) == ["X", "Y", "W1", "b1", "W2", "b2"]
    for name, want in mlp_by_hand(**point).items():
        np.testing.assert_allclose(result.grad[name], want, rtol=1e-12, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(result.grad[name], numeric_grad(program, point, name),
                                   rtol=1e-6, atol=1e-8, err_msg=name)


CROSS_ENTROPY = """
input X: [n, d]
input Y: [n, k]
Z = X @ W + b
loss = mean(logsumexp(Z) - sum(Y * Z, axis=-1))
"""


def test_softmax_cross_entropy_against_numpy_by_hand_and_finite_differences():
    rng = np.random.default_rng(1)
    point = {"X": rng.normal(size=(6, 3)), "Y": np.eye(4)[rng.integers(0, 4, size=6)],
             "W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    program = adcli.parse(CROSS_ENTROPY)
    result = program.grad(**point)
    Z = point["X"] @ point["W"] + point["b"]
    S = np.exp(Z - Z.max(axis=1, keepdims=True))
    S /= S.sum(axis=1, keepdims=True)
    dZ = (S - point["Y"]) / len(Z)
    by_hand = {"X": dZ @ point["W"].T, "Y": -Z / len(Z), "W": point["X"].T @ dZ, "b": dZ.sum(0)}
    loss = np.mean(np.log(np.exp(Z).sum(axis=1)) - (point["Y"] * Z).sum(axis=1))
    np.testing.assert_allclose(float(result.value), loss, rtol=1e-13)
    for name, want in by_hand.items():
        np.testing.assert_allclose(result.grad[name], want, rtol=1e-12, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(result.grad[name], numeric_grad(program, point, name),
                                   rtol=1e-6, atol=1e-8, err_msg=name)
    # The same loss written with softmax directly (∂/∂Y is then -log softmax(Z)/n instead).
    direct = adcli.parse("Z = X @ W + b\nloss = -mean(sum(Y * log(softmax(Z)), axis=1))").grad(**point)
    np.testing.assert_allclose(float(direct.value), loss, rtol=1e-13)
    for name, want in {**by_hand, "Y": -np.log(S) / len(Z)}.items():
        np.testing.assert_allclose(direct.grad[name], want, rtol=1e-10, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("name", ["mlp", "softmax_ce"])
def test_samples_against_finite_differences(name):
    import json
    program = adcli.load(str(SAMPLES / f"{name}.ad"))
    point = json.loads((SAMPLES / f"{name}.json").read_text())
    result = program.grad(**point)
    for input_name in program.inputs:
        np.testing.assert_allclose(result.grad[input_name], numeric_grad(program, point, input_name),
                                   rtol=1e-6, atol=1e-8, err_msg=input_name)


SMOOTH = """
h = tanh(W @ x + b)
g = sigmoid(h * h) / (1 + exp(-h))
s = softmax([h, g, h - g], axis=0)
loss = logsumexp(sum(s, axis=1) * 3) + mean(sqrt(x * x + 1)) + sum(sin(h) * cos(g)) - max(h) + min(g) \\
       + sum(abs(h - 0.05)) + sum(log(1 + g ** 2)) + sum(tan(h / 2)) + sum(relu(h)) + sum(h.T)
"""


def test_reverse_agrees_with_forward_mode_on_every_direction():
    """⟨∇f, v⟩ from backward equals the forward-mode tangent, for random directions v."""
    program = adcli.parse(SMOOTH)
    rng = np.random.default_rng(3)
    point = {"W": rng.normal(size=(4, 3)), "x": rng.normal(size=3), "b": rng.normal(size=4)}
    result = program.grad(**point)
    for _ in range(5):
        v = {name: rng.normal(size=np.shape(point[name])) for name in point}
        reverse = sum(float(np.sum(result.grad[name] * v[name])) for name in point)
        forward = float(graph_jvp(program, point, v))
        assert abs(reverse - forward) <= 1e-12 * max(abs(forward), 1.0), (reverse, forward)
    for name in point:
        np.testing.assert_allclose(result.grad[name], numeric_grad(program, point, name),
                                   rtol=1e-6, atol=1e-8, err_msg=name)


def test_returned_gradients_are_writable_and_never_shared():
    from adcli.engine.evaluate import bind_inputs, evaluate
    from adcli.engine.reverse import backward
    program = adcli.parse("z = sum(a + b)")  # add passes ḡ on unchanged to both operands
    result = program.grad(a=np.ones(3), b=np.ones(3))
    ga, gb = result.grad["a"], result.grad["b"]
    assert ga is not gb and not np.shares_memory(ga, gb)
    assert ga.flags.writeable and gb.flags.writeable
    ga[0] = 5.0
    assert gb.tolist() == [1.0, 1.0, 1.0]
    graph = adcli.parse("z = a + b").graph
    values = evaluate(graph, bind_inputs(graph, {"a": np.ones(2), "b": np.ones(2)}))
    seed = np.array([1.0, 2.0])
    grads = backward(graph, values, graph.output, graph.inputs, seed=seed)
    assert all(g is not seed for g in grads.values())
    seed[0] = 7.0  # the caller reuses its seed; the gradients must not change
    assert [g.tolist() for g in grads.values()] == [[1.0, 2.0], [1.0, 2.0]]


def test_scalar_fast_path_gives_the_general_engines_bits():
    from adcli.engine.evaluate import bind_inputs, evaluate
    from adcli.engine.reverse import backward
    source = ("u = sin(x) * exp(y) / (1 + x**2)\nv = tanh(u) - sigmoid(x * y) + relu(u) + abs(y)\n"
              "w = max(u, v) + min(x, 0.5) + sqrt(x) * log(y) + tan(x) @ y\nz = w * w - u / v")
    program = adcli.parse(source)
    for x, y in ((0.3, 1.7), (1.1, 0.4), (2.5, 3.0)):
        fast = program.grad(x=x, y=y)
        graph = program.graph
        values = evaluate(graph, bind_inputs(graph, {"x": x, "y": y}))
        slow = backward(graph, values, graph.output, graph.inputs)
        assert float(fast.value) == float(values[graph.output])
        assert [float(g) for g in fast.grad.values()] == [float(slow[i]) for i in graph.inputs]
