"""`check --junit-xml`: gradient checks as JUnit XML, the format CI servers (Jenkins, GitLab) read.

One test suite per checked output, one test case per input (classname FILE.OUTPUT, name the input,
with the file and line of its declaration), a failure carrying the worst elements; the
dot-product test is a test case of its own. Inputs with nothing compared (every probe at a kink
with no one-sided derivatives, or not finite) and inputs where no step could decide are skipped
with the reason, never passed; a function not defined at the point is an error.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def probe_text(name: str, probe) -> str:
    where = f"[{', '.join(map(str, probe.where))}]" if isinstance(probe.where, tuple) else f" direction {probe.where}"
    rel = "-" if probe.rel_error is None else f"{probe.rel_error:.2e}"
    return f"{name}{where}: reverse {probe.reverse!r}, numeric {probe.numeric!r}, abs {probe.abs_error:.2e}, rel {rel}"


def one_sided_text(name: str, side) -> str:
    """`x[0]: at a kink, left 0.0, right 1.0, reverse 0.0 (= left)`."""
    where = f"[{', '.join(map(str, side.where))}]" if isinstance(side.where, tuple) else f" direction {side.where}"
    left, right = ("jump" if d is None else repr(d) for d in (side.left, side.right))
    return f"{name}{where}: at a kink, left {left}, right {right}, reverse {side.reverse!r} ({side.verdict})"


def suite_for(graph, report) -> ET.Element:
    """The test suite of one output's check."""
    file = graph.file
    suite = ET.Element("testsuite", name=f"{file}: {report.output}")
    positions = {graph.nodes[i].label: graph.nodes[i].line for i in graph.inputs}
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    classname = f"{Path(file).name}.{report.output}"

    def case(name, line=None):
        counts["tests"] += 1
        attrs = {"classname": classname, "name": name, "file": file, "time": "0"}
        if line:
            attrs["line"] = str(line)
        return ET.SubElement(suite, "testcase", attrs)

    if report.undefined:
        element = ET.SubElement(case("value"), "error", message="the function is not defined at this point",
                                type="NotDefined")
        element.text = f"{report.output} = {report.value!r}: nothing to check"
        counts["errors"] += 1
    for c in report.inputs:
        tc = case(c.name, positions.get(c.name))
        details = "\n".join([probe_text(c.name, p) for p in c.worst] + [one_sided_text(c.name, o) for o in c.outside])
        if c.status == "fail":
            reason = (f"reverse mode differs from finite differences at {len(c.failures)} element(s)" if c.failures
                      else f"at a kink, reverse mode lies outside the one-sided derivatives at {len(c.outside)} "
                      "element(s)" if c.outside else "forward and reverse mode disagree" if c.forward_failed
                      else "reverse mode differs from finite differences at some element(s)")
            element = ET.SubElement(tc, "failure", message=reason, type="GradientMismatch")
            element.text = details or reason
            counts["failures"] += 1
        elif c.status == "nothing compared":
            ET.SubElement(tc, "skipped", message=c.coverage())
            counts["skipped"] += 1
        elif c.status == "inconclusive":
            ET.SubElement(tc, "skipped", message=f"inconclusive at {c.unsure} of {c.probes} probes: no step could "
                          "decide")
            counts["skipped"] += 1
        if c.status != "nothing compared" and (c.kinks or c.skipped):
            out = ET.SubElement(tc, "system-out")
            kinks = [f"{'not differentiable here' if k.at_centre else 'a kink within the stencil'}: "
                     f"{k.convention} at line {k.line}, col {k.col}" for k in c.kinks]
            out.text = "\n".join(kinks + [one_sided_text(c.name, o) for o in c.one_sided]
                                 + ([c.coverage()] if c.skipped else []))
    if report.dot is not None:
        tc = case("dot-product test")
        if not report.dot.passed:
            element = ET.SubElement(tc, "failure", message="forward and reverse mode disagree", type="DotProduct")
            element.text = f"forward {report.dot.forward!r}, reverse {report.dot.reverse!r}"
            counts["failures"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", "0")
    return suite


def junit_xml(graph, reports) -> bytes:
    """The whole document."""
    root = ET.Element("testsuites", name="adcli check")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports:
        suite = suite_for(graph, report)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def lint_xml(paths: list[str], found: list[tuple]) -> str:
    """`lint --format junit`: a test suite of one test case per clean file and one per error,
    each error a failure with its kind, message and place."""
    from adcli.explain.annotations import error_kind
    suite = ET.Element("testsuite", name="adcli lint")
    failures = 0
    for path in paths:
        errors = [e for p, e in found if p == path]
        for e in errors or [None]:
            name = "no errors" if e is None else f"{e.span.line}:{e.span.col}" if e.span else "file"
            case = ET.SubElement(suite, "testcase", classname=path, name=name, file=path, time="0")
            if e is not None:
                failures += 1
                if e.span:
                    case.set("line", str(e.span.line))
                failure = ET.SubElement(case, "failure", message=e.message, type=error_kind(e))
                failure.text = str(e)
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
