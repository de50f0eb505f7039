"""Parsing: the Lark LALR parser reduces straight into graph nodes, with no parse tree and no recursion."""

from __future__ import annotations

import difflib
import math
import os
import re
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from lark import Lark, Token, Transformer
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import NameResolutionError, ParseError, ShapeError, Span
from .graph import CONST, INPUT, Graph, Node, label_temporaries, paused_gc, versioned
from .registry import BINARY_SYMBOLS, CONSTANTS, FUNCTIONS, fmt_shape
from .values import MAX_DIMENSIONS, format_number

# ---------------------------------------------------------------------------------------------
# Loading the grammar (from the checkout, or from inside an installed wheel)
# ---------------------------------------------------------------------------------------------

_HERE = Path(__file__).resolve().parent
GRAMMAR_CANDIDATES = (_HERE / "grammars" / "adcli.lark", _HERE.parent / "grammars" / "adcli.lark")


def grammar_path() -> Path:
    """The grammar file: packaged beside the modules in a wheel, at the top of a checkout otherwise."""
    for path in GRAMMAR_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError("adcli's grammar file adcli.lark is missing from the installation")


class BracketNewlines:
    """Lark post-lexer: inside brackets a newline is only white space, so literals may span lines."""

    always_accept = ("_NL",)

    def __init__(self):
        self.open: list[Token] = []

    def process(self, stream):
        self.open = []
        for tok in stream:
            kind = tok.type
            if kind in ("LPAR", "LBRACK"):
                self.open.append(tok)
            elif kind in ("RPAR", "RSQB") and self.open:
                self.open.pop()
            elif kind == "_NL" and self.open:
                continue
            yield tok


@lru_cache(maxsize=None)
def lark_parser(strict: bool = False):
    """The LALR parser with its builder and post-lexer; `strict` makes grammar conflicts errors."""
    builder, brackets = Builder(), BracketNewlines()
    # Given at construction, the builder runs inside the LALR reductions: no tree is ever built.
    parser = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                  postlex=brackets, transformer=builder, maybe_placeholders=True, strict=strict,
                  cache=False if strict else grammar_cache())
    return parser, builder, brackets


def grammar_cache() -> str | bool:
    """A file for Lark's analysed grammar, in a directory only this user can write: the cache is a
    pickle, so a shared temporary directory would let someone else plant one. False if there is
    no such directory (the grammar is then analysed at every start, about 40 ms)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "adcli")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError:
        return False
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    private = mine and not info.st_mode & 0o022
    if not private or not os.access(folder, os.W_OK):
        return False
    # Lark checks the grammar and options against the file's own digest; the name keeps versions apart.
    return os.path.join(folder, f"grammar-lark{lark_version}.cache")


# ---------------------------------------------------------------------------------------------
# Building the graph while parsing
# ---------------------------------------------------------------------------------------------

class Literal:
    """A constant not yet placed in the graph, so `-3` and `[1, 2]` fold into one constant."""

    __slots__ = ("value", "line", "col", "text")

    def __init__(self, value, line, col, text=None):
        self.value, self.line, self.col, self.text = value, line, col, text


class Keyword:
    """A `name=value` function argument."""

    __slots__ = ("token", "value")

    def __init__(self, token, value):
        self.token, self.value = token, value


class Builder(Transformer):
    """LALR reduction callbacks: each one appends nodes, so the node list is in evaluation order."""

    def __init__(self):
        super().__init__(visit_tokens=False)
        self.reset("<input>", "")

    def reset(self, file: str, source: str):
        """Start a new parse of `source`."""
        self.file, self.source = file, source
        self.nodes: list[Node] = []
        self.env: dict[str, int] = {}  # name -> node of its latest version
        self.versions: dict[str, int] = {}
        self.declared: list[int] = []
        self.used: list[int] = []
        self.assigned: list[tuple[str, int]] = []

    def error(self, cls, message, line, col):
        return cls(message, Span(line, col, self.file, self.source))

    def add(self, op, args=(), tok=None, params=None, **kw) -> int:
        self.nodes.append(Node(op, tuple(args), params, line=tok.line, col=tok.column, **kw))
        return len(self.nodes) - 1

    def operand(self, value) -> int:
        """A node index for an operand, placing a pending literal in the graph first."""
        if isinstance(value, Literal):
            label = value.text or format_number(value.value) if np.ndim(value.value) == 0 else None
            self.nodes.append(Node(CONST, (), None, None, label, value.line, value.col,
                                   np.asarray(value.value, dtype=np.float64)))
            return len(self.nodes) - 1
        return value

    # ---- statements -------------------------------------------------------------------------
    def start(self, children):
        return None

    def assign(self, children):
        tok, value = children
        name = tok.value
        self.check_assignable(tok, "assign to")
        index = self.operand(value)
        version = self.versions.get(name, 0) + 1
        label = versioned(name, version)
        node = self.nodes[index]
        if node.name is None:  # a value computed by this statement (or a literal) takes the name
            node.name, node.label = name, label
        self.env[name], self.versions[name] = index, version
        self.assigned.append((label, index))

    def declare(self, children):
        tok, shape = children
        name = tok.value
        self.check_assignable(tok, "declare")
        if name in self.env:
            used = [self.nodes[i] for i in self.used if self.nodes[i].name == name]
            first = self.nodes[self.env[name]]
            if used:
                where = f"its first use at line {used[0].line}, col {used[0].col}"
            elif self.env[name] in self.declared:
                raise self.error(NameResolutionError, f"input '{name}' is declared twice (first at line "
                                 f"{first.line})", tok.line, tok.column)
            else:
                where = f"it is assigned at line {first.line}"
            raise self.error(NameResolutionError, f"input '{name}' is declared after {where}; "
                             "declare inputs before any statement uses them", tok.line, tok.column)
        index = self.add(INPUT, tok=tok, name=name, label=name, data=shape)
        self.env[name], self.versions[name] = index, 1
        self.declared.append(index)

    def shape(self, children):
        dims = []
        for tok in children[1:]:
            if tok is None:
                continue
            if tok.type == "NUMBER":
                if not tok.value.isdigit():
                    raise self.error(ParseError, f"a dimension must be a whole number or a name, not {tok.value}",
                                     tok.line, tok.column)
                dims.append(int(tok.value))
            else:
                dims.append(tok.value)
        return tuple(dims)

    def check_assignable(self, tok, verb):
        name = tok.value
        if name == "input":
            raise self.error(NameResolutionError, KEYWORD_AS_NAME, tok.line, tok.column)
        if name in CONSTANTS:
            raise self.error(NameResolutionError, f"cannot {verb} '{name}': it is a built-in constant",
                             tok.line, tok.column)
        if name in FUNCTIONS:
            raise self.error(NameResolutionError, f"cannot {verb} '{name}': it is the name of a function",
                             tok.line, tok.column)

    # ---- atoms ------------------------------------------------------------------------------
    def number(self, children):
        (tok,) = children
        value = float(tok.value)
        if math.isinf(value):
            raise self.error(ParseError, f"the number {abbreviate(tok.value)} is too large for float64",
                             tok.line, tok.column)
        return Literal(value, tok.line, tok.column)

    def name(self, children):
        (tok,) = children
        name = tok.value
        if name in self.env:
            return self.env[name]
        if name == "input":  # the contextual lexer reads the keyword as a name inside expressions
            raise self.error(NameResolutionError, KEYWORD_AS_NAME, tok.line, tok.column)
        if name in CONSTANTS:
            return Literal(CONSTANTS[name], tok.line, tok.column, text=name)
        if name in FUNCTIONS:
            raise self.error(NameResolutionError, f"'{name}' is a function; call it as {name}(...)",
                             tok.line, tok.column)
        index = self.add(INPUT, tok=tok, name=name, label=name)
        self.env[name], self.versions[name] = index, 1
        self.used.append(index)
        return index

    def array(self, children):
        tok, *items = children
        items = [] if items == [None] else items
        if all(isinstance(item, Literal) for item in items):
            values = [np.asarray(item.value) for item in items]
            if len({v.shape for v in values}) > 1:
                raise self.error(ShapeError, "array literal items must have one shape, but found "
                                 f"{fmt_shape(values[0].shape)} and "
                                 f"{fmt_shape(next(v.shape for v in values if v.shape != values[0].shape))}",
                                 tok.line, tok.column)
            self.check_nesting(values[0].ndim if values else 0, tok)
            return Literal(np.array(values, dtype=np.float64), tok.line, tok.column)
        self.check_nesting(self.literal_depth(items[0]), tok)
        return self.add("stack", [self.operand(item) for item in items], tok)

    def literal_depth(self, item) -> int:
        """How many dimensions array literals give `item` at least (looking at most 33 levels down)."""
        depth = 0
        while not isinstance(item, Literal) and self.nodes[item].op == "stack" and depth <= MAX_DIMENSIONS:
            depth, item = depth + 1, self.nodes[item].args[0]
        if isinstance(item, Literal) or self.nodes[item].op == CONST:
            depth += np.ndim(item.value if isinstance(item, Literal) else self.nodes[item].data)
        return depth

    def check_nesting(self, inner: int, tok) -> None:
        if inner + 1 > MAX_DIMENSIONS:
            raise self.error(ShapeError, f"array literals are nested more than {MAX_DIMENSIONS} levels deep; "
                             f"arrays have at most {MAX_DIMENSIONS} dimensions", tok.line, tok.column)

    # ---- operators --------------------------------------------------------------------------
    def binary(self, children):
        left, tok, right = children
        return self.add(BINARY_SYMBOLS[tok.value], (self.operand(left), self.operand(right)), tok)

    def unary(self, children):
        tok, value = children
        if tok.value == "+":
            return value
        if isinstance(value, Literal):  # -3 is a literal, not an operation
            return Literal(-value.value, tok.line, tok.column,
                           None if value.text is None else "-" + value.text)
        return self.add("neg", (value,), tok)

    def transpose(self, children):
        value, tok = children
        return self.add("transpose", (self.operand(value),), tok)

    def keyword(self, children):
        return Keyword(*children)

    def call(self, children):
        tok, *args = children
        args = [] if args == [None] else args
        name = tok.value
        candidates = FUNCTIONS.get(name)
        if candidates is None:
            raise self.error(NameResolutionError, unknown_function_message(name), tok.line, tok.column)
        positional = [a for a in args if not isinstance(a, Keyword)]
        keywords = {}
        for kw in (a for a in args if isinstance(a, Keyword)):
            if kw.token.value != "axis" or not any(op.axis for op in candidates):
                raise self.error(NameResolutionError, f"{name}() has no argument '{kw.token.value}'",
                                 kw.token.line, kw.token.column)
            if kw.token.value in keywords:
                raise self.error(NameResolutionError, f"{name}() got 'axis' twice", kw.token.line, kw.token.column)
            keywords["axis"] = kw.value
        n = len(positional)
        exact = [op for op in candidates if op.nargs == n and (op.axis or not keywords)]
        by_position = [op for op in candidates if op.axis and op.nargs == n - 1 and not keywords]
        if exact:
            op = exact[0]
        elif by_position:
            op = by_position[0]
            keywords["axis"] = positional.pop()
        else:
            raise self.error(NameResolutionError, arity_message(name, candidates, n + len(keywords)),
                             tok.line, tok.column)
        params = None
        if "axis" in keywords:
            params = {"axis": self.axis_value(name, keywords["axis"], tok)}
        return self.add(op.name, [self.operand(a) for a in positional], tok, params)

    def axis_value(self, name, value, tok) -> int:
        """An axis must be an integer written in the file, so shapes never depend on values."""
        if isinstance(value, Literal) and np.ndim(value.value) == 0 and float(value.value).is_integer():
            return int(value.value)
        line, col = (value.line, value.col) if isinstance(value, Literal) else (tok.line, tok.column)
        raise self.error(NameResolutionError, f"the axis of {name}() must be a whole number such as 0 or -1",
                         line, col)

    def graph(self) -> Graph:
        if not self.assigned:
            raise self.error(ParseError, nothing_assigned_message(self.source, self.declared), 1, 1)
        graph = Graph(self.nodes, self.declared + self.used, self.assigned, dict(self.env),
                      self.file, self.source)
        label_temporaries(graph)
        return graph


def abbreviate(text: str, limit: int = 24) -> str:
    # ASCII dots, so the message reads the same on a terminal that cannot show an ellipsis.
    return text if len(text) <= limit else f"{text[:10]}...{text[-6:]} ({len(text)} characters)"


KEYWORD_AS_NAME = "'input' is a keyword and cannot be used as a name"


def nothing_assigned_message(source: str, declared) -> str:
    """Why a program without assignments has nothing to evaluate, in terms of what the file holds."""
    if not source.strip():
        return "the file is empty: it assigns no value, so there is nothing to evaluate"
    if declared:
        return "the file declares inputs but assigns no value, so there is nothing to evaluate"
    return "the file has only comments and blank lines: it assigns no value, so there is nothing to evaluate"


def unknown_function_message(name: str) -> str:
    message = f"unknown function '{name}'"
    close = difflib.get_close_matches(name, sorted(FUNCTIONS), n=1)
    return message + (f"; did you mean '{close[0]}'?" if close else "")


def arity_message(name: str, candidates, given: int) -> str:
    counts = sorted({op.nargs for op in candidates})
    takes = " or ".join(str(c) for c in counts)
    extra = " and an optional axis" if any(op.axis for op in candidates) else ""
    plural = "s" if counts[-1] != 1 else ""
    return f"{name}() takes {takes} argument{plural}{extra}, but {given} were given"


# ---------------------------------------------------------------------------------------------
# Entry points and syntax errors in words a user knows
# ---------------------------------------------------------------------------------------------

_LOCK = threading.Lock()


def parse_source(source: str, file: str = "<input>") -> Graph:
    """Parse .ad source text into a Graph, or raise an AdError pointing into the text."""
    parser, builder, brackets = lark_parser()
    with _LOCK, paused_gc():  # the builder and post-lexer hold one parse's state
        builder.reset(file, source)
        try:
            parser.parse(source)
        except UnexpectedInput as e:
            raise syntax_error(e, brackets.open, file, source) from None
        return builder.graph()


TOKEN_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "LBRACK": "'['",
    "RSQB": "']'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "SEMICOLON": "';'",
    "_NL": "the end of the line", "$END": "the end of the file", "PLUS": "'+'", "MINUS": "'-'",
    "STAR": "'*'", "SLASH": "'/'", "AT": "'@'", "POW": "'**'", "DOT_T": "'.T'", "INPUT": "'input'",
}
EXPRESSION_START = {"NAME", "NUMBER", "LPAR", "LBRACK"}
STATEMENT_START = {"NAME", "INPUT"}
OPENERS = {"RPAR": "(", "RSQB": "["}
CLOSERS = {"(": ")", "[": "]"}
# Characters people type from other languages or from mathematics, and what adcli spells instead.
CHARACTER_HINTS = {
    "^": "use '**' for powers", "·": "use '*' to multiply", "×": "use '*' to multiply",
    "÷": "use '/' to divide", "−": "use '-' (the ASCII minus) to subtract",
    "\\": "a '\\' continues a statement only at the very end of a line",
    '"': "adcli has no strings; values are numbers and arrays", "'": "adcli has no strings; "
    "values are numbers and arrays", "\x00": "a NUL byte suggests a binary file, not a .ad file",
    "{": "arrays are written with square brackets: [1, 2]",
}
OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW", "DOT_T"}
STATEMENT_END = {"_NL", "SEMICOLON", "$END"}


def describe_token(tok: Token) -> str:
    """How the parser's view of a token reads in a message."""
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "NAME":
        return f"name '{tok.value}'"
    if tok.type == "NUMBER":
        return f"number {abbreviate(tok.value)}"
    return f"'{tok.value}'"


def brackets_open_at(source: str, end: int) -> list[Token]:
    """The brackets still open before position `end`, innermost last (the language has no strings)."""
    stack: list[Token] = []
    line, line_start = 1, 0
    for match in BRACKET_SCAN.finditer(source, 0, end):
        char, i = match.group(), match.start()
        if char == "\n":
            line, line_start = line + 1, i + 1
        elif char in "([":
            stack.append(Token("LPAR" if char == "(" else "LBRACK", char, i, line, i - line_start + 1))
        elif char in ")]" and stack:
            stack.pop()
    return stack


BRACKET_SCAN = re.compile(r"#[^\n]*|[()\[\]\n]")  # a comment is skipped whole


def statement_before(source: str, pos: int) -> str:
    """The text of the current line before `pos`, from the last ';' on."""
    start = max(source.rfind("\n", 0, pos), source.rfind(";", 0, pos)) + 1
    return source[start:pos]


def describe_character(char: str) -> str:
    """A character the lexer cannot read, visible even when it is a control or non-ASCII character."""
    if not char:
        return "end of file"
    if char.isprintable() and char.isascii():
        return f"character '{char}'"
    if char.isprintable():
        return f"character '{char}' (U+{ord(char):04X})"
    return f"control character U+{ord(char):04X}"


def describe_expected(expected) -> str:
    """The parser's set of acceptable terminals, grouped into a few words."""
    expected = set(expected)
    words = []
    if EXPRESSION_START <= expected:
        words.append("an expression")
        expected -= EXPRESSION_START | {"PLUS", "MINUS"}
    if {"STAR", "SLASH", "AT"} <= expected:
        words.append("an operator")
        expected -= OPERATORS
    if {"_NL", "$END"} <= expected:
        words.append("the end of the statement")
        expected -= STATEMENT_END
    words += sorted(TOKEN_WORDS.get(t, t.lower()) for t in expected)
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else "something else"


def syntax_error(e: UnexpectedInput, open_brackets, file: str, source: str) -> ParseError:
    """A ParseError in words a user knows, placed where the parser stopped."""
    line, col = max(e.line, 1), max(e.column, 1)
    if isinstance(e, UnexpectedCharacters):
        char = source[e.pos_in_stream] if e.pos_in_stream < len(source) else ""
        message = f"unexpected {describe_character(char)}"
        if char == "=" and source[e.pos_in_stream - 1: e.pos_in_stream] == "=":
            message += "; '==' is not an operator in adcli (use '=' to assign)"
        elif char in CHARACTER_HINTS:
            message += "; " + CHARACTER_HINTS[char]
    elif isinstance(e, (UnexpectedToken, UnexpectedEOF)):
        tok = getattr(e, "token", None) or Token("$END", "")
        # At the very start of the input Lark's token history is [None].
        previous = [t for t in getattr(e, "token_history", None) or [] if t is not None]
        # The post-lexer has already popped the bracket an unexpected closer matched; count afresh.
        at = len(source) if tok.type == "$END" else tok.start_pos
        open_brackets = brackets_open_at(source, at) if at is not None else open_brackets
        # A bracket left open on an earlier line explains any error after it best.
        still_open = {b.start_pos for b in open_brackets}
        unclosed = [b for b in brackets_open_at(source, len(source)) if b.start_pos in still_open]
        if unclosed and tok.type not in OPENERS and (tok.type == "$END" or tok.line > unclosed[-1].line):
            bracket = unclosed[-1]
            closer = ")" if bracket.type == "LPAR" else "]"
            return ParseError(f"'{bracket.value}' is never closed (expected '{closer}')",
                              Span(bracket.line, bracket.column, file, source))
        if tok.type == "$END":  # Lark gives no position for the end of the input
            line = source.count("\n") + 1
            col = len(source) - (source.rfind("\n") + 1) + 1
        if tok.type == "INPUT" or (previous and previous[-1].type == "INPUT" and tok.type != "NAME"):
            kw = tok if tok.type == "INPUT" else previous[-1]
            message = "'input' is a keyword and cannot be used as a name"
            line, col = kw.line, kw.column
        elif tok.type == "EQUAL" and previous and previous[-1].type == "EQUAL":
            message = "'==' is not an operator in adcli (use '=' to assign)"
        elif tok.type == "EQUAL" and source[tok.end_pos: tok.end_pos + 1] == "=":
            message = "unexpected '='; '==' is not an operator in adcli (use '=' to assign)"
        elif tok.type == "EQUAL" and not open_brackets and "=" in statement_before(source, tok.start_pos):
            message = "unexpected '='; a statement assigns one name (a = b = 1 is not supported)"
        elif tok.type in ("RPAR", "RSQB") and not open_brackets:
            message = f"unexpected '{tok.value}': there is no '{OPENERS[tok.type]}' to close"
        elif (tok.type in ("RPAR", "RSQB") and open_brackets
              and OPENERS[tok.type] != open_brackets[-1].value):
            bracket = open_brackets[-1]
            message = (f"unexpected '{tok.value}'; expected '{CLOSERS[bracket.value]}' to close the "
                       f"'{bracket.value}' at line {bracket.line}, col {bracket.column}")
        else:
            # Ask the parse table: Lark's e.expected also holds the post-lexer's always-accepted newline.
            state = getattr(e, "state", None)
            expected = ({t for t in state.parse_conf.states[state.position] if not t.islower()}
                        if state is not None else set(e.expected))
            # LALR merges states, so drop closers that do not match the innermost open bracket.
            inner = open_brackets[-1].type if open_brackets else None
            expected -= {"RPAR", "RSQB", "COMMA"} - ({"RPAR", "COMMA"} if inner == "LPAR" else
                                                     {"RSQB", "COMMA"} if inner == "LBRACK" else set())
            if inner:  # inside brackets a statement cannot end
                expected -= STATEMENT_END
            if expected == STATEMENT_START | STATEMENT_END or expected == STATEMENT_START | {"_NL"}:
                message = (f"unexpected {describe_token(tok)}; a statement starts with a name, as in "
                           "y = x + 1, or with 'input'")
            else:
                message = f"unexpected {describe_token(tok)}; expected {describe_expected(expected)}"
    else:
        message = "invalid syntax"
    return ParseError(message, Span(line, col, file, source))
