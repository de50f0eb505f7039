"""The `lsp` command: the language server editors start (adcli.editor.server)."""

from __future__ import annotations

import os
import sys

from adcli.cli.app import app
from adcli.cli.support import reporting
from adcli.errors import InputError


@app.command(short_help="A language server for editors, over stdio (the lsp extra).")
def lsp():
    """Serve an editor over standard input and output with the Language Server Protocol: every
    error of a file as you type (syntax, names, shapes), hover with a name's shape and where it is
    defined (its value and gradient when a .json of inputs lies beside the file), go to definition,
    references, completion, document symbols and rename. Editors start it themselves: see
    docs/editors.md. It needs pygls: pip install 'adcli[lsp]'.


    \b

    Example: adcli lsp
    """
    with reporting():
        try:
            from adcli.editor.server import main
        except ImportError as missing:
            raise InputError(f"adcli lsp needs pygls, the lsp extra ({missing}): pip install 'adcli[lsp]'") from None
        try:
            main()
        finally:
            if sys.stdout.closed:  # the server closed its streams when the editor said exit
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
