"""Parsing: the Lark LALR parser reduces straight into graph nodes, with no parse tree and no recursion."""

from __future__ import annotations

import math
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from lark import Lark, Token, Transformer
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedInput

from .errors import NameResolutionError, ParseError, ShapeError, Span
from .graph import CONST, INPUT, Graph, Node, label_temporaries, paused_gc, versioned
from .registry import BINARY_SYMBOLS, CONSTANTS, FUNCTIONS, fmt_shape
from .syntax_errors import (KEYWORD_AS_NAME, abbreviate, arity_message, nothing_assigned_message, syntax_error,
                            unknown_function_message)
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
