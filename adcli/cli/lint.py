"""The `lint` command: every file's syntax, name and shape errors at once, without values, for CI and editors."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from adcli.cli.app import Json, app
from adcli.cli.support import ANNOTATIONS, Style, emit_json, write_error
from adcli.errors import EXIT_ERROR


class LintFormat(str, Enum):
    text = "text"
    github = "github"
    json = "json"
    junit = "junit"


@app.command(short_help="Every syntax, name and shape error of .ad files, without values.")
def lint(files: Annotated[list[str], typer.Argument(
             metavar="FILE...", help="The .ad files; a directory stands for every .ad file under it; '-' reads "
             "standard input.", show_default=False)],
         json_: Json = False,
         format_: Annotated[LintFormat, typer.Option(
             "--format", case_sensitive=False, help="text; github: GitHub Actions annotations (at most 10, then a "
             "notice); json (as --json); junit: JUnit XML, a test case per file and per error.")] = LintFormat.text):
    """Parse each file and check its names and shapes (from its declarations), reporting every error
    found, not only the first: after a syntax error, reading resumes at the next statement; each
    failing statement is reported and the rest of the file is still checked, with nothing reported
    that follows from an earlier error.

    Like other linters, it prints nothing for clean files. Errors go to stdout, as
    FILE:LINE:COL: error: message with the line and a caret, then one summary line on stderr.

    Exit status: 0 when every file is clean, 2 when any has an error.


    \b

    Example: adcli lint samples/
    """
    from adcli.errors import format_error
    from adcli.explain.annotations import error_kind, from_error
    from adcli.language.lint import ad_files, lint_file
    if json_ and format_ == LintFormat.junit:
        raise typer.BadParameter("--json and --format junit both write stdout: give one of them",
                                 param_hint="'--format'")
    json_ = json_ or format_ == LintFormat.json
    ANNOTATIONS.start(Style.github if format_ == LintFormat.github else Style.text, json_)
    paths = ad_files(files)
    found = [(path, error) for path in paths for error in lint_file(path)]
    if format_ == LintFormat.junit:
        from adcli.explain.junit import lint_xml
        sys.stdout.write(lint_xml(paths, found))
    elif ANNOTATIONS.found is not None:
        for _, error in found:
            ANNOTATIONS.add(from_error(error))
    elif json_:
        emit_json([{"file": e.span.file if e.span else path, "line": e.span.line if e.span else None,
                    "col": e.span.col if e.span else None, "message": e.message, "kind": error_kind(e)}
                   for path, e in found])
    else:
        from adcli.cli.support import printable
        sys.stdout.write("".join(printable(format_error(e)) + "\n" for _, e in found))
        if found:
            sys.stdout.flush()  # the summary comes last, also when both streams go to one place (2>&1)
            files_with = len(dict.fromkeys(path for path, _ in found))
            write_error(f"Found {len(found)} error{'s' * (len(found) != 1)} in {files_with} of {len(paths)} "
                        f"file{'s' * (len(paths) != 1)}.")
    if not paths:
        write_error("adcli: warning: no .ad files to lint")
    if found:
        raise typer.Exit(EXIT_ERROR)
