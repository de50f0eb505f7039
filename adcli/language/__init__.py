"""The language: a .ad file's text becomes a computational graph.

Owns the grammar's loading and the LALR parser (with its indentation post-lexer), syntax errors in
words, expansion of the parser's instructions into a graph (names, shapes from declarations,
functions inlined, loops unrolled), the graph itself, the cache of parsed programs, lint and the
highlighter. It may import the operations (`adcli.operations`) and the base modules at the top of
`adcli/` (errors, limits, numbers, symbols, cachedir); nothing that evaluates or prints.
"""
