"""A Pygments lexer for .ad files, found by Pygments (pygmentize, Sphinx, MkDocs) through an entry point.

Only this module imports Pygments, and nothing in adcli imports this module. A name written as a
call is a function, whether the registry's, a constructor, range() or one the file defines: so the
lexer keeps no list of operations (a new operation is highlighted without touching it) and never
imports the registry, which imports numpy (Pygments loads every plugin lexer whenever it looks one
up by name or file name). The words it does list are the grammar's and the constants;
tests/test_editors.py checks them against the grammar and the registry, so they cannot drift.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

# ---------------------------------------------------------------------------------------------
# The words of the language
# ---------------------------------------------------------------------------------------------

KEYWORDS = ("def", "for", "while", "in", "return", "if", "else", "import", "from", "as")
DECLARATIONS = ("input", "data")
# Element types, written before a declaration's shape (input y: int[n]) or alone (input n: int).
TYPES = ("int", "float")
# The registry's CONSTANTS; then the names the expander gives a meaning of their own (None: a new axis).
CONSTANTS = ("pi", "e", "inf", "nan")
PSEUDO_CONSTANTS = ("True", "False", "None")

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
SPACE = r"[ \t\f]*"
# A line ends with LF, CRLF or a lone CR, as for the parser. Pygments turns every one into LF before
# lexing; these patterns keep the lexer right when it is given raw text (get_tokens_unprocessed).
NEWLINE = r"\r\n?|\n"
LINE_START = r"(?:^|(?<=\r))"  # `^` (MULTILINE) starts a line after LF only


def word_list(names, suffix=r"(?![A-Za-z0-9_])"):
    """A regex for any of `names` as a whole word (longest first, so log10 is not read as log)."""
    return words(sorted(names, key=lambda name: (-len(name), name)), suffix=suffix)


# ---------------------------------------------------------------------------------------------
# The lexer
# ---------------------------------------------------------------------------------------------

class AdLexer(RegexLexer):
    """Tokens of adcli's .ad language: the grammar's terminals, with names sorted by what they mean."""

    name = "adcli"
    aliases = ["ad", "adcli"]
    filenames = ["*.ad"]
    mimetypes = ["text/x-adcli"]

    tokens = {
        "root": [
            # An assignment's target: first on a line or after a `;` (`==` is a comparison).
            (rf"{LINE_START}({SPACE})({NAME})({SPACE})(=(?!=)|\+=|-=|\*\*=|\*=|/=|@=)",
             bygroups(Whitespace, Name.Variable, Whitespace, Operator)),
            (rf"(;)({SPACE})({NAME})({SPACE})(=)(?!=)",
             bygroups(Punctuation, Whitespace, Name.Variable, Whitespace, Operator)),
            (NEWLINE, Whitespace),
            (r"[ \t\f]+", Whitespace),
            (rf"\\[ \t\f]*(?:{NEWLINE})", Text),  # a continuation line
            (r"#[^\r\n]*", Comment.Single),
            (r'"[^"\r\n]*"', String.Double),
            (r"'[^'\r\n]*'", String.Single),
            (rf"(def)([ \t\f]+)({NAME})", bygroups(Keyword, Whitespace, Name.Function)),
            (rf"(input|data)([ \t\f]+)({NAME})", bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (word_list(KEYWORDS), Keyword),
            (word_list(DECLARATIONS), Keyword.Declaration),
            (word_list(TYPES, suffix=rf"(?={SPACE}(?:\[|#|\r|$))"), Keyword.Type),  # int[n], or int alone
            (rf"{NAME}(?={SPACE}\()", Name.Function),  # a call: f(x), range(4), cell(h, x)
            (word_list(CONSTANTS), Name.Constant),
            (word_list(PSEUDO_CONSTANTS), Keyword.Constant),
            (NAME, Name),
            # The grammar's NUMBER: 3, 3., .5, 1e-3, 2.5E+1.
            (r"([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (r"\.\.\.", Punctuation),  # an ellipsis in a subscript: x[..., 0]
            (r"\*\*=|[-+*/@]=", Operator),  # h += x
            (r"\*\*|//|<=|>=|==|!=|[-+*/@<>=%]", Operator),
            (r"\.", Punctuation),  # np.exp, x.sum(), x.T
            (r"[()\[\],:;]", Punctuation),
        ],
    }


__all__ = ["AdLexer", "CONSTANTS", "DECLARATIONS", "KEYWORDS", "PSEUDO_CONSTANTS", "TYPES"]
