"""adcli: differentiate expression files, and show how the derivative was computed."""

__version__ = "0.1.0"

__all__ = ["AdError", "Cluster", "Dual", "Gradient", "Output", "Program", "__version__", "check_gradients", "derivative",
           "derivatives", "hessian", "hvp", "inspect_grad", "jacobian", "load", "ops", "parse", "taylor_derivatives",
           "vjp"]

# Where each public name lives. They are imported on first use, so `adcli --version` and `--help`
# start without numpy, Lark or the engine.
_LAZY = {"AdError": "errors", "Dual": "engine.dual", "Gradient": "engine.results", "Program": "engine.program",
         "load": "engine.program", "parse": "engine.program", "derivative": "engine.dual", "derivatives": "engine.dual",
         "taylor_derivatives": "engine.higher", "check_gradients": "engine.check", "inspect_grad": "engine.diagnose",
         "jacobian": "engine.matrices", "hessian": "engine.matrices", "hvp": "engine.matrices", "vjp": "engine.matrices",
         "Cluster": "engine.distributed", "Output": "engine.batch_store"}


def __getattr__(name: str):
    """`adcli.Program` and the rest, imported when first asked for."""
    from importlib import import_module
    if name == "ops":  # a module: the language's functions for Python, over numbers, arrays and duals
        value = import_module(".ops", __name__)
    elif name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'adcli' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
