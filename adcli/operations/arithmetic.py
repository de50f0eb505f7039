"""Arithmetic: the operators + - * / ** @, unary minus, comparisons, and `where`."""

from __future__ import annotations

import operator

import numpy as np

from adcli.operations import batching, kernels, patterns
from adcli.operations.core import (
    Mismatch,
    Op,
    broadcast_shape,
    broadcast_shapes,
    fmt_shape,
    local_partial,
    no_flops,
    per_element,
    register,
    same_shape,
)


def binary(name, symbol, forward, derivs, text, partials, vjp_text, **kw):
    """An elementwise operation of two broadcast operands, given by its local partials."""
    return register(Op(name, forward_code=forward, shape=broadcast_shape(symbol), text=text, partials=partials,
                       vjp_text=vjp_text, args=("x", "y"), deriv_code=derivs, batch=batching.elementwise, **kw))


binary("add", symbol="+", forward="{x} + {y}", derivs=("1", "1"), text="{0} + {1}", partials=("1", "1"),
       vjp_text=("ḡ", "ḡ"), pyfunc=operator.add, dtype="same", ufunc=np.add, linear=True,
       doc="addition, with numpy broadcasting")
binary("sub", symbol="-", forward="{x} - {y}", derivs=("1", "-1.0"), text="{0} - {1}", partials=("1", "-1"),
       vjp_text=("ḡ", "-ḡ"), pyfunc=operator.sub, dtype="same", ufunc=np.subtract, linear=True,
       doc="subtraction, with numpy broadcasting")
binary("mul", symbol="*", forward="{x} * {y}", derivs=("{y}", "{x}"), text="{0}·{1}", partials=("{1}", "{0}"),
       vjp_text=("ḡ ⊙ {1}", "ḡ ⊙ {0}"), pyfunc=operator.mul, dtype="same", ufunc=np.multiply, bilinear=True,
       chain_product=kernels.chain, doc="elementwise multiplication, with numpy broadcasting", pattern=patterns.product)
binary("div", symbol="/", forward="{x} / {y}", derivs=("1.0 / {y}", "-{ans} / {y}"), text="{0}/{1}",
       partials=("1/{1}", "-{0}/{1}²"), vjp_text=("ḡ / {1}", "-ḡ ⊙ {0}/{1}²"), pyfunc=operator.truediv, ufunc=np.divide,
       deriv_flops=local_partial(2), doc="elementwise division")
binary("pow", symbol="**", forward="np.power({x}, {y})", derivs=("pow_dbase({x}, {y})", "pow_dexp({ans}, {x}, {y})"),
       text="{0}^{1}", partials=("{1}·{0}^({1}-1)", "log({0})·{0}^{1}"),
       vjp_text=("ḡ ⊙ {1}·{0}^({1}-1)", "ḡ ⊙ log({0})·{0}^{1}"), ufunc=np.power, deriv_flops=local_partial(3),
       doc="power; ∂/∂x taken as 0 where the exponent is 0, ∂/∂y as 0 at x = 0 for y ≥ 0")
register(Op("neg", forward_code="-{x}", shape=same_shape, text="-{0}", partials=("-1",), vjp_text=("-ḡ",),
            deriv_code=("-1.0",), pyfunc=operator.neg, dtype="same", ufunc=np.negative, linear=True, doc="negation",
            batch=batching.elementwise))


def matmul_shape(a, b):
    if len(a) == 0 or len(b) == 0:
        return tuple(broadcast_shapes(a, b))
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise Mismatch(
            f"'@' cannot multiply shapes {fmt_shape(a)} and {fmt_shape(b)}: the left operand's "
            f"last dimension ({a2[-1]}) differs from the right operand's "
            f"{'only' if len(b) == 1 else 'second-to-last'} dimension ({b2[-2]})"
        )
    try:
        batch = tuple(broadcast_shapes(a2[:-2], b2[:-2]))
    except Mismatch:
        raise
    except ValueError:
        raise Mismatch(f"'@' cannot broadcast the batch dimensions of {fmt_shape(a)} and {fmt_shape(b)}") from None
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def matmul_flops(out, args, params):
    a, b = args
    if len(a) == 0 or len(b) == 0:  # a scalar side multiplies
        return int(np.prod(out))
    return 2 * a[-1] * int(np.prod(out))  # 2·m·k·n: k multiply-adds per result element


register(Op("matmul", forward_code="matmul({x}, {y})", shape=matmul_shape, text="{0} @ {1}", partials=("{1}", "{0}"),
            vjp_text=("ḡ {1}ᵀ", "{0}ᵀ ḡ"), args=("x", "y"),
            vjp_code=("matmul_vjp_left({g}, {y}, {x.shape})", "matmul_vjp_right({g}, {x}, {y.shape})"),
            jvp_code="chain_matmul({dx}, {y}) + chain_matmul({x}, {dy})", scalar_text="{0}·{1}", pyfunc=operator.mul,
            ufunc=np.matmul, bilinear=True, chain_product=kernels.chain_matmul, scalar_as="mul", flops=matmul_flops,
            deriv_flops=lambda k, out, args, params: matmul_flops(out, args, params),
            doc="matrix product (numpy's matmul); a scalar on either side multiplies", batch=batching.matmul,
            pattern=patterns.matmul))

# ---- comparisons: boolean results, with no derivative ------------------------------------------
for _name, _symbol, _ufunc in (("less", "<", np.less), ("less_equal", "<=", np.less_equal),
                               ("greater", ">", np.greater), ("greater_equal", ">=", np.greater_equal),
                               ("equal", "==", np.equal), ("not_equal", "!=", np.not_equal)):
    register(Op(_name, forward_code=f"{{x}} {_symbol} {{y}}", shape=broadcast_shape(_symbol),
                text=f"{{0}} {_symbol} {{1}}", partials=("0", "0"), vjp_text=("0", "0"), args=("x", "y"),
                vjp_code=("np.zeros({x.shape})", "np.zeros({y.shape})"), jvp_code="None", dtype="bool", ufunc=_ufunc,
                flops=per_element(1), deriv_flops=no_flops,
                doc=f"comparison {_symbol}: a boolean array, with no derivative", batch=batching.elementwise))

# ---- where: the gradient goes to the selected branch ----------------------------------------------
register(Op("where", forward_code="np.where({cond}, {x}, {y})", shape=broadcast_shape("where"),
            text="where({0}, {1}, {2})", partials=("0", "[{0}]", "[not {0}]"),
            vjp_text=("0", "ḡ ⊙ [{0}]", "ḡ ⊙ [not {0}]"), args=("cond", "x", "y"), func="where",
            vjp_code=("np.zeros({cond.shape})", "unbroadcast(np.where({cond}, {g}, 0.0), {x.shape})",
                      "unbroadcast(np.where({cond}, 0.0, {g}), {y.shape})"),
            jvp_code="np.where({cond}, {dx}, {dy})", flops=per_element(1), deriv_flops=local_partial(1),
            doc="elementwise choice: x where cond holds, else y (broadcast); the gradient follows the choice",
            kinds=("bool", None, None), signature="where(cond, x, y)", batch=batching.elementwise,
            pattern=patterns.elementwise, curved=False))
