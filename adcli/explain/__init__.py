"""Explanations: the trace and the graph view as plain data, and their renderers.

Owns the step listing of a derivative (what each accumulator update reads and writes), its notation,
its formats (plain text, Markdown, LaTeX, JSON, the HTML page with its script and style sheet), the
graph view (tree, DOT, Mermaid, SVG and PNG through Graphviz), plain-text tables, JUnit XML and
GitHub annotations. It may import the engine, the language and the operations; never typer, click
or rich, which belong to `adcli.cli`.
"""
