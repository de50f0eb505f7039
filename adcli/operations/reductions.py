"""Reductions and operations along an axis: sum, mean, max, min, prod, var, std, norm, cumsum,
softmax, log_softmax, logsumexp. Every reduction takes `axis` (an int, a tuple, or None for all)
and `keepdims`."""

from __future__ import annotations

import numpy as np

from adcli.operations import batching
from adcli.operations.core import (
    Op,
    along_axis_shape,
    check_axis,
    operand_elements,
    per_operand_element,
    reduce_shape,
    register,
)

REDUCE = (("axis", None), ("keepdims", False))


def reduction(name, forward, text, partial, vjp_text, vjp, params=REDUCE, cost=(1, 1), **kw):
    """A reduction over `axis`, with keepdims, given by its vjp template."""
    flops, deriv_flops = cost
    return register(Op(name, forward_code=forward, shape=reduce_shape(kw.pop("word", name), kw.pop("empty_ok", True)),
                       text=text, partials=(partial,), vjp_text=(vjp_text,), params=params, func=kw.pop("func", name),
                       vjp_code=(vjp,), flops=per_operand_element(flops), deriv_flops=operand_elements(deriv_flops),
                       batch=batching.reduction, **kw))


reduction("sum", forward="np.sum({x}, axis={axis}, keepdims={keepdims})", text="Σ{0}", partial="1",
          vjp_text="ḡ broadcast to the shape of {0}", vjp="expand({g}, {x.shape}, {axis}, {keepdims})",
          jvp_code="np.sum({dx}, axis={axis}, keepdims={keepdims})", linear=True,
          doc="the sum of the elements, over every axis or along `axis`")
reduction("mean", forward="np.mean({x}, axis={axis}, keepdims={keepdims})", text="mean({0})", partial="1/{n}",
          vjp_text="ḡ/{n} broadcast to the shape of {0}",
          vjp="expand({g}, {x.shape}, {axis}, {keepdims}) / reduced_size({x.shape}, {axis})",
          jvp_code="np.mean({dx}, axis={axis}, keepdims={keepdims})", linear=True,
          doc="the mean of the elements; of an empty array NaN, as numpy")
for _name, _np, _word in (("amax", "max", "max"), ("amin", "min", "min")):
    reduction(_name, forward=f"np.{_np}({{x}}, axis={{axis}}, keepdims={{keepdims}})", text=_word + "({0})",
              partial=f"[{{0}} = {_word}]/#ties", vjp_text=f"ḡ ⊙ [{{0}} = {_word}]/#ties",
              vjp="masked(expand({g}, {x.shape}, {axis}, {keepdims}), ties_mask({ans}, {x}, {axis}, {keepdims}))",
              jvp_code="np.sum(masked({dx}, ties_mask({ans}, {x}, {axis}, {keepdims})), axis={axis}, "
                       "keepdims={keepdims})",
              func=_word, word=_word, empty_ok=False, cost=(1, 3),
              array_functions=(getattr(np, _np), getattr(np, _name)),
              kink_code="ties_count({ans}, {x}, {axis}, {keepdims}) > 1",
              convention=f"a tie in {_word}() splits the gradient evenly",
              doc=f"the {'largest' if _word == 'max' else 'smallest'} element, over everything or along `axis`; "
                  "a tie splits the gradient evenly",
              signature=f"{_word}(x, axis=None, keepdims=False)")
reduction("prod", forward="np.prod({x}, axis={axis}, keepdims={keepdims})", text="Π{0}", partial="Π of the others",
          vjp_text="ḡ ⊙ the product of the other elements", array_functions=(np.prod,),
          vjp="expand({g}, {x.shape}, {axis}, {keepdims}) * prod_others({x}, {axis})", cost=(1, 4),
          jvp_code="np.sum(chain({dx}, prod_others({x}, {axis})), axis={axis}, keepdims={keepdims})",
          doc="the product of the elements; its gradient exact where elements are 0 (no division)")
reduction("var", forward="np.var({x}, axis={axis}, ddof={ddof}, keepdims={keepdims})", text="var({0})",
          partial="2({0} - mean)/({n} - {ddof})", vjp_text="ḡ ⊙ 2({0} - mean)/({n} - {ddof})",
          vjp="expand({g}, {x.shape}, {axis}, {keepdims}) * var_slope({x}, {axis}, {ddof})",
          params=(("axis", None), ("ddof", 0), ("keepdims", False)), cost=(3, 4), array_functions=(np.var,),
          jvp_code="np.sum({dx} * var_slope({x}, {axis}, {ddof}), axis={axis}, keepdims={keepdims})",
          doc="the variance (ddof=0 as numpy, ddof=1 for the sample variance)")
reduction("std", forward="np.std({x}, axis={axis}, ddof={ddof}, keepdims={keepdims})", text="std({0})",
          partial="({0} - mean)/(({n} - {ddof})·std)", vjp_text="ḡ ⊙ ({0} - mean)/(({n} - {ddof})·std)",
          vjp="expand(np.where({ans} == 0, 0.0, {g} / {ans}), {x.shape}, {axis}, {keepdims}) * var_slope({x}, {axis}, "
          "{ddof}) * 0.5",
          params=(("axis", None), ("ddof", 0), ("keepdims", False)), cost=(4, 5), array_functions=(np.std,),
          jvp_code="np.where({ans} == 0, 0.0, np.sum({dx} * var_slope({x}, {axis}, {ddof}), axis={axis}, "
                   "keepdims={keepdims}) * 0.5 / {ans})",
          kink_code="{ans} == 0", convention="std′ taken as 0 where the values are all equal (std = 0), as PyTorch",
          doc="the standard deviation (ddof as var); its derivative where std = 0 taken as 0, as PyTorch's")
reduction("norm", forward="norm({x}, axis={axis}, keepdims={keepdims})", text="‖{0}‖", partial="{0}/‖{0}‖",
          vjp_text="ḡ ⊙ {0}/‖{0}‖",
          vjp="norm_direction({x}, {ans}, {axis}, {keepdims}) * expand({g}, {x.shape}, {axis}, {keepdims})",
          cost=(2, 3), jvp_code="np.sum({dx} * norm_direction({x}, {ans}, {axis}, {keepdims}), axis={axis}, "
                                "keepdims={keepdims})",
          kink_code="{ans} == 0", convention="norm′(0) taken as 0",
          doc="the 2-norm of a vector, the Frobenius norm of a matrix, or along `axis`; norm′(0) = 0")


def cumsum_shape(s, axis=None):
    if axis is None:
        return (int(__import__("math").prod(s)),)
    check_axis("cumsum", s, axis)
    return tuple(s)


register(Op("cumsum", forward_code="np.cumsum({x}, axis={axis})", shape=cumsum_shape, text="cumsum({0})",
            partials=("1",), vjp_text=("running sums of ḡ from the end",), params=(("axis", None),), func="cumsum",
            vjp_code=("cumsum_vjp({g}, {axis}, {x.shape})",), jvp_code="np.cumsum({dx}, axis={axis})", linear=True,
            flops=per_operand_element(1), deriv_flops=operand_elements(1),
            doc="running sums along `axis` (of the flattened array without one, as numpy)", batch=batching.along_axis))

# ---- along one axis: the softmax family ---------------------------------------------------------
register(Op("softmax", forward_code="softmax({x}, {axis})", shape=along_axis_shape("softmax", keep=True),
            text="softmax({0})", partials=("s(1 - s)",), vjp_text=("s ⊙ (ḡ - Σ ḡ ⊙ s), s = softmax({0})",),
            params=(("axis", -1),), func="softmax",
            vjp_code=("{ans} * ({g} - np.sum({g} * {ans}, axis={axis}, keepdims=True))",),
            jvp_code="{ans} * ({dx} - np.sum({dx} * {ans}, axis={axis}, keepdims=True))", flops=per_operand_element(5),
            deriv_flops=operand_elements(4), doc="exp(x)/Σexp(x) along `axis` (the last by default), without overflow",
            batch=batching.along_axis))
register(Op("log_softmax", forward_code="log_softmax({x}, {axis})", shape=along_axis_shape("log_softmax", keep=True),
            text="log_softmax({0})", partials=("1 - softmax({0})",), vjp_text=("ḡ - softmax({0}) Σḡ",),
            params=(("axis", -1),), func="log_softmax",
            vjp_code=("{g} - np.exp({ans}) * np.sum({g}, axis={axis}, keepdims=True)",),
            jvp_code="{dx} - np.sum(np.exp({ans}) * {dx}, axis={axis}, keepdims=True)", flops=per_operand_element(5),
            deriv_flops=operand_elements(4),
            doc="x - logsumexp(x) along `axis`, stable (cross-entropy's building block)", batch=batching.along_axis))
register(Op(
    "logsumexp", forward_code="logsumexp({x}, {axis}, {keepdims})", shape=along_axis_shape("logsumexp", keep=False),
    text="logsumexp({0})", partials=("softmax({0})",), vjp_text=("ḡ ⊙ softmax({0})",),
    params=(("axis", -1), ("keepdims", False)),
    func="logsumexp",
    # softmax from the shifted values, not exp(x - logsumexp): at large |x| the subtraction loses digits
    vjp_code=("expand({g}, {x.shape}, {axis}, {keepdims}) * softmax({x}, {axis})",),
    jvp_code="np.sum({dx} * softmax({x}, {axis}), axis={axis}, keepdims={keepdims})",
    flops=per_operand_element(4), deriv_flops=operand_elements(6),
    doc="log Σ exp(x) along `axis` (the last by default), without overflow", batch=batching.along_axis,
))
