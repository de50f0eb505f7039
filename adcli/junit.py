"""`check --junit-xml`: gradient checks as JUnit XML, the format CI servers (Jenkins, GitLab) read.

One test suite per checked output, one test case per input (classname FILE.OUTPUT, name the input,
with the file and line of its declaration), a failure carrying the worst elements; the
dot-product test is a test case of its own. Inputs where no step could decide are skipped with the
reason; a function not defined at the point is an error.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def probe_text(name: str, probe) -> str:
    where = f"[{', '.join(map(str, probe.where))}]" if isinstance(probe.where, tuple) else f" direction {probe.where}"
    rel = "-" if probe.rel_error is None else f"{probe.rel_error:.2e}"
    return f"{name}{where}: reverse {probe.reverse!r}, numeric {probe.numeric!r}, abs {probe.abs_error:.2e}, rel {rel}"


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
        details = "\n".join(probe_text(c.name, p) for p in c.worst)
        if c.status == "fail":
            reason = ("forward and reverse mode disagree" if c.forward_failed and not c.failures else
                      f"reverse mode differs from finite differences at {len(c.failures) or 'some'} element(s)")
            element = ET.SubElement(tc, "failure", message=reason, type="GradientMismatch")
            element.text = details or reason
            counts["failures"] += 1
        elif c.status == "inconclusive":
            ET.SubElement(tc, "skipped", message=f"inconclusive at {c.unsure} of {c.probes} probes: no step could "
                          "decide")
            counts["skipped"] += 1
        elif c.kinks:
            out = ET.SubElement(tc, "system-out")
            out.text = "\n".join(f"not differentiable here: {k.convention} at line {k.line}, col {k.col}"
                                 for k in c.kinks)
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
