"""`adcli lsp` driven as an editor drives it (pytest-lsp): one server for the module, real files.

- initialize advertises hover, definition, references, completion, document symbols and rename;
- diagnostics on open and on every change: each error of the file at its token (0-based lines,
  UTF-16 characters), with source "adcli" and the error's kind as its code;
- hover: a name's kind, element type and shape, where it is defined, its value and gradient when
  a .json of inputs lies beside the file; a library function's signature and derivative; a
  user function's signature;
- definition, references, completion, document symbols, rename (in scope only; refused for a
  keyword or a name already taken), and positions after non-ASCII text on the same line;
- the server exits cleanly when told to, and says how to install pygls when it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = [sys.executable, "-m", "adcli", "lsp"]
asyncio = pytest.mark.asyncio(loop_scope="module")  # every async test talks to the module's one server
INITIALIZED: list[lsp.InitializeResult] = []  # what the server answered to initialize


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient):
    INITIALIZED.append(await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=lsp.ClientCapabilities())))
    yield
    await lsp_client.shutdown_session()


# ---- helpers -------------------------------------------------------------------------------------

async def open_file(client: LanguageClient, path: Path, text: str) -> str:
    """Write the file, open it in the server, and wait for its diagnostics; its URI."""
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="adcli", version=1, text=text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


async def change(client: LanguageClient, uri: str, version: int, text: str) -> list[lsp.Diagnostic]:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri])


def doc(uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri=uri)


def span(line: int, start: int, end: int) -> tuple:
    """A 0-based range as a tuple, to compare with one from the server."""
    return line, start, line, end


def as_tuple(r: lsp.Range) -> tuple:
    return r.start.line, r.start.character, r.end.line, r.end.character


async def hover_text(client: LanguageClient, uri: str, line: int, character: int) -> str:
    found = await client.text_document_hover_async(lsp.HoverParams(
        text_document=doc(uri), position=lsp.Position(line, character)))
    assert found is not None, (line, character)
    return found.contents.value


# A model used by several tests: inputs, values, a one-line def, a block def whose parameter
# shadows the global x, and calls of both.
MODEL = """\
input W: [3, 4]
input x: [4]
y = W @ x
z = exp(y)
def f(a, b) = a * b
q = f(y, z)
def g(x):
    t = x * 2
    return t + x
r = g(y) + x[0]
"""


# ---- initialize and diagnostics ----------------------------------------------------------------

@asyncio
async def test_initialize_advertises_the_features(client: LanguageClient):
    capabilities = INITIALIZED[-1].capabilities
    assert INITIALIZED[-1].server_info.name == "adcli"
    assert capabilities.hover_provider
    assert capabilities.definition_provider
    assert capabilities.references_provider
    assert capabilities.completion_provider is not None and "." in capabilities.completion_provider.trigger_characters
    assert capabilities.document_symbol_provider
    assert capabilities.rename_provider
    assert capabilities.text_document_sync is not None


@asyncio
async def test_diagnostics_on_open_and_on_change(client: LanguageClient, tmp_path):
    """A parse, a name and a shape error on three lines; fixing one leaves two, fixing all none."""
    text = "input W: [3, 4]\ny = W +\nz = W.shp\nc = W @ W\n"
    uri = await open_file(client, tmp_path / "three.ad", text)
    found = client.diagnostics[uri]
    # `y = W +`: the end of the line, so the '+' before it; `.shp`: the attribute; `@`: the operator.
    assert [as_tuple(d.range) for d in found] == [span(1, 6, 7), span(2, 6, 9), span(3, 6, 7)]
    assert [d.code for d in found] == ["parse", "name", "shape"]
    assert all(d.source == "adcli" and d.severity == lsp.DiagnosticSeverity.Error for d in found)
    assert "expected an expression" in found[0].message
    assert "no attribute 'shp'" in found[1].message
    assert "cannot multiply shapes [3, 4] and [3, 4]" in found[2].message

    fixed_one = await change(client, uri, 2, text.replace("y = W +", "y = W + 1"))
    assert [(d.code, d.range.start.line) for d in fixed_one] == [("name", 2), ("shape", 3)]
    fixed_all = await change(client, uri, 3, "input W: [3, 4]\ny = W + 1\nz = W.shape\nc = W.T @ W\n")
    assert fixed_all == []


@asyncio
async def test_a_syntax_error_and_a_shape_error_together(client: LanguageClient, tmp_path):
    text = "input x: [3]\ninput W: [4, 4]\ny = (x + 1\nc = x @ W\n"
    uri = await open_file(client, tmp_path / "both.ad", text)
    found = client.diagnostics[uri]
    assert [(d.code, as_tuple(d.range)) for d in found] == [("parse", span(2, 4, 5)), ("shape", span(3, 6, 7))]
    assert "never closed" in found[0].message


# ---- hover -----------------------------------------------------------------------------------------

@asyncio
async def test_hover_shows_shapes_definitions_and_signatures(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "model.ad", MODEL)
    assert list(client.diagnostics[uri]) == []
    declared = await hover_text(client, uri, 0, 6)  # input W: [3, 4]
    assert "**W**: input" in declared and "`float[3, 4]`" in declared
    assert "defined at line 1: `input W: [3, 4]`" in declared
    computed = await hover_text(client, uri, 2, 0)  # y = W @ x
    assert "**y**: value" in computed and "`float[3]`" in computed and "defined at line 3" in computed
    used = await hover_text(client, uri, 3, 8)  # the y in z = exp(y)
    assert "**y**: value" in used and "`float[3]`" in used
    library = await hover_text(client, uri, 3, 5)  # exp(
    assert "exp(x)" in library and "∂/∂x = exp(x)" in library
    own = await hover_text(client, uri, 5, 4)  # f( in q = f(y, z)
    assert "def f(a, b)" in own and "defined at line 5" in own
    parameter = await hover_text(client, uri, 7, 8)  # the x in t = x * 2
    assert "**x**: parameter of `g`" in parameter and "defined at line 7: `def g(x):`" in parameter


@asyncio
async def test_hover_on_numpy_spelling_and_nothing(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "np.ad", "input v: [3]\nu = np.exp(v)  \n")
    for character in (4, 7, 9):  # anywhere on np.exp
        found = await client.text_document_hover_async(lsp.HoverParams(
            text_document=doc(uri), position=lsp.Position(1, character)))
        assert "∂/∂x = exp(x)" in found.contents.value
        assert as_tuple(found.range) == span(1, 4, 10)
    blank = await client.text_document_hover_async(lsp.HoverParams(
        text_document=doc(uri), position=lsp.Position(1, 15)))
    assert blank is None


@asyncio
async def test_hover_shows_named_dimensions(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "named.ad", "input x: [n]\ny = exp(x)\n")
    assert "`float[n]`" in await hover_text(client, uri, 0, 6)
    assert "`float[n]`" in await hover_text(client, uri, 1, 0)


@asyncio
async def test_hover_on_a_size_derived_from_a_named_dimension(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "derived.ad", "input x: [n]\ny = x[0::2]\n")
    text = await hover_text(client, uri, 1, 0)
    assert "**y**: value" in text
    assert "`float[?]`" in text, text  # made from n, not n itself: unknown until n is given


@asyncio
async def test_hover_with_inputs_beside_the_file(client: LanguageClient, tmp_path):
    (tmp_path / "relu.json").write_text(json.dumps({"W": 2, "x": 3, "b": 1}), encoding="utf-8")
    uri = await open_file(client, tmp_path / "relu.ad", "input W\ninput x\ninput b\nH = relu(W * x + b)\n")
    value = await hover_text(client, uri, 3, 0)
    assert "value: `7`" in value
    for line in ("`∂H/∂W = 3`", "`∂H/∂x = 2`", "`∂H/∂b = 1`"):
        assert line in value
    assert "value: `2`" in await hover_text(client, uri, 3, 9)  # the W in W * x


# ---- definition and references -------------------------------------------------------------------

@asyncio
async def test_definition_and_references(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "model.ad", MODEL)
    (target,) = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(uri), position=lsp.Position(3, 8)))  # the y in z = exp(y)
    assert target.uri == uri and as_tuple(target.range) == span(2, 0, 1)
    # The x in `return t + x` is g's parameter, not the global input x.
    (parameter,) = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(uri), position=lsp.Position(8, 15)))
    assert as_tuple(parameter.range) == span(6, 6, 7)
    (global_x,) = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(uri), position=lsp.Position(9, 11)))  # the x in x[0]
    assert as_tuple(global_x.range) == span(1, 6, 7)

    async def references(include: bool) -> list[tuple]:
        found = await client.text_document_references_async(lsp.ReferenceParams(
            text_document=doc(uri), position=lsp.Position(2, 0),
            context=lsp.ReferenceContext(include_declaration=include)))
        return [as_tuple(f.range) for f in found]
    uses = [span(3, 8, 9), span(5, 6, 7), span(9, 6, 7)]
    assert await references(True) == [span(2, 0, 1), *uses]
    assert await references(False) == uses


# ---- completion and symbols ------------------------------------------------------------------------

@asyncio
async def test_completion(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "complete.ad", MODEL + "\nu = np.\n")
    empty = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=doc(uri), position=lsp.Position(10, 0)))
    items = {item.label: item for item in empty.items}
    for name in ("W", "x", "y", "z", "q", "r", "f", "g", "relu", "exp", "for", "def", "input"):
        assert name in items, name
    assert items["f"].kind == lsp.CompletionItemKind.Function and items["f"].detail == "def f(a, b)"
    assert items["y"].kind == lsp.CompletionItemKind.Variable
    assert items["for"].kind == lsp.CompletionItemKind.Keyword
    assert items["relu"].kind == lsp.CompletionItemKind.Function
    after_np = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=doc(uri), position=lsp.Position(11, 7)))
    labels = {item.label for item in after_np.items}
    assert {"exp", "log", "relu"} <= labels and not {"y", "for"} & labels


@asyncio
async def test_document_symbols(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "model.ad", MODEL)
    found = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=doc(uri)))
    assert [(s.name, s.kind) for s in found] == [
        ("W", lsp.SymbolKind.Variable), ("x", lsp.SymbolKind.Variable), ("y", lsp.SymbolKind.Variable),
        ("z", lsp.SymbolKind.Variable), ("f", lsp.SymbolKind.Function), ("q", lsp.SymbolKind.Variable),
        ("g", lsp.SymbolKind.Function), ("r", lsp.SymbolKind.Variable)]
    assert as_tuple(found[0].selection_range) == span(0, 6, 7)
    assert as_tuple(found[4].selection_range) == span(4, 4, 5)


# ---- rename ------------------------------------------------------------------------------------------

def edits_of(result: lsp.WorkspaceEdit, uri: str) -> list[tuple]:
    return sorted((as_tuple(e.range), e.new_text) for e in result.changes[uri])


@asyncio
async def test_rename_in_scope(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "model.ad", MODEL)
    prepared = await client.text_document_prepare_rename_async(lsp.PrepareRenameParams(
        text_document=doc(uri), position=lsp.Position(2, 0)))
    assert as_tuple(prepared) == span(2, 0, 1)
    renamed = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(uri), position=lsp.Position(3, 8), new_name="hidden"))
    assert edits_of(renamed, uri) == [(span(line, start, start + 1), "hidden")
                                      for line, start in ((2, 0), (3, 8), (5, 6), (9, 6))]
    # g's parameter x: its definition and two uses in the body, not the global input x.
    parameter = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(uri), position=lsp.Position(7, 8), new_name="v"))
    assert edits_of(parameter, uri) == [(span(6, 6, 7), "v"), (span(7, 8, 9), "v"), (span(8, 15, 16), "v")]
    global_x = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(uri), position=lsp.Position(1, 6), new_name="v"))
    assert edits_of(global_x, uri) == [(span(1, 6, 7), "v"), (span(2, 8, 9), "v"), (span(9, 11, 12), "v")]


@asyncio
async def test_rename_is_refused_for_a_keyword_or_a_taken_name(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "model.ad", MODEL)
    for new, why in (("for", "not a name"), ("z", "already a name"), ("2y", "not a name")):
        with pytest.raises(JsonRpcException, match=why):
            await client.text_document_rename_async(lsp.RenameParams(
                text_document=doc(uri), position=lsp.Position(2, 0), new_name=new))


# ---- positions after non-ASCII text ------------------------------------------------------------

@asyncio
async def test_positions_count_utf16_units(client: LanguageClient, tmp_path):
    text = ("input x: [3]\n"
            "y = x  # ∂ 𝑥\n"
            "z = 2 * y  # 😀 emoji\n"
            "w = z + y\n"
            'q = einsum("😀", x) + y\n'
            "s = x 😀 + 1\n")
    uri = await open_file(client, tmp_path / "unicode.ad", text)
    found = client.diagnostics[uri]
    # The einsum spec is refused at einsum; the emoji is one character, two UTF-16 units.
    assert [(d.code, as_tuple(d.range)) for d in found] == [("shape", span(4, 4, 10)), ("parse", span(5, 6, 8))]
    later = await client.text_document_hover_async(lsp.HoverParams(
        text_document=doc(uri), position=lsp.Position(3, 8)))  # the y in w = z + y
    assert "**y**: value" in later.contents.value and as_tuple(later.range) == span(3, 8, 9)
    after_comment = await client.text_document_hover_async(lsp.HoverParams(
        text_document=doc(uri), position=lsp.Position(2, 8)))  # the y in z = 2 * y, after the ∂ 𝑥 line
    assert "**y**: value" in after_comment.contents.value and as_tuple(after_comment.range) == span(2, 8, 9)
    # On the einsum line the last y comes after the emoji: code point 21, UTF-16 unit 22.
    assert text.split("\n")[4].index("+ y") + 2 == 21
    same_line = await client.text_document_hover_async(lsp.HoverParams(
        text_document=doc(uri), position=lsp.Position(4, 22)))
    assert "**y**: value" in same_line.contents.value and as_tuple(same_line.range) == span(4, 22, 23)
    (target,) = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(uri), position=lsp.Position(4, 22)))
    assert as_tuple(target.range) == span(1, 0, 1)


# ---- the process -------------------------------------------------------------------------------------

def frame(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_the_server_exits_cleanly_after_shutdown_and_exit():
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"processId": os.getpid(), "rootUri": None, "capabilities": {}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]
    done = subprocess.run(SERVER, input=b"".join(map(frame, messages)), check=False, capture_output=True,
                          timeout=60)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert b'"id": 1' in done.stdout or b'"id":1' in done.stdout
    assert b'"hoverProvider"' in done.stdout


def without_pygls(tmp_path: Path) -> subprocess.CompletedProcess:
    fake = tmp_path / "fake" / "pygls"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("no pygls")\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake")}
    return subprocess.run(SERVER, stdin=subprocess.DEVNULL, env=env, check=False, capture_output=True, text=True,
                          timeout=60)


def test_without_pygls_it_says_how_to_install_it(tmp_path):
    done = without_pygls(tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("adcli: error: ") and "pip install 'adcli[lsp]'" in line


def test_without_pygls_the_message_names_no_none(tmp_path):
    done = without_pygls(tmp_path)
    assert "None" not in done.stderr


@asyncio
async def test_code_action_writes_the_gradient_above_the_assignment(client: LanguageClient, tmp_path):
    (tmp_path / "lecture.json").write_text(json.dumps({"x": 17}), encoding="utf-8")
    uri = await open_file(client, tmp_path / "lecture.ad", "input x\n    \ny = x * (x + 1)\n")
    where = lsp.Range(start=lsp.Position(2, 0), end=lsp.Position(2, 0))
    (action,) = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=doc(uri), range=where, context=lsp.CodeActionContext(diagnostics=[])))
    (edit,) = action.edit.changes[uri]
    assert edit.new_text == "# ∂y/∂x = 35\n" and as_tuple(edit.range) == span(2, 0, 0)
    on_input = lsp.Range(start=lsp.Position(0, 6), end=lsp.Position(0, 6))  # no gradient of an input
    assert await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=doc(uri), range=on_input, context=lsp.CodeActionContext(diagnostics=[]))) is None


@asyncio
async def test_hover_on_a_method_reads_the_library(client: LanguageClient, tmp_path):
    uri = await open_file(client, tmp_path / "method.ad", "input v: [3]\nu = np.exp(v).sum()\n")
    assert "the sum of the elements" in await hover_text(client, uri, 1, 15)
    assert "`float (a scalar)`" in await hover_text(client, uri, 1, 0)
