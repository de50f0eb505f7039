"""adcli: differentiate expression files, and show how the derivative was computed."""

__version__ = "0.1.0"

__all__ = ["AdError", "Dual", "Gradient", "Program", "__version__", "load", "parse"]

# Where each public name lives. They are imported on first use, so `adcli --version` and `--help`
# start without numpy, Lark or the engine.
_LAZY = {"AdError": "errors", "Dual": "dual", "Gradient": "program", "Program": "program", "load": "program",
         "parse": "program"}


def __getattr__(name: str):
    """`adcli.Program` and the rest, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adcli' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
