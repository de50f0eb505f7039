"""Hostile shapes: no points, every einsum letter, spaced einsum specs, stacked solve, too many
dimensions, sizes past the limit. Each gives an answer or one positioned error, never an internal one."""

from __future__ import annotations

import string

import numpy as np
import pytest
from typer.testing import CliRunner

import adcli
from adcli.cli.main import app

runner = CliRunner()


def run(tmp_path, source: str, *args, values: dict | None = None):
    """The CLI on `source` (and an .npz of `values`, when given): (exit code, output)."""
    path = tmp_path / "f.ad"
    path.write_text(source)
    extra = []
    if values is not None:
        np.savez(tmp_path / "v.npz", **values)
        extra = ["--inputs", str(tmp_path / "v.npz")]
    result = runner.invoke(app, [args[0], str(path), *extra, *args[1:]])
    return result.exit_code, result.output


def positioned(output: str, line: int, col: int, phrase: str) -> None:
    """One error at line:col naming `phrase`, with the source line and a caret, and no internal error."""
    assert "internal error" not in output and "Traceback" not in output, output
    assert f"f.ad:{line}:{col}: error: " in output, output
    assert phrase in output, output
    assert "^" in output, output


# ---- 1. --batch with no points --------------------------------------------------------------------

@pytest.mark.parametrize("body", ["relu(x)", "abs(x)", "max(x)", "max(x, 0)"])
@pytest.mark.parametrize("command", ["grad", "eval"])
def test_batch_of_no_points_has_empty_results(tmp_path, body, command):
    code, out = run(tmp_path, f"input x: [3]\ny = sum({body})\n", command, "--batch", "x", "--json",
                     values={"x": np.zeros((0, 3))})
    assert code == 0, out
    assert "internal error" not in out and "[]" in out, out


@pytest.mark.parametrize("body", ["relu(x)", "abs(x)", "max(x)"])
def test_batch_api_of_no_points_gives_empty_arrays(body):
    program = adcli.parse(f"input x: [3]\ny = sum({body})\n")
    result = program.batch("x").grad(x=np.zeros((0, 3)))
    assert result.value.shape == (0,)
    assert result.grad["x"].shape == (0, 3)
    assert result.kinked.shape == (0,)
    many = program.batch("x").grad(x=np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]]))
    one = program.grad(x=np.array([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(many.grad["x"][0], one.grad["x"])


# ---- 2. --batch through an einsum that uses every letter -----------------------------------------

def test_batched_einsum_with_every_letter_is_refused_clearly(tmp_path):
    left, right = string.ascii_letters[:26], string.ascii_letters[26:]
    ones = ", ".join(["1"] * 26)
    source = (f"input x: [{ones}]\ninput w: [{ones}]\n"
              f"y = sum(einsum(\"{left},{right}->{left}\", x, w))\n")
    values = {"x": np.ones((2,) + (1,) * 26), "w": np.ones((1,) * 26)}
    for command in ("grad", "eval"):
        code, out = run(tmp_path, source, command, "--batch", "x", values=values)
        assert code == 2, out
        positioned(out, 3, 9, "52 letters")


def test_batched_einsum_with_a_letter_left_matches_each_point(tmp_path):
    program = adcli.parse("input A: [2, 3]\ninput B: [3, 2]\ny = sum(einsum(\"ij,jk->ik\", A, B) ** 2)\n")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(3, 2))
    many = program.batch("A").grad(A=a, B=b)
    for k in range(4):
        np.testing.assert_allclose(many.grad["A"][k], program.grad(A=a[k], B=b).grad["A"])


# ---- 3. einsum specs with spaces ------------------------------------------------------------------

SPACED = "input A: [2, 3]\ninput B: [3, 4]\ny = sum(einsum(\"ij, jk -> ik\", A, B) ** 2)\n"
PLAIN = SPACED.replace("ij, jk -> ik", "ij,jk->ik")


def test_spaced_einsum_spec_differentiates_as_the_plain_one():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    spaced, plain = adcli.parse(SPACED).grad(A=a, B=b), adcli.parse(PLAIN).grad(A=a, B=b)
    for name in ("A", "B"):
        np.testing.assert_allclose(spaced.grad[name], plain.grad[name])
    np.testing.assert_allclose(spaced.grad["A"], 2 * (a @ b) @ b.T)


@pytest.mark.parametrize("command", ["grad", "trace", "check", "jacobian", "hessian", "export", "cost"])
def test_spaced_einsum_spec_works_in_every_command(tmp_path, command):
    args = [] if command in ("export", "cost") else ["--set", "A=[[1, 2, 3], [4, 5, 6]]",
                                                     "B=[[1, 0, 2, 1], [0, 1, 1, 3], [2, 2, 1, 0]]"]
    code, out = run(tmp_path, SPACED, command, *args)
    assert code == 0, out


# ---- 4. solve with a stack of matrices and one vector ---------------------------------------------

@pytest.mark.parametrize("op", ["solve", "solve_triangular"])
@pytest.mark.parametrize("command", ["lint", "graph", "export", "cost"])
def test_stacked_solve_with_one_vector_is_refused_clearly(tmp_path, op, command):
    code, out = run(tmp_path, f"input A: [4, 3, 3]\ninput b: [3]\ny = sum({op}(A, b))\n", command)
    assert code == 2, out
    positioned(out, 3, 9, "broadcast_to(b, [4, 3])")


@pytest.mark.parametrize("op", ["solve", "solve_triangular"])
def test_stacked_solve_with_a_stack_of_vectors_matches_numpy(op):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 3, 3)) + 3 * np.eye(3)
    b = rng.normal(size=(4, 3))
    program = adcli.parse(f"input A: [4, 3, 3]\ninput b: [4, 3]\ny = sum({op}(A, b))\n")
    got = program.grad(A=a, b=b)
    tri = np.tril(a) if op == "solve_triangular" else a
    want = np.linalg.solve(tri, b[..., None])[..., 0].sum()
    np.testing.assert_allclose(got.value, want)
    np.testing.assert_allclose(got.grad["b"], np.linalg.solve(np.swapaxes(tri, -1, -2), np.ones((4, 3, 1)))[..., 0])


# ---- 5. declarations with too many dimensions -----------------------------------------------------

@pytest.mark.parametrize("rank", [33, 40, 64, 70])
@pytest.mark.parametrize("command", ["lint", "graph", "export"])
def test_too_many_dimensions_name_the_limit(tmp_path, rank, command):
    ones = ", ".join(["1"] * rank)
    code, out = run(tmp_path, f"input x: [{ones}]\ny = sum(x * x)\n", command)
    assert code == 2, out
    assert "internal error" not in out and "do not broadcast" not in out, out
    assert "at most 32" in out and f"{rank} dimensions" in out, out


def test_thirty_two_dimensions_still_work(tmp_path):
    ones = ", ".join(["1"] * 32)
    program = adcli.parse(f"input x: [{ones}]\ny = sum(x * x)\n")
    got = program.grad(x=np.full((1,) * 32, 3.0))
    np.testing.assert_allclose(got.grad["x"], np.full((1,) * 32, 6.0))


# ---- 6. shapes that broadcast but are too large ---------------------------------------------------

def test_large_shapes_that_broadcast_are_not_called_mismatched(tmp_path):
    source = "a = zeros([4294967296, 4294967296]) + zeros([4294967296])\ny = sum(a)\n"
    code, out = run(tmp_path, source, "eval")
    assert code == 2, out
    assert "do not broadcast" not in out, out
    positioned(out, 1, 5, "ADCLI_MAX_BYTES")


def test_large_declared_shapes_broadcast_in_lint(tmp_path):
    code, out = run(tmp_path, "input a: [4294967296, 4294967296]\ninput b: [4294967296]\ny = sum(a + b)\n", "lint")
    assert "do not broadcast" not in out and "internal error" not in out, out
    assert code == 0, out


@pytest.mark.parametrize("source", [
    "input v: [one]\nfor t in range(2):\n    v = v[0::2]\ny = sum(broadcast_to(v, shape=[1, 3]))\n",
    "input v: [n]\nw = v[::2]\ny = sum(w @ ones([3, 2]))\n",
])
def test_sizes_derived_from_a_named_dimension_are_not_refused_in_lint(tmp_path, source):
    """v[0::2] of [one] is [ceil(one/2)]: no number the shape rules may refuse, though it is no
    stand-in itself (one = 1 or 3 fits); the values decide, and with them the program runs."""
    code, out = run(tmp_path, source, "lint")
    assert code == 0 and "error" not in out, out


def test_certain_refusals_after_a_named_dimension_stay(tmp_path):
    """A reduction removes the named axis: what follows is numbers only, and refused as before."""
    code, out = run(tmp_path, "input x: [n]\ny = sum(x, axis=0)\nz = sum(y, axis=0)\n", "lint")
    assert code == 2 and "axis 0 is out of range for sum() of shape []" in out, out


def test_broadcast_result_over_the_size_limit_names_it(tmp_path, monkeypatch):
    code, out = run(tmp_path, "input a: [3000, 1]\ninput b: [3000]\ny = sum(a + b)\n", "eval",
                    values={"a": np.zeros((3000, 1)), "b": np.zeros(3000)})
    assert code == 0, out
    monkeypatch.setenv("ADCLI_MAX_BYTES", "1M")
    code, out = run(tmp_path, "input a: [3000, 1]\ninput b: [3000]\ny = sum(a + b)\n", "eval",
                    values={"a": np.zeros((3000, 1)), "b": np.zeros(3000)})
    assert code == 2, out
    positioned(out, 3, 11, "ADCLI_MAX_BYTES")
    assert "[3000, 3000]" in out
