"""Typed errors: every failure a user can cause is an AdError carrying where it happened."""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes, as diff and grep use them.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Span:
    """A place in a source file: 1-based line and column, with the file's name and text."""

    line: int
    col: int
    file: str = "<input>"
    source: str | None = None

    def source_line(self) -> str | None:
        """The text of this span's line, if the source is known."""
        if self.source is None:
            return None
        lines = self.source.splitlines()
        return lines[self.line - 1] if 0 < self.line <= len(lines) else ""


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


class ShapeError(AdError):
    """Operand shapes that an operation cannot combine."""


class InputError(AdError):
    """A value given for an input is malformed, missing or does not fit its declaration."""


class NonFiniteError(AdError):
    """A value or gradient became NaN or infinite under --strict."""

    exit_code = EXIT_CHECK_FAILED


def format_error(error: AdError) -> str:
    """`FILE:LINE:COL: error: message`, then the source line and a caret under the column."""
    span = error.span
    if span is None:
        return f"adcli: {error.kind}: {error.message}"
    head = f"{span.file}:{span.line}:{span.col}: {error.kind}: {error.message}"
    text = span.source_line()
    if text is None:
        return head
    # Tabs keep their width so the caret lines up under the right character.
    pad = "".join(c if c == "\t" else " " for c in text[: span.col - 1])
    return f"{head}\n{text}\n{pad}^"
