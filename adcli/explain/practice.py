"""Exercises for a class: the inputs of a trace drawn afresh from a seed, near the given ones."""

from __future__ import annotations

import numpy as np

TRIES = 64  # draws until one gives a finite value and gradient


def draw(value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A value like the given one: whole numbers stay whole (1 to 9, or up to twice their size, keeping
    their sign; a zero stays zero), others are scaled by 0.5 to 1.5 and kept to two significant digits."""
    a = np.asarray(value)
    if a.dtype.kind in "iu" or (a.size and np.all(a == np.round(a))):
        top = np.maximum(9, 2 * np.abs(a)).astype(np.int64)
        drawn = np.sign(a) * rng.integers(1, top + 1, size=a.shape)
        return drawn.astype(a.dtype if a.dtype.kind in "iu" else np.float64)
    scaled = a * rng.uniform(0.5, 1.5, size=a.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = np.where(scaled == 0, 0, 1 - np.floor(np.log10(np.abs(scaled))))
    return np.array([np.round(x, int(d)) for x, d in zip(scaled.ravel(), digits.ravel())]).reshape(a.shape)


def varied(program, given: dict, seed: int, of=None) -> dict:
    """The given inputs drawn again from `seed` (the same seed, the same exercise), so that the
    program's value and gradient are finite; the given values when no draw of TRIES gives that.
    Integer inputs (labels, indices, counts) are data, not numbers to vary: they stay."""
    from adcli.errors import AdError
    from adcli.language.graph import INT
    graph = program.graph
    data = {graph.nodes[i].label for i in graph.inputs if graph.nodes[i].dtype == INT}
    for attempt in range(TRIES):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, attempt])
        drawn = {name: value if name in data else draw(value, rng) for name, value in sorted(given.items())}
        try:
            result = program.grad(of=of, **drawn)
        except AdError:
            continue
        if np.all(np.isfinite(result.value)) and all(np.all(np.isfinite(g)) for g in result.grad.values()):
            return drawn
    return dict(given)
