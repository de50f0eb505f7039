"""What an editor asks of a .ad file, as plain data: its errors, its names (where each is defined and
used, its shape and type), its functions, and values and gradients when the inputs are known.

Positions are 1-based lines and columns, as in error messages; the server converts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from adcli.errors import AdError
from adcli.language.graph import BOOL, INT
from adcli.language.lint import Lenient, check

IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
DOTTED = re.compile(r"[A-Za-z_][\w.]*")
KEYWORDS = ("input", "data", "def", "for", "while", "in", "range", "return", "import", "from", "as", "if", "else",
            "float", "int", "bool")
GLOBAL = ""  # the scope of the file's own names; a function's locals have the function's name


@dataclass(frozen=True)
class Place:
    """A name's occurrence: line and column of its first character, and its length."""

    line: int
    col: int
    length: int

    def holds(self, line: int, col: int) -> bool:
        return self.line == line and self.col <= col <= self.col + self.length


@dataclass
class Symbol:
    """A name in one scope: what it is, where it is defined, and every place it is read or written."""

    name: str
    scope: str
    kind: str  # input, data, value, function, parameter, loop variable
    definitions: list[Place] = field(default_factory=list)
    uses: list[Place] = field(default_factory=list)
    detail: str = ""  # a function's signature

    def places(self) -> list[Place]:
        return sorted(set(self.definitions + self.uses), key=lambda p: (p.line, p.col))


class Recording(Lenient):
    """Lint's expansion, noting the node each name's definition and use stands for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.node_at: dict[tuple[int, int], int] = {}

    def bound(self, name: str, line: int, col: int) -> None:
        value = (self.calls[-1].env if self.calls else self.env).get(name)
        if isinstance(value, int):
            self.node_at[(line, col)] = value

    def do_name(self, ins, pc):
        pc = super().do_name(ins, pc)
        if self.stack and isinstance(self.stack[-1], int):
            self.node_at[(ins[2], ins[3])] = self.stack[-1]
        return pc

    def do_assign(self, ins, pc):
        pc = super().do_assign(ins, pc)
        self.bound(ins[1], ins[2], ins[3])
        return pc

    def do_declare(self, ins, pc):
        pc = super().do_declare(ins, pc)
        self.bound(ins[1], ins[-2], ins[-1])
        return pc

    def do_augment(self, ins, pc):
        pc = super().do_augment(ins, pc)
        self.bound(ins[1], ins[3], ins[4])
        return pc

    def do_unpack(self, ins, pc):
        pc = super().do_unpack(ins, pc)
        for name, (line, col) in zip(ins[1], ins[2]):
            self.bound(name, line, col)
        return pc


class Analysis:
    """One version of a document, analysed: lint's errors, the symbol table, shapes and values."""

    def __init__(self, source: str, file: str = "<input>", inputs: dict | None = None, parts: dict | None = None):
        from adcli.language.parser import plain_source
        self.source, self.file = plain_source(source), file  # as lint reads it: LF line ends, no BOM
        self.lines = self.source.split("\n")
        self.errors, self.graph, self.shapes, built = check(self.source, file, Recording, parts)
        self.node_at = built.node_at if isinstance(built, Recording) else {}
        self.code = built.code if built is not None else []
        self.symbols: dict[tuple[str, str], Symbol] = {}
        self.occurrences: list[tuple[Place, Symbol]] = []
        self.calls: list[tuple[Place, str]] = []  # each call's or method's function (np.exp stays numpy.exp)
        self.index()
        self.inputs = inputs
        self._values = None

    # ---- the symbol table ----------------------------------------------------------------------
    def symbol(self, name: str, scope: str, kind: str) -> Symbol:
        key = (scope, name)
        if key not in self.symbols:
            self.symbols[key] = Symbol(name, scope, kind)
        return self.symbols[key]

    def note(self, name, scope, kind, line, col, defines: bool) -> None:
        symbol = self.symbol(name, scope, kind)
        place = Place(line, col, len(name))
        (symbol.definitions if defines else symbol.uses).append(place)
        self.occurrences.append((place, symbol))

    def index(self) -> None:
        """Walk the instructions once: definitions, uses and calls, each name in its scope."""
        locals_ = self.function_locals()
        function = None
        for ins in self.code:
            kind = ins[0]
            scope = function if function is not None else GLOBAL
            mine = locals_.get(scope, ())

            def where(name, scope=scope, mine=mine):
                return scope if name in mine else GLOBAL
            if kind == "def":
                _, name, params, positions, *_, line, col = ins
                self.note(name, GLOBAL, "function", line, col, True)
                self.symbols[(GLOBAL, name)].detail = f"def {name}({', '.join(params)})"
                function = name
                for param, (pl, pc) in zip(params, positions):
                    self.note(param, name, "parameter", pl, pc, True)
            elif kind == "enddef":
                function = None
            elif kind == "declare":
                self.note(ins[1], GLOBAL, "data" if ins[4] else "input", ins[-2], ins[-1], True)
            elif kind == "assign":
                self.note(ins[1], where(ins[1]), "value", ins[2], ins[3], True)
            elif kind == "augment":
                self.note(ins[1], where(ins[1]), "value", ins[3], ins[4], True)
            elif kind == "update":
                self.note(ins[1], where(ins[1]), "value", ins[4], ins[5], True)
            elif kind == "unpack":
                for name, (line, col) in zip(ins[1], ins[2]):
                    self.note(name, where(name), "value", line, col, True)
            elif kind == "for":
                self.note(ins[1], where(ins[1]), "loop variable", ins[-2], ins[-1], True)
            elif kind == "name":
                name = ins[1]
                known = (GLOBAL, name) in self.symbols or name in locals_.get(scope, ())
                self.note(name, where(name), "value" if known else "input", ins[2], ins[3], False)
            elif kind == "call":
                line, col = ins[-2], ins[-1]
                text = DOTTED.match(self.lines[line - 1], col - 1) if 0 < line <= len(self.lines) else None
                length = len(text.group()) if text else len(ins[1])
                self.calls.append((Place(line, col, length), ins[1]))
                if ins[1] in self.functions():
                    self.note(ins[1], GLOBAL, "function", line, col, False)
            elif kind == "method":  # x.sum(): the method is the library's function of that name
                self.calls.append((Place(ins[-2], ins[-1], len(ins[1])), ins[1]))
        self.occurrences.sort(key=lambda item: (item[0].line, item[0].col))

    def function_locals(self) -> dict[str, set[str]]:
        """Each def's parameters and the names its body assigns, which are its own (as in Python)."""
        found: dict[str, set[str]] = {}
        current = None
        for ins in self.code:
            if ins[0] == "def":
                current = found.setdefault(ins[1], set(ins[2]))
            elif ins[0] == "enddef":
                current = None
            elif current is not None and ins[0] in ("assign", "augment", "update", "for"):
                current.add(ins[1])
            elif current is not None and ins[0] == "unpack":
                current.update(ins[1])
        return found

    def functions(self) -> dict[str, str]:
        """The file's own functions and their signatures."""
        return {name: s.detail for (scope, name), s in self.symbols.items() if s.kind == "function"}

    # ---- questions at a position ---------------------------------------------------------------
    def at(self, line: int, col: int) -> tuple[Place, Symbol] | None:
        """The name occurrence at a position (its last character counts, as editors place a cursor)."""
        for place, symbol in self.occurrences:
            if place.holds(line, col):
                return place, symbol
        return None

    def call_at(self, line: int, col: int) -> tuple[Place, str] | None:
        for place, name in self.calls:
            if place.holds(line, col):
                return place, name
        return None

    def definition(self, line: int, col: int) -> list[Place]:
        found = self.at(line, col)
        return list(found[1].definitions) if found else []

    def references(self, line: int, col: int, include_definition: bool = True) -> list[Place]:
        found = self.at(line, col)
        if not found:
            return []
        symbol = found[1]
        return symbol.places() if include_definition else sorted(set(symbol.uses) - set(symbol.definitions),
                                                                  key=lambda p: (p.line, p.col))

    def rename(self, line: int, col: int, new: str) -> list[Place]:
        """The places to rewrite; an error if `new` is no name, a keyword, or already taken in scope."""
        found = self.at(line, col)
        if not found:
            raise ValueError("there is no name here to rename")
        if not IDENTIFIER.fullmatch(new) or new in KEYWORDS:
            raise ValueError(f"'{new}' is not a name (a letter or _ first, then letters, digits or _; not a keyword)")
        symbol = found[1]
        if (symbol.scope, new) in self.symbols or (GLOBAL, new) in self.symbols:
            raise ValueError(f"'{new}' is already a name in this file")
        return symbol.places()

    # ---- shapes, values and gradients ---------------------------------------------------------
    def node(self, place: Place) -> int | None:
        return self.node_at.get((place.line, place.col))

    def shape_text(self, index: int) -> str:
        """A node's element type and shape, named dimensions by name: float[n, 3]."""
        node = self.graph.nodes[index]
        kind = {INT: "int", BOOL: "bool"}.get(node.dtype, "float")
        shape = self.shapes[index] if self.shapes is not None else None
        values = self.values()
        if shape is None and values is not None:
            shape = tuple(getattr(values[index], "shape", ()))
        if shape is None:
            return f"{kind}, shape not known without values"
        return f"{kind}[{', '.join(map(str, shape))}]" if shape else f"{kind} (a scalar)"

    def values(self) -> list | None:
        """Every node's value for the inputs given, or None (no inputs, errors, or a failing run)."""
        if self._values is None and self.inputs is not None and not self.errors and self.graph is not None:
            from adcli.engine.program import Program
            try:
                self._values = Program(self.graph, self.source, self.file).values(dict(self.inputs))
            except (AdError, ValueError, ArithmeticError):
                self._values = []
        return self._values or None

    def gradient(self, index: int) -> dict[str, object] | None:
        """The gradient of a scalar value with respect to each parameter, for the inputs given."""
        values = self.values()
        if values is None or getattr(values[index], "size", 1) != 1 or not self.graph.parameters():
            return None
        from adcli.engine.program import Program
        label = self.graph.nodes[index].label
        if label not in dict(self.graph.assigned):
            return None
        try:
            return Program(self.graph, self.source, self.file).grad(of=label, **dict(self.inputs)).grad
        except (AdError, ValueError, ArithmeticError):
            return None


def sibling_inputs(path: str | None) -> dict | None:
    """Input values from the .json file beside a .ad file (model.ad, model.json), if there is one."""
    if not path:
        return None
    beside = Path(path).with_suffix(".json")
    if not beside.is_file():
        return None
    from adcli.engine.inputs import load_inputs
    try:
        return dict(load_inputs(str(beside)))
    except AdError:
        return None


# ---- hover and completion text -------------------------------------------------------------------

def hover(analysis: Analysis, line: int, col: int) -> tuple[Place, str] | None:
    """Markdown for the name or function at a position, with the place it covers."""
    call = analysis.call_at(line, col)
    if call is not None and call[1] not in analysis.functions():
        text = builtin_text(call[1])
        return (call[0], text) if text else None
    found = analysis.at(line, col)
    if found is None:
        return None
    place, symbol = found
    if symbol.kind == "function":
        where = symbol.definitions[0] if symbol.definitions else None
        text = analysis.lines[where.line - 1].strip() if where else ""
        body = f"\n\ndefined at line {where.line}" + (f": `{text}`" if "=" in text else "") if where else ""
        return place, f"```adcli\n{symbol.detail}\n```{body}"
    parts = [f"**{symbol.name}**: {symbol.kind}" + (f" of `{symbol.scope}`" if symbol.scope else "")]
    index = analysis.node(place)
    if index is None and symbol.definitions:
        index = analysis.node(symbol.definitions[-1])
    if index is not None and analysis.graph is not None:
        parts[0] += f" · `{analysis.shape_text(index)}`"
    if symbol.definitions:
        first = symbol.definitions[0]
        parts.append(f"defined at line {first.line}: `{analysis.lines[first.line - 1].strip()}`")
    values = analysis.values()
    if index is not None and values is not None:
        from adcli.numbers import format_value
        parts.append(f"value: `{format_value(values[index])}`")
        gradient = analysis.gradient(index) if symbol.kind == "value" else None
        if gradient:
            label = analysis.graph.nodes[index].label
            parts.append("  \n".join(f"`∂{label}/∂{name} = {format_value(g)}`"
                                   for name, g in gradient.items()))
    return place, "\n\n".join(parts)


def gradient_comment(analysis: Analysis, line: int, col: int) -> tuple[int, str] | None:
    """(line, comment) stating the gradient of the scalar value assigned at a position, for the
    inputs beside the file: the code action that writes it above the assignment."""
    found = analysis.at(line, col)
    if found is None or found[1].kind != "value" or found[0] not in found[1].definitions:
        return None
    index = analysis.node(found[0])
    gradient = analysis.gradient(index) if index is not None else None
    if not gradient:
        return None
    from adcli.numbers import format_value
    label = analysis.graph.nodes[index].label
    text = analysis.lines[line - 1]
    indent = text[:len(text) - len(text.lstrip())]
    parts = ", ".join(f"∂{label}/∂{name} = {format_value(g)}" for name, g in gradient.items())
    return line, f"{indent}# {parts}\n"


def builtin_text(name: str) -> str | None:
    """A library function's signature, meaning and derivative, as `adcli functions` prints them."""
    row = builtin_rows().get(name.rsplit(".", 1)[-1])
    if row is None:
        return None
    text = f"```adcli\n{row['call']}\n```\n{row['meaning']}\n\n{row['derivative']}"
    return text + (f"\n\nwhere it has none: {row['convention']}" if row["convention"] else "")


def builtin_rows() -> dict[str, dict]:
    """`adcli functions`' rows by function name (the first row of a name wins)."""
    from adcli.operations import function_table
    rows: dict[str, dict] = {}
    for row in function_table():
        if IDENTIFIER.fullmatch(row["name"] or ""):
            rows.setdefault(row["name"], row)
    return rows


def completions(analysis: Analysis, line: int, col: int) -> list[tuple[str, str, str]]:
    """(label, kind, detail) of what may be typed at a position: after `np.` the library's
    functions; elsewhere the names in scope, the file's functions, the library's and keywords."""
    text = analysis.lines[line - 1][:col - 1] if 0 < line <= len(analysis.lines) else ""
    rows = builtin_rows()
    if re.search(r"[A-Za-z_]\w*\.\w*$", text):
        return [(name, "function", row["call"]) for name, row in sorted(rows.items())]
    scope = enclosing_function(analysis, line)
    items: dict[str, tuple[str, str, str]] = {}
    for (where, name), symbol in analysis.symbols.items():
        if where in (GLOBAL, scope):
            kind = "function" if symbol.kind == "function" else "variable"
            items.setdefault(name, (name, kind, symbol.detail or symbol.kind))
    for name, row in sorted(rows.items()):
        items.setdefault(name, (name, "function", row["call"]))
    for word in KEYWORDS:
        items.setdefault(word, (word, "keyword", "keyword"))
    return list(items.values())


def enclosing_function(analysis: Analysis, line: int) -> str:
    """The def whose body holds a line, or GLOBAL."""
    best, best_line = GLOBAL, 0
    for symbol in analysis.symbols.values():
        if symbol.kind == "parameter" and symbol.definitions:
            start = symbol.definitions[0].line
            if best_line <= start <= line and body_holds(analysis, start, line):
                best, best_line = symbol.scope, start
    return best


def body_holds(analysis: Analysis, header: int, line: int) -> bool:
    """Whether `line` is the def header's line or within its indented body."""
    if line == header:
        return True
    for number in range(header + 1, line + 1):
        text = analysis.lines[number - 1]
        if text.strip() and not text.startswith((" ", "\t")) and not text.lstrip().startswith("#"):
            return False
    return True


def document_symbols(analysis: Analysis) -> list[tuple[Symbol, Place]]:
    """The file's inputs, data, values and functions with their first definition, in file order."""
    found = [(s, s.definitions[0]) for (scope, _), s in analysis.symbols.items()
             if scope == GLOBAL and s.definitions and s.kind in ("input", "data", "value", "function")]
    return sorted(found, key=lambda item: (item[1].line, item[1].col))
