"""`adcli lsp`: a Language Server Protocol server over stdio, on pygls (the `lsp` extra).

It answers from adcli.editor.analysis, which holds every answer as plain data; here are only the
protocol's types. Each document is analysed once per version, when it is opened or changed; the
requests that follow read that analysis.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from adcli import __version__
from adcli.editor.analysis import Analysis, completions, document_symbols, gradient_comment, hover, sibling_inputs
from adcli.errors import AdError
from adcli.explain.annotations import error_kind
from adcli.language.recovery import compile_parts

TOKEN = re.compile(r"[A-Za-z_]\w*|\S")  # what a diagnostic underlines: the name or character at its caret
KINDS = {"function": lsp.CompletionItemKind.Function, "variable": lsp.CompletionItemKind.Variable,
         "keyword": lsp.CompletionItemKind.Keyword}
SYMBOL_KINDS = {"input": lsp.SymbolKind.Variable, "data": lsp.SymbolKind.Constant,
                "value": lsp.SymbolKind.Variable, "function": lsp.SymbolKind.Function}


class AdServer(LanguageServer):
    """The server, with the latest analysis of each open document."""

    def __init__(self):
        super().__init__("adcli", __version__)
        self.analyses: dict[str, Analysis] = {}
        self.parts: dict[str, dict] = {}  # each document's statements, compiled (recovery.compile_parts)

    def analyse(self, uri: str) -> Analysis:
        document = self.workspace.get_text_document(uri)
        path = file_path(uri)
        parts = self.parts.setdefault(uri, {})
        analysis = Analysis(document.source, path or uri, sibling_inputs(path), parts)
        self.analyses[uri] = analysis
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, version=document.version, diagnostics=[diagnostic(e, analysis.lines) for e in analysis.errors]))
        if not parts:  # opened: the diagnostics are out; now compile it by statements for the edits to come
            try:
                compile_parts(analysis.source, analysis.file, parts)
            except AdError:
                parts.clear()
        return analysis

    def analysis(self, uri: str) -> Analysis:
        return self.analyses.get(uri) or self.analyse(uri)


def file_path(uri: str) -> str | None:
    """The local path of a file: URI, or None for an unsaved document."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else None


# ---- positions: the protocol counts lines from 0 and characters in UTF-16 code units ------------

def utf16(text: str, col: int) -> int:
    """The UTF-16 offset of 1-based column `col` in a line."""
    return len(text[:col - 1].encode("utf-16-le")) // 2


def column(text: str, character: int) -> int:
    """The 1-based column of a UTF-16 offset in a line."""
    units = 0
    for k, char in enumerate(text):
        if units >= character:
            return k + 1
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text) + 1


def line_text(lines: list[str], line: int) -> str:
    return lines[line - 1] if 0 < line <= len(lines) else ""


def to_range(lines: list[str], line: int, col: int, length: int) -> lsp.Range:
    text = line_text(lines, line)
    return lsp.Range(lsp.Position(line - 1, utf16(text, col)), lsp.Position(line - 1, utf16(text, col + length)))


def from_position(lines: list[str], position: lsp.Position) -> tuple[int, int]:
    line = position.line + 1
    return line, column(line_text(lines, line), position.character)


def diagnostic(error, lines: list[str]) -> lsp.Diagnostic:
    """An error as a diagnostic: the name or token at its caret, or one character."""
    span = error.span
    line, col = (span.line, span.col) if span else (1, 1)
    text = line_text(lines, line)
    match = TOKEN.match(text, col - 1) if col >= 1 else None
    word = len(match.group()) if match else 0
    if not word and 1 < col <= len(text) + 1:  # at the end of a line: underline the character before
        col, word = col - 1, 1
    return lsp.Diagnostic(range=to_range(lines, line, col, word), message=error.message,
                          severity=lsp.DiagnosticSeverity.Error, source="adcli", code=error_kind(error))


def location(uri: str, lines: list[str], place) -> lsp.Location:
    return lsp.Location(uri=uri, range=to_range(lines, place.line, place.col, place.length))


# ---- the features ------------------------------------------------------------------------------

def build() -> AdServer:
    """The server with every feature registered."""
    server = AdServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: AdServer, params: lsp.DidOpenTextDocumentParams):
        ls.analyse(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: AdServer, params: lsp.DidChangeTextDocumentParams):
        ls.analyse(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: AdServer, params: lsp.DidSaveTextDocumentParams):
        ls.analyse(params.text_document.uri)  # the inputs beside it may have changed too

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: AdServer, params: lsp.DidCloseTextDocumentParams):
        ls.analyses.pop(params.text_document.uri, None)
        ls.parts.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=params.text_document.uri,
                                                                          diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: AdServer, params: lsp.HoverParams):
        analysis = ls.analysis(params.text_document.uri)
        found = hover(analysis, *from_position(analysis.lines, params.position))
        if found is None:
            return None
        place, text = found
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
                         range=to_range(analysis.lines, place.line, place.col, place.length))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: AdServer, params: lsp.DefinitionParams):
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        places = analysis.definition(*from_position(analysis.lines, params.position))
        return [location(uri, analysis.lines, p) for p in places] or None

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls: AdServer, params: lsp.ReferenceParams):
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        places = analysis.references(*from_position(analysis.lines, params.position),
                                     params.context.include_declaration)
        return [location(uri, analysis.lines, p) for p in places] or None

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                    lsp.CompletionOptions(trigger_characters=["."]))
    def on_completion(ls: AdServer, params: lsp.CompletionParams):
        analysis = ls.analysis(params.text_document.uri)
        items = completions(analysis, *from_position(analysis.lines, params.position))
        return lsp.CompletionList(is_incomplete=False, items=[
            lsp.CompletionItem(label=label, kind=KINDS[kind], detail=detail) for label, kind, detail in items])

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: AdServer, params: lsp.DocumentSymbolParams):
        analysis = ls.analysis(params.text_document.uri)
        found = []
        for symbol, place in document_symbols(analysis):
            where = to_range(analysis.lines, place.line, place.col, place.length)
            line = analysis.lines[place.line - 1]
            whole = lsp.Range(lsp.Position(place.line - 1, 0), lsp.Position(place.line - 1, utf16(line, len(line) + 1)))
            found.append(lsp.DocumentSymbol(name=symbol.name, kind=SYMBOL_KINDS[symbol.kind], range=whole,
                                            selection_range=where, detail=symbol.detail or symbol.kind))
        return found

    @server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(ls: AdServer, params: lsp.PrepareRenameParams):
        analysis = ls.analysis(params.text_document.uri)
        found = analysis.at(*from_position(analysis.lines, params.position))
        if found is None:
            return None
        place = found[0]
        return to_range(analysis.lines, place.line, place.col, place.length)

    @server.feature(lsp.TEXT_DOCUMENT_RENAME)
    def on_rename(ls: AdServer, params: lsp.RenameParams):
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        try:
            places = analysis.rename(*from_position(analysis.lines, params.position), params.new_name)
        except ValueError as why:
            raise RenameRefused(str(why)) from None
        edits = [lsp.TextEdit(range=to_range(analysis.lines, p.line, p.col, p.length), new_text=params.new_name)
                 for p in places]
        return lsp.WorkspaceEdit(changes={uri: edits})

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.RefactorRewrite]))
    def on_code_action(ls: AdServer, params: lsp.CodeActionParams):
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        found = gradient_comment(analysis, *from_position(analysis.lines, params.range.start))
        if found is None:
            return None
        line, text = found
        at = lsp.Range(lsp.Position(line - 1, 0), lsp.Position(line - 1, 0))
        return [lsp.CodeAction(title="Write the gradient above (for the inputs beside the file)",
                               kind=lsp.CodeActionKind.RefactorRewrite,
                               edit=lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(range=at, new_text=text)]}))]

    return server


class RenameRefused(Exception):
    """A rename that would not be a rename (no name there, a keyword, a name already taken);
    pygls answers the request with its message as the error."""


def main() -> None:
    """Serve one editor over standard input and output until it says exit."""
    build().start_io()
