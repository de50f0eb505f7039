"""Constructors: arrays made from numbers written in the file (zeros, ones, eye, arange).

They take no values, only sizes fixed in the file, so they are constants: the graph holds their
result, and nothing is differentiated through them. Each entry is named, documented and listed
by `adcli functions` like the operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Constructor:
    """A function of sizes alone: its signature, its meaning, and how it builds the array."""

    name: str
    signature: str
    doc: str
    build: Callable  # build(*sizes) -> numpy array
    sizes: str  # "shape" (a list of sizes) or "count" (one whole number)


CONSTRUCTORS = {c.name: c for c in (
    Constructor("zeros", "zeros([d1, d2, ...])", "an array of zeros of the given shape",
                lambda shape: np.zeros(shape), "shape"),
    Constructor("ones", "ones([d1, d2, ...])", "an array of ones of the given shape",
                lambda shape: np.ones(shape), "shape"),
    Constructor("eye", "eye(k)", "the k×k identity matrix", lambda k: np.eye(k), "count"),
    Constructor("arange", "arange(k)", "the integers 0, 1, ..., k-1 (integer data, for indexing)",
                lambda k: np.arange(k, dtype=np.int64), "count"),
)}
