"""Editor support: the Pygments lexer (adcli/lexer.py) and the TextMate grammar
(grammars/adcli.tmLanguage.json) agree with the language, and with each other; the editors'
configurations under editors/ start `adcli lsp` for .ad files.

- Pygments finds the lexer through the `pygments.lexers` entry point, by name and by file name.
- Every good program (the samples, the .ad files under tests/, the test modules' program strings
  that adcli's parser accepts, and programs of the fuzzer's generator) lexes without an error
  token, into the very tokens of the Lark grammar.
- The keywords come from the Lark grammar's terminals, the function names from the registry: a
  function added to the registry and missing from the lexer or the TextMate grammar fails here.
- The TextMate grammar is valid JSON with regexes Python compiles, and a walk applying its
  patterns line by line (earliest match first, as an editor does) scopes every program the way
  the Pygments lexer does.
- The VS Code extension declares what it ships and carries the grammar unchanged, the Neovim and
  Helix files name the language and the server, and build.sh packs a .vsix that holds the client.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import json
import random
import re
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from lark import Lark
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import find_lexer_class_for_filename, get_lexer_by_name
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

import adcli
from adcli import operations as registry
from adcli.errors import AdError, NameResolutionError
from adcli.language import highlight as lexer
from adcli.language.parser import compile_source, grammar_path
from adcli.language.syntax_errors import KEYWORDS as RESERVED

ROOT = Path(__file__).resolve().parent.parent
TEXTMATE = ROOT / "grammars" / "adcli.tmLanguage.json"
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FUZZ_PROGRAMS = 150


# ---------------------------------------------------------------------------------------------
# The language's words, read from the Lark grammar and the registry
# ---------------------------------------------------------------------------------------------

@cache
def lark_grammar() -> Lark:
    """The grammar's terminals and rules, and a lexer that sees every terminal at once (no parser:
    Lark then builds the lexer once, not at every call of lex)."""
    return Lark(grammar_path().read_text(encoding="utf-8"), parser=None, lexer="basic")


def grammar_words() -> set[str]:
    """Every word the grammar spells out: input, def, for, in, range, return, ..."""
    return {t.pattern.value for t in lark_grammar().terminals
            if t.pattern.type == "str" and WORD.fullmatch(t.pattern.value)}


def call_like_words() -> set[str]:
    """The grammar's words written as a call, like range( ... ): highlighted as functions."""
    words = {t.name: t.pattern.value for t in lark_grammar().terminals
             if t.pattern.type == "str" and WORD.fullmatch(t.pattern.value)}
    lpar = {t.name for t in lark_grammar().terminals if t.pattern.type == "str" and t.pattern.value == "("}
    found = set()
    for rule in lark_grammar().rules:
        symbols = [s.name for s in rule.expansion]
        found |= {words[a] for a, b in itertools.pairwise(symbols) if a in words and b in lpar}
    return found


def declaration_words() -> set[str]:
    """The words that open the grammar's declarations (the rules aliased declare...)."""
    terminals = {t.name: t.pattern.value for t in lark_grammar().terminals}
    return {terminals[rule.expansion[0].name] for rule in lark_grammar().rules
            if rule.alias and rule.alias.startswith("declare")}


def expected_functions() -> set[str]:
    """What a file can call: the registry's functions and constructors, and the call-like words."""
    return set(registry.FUNCTIONS) | set(registry.CONSTRUCTORS) | call_like_words()


# ---------------------------------------------------------------------------------------------
# The good programs
# ---------------------------------------------------------------------------------------------

def accepted(text: str) -> bool:
    """Whether adcli's parser accepts the text (it may still fail later, on names or shapes)."""
    try:
        compile_source(text)
    except (AdError, RecursionError):
        return False
    return True


def string_programs() -> list[str]:
    """The string constants of the test modules that parse as programs."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
                found.append(node.value)
    return found


def fuzz_programs() -> list[str]:
    """Programs of the fuzzer's generator, from fixed seeds."""
    spec = importlib.util.spec_from_file_location("fuzz_gen_for_editors", ROOT / "tests" / "fuzz" / "fuzz_gen.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    functions, constructors = module.load_functions()
    return [module.ProgramGen(random.Random(seed), functions, constructors).build()[0]
            for seed in range(FUZZ_PROGRAMS)]


@cache
def corpus() -> tuple[tuple[str, str], ...]:
    """(where it comes from, text) for every good program; tests/bad holds bad input, so not it."""
    files = sorted(ROOT.glob("samples/*.ad")) + sorted((ROOT / "tests").rglob("*.ad"))
    found = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in files]
    found += [(f"a test module's string {k}", s) for k, s in enumerate(string_programs())]
    found += [(f"fuzz program {k}", s) for k, s in enumerate(fuzz_programs())]
    # Pygments reads \r as a newline, Lark as a space: line endings are not what is checked here.
    found = [(where, text.replace("\r\n", "\n")) for where, text in found]
    return tuple((where, text) for where, text in found if "\r" not in text and accepted(text))


def tokens(text: str) -> list[tuple[int, object, str]]:
    """The Pygments lexer's (offset, token type, text), with the text exactly as given."""
    return list(lexer.AdLexer(stripnl=False, ensurenl=False).get_tokens_unprocessed(text))


def significant(toks):
    return [(kind, value) for _, kind, value in toks if kind not in Whitespace and kind not in Text
            and kind not in Comment]


def test_the_corpus_is_wide():
    where = [w for w, _ in corpus()]
    assert "samples/relu.ad" in where and "tests/golden/mlp.ad" in where
    assert sum(w.startswith("a test module") for w in where) > 100
    assert sum(w.startswith("fuzz program") for w in where) > FUZZ_PROGRAMS * 0.9


# ---------------------------------------------------------------------------------------------
# (a) Pygments finds the lexer
# ---------------------------------------------------------------------------------------------

def installed_entry_point() -> bool:
    return any(ep.value == "adcli.language.highlight:AdLexer" for ep in entry_points(group="pygments.lexers"))


def test_pygments_finds_the_lexer_by_name_and_file_name():
    if not installed_entry_point():
        pytest.skip("the pygments.lexers entry point is not installed: run `pip install -e .` again")
    assert type(get_lexer_by_name("ad")) is lexer.AdLexer
    assert type(get_lexer_by_name("adcli")) is lexer.AdLexer
    assert find_lexer_class_for_filename("x.ad") is lexer.AdLexer
    html = highlight("H = relu(W @ x + b)  # hidden\n", get_lexer_by_name("ad"), HtmlFormatter())
    assert '<span class="nf">relu</span>' in html and '<span class="c1"># hidden</span>' in html


def test_the_core_does_not_import_the_lexer():
    """The CLI and library never load Pygments' lexer machinery for adcli's own sake."""
    done = subprocess.run([sys.executable, "-c", "import sys, adcli, adcli.cli.app; print('adcli.language.highlight' in sys.modules)"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


# ---------------------------------------------------------------------------------------------
# (b) Every good program lexes, into the grammar's own tokens
# ---------------------------------------------------------------------------------------------

def test_every_good_program_lexes_without_an_error_token():
    errors = []
    for where, text in corpus():
        bad = [(offset, value) for offset, kind, value in tokens(text) if kind in Error]
        if bad:
            errors.append(f"{where}: {bad[:3]} in {text[:200]!r}")
    assert not errors, "\n".join(errors[:10])


def allowed(terminal: str, value: str):
    """The Pygments token types a Lark terminal may become."""
    if terminal == "NAME":
        return (Name, Keyword.Constant, Keyword.Type)  # Name.Function (a call) is a Name
    if terminal == "NUMBER":
        return (Number,)
    if terminal == "STRING":
        return (String,)
    if WORD.fullmatch(value):
        return (Keyword, Name.Function)
    return (Operator, Punctuation)


def test_the_lexer_splits_programs_as_the_grammar_does():
    """The same token texts, in the same order, as Lark's lexer (comments and line ends aside)."""
    problems = []
    for where, text in corpus():
        expected = [(t.type, t.value) for t in lark_grammar().lex(text) if t.type != "_NL"]
        got = significant(tokens(text))
        if [v for _, v in expected] != [v for _, v in got]:
            problems.append(f"{where}: {[v for _, v in expected][:12]} != {[v for _, v in got][:12]}")
            continue
        for (terminal, value), (kind, _) in zip(expected, got):
            if not any(kind in parent for parent in allowed(terminal, value)):
                problems.append(f"{where}: {terminal} {value!r} lexed as {kind}")
                break
    assert not problems, "\n".join(problems[:10])


# ---------------------------------------------------------------------------------------------
# (c) The words agree with the grammar, the registry and the expander
# ---------------------------------------------------------------------------------------------

def test_the_lexer_knows_the_grammar_keywords():
    assert set(lexer.KEYWORDS) | set(lexer.DECLARATIONS) == grammar_words() - call_like_words()
    assert set(lexer.DECLARATIONS) == declaration_words()
    assert set(lexer.KEYWORDS) | set(lexer.DECLARATIONS) == set(RESERVED)


def test_the_lexer_knows_every_constant_and_lists_no_operation():
    """Calls are found by their parenthesis, so a new operation needs no word added to the lexer."""
    assert set(lexer.CONSTANTS) == set(registry.CONSTANTS)
    assert not hasattr(lexer, "FUNCTIONS") and not hasattr(lexer, "BUILTINS")
    words = [*lexer.KEYWORDS, *lexer.DECLARATIONS, *lexer.CONSTANTS, *lexer.PSEUDO_CONSTANTS, *lexer.TYPES]
    assert len(words) == len(set(words)), "a word in two lists"


def test_the_pseudo_constants_and_types_mean_something():
    """True, False and None are reserved by the expander; int and float are the element types."""
    for word in lexer.PSEUDO_CONSTANTS:
        with pytest.raises(NameResolutionError, match="reserved"):
            adcli.parse(f"def {word}(x) = x\ny = 1\n")
    for word in lexer.TYPES:
        compile_source(f"input y: {word}[2]\n")
    with pytest.raises(AdError, match="element type"):
        compile_source("input y: double[2]\n")


def kind_of(text: str, word: str):
    """The Pygments token type of the first token spelling `word` in `text`."""
    return next(kind for _, kind, value in tokens(text) if value == word)


def test_the_lexer_highlights_each_word_by_its_meaning():
    for name in expected_functions():
        assert kind_of(f"y = {name}(x)\n", name) in Name.Function, name
        assert kind_of(f"y = {name} (x)\n", name) in Name.Function, name
    for name in ("cell", "my_function", "np"):  # the file's own functions too: a call is a call
        assert kind_of(f"y = {name}(x)\n", name) in Name.Function, name
    assert kind_of("y = sum + 1\n", "sum") is Name  # not a call: a name
    for word in lexer.KEYWORDS:
        assert kind_of(f"{word} x\n", word) in Keyword
    for word in declaration_words():
        assert kind_of(f"{word} x: [2]\n", word) in Keyword.Declaration
    assert kind_of("def f(x) = x\n", "f") in Name.Function
    assert kind_of("y = 2 * pi\n", "pi") in Name.Constant
    for name in ("index", "x_in", "inputs", "define", "summary", "e1", "logs"):
        assert kind_of(f"y = {name} + 1\n", name) is Name, name


# ---------------------------------------------------------------------------------------------
# (d) The TextMate grammar
# ---------------------------------------------------------------------------------------------

@cache
def textmate() -> dict:
    return json.loads(TEXTMATE.read_text(encoding="utf-8"))


@cache
def textmate_rules() -> tuple:
    """The top-level patterns, each with its compiled regex."""
    return tuple((rule, re.compile(rule["match"])) for rule in textmate()["patterns"])


def scopes(line: str) -> list[str | None]:
    """Each character's scope: at every point the earliest match wins, the first listed on a tie."""
    found: list[str | None] = [None] * len(line)
    pos = 0
    while pos < len(line):
        best = None
        for rule, regex in textmate_rules():
            m = regex.search(line, pos)
            if m and (best is None or m.start() < best[1].start()):
                best = (rule, m)
        if best is None:
            break
        rule, m = best
        if "name" in rule:
            found[m.start():m.end()] = [rule["name"]] * (m.end() - m.start())
        for group, capture in rule.get("captures", {}).items():
            start, end = m.span(int(group))
            if start >= 0:
                found[start:end] = [capture["name"]] * (end - start)
        pos = m.end()
    return found


def scope_of(line: str, word: str) -> str | None:
    return scopes(line)[line.index(word)]


def alternatives(scope: str) -> set[str]:
    """The words of the pattern scoped `scope`, written \\b(?:a|b|c)..."""
    (rule,) = [rule for rule in textmate()["patterns"] if rule.get("name") == scope]
    m = re.fullmatch(r"\\b\(\?:([A-Za-z0-9_|]+)\).*", rule["match"])
    assert m, f"the pattern for {scope} is not a list of words"
    return set(m.group(1).split("|"))


def test_textmate_grammar_is_valid():
    grammar = textmate()
    assert grammar["scopeName"] == "source.adcli" and grammar["fileTypes"] == ["ad"]
    for rule in grammar["patterns"]:
        assert set(rule) <= {"name", "match", "captures", "comment"}, rule
        regex = re.compile(rule["match"])
        assert not regex.search(""), f"{rule['match']} matches nothing at all"
        names = [rule.get("name")] + [c["name"] for c in rule.get("captures", {}).values()]
        assert all(n.endswith(".adcli") for n in names if n), names
        assert all(int(g) <= regex.groups for g in rule.get("captures", {})), rule


def test_textmate_words_agree_with_the_grammar_and_registry():
    assert alternatives("keyword.control.adcli") | {"def"} == grammar_words() - call_like_words() - declaration_words()
    assert alternatives("storage.type.declaration.adcli") == declaration_words()
    assert alternatives("constant.language.adcli") == set(registry.CONSTANTS) | set(lexer.PSEUDO_CONSTANTS)


def test_textmate_scopes_each_word_by_its_meaning():
    for name in expected_functions():
        assert scope_of(f"y = {name}(x)", name) == "entity.name.function.call.adcli", name
    assert scope_of("y = cell(h, x)", "cell") == "entity.name.function.call.adcli"
    assert scope_of("y = sum + 1", "sum") is None
    for word in grammar_words() - call_like_words():
        assert scope_of(f"{word} x", word).startswith(("keyword.", "storage.type.")), word
    for name in ("index", "x_in", "inputs", "define", "summary", "e1", "logs"):
        assert scope_of(f"y = {name} + 1", name) is None, name
    line = "def cell(h, x) = tanh(Wh @ h + Wx @ x + b)"
    assert scope_of(line, "def") == "storage.type.function.adcli"
    assert scope_of(line, "cell") == "entity.name.function.adcli"
    assert scope_of(line, "tanh") == "entity.name.function.call.adcli"
    line = "    h = cell(h, Xs[t])   # a new h at every step"
    assert scope_of(line, "h") == "variable.other.assignment.adcli"
    assert scope_of(line, "#") == "comment.line.number-sign.adcli"
    line = "for t in range(4):"
    assert [scope_of(line, w) for w in ("for", "in", "range")] == \
        ["keyword.control.adcli", "keyword.control.adcli", "entity.name.function.call.adcli"]
    line = "input y: int[n]          # the class of each row"
    assert [scope_of(line, w) for w in ("input", "y", "int")] == \
        ["storage.type.declaration.adcli", "variable.other.declaration.adcli", "support.type.adcli"]
    for line in ("input n: int", "input n: int  # a count", "data k: float"):
        assert scope_of(line, line.split()[2]) == "support.type.adcli", line
    line = "a = 1; b = a ** 2 <= 3.5e-1 * pi"
    assert [scope_of(line, w) for w in ("b", "**", "<=", "3.5e-1", "pi")] == \
        ["variable.other.assignment.adcli", "keyword.operator.arithmetic.adcli", "keyword.operator.comparison.adcli",
         "constant.numeric.float.adcli", "constant.language.adcli"]


def category(kind_or_scope) -> str | None:
    """What a Pygments token type or a TextMate scope says a piece of text is, in common terms."""
    if isinstance(kind_or_scope, str) or kind_or_scope is None:
        scope = kind_or_scope or ""
        for prefix, name in (("comment.", "comment"), ("string.", "string"), ("storage.type.declaration", "declaration"),
                             ("storage.type.function", "keyword"), ("keyword.control", "keyword"),
                             ("support.type", "type"), ("support.function", "function"),
                             ("entity.name.function", "function"), ("constant.language", "constant"),
                             ("constant.numeric", "number"), ("variable.other", "target"),
                             ("keyword.operator", "operator"), ("punctuation.", "punctuation")):
            if scope.startswith(prefix):
                return name
        return None
    for parent, name in ((Comment, "comment"), (String, "string"), (Keyword.Declaration, "declaration"),
                         (Keyword.Type, "type"), (Keyword.Constant, "constant"), (Keyword, "keyword"),
                         (Name.Function, "function"), (Name.Constant, "constant"),
                         (Name.Variable, "target"), (Number, "number"), (Operator, "operator"),
                         (Punctuation, "punctuation")):
        if kind_or_scope in parent:
            return name
    return None


def test_textmate_and_pygments_highlight_every_program_alike():
    problems = []
    for where, text in corpus():
        by_pygments: list = [None] * len(text)
        for offset, kind, value in tokens(text):
            by_pygments[offset:offset + len(value)] = [kind] * len(value)
        offset = 0
        for number, line in enumerate(text.split("\n"), 1):
            for col, (ch, scope) in enumerate(zip(line, scopes(line))):
                kind = by_pygments[offset + col]
                if ch.isspace() or kind in Text or kind in Whitespace:
                    continue  # a continuation's backslash is text to Pygments, punctuation to TextMate
                if category(kind) != category(scope):
                    problems.append(f"{where}:{number}:{col + 1}: {line!r}: {kind} but {scope}")
                    break
            offset += len(line) + 1
    assert not problems, "\n".join(problems[:10])


# ---------------------------------------------------------------------------------------------
# (e) The editors' configurations (editors/)
# ---------------------------------------------------------------------------------------------

EDITORS = ROOT / "editors"
VSCODE = EDITORS / "vscode"
VSIX = "adcli-0.1.0.vsix"


def vscode_manifest() -> dict:
    return json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))


def test_vscode_manifest_declares_the_language_grammar_and_server_settings():
    """package.json names the language, grammar and settings, and every file it points to exists."""
    manifest = vscode_manifest()
    assert (manifest["name"], manifest["publisher"], manifest["version"]) == ("adcli", "adcli", "0.1.0")
    assert manifest["engines"]["vscode"] == "^1.82.0" and manifest["activationEvents"] == ["onLanguage:adcli"]
    assert (VSCODE / manifest["main"]).is_file() and (VSCODE / "LICENSE").is_file()
    (language,) = manifest["contributes"]["languages"]
    assert (language["id"], language["extensions"], language["aliases"]) == ("adcli", [".ad"], ["adcli", "ad"])
    assert (VSCODE / language["configuration"]).is_file()
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["language"] == "adcli" and grammar["scopeName"] == textmate()["scopeName"] == "source.adcli"
    assert (VSCODE / grammar["path"]).is_file()
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["adcli.server.command"]["default"] == "adcli"
    assert settings["adcli.server.args"]["default"] == ["lsp"]
    assert settings["adcli.trace.server"]["enum"] == ["off", "messages", "verbose"]
    # The client is a dependency, not a dev one: vsce packs only dependencies into the .vsix.
    assert "vscode-languageclient" in manifest["dependencies"]
    assert "@vscode/vsce" in manifest["devDependencies"]


def test_vscode_grammar_is_the_repository_grammar():
    """The extension's grammar is a byte-for-byte copy of grammars/adcli.tmLanguage.json."""
    assert (VSCODE / "syntaxes" / "adcli.tmLanguage.json").read_bytes() == TEXTMATE.read_bytes()


def test_vscode_language_configuration_comments_brackets_and_indentation():
    """# comments, () and [] pairs, and an indent after a line ending in a colon (not after a declaration)."""
    config = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    assert config["brackets"] == [["(", ")"], ["[", "]"]]
    assert {pair["open"] + pair["close"] for pair in config["autoClosingPairs"]} == {"()", "[]", '""', "''"}
    indent = re.compile(config["indentationRules"]["increaseIndentPattern"])
    for line in ("for t in range(3):", "def cell(h, x):   # one step", "    for i in range(n):"):
        assert indent.match(line), line
    for line in ("input x: [n]", "y = x[1:3]", "y = 1  # note:", "# for t in range(3):"):
        assert not indent.match(line), line
    (after_colon, after_return) = [re.compile(rule["beforeText"]) for rule in config["onEnterRules"]]
    assert after_colon.match("def f(x):") and after_return.match("    return x * x")


def test_vscode_build_products_are_not_tracked():
    """node_modules and the .vsix that build.sh writes are ignored by git."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    paths = ["editors/vscode/node_modules/vscode-languageclient/package.json", f"editors/vscode/{VSIX}"]
    done = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, check=False, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == paths, done.stderr


def test_neovim_config_sets_the_filetype_and_the_server():
    """adcli.lua maps .ad to the adcli filetype and starts `adcli lsp`, built in and through nvim-lspconfig."""
    text = (EDITORS / "neovim" / "adcli.lua").read_text(encoding="utf-8")
    assert "vim.filetype.add({ extension = { ad = 'adcli' } })" in text
    assert "vim.lsp.enable('adcli')" in text and "vim.lsp.config('adcli', {" in text
    # Once live (Neovim 0.11), once in the commented nvim-lspconfig alternative.
    assert len(re.findall(r"cmd = \{ 'adcli', 'lsp' \}", text)) == 2
    assert re.search(r"^-- +configs\.adcli = \{$", text, re.MULTILINE)


def test_helix_languages_toml_names_the_language_and_the_server():
    """languages.toml parses, maps .ad to adcli and runs `adcli lsp`."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    config = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text(encoding="utf-8"))
    (language,) = config["language"]
    assert (language["name"], language["scope"], language["file-types"]) == ("adcli", "source.adcli", ["ad"])
    assert language["comment-token"] == "#" and language["language-servers"] == ["adcli"]
    assert language["indent"] == {"tab-width": 4, "unit": "    "}
    assert config["language-server"]["adcli"] == {"command": "adcli", "args": ["lsp"]}


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under folder but node_modules, with its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and "node_modules" not in p.relative_to(folder).parts}


def test_build_sh_packs_a_vsix_with_the_language_client(tmp_path):
    """build.sh, run on a copy of the extension, writes a .vsix holding the extension and its client."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (node and npm from Debian or nodejs.org)")
    # The copy keeps the checkout's layout, since build.sh takes the grammar from ../../grammars.
    work = tmp_path / "editors" / "vscode"
    shutil.copytree(VSCODE, work, ignore=shutil.ignore_patterns("node_modules", "*.vsix"))
    (tmp_path / "grammars").mkdir()
    shutil.copy2(TEXTMATE, tmp_path / "grammars")
    before = snapshot(VSCODE)
    done = subprocess.run(["bash", str(work / "build.sh")], check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert snapshot(VSCODE) == before, "build.sh wrote into the checkout"

    with zipfile.ZipFile(work / VSIX) as vsix:
        names = set(vsix.namelist())
        for member in ("extension/package.json", "extension/extension.js", "extension/language-configuration.json",
                       "extension/syntaxes/adcli.tmLanguage.json", "extension/LICENSE.txt",
                       # what require('vscode-languageclient/node') loads, and the protocol under it
                       "extension/node_modules/vscode-languageclient/node.js",
                       "extension/node_modules/vscode-languageserver-protocol/package.json",
                       "extension/node_modules/vscode-jsonrpc/package.json"):
            assert member in names, member
        assert not any(name.startswith("extension/node_modules/@vscode/vsce") for name in names), "a dev tool packed"
        assert "extension/build.sh" not in names
        assert vsix.read("extension/syntaxes/adcli.tmLanguage.json") == TEXTMATE.read_bytes()
        assert json.loads(vsix.read("extension/package.json"))["contributes"] == vscode_manifest()["contributes"]
        vsix.extractall(tmp_path / "unpacked")

    # The packed extension loads with what the .vsix holds alone: its client and the client's
    # dependencies (VS Code's own `vscode` module stands in as a stub).
    load = ("const Module = require('module'); const load = Module._load;"
            "const stub = new Proxy({}, {get: () => class {}});"
            "Module._load = function (name, ...rest) { return name === 'vscode' ? stub : load.call(this, name, ...rest); };"
            "const ext = require('./extension.js');"
            "const { LanguageClient } = require('vscode-languageclient/node');"
            "console.log(typeof ext.activate, typeof ext.deactivate, typeof LanguageClient);")
    node = shutil.which("node") or "node"
    done = subprocess.run([node, "-e", load], cwd=tmp_path / "unpacked" / "extension", check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["function"] * 3, done.stderr
