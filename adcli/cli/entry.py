"""The console script: `--version`, `--help` typer printed before, and the plain forms of `grad` and
`eval`, answered without loading typer.

Importing typer and building every command's options costs several times what printing a version
does, and a third of a whole `adcli grad` on a small file. `--version` needs neither; a help text
is what typer printed for the same request the last time, kept in adcli's cache folder under a key
of adcli's version, the command modules, typer's and click's, the terminal's width and the name adcli
was started by, so that any change to what could alter the text makes typer print it anew. `grad`
and `eval` with nothing but a file, `--set` items, `--json` and `--full` run the very functions the
typer commands call (adcli.cli.grad_eval); any other form, a usage error included, goes to typer.
"""

from __future__ import annotations

import os
import sys

from adcli.cli.streams import guard_streams, quiet_stdout

HELP = ("--help", "-h")


def main() -> None:
    """Answer `adcli --version` here, `--help` from the cache where it can, and run the CLI otherwise."""
    guard_streams()
    args = sys.argv[1:]
    if args in (["--version"], ["-V"]):
        from adcli import __version__
        finish(f"adcli {__version__}\n")
    path = help_entry(args)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as cached:
                text = cached.read()
        except (OSError, UnicodeDecodeError):
            text = None
        if text is not None and text.startswith(STAMP):
            finish(text[len(STAMP):])
        remember_help(path)
        return
    request = plain_request(args)
    if request is not None:
        from adcli.cli.grad_eval import run_plain
        run_plain(*request)
    from adcli.cli.main import main as run
    run()


PLAIN_FLAGS = {"--json": "json_", "--full": "full"}


def plain_request(args: list[str]):
    """(command, file, --set items, flags) for `grad` or `eval` written with nothing but a file,
    `--set`/`-s` NAME=VALUE items, `--json` and `--full`, read as typer reads them; None otherwise."""
    if not args or args[0] not in ("grad", "eval"):
        return None
    file, items, flags, setting = None, [], set(), None
    for arg in args[1:]:
        is_item = "=" in arg and not arg.startswith("-")
        if setting == "first" and not is_item:
            return None  # typer takes --set's first value whatever it is: let it say what is wrong
        if arg in ("--set", "-s"):
            setting = "first"
        elif arg in PLAIN_FLAGS:
            flags.add(PLAIN_FLAGS[arg])
            setting = None
        elif setting and is_item:
            items.append(arg)
            setting = "more"  # typer's reading too: one --set takes every NAME=VALUE after it
        elif file is None and (arg == "-" or not arg.startswith("-")):
            file, setting = arg, None
        else:
            return None
    if file is None or setting == "first":
        return None
    return args[0], file, items, sorted(flags)


STAMP = "adcli help\n"  # a complete entry starts with it; anything else is printed afresh


def help_entry(args: list[str]) -> str | None:
    """The cache file for a help request (`--help`, or `COMMAND --help`), or None: not one, or no cache."""
    if not (len(args) == 1 and args[0] in HELP or len(args) == 2 and args[1] in HELP and args[0].isalpha()):
        return None
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8":  # elsewhere the CLI writes ∂ as d: let it
        return None
    from importlib.util import find_spec
    from shutil import get_terminal_size

    from adcli.cachedir import cache_folder
    folder = cache_folder()
    if folder is None:
        return None
    from adcli import __version__
    from adcli.cachedir import digest
    # click names the program as it was started (adcli, or python -m adcli) in the usage line
    started = os.path.basename(sys.argv[0]) if sys.argv else ""
    h = digest(f"{__version__}\0{started}\0{args[0]}\0{get_terminal_size().columns}".encode())
    here = os.path.dirname(os.path.abspath(__file__))
    origins = [os.path.join(here, name) for name in sorted(os.listdir(here)) if name.endswith(".py")]
    for package in ("typer", "click"):
        spec = find_spec(package)
        origins.append(spec.origin if spec and spec.origin else package)
    for origin in origins:
        try:
            info = os.stat(origin)
            h.update(f"{origin}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        except OSError:
            h.update(f"{origin}\0missing\0".encode())
    return os.path.join(folder, f"help-{h.hexdigest()[:40]}.txt")


def remember_help(path: str) -> None:
    """Run the CLI for a help request, keeping what it prints when it succeeds."""
    import io
    from contextlib import redirect_stdout

    from adcli.cli.main import main as run
    buffer = io.StringIO()
    code = 0
    with redirect_stdout(buffer):
        try:
            run()
        except SystemExit as e:
            code = e.code
    text = buffer.getvalue()
    if code in (0, None) and text:
        store(path, STAMP + text)
    finish(text, code)


def store(path: str, text: str) -> None:
    """Write an entry atomically; a cache that cannot be written is no error."""
    import tempfile
    try:
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".help-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError:
        pass


def finish(text: str, code=0) -> None:
    """Print and exit; a reader that has gone (`adcli --help | head -1`) ends it quietly, as in the CLI,
    and an output that cannot be written (a full disk, a closed stdout) is said on stderr: exit 74."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
        sys.exit(1)
    except OSError as e:
        quiet_stdout()
        say(f"adcli: error: cannot write output ({e.strerror or e})")
        sys.exit(74)  # adcli.errors.EXIT_OUTPUT, not imported on this fast path
    sys.exit(code)


def say(text: str) -> None:
    """One line on stderr, if there is a stderr that takes it."""
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # stderr closed (None) or full: the exit code still tells
        pass
