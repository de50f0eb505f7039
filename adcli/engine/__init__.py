"""The engine: values and derivatives of a graph.

Owns evaluation with numpy, reverse mode (gradient accumulators filled in reverse topological
order), forward mode and dual numbers, higher orders (Taylor series, Jacobians, Hessians), batch,
checkpointing, gradient checking, cost estimates, diagnosis of non-finite values and kinks, input
values, and the Python API's Program. It may import the language and the operations, never what
explains or prints a result.
"""

# fixed_point() and root() call back into the engine to run their function's graph.
from adcli.engine import implicit as _implicit  # noqa: F401
from adcli.engine import loops as _loops  # noqa: F401  (a loop's scalar body on floats)
