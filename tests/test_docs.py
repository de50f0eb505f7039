"""Every example in README.md and docs/*.md runs and prints what the page shows.

An example is a fenced code block holding lines that begin with `$ `. Each such line is a command;
the lines after it, up to the next `$ ` line or the end of the block, are what it prints (stderr
then stdout, as one stream, the way a terminal shows them). Blank lines at the end of an example
and spaces at the end of a line do not count. Blocks may be indented (inside a list item).

How the commands run, so the pages can be reproduced by hand:
- through `bash -c`, one command per process, with the environment's `adcli` and `python` first
  on PATH; pipes, `echo ... |`, `printf` and `#` comments work as in a shell;
- in a fresh temporary directory per page holding a copy of `samples/`, so a command that writes
  a file never touches the checkout; the page's examples run in order in that directory;
- with stdout not a terminal, `COLUMNS=80` (Rich's width off a terminal), UTF-8 output and no
  colour, and without any `ADCLI_*` variable of the caller.

Conventions a page may use:
- `$ cat NAME` where NAME does not exist yet defines the file: the lines shown after it are
  written to NAME first, so later examples on the page can read it;
- `<!-- output of: COMMAND -->` on the line before a block without `$ ` lines says the block is
  what COMMAND prints (the Quick start's output, whose command also installs adcli);
- `<!-- output of the Python above -->` on the line before a block says the block is what the
  page's latest ```python block prints, run by `python -` in the same directory;
- `<!-- not run -->` on the line before a block leaves it out. Keep these rare: only for output
  that cannot repeat (timings of `python -m bench`). Today only the block of bench commands uses it.

`python tests/test_docs.py --update` rewrites each page's outputs with what the commands print now;
read the diff before keeping it (a traceback or a wrong number is a bug to fix, not a page to update).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")
OUTPUT_OF = re.compile(r"^\s*<!--\s*output of:\s*(.+?)\s*-->\s*$")
OUTPUT_OF_PYTHON = re.compile(r"^\s*<!--\s*output of the Python above\s*-->\s*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not run\s*-->\s*$")
CAT = re.compile(r"^cat\s+([\w./-]+)$")


@dataclass
class Example:
    """One command on a page, the lines it should print, and where those lines sit in the page."""

    command: str
    line: int                      # 1-based line of the command in the page
    indent: str                    # the block's indentation, to write outputs back in place
    expected: list[str] = field(default_factory=list)
    start: int = 0                 # 0-based index of the first output line in the page
    end: int = 0                   # one past the last output line (trailing blank lines excluded)
    defines: bool = False          # a `$ cat NAME` that wrote NAME from the page's text
    stdin: str = ""                # the code, for the output of a Python block


# ---------------------------------------------------------------------------------------------
# reading the pages
# ---------------------------------------------------------------------------------------------

def fenced_blocks(lines: list[str]):
    """Yield (index of the opening fence, indentation, the block's body lines, first body index)."""
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening.group(1), opening.group(2)
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:j]]
        yield i, indent, body, i + 1
        i = j + 1


def examples(page: Path) -> list[Example]:
    """The page's examples, in page order."""
    lines = page.read_text(encoding="utf-8").split("\n")
    found: list[Example] = []
    python = ""
    for at, indent, body, first in fenced_blocks(lines):
        before = lines[at - 1] if at > 0 else ""
        if NOT_RUN.match(before):
            continue
        if lines[at].strip().endswith("python"):
            python = "\n".join(body) + "\n"
        output_of = OUTPUT_OF.match(before)
        if OUTPUT_OF_PYTHON.match(before):
            found.append(Example("python -", at, indent, body, first, first + len(body), stdin=python))
        elif output_of:
            found.append(Example(output_of.group(1), at, indent, body, first, first + len(body)))
        elif any(line.startswith("$ ") for line in body):
            for k, line in enumerate(body):
                if line.startswith("$ "):
                    found.append(Example(line[2:], first + k + 1, indent, [], first + k + 1))
                elif found and found[-1].start >= first:
                    found[-1].expected.append(line)
        for example in found:
            if example.start >= first and not example.end:
                while example.expected and not example.expected[-1].strip():
                    example.expected.pop()
                example.end = example.start + len(example.expected)
    return found


# ---------------------------------------------------------------------------------------------
# running them
# ---------------------------------------------------------------------------------------------

def environment() -> dict:
    """The caller's environment, pinned where it changes what adcli prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADCLI_")}
    env.update(COLUMNS="80", PYTHONIOENCODING="utf-8", NO_COLOR="1", TERM="dumb",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    env.pop("LINES", None)
    return env


def run(example: Example, cwd: Path, env: dict) -> list[str]:
    """What the command prints (stderr and stdout as one stream), one string per line."""
    cat = CAT.match(example.command)
    if cat and not (cwd / cat.group(1)).exists():
        (cwd / cat.group(1)).write_text("\n".join(example.expected) + "\n", encoding="utf-8")
        example.defines = True
    done = subprocess.run(["bash", "-c", example.command], cwd=cwd, env=env, input=example.stdin.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    text = done.stdout.decode("utf-8", errors="replace")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_page(page: Path) -> list[tuple[Example, list[str]]]:
    """Every example of the page, run in order in a fresh directory; (example, actual lines)."""
    env = environment()
    with tempfile.TemporaryDirectory(prefix="adcli-docs-") as tmp:
        cwd = Path(tmp)
        shutil.copytree(ROOT / "samples", cwd / "samples")
        return [(example, run(example, cwd, env)) for example in examples(page)]


NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")


def same_number(shown: str, got: str) -> bool:
    """Whether two printed numbers agree: exactly, or (8 significant digits shown, as tables print
    them) within one unit of the last digit, the noise of a last rounding on another machine."""
    if shown == got:
        return True
    if "e-" in shown.lower() and "e-" in got.lower() and max(abs(float(shown)), abs(float(got))) < 1e-14:
        return True  # two roundings' worth of float64 (fwd-rev 9.7e-17 or 1.1e-16): a BLAS's order, not a bug
    mantissa = re.sub(r"[eE].*", "", shown).lstrip("+-")
    digits = mantissa.replace(".", "").lstrip("0")
    if len(digits) < 6:  # short numbers (counts, shapes, 0.5) must match exactly
        return False
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(shown.lower().split("e")[1]) if "e" in shown.lower() else 0
    unit = 10.0 ** (exponent - decimals)
    return abs(float(shown) - float(got)) <= 1.0000001 * unit


def same_line(shown: str, got: str) -> bool:
    """The line as the page shows it, with numbers compared by value (see same_number)."""
    if shown == got:
        return True
    if NUMBER.sub("#", shown) != NUMBER.sub("#", got):
        return False
    return all(same_number(a, b) for a, b in zip(NUMBER.findall(shown), NUMBER.findall(got)))


def mismatch(page: Path, example: Example, actual: list[str]) -> str:
    """A unified diff of the page's text against the real output, or '' when they agree."""
    expected = [line.rstrip() for line in example.expected]
    if len(expected) == len(actual) and all(same_line(e, a) for e, a in zip(expected, actual)):
        return ""
    diff = difflib.unified_diff(expected, actual, "page", "actual", lineterm="", n=2)
    return f"{page.relative_to(ROOT)}:{example.line}: $ {example.command}\n" + "\n".join(diff)


# ---------------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_print_what_the_page_shows(page):
    """Each example prints exactly what the page shows, and none shows a traceback."""
    results = run_page(page)
    problems = [m for m in (mismatch(page, e, actual) for e, actual in results) if m]
    tracebacks = [f"{page.name}:{e.line}: $ {e.command}" for e, actual in results
                  if any("Traceback" in line for line in actual)]
    assert not tracebacks, "a traceback:\n" + "\n".join(tracebacks)
    assert not problems, f"{len(problems)} example(s) print something else:\n\n" + "\n\n".join(problems)


def test_the_pages_have_examples():
    """The parser finds the README's examples: a change of convention must not silently skip them all."""
    readme = examples(ROOT / "README.md")
    assert any(e.command.startswith("adcli grad samples/relu.ad") for e in readme)
    assert all(e.command.strip() for page in PAGES for e in examples(page))


def test_links_between_pages_resolve():
    """Every relative link in the pages names a file that exists (and a heading that exists)."""
    broken = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
                continue
            if anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.name}: {target}")
    assert not broken, broken


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings."""
    found = set()
    for line in page.read_text(encoding="utf-8").split("\n"):
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


# ---------------------------------------------------------------------------------------------
# rewriting the pages from real runs
# ---------------------------------------------------------------------------------------------

def update(page: Path) -> int:
    """Replace each example's output in the page with what its command prints; the number changed."""
    lines = page.read_text(encoding="utf-8").split("\n")
    changed = 0
    for example, actual in reversed(run_page(page)):
        if example.defines or [line.rstrip() for line in example.expected] == actual:
            continue
        lines[example.start:example.end] = [(example.indent + line) if line else "" for line in actual]
        changed += 1
    page.write_text("\n".join(lines), encoding="utf-8")
    return changed


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_docs.py --update")
    for page in PAGES:
        print(f"{page.relative_to(ROOT)}: {update(page)} example(s) rewritten")


def test_ci_runs_the_readmes_two_commands():
    """.ci/run calls the README's test command verbatim, and checks what its first command prints."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(python3 -m venv .*)\n```", readme)
    assert len(commands) == 2 and "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()


def test_the_exit_code_table_lists_every_code_adcli_uses():
    """docs/errors.md has one row per exit code of adcli.errors (and the fuzzer allows exactly those)."""
    from adcli import errors
    used = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    rows = {int(m) for m in re.findall(r"^\| (\d+) \|", page, re.M)}
    assert rows == used
    sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
    try:
        import fuzz
    finally:
        sys.path.pop(0)
    assert fuzz.ALLOWED_EXIT == used


@pytest.mark.parametrize("shown, got, same", [
    ("0.016505813", "0.016505814", True), ("-0.15902389", "-0.1590239", True), ("1.2345678e-05", "1.2345679e-05", True),
    ("0.016505813", "0.016505815", False), ("17", "18", False), ("0.5", "0.6", False), ("W = 2", "W = 2", True),
    ("[4, 7, 0]", "[4, 7, 1]", False), ("loss = 0.0080063613", "loss = 0.0080063612", True),
    ("9.7e-17", "1.1e-16", True), ("9.7e-17", "1.1e-12", False), ("0.0e+00", "1.1e-16", False),
])
def test_numbers_on_a_page_are_compared_by_value(shown, got, same):
    assert same_line(shown, got) is same
