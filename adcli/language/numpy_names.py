"""numpy's spellings of the language: the modules a file may name (np, jnp, scipy.special, ...),
what each of their functions and constants is called here, and numpy's methods and attributes.

Every entry is an alias of something the language already has, never a copy: `np.arctan2` is
the atan2 operation, `x.sum(axis=0)` is sum(x, axis=0). A name is listed only where numpy, scipy
or JAX mean the same thing by it (scipy.linalg.cholesky is upper-triangular by default, so it is
not listed). Plain data: the expander resolves names with it, and docs/numpy.md is written from it.
"""

from __future__ import annotations

import math

# The modules a file may name, and the names they are usually imported as.
NUMPY, LINALG = "numpy", "numpy.linalg"
MODULES = {
    "numpy": NUMPY, "numpy.linalg": LINALG, "numpy.random": None,
    "jax": None, "jax.numpy": NUMPY, "jax.numpy.linalg": LINALG, "jax.nn": "jax.nn",
    "jax.scipy": None, "jax.scipy.special": "scipy.special", "jax.scipy.linalg": "scipy.linalg",
    "scipy": None, "scipy.special": "scipy.special", "scipy.linalg": "scipy.linalg", "math": "math",
    "scipy.stats": None, "scipy.stats.norm": "scipy.stats.norm", "jax.scipy.stats": None,
    "jax.scipy.stats.norm": "scipy.stats.norm",
}
MODULE_ALIASES = {"np": "numpy", "numpy": "numpy", "jnp": "jax.numpy", "jax": "jax", "scipy": "scipy",
                  "math": "math"}

# numpy's functions that the language has under the same name.
_SAME = ("abs", "argmax", "argmin", "broadcast_to", "cbrt", "ceil", "clip", "concatenate", "cos", "cosh",
         "cumprod", "cumsum", "diag", "diff", "dot", "einsum", "exp", "exp2", "expand_dims", "expm1", "eye", "flip",
         "floor", "hypot", "kron", "log", "log10", "log1p", "log2", "logaddexp", "max", "maximum", "mean", "min",
         "minimum", "ones", "outer", "prod", "reshape", "roll", "round", "sign", "sin", "sinc", "sinh", "size",
         "sort", "sqrt", "square", "squeeze", "stack", "std", "sum", "tan", "tanh", "trace", "transpose", "tril",
         "triu", "var", "where", "zeros", "arange", "zeros_like", "ones_like", "full", "full_like", "linspace",
         "asarray", "array", "copy", "reciprocal", "take_along_axis", "meshgrid", "polyval")
# numpy's own names for functions and operators the language spells otherwise.
_NUMPY_RENAMED = {
    "arccos": "acos", "arcsin": "asin", "arctan": "atan", "arccosh": "acosh", "arcsinh": "asinh",
    "arctanh": "atanh", "arctan2": "atan2", "absolute": "abs", "fabs": "abs", "amax": "max", "amin": "min",
    "around": "round", "concat": "concatenate", "power": "pow", "add": "add", "subtract": "sub",
    "multiply": "mul", "divide": "div", "true_divide": "div", "matmul": "matmul", "greater": "greater",
    "less": "less", "greater_equal": "greater_equal", "less_equal": "less_equal", "equal": "equal",
    "not_equal": "not_equal",
}
_LINALG = {"norm": "norm", "det": "det", "inv": "inv", "solve": "solve", "cholesky": "cholesky",
           "eigvalsh": "eigvalsh", "matrix_power": "matrix_power", "slogdet": "slogdet"}
_SPECIAL = {"erf": "erf", "erfc": "erfc", "expit": "sigmoid", "logsumexp": "logsumexp", "softmax": "softmax",
            "log_softmax": "log_softmax", "gammaln": "gammaln", "digamma": "digamma", "psi": "digamma",
            "xlogy": "xlogy", "xlog1py": "xlog1py", "log_expit": "log_sigmoid", "sinc": "sinc", "ndtr": "stats.ndtr"}
# The standard normal distribution (loc= and scale= as scipy's), built from erfc, exp and log.
_NORM = {"cdf": "stats.norm.cdf", "sf": "stats.norm.sf", "pdf": "stats.norm.pdf", "logpdf": "stats.norm.logpdf"}
_SCIPY_LINALG = {"solve_triangular": "solve_triangular", "det": "det", "inv": "inv", "solve": "solve",
                 "norm": "norm"}
_JAX_NN = {"relu": "relu", "sigmoid": "sigmoid", "softplus": "softplus", "silu": "silu", "swish": "silu",
           "elu": "elu", "leaky_relu": "leaky_relu", "log_softmax": "log_softmax", "softmax": "softmax",
           "logsumexp": "logsumexp", "one_hot": "one_hot", "log_sigmoid": "log_sigmoid", "gelu": "gelu"}
_MATH = {"sqrt": "sqrt", "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh",
         "sinh": "sinh", "cosh": "cosh", "asin": "asin", "acos": "acos", "atan": "atan", "atan2": "atan2",
         "hypot": "hypot", "log1p": "log1p", "expm1": "expm1", "log2": "log2", "log10": "log10", "erf": "erf",
         "erfc": "erfc", "lgamma": "gammaln", "fabs": "abs", "floor": "floor", "ceil": "ceil", "pow": "pow",
         "asinh": "asinh", "acosh": "acosh", "atanh": "atanh", "cbrt": "cbrt", "exp2": "exp2"}
# Built from the language's operations by the expander, not operations of their own.
BUILT = ("stats.ndtr", "stats.norm.cdf", "stats.norm.sf", "stats.norm.pdf", "stats.norm.logpdf", "len", "zeros_like", "ones_like", "full", "full_like", "linspace", "asarray", "array", "copy", "take_along_axis",
         "matrix_power", "slogdet", "meshgrid", "polyval")
# numpy's max(x, 0) is a reduction along axis 0, where the language's max(x, 0) is the elementwise maximum.
REDUCTIONS = {"max": "amax", "min": "amin"}

NAMES: dict[str, dict[str, str | None]] = {
    NUMPY: {**{n: n for n in _SAME}, **_NUMPY_RENAMED},
    LINALG: _LINALG,
    "scipy.special": _SPECIAL,
    "scipy.linalg": _SCIPY_LINALG,
    "jax.nn": _JAX_NN,
    "scipy.stats.norm": _NORM,
    "math": _MATH,
}
CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan, "euler_gamma": 0.5772156649015329}
# Element types, for .astype(float) and dtype=np.float64: adcli computes in float64.
TYPES = {"float": "float", "float64": "float", "double": "float", "float_": "float", "int": "int",
         "int64": "int", "int32": "int", "float32": "float32", "float16": "float32", "bool": "bool",
         "bool_": "bool"}


def resolve(path: str) -> tuple[str, str | None]:
    """What a dotted name means: ("function", the language's name), ("constant", name), ("type",
    kind), ("module", path), or ("unknown", None)."""
    from adcli.operations import BINARY_SYMBOLS, CONSTRUCTORS, FUNCTIONS
    module, _, attr = path.rpartition(".")
    if path in MODULES:
        return "module", path
    if module not in MODULES:
        return "unknown", None
    home = MODULES[module]
    if home in (NUMPY, "math") and attr in CONSTANTS:
        return "constant", attr
    if home == NUMPY and attr in TYPES:
        return "type", TYPES[attr]
    if home == NUMPY and attr == "newaxis":
        return "constant", "newaxis"
    name = (NAMES.get(home) or {}).get(attr)
    if name in FUNCTIONS or name in CONSTRUCTORS or name in BUILT or name in BINARY_SYMBOLS.values():
        return "function", name
    return "unknown", None


def spellings() -> dict[str, list[str]]:
    """The language's name -> every dotted spelling of it a file may use (np.arctan2 -> atan2), for docs."""
    found: dict[str, list[str]] = {}
    for module, home in MODULES.items():
        for attr in (NAMES.get(home) or {}) if home else ():
            kind, name = resolve(f"{module}.{attr}")
            if kind == "function":
                found.setdefault(name, []).append(f"{module}.{attr}")
    return found


def unknown_name_message(path: str) -> str:
    """Why a dotted name is refused, with the closest name adcli has."""
    import difflib
    module, _, attr = path.rpartition(".")
    home = MODULES.get(module)
    known = sorted(a for a in (NAMES.get(home) or {}) if resolve(f"{module}.{a}")[0] == "function")
    close = difflib.get_close_matches(attr, known + list(CONSTANTS), n=1)
    hint = f"; did you mean {module}.{close[0]}?" if close else \
        "; `adcli functions` lists what the language has, and a function can be written in the file (def)"
    return f"adcli has no '{path}'{hint}"


def unknown_module_message(module: str) -> str:
    """Why an import is refused, and what a file may import instead."""
    return (f"adcli cannot import '{module}': a file may import numpy, jax.numpy, jax.nn, scipy.special, "
            "scipy.linalg and math, whose functions adcli has under the same names; everything else is "
            "written in the file itself (def)")


# Methods of arrays: the numpy function each calls, with the array as its first operand.
METHODS = {name: f"numpy.{name}" for name in ("sum", "mean", "max", "min", "prod", "std", "var", "cumsum",
                                               "cumprod", "argmax", "argmin", "clip", "dot", "round", "squeeze",
                                               "trace", "reshape", "transpose")}
ATTRIBUTE_HELP = {
    "dtype": "adcli computes in float64 (and integers for data declared int[...]): there is no .dtype",
    "mT": "use .T, or transpose(x, axes=[...]) for the last two axes of a stack",
    "imag": "adcli has no complex numbers", "flat": "use .ravel() or reshape(x, [-1])",
}
METHOD_HELP = {
    "sort": "numpy's x.sort() sorts in place and gives None; write np.sort(x)",
    "fill": "an array cannot be changed in place; write np.full_like(x, v)",
    "item": "adcli keeps values as arrays; a one-element array is already a number: x[0] or sum(x)",
    "tolist": "adcli keeps values as arrays", "nonzero": "a result whose shape depends on values cannot be "
    "differentiated; use where(cond, x, 0)",
}
