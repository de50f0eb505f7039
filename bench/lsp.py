"""Case 11: the language server's latency, as an editor meets it.

`python -m bench.lsp [--quick]` (from the repository's root) prints the table and the targets;
`run(quick)` returns them as the other cases' `run` does, for `python -m bench`.

`adcli lsp` runs as editors start it, a process spoken to over stdio; a client written here sends
the protocol's messages and times each from the moment it is written to the moment the answer
(for an edit: its diagnostics) is read. The file is 1,000 lines of a recurrent chain, clean or
with errors on three lines; an edit changes one character of one statement, as typing does.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/lsp.py`: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from .report import Table, Target, targets_table


def chain(lines: int, broken: bool) -> str:
    """A recurrent chain of about `lines` lines; `broken` puts a syntax, a shape and a name error in it."""
    text = ["input W: [8, 8]", "input x: [8]", "h = x"]
    for i in range((lines - 4) // 3):
        text += [f"a{i} = tanh(W @ h + {i}.0)", f"h = a{i} * 0.5 + h", f"# step {i}"]
    text.append("y = sum(h)")
    if broken:
        text[100], text[500], text[700] = "a32 = tanh(W @ h +", "b = W + ones([3])", "c = foo(h)"
    return "\n".join(text) + "\n"


class Client:
    """A minimal Language Server Protocol client over a process's stdio."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-m", "adcli", "lsp"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0

    def send(self, method: str, params, request: bool = True) -> int | None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return message.get("id")

    def read(self) -> dict:
        length = 0
        while True:
            line = self.process.stdout.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.process.stdout.read(length))

    def until(self, test) -> dict:
        while True:
            message = self.read()
            if test(message):
                return message

    def request(self, method: str, params) -> dict:
        ident = self.send(method, params)
        return self.until(lambda m: m.get("id") == ident)

    def diagnostics(self, uri: str, version: int) -> dict:
        return self.until(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                          and m["params"]["uri"] == uri and m["params"].get("version") == version)

    def close(self) -> None:
        self.request("shutdown", None)
        self.send("exit", None, request=False)
        self.process.wait(timeout=30)


def session(text: str, edits: int) -> dict:
    """Open a document, edit it `edits` times, hover: each step's seconds."""
    client = Client()
    client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    client.send("initialized", {}, request=False)
    with tempfile.TemporaryDirectory() as folder:
        uri = (Path(folder) / "chain.ad").as_uri()
        start = time.perf_counter()
        client.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "adcli", "version": 1,
                                                              "text": text}}, request=False)
        opened = client.diagnostics(uri, 1)
        open_time = time.perf_counter() - start
        lines = text.split("\n")
        times = []
        for version in range(2, edits + 2):
            lines[300] = lines[300].replace("tanh" if version % 2 else "sinh", "sinh" if version % 2 else "tanh")
            start = time.perf_counter()
            client.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                   "contentChanges": [{"text": "\n".join(lines)}]}, request=False)
            client.diagnostics(uri, version)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 400, "character": 1}})
        hover_time = time.perf_counter() - start
        client.close()
    return {"open": open_time, "edits": times, "hover": hover_time, "errors": len(opened["params"]["diagnostics"])}


def run(quick: bool) -> tuple[list[Table], list[Target], list[dict]]:
    table = Table("11. The language server: diagnostics and hover on a 1,000-line file",
                  ["file", "errors", "open → diagnostics", "edit → diagnostics (median)", "min – max", "hover"])
    targets, results = [], []
    for broken in (False, True):
        result = session(chain(1000, broken), 5 if quick else 20)
        results.append(result)
        edits = result["edits"]
        median = statistics.median(edits)
        table.rows.append([f"1,000 lines, {'3 errors' if broken else 'clean'}", result["errors"],
                           f"{result['open'] * 1e3:.0f} ms", f"{median * 1e3:.0f} ms",
                           f"{min(edits) * 1e3:.0f} – {max(edits) * 1e3:.0f} ms", f"{result['hover'] * 1e3:.0f} ms"])
        targets.append(Target(f"diagnostics after an edit, 1,000 lines, {'3 errors' if broken else 'clean'}",
                              median * 1e3, 100, " ms", "whole round trip through the server's stdio"))
    table.notes.append("On open the file is parsed whole, and the diagnostics sent; its statements are then "
                       "compiled one by one and kept, so an edit recompiles the statement it touched and "
                       "expands and checks the file again.")
    return [table], targets, results


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    tables, targets, _ = run(quick)
    for table in tables + [targets_table(targets)]:
        print(table.markdown())


if __name__ == "__main__":
    main()
