"""Lint: every error a file shows without values: its syntax, its names, and the shapes its declarations fix.

Every syntax error is found (adcli.language.recovery resynchronises at the next statement), and the
top-level statements that hold one are left out of what follows. Past the parser, the file is built
statement by statement; a statement that fails is reported and skipped, and the names it
would have defined are forgotten, so a later use of one of them is an input of unknown shape: it
cannot cause a second, false error. An error in a statement that reads such a name (or calls such
a function) is not reported either, since it may be a consequence of the first. Shapes are then
checked from the declarations alone (shapes.symbolic_shapes), each mismatch reported once and
what depends on it left unknown. So every error lint reports is one that running the file reports
too, once the errors before it are fixed.
"""

from __future__ import annotations

from bisect import bisect_left
from pathlib import Path

from adcli.errors import AdError, NeedsSizes
from adcli.language.expand import Expander

SUFFIX = ".ad"


# The instructions that end a top-level statement: x = ..., a, b = ..., h += ..., x[i] = ..., input x,
# and the end of a whole `for`, `while` or `def`.
STATEMENT_ENDS = ("assign", "unpack", "augment", "update", "declare", "endfor", "endwhile", "enddef")


def statements(code: list[tuple]) -> list[tuple[int, int]]:
    """(first, last) instruction of each top-level statement: an assignment or declaration, or a
    whole `for`, `while` or `def` with its body."""
    found, depth, first = [], 0, 0
    for pc, ins in enumerate(code):
        kind = ins[0]
        if kind in ("for", "while", "def"):
            depth += 1
        elif kind in ("endfor", "endwhile", "enddef"):
            depth -= 1
        if depth == 0 and kind in STATEMENT_ENDS:
            found.append((first, pc))
            first = pc + 1
    return found


class Lenient(Expander):
    """An expander that records a failing statement's error and goes on with the next statement."""

    def __init__(self, code: list[tuple], file: str, source: str, forgotten=()):
        super().__init__(code, file, source)
        self.errors: list[AdError] = []
        self.statements = statements(code)
        self.ends = [last for _, last in self.statements]
        # Names whose defining statement failed, here or in the parser (a dict keeps order).
        self.forgotten: dict[str, None] = dict.fromkeys(forgotten)

    def handlers(self) -> dict:
        return {kind: self.guarded(handler) for kind, handler in super().handlers().items()}

    def guarded(self, handler):
        def run(ins, pc):
            try:
                return handler(ins, pc)
            except AdError as error:
                return self.recover(error, pc)
        return run

    def recover(self, error: AdError, pc: int) -> int:
        """Record the error (unless it may follow from an earlier one), forget what the statement
        defines, and go on after it."""
        # Inside a call or a loop, the statement is the one holding the outermost call or loop.
        at = self.calls[0].back - 1 if self.calls else self.loops[0].start - 1 if self.loops else pc
        first, last = self.statements[min(bisect_left(self.ends, at), len(self.statements) - 1)]
        # A number sized by the inputs (range(T)) is no error: the program is specialised when they are given.
        if not any(name in self.forgotten for name in self.reads(first, last)) and not isinstance(error, NeedsSizes):
            self.errors.append(error)
        for name in self.defines(first, last):
            self.forgotten[name] = None
            self.env.pop(name, None)  # a later use is a new input of unknown shape, not the old value
        self.stack, self.at, self.calls, self.loops, self.loop_values, self.frames = [], [], [], [], {}, []
        self.set_context()
        return last + 1

    def defines(self, first: int, last: int) -> list[str]:
        """The names a statement defines: a def's function, or every name assigned or declared."""
        if self.code[first][0] == "def":
            return [self.code[first][1]]
        names = []
        for ins in self.code[first:last + 1]:
            if ins[0] in ("assign", "declare", "update", "augment"):
                names.append(ins[1])
            elif ins[0] == "unpack":
                names.extend(ins[1])
        return names

    def reads(self, first: int, last: int) -> list[str]:
        """The names and functions a statement reads, and those read by the functions it calls."""
        names, ranges, seen = [], [(first, last)], []
        while ranges:
            start, end = ranges.pop()
            for ins in self.code[start:end + 1]:
                if ins[0] in ("name", "call"):
                    names.append(ins[1])
                if ins[0] == "call" and ins[1] in self.functions and ins[1] not in seen:
                    seen.append(ins[1])
                    function = self.functions[ins[1]]
                    ranges.append((function.start, function.end))
        return names


def lint_source(source: str, file: str = "<input>") -> list[AdError]:
    """Every error found in .ad source text, in file order; [] for a clean file."""
    return check(source, file)[0]


def check(source: str, file: str = "<input>", expander=Lenient, parts: dict | None = None):
    """(errors in file order, the graph of what could be built or None, its symbolic shapes, the
    expander that built it): lint's work, kept for the language server (which keeps the compiled
    `parts` of a document between its versions: recovery.compile_parts)."""
    from adcli.language.parser import plain_source
    from adcli.language.recovery import defined_names, parse_all
    from adcli.language.shapes import symbolic_shapes
    source = plain_source(source)  # as parse_source reads it: the errors' lines and positions agree
    errors, rest, code = parse_all(source, file, parts)
    if code is None:  # the statements left do not parse alone: the syntax errors are all there is
        return errors, None, None, None
    built = expander(code, file, rest, forgotten=defined_names(source, rest))
    try:
        graph = built.run()
    except AdError as error:  # nothing assigned: a consequence when statements failed
        return in_order(errors + (built.errors or [error] * (not errors)), source), None, None, built
    errors += built.errors
    shapes = symbolic_shapes(graph, errors)
    return in_order(errors, source), graph, shapes, built


def in_order(errors: list[AdError], source: str) -> list[AdError]:
    """The errors in file order, each once, reading the original text."""
    from adcli.language.recovery import retarget
    errors = [retarget(e, source) for e in errors]
    return unique(sorted(errors, key=lambda e: (e.span.line, e.span.col) if e.span else (0, 0)))


def unique(errors: list[AdError]) -> list[AdError]:
    """One error per place and message: a loop's body or a function's fails alike on every pass."""
    seen: dict[tuple, None] = {}
    kept = []
    for e in errors:
        key = (e.span.line, e.span.col, e.message) if e.span else (0, 0, e.message)
        if key not in seen:
            seen[key] = None
            kept.append(e)
    return kept


def lint_file(path: str) -> list[AdError]:
    """Every error of one .ad file ('-' for standard input), including one that it cannot be read."""
    from adcli.language.source import read_source
    try:
        source, name = read_source(path)
    except AdError as error:
        return [error]
    return lint_source(source, name)


def ad_files(paths: list[str]) -> list[str]:
    """The files to lint: each path given, a directory standing for every .ad file under it (sorted)."""
    found = []
    for path in paths:
        if path != "-" and Path(path).is_dir():
            found += sorted(str(p) for p in Path(path).rglob(f"*{SUFFIX}") if p.is_file())
        else:
            found.append(path)
    return found
