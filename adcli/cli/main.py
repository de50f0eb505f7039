"""The command line whole: the app with every command registered, in the order `adcli --help` lists them."""

from adcli.cli import grad, inspect, check, trace, forward, matrices, cost, export, functions, lint, lsp  # noqa: F401, I001 - each registers its commands, in this order
from adcli.cli.app import app, main

__all__ = ["app", "main"]
