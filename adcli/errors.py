"""Typed errors: every failure a user can cause is an AdError carrying where it happened."""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes, as diff and grep use them.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2
EXIT_UNDEFINED = 3  # check: the function itself is NaN or infinite at the point, so nothing was checked
EXIT_OUTPUT = 74  # the output could not be written (a full disk): sysexits' EX_IOERR
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Span:
    """A place in a source file: 1-based line and column, with the file's name and text."""

    line: int
    col: int
    file: str = "<input>"
    source: str | None = None
    where: str = ""  # the function call or loop iteration the position belongs to

    def source_line(self) -> str | None:
        """The text of this span's line, if the source is known."""
        if self.source is None:
            return None
        # Only "\n" ends a line, as for the parser: splitlines() would also split at \f or U+2028.
        lines = self.source.split("\n")
        return lines[self.line - 1].rstrip("\r") if 0 < self.line <= len(lines) else ""


class Located(str):
    """A warning's text that also knows the source position it is about (for annotations)."""

    span: Span | None = None

    def __new__(cls, text: str, span: Span | None = None):
        self = super().__new__(cls, text)
        self.span = span
        return self


class AdError(Exception):
    """Base class: a message, an optional span, and the exit code the CLI should use."""

    exit_code = EXIT_ERROR
    kind = "error"

    def __init__(self, message: str, span: Span | None = None):
        super().__init__(message)
        self.message = message
        self.span = span

    def __str__(self) -> str:
        return format_error(self)


class ParseError(AdError):
    """The file is not a well-formed program."""


class NameResolutionError(AdError):
    """A name or function that does not exist, or one used where it may not be."""


class NeedsSizes(NameResolutionError):
    """A named dimension used where a number is needed (range(T), x[:n - 1]): the program is expanded
    again for the sizes of the inputs it is given (`dims`: the names it needs)."""

    def __init__(self, message, span=None, dims=()):
        super().__init__(message, span)
        self.dims = tuple(dims)


class ShapeError(AdError):
    """Operand shapes that an operation cannot combine."""


class InputError(AdError):
    """A value given for an input is malformed, missing or does not fit its declaration."""


class NonFiniteError(AdError):
    """A value or gradient became NaN or infinite under --strict."""

    exit_code = EXIT_CHECK_FAILED


SHOWN = 100  # characters of the source line shown on each side of the caret


def format_error(error: AdError) -> str:
    """`FILE:LINE:COL: error: message`, then the source line and a caret under the column."""
    span = error.span
    if span is None:
        return f"adcli: {error.kind}: {error.message}"
    head = f"{span.file}:{span.line}:{span.col}: {error.kind}: {error.message}"
    if span.where:
        head += f" ({span.where})"
    text = span.source_line()
    if text is None:
        return head
    # A long line is cut to a window around the column; control characters would act on the
    # terminal, so they show as '?'.
    col = span.col - 1
    start = max(0, col - SHOWN)
    shown = "".join(c if c.isprintable() or c == "\t" else "?" for c in text[start: col + SHOWN])
    before, after = ("..." if start else ""), ("..." if col + SHOWN < len(text) else "")
    # Tabs keep their width so the caret lines up under the right character.
    pad = " " * len(before) + "".join(c if c == "\t" else " " for c in shown[: col - start])
    return f"{head}\n{before}{shown}{after}\n{pad}^"
