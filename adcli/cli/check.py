"""The `check` command: reverse mode against finite differences and forward mode, for people and CI."""

from __future__ import annotations

import textwrap
from typing import Annotated, Optional

import typer

from adcli.cli.app import Ascii, File, FormatOption, Full, Inputs, Json, Set, Strict, Wrt, app
from adcli.cli.support import (ANNOTATIONS, Style, console_for_stdout, emit_json, given_values, notify, reporting,
                               write_file)
from adcli.errors import EXIT_CHECK_FAILED, EXIT_UNDEFINED, InputError

# Some input had nothing compared (every probe at a kink with no one-sided derivatives, not finite,
# or no elements): not a failure, not a pass either, but like a function not defined at the point,
# nothing was checked (3, which CI scripts and the fuzzing harness already expect from check).
# --allow-skipped turns it into 0.
EXIT_NOTHING_COMPARED = EXIT_UNDEFINED

# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def sci(x) -> str:
    """An error in two significant digits, `-` when nothing was compared (or nothing to relate to)."""
    return "-" if x is None else f"{x:.1e}"


def probe_name(name: str, where) -> str:
    """`W[2, 1]` for an element, `W` for a scalar, `W direction 3` for a random direction."""
    if where == ():
        return name
    return f"{name}[{', '.join(map(str, where))}]" if isinstance(where, tuple) else f"{name} direction {where}"


def check_table(report, ascii_only: bool):
    """One row per input: size, largest errors, forward against reverse, status (fits 80 columns)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from adcli.engine.check import FAIL, KINK, PASS, SKIPPED, UNSURE
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("input", "size", "abs err", "rel err"):
        table.add_column(name, no_wrap=True)
    if report.forward:
        table.add_column("fwd-rev", no_wrap=True)
    table.add_column("status", no_wrap=True)
    styles = {PASS: "green", FAIL: "bold red", KINK: "yellow", UNSURE: "yellow", SKIPPED: "bold yellow"}
    for c in report.inputs:
        size = str(c.size) + ("" if c.mode == "elements" else f" ({c.probes} dirs)")
        errors = (sci(c.max_abs), sci(c.max_rel if c.max_rel or c.max_abs == 0 else None)) if c.compared else ("-", "-")
        row = [c.name, size, *errors]
        if report.forward:
            row.append(sci(c.forward_max_abs))
        row.append(Text(c.status.upper() if c.status == FAIL else c.status, styles[c.status]))
        table.add_row(*row)
    return table


def one_sided_table(report, ascii_only: bool, show: int, full: bool):
    """At kinks: the derivative from each side and where reverse mode's value lies (None if no
    probe sat on a kink). Disagreements first; at most --show rows per input unless --full."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from adcli.engine.check import JUMPS, OUTSIDE
    rows, hidden = [], 0
    for c in report.inputs:
        ranked = sorted(c.one_sided, key=lambda o: (o.verdict != OUTSIDE, o.verdict != JUMPS))
        shown = ranked if full else ranked[:show]
        hidden += len(ranked) - len(shown)
        rows += [(c.name, o) for o in shown]
    if not rows:
        return None, 0
    table = Table(box=box.ASCII if ascii_only else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("at a kink", "left", "right", "reverse", "reverse is"):
        table.add_column(name, no_wrap=True)
    styles = {OUTSIDE: "bold red", JUMPS: "yellow"}
    for name, o in rows:
        verdict = Text(o.verdict.upper() if o.verdict == OUTSIDE else o.verdict, styles.get(o.verdict, "green"))
        left, right = ("jump" if d is None else f"{d:.6g}" for d in (o.left, o.right))
        table.add_row(probe_name(name, o.where), left, right, f"{o.reverse:.6g}", verdict)
    return table, hidden


def worst_lines(report, full: bool) -> list[str]:
    """The worst elements of each failing or inconclusive input (every input's with --full)."""
    lines = []
    for c in report.inputs:
        if not c.worst or not (full or c.status in ("fail", "inconclusive")):
            continue
        lines.append(f"{c.name}: worst elements (reverse vs numeric, absolute and relative error):")
        for p in c.worst:
            values = (f"{p.reverse!r} vs {p.numeric!r}" if full else f"{p.reverse:.12g} vs {p.numeric:.12g}")
            lines.append(f"  {probe_name(c.name, p.where)}: {values}, abs {sci(p.abs_error)}, rel {sci(p.rel_error)}"
                         + ("  FAIL" if p.ratio > 1 else ""))
    return lines


def check_notes(report, allow_skipped: bool = False) -> list[str]:
    """Lines under the table: kinks met, what was skipped, inconclusive inputs, the dot-product test,
    and the verdict."""
    lines = []
    for c in report.inputs:
        unit = "elements" if c.mode == "elements" else "directions"
        for k in c.kinks:
            count = "" if c.size == 1 else f"; at {k.probes} of {c.probes} {unit}, first {probe_name(c.name, k.first)}"
            where = "not differentiable here" if k.at_centre else "a kink within the stencil"
            lines.append(f"{c.name}: {where}: {k.convention} at line {k.line}, col {k.col} ({k.node}{count})")
        if c.outside:
            lines.append(f"{c.name}: at a kink, reverse mode's value lies outside the one-sided derivatives at "
                         f"{len(c.outside)} of {c.probes} {unit}, first {probe_name(c.name, c.outside[0].where)}")
        if c.skipped or not c.probes:
            lines.append(f"{c.name}: {c.coverage()}")
        if c.status == "inconclusive":
            lines.append(f"{c.name}: inconclusive: at {c.unsure} of {c.probes} probes no step could decide (the "
                         "difference lies within rounding noise, the step was lost to rounding, or the stencil left "
                         "the function's domain); try another --eps")
        if c.forward_failed:
            lines.append(f"{c.name}: forward and reverse mode disagree by up to {sci(c.forward_max_abs)}")
        if c.widened:
            lines.append(f"{c.name}: given as float32 and widened to float64: adcli checks the float64 function; "
                         "finite differences of a float32 computation would be meaningless")
    if report.data:
        lines.append(f"not checked (data or integers, never differentiated): {', '.join(report.data)}")
    if report.dot is not None:
        d = report.dot
        lines.append(f"dot-product test of forward against reverse mode: {sci(d.relative)} apart, "
                     + ("pass" if d.passed else f"FAIL (<y, J x> = {d.forward!r}, <J^T y, x> = {d.reverse!r})"))
    for r in report.rules:
        verdicts = [f"{a} {s}" if s == "pass" else f"{a} FAIL (the rule gives {w[0]:.8g}, finite differences {w[1]:.8g})"
                    for a, s, w in zip(r.arguments, r.status, r.worst)]
        lines.append(f"rule {r.rule} (line {r.line}) at the call at {r.call}: {', '.join(verdicts)}")
    failed = [c.name for c in report.inputs if c.status == "fail"]
    wrong_rules = list(dict.fromkeys(r.rule for r in report.rules if r.failed))
    settings = f"eps {report.eps:g}, rtol {report.rtol:g}, atol {report.atol:g}"
    if report.forward:
        settings += "; forward mode too"
    if failed or (report.dot is not None and not report.dot.passed) or wrong_rules:
        what = f"{', '.join(failed)} ({len(failed)} of {len(report.inputs)} inputs; {settings})" if failed else \
            "the dot-product test" if not wrong_rules else ""
        if wrong_rules:
            what += ("; " if what else "") + f"the rule{'s' * (len(wrong_rules) > 1)} {', '.join(wrong_rules)} " \
                "disagree" + ("s" if len(wrong_rules) == 1 else "") + " with finite differences of the function"
        lines.append(f"FAIL: {what}")
        return lines
    counts = [f"{sum(c.status == s for c in report.inputs)} {s}" for s in ("pass", "not differentiable",
                                                                            "inconclusive")]
    counts = ", ".join(n for n in counts if not n.startswith("0 "))
    skipped = report.skipped
    if skipped:
        others = f"; {counts}" if counts else ""
        allowed = ", allowed by --allow-skipped" if allow_skipped else ""
        lines.append(f"nothing compared: {', '.join(skipped)} ({len(skipped)} of {len(report.inputs)} inputs{others}; "
                     f"{settings}{allowed})")
    else:
        lines.append(f"ok: {counts} ({settings})")
    return lines


def undefined_text(report) -> str:
    return (f"{report.output} = {report.value!r}: the function is not defined at this point, so it has no derivative "
            "to check (exit 3); pick a point where it is finite")


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------

@app.command(short_help="Check derivatives against finite differences and forward mode.")
def check(file: File, set_: Set = None, inputs: Inputs = None,
          of: Annotated[Optional[list[str]], typer.Option(
              "--of", metavar="NAME", help="The output (default: the last assigned name); repeat to check several.")]
          = None,
          wrt: Wrt = None,
          eps: Annotated[float, typer.Option("--eps", help="Finite-difference step, relative to each element's "
                                             "size (at least eps itself).")] = 1e-6,
          rtol: Annotated[float, typer.Option("--rtol", help="Relative tolerance.")] = 1e-6,
          atol: Annotated[float, typer.Option("--atol", help="Absolute tolerance.")] = 1e-8,
          max_elements: Annotated[int, typer.Option(
              "--max-elements", metavar="N", help="Check inputs up to N elements one by one; beyond, along "
                                                 "random directions.")] = 256,
          directions: Annotated[int, typer.Option("--directions", metavar="K",
                                                  help="Random directions per large input.")] = 16,
          seed: Annotated[int, typer.Option("--seed", help="Seed for the random directions (0 to 2**32 - 1).")] = 0,
          show: Annotated[int, typer.Option("--show", metavar="N", help="List the N worst elements of a failing or "
                                            "inconclusive input.")] = 5,
          json_: Json = False, full: Full = False, strict: Strict = False, ascii_: Ascii = False,
          junit_xml: Annotated[Optional[str], typer.Option(
              "--junit-xml", metavar="PATH", help="Also write the results as JUnit XML, one test case per input, for CI "
              "servers.")] = None,
          allow_skipped: Annotated[bool, typer.Option(
              "--allow-skipped", help="Exit 0, not 3, when an input had nothing compared (every probe skipped: at a "
              "kink with no one-sided derivatives, or not finite).")] = False,
          format_: FormatOption = Style.text):
    """Compare reverse mode with central finite differences, with forward mode, and by a dot-product test.

    Exit status: 0 when nothing fails, 1 when an input fails, 2 on errors, 3 when nothing was checked:
    the function is not defined at the point (NaN or infinite), or an input had nothing compared
    (0 with --allow-skipped).


    \b

    Example: adcli check samples/mlp.ad --inputs samples/mlp.json
    """
    from adcli.engine.check import check_gradients
    from adcli.engine.check_report import report_json
    from adcli.engine.program import load
    ANNOTATIONS.start(format_, json_)
    with reporting():
        program = load(file)
        given = given_values(set_, inputs, program)
        reports = [check_gradients(program, given, name, eps, rtol, atol, max_elements, directions, seed, strict,
                                   wrt, show, getattr(given, "widened", ())) for name in (of or [None])]
        if junit_xml is not None:
            from adcli.explain.junit import junit_xml as report_xml
            write_file(junit_xml, report_xml(program.graph, reports), "--junit-xml", InputError,
                       sources=(file, inputs))
    notify([r.warning for r in reports])
    if ANNOTATIONS.found is not None:  # --format github: failures, kinks and more at their lines, and the table
        from adcli.explain.annotations import check_annotations
        for annotation in check_annotations(program.graph, reports) + coverage_annotations(program.graph, reports,
                                                                                             allow_skipped):
            ANNOTATIONS.add(annotation)
    if json_:
        emit_json(report_json(reports[0]) if len(reports) == 1 else {"checks": [report_json(r) for r in reports]})
    else:
        from adcli.cli.terminal import show as show_renderables
        from adcli.symbols import ASCII
        console, ascii_only = console_for_stdout(ascii_)
        for report in reports:
            if len(reports) > 1:
                console.print(f"output {report.output}", soft_wrap=True)
            if report.undefined:
                console.print(undefined_text(report), soft_wrap=True)
                continue
            if not report.inputs:
                console.print(f"this file has no inputs to differentiate{' (only data)' if report.data else ''}: "
                              "nothing to check", soft_wrap=True)
                continue
            show_renderables(console, check_table(report, ascii_only))
            sides, hidden = one_sided_table(report, ascii_only, show, full)
            if sides is not None:
                show_renderables(console, sides)
                if hidden:
                    console.print(f"({hidden} more at kinks: --full shows them all)", soft_wrap=True)
            for line in worst_lines(report, full) + check_notes(report, allow_skipped):
                for part in textwrap.wrap(line, 80, subsequent_indent="    ", break_on_hyphens=False):
                    console.print(part.translate(ASCII) if ascii_only else part, soft_wrap=True)
    if any(r.failed for r in reports):
        raise typer.Exit(EXIT_CHECK_FAILED)
    if any(r.undefined for r in reports):
        raise typer.Exit(EXIT_UNDEFINED)
    if any(r.skipped for r in reports) and not allow_skipped:
        raise typer.Exit(EXIT_NOTHING_COMPARED)


def coverage_annotations(graph, reports, allow_skipped: bool) -> list:
    """For --format github, beside what annotations.check_annotations says: an input with nothing
    compared (an error, a warning with --allow-skipped) and reverse mode outside the one-sided
    derivatives at a kink (an error at the kink)."""
    from adcli.errors import Span
    from adcli.explain.annotations import Annotation
    found = []
    inputs = {graph.nodes[i].label: i for i in graph.inputs}
    for report in reports:
        title = f"adcli check {report.output}"
        for c in report.inputs:
            if c.status == "nothing compared":
                found.append(Annotation("warning" if allow_skipped else "error",
                                        f"∂{report.output}/∂{c.name} was not checked: {c.coverage()}",
                                        graph.span(inputs[c.name]), title))
            for o in c.outside[:1]:
                k = next((k for k in c.kinks if k.node in o.nodes), c.kinks[0])
                text = (f"∂{report.output}/∂{c.name} at a kink ({k.convention}): reverse mode gives "
                        f"{o.reverse:.12g}, outside the one-sided derivatives {o.left:.12g} (left) and "
                        f"{o.right:.12g} (right) at {probe_name(c.name, o.where)}")
                found.append(Annotation("error", text, Span(k.line, k.col, graph.file, graph.source), title))
    return found
