"""Parsing: the Lark LALR parser's reductions write a flat list of instructions (no parse tree, no
recursion), which adcli.language.expand then runs to build the graph, unrolling loops and function calls."""

from __future__ import annotations

import math
import os
import threading
from functools import lru_cache

from lark import Lark, Token, Transformer
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedInput

from adcli.cachedir import cache_folder
from adcli.errors import AdError, NameResolutionError, ParseError, Span
from adcli.language.graph import Graph, paused_gc
from adcli.language.layout import Layout
from adcli.language.numpy_names import (MODULE_ALIASES, MODULES, resolve, unknown_module_message,
                                        unknown_name_message)
from adcli.language.source import grammar_path, lf_lines, plain_source  # noqa: F401 - shared with the cache
from adcli.language.syntax_errors import abbreviate, syntax_error

# ---------------------------------------------------------------------------------------------
# Loading the grammar (from the checkout, or from inside an installed wheel)
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def lark_parser(strict: bool = False):
    """The LALR parser with its compiler and post-lexer; `strict` makes grammar conflicts errors."""
    compiler, layout = Compiler(), Layout()
    # Given at construction, the compiler runs inside the LALR reductions: no tree is ever built.
    parser = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                  postlex=layout, transformer=compiler, maybe_placeholders=True, strict=strict,
                  cache=False if strict else grammar_cache())
    return parser, compiler, layout


def grammar_cache() -> str | bool:
    """A file for Lark's analysed grammar, in a directory only this user can write: the cache is a
    pickle, so a shared temporary directory would let someone else plant one. False if there is
    no such directory, or if something other than a regular file stands at the path (a FIFO or a
    link to /dev/zero would hang every run); the grammar is then analysed at every start."""
    folder = cache_folder()
    if folder is None:
        return False
    # Lark checks the grammar and options against the file's own digest; the name keeps versions apart.
    path = os.path.join(folder, f"grammar-v2-lark{lark_version}.cache")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError:
        return False
    import stat
    return path if stat.S_ISREG(info.st_mode) and info.st_size < 4 << 20 else False


# ---------------------------------------------------------------------------------------------
# Instructions, written while the parser reduces
# ---------------------------------------------------------------------------------------------

class Keyword:
    """A `name=value` function argument (the value is already among the instructions)."""

    __slots__ = ("token",)

    def __init__(self, token):
        self.token = token


class Slice:
    """A slice `a:b:c` in a subscript: which of its three parts are given."""

    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = parts


class Block:
    """An open `for`, `while` or `def` while its body is being read."""

    __slots__ = ("kind", "name", "start", "token", "returns")

    def __init__(self, kind, name, start, token):
        self.kind, self.name, self.start, self.token = kind, name, start, token
        self.returns: list[int] = []  # instruction indices of its `return`s


class ModuleRef:
    """`np`, `np.linalg`: a module path being read, and the index of the one instruction it wrote."""

    __slots__ = ("path", "index")

    def __init__(self, path, index):
        self.path, self.index = path, index


EXPR = object()  # what an expression's reduction returns: its instructions are already written


class Compiler(Transformer):
    """LALR reduction callbacks: each appends instructions in evaluation order (postfix)."""

    def __init__(self):
        super().__init__(visit_tokens=False)
        self.reset("<input>", "")

    def reset(self, file: str, source: str):
        """Start a new parse of `source`."""
        self.file, self.source = file, source
        self.code: list[tuple] = []
        self.blocks: list[Block] = []
        self.modules = dict(MODULE_ALIASES)  # a name -> the module it stands for (np -> numpy)
        self.imported: dict[str, str] = {}  # `from scipy.special import expit as sig`: sig -> scipy.special.expit

    def error(self, cls, message, line, col):
        return cls(message, Span(line, col, self.file, self.source))

    def emit(self, *instruction) -> object:
        self.code.append(instruction)
        return EXPR

    # ---- statements -------------------------------------------------------------------------
    def start(self, children):
        return None

    def simple_line(self, children):
        return None

    def assign(self, children):
        tok, _ = children
        self.shadow(tok.value)
        self.emit("assign", tok.value, tok.line, tok.column)

    def shadow(self, name):
        """A name the file gives a value (input np, np = ...) is that value from here on, not a module."""
        self.modules.pop(name, None)
        self.imported.pop(name, None)

    def assign_many(self, children):
        names = [c for c in children if isinstance(c, Token) and c.type == "NAME"]
        for i, tok in enumerate(names):
            if tok.value in [n.value for n in names[:i]]:
                raise self.error(ParseError, f"'{tok.value}' appears twice on the left of '='", tok.line, tok.column)
            self.shadow(tok.value)
        self.emit("unpack", tuple(t.value for t in names), tuple((t.line, t.column) for t in names),
                  names[0].line, names[0].column)

    def augment(self, children):
        tok, op, _ = children
        self.shadow(tok.value)
        self.emit("augment", tok.value, op.value[:-1], tok.line, tok.column, op.line, op.column)

    def item_assign(self, children):
        """x[i] = v, x[a:b] += v: the subscript's items and the value are already instructions."""
        tok, bracket, *rest = children
        op = rest[-2] if isinstance(rest[-2], Token) and rest[-2].type == "AUGMENT" else None
        items = rest[:-2] if op is not None else rest[:-1]
        layout = tuple(item.parts if isinstance(item, Slice) else None for item in items)
        self.shadow(tok.value)
        self.emit("update", tok.value, layout, op.value[:-1] if op is not None else None, tok.line, tok.column,
                  bracket.line, bracket.column, *((op.line, op.column) if op is not None else (bracket.line,
                                                                                            bracket.column)))

    def import_(self, children):
        """`import numpy as np`, `from scipy.special import gammaln as lg`: names for what adcli has already."""
        if children[0].type == "IMPORT":
            _, path, alias = children
            module = self.module_of(path)
            self.modules[alias.value if alias is not None else path[0].value] = \
                module if alias is not None else path[0].value
            return
        _, path, _, *rest = children
        module = self.module_of(path)
        for name, alias in zip(rest[0::2], rest[1::2]):
            full = f"{module}.{name.value}"
            if full in MODULES:  # from jax import numpy as jnp
                self.modules[(alias or name).value] = full
            elif resolve(full)[0] == "function":
                self.imported[(alias or name).value] = full
            elif resolve(full)[0] != "constant":  # from math import pi: the constant pi already
                raise self.error(ParseError, unknown_name_message(full), name.line, name.column)

    def dotted(self, children):
        return tuple(children)

    def module_of(self, path) -> str:
        """The dotted name of a module adcli reads numpy's spellings from, or an error at its place."""
        module = ".".join(t.value for t in path)
        if module not in MODULES:
            raise self.error(ParseError, unknown_module_message(module), path[0].line, path[0].column)
        return module

    def declare(self, children, data=False):
        tok, declared = children
        if self.blocks:
            raise self.error(ParseError, f"declare inputs at the top level of the file, not inside a "
                             f"{'function' if self.blocks[-1].kind == 'def' else 'loop'}", tok.line, tok.column)
        dtype, shape = declared if declared is not None else (None, None)
        self.shadow(tok.value)
        self.emit("declare", tok.value, dtype, shape, data, tok.line, tok.column)

    def declare_data(self, children):
        self.declare(children, data=True)

    def type(self, children):
        kind, shape = children if len(children) == 2 else (None, children[0])
        if kind is not None and kind.value not in ("int", "float"):
            raise self.error(ParseError, f"unknown element type '{kind.value}'; write int[...] for integer data, "
                             "or just the shape for float64", kind.line, kind.column)
        return ("int" if kind is not None and kind.value == "int" else "float"), () if shape is None else shape

    def shape(self, children):
        dims = []
        for tok in children[1:]:
            if tok is None:
                continue
            if tok.type == "NUMBER":
                if not tok.value.isdigit():
                    raise self.error(ParseError, f"a dimension must be a whole number or a name, not {tok.value}",
                                     tok.line, tok.column)
                if len(tok.value.lstrip("0")) > 12:  # int() refuses over 4300 digits; no array is this large
                    raise self.error(ParseError, f"the dimension {abbreviate(tok.value)} is too large", tok.line,
                                     tok.column)
                dims.append(int(tok.value))
            else:
                dims.append(tok.value)
        return tuple(dims)

    def return_(self, children):
        tok, _ = children
        if not self.blocks or self.blocks[0].kind != "def":
            raise self.error(ParseError, "'return' outside a function: it ends a def's body", tok.line, tok.column)
        if self.blocks[-1].kind != "def":
            raise self.error(ParseError, "'return' inside a loop: a function returns once, as its last statement",
                             tok.line, tok.column)
        self.blocks[-1].returns.append(len(self.code))
        self.emit("return", tok.line, tok.column)

    # ---- loops and functions ----------------------------------------------------------------
    def for_head(self, children):
        var, range_tok, *bounds = children
        bounds = [] if bounds == [None] else bounds
        if not 1 <= len(bounds) <= 3:
            raise self.error(ParseError, f"range() takes 1 to 3 whole numbers (stop; start, stop; or start, stop, "
                             f"step), not {len(bounds)}", range_tok.line, range_tok.column)
        self.shadow(var.value)
        self.blocks.append(Block("for", var.value, len(self.code), var))
        self.emit("for", var.value, len(bounds), None, var.line, var.column)

    def for_stmt(self, children):
        block = self.blocks.pop()
        self.code[block.start] = self.code[block.start][:3] + (len(self.code),) + self.code[block.start][4:]
        self.emit("endfor", block.start)

    def while_kw(self, children):
        """`while`: the loop's instruction comes before its condition's, which it runs every iteration."""
        tok = children[0]
        self.blocks.append(Block("while", None, len(self.code), tok))
        # condition's end, body's start, loop's end; whether on_max_iter= follows max_iter=
        self.emit("while", None, None, None, tok.line, tok.column, False)

    def while_cond(self, children):
        block = self.blocks[-1]
        self.code[block.start] = self.code[block.start][:1] + (len(self.code),) + self.code[block.start][2:]

    def while_head(self, children):
        _, _, key, _, more, _ = children  # the keywords' instructions are written; the expander reads them
        block = self.blocks[-1]
        if key is None:
            raise self.error(ParseError, "a while loop needs its bound: write while CONDITION, max_iter=N: (at most N "
                             "iterations)", block.token.line, block.token.column)
        if key.value != "max_iter":
            raise self.error(ParseError, f"a while loop takes max_iter=N after its condition, not {key.value}=",
                             key.line, key.column)
        if more is not None and more.value != "on_max_iter":
            raise self.error(ParseError, f"a while loop takes on_max_iter=\"warn\" (or \"error\") after max_iter=N, "
                             f"not {more.value}=", more.line, more.column)
        ins = self.code[block.start]
        self.code[block.start] = ins[:2] + (len(self.code),) + ins[3:6] + (more is not None,)

    def while_stmt(self, children):
        block = self.blocks.pop()
        self.code[block.start] = self.code[block.start][:3] + (len(self.code),) + self.code[block.start][4:]
        self.emit("endwhile", block.start)

    def def_head(self, children):
        name, rule, *params = children
        params = [] if params == [None] else params
        if rule is not None:  # def f.vjp(...): f's derivative rule, a function named so
            if rule.value != "vjp":
                raise self.error(ParseError, f"'def {name.value}.{rule.value}': a derivative rule is written "
                                 f"def {name.value}.vjp(..., g)", rule.line, rule.column)
            name = name.update(value=name.value + ".vjp")
        if self.blocks:
            raise self.error(ParseError, "functions are defined at the top level of the file, not inside a "
                             f"{'function' if self.blocks[-1].kind == 'def' else 'loop'}", name.line, name.column)
        seen = set()
        for p in params:
            self.shadow(p.value)
            if p.value in seen:
                raise self.error(ParseError, f"parameter '{p.value}' appears twice in the definition of "
                                 f"'{name.value}'", p.line, p.column)
            seen.add(p.value)
        self.blocks.append(Block("def", name.value, len(self.code), name))
        self.emit("def", name.value, tuple(p.value for p in params), tuple((p.line, p.column) for p in params),
                  None, name.line, name.column)

    def def_inline(self, children):
        block = self.blocks.pop()
        self.emit("return", block.token.line, block.token.column)
        self.close_def(block)

    def def_block(self, children):
        block = self.blocks.pop()
        name, tok = block.name, block.token
        if not block.returns:
            raise self.error(ParseError, f"the body of '{name}' has no 'return': a function body ends with "
                             "return EXPRESSION", tok.line, tok.column)
        if block.returns[-1] != len(self.code) - 1 or len(block.returns) > 1:
            _, line, col = self.code[block.returns[0]]
            raise self.error(ParseError, f"'return' must be the last statement of '{name}'", line, col)
        self.close_def(block)

    def close_def(self, block):
        self.code[block.start] = self.code[block.start][:4] + (len(self.code),) + self.code[block.start][5:]
        self.emit("enddef", block.start)

    def block(self, children):
        return None

    # ---- atoms ------------------------------------------------------------------------------
    def number(self, children):
        (tok,) = children
        value = float(tok.value)
        if math.isinf(value):
            raise self.error(ParseError, f"the number {abbreviate(tok.value)} is too large for float64",
                             tok.line, tok.column)
        if tok.value.isdigit():  # a whole number stays a Python int: exact, as a bound or an index must be
            value = int(tok.value.lstrip("0") or "0")  # float64 holds it, so it has at most 309 digits
        return self.emit("num", value, tok.value, tok.line, tok.column)

    def name(self, children):
        (tok,) = children
        module = self.modules.get(tok.value)
        if module is not None:  # np: read on by the attribute or method after it
            self.emit("module", module, tok.line, tok.column)
            return ModuleRef(module, len(self.code) - 1)
        return self.emit("name", tok.value, tok.line, tok.column)

    def attribute(self, children):
        receiver, tok = children
        if isinstance(receiver, ModuleRef):  # np.linalg, np.pi: still one instruction
            path = f"{receiver.path}.{tok.value}"
            self.code[receiver.index] = ("module", path) + self.code[receiver.index][2:]
            return ModuleRef(path, receiver.index)
        return self.emit("attr", tok.value, tok.line, tok.column)

    def method(self, children):
        receiver, tok, *args = children
        if isinstance(receiver, ModuleRef):  # np.sum(x): a call of the function numpy's name means
            _, _, line, col = self.code.pop(receiver.index)
            return self.call_named(f"{receiver.path}.{tok.value}", args, line, col)
        layout, positions = self.arguments(tok.value, args)
        return self.emit("method", tok.value, layout, positions, tok.line, tok.column)

    def tuple(self, children):
        items = [c for c in children if c is not None]
        line, col = self.code[-1][-2:]  # where its last item is written
        return self.emit("tuple", len(items), line, col)

    def choose(self, children):
        _, tok, _, _ = children
        return self.emit("choose", tok.line, tok.column)

    def ellipsis(self, children):
        (tok,) = children
        return self.emit("ellipsis", tok.line, tok.column)

    def string(self, children):
        (tok,) = children
        return self.emit("str", tok.value[1:-1], tok.line, tok.column)

    def array(self, children):
        tok, *items = children
        items = [] if items == [None] else items
        return self.emit("array", len(items), tok.line, tok.column)

    # ---- operators --------------------------------------------------------------------------
    def binary(self, children):
        _, tok, _ = children
        return self.emit("binary", tok.value, tok.line, tok.column)

    def unary(self, children):
        tok, _ = children
        if tok.value == "+":
            return EXPR
        return self.emit("neg", tok.line, tok.column)

    def slice(self, children):
        start, stop, step = children
        return Slice((start is not None, stop is not None, step is not None))

    def index(self, children):
        _, tok, *items = children
        layout = tuple(item.parts if isinstance(item, Slice) else None for item in items)
        return self.emit("index", layout, tok.line, tok.column)

    def keyword(self, children):
        tok, _ = children
        return Keyword(tok)

    def call(self, children):
        tok, *args = children
        return self.call_named(self.imported.get(tok.value, tok.value), args, tok.line, tok.column)

    def call_named(self, name, args, line, col):
        layout, positions = self.arguments(name, args)
        return self.emit("call", name, layout, positions, line, col)

    def arguments(self, name, args):
        """Each argument's keyword (None if positional) and where the keyword stands."""
        args = [] if args == [None] else args
        layout = tuple(a.token.value if isinstance(a, Keyword) else None for a in args)
        positions = tuple((a.token.line, a.token.column) if isinstance(a, Keyword) else None for a in args)
        for i, keyword in enumerate(layout):
            if keyword is not None and keyword in layout[:i]:
                line, col = positions[i]
                raise self.error(NameResolutionError, f"{name}() got '{keyword}' twice", line, col)
        return layout, positions


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

_LOCK = threading.Lock()


def compile_source(source: str, file: str = "<input>") -> list[tuple]:
    """The instructions of .ad source text (every line end made LF), or an AdError pointing into
    the text."""
    return compile_part(source, file)[0]


def compile_part(source: str, file: str = "<input>", imports: tuple = (), first_line: int = 1) -> tuple[list[tuple], tuple]:
    """(instructions, imports after): compile_source for a part of a file that starts at line
    `first_line`, given the import lines read before it (as this function returned them for the
    part before)."""
    source = lf_lines(source)
    parser, compiler, layout = lark_parser()
    with _LOCK, paused_gc():  # the compiler and post-lexer hold one parse's state
        compiler.reset(file, source)
        if imports:
            compiler.modules, compiler.imported = dict(imports[0]), dict(imports[1])
        layout.reset(file, source, first_line)
        try:
            if first_line == 1:
                parser.parse(source)
            else:  # the lexer counts lines from the part's first: positions are the file's own
                interactive = parser.parse_interactive(source)
                interactive.lexer_thread.state.line_ctr.line = first_line
                interactive.resume_parse()
        except UnexpectedInput as e:
            raise syntax_error(e, layout.open, file, source, first_line) from None
        except AdError:
            raise
        return compiler.code, (tuple(compiler.modules.items()), tuple(compiler.imported.items()))


def parse_source(source: str, file: str = "<input>", sizes: dict | None = None, unroll: bool = False) -> Graph:
    """Parse .ad source text into a Graph, or raise an AdError pointing into the text. With `sizes`
    (a named dimension -> its size), those dimensions are numbers known as the file is read; with
    `unroll`, every loop is unrolled (else a long one is kept as one node)."""
    from adcli.language.expand import expand
    source = plain_source(source)  # no byte-order mark; LF, CRLF and a lone CR all end a line
    code = compile_source(source, file)
    with paused_gc():
        return expand(code, file, source, sizes, unroll)


__all__ = ["Token", "compile_source", "grammar_path", "lark_parser", "parse_source"]
