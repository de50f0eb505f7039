"""adcli: differentiate expression files, and show how the derivative was computed."""

__version__ = "0.1.0"

from .errors import AdError  # noqa: E402
from .program import Gradient, Program, load, parse  # noqa: E402

__all__ = ["AdError", "Gradient", "Program", "__version__", "load", "parse"]
