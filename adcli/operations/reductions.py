"""Reductions and operations along an axis: sum, mean, max, min, prod, var, std, norm, cumsum,
softmax, log_softmax, logsumexp. Every reduction takes `axis` (an int, a tuple, or None for all)
and `keepdims`."""

from __future__ import annotations

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
    return register(Op(name, forward, reduce_shape(kw.pop("word", name), kw.pop("empty_ok", True)), text,
                       (partial,), (vjp_text,), params=params, func=kw.pop("func", name), vjp_code=(vjp,),
                       flops=per_operand_element(flops), deriv_flops=operand_elements(deriv_flops),
                       batch=batching.reduction, **kw))


reduction("sum", "np.sum({x}, axis={axis}, keepdims={keepdims})", "Σ{0}", "1", "ḡ broadcast to the shape of {0}",
          "expand({g}, {x.shape}, {axis}, {keepdims})",
          jvp_code="np.sum({dx}, axis={axis}, keepdims={keepdims})", linear=True,
          doc="the sum of the elements, over every axis or along `axis`")
reduction("mean", "np.mean({x}, axis={axis}, keepdims={keepdims})", "mean({0})", "1/{n}",
          "ḡ/{n} broadcast to the shape of {0}",
          "expand({g}, {x.shape}, {axis}, {keepdims}) / reduced_size({x.shape}, {axis})",
          jvp_code="np.mean({dx}, axis={axis}, keepdims={keepdims})", linear=True,
          doc="the mean of the elements; of an empty array NaN, as numpy")
for _name, _np, _word in (("amax", "max", "max"), ("amin", "min", "min")):
    reduction(_name, f"np.{_np}({{x}}, axis={{axis}}, keepdims={{keepdims}})", _word + "({0})",
              f"[{{0}} = {_word}]/#ties", f"ḡ ⊙ [{{0}} = {_word}]/#ties",
              "masked(expand({g}, {x.shape}, {axis}, {keepdims}), ties_mask({ans}, {x}, {axis}, {keepdims}))",
              jvp_code="np.sum(masked({dx}, ties_mask({ans}, {x}, {axis}, {keepdims})), axis={axis}, "
                       "keepdims={keepdims})",
              func=_word, word=_word, empty_ok=False, cost=(1, 3),
              kink_code="ties_count({ans}, {x}, {axis}, {keepdims}) > 1",
              convention=f"a tie in {_word}() splits the gradient evenly",
              doc=f"the {'largest' if _word == 'max' else 'smallest'} element, over everything or along `axis`; "
                  "a tie splits the gradient evenly", signature=f"{_word}(x, axis=None, keepdims=False)")
reduction("prod", "np.prod({x}, axis={axis}, keepdims={keepdims})", "Π{0}", "Π of the others",
          "ḡ ⊙ the product of the other elements",
          "expand({g}, {x.shape}, {axis}, {keepdims}) * prod_others({x}, {axis})", cost=(1, 4),
          jvp_code="np.sum(chain({dx}, prod_others({x}, {axis})), axis={axis}, keepdims={keepdims})",
          doc="the product of the elements; its gradient exact where elements are 0 (no division)")
reduction("var", "np.var({x}, axis={axis}, ddof={ddof}, keepdims={keepdims})", "var({0})",
          "2({0} - mean)/({n} - {ddof})", "ḡ ⊙ 2({0} - mean)/({n} - {ddof})",
          "expand({g}, {x.shape}, {axis}, {keepdims}) * var_slope({x}, {axis}, {ddof})",
          params=(("axis", None), ("ddof", 0), ("keepdims", False)), cost=(3, 4),
          jvp_code="np.sum({dx} * var_slope({x}, {axis}, {ddof}), axis={axis}, keepdims={keepdims})",
          doc="the variance (ddof=0 as numpy, ddof=1 for the sample variance)")
reduction("std", "np.std({x}, axis={axis}, ddof={ddof}, keepdims={keepdims})", "std({0})",
          "({0} - mean)/(({n} - {ddof})·std)", "ḡ ⊙ ({0} - mean)/(({n} - {ddof})·std)",
          "expand(np.where({ans} == 0, 0.0, {g} / {ans}), {x.shape}, {axis}, {keepdims}) * var_slope({x}, {axis}, "
          "{ddof}) * 0.5",
          params=(("axis", None), ("ddof", 0), ("keepdims", False)), cost=(4, 5),
          jvp_code="np.where({ans} == 0, 0.0, np.sum({dx} * var_slope({x}, {axis}, {ddof}), axis={axis}, "
                   "keepdims={keepdims}) * 0.5 / {ans})",
          kink_code="{ans} == 0", convention="std′ taken as 0 where the values are all equal (std = 0), as PyTorch",
          doc="the standard deviation (ddof as var); its derivative where std = 0 taken as 0, as PyTorch's")
reduction("norm", "norm({x}, axis={axis}, keepdims={keepdims})", "‖{0}‖", "{0}/‖{0}‖",
          "ḡ ⊙ {0}/‖{0}‖",
          "norm_direction({x}, {ans}, {axis}, {keepdims}) * expand({g}, {x.shape}, {axis}, {keepdims})",
          cost=(2, 3), jvp_code="np.sum({dx} * norm_direction({x}, {ans}, {axis}, {keepdims}), axis={axis}, "
                                "keepdims={keepdims})",
          kink_code="{ans} == 0", convention="norm′(0) taken as 0",
          doc="the 2-norm of a vector, the Frobenius norm of a matrix, or along `axis`; norm′(0) = 0")


def cumsum_shape(s, axis=None):
    if axis is None:
        return (int(__import__("math").prod(s)),)
    check_axis("cumsum", s, axis)
    return tuple(s)


register(Op("cumsum", "np.cumsum({x}, axis={axis})", cumsum_shape, "cumsum({0})", ("1",),
            ("running sums of ḡ from the end",), params=(("axis", None),), func="cumsum",
            vjp_code=("cumsum_vjp({g}, {axis}, {x.shape})",), jvp_code="np.cumsum({dx}, axis={axis})", linear=True,
            flops=per_operand_element(1), deriv_flops=operand_elements(1),
            doc="running sums along `axis` (of the flattened array without one, as numpy)", batch=batching.along_axis))

# ---- along one axis: the softmax family ---------------------------------------------------------
register(Op(
    "softmax", "softmax({x}, {axis})", along_axis_shape("softmax", keep=True), "softmax({0})", ("s(1 - s)",),
    ("s ⊙ (ḡ - Σ ḡ ⊙ s), s = softmax({0})",), params=(("axis", -1),), func="softmax",
    vjp_code=("{ans} * ({g} - np.sum({g} * {ans}, axis={axis}, keepdims=True))",),
    jvp_code="{ans} * ({dx} - np.sum({dx} * {ans}, axis={axis}, keepdims=True))",
    flops=per_operand_element(5), deriv_flops=operand_elements(4),
    doc="exp(x)/Σexp(x) along `axis` (the last by default), without overflow", batch=batching.along_axis,
))
register(Op(
    "log_softmax", "log_softmax({x}, {axis})", along_axis_shape("log_softmax", keep=True), "log_softmax({0})",
    ("1 - softmax({0})",), ("ḡ - softmax({0}) Σḡ",), params=(("axis", -1),), func="log_softmax",
    vjp_code=("{g} - np.exp({ans}) * np.sum({g}, axis={axis}, keepdims=True)",),
    jvp_code="{dx} - np.sum(np.exp({ans}) * {dx}, axis={axis}, keepdims=True)",
    flops=per_operand_element(5), deriv_flops=operand_elements(4),
    doc="x - logsumexp(x) along `axis`, stable (cross-entropy's building block)", batch=batching.along_axis,
))
register(Op(
    "logsumexp", "logsumexp({x}, {axis}, {keepdims})", along_axis_shape("logsumexp", keep=False),
    "logsumexp({0})", ("softmax({0})",), ("ḡ ⊙ softmax({0})",), params=(("axis", -1), ("keepdims", False)),
    func="logsumexp",
    # softmax from the shifted values, not exp(x - logsumexp): at large |x| the subtraction loses digits
    vjp_code=("expand({g}, {x.shape}, {axis}, {keepdims}) * softmax({x}, {axis})",),
    jvp_code="np.sum({dx} * softmax({x}, {axis}), axis={axis}, keepdims={keepdims})",
    flops=per_operand_element(4), deriv_flops=operand_elements(6),
    doc="log Σ exp(x) along `axis` (the last by default), without overflow", batch=batching.along_axis,
))
