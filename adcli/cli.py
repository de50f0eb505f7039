"""The command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import codecs
import errno
import os
import sys
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Optional

import click
import typer
from typer.core import TyperGroup

from . import __version__
from .entry import quiet_stdout
from .errors import EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OUTPUT, AdError, InputError, format_error

MULTI_VALUE_OPTIONS = ("--set", "-s", "--tangent", "--dim")


def expand_multi_values(args: list[str]) -> list[str]:
    """Let one `--set` take several NAME=VALUE items: `--set W=2 x=3` -> `--set W=2 --set x=3`."""
    out: list[str] = []
    option, takes_value = None, False
    for i, arg in enumerate(args):
        if arg == "--":  # everything after it is literal
            return out + args[i:]
        if takes_value:  # the option's own first value, whatever it looks like
            out.append(arg)
            takes_value = False
        elif arg in MULTI_VALUE_OPTIONS or arg.startswith(("--set=", "--tangent=", "--dim=")):
            option, takes_value = arg.partition("=")[0], "=" not in arg
            out.append(arg)
        elif option and "=" in arg and not arg.startswith("-"):
            out += [option, arg]
        else:
            option = None
            out.append(arg)
    return out


def escaped(error: click.ClickException) -> click.ClickException:
    """A click error whose message echoes a file name or argument: its control characters as escapes
    (click strips colour codes only off a terminal, and no other control character at all)."""
    error.message = printable(error.message)
    return error


class AdGroup(TyperGroup):
    """The command group, rewriting multi-value options before click parses them."""

    def main(self, args=None, *rest, **kwargs):
        args = sys.argv[1:] if args is None else list(args)
        return super().main(expand_multi_values(args), *rest, **kwargs)

    def make_context(self, *args, **kwargs):
        """Parse the top level; a usage error shows what the user typed with its escapes spelled out."""
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as e:
            raise escaped(e) from None

    def resolve_command(self, ctx, args):
        """Find the command; a near miss is suggested once (click 8.2 and later suggest it themselves)."""
        try:
            return click.Group.resolve_command(self, ctx, args)
        except click.UsageError as e:
            if args and not getattr(e, "possibilities", None):
                from difflib import get_close_matches
                matches = get_close_matches(args[0], list(self.commands))
                if matches:
                    e.message = f"{e.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise

    def invoke(self, ctx):
        """Run a command; a bug in adcli becomes one line on stderr (ADCLI_DEBUG=1: the traceback)."""
        try:
            try:
                return super().invoke(ctx)
            except click.ClickException as e:
                raise escaped(e) from None
            finally:
                ANNOTATIONS.flush()  # --format github: the command's annotations, however it ended
        except BrokenPipeError:
            # The reader has gone (`adcli ... | head -1`): not a bug. Typer then stops quietly with
            # status 1, as Rich does when a table meets a closed pipe.
            raise
        except Exception as e:
            # Exits, usage errors (they carry exit_code) and aborts are click's control flow.
            if hasattr(e, "exit_code") or isinstance(e, typer.Abort) or os.environ.get("ADCLI_DEBUG"):
                raise
            if isinstance(e, OSError) and e.errno in DEVICE_FULL + (errno.EBADF,):
                raise  # the output could not be written (a full disk, a closed stdout): main() says so
            if isinstance(e, MemoryError):  # the machine's (or ulimit's) memory ran out below adcli's own limit
                from .values import human_bytes, max_bytes
                write_error("adcli: error: out of memory: the machine could not give adcli what it needs (adcli's "
                            f"own limit is {human_bytes(max_bytes())}; set ADCLI_MAX_BYTES lower to be told which "
                            "value is too large, or use --checkpoint or --chunk)")
                raise typer.Exit(EXIT_ERROR) from None
            first = str(e).splitlines()[0] if str(e) else ""
            write_error(f"adcli: internal error: {type(e).__name__}: {printable(first)} (a bug in adcli; "
                        "ADCLI_DEBUG=1 shows where it happened)")
            raise typer.Exit(EXIT_ERROR) from None


app = typer.Typer(cls=AdGroup, no_args_is_help=True, add_completion=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Differentiate .ad expression files, and show how the derivative was computed.")

File = Annotated[str, typer.Argument(metavar="FILE", help="The .ad file; '-' reads standard input.",
                                     show_default=False)]
Set = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", metavar="NAME=VALUE",
    help="Input values: numbers, nested lists or constants such as pi/2; several may follow one --set: "
         "--set W=2 x=3.")]
Inputs = Annotated[Optional[str], typer.Option(
    "--inputs", metavar="PATH", help="Input values from a JSON object (name -> value), an .npz file, or an .npy "
    "file for a file's one input.")]
Of = Annotated[Optional[str], typer.Option("--of", metavar="NAME", help="The output (default: the last assigned name).")]
Wrt = Annotated[Optional[list[str]], typer.Option(
    "--wrt", metavar="NAME", help="Differentiate with respect to this input (repeatable; default: all).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
Full = Annotated[bool, typer.Option("--full", help="Show every element of large arrays, every digit.")]
Ascii = Annotated[bool, typer.Option("--ascii", help="Write d, <-, * instead of ∂, ←, · (also chosen when the "
                                     "output cannot show them).")]
Batch = Annotated[Optional[list[str]], typer.Option(
    "--batch", metavar="NAME", help="This input holds many points along its first axis (repeatable; all the "
    "same number B). Results get a leading axis of B; gradients are per point, shared inputs' too.")]
Chunk = Annotated[Optional[int], typer.Option(
    "--chunk", metavar="N", help="With --batch: compute N points at a time (default: as many as fit 256 MiB).",
    show_default=False)]
Checkpoint = Annotated[Optional[str], typer.Option(
    "--checkpoint", metavar="auto|sqrt|N", help="Keep values only at checkpoints and recompute the rest during the "
    "backward pass (the same gradients, bit for bit): every N nodes, √n segments, or auto (by the memory budget).",
    show_default=False)]
MemoryBudget = Annotated[Optional[str], typer.Option(
    "--memory-budget", metavar="SIZE", help="With --checkpoint: the peak memory allowed, such as 200MB or 1.5GiB; "
    "auto picks the schedule that fits, or says none does.", show_default=False)]
Strict = Annotated[bool, typer.Option(
    "--strict", help="Stop (exit 1) at the first NaN or infinite value or gradient, showing where it arose.")]


class Style(str, Enum):
    text = "text"
    github = "github"


FormatOption = Annotated[Style, typer.Option(
    "--format", case_sensitive=False, help="text, or github: errors and warnings as GitHub Actions annotations on "
    "stdout (at most 10 of each, then a notice).")]


class Annotations:
    """With --format github: the running command's errors and warnings, printed on stdout as it ends."""

    def __init__(self):
        self.found: list | None = None  # None: not collecting, messages go to stderr as text

    def start(self, format_, json_: bool = False) -> None:
        """Collect from now on if the format chosen is github (any command's format enum)."""
        github = getattr(format_, "value", format_) == "github"
        if github and json_:
            raise typer.BadParameter("--json and --format github both write stdout: give one of them",
                                     param_hint="'--format'")
        self.found = [] if github else None

    def add(self, annotation) -> None:
        self.found.append(annotation)

    def flush(self) -> None:
        """Print what was collected (the ten most important errors and warnings), and stop collecting."""
        found, self.found = self.found, None
        if found:
            from .annotations import limited
            sys.stdout.write("".join(printable(line) + "\n" for line in limited(found)))


ANNOTATIONS = Annotations()


def version_callback(value: bool):
    if value:
        print(f"adcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", "-V", callback=version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    """Differentiate .ad expression files, and show how the derivative was computed."""


def printable(text: str) -> str:
    """Text safe for a terminal: control characters that came from data written as escapes."""
    from .inputs import shown
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
    core = sys.modules.get("adcli.registry.core")  # not imported yet: nothing computed, nothing to forget
    if core is not None:
        core.STRONG_ZEROS.reset()  # what the strong zero decided is warned about per command
    try:
        yield
    except AdError as e:
        if ANNOTATIONS.found is not None:
            from .annotations import from_error
            ANNOTATIONS.add(from_error(e))
        else:
            write_error(format_error(e))
        raise typer.Exit(e.exit_code) from None


def given_values(set_items, inputs_path, program=None):
    """Input values from --inputs, then --set (which wins for a name given in both); names of the
    --inputs file that the program does not use are dropped with a note on stderr."""
    from .inputs import given_values as read
    notes: list[str] = []
    given = read(set_items, inputs_path, None if program is None else program.graph, notes)
    notify(notes)
    return given


def emit_json(obj) -> None:
    from .values import dumps
    sys.stdout.write(dumps(obj) + "\n")


def notify(lines) -> None:
    """Warnings and notes on stderr, in ASCII when stderr cannot show ∂ or ′."""
    from .symbols import ASCII, can_encode
    ascii_only = not can_encode(sys.stderr)
    for line in lines:
        span = getattr(line, "span", None)  # a warning or kink note that knows its place (errors.Located)
        if line and ANNOTATIONS.found is not None and (span or line.startswith("adcli: warning")):
            from .annotations import from_warning
            ANNOTATIONS.add(from_warning(line, span))
        elif line:
            write_error(line.translate(ASCII) if ascii_only else line)


def kink_notes(graph, kinks) -> list[str]:
    """`adcli: note: relu′(0) taken as 0 at line 2, col 5 (...)` for each kink, knowing its place."""
    from .errors import Located
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
    Rich (a fifth of a cold start); False where Rich must print it (see adcli.tables)."""
    from .symbols import can_encode
    from .tables import off_terminal, output_width
    if ascii_ or not off_terminal() or not can_encode(sys.stdout):
        return False
    text = render(output_width())
    if text is None:
        return False
    sys.stdout.write(text)
    return True


def console_for_stdout(ascii_: bool = False):
    """A console for stdout, and whether it writes ASCII symbols (--ascii, or an encoding without ∂)."""
    from .render import make_console
    from .symbols import can_encode
    ascii_only = ascii_ or not can_encode(sys.stdout)
    return make_console(ascii_only), ascii_only


class GradMode(str, Enum):
    reverse = "reverse"
    forward = "forward"


class Engine(str, Enum):
    numpy = "numpy"
    jax = "jax"
    torch = "torch"


EngineOption = Annotated[Engine, typer.Option(
    "--engine", case_sensitive=False, help="numpy (adcli's own), or the exported module run in jax or torch "
    "(pip install 'adcli[jax]' or 'adcli[torch]').")]


@app.command(short_help="Value and gradient of the output, by reverse or forward mode.")
def grad(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, wrt: Wrt = None,
         json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
         engine: EngineOption = Engine.numpy, batch: Batch = None, chunk: Chunk = None,
         checkpoint: Checkpoint = None, memory_budget: MemoryBudget = None,
         mode: Annotated[GradMode, typer.Option("--mode", help="reverse: one backward pass; forward: one "
                                                "pass per input element (the same gradient).")] = GradMode.reverse,
         format_: FormatOption = Style.text):
    """The output's value and its gradient with respect to every input (reverse mode, or --mode forward).


    \b

    Example: adcli grad samples/relu.ad --set W=2 x=3 b=1
    """
    from .program import load
    from .diagnose import inspect_grad
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        kinks, notes_first = [], []
        if checkpoint is not None or memory_budget is not None:
            given_option = "--checkpoint" if checkpoint is not None else "--memory-budget"  # the one the user wrote
            only_numpy(engine, given_option, mode is GradMode.forward)
            if batch:
                raise InputError(f"{given_option} and --batch do not combine: run the points in chunks (--chunk) "
                                 "to bound memory")
            checkpointed = program.checkpointed(checkpoint or "auto", memory_budget)
            result = checkpointed.grad(of=of, wrt=wrt, **given)
            chosen = checkpointed.schedule
            if checkpointed.kind == "auto":
                notes_first = ["adcli: note: --checkpoint auto: "
                               + ("no checkpoints needed (the plain pass fits)" if chosen.kind == "none" else
                                  f"{len(chosen.segments)} segments, {chosen.checkpoints} values kept")]
        elif batch:
            from .cli_batch import batch_grad
            only_numpy(engine, "--batch", mode is GradMode.forward)
            result, notes, kinks = batch_grad(program, given, batch, chunk, of, wrt, strict)
        elif engine is not Engine.numpy:
            if mode is GradMode.forward:
                raise InputError(f"--engine {engine.value} runs the exported reverse sweep: leave out --mode forward")
            from .cli_export import grad_by_engine
            result = grad_by_engine(program, given, engine.value, of, wrt)
        elif mode is GradMode.forward:
            from .forward import forward_grad
            result = forward_grad(program, of=of, wrt=wrt, **given)
        else:
            result = program.grad(of=of, wrt=wrt, **given)
        if not batch:
            warning, kinks = inspect_grad(program, given, of, wrt, result, strict=strict)
            notes = notes_first + [warning] + kink_notes(program.graph, kinks)
            kinks = [k.to_json() for k in kinks]
    notify(notes + ([] if result.grad or wrt else ["adcli: note: this file has no inputs to differentiate"]))
    if json_:
        from .values import to_json
        out = {"output": result.output, "value": to_json(result.value),
               "grad": {name: to_json(g) for name, g in result.grad.items()}}
        if kinks:  # only then, so output without kinks stays exactly as it was
            out["kinks"] = kinks
        emit_json(out)
        return
    from .tables import grad_text
    if plain_out(lambda width: grad_text(result, full, width, batch), ascii_):
        return
    from .render import grad_table, show
    console, ascii_only = console_for_stdout(ascii_)
    show(console, *grad_table(result, ascii_only, full, console.width, batch))


@app.command("eval", short_help="Every assigned value, or one with --of.")
def eval_(file: File, set_: Set = None, inputs: Inputs = None, of: Of = None, json_: Json = False,
          full: Full = False, strict: Strict = False, ascii_: Ascii = False, engine: EngineOption = Engine.numpy,
          batch: Batch = None, chunk: Chunk = None, format_: FormatOption = Style.text):
    """The value of every assignment, or of one with --of.


    \b

    Example: adcli eval samples/product.ad --set x=17
    """
    from .program import load
    from .diagnose import inspect_eval
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        if batch:
            from .cli_batch import batch_eval
            only_numpy(engine, "--batch")
            values, notes = batch_eval(program, given, batch, chunk, of, strict)
        elif engine is Engine.numpy:
            values = program.eval(of=of, **given)
        else:
            from .cli_export import eval_by_engine
            values = eval_by_engine(program, given, engine.value, of)
        notify(notes if batch else [inspect_eval(program, given, of, values, strict)])
    where = {k: v for k, v in program.where().items() if k in values}
    if json_:
        from .values import to_json
        out = {"values": {name: to_json(v) for name, v in values.items()}}
        if where:  # only then, so the output of a file without loops or functions stays as it was
            out["where"] = where
        emit_json(out)
        return
    from .tables import values_text
    if plain_out(lambda width: values_text(values, full, width, where, batch), ascii_):
        return
    from .render import batch_line, show, values_table
    console, ascii_only = console_for_stdout(ascii_)
    lead = [batch_line(len(next(iter(values.values()))), batch, "values")] if batch and values else []
    show(console, *lead, values_table(values, ascii_only, full, console.width, where))


def only_numpy(engine: Engine, option: str, forward: bool = False) -> None:
    """Options that adcli's own engine alone runs."""
    if engine is not Engine.numpy:
        raise InputError(f"{option} runs on adcli's own engine: leave out --engine {engine.value} (or export the "
                         f"module and use the framework's vmap)")
    if forward:
        raise InputError(f"{option} computes gradients by reverse mode: leave out --mode forward (adcli jvp "
                         f"--batch gives forward mode at every point)")


def ascii_fallback(error: UnicodeEncodeError) -> tuple[str, int]:
    """Codec error handler: a symbol stdout cannot encode is written in ASCII (∂ -> d), else '?'."""
    from .symbols import ASCII
    text = error.object[error.start:error.end].translate(ASCII)
    return text.encode("ascii", "replace").decode("ascii"), error.end


def main() -> None:
    """The console script: run the app, exiting 130 on Ctrl-C and quietly on a closed pipe."""
    import warnings
    warnings.simplefilter("ignore")  # no warning of numpy's or Python's reaches the user: adcli says its own
    from .symbols import can_encode
    if not can_encode(sys.stdout) and hasattr(sys.stdout, "reconfigure"):
        # Output that did not translate itself (LANG=C, PYTHONIOENCODING=ascii) must not crash.
        codecs.register_error("adcli-ascii", ascii_fallback)
        sys.stdout.reconfigure(errors="adcli-ascii")
    try:
        try:
            app()
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


# The other commands live in their own modules and register on `app` when imported; the order
# here is the order `adcli --help` lists them in.
from . import cli_inspect, cli_check, cli_trace, cli_forward, cli_cost, cli_export, cli_functions  # noqa: E402,F401,I001
from . import cli_lint  # noqa: E402,F401
