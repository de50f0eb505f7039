"""Layout: the Lark post-lexer that turns lines and indentation into tokens the grammar reads.

Every logical line ends with one _NL (blank and comment-only lines fold into it); inside brackets
a newline is only white space; an indented block opens with _INDENT and closes with _DEDENT, as in
Python. The indentation comes with the newline token itself, so _INDENT reaches the parser before
the next line is lexed (the contextual lexer lexes each token in the parser's current state).
Indentation is spaces: a tab, or a line that matches no enclosing level, is an error at that line.
"""

from __future__ import annotations

from lark import Token

from adcli.errors import ParseError, Span

OPENERS = ("LPAR", "LBRACK", "LSQB")
CLOSERS = ("RPAR", "RSQB")


class Layout:
    """Lark post-lexer: _NL, _INDENT and _DEDENT from the raw newlines and their indentation."""

    always_accept = ("_NL",)

    def __init__(self):
        self.open: list[Token] = []
        self.file, self.source, self.first_line = "<input>", "", 1

    def reset(self, file: str, source: str, first_line: int = 1) -> None:
        self.file, self.source, self.first_line = file, source, first_line

    def error(self, message: str, line: int, col: int) -> ParseError:
        return ParseError(message, Span(line, col, self.file, self.source))

    def process(self, stream):
        self.open = []
        levels = [0]
        started = ended = False  # a statement has begun; the last token emitted was a _NL
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if self.open:
                    continue  # inside brackets a newline is white space
                if started and not ended:
                    yield Token.new_borrow_pos("_NL", "\n", tok)
                    ended = True
                yield from self.indent(tok, levels, started)
                continue
            if not started and tok.column > 1:
                raise self.error("unexpected indentation: the first statement starts at the left margin",
                                 tok.line, 1)
            started, ended = True, False
            if kind in OPENERS:
                self.open.append(tok)
            elif kind in CLOSERS and self.open:
                self.open.pop()
            yield tok
        if self.open:
            return  # an unclosed bracket: the parser says so at the end of the file
        if started and not ended:  # a file without a final newline: this one stands at its very end
            yield Token("_NL", "", start_pos=len(self.source), line=self.last_line(),
                        column=len(self.source) - self.source.rfind("\n"))
        while len(levels) > 1:
            levels.pop()
            yield Token("_DEDENT", "", line=self.last_line(), column=1)

    def indent(self, newline: Token, levels: list[int], started: bool):
        """_INDENT or _DEDENTs for the line after `newline`, from the spaces it ends with."""
        if newline.end_pos is not None and newline.end_pos >= len(self.source):
            return  # white space at the end of the file indents nothing
        spaces = newline.value.rsplit("\n", 1)[1].replace("\f", "")
        line = newline.end_line
        if "\t" in spaces:
            raise self.error("a tab in the indentation: indent blocks with spaces", line, spaces.index("\t") + 1)
        width = len(spaces)
        if not started:
            if width:
                raise self.error("unexpected indentation: the first statement starts at the left margin", line, 1)
            return
        if width > levels[-1]:
            levels.append(width)
            yield Token("_INDENT", spaces, line=line, column=1, start_pos=newline.end_pos - width,
                        end_line=line, end_column=width + 1, end_pos=newline.end_pos)
            return
        while width < levels[-1]:
            levels.pop()
            if width > levels[-1]:
                raise self.error(f"inconsistent indentation: this line is indented {width} spaces, which matches "
                                 f"no enclosing block (indented {', '.join(map(str, levels))} spaces)", line, 1)
            yield Token("_DEDENT", "", line=line, column=1, start_pos=newline.end_pos, end_line=line,
                        end_column=1, end_pos=newline.end_pos)

    def last_line(self) -> int:
        return self.source.count("\n") + self.first_line
