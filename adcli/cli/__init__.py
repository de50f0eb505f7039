"""The command line: the Typer app, one module per command group, and terminal output with Rich.

`entry` answers `--version` and cached `--help` before anything else is imported; `main` registers
every command on `app`; `streams` stands in for closed standard streams. Only this layer imports
typer, click or rich, and nothing below imports it.
"""
