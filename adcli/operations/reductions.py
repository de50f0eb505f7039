"""Reductions and operations along an axis: sum, mean, max, min, prod, var, std, norm, cumsum,
softmax, log_softmax, logsumexp. Every reduction takes `axis` (an int, a tuple, or None for all)
and `keepdims`."""

from __future__ import annotations

import math

import numpy as np

from adcli.operations import batching, patterns
from adcli.operations.core import (
    Mismatch,
    Op,
    along_axis_shape,
    check_axis,
    no_flops,
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
                       batch=batching.reduction, pattern=patterns.reduced, **kw))


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
              signature=f"{_word}(x, axis=None, keepdims=False)", curved=False)
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


def running_shape(name):
    """Running operations along `axis`: the shape kept, or without an axis the flattened array's."""
    def rule(s, axis=None):
        if axis is None:
            return (math.prod(s),)
        check_axis(name, s, axis)
        return tuple(s)
    return rule


register(Op("cumsum", forward_code="np.cumsum({x}, axis={axis})", shape=running_shape("cumsum"), text="cumsum({0})",
            partials=("1",), vjp_text=("running sums of ḡ from the end",), params=(("axis", None),), func="cumsum",
            vjp_code=("cumsum_vjp({g}, {axis}, {x.shape})",), jvp_code="np.cumsum({dx}, axis={axis})", linear=True,
            flops=per_operand_element(1), deriv_flops=operand_elements(1),
            doc="running sums along `axis` (of the flattened array without one, as numpy)", batch=batching.along_axis,
            pattern=patterns.along(prefix=True)))

register(Op("cumprod", forward_code="np.cumprod({x}, axis={axis})", shape=running_shape("cumprod"),
            text="cumprod({0})", partials=("the product of the others up to k",),
            vjp_text=("ḡ summed from the end, each term times the other elements",), params=(("axis", None),),
            func="cumprod", vjp_code=("cumprod_vjp({g}, {x}, {axis})",), jvp_code="cumprod_jvp({dx}, {x}, {ans}, {axis})",
            array_functions=(np.cumprod,), flops=per_operand_element(1), deriv_flops=operand_elements(4),
            doc="running products along `axis` (of the flattened array without one, as numpy); its derivative "
                "exact where elements are 0 (no division)", batch=batching.along_axis,
            pattern=patterns.along(prefix=True)))
register(Op("logcumsumexp", forward_code="logcumsumexp({x}, {axis})", shape=running_shape("logcumsumexp"),
            text="logcumsumexp({0})", partials=("e^({0}ⱼ - yₖ) for j ≤ k",),
            vjp_text=("ḡ carried back through each logaddexp",), params=(("axis", None),), func="logcumsumexp",
            vjp_code=("logcumsumexp_vjp({g}, {x}, {ans}, {axis})",),
            jvp_code="logcumsumexp_jvp({dx}, {x}, {ans}, {axis})", flops=per_operand_element(4),
            deriv_flops=operand_elements(8),
            doc="running log Σ exp along `axis` (of the flattened array without one, as cumsum), without overflow "
                "(PyTorch's logcumsumexp)", batch=batching.along_axis,
            pattern=patterns.along(prefix=True)))


def diff_shape(s, n=1, axis=-1):
    """The axis shortened by n (to no elements, as numpy, when n exceeds its length)."""
    if len(s) == 0:
        raise Mismatch("diff() needs an array with at least one axis, not a scalar")
    if n < 0:
        raise Mismatch(f"diff() takes n ≥ 0 (the number of times to take differences), not n = {n}")
    k = check_axis("diff", s, axis)
    return tuple(max(d - n, 0) if i == k else d for i, d in enumerate(s))


register(Op("diff", forward_code="differences({x}, {n}, {axis})", shape=diff_shape, text="diff({0})",
            partials=("±1",), vjp_text=("ḡ differenced back: each pair's ḡ to its later element, minus to its earlier",),
            params=(("n", 1), ("axis", -1)), func="diff",
            vjp_code=("differences_vjp({g}, {x.shape}, {n}, {axis})",), jvp_code="differences({dx}, {n}, {axis})",
            linear=True, array_functions=(np.diff,), flops=per_operand_element(1), deriv_flops=operand_elements(1),
            doc="differences of neighbours along `axis` (the last by default), n times, as numpy's diff",
            batch=batching.along_axis, pattern=patterns.differences))

# ---- sorting, and where the extremes are ---------------------------------------------------------


def sort_shape(s, axis=-1):
    """The shape kept (without an axis, numpy sorts the flattened array)."""
    if axis is None:
        return (math.prod(s),)
    if len(s) == 0:
        raise Mismatch("sort() along an axis needs an array with at least one axis, not a scalar")
    check_axis("sort", s, axis)
    return tuple(s)


def sort_length(shape, params) -> int:
    """The length of the sorted axis (each element's derivative compares it with every place)."""
    axis = params.get("axis", -1)
    return math.prod(shape) if axis is None else (shape[axis] if shape else 1)


register(Op("sort", forward_code="np.sort({x}, axis={axis})", shape=sort_shape, text="sort({0})",
            partials=("1 at the element's place",), vjp_text=("ḡ of each element's place in the order",),
            params=(("axis", -1),), func="sort", vjp_code=("sort_vjp({g}, {x}, {ans}, {axis})",),
            jvp_code="sort_jvp({dx}, {x}, {ans}, {axis})", array_functions=(np.sort,),
            kink_code="sort_ties({ans}, {axis})",
            convention="a tie in sort: the tied elements share the mean of their places' gradients (as max splits "
                       "a tie)", flops=lambda out, args, params: 2 * math.prod(args[0]),
            deriv_flops=lambda k, out, args, params: 3 * math.prod(args[0]) * sort_length(args[0], params),
            doc="the elements in ascending order along `axis` (the last by default; NaN last, as numpy); the "
                "gradient follows each element to its place, tied elements sharing evenly", batch=batching.along_axis,
            pattern=patterns.along(prefix=False), curved=False))


def index_shape(name):
    """argmax and argmin: one axis (or none: the flattened array's index), never an empty one."""
    reduced = reduce_shape(name, empty_ok=False)

    def rule(s, axis=None, keepdims=False):
        if isinstance(axis, tuple):
            raise Mismatch(f"{name}() takes one axis, not {len(axis)}: an index counts along one axis")
        return reduced(s, axis=axis, keepdims=keepdims)
    return rule


def index_batched(b, node, xs):
    """argmax and argmin on a batch: the axis shifted past the batch axis; without one, each point's
    flattened array, then (keepdims) a 1 for each of the point's axes."""
    (x,) = xs
    params = dict(node.params or {})
    if params.get("axis") is not None:
        return b.op(node.op, [x.node], {**params, "axis": batching.shift(params["axis"], len(x.shape))})
    flat = b.op("reshape", [x.node], {"shape": (b.size, -1)})
    found = b.op(node.op, [flat], {"axis": 1, "keepdims": False})
    if not params.get("keepdims"):
        return found
    return b.op("reshape", [found], {"shape": (b.size,) + (1,) * len(x.shape)})


for _name, _which in (("argmax", "largest"), ("argmin", "smallest")):
    register(Op(_name, forward_code=f"np.{_name}({{x}}, axis={{axis}}, keepdims={{keepdims}})",
                shape=index_shape(_name), text=f"{_name}({{0}})", partials=("0",), vjp_text=("0",), params=REDUCE,
                func=_name, vjp_code=("np.zeros({x.shape})",), jvp_code="None", dtype="int",
                flops=per_operand_element(1), deriv_flops=no_flops,
                doc=f"the index of the {_which} element (the first of a tie or a NaN, as numpy), of the flattened "
                    "array or along `axis`: a whole number, with no derivative", batch=index_batched))

# ---- along one axis: the softmax family ---------------------------------------------------------
register(Op("softmax", forward_code="softmax({x}, {axis})", shape=along_axis_shape("softmax", keep=True),
            text="softmax({0})", partials=("s(1 - s)",), vjp_text=("s ⊙ (ḡ - Σ ḡ ⊙ s), s = softmax({0})",),
            params=(("axis", -1),), func="softmax",
            vjp_code=("{ans} * ({g} - np.sum({g} * {ans}, axis={axis}, keepdims=True))",),
            jvp_code="{ans} * ({dx} - np.sum({dx} * {ans}, axis={axis}, keepdims=True))", flops=per_operand_element(5),
            deriv_flops=operand_elements(4), doc="exp(x)/Σexp(x) along `axis` (the last by default), without overflow",
            batch=batching.along_axis, pattern=patterns.along(prefix=False)))
register(Op("log_softmax", forward_code="log_softmax({x}, {axis})", shape=along_axis_shape("log_softmax", keep=True),
            text="log_softmax({0})", partials=("1 - softmax({0})",), vjp_text=("ḡ - softmax({0}) Σḡ",),
            params=(("axis", -1),), func="log_softmax",
            vjp_code=("{g} - np.exp({ans}) * np.sum({g}, axis={axis}, keepdims=True)",),
            jvp_code="{dx} - np.sum(np.exp({ans}) * {dx}, axis={axis}, keepdims=True)", flops=per_operand_element(5),
            deriv_flops=operand_elements(4),
            doc="x - logsumexp(x) along `axis`, stable (cross-entropy's building block)", batch=batching.along_axis,
            pattern=patterns.along(prefix=False)))
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
    pattern=patterns.reduced,
))
