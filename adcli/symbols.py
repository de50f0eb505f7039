"""The mathematical symbols adcli prints, and the ASCII a terminal without Unicode gets instead."""

from __future__ import annotations

ASCII = str.maketrans({"∂": "d", "←": "<-", "·": "*", "ᵀ": "^T", "ḡ": "g", "⊙": "*", "′": "'",
                       "″": "''", "‴": "'''", "Σ": "sum", "σ": "sigmoid", "√": "sqrt", "²": "^2", "³": "^3",
                       "½": "1/2", "…": "...", "—": "-", "×": "x", "≥": ">=", "\u0307": "_dot",
                       "∛": "cbrt", "π": "pi", "₂": "2", "₁": "1", "₀": "0", "‖": "||", "Π": "prod",
                       "⁻": "^-", "¹": "1", "≤": "<=", "Φ": "Phi", "φ": "phi", "ᵢ": "_i", "⊗": "(x)",
                       "→": "->", "∇": "grad", "₊": "+", "ᵗ": "t"})


def can_encode(stream, sample: str = "∂←·ᵀḡ━\u0307") -> bool:
    """Whether a stream's encoding can show adcli's symbols (else they are written in ASCII)."""
    try:
        sample.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False
