"""Messages in words a user knows: syntax errors from Lark's view of the input, and the parser's
own complaints about names and calls."""

from __future__ import annotations

import difflib
import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from adcli.errors import ParseError, Span
from adcli.operations import FUNCTIONS


def abbreviate(text: str, limit: int = 24) -> str:
    # ASCII dots, so the message reads the same on a terminal that cannot show an ellipsis.
    return text if len(text) <= limit else f"{text[:10]}...{text[-6:]} ({len(text)} characters)"


KEYWORD_AS_NAME = "'input' is a keyword and cannot be used as a name"
KEYWORDS = ("input", "data", "def", "for", "while", "in", "return", "if", "else", "import", "from", "as")


def nothing_assigned_message(source: str, declared) -> str:
    """Why a program without assignments has nothing to evaluate, in terms of what the file holds."""
    if not source.strip():
        return "the file is empty: it assigns no value, so there is nothing to evaluate"
    if declared:
        return "the file declares inputs but assigns no value, so there is nothing to evaluate"
    code = [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    if code:  # statements that assign nothing: a loop that runs no times, definitions never called
        return ("the file assigns no value (a loop that runs no times, or a def never called, assigns "
                "nothing), so there is nothing to evaluate")
    return "the file has only comments and blank lines: it assigns no value, so there is nothing to evaluate"


# Names other libraries use for functions adcli has, and what adcli calls them.
OTHER_NAMES = {
    "arctan": "atan", "arcsin": "asin", "arccos": "acos", "arctanh": "atanh", "arcsinh": "asinh",
    "arccosh": "acosh", "arctan2": "atan2", "amax": "max", "amin": "min", 
    "absolute": "abs", "fabs": "abs", "logistic": "sigmoid", "expit": "sigmoid", "swish": "silu", "clamp": "clip",
    "slogdet": "logdet", "eigh": "eigvalsh", "eigvals": "eigvalsh", "inverse": "inv", "average": "mean",
    "variance": "var", "stddev": "std", "frobenius": "norm", "l2norm": "norm", "sqr": "square",
    "cumulative_sum": "cumsum", "cat": "concat", "hstack": "concat", "vstack": "concat", "permute": "transpose",
    "view": "reshape", "unsqueeze": "expand_dims", "identity": "eye", "rsqrt": "sqrt", "log_sum_exp": "logsumexp",
    "logsoftmax": "log_softmax", "leakyrelu": "leaky_relu", "triangular_solve": "solve_triangular",
    "cho_factor": "cholesky", "tensordot": "einsum", "inner": "dot", "vdot": "dot", "exp1m": "expm1",
}
OPERATOR_NAMES = {"power": "'**'", "pow": "'**'", "matmul": "'@'", "multiply": "'*'", "divide": "'/'",
                  "add": "'+'", "subtract": "'-'", "negative": "unary '-'"}


def plausible(typed: str, known: str) -> bool:
    """Whether `known` is plausibly what `typed` meant: a slip of the keyboard, not a different
    function whose name holds the other (tan in atan, elu in selu, log in logdet)."""
    short, long = sorted((typed, known), key=len)
    if long.endswith(short) and long != short:
        return False  # a different first letter or prefix names a different function
    return not long.startswith(short) or len(long) - len(short) < 2


def unknown_function_message(name: str, defined=()) -> str:
    """What to say of a call to a function that does not exist: its adcli name, a near miss, or
    where the list of every function is."""
    message = f"unknown function '{name}'"
    if name.lower() in OTHER_NAMES:
        return message + f"; adcli calls it '{OTHER_NAMES[name.lower()]}'"
    if name.lower() in OPERATOR_NAMES:
        return message + f"; use the operator {OPERATOR_NAMES[name.lower()]}"
    names = sorted(set(FUNCTIONS) | set(defined) | {"zeros", "ones", "eye", "arange"})
    close = [c for c in difflib.get_close_matches(name, names, n=3, cutoff=0.75) if plausible(name, c)]
    hint = "'adcli functions' lists every function"
    return message + (f"; did you mean '{close[0]}'? ({hint})" if close else f" ({hint})")


def arity_message(name: str, candidates, given: int) -> str:
    """`max() takes 1 or 2 arguments (and optionally axis, keepdims), but 3 were given`."""
    counts = sorted({1 if op.nargs == -1 else op.nargs for op in candidates})
    takes = " or ".join(str(c) for c in counts)
    optional = list(dict.fromkeys(p for op in candidates for p in op.param_names if p != "spec"))
    extra = f" (and optionally {', '.join(optional)})" if optional else ""
    plural = "s" if counts[-1] != 1 else ""
    were = "was" if given == 1 else "were"
    return f"{name}() takes {takes} argument{plural}{extra}, but {given} {were} given"


TOKEN_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "LBRACK": "'['",
    "RSQB": "']'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "SEMICOLON": "';'",
    "_NL": "the end of the line", "$END": "the end of the file", "PLUS": "'+'", "MINUS": "'-'",
    "STAR": "'*'", "SLASH": "'/'", "FLOORDIV": "'//'", "PERCENT": "'%'", "AT": "'@'", "POW": "'**'", "DOT": "'.'", "INPUT": "'input'",
    "DATA": "'data'", "DEF": "'def'", "FOR": "'for'", "WHILE": "'while'", "IN": "'in'", "RANGE": "'range'",
    "RETURN": "'return'",
    "IF": "'if'", "ELSE": "'else'", "IMPORT": "'import'", "FROM": "'from'", "AS": "'as'", "AUGMENT": "'+='",
    "COMPARE": "a comparison", "STRING": "a string", "_INDENT": "an indented block", "_DEDENT": "the end of a block",
}
EXPRESSION_START = {"NAME", "NUMBER", "LPAR", "LBRACK"}
STATEMENT_START = {"NAME", "INPUT"}
STATEMENT_WORDS = {"NAME", "INPUT", "DATA", "DEF", "FOR", "WHILE", "RETURN", "IMPORT", "FROM"}
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
OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "FLOORDIV", "PERCENT", "AT", "POW", "DOT"}
QUIET = {"IF", "ELSE"}  # `a if c else b` may follow any expression: naming it everywhere would hide the point
STATEMENT_END = {"_NL", "SEMICOLON", "$END"}


def describe_token(tok: Token) -> str:
    """How the parser's view of a token reads in a message."""
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line" if tok.value else "end of file"
    if tok.type == "NAME":
        return f"name '{tok.value}'"
    if tok.type == "NUMBER":
        return f"number {abbreviate(tok.value)}"
    return f"'{tok.value}'"


def brackets_open_at(source: str, end: int, first_line: int = 1) -> list[Token]:
    """The brackets still open before position `end`, innermost last (the language has no strings);
    `source` starts at line `first_line` of its file."""
    stack: list[Token] = []
    line, line_start = first_line, 0
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
        expected -= EXPRESSION_START | {"PLUS", "MINUS", "STRING"}
    if {"STAR", "SLASH", "AT"} <= expected:
        words.append("an operator")
        expected -= OPERATORS | {"COMPARE", "LBRACK"}
    end = "_NL" in expected
    expected -= STATEMENT_END | (QUIET if len(expected - QUIET) else set())
    words += sorted(TOKEN_WORDS.get(t, t.lower()) for t in expected)
    if end:
        words.append("the end of the statement")
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else "something else"


def syntax_error(e: UnexpectedInput, open_brackets, file: str, source: str, first_line: int = 1) -> ParseError:
    """A ParseError in words a user knows, placed where the parser stopped (`source` starts at
    line `first_line` of its file, as a statement compiled alone does)."""
    line, col = max(e.line, 1), max(e.column, 1)
    if isinstance(e, UnexpectedCharacters):
        char = source[e.pos_in_stream] if e.pos_in_stream < len(source) else ""
        message = f"unexpected {describe_character(char)}"
        if char in CHARACTER_HINTS:
            message += "; " + CHARACTER_HINTS[char]
    elif isinstance(e, (UnexpectedToken, UnexpectedEOF)):
        tok = getattr(e, "token", None) or Token("$END", "")
        # At the very start of the input Lark's token history is [None].
        previous = [t for t in getattr(e, "token_history", None) or [] if t is not None]
        # The post-lexer has already popped the bracket an unexpected closer matched; count afresh.
        at = len(source) if tok.type == "$END" else tok.start_pos
        open_brackets = brackets_open_at(source, at, first_line) if at is not None else open_brackets
        # A bracket left open on an earlier line explains any error after it best.
        still_open = {b.start_pos for b in open_brackets}
        unclosed = [b for b in brackets_open_at(source, len(source), first_line) if b.start_pos in still_open]
        if unclosed and tok.type not in OPENERS and (tok.type == "$END" or tok.line > unclosed[-1].line):
            bracket = unclosed[-1]
            closer = ")" if bracket.type == "LPAR" else "]"
            return ParseError(f"'{bracket.value}' is never closed (expected '{closer}')",
                              Span(bracket.line, bracket.column, file, source))
        if tok.type == "$END":  # Lark gives no position for the end of the input
            line = source.count("\n") + first_line
            col = len(source) - (source.rfind("\n") + 1) + 1
        if tok.type == "INPUT" or (previous and previous[-1].type == "INPUT" and tok.type != "NAME"):
            kw = tok if tok.type == "INPUT" else previous[-1]
            message = "'input' is a keyword and cannot be used as a name"
            line, col = kw.line, kw.column
        elif tok.type == "EQUAL" and previous and previous[-1].type == "EQUAL":
            message = "'==' compares two values; a statement assigns with one '=', as in y = x + 1"
        elif tok.type == "DOT" and not open_brackets and previous and previous[-1].type == "NAME" and \
                statement_before(source, tok.start_pos).strip() == previous[-1].value:
            message = ("a statement assigns a value: a method that changes a list or an array in place (x.append(v), "
                       "x.sort()) has no meaning here; build the new value instead (stack([a, b]), np.sort(x))")
        elif tok.type == "FOR" and open_brackets:
            message = ("adcli has no comprehensions: write the operation on the whole array ([v * 2 for v in x] "
                       "is x * 2), or a for loop over range(n)")
        elif tok.type == "_INDENT":
            message = "unexpected indentation: only the body of a def or a for is indented"
            col = 1
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
            elif not re.match(r"\s*(for|while|def)\b", statement_before(source, at)):  # nor a slice start outside
                expected -= {"COLON"}  # them (but a for, while or def head ends with one)
            if STATEMENT_START <= expected <= STATEMENT_WORDS | STATEMENT_END | {"_DEDENT"}:
                message = (f"unexpected {describe_token(tok)}; a statement starts with a name, as in "
                           "y = x + 1, or with input, data, def, for or while")
            elif expected == {"_INDENT"}:
                message = f"unexpected {describe_token(tok)}; expected an indented block after ':'"
            else:
                message = f"unexpected {describe_token(tok)}; expected {describe_expected(expected)}"
    else:
        message = "invalid syntax"
    return ParseError(message, Span(line, col, file, source))
