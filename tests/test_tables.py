"""`grad` and `eval` off a terminal print without Rich (adcli.explain.tables): the bytes must be Rich's, for
every layout the plain renderer takes on, and Rich must take over wherever it declines."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adcli.cli.app import expand_multi_values
from adcli.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
runner = CliRunner()


def both(args: list[str], columns: int) -> tuple[str, str]:
    """stdout by the plain renderer, and by Rich (TTY_COMPATIBLE=0: Rich's own switch for 'no terminal')."""
    args = expand_multi_values(args)
    plain = runner.invoke(app, args, env={"COLUMNS": str(columns)})
    rich = runner.invoke(app, args, env={"COLUMNS": str(columns), "TTY_COMPATIBLE": "0"})
    assert plain.exit_code == rich.exit_code == 0, (plain.output, rich.output)
    return plain.stdout, rich.stdout


def sample_args(name: str) -> list[str]:
    data = SAMPLES / f"{name}.json"
    if data.exists():
        return [str(SAMPLES / f"{name}.ad"), "--inputs", str(data)]
    given = {"product": ["x=17"], "relu": ["W=2", "x=3", "b=1"],
             "black_scholes": ["S=100", "K=95", "T=0.5", "r=0.02", "sigma=0.25"]}[name]
    return [str(SAMPLES / f"{name}.ad"), "--set", *given]


@pytest.mark.parametrize("columns", [40, 80, 132])
@pytest.mark.parametrize("name", sorted(p.stem for p in SAMPLES.glob("*.ad")))
def test_samples_print_rich_bytes(name, columns):
    for command in (["grad"], ["eval"], ["grad", "--full"], ["eval", "--full"]):
        plain, rich = both(command + sample_args(name), columns)
        assert plain == rich, f"{command} {name} at {columns} columns"


def program(tmp_path, text: str) -> str:
    path = tmp_path / "p.ad"
    path.write_text(text)
    return str(path)


VALUES = [
    np.array(3.0), np.array(-0.0), np.array(-4.0), np.array([np.inf, -np.inf, 1e300, -1e-300]),
    np.zeros(0), np.zeros((0, 3)), np.arange(12.0).reshape(3, 4) / 7, np.arange(2000.0) ** 1.5,
    np.linspace(-1, 1, 24).reshape(2, 3, 4), np.full((4, 9), 123456.789), np.array([[1e-9, 2.5e12]]),
]


@pytest.mark.parametrize("columns", [30, 50, 80, 100])
@pytest.mark.parametrize("k", range(len(VALUES)))
def test_arrays_of_every_kind(tmp_path, k, columns):
    value = VALUES[k]
    data = tmp_path / "v.npz"  # infinities as they are; sqrt makes NaN of the negative ones
    np.savez(data, x=value, a_rather_long_input_name_for_a_column=np.array(2.0))
    src = program(tmp_path, "y = x * a_rather_long_input_name_for_a_column\nv = sqrt(x)\nz = sum(y) + 1\nz = z * 2\n")
    for command in ("grad", "eval"):
        for extra in ([], ["--full"]):
            plain, rich = both([command, src, "--inputs", str(data), *extra], columns)
            assert plain == rich, (command, extra, columns, value.shape)


@pytest.mark.parametrize("columns", [40, 80])
def test_no_inputs_batches_and_loops(tmp_path, columns):
    cases = [
        (["grad", program(tmp_path, "y = 3\n")], {}),
        (["eval", program(tmp_path, "y = 3\n")], {}),
        (["grad", str(SAMPLES / "relu.ad"), "--set", "W=[1, 2, -3]", "x=[3, 3, 3]", "b=1", "--batch", "W",
          "--batch", "x"], {}),
        (["eval", str(SAMPLES / "product.ad"), "--set", "x=[1, 2, 17]", "--batch", "x"], {}),
        (["eval", str(SAMPLES / "rnn.ad"), "--inputs", str(SAMPLES / "rnn.json")], {}),
        (["grad", str(SAMPLES / "product.ad"), "--set", "x=17", "--of", "u"], {}),
    ]
    for args, _ in cases:
        plain, rich = both(args, columns)
        assert plain == rich, args


def test_rich_is_not_loaded_off_a_terminal():
    code = ("import sys; sys.argv = ['adcli', 'grad', 'samples/relu.ad', '--set', 'W=2', 'x=3', 'b=1']\n"
            "from adcli.cli.main import main\ntry: main()\nexcept SystemExit: pass\n"
            "print('rich' in sys.modules, file=sys.stderr)")
    import subprocess
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={"PATH": "", "COLUMNS": "80", "PYTHONIOENCODING": "utf-8"})
    assert done.stdout.startswith("H = 7\n") and done.stderr.strip().endswith("False")


def test_what_the_plain_renderer_declines():
    from adcli.explain.tables import table_text
    assert table_text(["a", "b"], [["x" * 50, "y" * 50]], 80) is None  # too wide: Rich would shrink it
    assert table_text(["name"], [["漢字"]], 80) is None  # two cells a character
    assert table_text(["name"], [["e\u0301"]], 80) is None  # a combining accent
    assert table_text(["name", "value"], [["x", "1"]], 80) == "name   value\n────────────\nx      1"
