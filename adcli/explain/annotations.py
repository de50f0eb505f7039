"""GitHub Actions annotations: errors and warnings as `::error file=F,line=L,col=C::message` lines.

Plain data in, lines out; the CLI decides when to use them (--format github). GitHub shows at most
ten errors and ten warnings of one step, so `limited` keeps the ten most important of each and
ends with one notice saying how many more there were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adcli.errors import AdError, InputError, NameResolutionError, NonFiniteError, ParseError, ShapeError, Span

SHOWN_PER_LEVEL = 10  # GitHub's limit per step for errors, and again for warnings

KINDS = ((ParseError, "parse"), (NameResolutionError, "name"), (ShapeError, "shape"), (InputError, "input"),
         (NonFiniteError, "non-finite"))


@dataclass(frozen=True)
class Annotation:
    """One message for GitHub's annotation list: its level, text and, when known, place."""

    level: str  # "error", "warning" or "notice"
    message: str
    span: Span | None = None
    title: str = "adcli"
    priority: int = 0  # 0 first: among one level, lower numbers are shown before the limit cuts


def error_kind(error: AdError) -> str:
    """parse, name, shape, input, or error: what sort of mistake the file or the command line holds."""
    return next((kind for cls, kind in KINDS if isinstance(error, cls)), "error")


def from_error(error: AdError) -> Annotation:
    """An AdError as an `error` annotation at its span (titled by its kind)."""
    message = error.message + (f" ({error.span.where})" if error.span is not None and error.span.where else "")
    kind = error_kind(error)
    title = "adcli" if kind == "error" else f"adcli {kind} error"
    return Annotation("error", message, error.span, title)


def from_warning(text: str, span: Span | None = None, priority: int = 0) -> Annotation:
    """A warning or note line (`adcli: warning: ...`) as a `warning` annotation, without its prefix."""
    for prefix in ("adcli: warning: ", "adcli: note: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return Annotation("warning", text, span, priority=priority)


# ---------------------------------------------------------------------------------------------
# The workflow-command syntax
# ---------------------------------------------------------------------------------------------

def escape_message(text: str) -> str:
    """GitHub's escapes for a command's message: %, CR and LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """GitHub's escapes for a property value: the message's, and `:` and `,`, which end a property."""
    return escape_message(text).replace(":", "%3A").replace(",", "%2C")


TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9']*|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+|\*\*|\S")


def token_end(text: str | None, col: int) -> int | None:
    """The column just after the token that starts at `col` (1-based), as ruff gives endColumn; None
    when the line is unknown."""
    if text is None:
        return None
    found = TOKEN.match(text, col - 1) if 0 < col <= len(text) else None
    return col + len(found.group()) if found else col


def located(span: Span | None) -> bool:
    """Whether a span names a real file GitHub can show: not standard input or a string."""
    return span is not None and not span.file.startswith("<")


def command(a: Annotation) -> str:
    """`::error file=F,line=L,col=C,endColumn=E,title=T::message`; properties GitHub cannot use are left out."""
    props = []
    message = a.message
    if located(a.span):
        s = a.span
        props += [f"file={escape_property(s.file)}", f"line={s.line}", f"col={s.col}"]
        end = token_end(s.source_line(), s.col)
        if end is not None:
            props.append(f"endColumn={end}")
    elif a.span is not None:  # standard input: the place goes into the message instead
        message = f"{a.span.file}:{a.span.line}:{a.span.col}: {message}"
    props.append(f"title={escape_property(a.title)}")
    return f"::{a.level} {','.join(props)}::{escape_message(message)}"


def limited(annotations: list[Annotation]) -> list[str]:
    """The command lines to print: the ten most important errors, then warnings, then notices, and
    one notice for what GitHub would not have shown."""
    lines, hidden = [], {}
    for level in ("error", "warning", "notice"):
        chosen = sorted((a for a in annotations if a.level == level), key=lambda a: a.priority)  # stable
        lines += [command(a) for a in chosen[:SHOWN_PER_LEVEL]]
        if len(chosen) > SHOWN_PER_LEVEL:
            hidden[level] = len(chosen) - SHOWN_PER_LEVEL
    if hidden:
        counts = " and ".join(f"{n} more {level}{'s' * (n != 1)}" for level, n in hidden.items())
        lines.append(f"::notice::{counts} not shown: GitHub shows at most {SHOWN_PER_LEVEL} of each kind per step "
                     "(run without --format github to see them all)")
    return lines


# ---------------------------------------------------------------------------------------------
# What `adcli check` found
# ---------------------------------------------------------------------------------------------

def check_annotations(graph, reports) -> list[Annotation]:
    """A failing input's error at its declaration (as JUnit names it); a disagreeing dot-product test at
    the output; kinks, inconclusive inputs and a function not defined at the point as warnings."""
    found = []
    inputs = {graph.nodes[i].label: i for i in graph.inputs}
    for report in reports:
        out = graph.span(node_of(graph, report.output))
        title = f"adcli check {report.output}"
        if report.undefined:
            found.append(Annotation("warning", f"{report.output} = {report.value!r}: the function is not defined at "
                                    "this point, so it has no derivative to check", out, title))
        failing = sorted((c for c in report.inputs if c.status == "fail"),
                         key=lambda c: -max((p.ratio for p in c.worst), default=float("inf")))
        for c in failing:
            found.append(Annotation("error", failure_text(report.output, c), graph.span(inputs[c.name]), title))
        if report.dot is not None and not report.dot.passed:
            found.append(Annotation("error", f"forward and reverse mode disagree in the dot-product test: "
                                    f"forward {report.dot.forward!r}, reverse {report.dot.reverse!r}", out, title))
        for c in report.inputs:
            for k in c.kinks:
                found.append(Annotation("warning", f"∂{report.output}/∂{c.name}: not differentiable here: "
                                        f"{k.convention} ({k.node})", Span(k.line, k.col, graph.file, graph.source),
                                        title, priority=1))
            if c.status == "inconclusive":
                found.append(Annotation("warning", f"∂{report.output}/∂{c.name}: inconclusive at {c.unsure} of "
                                        f"{c.probes} probes: no step could decide; try another --eps",
                                        graph.span(inputs[c.name]), title, priority=1))
    return found


def node_of(graph, name: str) -> int:
    """The node of an output named by `--of`: a name's last version, or a label such as h'."""
    if name in graph.names:
        return graph.names[name]
    return next((i for i, node in enumerate(graph.nodes) if node.label == name), graph.output)


def failure_text(output: str, c) -> str:
    """`∂y/∂x is wrong: reverse mode 1 but finite differences 500001 at x (abs 5.0e+05, ...)`."""
    text = f"∂{output}/∂{c.name} is wrong"
    failures = c.failures
    if failures:
        p = failures[0]
        where = "" if p.where == () else (f"[{', '.join(map(str, p.where))}]" if isinstance(p.where, tuple)
                                          else f" direction {p.where}")
        rel = "-" if p.rel_error is None else f"{p.rel_error:.1e}"
        text += (f": reverse mode gives {p.reverse:.12g} but finite differences {p.numeric:.12g} at {c.name}{where} "
                 f"(abs error {p.abs_error:.1e}, rel {rel})")
        if len(failures) > 1:
            text += f"; {len(failures) - 1} more of the worst elements fail too"
    if c.forward_failed:
        text += ("; " if failures else ": ") + f"forward and reverse mode disagree by up to {c.forward_max_abs:.1e}"
    return text
