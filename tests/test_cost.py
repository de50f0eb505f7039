"""adcli.engine.cost and `adcli cost`: operation counts, flops, memory of each pass, the Jacobian's mode."""

import json

import numpy as np
import op_cases  # noqa: E402
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app
from adcli.engine.cost import program_cost
from adcli.errors import InputError, ShapeError
from adcli.operations import OPS

runner = CliRunner()

MLP = """\
input X: [n, d]
input W1: [d, h]
input b1: [h]
input W2: [h, k]
input b2: [k]
L = sum((relu(X @ W1 + b1) @ W2 + b2) ** 2)
"""
ISSUE_DIMS = {"n": 256, "d": 784, "h": 1024, "k": 10}


# ---- the rule table covers the registry, and says truly what each derivative reads -----------

def test_every_registry_operation_has_cost_rules():
    for op in OPS.values():
        assert callable(op.flops) and callable(op.deriv_flops), op.name


@pytest.mark.parametrize("name", sorted(set(OPS) - op_cases.NO_DERIVATIVE))
def test_reads_lists_every_forward_value_a_vjp_uses(name):
    # Replace each value the table says is not read by NaN: the vector–Jacobian product must not change.
    op = OPS[name]
    for xs, params in op_cases.points(name):
        ans = op.forward(*xs, **params)
        g = np.linspace(0.5, 1.5, np.size(ans)).reshape(np.shape(ans))
        for k in op_cases.floats(xs):
            reads = op.reads_for(k)
            hidden_ans = ans if "ans" in reads else np.full(np.shape(ans), np.nan)
            hidden_xs = [x if j in reads or "*" in reads or x.dtype != np.float64 else np.full(np.shape(x), np.nan)
                         for j, x in enumerate(xs)]
            with np.errstate(all="ignore"):
                expected = op.vjp(k, g, ans, xs, params)
                got = op.vjp(k, g, hidden_ans, hidden_xs, params)
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} operand {k} reads more than {reads}")


# ---- figures worked out by hand ---------------------------------------------------------------

def test_mlp_of_the_issue_shape_arithmetic():
    cost = program_cost(adcli.parse(MLP), {}, dims=ISSUE_DIMS)
    by_op = {name: (count, flops) for name, count, flops in cost.by_op}
    # X@W1: 2·256·784·1024; H@W2: 2·256·1024·10
    assert by_op["matmul"] == (2, 2 * 256 * 784 * 1024 + 2 * 256 * 1024 * 10)
    assert by_op["add"] == (2, 256 * 1024 + 256 * 10)
    assert by_op["relu"] == (1, 256 * 1024)
    assert by_op["sum"] == (1, 2560)
    assert by_op["pow"] == (1, 2560)
    assert cost.operations == 7
    assert cost.forward.flops == 416_284_672 + (262_144 + 2560) + 262_144 + 2560 + 2560
    inputs = (256 * 784 + 784 * 1024 + 1024 + 1024 * 10 + 10) * 8
    assert cost.resident_bytes == inputs + 8  # and the constant 2
    # Kept for the backward pass: relu's result (256×1024, read by relu′ and by the second
    # product's vjp), the square's operand (256×10; its constant exponent needs no derivative,
    # so its result is not read), and the loss.
    assert cost.reverse.kept_bytes == (256 * 1024 + 256 * 10 + 1) * 8
    assert cost.jacobian_rows == 1
    assert cost.jacobian_columns == inputs // 8
    assert cost.jacobian["recommended"] == "reverse"
    assert cost.jacobian["forward"]["passes"] == 1_014_794
    assert cost.jacobian["reverse"]["passes"] == 1


def test_mlp_gradient_with_respect_to_the_weights_reads_no_x_gradient():
    all_inputs = program_cost(adcli.parse(MLP), {}, dims=ISSUE_DIMS)
    weights = program_cost(adcli.parse(MLP), {}, wrt=["W1", "b1", "W2", "b2"], dims=ISSUE_DIMS)
    # dX = dH·W1ᵀ is one 256×1024×784 product fewer.
    assert all_inputs.reverse.flops - weights.reverse.flops == 2 * 256 * 784 * 1024
    assert weights.jacobian_columns == all_inputs.jacobian_columns - 256 * 784


def test_relu_sample_memory_step_by_step():
    # W, x, b scalars: U1 = W·x, U2 = U1 + b, H = relu(U2).
    cost = program_cost(adcli.load("samples/relu.ad"), {"W": 2.0, "x": 3.0, "b": 1.0})
    assert cost.resident_bytes == 24
    assert cost.forward.peak_bytes == 40  # inputs, and two values at once (U2 while computing H)
    assert cost.all_values_bytes == 48
    assert cost.reverse.kept_bytes == 8  # H alone: relu′ reads the result, the product reads inputs
    assert cost.reverse.peak_bytes == 64  # H and the seed, then ∂H/∂U1, ∂H/∂b, ∂H/∂W and ∂H/∂x
    assert (cost.forward.flops, cost.reverse.flops, cost.forward_mode.flops) == (3, 9, 11)
    assert cost.jacobian["forward"] == {"passes": 3, "flops": 33, "peak_bytes": 80}
    assert cost.jacobian["reverse"] == {"passes": 1, "flops": 9, "peak_bytes": 64}


def test_a_value_used_twice_takes_two_contributions():
    source = "input x: [3]\ny = exp(x) * x\nz = sum(y * y)\n"
    cost = program_cost(adcli.parse(source), {})
    assert cost.forward.peak_bytes == 72
    assert cost.reverse.kept_bytes == 56  # exp(x) (read twice), y, z
    # y's accumulator, a second contribution beside it, and their sum in a new array (later sums
    # add into it in place): the peak of 22 elements
    assert cost.reverse.peak_bytes == 176
    assert cost.reverse.flops == 36


def test_vector_output_jacobian_in_either_mode():
    source = "input x: [3]\ny = exp(x) * x\n"
    cost = program_cost(adcli.parse(source), {})
    assert (cost.jacobian_rows, cost.jacobian_columns) == (3, 3)
    assert cost.jacobian["recommended"] == "either"


def test_many_outputs_few_inputs_prefers_forward_mode():
    source = "input a: []\ninput v: [1000]\ny = exp(v * a)\n"
    cost = program_cost(adcli.parse(source), {}, wrt=["a"])
    assert cost.jacobian["recommended"] == "forward"
    assert cost.jacobian["forward"]["passes"] == 1
    assert cost.jacobian["reverse"]["passes"] == 1000


def test_statements_the_output_does_not_need_are_not_counted():
    source = "input x: [10]\nunused = exp(x)\ny = sum(x * x)\n"
    cost = program_cost(adcli.parse(source), {})
    assert cost.operations == 2
    assert [name for name, _, _ in cost.by_op] == ["mul", "sum"]


# ---- shapes: values, declarations, named dimensions, errors -----------------------------------

def test_shapes_from_values_fix_named_dimensions():
    program = adcli.parse(MLP)
    given = {"X": np.zeros((4, 3))}
    cost = program_cost(program, given, dims={"h": 5, "k": 2})
    assert dict(cost.inputs) == {"X": (4, 3), "W1": (3, 5), "b1": (5,), "W2": (5, 2), "b2": (2,)}


def test_unknown_shape_is_an_error_naming_the_input():
    with pytest.raises(InputError, match="the shape of input 'x' is unknown"):
        program_cost(adcli.parse("y = x * 2\n"), {})


def test_unknown_dimension_is_an_error_naming_it():
    with pytest.raises(InputError, match="dimension 'd' of input 'X' is unknown"):
        program_cost(adcli.parse(MLP), {}, dims={"n": 2})


def test_a_dimension_given_twice_must_agree():
    with pytest.raises(InputError, match="--dim n=3: dimension 'n' is 4 in input 'X'"):
        program_cost(adcli.parse(MLP), {"X": np.zeros((4, 2))}, dims={"n": 3})


def test_shapes_that_do_not_fit_are_a_shape_error():
    with pytest.raises(ShapeError, match="cannot multiply shapes"):
        program_cost(adcli.parse("input A: [2, 3]\ninput B: [2, 3]\nC = sum(A @ B)\n"), {})


# ---- the command ------------------------------------------------------------------------------

def test_cli_json_on_the_relu_sample():
    result = runner.invoke(app, ["cost", "samples/relu.ad", "--set", "W=2", "x=3", "b=1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["operations"] == 3
    assert data["forward"] == {"flops": 3, "peak_bytes": 40, "all_values_bytes": 48}
    assert data["reverse"] == {"flops": 9, "kept_bytes": 8, "peak_bytes": 64}
    assert data["jacobian"]["recommended"] == "reverse"
    assert data["jacobian"]["recommendation"].startswith("reverse mode: 1 pass instead of 3")


def test_cli_table_with_named_dimensions(tmp_path):
    path = tmp_path / "mlp.ad"
    path.write_text(MLP)
    args = ["cost", str(path)] + [f"--dim={d}={n}" for d, n in ISSUE_DIMS.items()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "matmul" in result.stdout and "416 M" in result.stdout
    assert "reverse mode" in result.stdout and "1,014,794" in result.stdout


def test_cli_reports_a_missing_shape_with_exit_code_2(tmp_path):
    path = tmp_path / "f.ad"
    path.write_text("y = x * 2\n")
    result = runner.invoke(app, ["cost", str(path)])
    assert result.exit_code == 2
    assert "the shape of input 'x' is unknown" in result.stderr


def test_cli_rejects_a_malformed_dim():
    result = runner.invoke(app, ["cost", "samples/relu.ad", "--dim", "n=big"])
    assert result.exit_code == 2
    assert "expected NAME=SIZE" in result.stderr
