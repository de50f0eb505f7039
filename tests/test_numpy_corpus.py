"""The numpy corpus: programs written from numpy habit, each checked against an independent PyTorch reference.

Every tests/numpy_corpus/NAME.ad translates a well-known public example (a tutorial's model, a textbook
formula) the way a numpy user writes it: np., scipy.special. and jnp. prefixes, methods and attributes,
augmented and tuple assignment, conditional expressions. references.py gives each program's input values,
its output and a PyTorch float64 version written from the mathematics; adcli's value and every gradient
must agree with PyTorch's autograd to rtol 1e-10 and atol 1e-12. Skipped where PyTorch is missing (a
failure under ADCLI_REQUIRE_PEERS=1, as conftest.py arranges).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adcli

torch = pytest.importorskip("torch", reason="the numpy corpus's references are PyTorch programs (pip install torch)")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "numpy_corpus"
RTOL, ATOL = 1e-10, 1e-12


def load_references() -> dict:
    """references.py's CASES: the corpus folder is not a package, so it is loaded from its path."""
    spec = importlib.util.spec_from_file_location("numpy_corpus_references", CORPUS / "references.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


REFERENCES = load_references()
PROGRAMS = sorted(path.stem for path in CORPUS.glob("*.ad"))


def as_array(value) -> np.ndarray:
    """A reference's value as adcli takes it: integers stay integers (labels), everything else float64."""
    array = np.asarray(value)
    return array if array.dtype.kind in "iu" else array.astype(np.float64)


def pytorch_result(case) -> tuple[float, dict[str, np.ndarray]]:
    """The reference's value and, by torch.autograd, its gradient with respect to every non-data input."""
    tensors = {}
    for name, value in case.inputs.items():
        array = as_array(value)
        differentiable = array.dtype.kind == "f" and name not in case.data
        tensors[name] = torch.tensor(array, requires_grad=differentiable)
    out = case.reference(**tensors)
    wrt = [name for name, tensor in tensors.items() if tensor.requires_grad]
    grads = torch.autograd.grad(out, [tensors[name] for name in wrt], allow_unused=True)
    # an input the output does not reach has gradient 0, as adcli reports it
    return out.item(), {name: np.zeros(tensors[name].shape) if g is None else g.detach().numpy()
                        for name, g in zip(wrt, grads)}


def assert_agrees(what: str, actual, expected, rtol=None) -> None:
    assert np.shape(actual) == np.shape(expected), f"{what}: shape {np.shape(actual)}, PyTorch's {np.shape(expected)}"
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol or RTOL, atol=ATOL,
                               err_msg=f"{what} differs from PyTorch's")


def assert_matches_reference(name: str, value, grad: dict) -> None:
    """adcli's value and gradients against the reference's, input by input."""
    expected_value, expected_grad = pytorch_result(REFERENCES[name])
    rtol = REFERENCES[name].rtol
    assert_agrees(f"{name}: the value", value, expected_value, rtol)
    assert sorted(grad) == sorted(expected_grad), \
        f"{name}: adcli differentiates {sorted(grad)}, the reference {sorted(expected_grad)} (input vs data?)"
    for input_name, expected in expected_grad.items():
        assert_agrees(f"{name}: the gradient with respect to {input_name}", grad[input_name], expected, rtol)


@pytest.mark.parametrize("name", sorted(set(PROGRAMS) | set(REFERENCES)))
def test_program_agrees_with_pytorch(name):
    """The program's value and gradients, through the Python API, equal PyTorch's."""
    assert name in PROGRAMS, f"references.py has a reference for {name}, but there is no numpy_corpus/{name}.ad"
    assert name in REFERENCES, f"numpy_corpus/{name}.ad has no reference in numpy_corpus/references.py"
    case = REFERENCES[name]
    program = adcli.load(str(CORPUS / f"{name}.ad"))
    result = program.grad(of=case.output, **{k: as_array(v) for k, v in case.inputs.items()})
    assert_matches_reference(name, result.value, result.grad)


@pytest.mark.parametrize("name", ["black_scholes", "spring_chain", "dirichlet_kl", "min_char_rnn"])
def test_command_line_agrees_with_pytorch(name, tmp_path):
    """The same through `python -m adcli grad FILE --set ... --json`, in a process of its own."""
    case = REFERENCES[name]
    settings = [f"{k}={json.dumps(as_array(v).tolist())}" for k, v in case.inputs.items()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADCLI_")}
    env["XDG_CACHE_HOME"] = str(tmp_path)          # the program cache goes to a folder of the test's own
    done = subprocess.run([sys.executable, "-m", "adcli", "grad", str(CORPUS / f"{name}.ad"), "--of", case.output,
                           "--json", "--set", *settings],
                          capture_output=True, text=True, encoding="utf-8", env=env, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["output"] == case.output
    assert_matches_reference(name, result["value"], {k: np.asarray(v) for k, v in result["grad"].items()})


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_is_a_small_commented_translation(name):
    """Each file opens with a comment naming what it translates, and stays small: 5-30 lines, axes of 6 or less."""
    lines = (CORPUS / f"{name}.ad").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# "), f"{name}.ad: the first line should say, in a comment, what it translates"
    assert 5 <= len(lines) <= 30, f"{name}.ad has {len(lines)} lines"
    if name in REFERENCES:
        sizes = {k: np.shape(v) for k, v in REFERENCES[name].inputs.items()}
        assert all(n <= 6 for shape in sizes.values() for n in shape), f"{name}: input shapes {sizes}"
