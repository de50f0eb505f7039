"""What every command shares, without typer or click: messages, exit codes, output and its guards.

The typer app (`adcli.cli.app`) and the fast path that answers `grad` and `eval` without loading
typer (`adcli.cli.entry`) run commands through the same functions here, so the two paths print the
same bytes and exit with the same codes.
"""

from __future__ import annotations

import codecs
import errno
import os
import sys
from contextlib import contextmanager
from enum import Enum

from adcli.cli.streams import quiet_stdout
from adcli.errors import EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OUTPUT, AdError, format_error


class Style(str, Enum):
    text = "text"
    github = "github"



class Annotations:
    """With --format github: the running command's errors and warnings, printed on stdout as it ends."""

    def __init__(self):
        self.found: list | None = None  # None: not collecting, messages go to stderr as text

    def start(self, format_, json_: bool = False) -> None:
        """Collect from now on if the format chosen is github (any command's format enum)."""
        github = getattr(format_, "value", format_) == "github"
        if github and json_:
            import typer  # the one request that needs it never takes the fast path (cli.entry)
            raise typer.BadParameter("--json and --format github both write stdout: give one of them",
                                     param_hint="'--format'")
        self.found = [] if github else None

    def add(self, annotation) -> None:
        self.found.append(annotation)

    def flush(self) -> None:
        """Print what was collected (the ten most important errors and warnings), and stop collecting."""
        found, self.found = self.found, None
        if found:
            from adcli.explain.annotations import limited
            sys.stdout.write("".join(printable(line) + "\n" for line in limited(found)))


ANNOTATIONS = Annotations()


def printable(text: str) -> str:
    """Text safe for a terminal: control characters that came from data written as escapes."""
    from adcli.language.source import shown
    return "\n".join(shown(line) for line in text.split("\n"))


def write_error(text: str) -> None:
    """A message on stderr; a closed or full stderr must not change the exit code."""
    if sys.stderr is None:  # started with stderr closed
        return
    try:
        sys.stderr.write(printable(text) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


@contextmanager
def reporting():
    """Turn an AdError into one message on stderr (or an annotation) and its exit code; never a traceback."""
    core = sys.modules.get("adcli.operations.core")  # not imported yet: nothing computed, nothing to forget
    if core is not None:
        core.STRONG_ZEROS.reset()  # what the strong zero decided is warned about per command
    try:
        yield
    except AdError as e:
        if ANNOTATIONS.found is not None:
            from adcli.explain.annotations import from_error
            ANNOTATIONS.add(from_error(e))
        else:
            write_error(format_error(e))
        raise SystemExit(e.exit_code) from None  # as typer.Exit, which click turns into this


def given_values(set_items, inputs_path, program=None, batch=()):
    """Input values from --inputs, then --set (which wins for a name given in both); names of the
    --inputs file that the program does not use are dropped with a note on stderr. With one --batch
    name, an .npy file is its points."""
    from adcli.engine.inputs import given_values as read
    notes: list[str] = []
    if program is not None and program.pending is not None:  # range(T) and the like: specialised to the sizes
        program.specialise(read(set_items, inputs_path, None, [], batch))
    given = read(set_items, inputs_path, None if program is None else program.graph, notes, batch)
    notify(notes)
    return given


def emit_json(obj) -> None:
    from adcli.numbers import dumps
    sys.stdout.write(dumps(obj) + "\n")


def notify(lines) -> None:
    """Warnings and notes on stderr, in ASCII when stderr cannot show ∂ or ′."""
    from adcli.symbols import ASCII, can_encode
    ascii_only = not can_encode(sys.stderr)
    for line in lines:
        span = getattr(line, "span", None)  # a warning or kink note that knows its place (errors.Located)
        if line and ANNOTATIONS.found is not None and (span or line.startswith("adcli: warning")):
            from adcli.explain.annotations import from_warning
            ANNOTATIONS.add(from_warning(line, span))
        elif line:
            write_error(line.translate(ASCII) if ascii_only else line)


def kink_notes(graph, kinks) -> list[str]:
    """`adcli: note: relu′(0) taken as 0 at line 2, col 5 (...)` for each kink, knowing its place."""
    from adcli.errors import Located
    return [Located(f"adcli: note: {k.note()}", graph.span(k.node)) for k in kinks]


class OutputError(AdError):
    """An output file that could not be written for want of room or a failing device: exit 74."""

    exit_code = EXIT_OUTPUT


DEVICE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)  # the output's fault, not the request's


def write_file(path: str, data: bytes | str, option: str = "-o", error=AdError, sources=()) -> None:
    """Write an output file (text as UTF-8), the one place adcli writes a file it was asked for.

    A path that is one of the files the command read (`sources`: the .ad file, the --inputs file, also
    through a link) is refused before anything is written. A regular file is written to a temporary
    file beside it and moved into place, so a failed write leaves the old file whole; a device or
    FIFO (`/dev/stdout`) is written directly. A full disk exits 74, any other failure 2.
    """
    data = data.encode("utf-8") if isinstance(data, str) else data
    refuse_sources(path, sources, option, error)
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if os.path.isfile(path) or not os.path.exists(path):
            try:  # through a symlink: the link stays, the file it names is replaced
                replace_atomically(os.path.realpath(path), data)
                return
            except PermissionError:  # a writable file in a folder that is not: written in place, as before
                pass
        with open(path, "wb") as out:
            out.write(data)
    except OSError as e:
        kind = OutputError if e.errno in DEVICE_FULL else error
        raise kind(f"{option} {path}: cannot write it ({e.strerror or e})") from None


def refuse_sources(path: str, sources, option: str, error) -> None:
    """Refuse an output path that names a file the command reads: writing it would destroy the input."""
    for source in sources:
        if not source or source == "-":
            continue
        try:
            same = os.path.samefile(path, source)
        except (OSError, ValueError):  # either does not exist (yet): not the same file
            continue
        if same:
            raise error(f"{option} {path}: that is the input file {source}; adcli will not write over it "
                        "(choose another path)")


def replace_atomically(target: str, data: bytes) -> None:
    """Write `target` by a temporary file in its folder and os.replace; the temporary file never stays."""
    import tempfile
    folder = os.path.dirname(target) or "."
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".adcli-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # a full disk or quota shows here, before the old file is gone
        try:
            mode = os.stat(target).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def plain_out(render, ascii_: bool) -> bool:
    """Off a terminal, print what `render(width)` writes, as Rich would lay it out, without loading
    Rich (a fifth of a cold start); False where Rich must print it (see adcli.explain.tables)."""
    from adcli.explain.tables import off_terminal, output_width
    from adcli.symbols import can_encode
    if ascii_ or not off_terminal() or not can_encode(sys.stdout):
        return False
    text = render(output_width())
    if text is None:
        return False
    sys.stdout.write(text)
    return True


def console_for_stdout(ascii_: bool = False):
    """A console for stdout, and whether it writes ASCII symbols (--ascii, or an encoding without ∂)."""
    from adcli.cli.terminal import make_console
    from adcli.symbols import can_encode
    ascii_only = ascii_ or not can_encode(sys.stdout)
    return make_console(ascii_only), ascii_only


def ascii_fallback(error: UnicodeEncodeError) -> tuple[str, int]:
    """Codec error handler: a symbol stdout cannot encode is written in ASCII (∂ -> d), else '?'."""
    from adcli.symbols import ASCII
    text = error.object[error.start:error.end].translate(ASCII)
    return text.encode("ascii", "replace").decode("ascii"), error.end


def guard_command(run, passthrough: tuple = ()):
    """Run a command; a bug in adcli becomes one line on stderr (ADCLI_DEBUG=1: the traceback)."""
    try:
        try:
            return run()
        finally:
            ANNOTATIONS.flush()  # --format github: the command's annotations, however it ended
    except BrokenPipeError:
        # The reader has gone (`adcli ... | head -1`): not a bug. The command then stops quietly with
        # status 1, as Rich does when a table meets a closed pipe.
        raise
    except Exception as e:
        # Exits and usage errors (they carry exit_code) and aborts are the command line's control flow.
        if hasattr(e, "exit_code") or isinstance(e, passthrough) or os.environ.get("ADCLI_DEBUG"):
            raise
        if isinstance(e, OSError) and e.errno in DEVICE_FULL + (errno.EBADF,):
            raise  # the output could not be written (a full disk, a closed stdout): run_main() says so
        if isinstance(e, MemoryError):  # the machine's (or ulimit's) memory ran out below adcli's own limit
            from adcli.limits import human_bytes, max_bytes
            write_error("adcli: error: out of memory: the machine could not give adcli what it needs (adcli's "
                        f"own limit is {human_bytes(max_bytes())}; set ADCLI_MAX_BYTES lower to be told which "
                        "value is too large, or use --checkpoint or --chunk)")
            raise SystemExit(EXIT_ERROR) from None
        first = str(e).splitlines()[0] if str(e) else ""
        write_error(f"adcli: internal error: {type(e).__name__}: {printable(first)} (a bug in adcli; "
                    "ADCLI_DEBUG=1 shows where it happened)")
        raise SystemExit(EXIT_ERROR) from None


def run_main(run) -> None:
    """The console script around `run`: exiting 130 on Ctrl-C, quietly on a closed pipe, 74 when the
    output cannot be written."""
    import warnings
    warnings.simplefilter("ignore")  # no warning of numpy's or Python's reaches the user: adcli says its own
    from adcli.symbols import can_encode
    if not can_encode(sys.stdout) and hasattr(sys.stdout, "reconfigure"):
        # Output that did not translate itself (LANG=C, PYTHONIOENCODING=ascii) must not crash.
        codecs.register_error("adcli-ascii", ascii_fallback)
        sys.stdout.reconfigure(errors="adcli-ascii")
    try:
        try:
            run()
        finally:
            sys.stdout.flush()  # here, where a full disk can be reported, not at interpreter exit
    except KeyboardInterrupt:
        write_error("\nadcli: interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        quiet_stdout()
        sys.exit(EXIT_CHECK_FAILED)
    except OSError as e:
        quiet_stdout()
        write_error(f"adcli: error: cannot write output ({e.strerror or e})")
        sys.exit(EXIT_OUTPUT)
