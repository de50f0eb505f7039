"""Source text: reading a .ad file (or standard input) within the size limit, as UTF-8, with its line
endings made LF; file names shown safely; and where the grammar file is."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

from adcli.errors import InputError, ParseError, Span
from adcli.limits import human_bytes, max_bytes

_PACKAGE = Path(__file__).resolve().parent.parent  # adcli/: a wheel keeps the grammar beside the modules

# control characters (ESC, BEL, ...), and lone surrogates: the bytes of a file name that are not
# UTF-8, which Python keeps as U+DC80..U+DCFF (and any other surrogate, which UTF-8 cannot write)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name: the byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """A name from data, safe to print and to write as UTF-8: control characters and undecodable
    bytes written as escapes (a file named m<0xff><ESC>[2J.ad is shown as m\\xff\\x1b[2J.ad)."""
    return CONTROL.sub(lambda m: escape(m[0]), text)


CHUNK = 1 << 20


def read_at_most(f, most: int) -> bytes:
    """Up to `most` bytes, a chunk at a time: memory follows what the file holds, not the limit."""
    chunks, total = [], 0
    while total < most:
        chunk = f.read(min(CHUNK, most - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def file_status(path: str, where: str) -> os.stat_result:
    """os.stat, its failures said as the errors of a file that cannot be read."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except OSError as e:
        raise InputError(f"{where}: cannot read it ({e.strerror or e})") from None


def read_bounded(path: str, where: str, limit: int | None = None) -> bytes:
    """A file's bytes: a regular file (or a FIFO, read as cat reads it) of at most `limit` bytes;
    a device such as /dev/zero, which never ends, is refused."""
    limit = max_bytes() if limit is None else limit
    info = file_status(path, where)
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{where}: is a directory, not a file")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        raise InputError(f"{where}: is not a regular file (a device or socket, which may never end)")
    if stat.S_ISREG(info.st_mode) and info.st_size > limit:
        raise InputError(f"{where}: the file has {human_bytes(info.st_size)}, over the limit of "
                         f"{human_bytes(limit)} (set ADCLI_MAX_BYTES to raise it)")
    try:
        with open(path, "rb") as f:
            data = read_at_most(f, limit + 1)
    except OSError as e:
        raise InputError(f"{where}: cannot read it ({e.strerror or e})") from None
    if len(data) > limit:
        raise InputError(f"{where}: more than {human_bytes(limit)} to read, over the limit (set ADCLI_MAX_BYTES "
                         "to raise it)")
    return data


GRAMMAR_CANDIDATES = (_PACKAGE / "grammars" / "adcli.lark", _PACKAGE.parent / "grammars" / "adcli.lark")


def grammar_path() -> Path:
    """The grammar file: packaged beside the modules in a wheel, at the top of a checkout otherwise."""
    for path in GRAMMAR_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError("adcli's grammar file adcli.lark is missing from the installation")


def lf_lines(source: str) -> str:
    """The text with every line ending a plain LF: CRLF (Windows) and a lone CR (old Mac files) end
    a line too, and Lark counts lines by LF alone, so positions and the lines errors show agree."""
    return source.replace("\r\n", "\n").replace("\r", "\n") if "\r" in source else source


def plain_source(source: str) -> str:
    """Source text as the parser reads it: without a UTF-8 byte-order mark (as some editors write),
    every line ending LF."""
    return lf_lines(source[1:] if source.startswith("\ufeff") else source)


def source_limit() -> int:
    """The largest .ad file read: a sixteenth of the value limit (256 MiB by default; a parsed file
    takes many times its size in memory)."""
    from adcli.limits import max_bytes
    return max_bytes() // 16


def read_source(path: str) -> tuple[str, str]:
    """(text, display name) of a .ad file; '-' reads standard input. A file that never ends (a link
    to /dev/zero) is refused; a FIFO is read, as cat reads it, up to the limit."""
    from adcli.language.source import read_bounded, shown
    limit = source_limit()
    if path == "-":
        data, name = sys.stdin.buffer.read(limit + 1), "<stdin>"
        if len(data) > limit:
            raise InputError(f"<stdin>: more than {limit:,} bytes of source (set ADCLI_MAX_BYTES to raise the limit)")
    else:
        name = shown(path)
        try:
            data = read_bounded(path, name, limit)
        except InputError as e:
            raise InputError(e.message.replace("is a directory, not a file", "is a directory, not a .ad file")) \
                from None
    try:
        return data.decode("utf-8"), name
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        text = data.decode("utf-8", errors="replace")
        raise ParseError(f"the file is not valid UTF-8 (byte 0x{data[e.start]:02x})",
                         Span(line, col, name, text)) from None
