"""Recovery from syntax errors, for lint and the language server: every syntax error of a file.

The LALR parser stops at its first error. Recovery resynchronises at statements, as Python's own
parser reports: when the file does not parse whole, each top-level statement is compiled alone (the
language's statements are independent but for the import lines before them, which are carried
along); in one that fails, the part holding the error (a line, or a block it opens) is replaced by
blank lines, or by a `;` statement where a block must keep a body, and the statement is compiled
again, until it compiles. Positions never move, since only whole lines are blanked and a statement
compiled alone counts its lines from its own first line. Statements are found from the text alone:
logical lines (a bracket carries a statement over several lines), cut short where a bracket is
never closed and a line that reads as a new statement begins at the same or a lesser indentation.

Past the parser, each top-level statement that held a syntax error is left out entirely and the
names it would define are forgotten (lint.Lenient), so nothing else reports a consequence of it.
The language server keeps each statement's instructions between versions of a document
(compile_parts), so an edit recompiles the statement it touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from adcli.errors import AdError

# A line that begins a statement: a keyword, or names followed by an assignment.
STATEMENT_START = re.compile(
    r"\s*(?:(?:def|for|while|input|data|return|import|from)\b"
    r"|[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*\s*,?\s*(?:[-+*/@]|\*\*)?=(?!=)"
    r"|[A-Za-z_]\w*\[[^\n]*\]\s*(?:[-+*/@]|\*\*)?=(?!=))")
# The names a statement defines (for forgetting them): functions, loop variables, declarations and
# assignment targets, at the start of any of its lines.
DEFINED = re.compile(r"^[ \t]*(?:(?:def|for|input|data)[ \t]+([A-Za-z_]\w*)"
                     r"|([A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*)[ \t]*,?[ \t]*(?:\[[^\n]*\])?[ \t]*"
                     r"(?:[-+*/@]|\*\*)?=(?!=))", re.MULTILINE)
OPEN, CLOSE = "([", ")]"
# The instructions that hold instruction indices, and where.
JUMPS = {"def": (4,), "for": (3,), "endfor": (1,), "enddef": (1,), "while": (1, 2, 3), "endwhile": (1,)}
MAX_ERRORS = 200  # a file of nothing but errors: the first 200 are plenty, and each costs a parse


@dataclass
class Logical:
    """A logical line: its first and last physical lines (1-based), indentation, and whether it was
    cut short at a bracket never closed."""

    first: int
    last: int
    indent: int
    unclosed: bool = False


def logical_lines(lines: list[str], offset: int = 0) -> list[Logical]:
    """The logical lines of `lines`, numbered from offset + 1 (blank and comment-only lines belong
    to none)."""
    found: list[Logical] = []
    depth, current = 0, None
    for number, text in enumerate(lines, offset + 1):
        stripped = text.lstrip(" \t\f")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(text) - len(stripped)
        if depth and indent <= current.indent and STATEMENT_START.match(text):
            current.unclosed, depth = True, 0  # a bracket never closed: resynchronise here
        if depth == 0:
            current = Logical(number, number, indent)
            found.append(current)
        current.last = number
        depth = max(0, depth + bracket_balance(stripped))
    return found


def bracket_balance(text: str) -> int:
    """Opening minus closing brackets on a line, outside strings and comments."""
    balance, quote = 0, None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            break
        elif char in OPEN:
            balance += 1
        elif char in CLOSE:
            balance -= 1
    return balance


def blamed(logicals: list[Logical], line: int, col: int) -> int | None:
    """The index of the logical line an error at (line, col) belongs to: the last one starting at
    or before it (an error at the end of the file belongs to the last statement)."""
    k = next((j for j in range(len(logicals) - 1, -1, -1) if logicals[j].first <= line), 0 if logicals else None)
    if k:  # at the first token of a line that follows an unclosed bracket, the fault is above
        logical = logicals[k]
        if logical.first == line and col <= logical.indent + 1 and logicals[k - 1].unclosed:
            return k - 1
    return k


def statement_lines(logicals: list[Logical], k: int) -> tuple[int, int]:
    """The physical lines of logical line k together with the deeper-indented lines after it (its block)."""
    head = logicals[k]
    last = head.last
    for follower in logicals[k + 1:]:
        if follower.indent <= head.indent:
            break
        last = follower.last
    return head.first, last


def open_levels(logicals: list[Logical], k: int, lines: list[str]) -> list[int]:
    """The indentation levels of the blocks open at logical line k: a deeper line opens one only
    after a line ending in `:` (a def or for), as the parser accepts."""
    levels = [0]
    for j, logical in enumerate(logicals[:k + 1]):
        while logical.indent < levels[-1]:
            levels.pop()
        if logical.indent > levels[-1] and j and header(lines[logicals[j - 1].last - 1]):
            levels.append(logical.indent)
    return levels


def body_level(logicals: list[Logical], k: int, lines: list[str]) -> int | None:
    """Where a `;` stands in for a line indented with a tab: the first line of a block stands at
    the level the block's other lines use (4 spaces deeper if none does); a later line, at the
    level of the line before it."""
    if not k:
        return None
    before = logicals[k - 1]
    if not header(lines[before.last - 1]):
        return before.indent or None
    for after in logicals[k + 1:]:
        if after.indent <= before.indent:
            break
        if "\t" not in lines[after.first - 1][:after.indent]:
            return after.indent
    return before.indent + 4


def header(text: str) -> bool:
    """Whether a line ends in `:` (outside a comment): it opens a block."""
    code = text.split("#", 1)[0].rstrip()
    return code.endswith(":")


def blank(lines: list[str], first: int, last: int, keep_body: int | None) -> bool:
    """Blank lines first..last in place (a `;` at indentation keep_body on the first); False if they
    were blank already (the error did not move: give up rather than loop)."""
    replacement = [""] * (last - first + 1)
    if keep_body:
        replacement[0] = " " * keep_body + ";"
    if lines[first - 1:last] == replacement:
        return False
    lines[first - 1:last] = replacement
    return True


def parse_all(source: str, file: str, parts: dict | None = None) -> tuple[list[AdError], str, list[tuple] | None]:
    """(the syntax errors, the source for the checks past the parser, its instructions if known):
    the file itself when it parses, else the file with every top-level statement that held a
    syntax error blanked. With `parts` (a dict kept between calls on versions of one document,
    filled by compile_parts), each top-level statement is compiled alone and kept: an edit
    recompiles only what it touched."""
    from adcli.language.parser import compile_source
    if not parts:  # with no parts kept yet, the file whole is the faster first try
        try:
            return [], source, compile_source(source, file)
        except AdError:
            parts = {} if parts is None else parts
    lines = source.split("\n")
    errors: list[AdError] = []
    top: dict[int, None] = {}  # first lines of the statements to leave out past the parser
    last_at: dict[int, tuple] = {}  # each statement's last error, where it stood
    used: dict = {}
    imports: tuple = ()
    # Statement by statement: one that fails is blanked where it failed and compiled again, until it
    # compiles or is blank, so each costs its own parses and no more, however many errors the file has.
    for first, last in statements(logical_lines(lines)):
        while len(errors) < MAX_ERRORS:
            try:
                imports = compiled(parts, used, file, first, statement_text(lines, first, last), imports)[1]
                break
            except AdError as error:
                place = error.span and (error.span.line, error.span.col)
                # The parser reads forward: an error before one this statement already gave (a def
                # left without its `return` by a blanked line) follows from the blanking.
                if first not in last_at or place is None or place > last_at[first]:
                    errors.append(retarget(error, source))
                    last_at[first] = place or (0, 0)
                blanked = recover(lines, first, last, place)
                if blanked is None:
                    break
                top[blanked] = None
    if not errors:
        code = compile_parts(source, file, parts)
        return errors, source, code
    rest = without_statements(source, top)
    try:
        return errors, rest, compile_parts(rest, file, parts)
    except AdError:  # what is left does not parse alone (lint then reports the syntax errors alone)
        return errors, rest, None


def recover(lines: list[str], first: int, last: int, place: tuple[int, int] | None) -> int | None:
    """Blank the part of statement first..last holding an error (all of it if there is no place,
    or if that part is blank already). The first line of what to leave out past the parser: the
    statement, or a line indented where no block opens, alone; None when nothing was left to blank."""
    logicals = logical_lines(lines[first - 1:last], first - 1)
    k = None if place is None else blamed(logicals, *place)
    if k is not None:
        start, end = statement_lines(logicals, k)
        indent = logicals[k].indent
        tabbed = "\t" in lines[start - 1][:indent]
        keep = body_level(logicals, k, lines) if tabbed else \
            indent if indent and indent in open_levels(logicals, k, lines) else None
        if blank(lines, start, end, keep):
            return start if keep is None and indent else first
    return first if blank(lines, first, last, None) else None


def statements(logicals: list[Logical]) -> list[tuple[int, int]]:
    """The top-level statements: (first line, last line) of each logical line at the left margin
    with the deeper lines after it (a line indented where nothing opens a block stands alone)."""
    found, k = [], 0
    while k < len(logicals):
        first, last = statement_lines(logicals, k)
        found.append((first, last))
        k += 1
        while k < len(logicals) and logicals[k].first <= last:
            k += 1
    return found


def statement_text(lines: list[str], first: int, last: int) -> str:
    """A statement's lines, with the line end after them unless the file ends there without one."""
    return "\n".join(lines[first - 1:last]) + ("\n" if last < len(lines) else "")


def compiled(parts: dict, used: dict, file: str, first: int, text: str, imports: tuple) -> tuple:
    """(instructions, imports after) of one top-level statement, from `parts` when its text, first
    line and the imports before it are unchanged; noted in `used`."""
    from adcli.language.parser import compile_part
    key = (first, text, imports)
    if key not in parts:
        parts[key] = compile_part(text, file, imports, first)  # parsed as a file of its own
    used[key] = parts[key]
    return parts[key]


def compile_parts(source: str, file: str, parts: dict) -> list[tuple]:
    """The instructions of a file, compiled one top-level statement at a time, each statement's
    instructions taken from `parts` when its text, lines and the imports before it are unchanged."""
    lines = source.split("\n")
    code: list[tuple] = []
    imports: tuple = ()
    used: dict = {}
    for first, last in statements(logical_lines(lines)):
        part, imports = compiled(parts, used, file, first, statement_text(lines, first, last), imports)
        code += relocated(part, len(code))
    parts.clear()
    parts.update(used)  # only the current version's statements are kept
    return code


def relocated(code: list[tuple], offset: int) -> list[tuple]:
    """A part's instructions placed `offset` instructions into the file: their jumps moved with them."""
    if not offset:
        return code
    return [tuple(x + offset if k in JUMPS.get(ins[0], ()) else x for k, x in enumerate(ins)) for ins in code]


def without_statements(source: str, firsts: set[int]) -> str:
    """The source with the top-level statements starting at `firsts` (and their blocks) blanked."""
    lines = source.split("\n")
    logicals = logical_lines(lines)
    for k, logical in enumerate(logicals):
        if logical.first in firsts:
            first, last = statement_lines(logicals, k)
            lines[first - 1:last] = [""] * (last - first + 1)
    return "\n".join(lines)


def defined_names(before: str, after: str) -> list[str]:
    """The names the lines blanked between `before` and `after` would have defined."""
    names: dict[str, None] = {}
    inside = None  # the indentation of a def being passed: its body's names are its own
    for old, new in zip(before.split("\n"), after.split("\n")):
        indent = len(old) - len(old.lstrip())
        if inside is not None and (indent > inside or not old.strip()):
            continue
        inside = None
        if old != new:
            for match in DEFINED.finditer(old):
                for name in (match.group(1) or match.group(2)).split(","):
                    names[name.strip()] = None
            if old.lstrip().startswith("def ") and old.rstrip().endswith(":"):
                inside = indent
    return list(names)


def retarget(error: AdError, source: str) -> AdError:
    """The error with its span reading the original text (the parse that found it read a copy
    with earlier statements blanked)."""
    if error.span is not None and error.span.source != source:
        error.span = replace(error.span, source=source)
    return error
