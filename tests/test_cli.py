"""The command line through typer's CliRunner: every form of --set, output, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from adcli import __version__
from adcli.cli.main import app

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RELU = str(SAMPLES / "relu.ad")
PRODUCT = str(SAMPLES / "product.ad")
RELU_JSON = '{"output": "H", "value": 7.0, "grad": {"W": 3.0, "x": 2.0, "b": 1.0}}\n'


def run(*args, input=None, code=0):
    """Invoke adcli; check the exit code, that no exception escaped, and that no traceback shows."""
    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return result


def grad_json(stdout: str) -> dict:
    """The one JSON object `grad --json` prints: exactly output, value and grad."""
    assert stdout.endswith("}\n") and stdout.count("\n") == 1, stdout
    obj = json.loads(stdout)
    assert list(obj) == ["output", "value", "grad"], list(obj)
    return obj


def table_rows(stdout: str) -> dict:
    """The rows of a human grad table: name -> the cells after it."""
    rows = {}
    for line in stdout.splitlines()[1:]:
        cells = line.split()
        if cells and cells[0].isidentifier():
            rows[cells[0]] = cells[1:]
    return rows


def write(tmp_path, source: str, name: str = "f.ad") -> str:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------------------------------------
# grad: the lecture's examples, every form of --set
# ---------------------------------------------------------------------------------------------

def test_grad_relu_human_output():
    result = run("grad", RELU, "--set", "W=2", "x=3", "b=1")
    assert result.stdout.splitlines()[0] == "H = 7"
    assert "∂H/∂input" in result.stdout
    rows = table_rows(result.stdout)
    assert rows == {"input": rows["input"], "W": ["scalar", "3"], "x": ["scalar", "2"], "b": ["scalar", "1"]}
    assert list(rows)[1:] == ["W", "x", "b"]
    assert "\x1b[" not in result.stdout  # no colour codes when stdout is not a terminal
    assert result.stderr == ""


def test_grad_product():
    result = run("grad", PRODUCT, "--set", "x=17")
    assert result.stdout.splitlines()[0] == "y = 306"
    assert table_rows(result.stdout)["x"] == ["scalar", "35"]


@pytest.mark.parametrize("args", [
    ["grad", RELU, "--set", "W=2", "x=3", "b=1"],
    ["grad", RELU, "--set", "W=2", "--set", "x=3", "--set", "b=1"],
    ["grad", RELU, "-s", "W=2", "x=3", "b=1"],
    ["grad", RELU, "-s", "W=2", "-s", "x=3", "-s", "b=1"],
    ["grad", RELU, "--set=W=2", "--set=x=3", "--set=b=1"],
    ["grad", RELU, "--set=W=2", "x=3", "b=1"],
    ["grad", RELU, "--set", "W=2", "x=3", "--set", "b=1"],
    ["grad", "--set", "W=2", "x=3", "b=1", RELU],
    ["grad", RELU, "--set", "W=2.0", "x=3e0", "b=1.0"],
])
def test_every_form_of_set(args):
    assert run(*args, "--json").stdout == RELU_JSON


def test_set_and_json_in_any_order():
    assert run("grad", RELU, "--json", "--set", "W=2", "x=3", "b=1").stdout == RELU_JSON
    assert run("grad", RELU, "--set", "W=2", "x=3", "b=1", "--json").stdout == RELU_JSON


def test_negative_values():
    result = run("grad", RELU, "--set", "W=-2", "x=3", "b=-1", "--json")
    assert grad_json(result.stdout) == {"output": "H", "value": 0.0, "grad": {"W": 0.0, "x": 0.0, "b": 0.0}}


def test_inputs_json(tmp_path):
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"W": 2, "x": 3, "b": 1}))
    assert run("grad", RELU, "--inputs", values, "--json").stdout == RELU_JSON
    # --set wins over --inputs for a name given in both.
    result = run("grad", RELU, "--inputs", values, "--set", "b=-100", "--json")
    assert grad_json(result.stdout)["value"] == 0.0


def test_inputs_npz(tmp_path):
    values = tmp_path / "values.npz"
    np.savez(values, W=np.float64(2), x=np.array(3), b=np.float32(1))
    assert run("grad", RELU, "--inputs", values, "--json").stdout == RELU_JSON


def test_json_is_exactly_one_object():
    result = run("grad", RELU, "--set", "W=2", "x=3", "b=1", "--json")
    assert result.stdout == RELU_JSON
    assert grad_json(result.stdout) == {"output": "H", "value": 7.0, "grad": {"W": 3.0, "x": 2.0, "b": 1.0}}
    assert result.stderr == ""


def test_json_arrays_are_nested_lists(tmp_path):
    path = write(tmp_path, "input W: [c, d]\ninput x: [d]\ny = sum(W @ x)\n")
    result = run("grad", path, "--set", "W=[[1, 2], [3, 4]]", "x=[5, 6]", "--json")
    assert grad_json(result.stdout) == {"output": "y", "value": 56.0,
                                         "grad": {"W": [[5.0, 6.0], [5.0, 6.0]], "x": [4.0, 6.0]}}
    human = run("grad", path, "--set", "W=[[1, 2], [3, 4]]", "x=[5, 6]").stdout
    assert table_rows(human)["x"] == ["[2]", "[4,", "6]"]


@pytest.mark.parametrize("source, x, value, grad", [
    ("y = log(x)", "0", "-Infinity", "Infinity"),
    ("y = 1 / x", "0", "Infinity", "-Infinity"),
    ("y = log(x)", "-1", "NaN", -1.0),
    ("y = sqrt(x)", "0", 0.0, "Infinity"),
])
def test_json_non_finite_values_are_strings(tmp_path, source, x, value, grad):
    result = run("grad", write(tmp_path, source + "\n"), "--set", f"x={x}", "--json")
    out = grad_json(result.stdout)
    assert out["output"] == "y" and out["value"] == value and out["grad"] == {"x": grad}
    assert "NaN" not in result.stdout.replace('"NaN"', "")  # never a bare NaN token
    assert "Infinity" not in result.stdout.replace('"Infinity"', "").replace('"-Infinity"', "")


def test_of_and_wrt():
    result = run("grad", PRODUCT, "--set", "x=17", "--of", "u", "--json")
    assert grad_json(result.stdout) == {"output": "u", "value": 18.0, "grad": {"x": 1.0}}
    result = run("grad", RELU, "--set", "W=2", "x=3", "b=1", "--wrt", "b", "--wrt", "W", "--json")
    assert grad_json(result.stdout)["grad"] == {"W": 3.0, "b": 1.0}


def test_stdin_as_file():
    result = run("grad", "-", "--set", "x=3", "--json", input="y = x * x\n")
    assert grad_json(result.stdout) == {"output": "y", "value": 9.0, "grad": {"x": 6.0}}
    result = run("eval", "-", "--set", "x=3", input="y = x * x\n")
    assert table_rows(result.stdout)["y"] == ["scalar", "9"]
    result = run("grad", "-", input="y = (x\n", code=2)
    assert result.stderr.startswith("<stdin>:1:5: error: '(' is never closed")


# ---------------------------------------------------------------------------------------------
# eval, --version, --help
# ---------------------------------------------------------------------------------------------

def test_eval():
    result = run("eval", PRODUCT, "--set", "x=17")
    assert table_rows(result.stdout) == {"u": ["scalar", "18"], "y": ["scalar", "306"]}
    assert run("eval", PRODUCT, "--set", "x=17", "--json").stdout == '{"values": {"u": 18.0, "y": 306.0}}\n'
    assert run("eval", PRODUCT, "-s", "x=17", "--of", "u", "--json").stdout == '{"values": {"u": 18.0}}\n'


def test_eval_json_versions_and_arrays(tmp_path):
    path = write(tmp_path, "h = x * 2\nh = h + [1, 2]\n")
    result = run("eval", path, "--set", "x=3", "--json")
    assert json.loads(result.stdout) == {"values": {"h": 6.0, "h'": [7.0, 8.0]}}


def test_version():
    assert run("--version").stdout == f"adcli {__version__}\n"


def commands():
    return sorted(typer.main.get_command(app).commands)


def test_top_level_help():
    result = run("--help")
    for name in ("grad", "eval"):
        assert name in result.stdout


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_with_an_example(command):
    result = run(command, "--help")
    assert "Example" in result.stdout
    assert f"adcli {command} " in " ".join(result.stdout.split())  # help text is wrapped


# ---------------------------------------------------------------------------------------------
# Errors: exit code 2, FILE:LINE:COL, the source line and a caret, never a traceback
# ---------------------------------------------------------------------------------------------

def error(tmp_path, source, *args, command="grad"):
    path = write(tmp_path, source)
    result = run(command, path, *args, code=2)
    assert result.stdout == ""
    return result.stderr.replace(path, "FILE")


def test_syntax_error(tmp_path):
    assert error(tmp_path, "a = 1\ny = 2 +\n") == (
        "FILE:2:8: error: unexpected end of line; expected an expression\n"
        "y = 2 +\n"
        "       ^\n")


def test_unknown_function_with_did_you_mean(tmp_path):
    assert error(tmp_path, "y = sigmod(x)\n", "--set", "x=1") == (
        "FILE:1:5: error: unknown function 'sigmod'; did you mean 'sigmoid'? ('adcli functions' lists every "
        "function)\n"
        "y = sigmod(x)\n"
        "    ^\n")


def test_shape_mismatch(tmp_path):
    assert error(tmp_path, "# sizes differ\ny = sum(a + b)\n", "--set", "a=[1, 2]", "b=[1, 2, 3]") == (
        "FILE:2:11: error: operands of '+' have shapes [2] and [3], which do not broadcast together\n"
        "y = sum(a + b)\n"
        "          ^\n")
    assert error(tmp_path, "y = sum(W @ x)\n", "--set", "W=[[1, 2, 3]]", "x=[1, 2]").startswith(
        "FILE:1:11: error: '@' cannot multiply shapes [1, 3] and [2]")


def test_missing_input():
    result = run("grad", RELU, "--set", "W=2", "x=3", code=2)
    assert result.stderr == (f"{RELU}:2:18: error: no value given for input 'b'\n"
                             "H = relu(W @ x + b)\n"
                             "                 ^\n")


def test_bad_value():
    result = run("grad", RELU, "--set", "W=2", "x=[1,", "b=1", code=2)
    assert result.stderr == "adcli: error: --set x: '[' is never closed (expected ']')\n"
    result = run("grad", RELU, "--set", "W=2", "x=true", "b=1", code=2)
    assert result.stderr.startswith("adcli: error: --set x: true is not a number")
    result = run("grad", RELU, "--set", "W=2", "x=NaN", "b=1", code=2)
    assert result.stderr == ("adcli: error: --set x: NaN is not allowed; give numbers (inf, as the language writes "
                             "it, for an infinity)\n")
    result = run("grad", RELU, "--set", "W", code=2)
    assert result.stderr.startswith("adcli: error: --set 'W': expected NAME=VALUE")


def test_unknown_set_name():
    result = run("grad", RELU, "--set", "W=2", "x=3", "b=1", "c=4", code=2)
    assert result.stderr == "adcli: error: 'c' is not an input of this file (its inputs are W, x, b)\n"
    result = run("grad", RELU, "--set", "W=2", "x=3", "bb=1", code=2)
    assert result.stderr == "adcli: error: 'bb' is not an input of this file; did you mean 'b'?\n"


def test_declared_shape_mismatch(tmp_path):
    assert error(tmp_path, "input W: [c, d]\ninput x: [d]\ny = sum(W @ x)\n",
                 "--set", "W=[[1, 2, 3]]", "x=[1, 2]") == (
        "FILE:2:7: error: dimension 'd' is 3 in input 'W' but 2 in input 'x'\n"
        "input x: [d]\n"
        "      ^\n")


def test_non_scalar_output(tmp_path):
    assert error(tmp_path, "y = x * 2\n", "--set", "x=[1, 2]") == (
        "FILE:1:7: error: grad needs a scalar output, but 'y' has shape [2]; "
        "reduce it first, for example sum(y) or mean(y)\n"
        "y = x * 2\n"
        "      ^\n")


def test_unknown_of_and_wrt():
    result = run("grad", PRODUCT, "--set", "x=17", "--of", "uu", code=2)
    assert result.stderr == "adcli: error: --of uu: the file has no value named 'uu'; did you mean 'u'?\n"
    result = run("grad", PRODUCT, "--set", "x=17", "--wrt", "u", code=2)
    assert result.stderr == "adcli: error: --wrt u: 'u' is not an input of this file (the inputs it can differentiate are x)\n"


def test_file_errors(tmp_path):
    result = run("grad", tmp_path / "missing.ad", code=2)
    assert result.stderr == f"adcli: error: {tmp_path / 'missing.ad'}: no such file\n"
    result = run("eval", tmp_path, code=2)
    assert result.stderr == f"adcli: error: {tmp_path}: is a directory, not a .ad file\n"
    (tmp_path / "latin.ad").write_bytes(b"y = 1 # caf\xe9\n")
    result = run("eval", tmp_path / "latin.ad", code=2)
    assert result.stderr.startswith(f"{tmp_path / 'latin.ad'}:1:12: error: the file is not valid UTF-8 (byte 0xe9)")
    result = run("grad", RELU, "--inputs", tmp_path / "missing.json", code=2)
    assert result.stderr == f"adcli: error: --inputs {tmp_path / 'missing.json'}: no such file\n"


def test_usage_errors_exit_2():
    assert run("grad", RELU, "--bogus", code=2).stdout == ""
    run("grad", code=2)
    run("nonsense", code=2)


def test_error_caret_under_a_tab(tmp_path):
    assert error(tmp_path, "y =\tx $ 2\n", command="eval") == (
        "FILE:1:7: error: unexpected character '$'\n"
        "y =\tx $ 2\n"
        "   \t  ^\n")


def test_eval_errors_exit_2(tmp_path):
    assert error(tmp_path, "y = relux(x)\n", command="eval").startswith(
        "FILE:1:5: error: unknown function 'relux'; did you mean 'relu'?")


def test_help_lists_every_command_whole_and_keeps_examples_on_one_line():
    """Descriptions are not cut off with "...", and an example is never wrapped mid-command at 80 columns."""
    runner = CliRunner()
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}, terminal_width=80)
    commands = result.stdout.split("Commands:")[1]
    assert result.exit_code == 0 and "..." not in commands
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert name in result.stdout
        text = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"}, terminal_width=80).stdout
        examples = [line.strip() for line in text.splitlines() if line.strip().startswith("Example:")]
        assert examples, (name, text)
        for example in examples:
            assert example.startswith(f"Example: adcli {name}"), (name, text)
            assert example in [line.strip() for line in (command.help or "").splitlines()], (name, example)


def test_version_and_completion_options():
    runner = CliRunner()
    assert runner.invoke(app, ["-V"]).stdout.startswith("adcli ")
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout
