"""The editor layer: what a language server answers about a .ad file, as plain data (analysis.py),
and the server (server.py, the one module that imports pygls, the `lsp` extra). It imports the
language, the engine and the explanations below it; the command line starts it."""
