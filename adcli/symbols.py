"""The mathematical symbols adcli prints, and the ASCII a terminal without Unicode gets instead."""

from __future__ import annotations

import os

ASCII = str.maketrans({"∂": "d", "←": "<-", "·": "*", "ᵀ": "^T", "ḡ": "g", "⊙": "*", "′": "'",
                       "″": "''", "‴": "'''", "Σ": "sum", "σ": "sigmoid", "√": "sqrt", "²": "^2", "³": "^3",
                       "½": "1/2", "…": "...", "—": "-", "×": "x", "≥": ">=", "\u0307": "_dot",
                       "∛": "cbrt", "π": "pi", "₂": "2", "₁": "1", "₀": "0", "‖": "||", "Π": "prod",
                       "⁻": "^-", "¹": "1", "≤": "<=", "Φ": "Phi", "φ": "phi", "ᵢ": "_i", "⊗": "(x)",
                       "→": "->", "∇": "grad", "₊": "+", "ᵗ": "t", "ψ": "psi", "Γ": "Gamma", "⁽": "^(",
                       "⁾": ")", "ⁿ": "n", "⁺": "+"})


def c_locale() -> bool:
    """Whether the environment asks for the C or POSIX locale (LC_ALL, else LANG), whose terminals
    show ASCII. Python runs such a process in UTF-8 anyway (PEP 538 and 540), so the stream's
    encoding alone cannot tell; an explicit PYTHONIOENCODING is the user's word and wins."""
    if os.environ.get("PYTHONIOENCODING"):
        return False
    return (os.environ.get("LC_ALL") or os.environ.get("LANG") or "") in ("C", "POSIX")


def can_encode(stream, sample: str = "∂←·ᵀḡ━\u0307") -> bool:
    """Whether a stream's encoding can show adcli's symbols (else they are written in ASCII)."""
    if c_locale():
        return False
    try:
        sample.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False
