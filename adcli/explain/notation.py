"""How traces look: symbols, labels and numbers in Unicode, ASCII or LaTeX (a `Notation`), and
the small text helpers the renderers share."""

from __future__ import annotations

import re
import sys
import unicodedata

import numpy as np

from adcli.numbers import SIGNIFICANT, format_short, format_value
from adcli.operations import FUNCTIONS, fmt_shape
from adcli.symbols import ASCII

PRIMES = {"'": "′", "''": "″", "'''": "‴"}
OPENERS, CLOSERS = "([{", ")]}"

# Without --full, numbers show 8 significant digits (values.SIGNIFICANT) and an array is abbreviated,
# as numpy prints it, until its line fits LINE_WIDTH columns (an array keeps at least MIN_BUDGET of them). An
# array written in KEEP_WHOLE characters is never cut: dropping a few numbers would save no room.
LINE_WIDTH = 80
MIN_BUDGET = 28
KEEP_WHOLE = 48
STAGES = ((SIGNIFICANT, None), (SIGNIFICANT, 3), (SIGNIFICANT, 2), (SIGNIFICANT, 1), (6, 1), (3, 1))
PLACEHOLDER = re.compile("\x01(\\d+)\x01")
CHOICE = re.compile("\x02(\\d+)\x02")


# ---------------------------------------------------------------------------------------------
# Small text helpers
# ---------------------------------------------------------------------------------------------

def top_level(text: str) -> str:
    """The characters of `text` outside any brackets."""
    depth, out = 0, []
    for ch in text:
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


DOUBLED = re.compile(r"\(\((-[^()]*)\)\)")


def single_parens(text: str) -> str:
    """One pair of parentheses around a negative number where a call or a group already gives one."""
    return DOUBLED.sub(r"(\1)", text)


def is_atom(text: str) -> bool:
    """Whether `text` reads as one unit (a label, a call, a bracket) without parentheses."""
    return not any(ch in " +-·/@^⊙*" for ch in top_level(text))


def dedupe(parts: list[str]) -> list[str]:
    """Drop a part equal to the one before it: `0 + 1 · 1 = 0 + 1 · 1` says nothing new."""
    out: list[str] = []
    for part in parts:
        if not out or out[-1] != part:
            out.append(part)
    return out


def pick(texts, k: int) -> str:
    """Operand k's text; an array literal has one text for all items, with [k] for its index."""
    return texts[min(k, len(texts) - 1)].replace("[k]", f"[{k}]")


short_number = format_short  # the one rule for numbers people read: 8 significant digits


def brief_value(value, budget: int, full: bool = False) -> str:
    """A value on one line: exact with `full`, else rounded and summarized until it fits `budget`."""
    if full:
        return format_value(value, True)
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return short_number(a)
    text = ""
    for digits, edge in STAGES:
        if edge is None and a.size > 1000:  # numpy's own threshold: never list a large array whole
            continue
        summary = {"threshold": sys.maxsize} if edge is None else {"threshold": 0, "edgeitems": edge}
        text = np.array2string(a, separator=", ", max_line_width=sys.maxsize,
                               formatter={"float_kind": lambda x, d=digits: short_number(x, d)}, **summary)
        text = " ".join(part.strip() for part in text.split("\n"))
        if len(text) <= (max(budget, KEEP_WHOLE) if edge is None else budget):
            break
    return text


def is_scalar(value) -> bool:
    """Whether a value is a 0-d number rather than an array."""
    return np.ndim(value) == 0


def section_of(step) -> str:
    """The listing section a step belongs to: forward, backward or result."""
    return "result" if step.kind == "result" else step.phase


# ---------------------------------------------------------------------------------------------
# Notations: how labels, derivatives and numbers are written
# ---------------------------------------------------------------------------------------------

class Notation:
    """Unicode text, as in the lecture notes."""

    arrow = "←"
    plus_eq = "+="
    times = " · "
    tight = "·"
    gbar = "ḡ"

    def __init__(self, full: bool = False, pretty_primes: bool = True, width: int = LINE_WIDTH):
        self.full = full
        self.width = width  # the columns a line may take: 80 in files and pipes, a terminal's own width
        self.pretty_primes = pretty_primes
        self.pending: list = []  # arrays waiting for `fit` to know how much room their line leaves
        self.choices: list = []  # (long, short) texts: `fit` writes the long one when its line fits

    def label(self, label: str) -> str:
        """h' -> h′ and h'' -> h″ (a later version h'5 -> h′5)."""
        if not self.pretty_primes or "'" not in label:
            return label
        base, _, rest = label.partition("'")
        marks = "'" + rest
        if marks in PRIMES:
            return base + PRIMES[marks]
        return base + "′" + marks.lstrip("'")

    def grad(self, out: str, label: str) -> str:
        """The accumulator ∂out/∂label."""
        return f"∂{self.label(out)}/∂{self.label(label)}"

    def partial_of(self, formula: str, label: str) -> str:
        """A local derivative written as a fraction: ∂(x·u)/∂u."""
        body = formula if is_atom(formula) else f"({formula})"
        return f"∂{body}/∂{self.label(label)}"

    def dot(self, label: str) -> str:
        """The tangent's name: a dot over a one-letter name (ẋ, U̇1), else over its last letter."""
        shown = self.label(label)
        base = shown.rstrip("′″‴'0123456789")
        at = 1 if len(base) == 1 or re.fullmatch(r"[A-Za-z]\d*", label.rstrip("'")) else len(base)
        return unicodedata.normalize("NFC", shown[:at] + "\u0307" + shown[at:])  # ẋ where it exists

    def num(self, value) -> str:
        """A number, or an array to be written out by `fit` once its line is known."""
        if self.full or is_scalar(value):
            return brief_value(value, 0, self.full)
        self.pending.append(value)
        return f"\x01{len(self.pending) - 1}\x01"

    def either(self, long: str, short: str) -> str:
        """The long text where its line fits the width once its arrays are abbreviated, else the short."""
        if self.full:
            return long
        self.choices.append((long, short))
        return f"\x02{len(self.choices) - 1}\x02"

    def fit(self, line: str) -> str:
        """Write out the line's arrays, sharing the room the width leaves after the rest of it."""
        if "\x02" in line:
            long = CHOICE.sub(lambda m: self.choices[int(m.group(1))][0], line)
            written = self.fit(long)
            if len(written) <= self.width:
                return written
            return self.fit(CHOICE.sub(lambda m: self.choices[int(m.group(1))][1], line))
        count = len(PLACEHOLDER.findall(line))
        if not count:
            return line
        budget = max(MIN_BUDGET, (self.width - len(PLACEHOLDER.sub("", line))) // count)
        return PLACEHOLDER.sub(lambda m: brief_value(self.pending[int(m.group(1))], budget), line)

    def factor(self, value) -> str:
        """A number as an operand of a product: negative ones in parentheses."""
        text = self.num(value)
        return f"({text})" if text.startswith("-") else text

    def in_product(self, text: str) -> str:
        """A factor of a product, in parentheses if it is a sum or negative."""
        return f"({text})" if text.startswith("-") or " " in top_level(text) else text

    def shaped(self, lhs: str, value) -> str:
        """An array's left side carries its shape, as a declaration does: U1: [2, 3]."""
        return lhs if is_scalar(value) else f"{lhs}: {fmt_shape(np.shape(value))}"

    def constant(self, text: str) -> str:
        """A constant in a formula: negative ones in parentheses."""
        return f"({text})" if text.startswith("-") else text

    def fill(self, template: str, fillers: list[str]) -> str:
        """A registry template with its {0}, {1} filled in (exp((-0.05)) written exp(-0.05))."""
        return single_parens(template.format(*fillers))

    def words(self, text: str) -> str:
        """Prose inside a formula."""
        return text

    def finish(self, text: str) -> str:
        """The line as printed."""
        return self.fit(text)


class AsciiNotation(Notation):
    """Plain ASCII for limited terminals and logs: d, <-, *, x_dot."""

    def dot(self, label: str) -> str:
        return label + "_dot"

    def finish(self, text: str) -> str:
        return self.fit(text).translate(ASCII)


# Registry text to LaTeX, applied to templates before labels are filled in.
LATEX_WORDS = [(" broadcast to the shape of ", r"\text{ broadcast to the shape of }"),
               ("#ties", r"\#\text{ties}"), ("[…]", r"[\ldots]"), ("₁₀", "_{10}"), ("⁻ᵀ", r"^{-\top}"),
               ("⁻¹", "^{-1}"), ("₂", "_2"), ("⁽ⁿ⁺¹⁾", "^{(n+1)}"), ("⁽ⁿ⁾", "^{(n)}")]
LATEX_SYMBOLS = str.maketrans({"·": r" \cdot ", "⊙": r" \odot ", "ᵀ": r"^{\top}", "ḡ": r"\bar{g}",
                               "√": r"\sqrt ", "σ": r"\sigma", "Σ": r"\sum ", "²": "^{2}", "³": "^{3}",
                               "½": r"\tfrac{1}{2}", "′": "'", "…": r"\ldots ", "@": " ", "∛": r"\sqrt[3]",
                               "π": r"\pi ", "‖": r"\|", "Π": r"\prod ", "≤": r"\le ", "Φ": r"\Phi ",
                               "φ": r"\phi ", "ᵢ": "_i", "⊗": r"\otimes ", "ψ": r"\psi ", "Γ": r"\Gamma ",
                               "←": r" \leftarrow ", "∂": r"\partial "})
LATEX_FUNCTIONS = re.compile(r"\b(" + "|".join(sorted(
    set(FUNCTIONS) | {"ReLU", "GELU", "SiLU", "ELU", "LeakyReLU", "chol", "sym", "tr", "diag", "logsumexp"},
    key=len, reverse=True)) + r")\b")
BUILTIN_LATEX = {"exp", "log", "sin", "cos", "tanh", "tan", "max", "min", "sinh", "cosh", "det"}
SENTINEL = "\x00{}\x00"


class LatexNotation(Notation):
    """LaTeX math for an align* environment."""

    arrow = r"\leftarrow"
    plus_eq = r"\mathrel{+}="
    times = r" \cdot "
    tight = r" \cdot "
    gbar = r"\bar{g}"

    def label(self, label: str) -> str:
        primes = label[len(label.rstrip("'")):]
        base = label.rstrip("'")
        match = re.fullmatch(r"([A-Za-z])(\d+)", base)
        if match:
            base = f"{match.group(1)}_{{{match.group(2)}}}"
        elif len(base) > 1:
            base = r"\mathit{" + base.replace("_", r"\_") + "}"
        return base + primes

    def grad(self, out: str, label: str) -> str:
        return rf"\frac{{\partial {self.label(out)}}}{{\partial {self.label(label)}}}"

    def partial_of(self, formula: str, label: str) -> str:
        body = formula if is_atom(formula) else f"({formula})"
        return rf"\frac{{\partial {body}}}{{\partial {self.label(label)}}}"

    def dot(self, label: str) -> str:
        shown = self.label(label)
        match = re.match(r"(\\mathit\{[^}]*\}|[A-Za-z])(.*)", shown)
        return rf"\dot{{{match.group(1)}}}{match.group(2)}" if match else rf"\dot{{{shown}}}"

    def num(self, value) -> str:
        text = brief_value(value, 2 * LINE_WIDTH // 3, self.full)
        text = re.sub(r"(?<![a-z])nan", r"\\mathrm{NaN}", text)
        text = re.sub(r"(?<![a-z])inf", r"\\infty", text)
        return text.replace("...", r"\ldots")

    def in_product(self, text: str) -> str:
        return f"({text})" if text.startswith("-") or re.search(r" [-+] ", top_level(text)) else text

    def shaped(self, lhs: str, value) -> str:
        if is_scalar(value):
            return lhs
        dims = r" \times ".join(str(n) for n in np.shape(value)) or "1"
        return rf"{lhs} \in \mathbb{{R}}^{{{dims}}}"

    def constant(self, text: str) -> str:
        text = r"\pi" if text == "pi" else text.replace("...", r"\ldots")
        return f"({text})" if text.startswith("-") else text

    def fill(self, template: str, fillers: list[str]) -> str:
        text = template.format(*(SENTINEL.format(k) for k in range(len(fillers))))
        for plain, latex in LATEX_WORDS:
            text = text.replace(plain, latex)
        text = LATEX_FUNCTIONS.sub(lambda m: "\\" + m.group(1) if m.group(1) in BUILTIN_LATEX
                                   else r"\operatorname{" + m.group(1) + "}", text.translate(LATEX_SYMBOLS))
        text = re.sub(r"\^\(([^()]*)\)", r"^{(\1)}", text)  # x^(y-1): the whole exponent raised
        text = re.sub(" {2,}", " ", text)

        def place(match):  # braces only where LaTeX would otherwise take one character: x^{17}
            filler = fillers[int(match.group(1))]
            raised = text[:match.start()].endswith(("^", "\\sqrt "))
            return "{" + filler + "}" if raised and len(filler) > 1 else filler

        return single_parens(re.sub("\x00(\\d+)\x00", place, text))

    def words(self, text: str) -> str:
        return r"\text{" + text + "}"
