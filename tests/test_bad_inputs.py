"""The bad-input corpus (tests/bad/cases.jsonl): every case exits with its code and exact message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adcli.cli.main import app

CORPUS = Path(__file__).resolve().parent / "bad" / "cases.jsonl"

# Options a command cannot run without; a bad input must be reported whatever else is given.
REQUIRED = {"derivative": ["--wrt", "x"], "jvp": ["--tangent", "x=1"], "hvp": ["--vector", "x=1"],
            "vjp": ["--cotangent", "y=1"]}


def file_commands() -> dict[str, set[str]]:
    """Every command of the app that takes a FILE argument, in registration order, with its options."""
    group = typer.main.get_command(app)
    return {name: {opt for param in command.params for opt in param.opts}
            for name, command in group.commands.items() if any(param.name == "file" for param in command.params)}


def accepts(options: set[str], case: dict) -> bool:
    """Whether a command takes every option the case gives (export, say, takes no --set)."""
    given = {a for a in case.get("args", []) if a.startswith("-")} | ({"--inputs"} if "inputs" in case else set())
    return given <= options


def load_corpus() -> list[dict]:
    """The cases: one JSON object per line; blank lines and lines starting with # are comments."""
    cases = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            case = json.loads(line)
            case["line"] = number
            cases.append(case)
    return cases


GENERATORS = {
    "nines": lambda n: "9" * n,  # a number of n digits
    "deep": lambda n: "[" * n + "1" + "]" * n,  # a value nested n levels deep
    "open": lambda n: "(" * n,  # n opening parentheses
}


def expand(text: str, tmp: Path) -> str:
    """Fill in {tmp} and the generated texts {nines:N}, {deep:N}, {open:N}."""
    text = text.replace("{tmp}", str(tmp))
    return re.sub(r"\{(nines|deep|open):(\d+)\}", lambda m: GENERATORS[m[1]](int(m[2])), text)


def parameters():
    everything = file_commands()
    for case in load_corpus():
        commands = case.get("commands", [case.get("command", "eval")])
        for command in [c for c, opts in everything.items() if accepts(opts, case)] if commands == "all" else commands:
            yield pytest.param(case, command, id=f"{case['id']}-{command}")


def prepare(case: dict, tmp: Path) -> str:
    """Write the case's file (and inputs file) under tmp; return the FILE argument."""
    kind = case.get("file")
    if kind == "missing":
        return str(tmp / "missing.ad")
    if kind == "directory":
        return str(tmp)
    path = tmp / "model.ad"
    path.write_bytes(expand(case["source"], tmp).encode(case.get("encoding", "utf-8")))
    return str(path)


@pytest.mark.parametrize("case, command", list(parameters()))
def test_bad_input(case, command, tmp_path):
    file = prepare(case, tmp_path)
    args = [expand(a, tmp_path) for a in case.get("args", [])]
    if "inputs" in case:
        (tmp_path / "inputs.json").write_text(expand(case["inputs"], tmp_path), encoding="utf-8")
        args += ["--inputs", str(tmp_path / "inputs.json")]
    required = REQUIRED.get(command, [])
    if required and required[0] in args:  # the case gives that option itself
        required = []
    result = CliRunner().invoke(app, [command, file, *required, *args], env=case.get("env"))

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.exit_code == case.get("exit", 2), result.stderr
    assert result.stdout == ""
    if "usage" in case:  # the option parser's own message, whose wording varies a little by click version
        assert "Error: " in result.stderr, result.stderr
        for phrase in case["usage"]:
            assert phrase in result.stderr, result.stderr
        return
    lines = result.stderr.split("\n")
    message = expand(case["message"], tmp_path).replace("{file}", file)
    if case.get("at") is None:  # a command-line problem: one line, no source to show
        assert result.stderr == f"adcli: error: {message}\n"
        return
    line, col = map(int, case["at"].split(":"))
    assert lines[0] == f"{file}:{line}:{col}: error: {message}"
    # Then the source line and a caret under the column (a long line shows a window around it).
    assert len(lines) == 4 and lines[3] == "" and lines[2].strip() == "^"
    if not lines[1].startswith("..."):
        assert len(lines[2]) == col


def test_the_corpus_is_large_and_covers_every_command():
    cases = load_corpus()
    assert len(cases) >= 40
    assert len({case["id"] for case in cases}) == len(cases)
    covered = {command for _, command, in (p.values for p in parameters())}
    assert covered == set(file_commands())


# ---------------------------------------------------------------------------------------------
# Numerical honesty: a value or gradient that is not finite is never reported as clean
# ---------------------------------------------------------------------------------------------

def strict_commands() -> list[str]:
    """The commands that take --strict (stop at the first non-finite value)."""
    group = typer.main.get_command(app)
    return [name for name, command in group.commands.items()
            if any(param.name == "strict" for param in command.params)]


NONFINITE = [  # source, value of x, the column of the operation, what it says there
    ("y = exp(x) + 1\n", "1000", 5, "y = exp(x) + 1", "U1 = exp(x) is inf where x = 1000 (overflow: beyond float64's range, about 1.8e308)"),
    ("y = log(x)\n", "-1", 5, "y = log(x)", "y = log(x) is nan where x = -1 (no value: such as 0/0, inf - inf or sqrt of a negative number)"),
    ("y = x / x\n", "0", 7, "y = x / x", "y = x/x is nan where x = 0 (no value: such as 0/0, inf - inf or sqrt of a negative number)"),
]


NEEDS = REQUIRED  # options a command cannot run without


@pytest.mark.parametrize("command", strict_commands())
@pytest.mark.parametrize("source, x, col, line, says", NONFINITE, ids=["exp-overflow", "log-negative", "zero-by-zero"])
def test_nonfinite_results_warn_and_strict_stops(command, source, x, col, line, says, tmp_path):
    path = tmp_path / "model.ad"
    path.write_text(source)
    args = [command, str(path), "--set", f"x={x}", *NEEDS.get(command, [])]
    loose = CliRunner().invoke(app, args)
    assert "Traceback" not in loose.stderr
    assert loose.stderr.startswith("adcli: warning: ") and "not finite" in loose.stderr, loose.stderr
    assert says in loose.stderr
    strict = CliRunner().invoke(app, args + ["--strict"])
    assert strict.exit_code == 1
    assert strict.stderr == f"{path}:1:{col}: error: non-finite value: {says}\n{line}\n{' ' * (col - 1)}^\n"


def test_nonfinite_json_values_are_strings_not_numbers(tmp_path):
    path = tmp_path / "model.ad"
    path.write_text("y = log(x)\n")
    result = CliRunner().invoke(app, ["grad", str(path), "--set", "x=-1", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"output": "y", "value": "NaN", "grad": {"x": -1.0}}
    assert "not finite" in result.stderr
