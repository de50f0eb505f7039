"""The command line: parse options, call the core, render, map errors to exit codes."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import click
import typer
from typer.core import TyperGroup

from adcli import __version__
from adcli.cli.support import Style, guard_command, printable, run_main

MULTI_VALUE_OPTIONS = ("--set", "-s", "--tangent", "--vector", "--cotangent", "--dim")


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
        elif arg in MULTI_VALUE_OPTIONS or arg.startswith(("--set=", "--tangent=", "--vector=", "--cotangent=", "--dim=")):
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
        """Run a command: click's usage errors with their escapes spelled out, a bug in adcli one line."""
        def run():
            try:
                return super(AdGroup, self).invoke(ctx)
            except click.ClickException as e:
                raise escaped(e) from None
        return guard_command(run, passthrough=(click.Abort,))


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
    "--inputs", metavar="PATH", help="Input values from a JSON object (name -> value), an .npz file, an .npy "
    "file for a file's one input, or a Zarr array or group (.zarr).")]
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
Workers = Annotated[Optional[int], typer.Option(
    "--workers", metavar="N", help="With --batch: compute the chunks on a local Dask cluster of N worker processes "
    "(pip install 'adcli[dask]'); the results are the same bits.", show_default=False)]
Scheduler = Annotated[Optional[str], typer.Option(
    "--scheduler", metavar="ADDRESS", help="With --batch: compute the chunks on the Dask cluster whose scheduler is "
    "at ADDRESS (tcp://host:8786); DASK_SCHEDULER_ADDRESS does the same.", show_default=False)]
BatchOutput = Annotated[Optional[str], typer.Option(
    "-o", "--output", metavar="FOLDER", help="With --batch: write the results to FOLDER as .npy files, chunk by chunk "
    "(value.npy, grad.W.npy, ...), or as a Zarr group when FOLDER ends in .zarr, not to stdout.",
    show_default=False)]
Resume = Annotated[bool, typer.Option(
    "--resume", help="With -o: go on with a run that was cut short, from the chunks its folder already holds.")]
Checkpoint = Annotated[Optional[str], typer.Option(
    "--checkpoint", metavar="auto|sqrt|N", help="Keep values only at checkpoints and recompute the rest during the "
    "backward pass (the same gradients, bit for bit): every N nodes, √n segments, or auto (by the memory budget).",
    show_default=False)]
MemoryBudget = Annotated[Optional[str], typer.Option(
    "--memory-budget", metavar="SIZE", help="With --checkpoint: the peak memory allowed, such as 200MB or 1.5GiB; "
    "auto picks the schedule that fits, or says none does.", show_default=False)]
Strict = Annotated[bool, typer.Option(
    "--strict", help="Stop (exit 1) at the first NaN or infinite value or gradient, showing where it arose.")]
FormatOption = Annotated[Style, typer.Option(
    "--format", case_sensitive=False, help="text, or github: errors and warnings as GitHub Actions annotations on "
    "stdout (at most 10 of each, then a notice).")]


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


def main() -> None:
    """The console script: the app, guarded as every command is (see adcli.cli.support.run_main)."""
    run_main(app)
