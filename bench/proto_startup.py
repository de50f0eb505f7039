"""Prototype measurements for start-up: what each import and step costs in a fresh process.

`python -m bench.proto_startup [--tree DIR] [--runs 9]` prints, for each snippet, the median wall
time of `python -c SNIPPET` beyond `python -c pass`, with compiled modules cached (as installed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from .report import ROOT  # noqa: E402
from .startup import cached_bytecode_env  # noqa: E402

GRAMMAR = ROOT / "grammars" / "adcli.lark"

SNIPPETS = [
    ("import numpy", "import numpy"),
    ("import lark + Lark(grammar, cache=True)",
     f"import lark; lark.Lark(open({str(GRAMMAR)!r}).read(), parser='lalr', lexer='contextual', "
     "maybe_placeholders=True, cache=True)"),
    ("Lark stand-alone parser module, loaded", "import adcli_standalone; adcli_standalone.Lark_StandAlone()"),
    ("import typer", "import typer"),
    ("import pydantic (typer 0.2x builds its parameters with it)", "import pydantic"),
    ("import rich.console, rich.table, rich.text", "import rich.console, rich.table, rich.text"),
    ("import dataclasses", "import dataclasses"),
    ("import difflib", "import difflib"),
    ("import adcli (the package: program, parser, numpy, lark)", "import adcli"),
    ("import adcli.cli (typer and every command module)", "import adcli.cli"),
    ("adcli grad samples/relu.ad --set W=2 x=3 b=1",
     "import sys; sys.argv = ['adcli', 'grad', 'samples/relu.ad', '--set', 'W=2', 'x=3', 'b=1']; "
     "from adcli.cli import main; main()"),
    ("adcli grad ... --json", "import sys; sys.argv = ['adcli', 'grad', 'samples/relu.ad', '--set', 'W=2', "
     "'x=3', 'b=1', '--json']; from adcli.cli import main; main()"),
    ("the same gradient with no CLI: load, grad, json.dumps",
     "import json, adcli; g = adcli.load('samples/relu.ad').grad(W=2.0, x=3.0, b=1.0); "
     "print(json.dumps({k: float(v) for k, v in g.grad.items()}))"),
]


def run(code: str, runs: int, env: dict) -> float:
    samples = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[1:])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.proto_startup", description=__doc__)
    parser.add_argument("--tree", metavar="DIR")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "lark.tools.standalone", "-l", "contextual", "--maybe_placeholders",
                        "-o", str(Path(tmp) / "adcli_standalone.py"), str(GRAMMAR)], check=True)
        env = cached_bytecode_env(str(Path(tmp) / "pycache"))
        paths = ([str(Path(args.tree).resolve())] if args.tree else []) + [tmp, env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        base = run("pass", args.runs, env)
        print(f"| `python -c` snippet | ms beyond `python -c pass` ({base * 1e3:.0f} ms) |\n|---|---|")
        for label, code in SNIPPETS:
            # -c puts the working directory first on the path: a chosen tree must win over the checkout
            if args.tree:
                code = f"import sys; sys.path.insert(0, {str(Path(args.tree).resolve())!r}); " + code
            print(f"| {label} | {(run(code, args.runs, env) - base) * 1e3:.0f} |")


if __name__ == "__main__":
    main()
