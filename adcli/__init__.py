"""adcli: differentiate expression files, and show how the derivative was computed."""

__version__ = "0.1.0"

from .dual import Dual  # noqa: E402
from .errors import AdError  # noqa: E402
from .program import Gradient, Program, load, parse  # noqa: E402

__all__ = ["AdError", "Dual", "Gradient", "Program", "__version__", "load", "parse"]
