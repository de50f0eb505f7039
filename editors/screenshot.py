"""The pictures of docs/editors.md: `adcli lsp`'s diagnostics and hover, shown by a real editor.

    python editors/screenshot.py     (from the repository's root; writes docs/images/editor-*.png)

For each scene it opens a file in `adcli lsp` (with the client of bench/lsp.py), takes the
diagnostics and the hover the server sends, and shows them in Monaco, the editor of VS Code, in
headless Chromium through Playwright: the diagnostics as Monaco's error markers (hovering one shows
its message), the server's hover as Monaco's hover box; nothing is written by hand. Monaco is
installed with npm into a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lsp import Client

BROKEN = """\
# A two-layer network's loss, with two mistakes.
input W1: [16, 4]
input b1: [16]
input W2: [1, 16]
input x: [4]
h = tanh(W1 @ x + b1)
out = W2 @ h +
loss = sum(out ** 2)
z = W2 @ x
"""
LECTURE = """\
# The lecture's first worked example, with its inputs in relu.json beside it.
input W
input x
input b
H = relu(W * x + b)
"""
# name, file, its text, the inputs beside it, where the mouse rests (0-based line, character)
SCENES = [("diagnostics", "model.ad", BROKEN, None, (8, 7)),
          ("hover", "relu.ad", LECTURE, {"W": 2, "x": 3, "b": 1}, (4, 0))]
MONACO = "0.52.2"

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<style>html, body, #editor { margin: 0; width: 100%; height: 100%; }</style></head>
<body><div id="editor"></div>
<script src="MONACO/min/vs/loader.js"></script>
<script>
require.config({ paths: { vs: "MONACO/min/vs" } });
require(["vs/editor/editor.main"], function () {
  const data = DATA;
  const editor = monaco.editor.create(document.getElementById("editor"), {
    value: data.source, language: "python", theme: "vs-dark", fontSize: 15, minimap: { enabled: false },
    renderLineHighlight: "none", scrollBeyondLastLine: false, hover: { delay: 0 } });
  const model = editor.getModel();
  monaco.editor.setModelMarkers(model, "adcli", data.diagnostics.map(d => ({
    severity: monaco.MarkerSeverity.Error, message: d.message, source: "adcli", code: d.code,
    startLineNumber: d.range.start.line + 1, startColumn: d.range.start.character + 1,
    endLineNumber: d.range.end.line + 1, endColumn: d.range.end.character + 1 })));
  monaco.languages.registerHoverProvider("python", { provideHover: (m, position) => {
    if (!data.hover || position.lineNumber !== data.at[0] + 1) return null;
    const r = data.hover.range;
    return { contents: [{ value: data.hover.contents.value }],
             range: new monaco.Range(r.start.line + 1, r.start.character + 1, r.end.line + 1, r.end.character + 1) };
  } });
  editor.setPosition({ lineNumber: data.at[0] + 1, column: data.at[1] + 1 });
  editor.focus();
  setTimeout(() => {  // once the markers are in place, as after a mouse rests
    editor.trigger("screenshot", "editor.action.showHover", {});
    setTimeout(() => { document.title = "ready"; }, 800);
  }, 400);
});
</script></body></html>
"""


def server_answers(folder: Path, name: str, source: str, inputs: dict | None, at: tuple[int, int]) -> dict:
    """The diagnostics and the hover `adcli lsp` sends for a file, as a client receives them."""
    path = folder / name
    path.write_text(source, encoding="utf-8")
    if inputs is not None:
        path.with_suffix(".json").write_text(json.dumps(inputs), encoding="utf-8")
    client = Client()
    client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    client.send("initialized", {}, request=False)
    uri = path.as_uri()
    client.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "adcli", "version": 1,
                                                          "text": source}}, request=False)
    diagnostics = client.diagnostics(uri, 1)["params"]["diagnostics"]
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": {"line": at[0], "character": at[1]}})["result"]
    client.close()
    return {"source": source, "diagnostics": diagnostics, "hover": hover, "at": at}


def main() -> None:
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as temp, sync_playwright() as p:
        folder = Path(temp)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", f"monaco-editor@{MONACO}"],
                       cwd=folder, check=True)
        monaco = (folder / "node_modules" / "monaco-editor").as_uri()
        browser = p.chromium.launch(executable_path=chromium())
        for scene, name, source, inputs, at in SCENES:
            answers = server_answers(folder, name, source, inputs, at)
            page = folder / f"{scene}.html"
            page.write_text(PAGE.replace("MONACO", monaco).replace("DATA", json.dumps(answers)), encoding="utf-8")
            view = browser.new_page(viewport={"width": 900, "height": 330}, device_scale_factor=2)
            view.goto(page.as_uri())
            view.wait_for_function("document.title === 'ready'", timeout=30000)
            out = ROOT / "docs" / "images" / f"editor-{scene}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            view.screenshot(path=str(out))
            print(f"wrote {out.relative_to(ROOT)}: {len(answers['diagnostics'])} diagnostics, "
                  f"{'a' if answers['hover'] else 'no'} hover from adcli lsp")
        browser.close()


def chromium() -> str | None:
    """Debian's Chromium when it is there (Playwright's own browser otherwise)."""
    import shutil
    return shutil.which("chromium") or shutil.which("chromium-browser")


if __name__ == "__main__":
    main()
