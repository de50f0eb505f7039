"""Standard streams that were closed, are full or cannot be read: stand-ins that fail clearly, so
adcli exits with a documented code and one message, never a traceback."""

from __future__ import annotations

import errno
import io
import os
import sys


class StandIn(io.TextIOBase):
    """A text stream in place of a standard one that was closed when adcli started (Python leaves it None)."""

    encoding = "utf-8"
    errors = "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


class ClosedOutput(StandIn):
    """For stdout: a command that prints nothing runs as usual, and the first write is an OSError that says so."""

    def write(self, text: str) -> int:
        if text:
            raise OSError(errno.EBADF, "standard output is closed")
        return 0


class Unheard(StandIn):
    """For stderr: messages go nowhere, and the exit code still tells what happened (a usage error is
    2, not a failed write)."""

    def write(self, text: str) -> int:
        return len(text)


class ReadError:
    """The standard input's binary stream, turning a failed read into the error of a file that
    cannot be read (exit 2), never an internal error."""

    def __init__(self, raw):
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        try:
            if self.raw is None:
                raise OSError(errno.EBADF, "standard input is closed")
            return self.raw.read(size)
        except OSError as e:
            from adcli.errors import InputError
            raise InputError(f"<stdin>: cannot read it ({e.strerror or e})") from None

    def __getattr__(self, name):
        if self.raw is None:
            raise AttributeError(name)
        return getattr(self.raw, name)


class GuardedInput:
    """sys.stdin with its `buffer` read through ReadError; everything else is the stream's own."""

    def __init__(self, stream):
        self.stream = stream
        self.buffer = ReadError(getattr(stream, "buffer", None))

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def __getattr__(self, name):
        if self.stream is None:
            raise AttributeError(name)
        return getattr(self.stream, name)


def guard_streams() -> None:
    """Give a closed stdin, stdout or stderr a harmless descriptor, so no file adcli opens takes its
    number (where a child process would write into it), and stand-ins that fail clearly when used."""
    for fd, stream in ((0, sys.stdin), (1, sys.stdout), (2, sys.stderr)):
        if stream is None:
            try:
                os.fstat(fd)
            except OSError:
                try:  # reading a closed stdout or writing a closed stdin fails, as it would have
                    spare = os.open(os.devnull, os.O_WRONLY if fd == 0 else os.O_RDONLY)
                    if spare != fd:
                        os.dup2(spare, fd)
                        os.close(spare)
                except OSError:
                    pass
    if sys.stdout is None:
        sys.stdout = ClosedOutput()
    if sys.stderr is None:
        sys.stderr = Unheard()
    sys.stdin = GuardedInput(sys.stdin)


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so nothing is flushed again into a pipe or disk that failed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
