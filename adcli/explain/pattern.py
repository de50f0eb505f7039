"""Pictures of a sparsity pattern: Braille dots for the terminal, an SVG page for the browser.

A picture reads only the pattern's (row, col) pairs. A large matrix is drawn scaled down: each dot
(or cell) stands for a block of entries and is set when any entry in the block is stored, so a
picture never hides an entry, only merges neighbours; the caption says the scale.
"""

from __future__ import annotations

import html
import math

import numpy as np

BRAILLE = 0x2800
# Braille dot bits by (row in 0..3, column in 0..1) of the 2×4 cell
DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def scale_for(shape: tuple[int, int], width: int, height: int, per_char: tuple[int, int]) -> int:
    """Entries per dot along each axis so the picture fits width × height characters."""
    m, n = shape
    cols, rows = per_char
    return max(1, math.ceil(n / (cols * max(width, 1))), math.ceil(m / (rows * max(height, 1))))


def picture(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], width: int = 80, height: int = 40,
            ascii_only: bool = False) -> tuple[list[str], int]:
    """The pattern as lines of text, and how many entries each dot stands for along each axis.

    A small matrix gets a character per entry (● or ·). A larger one is drawn in Braille, 2 × 4
    dots a character; in ASCII each character is one dot, '#' or '.', as tall as two are wide."""
    m, n = shape
    if n <= width // 2 and m <= height:  # small: one character per entry, a space between columns
        cells = np.zeros(shape, dtype=bool)
        cells[rows, cols] = True
        on, off = ("#", ".") if ascii_only else ("●", "·")
        return [" ".join(on if hit else off for hit in line) for line in cells], 1
    per_char = (1, 2) if ascii_only else (2, 4)
    scale = scale_for(shape, width, height, per_char)
    dot_rows, dot_cols = math.ceil(m / scale), math.ceil(n / scale)
    chars_x, chars_y = math.ceil(dot_cols / per_char[0]), math.ceil(dot_rows / per_char[1])
    r, c = rows // scale, cols // scale
    if ascii_only:
        cells = np.zeros((chars_y, chars_x), dtype=bool)
        cells[r // 2, c] = True
        return ["".join("#" if on else "." for on in line) for line in cells], scale
    bits = np.zeros((chars_y, chars_x), dtype=np.int64)
    dots = np.array(DOTS, dtype=np.int64)
    np.bitwise_or.at(bits, (r // 4, c // 2), dots[r % 4, c % 2])
    return ["".join(chr(BRAILLE + int(b)) for b in line) for line in bits], scale


def caption(shape: tuple[int, int], nnz: int, scale: int, ascii_only: bool = False) -> str:
    m, n = shape
    x = "x" if ascii_only else "×"
    density = nnz / (m * n) if m * n else 0.0
    text = f"{m} {x} {n}, {nnz} stored entries ({density:.2%})"
    if scale > 1:
        text += f"; each dot is a {scale} {x} {scale} block"
    return text


def page(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], title: str, facts: list[str]) -> str:
    """A self-contained HTML page drawing the pattern as SVG (one square per entry, merged into
    blocks past 400 entries a side), with the facts below it."""
    m, n = shape
    scale = max(1, math.ceil(max(m, n) / 400))
    blocks = np.unique(np.stack([rows // scale, cols // scale], axis=1), axis=0) if len(rows) else \
        np.zeros((0, 2), dtype=np.int64)
    h, w = max(math.ceil(m / scale), 1), max(math.ceil(n / scale), 1)
    squares = "".join(f'<rect x="{c}" y="{r}" width="1" height="1"/>' for r, c in blocks.tolist())
    items = "".join(f"<li>{html.escape(fact)}</li>" for fact in facts)
    label = html.escape(f"{title}: {caption(shape, len(rows), scale)}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
:root {{ color-scheme: light dark; --ink: #1b1f24; --paper: #ffffff; --grid: #d0d7de; }}
@media (prefers-color-scheme: dark) {{ :root {{ --ink: #e6edf3; --paper: #0d1117; --grid: #30363d; }} }}
body {{ font: 16px/1.5 system-ui, sans-serif; color: var(--ink); background: var(--paper); margin: 1.5rem; }}
svg {{ width: min(90vw, 80vh); height: auto; border: 1px solid var(--grid); background: var(--paper); }}
rect {{ fill: var(--ink); }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<figure>
<svg viewBox="0 0 {w} {h}" preserveAspectRatio="xMinYMin meet" role="img" aria-label="{label}"
 shape-rendering="crispEdges">{squares}</svg>
<figcaption>{html.escape(caption(shape, len(rows), scale))}</figcaption>
</figure>
<ul>{items}</ul>
</body>
</html>
"""


def scipy_npz(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> bytes:
    """The matrix as scipy.sparse.save_npz writes a COO array, so scipy.sparse.load_npz reads it;
    numpy alone writes it."""
    import io
    out = io.BytesIO()
    np.savez(out, row=np.asarray(rows, dtype=np.int64), col=np.asarray(cols, dtype=np.int64),
             format=b"coo", shape=np.asarray(shape, dtype=np.int64), data=np.asarray(data, dtype=np.float64),
             _is_array=True)
    return out.getvalue()
