"""Elementwise functions: each given by its forward and its local derivative (jvp and vjp follow)."""

from __future__ import annotations

import numpy as np

from adcli.operations import batching, kernels
from adcli.operations.core import Mismatch, Op, broadcast_shape, local_partial, per_element, register, same_shape, wrap


def unary(name, forward, deriv, text, partial, vjp_text=None, cost=(1, 2), **kw):
    """An elementwise function of one operand, given by its local derivative ∂ = `deriv`."""
    vjp_text = vjp_text or ("ḡ" if partial == "1" else f"ḡ ⊙ {wrap(partial)}")
    flops, deriv_flops = cost
    return register(Op(name, forward_code=forward, shape=same_shape, text=text, partials=(partial,),
                       vjp_text=(vjp_text,), func=kw.pop("func", name), deriv_code=(deriv,),
                       flops=kw.pop("flops", None) or (lambda out, args, params: flops * int(np.prod(out))),
                       deriv_flops=local_partial(deriv_flops), batch=batching.elementwise, **kw))


def binary(name, forward, derivs, text, partials, vjp_text, args=("x", "y"), cost=(1, 4), **kw):
    """An elementwise function of two broadcast operands, given by its local partials."""
    flops, deriv_flops = cost
    return register(Op(name, forward_code=forward, shape=broadcast_shape(name if "func" not in kw else kw["func"]),
                       text=text, partials=partials, vjp_text=vjp_text, args=args, func=kw.pop("func", name),
                       deriv_code=derivs, flops=lambda out, a, p: flops * int(np.prod(out)),
                       deriv_flops=local_partial(deriv_flops), batch=batching.elementwise, **kw))


# ---- the first set: the lecture's and the everyday ones -----------------------------------------
unary("relu", forward="np.maximum({x}, 0.0)", deriv="np.sign({ans})",  # 1, 0, or NaN at NaN
      text="ReLU({0})", partial="ReLU′({0})", vjp_text="ḡ ⊙ [{0} > 0]", kink_code="{x} == 0",
      convention="relu′(0) taken as 0",
      pyfunc=kernels.relu_float, pyderivs=(lambda ans, x: kernels.relu_slope_float(ans),),
      doc="max(x, 0); relu′(0) = 0", curved=False)
unary("exp", forward="np.exp({x})", deriv="{ans}", text="exp({0})", partial="exp({0})", ufunc=np.exp, cost=(1, 1),
      doc="eˣ")
unary("log", forward="np.log({x})", deriv="1.0 / {x}", text="log({0})", partial="1/{0}", vjp_text="ḡ / {0}",
      ufunc=np.log, doc="natural logarithm")
unary("sin", forward="np.sin({x})", deriv="np.cos({x})", text="sin({0})", partial="cos({0})", ufunc=np.sin, doc="sine")
unary("cos", forward="np.cos({x})", deriv="-np.sin({x})", text="cos({0})", partial="-sin({0})",
      vjp_text="-ḡ ⊙ sin({0})", ufunc=np.cos, doc="cosine")
unary("tan", forward="np.tan({x})", deriv="1.0 + {ans} * {ans}", text="tan({0})", partial="1 + tan²({0})", ufunc=np.tan,
      cost=(1, 3), doc="tangent")
unary("tanh", forward="np.tanh({x})", deriv="sech2({x})", text="tanh({0})", partial="1 - tanh²({0})", ufunc=np.tanh,
      doc="hyperbolic tangent; its derivative exact in the tails")
unary("sigmoid", forward="sigmoid({x})", deriv="logistic_slope({x})", text="σ({0})", partial="σ({0})(1 - σ({0}))",
      vjp_text="ḡ ⊙ σ({0})(1 - σ({0}))", doc="the logistic function 1/(1 + e⁻ˣ), without overflow")
unary("sqrt", forward="np.sqrt({x})", deriv="0.5 / {ans}", text="√{0}", partial="1/(2√{0})", vjp_text="ḡ / (2√{0})",
      ufunc=np.sqrt, doc="square root; sqrt′(0) = inf")
unary("abs", forward="np.abs({x})", deriv="np.sign({x})", text="|{0}|", partial="sign({0})", kink_code="{x} == 0",
      convention="abs′(0) taken as 0", ufunc=np.absolute, doc="absolute value; abs′(0) = 0",
      curved=False)

# ---- logarithms and exponentials --------------------------------------------------------------
unary("log1p", forward="np.log1p({x})", deriv="1.0 / (1.0 + {x})", text="log1p({0})", partial="1/(1 + {0})",
      ufunc=np.log1p, doc="log(1 + x), exact for small x")
unary("expm1", forward="np.expm1({x})", deriv="{ans} + 1.0", text="expm1({0})", partial="exp({0})", ufunc=np.expm1,
      doc="eˣ - 1, exact for small x")
unary("log2", forward="np.log2({x})", deriv="1.0 / ({x} * LN2)", text="log₂({0})", partial="1/({0} ln 2)",
      ufunc=np.log2, doc="base-2 logarithm")
unary("log10", forward="np.log10({x})", deriv="1.0 / ({x} * LN10)", text="log₁₀({0})", partial="1/({0} ln 10)",
      ufunc=np.log10, doc="base-10 logarithm")
unary("exp2", forward="np.exp2({x})", deriv="{ans} * LN2", text="2^{0}", partial="2^{0} ln 2", ufunc=np.exp2, doc="2ˣ")
unary("square", forward="np.square({x})", deriv="2.0 * {x}", text="{0}²", partial="2{0}", ufunc=np.square, doc="x²")
unary("cbrt", forward="np.cbrt({x})", deriv="1.0 / (3.0 * {ans} * {ans})", text="∛{0}", partial="1/(3∛{0}²)",
      ufunc=np.cbrt, doc="cube root (real, also for negative x); cbrt′(0) = inf")
unary("reciprocal", forward="1.0 / {x}", deriv="-{ans} * {ans}", text="1/{0}", partial="-1/{0}²", ufunc=np.reciprocal,
      doc="1/x")

# ---- trigonometric and hyperbolic ---------------------------------------------------------------
unary("sinh", forward="np.sinh({x})", deriv="np.cosh({x})", text="sinh({0})", partial="cosh({0})", ufunc=np.sinh,
      doc="hyperbolic sine")
unary("cosh", forward="np.cosh({x})", deriv="np.sinh({x})", text="cosh({0})", partial="sinh({0})", ufunc=np.cosh,
      doc="hyperbolic cosine")
unary("asinh", forward="np.arcsinh({x})", deriv="1.0 / np.hypot({x}, 1.0)", text="asinh({0})", partial="1/√(1 + {0}²)",
      ufunc=np.arcsinh, doc="inverse hyperbolic sine")
unary("acosh", forward="np.arccosh({x})", deriv="1.0 / (np.sqrt({x} - 1.0) * np.sqrt({x} + 1.0))", text="acosh({0})",
      partial="1/√({0}² - 1)", ufunc=np.arccosh, doc="inverse hyperbolic cosine (x ≥ 1); acosh′(1) = inf")
unary("atanh", forward="np.arctanh({x})", deriv="1.0 / ((1.0 - {x}) * (1.0 + {x}))", text="atanh({0})",
      partial="1/(1 - {0}²)", ufunc=np.arctanh, doc="inverse hyperbolic tangent (|x| < 1)")
unary("asin", forward="np.arcsin({x})", deriv="1.0 / np.sqrt((1.0 - {x}) * (1.0 + {x}))", text="asin({0})",
      partial="1/√(1 - {0}²)", ufunc=np.arcsin, doc="inverse sine (|x| ≤ 1); asin′(±1) = inf")
unary("acos", forward="np.arccos({x})", deriv="-1.0 / np.sqrt((1.0 - {x}) * (1.0 + {x}))", text="acos({0})",
      partial="-1/√(1 - {0}²)", ufunc=np.arccos, doc="inverse cosine (|x| ≤ 1); acos′(±1) = -inf")
unary("atan", forward="np.arctan({x})", deriv="1.0 / (1.0 + {x} * {x})", text="atan({0})", partial="1/(1 + {0}²)",
      ufunc=np.arctan, doc="inverse tangent")

# ---- special functions and activations ----------------------------------------------------------
unary("erf", forward="erf({x})", deriv="TWO_OVER_SQRT_PI * np.exp(-{x} * {x})", text="erf({0})",
      partial="(2/√π) exp(-{0}²)", ufunc=kernels._ERF, cost=(10, 3), doc="the error function")
unary("erfc", forward="erfc({x})", deriv="-TWO_OVER_SQRT_PI * np.exp(-{x} * {x})", text="erfc({0})",
      partial="-(2/√π) exp(-{0}²)", ufunc=kernels._ERFC, cost=(10, 3), doc="1 - erf(x), exact in the tail")
unary("softplus", forward="softplus({x})", deriv="sigmoid({x})", text="softplus({0})", partial="σ({0})", cost=(4, 4),
      doc="log(1 + eˣ), stable for large |x|")
unary("gelu", forward="gelu({x})", deriv="gelu_slope({x})", text="GELU({0})", partial="Φ({0}) + {0}φ({0})",
      cost=(12, 14), doc="x·Φ(x) with the exact normal CDF (erf-based, PyTorch's default)")
unary("silu", forward="{x} * sigmoid({x})", deriv="silu_slope({x})", text="SiLU({0})",
      partial="σ({0})(1 + {0}(1 - σ({0})))", cost=(5, 8), doc="x·σ(x) (also called swish)")
register(Op("elu", forward_code="np.where({x} > 0, {x}, {alpha} * np.expm1(np.minimum({x}, 0.0)))", shape=same_shape, text="ELU({0})",
            partials=("ELU′({0})",), vjp_text=("ḡ ⊙ ELU′({0})",), params=(("alpha", 1.0),), func="elu",
            deriv_code=("step({x}, 1.0, {alpha} * np.exp(np.minimum({x}, 0.0)))",), kink_code="({x} == 0) & ({alpha} != 1.0)",
            convention="elu′(0) taken as alpha (the slope on the left)", deriv_flops=local_partial(3),
            doc="x for x > 0, alpha·(eˣ - 1) otherwise; elu′(0) = alpha", batch=batching.elementwise))
register(Op("leaky_relu", forward_code="np.where({x} > 0, {x}, {slope} * {x})", shape=same_shape, text="LeakyReLU({0})",
            partials=("LeakyReLU′({0})",), vjp_text=("ḡ ⊙ LeakyReLU′({0})",), params=(("slope", 0.01),),
            func="leaky_relu", deriv_code=("step({x}, 1.0, {slope})",), kink_code="({x} == 0) & ({slope} != 1.0)",
            convention="leaky_relu′(0) taken as the slope", deriv_flops=local_partial(2),
            doc="x for x > 0, slope·x otherwise (slope 0.01 unless given); leaky_relu′(0) = slope",
            batch=batching.elementwise, curved=False))

# ---- special functions: scipy.special's, computed with numpy alone (kernels.py) --------------------
unary("log_sigmoid", forward="-softplus(-{x})", deriv="sigmoid(-{x})", text="log σ({0})", partial="σ(-{0})",
      cost=(4, 4), aliases=("log_expit",),
      doc="log σ(x) = -softplus(-x), stable for large |x| (also log_expit, scipy's name); its derivative σ(-x)")
unary("gammaln", forward="gammaln({x})", deriv="digamma({x})", text="log|Γ({0})|", partial="ψ({0})", cost=(60, 60),
      aliases=("lgamma",), doc="log |Γ(x)| (scipy's gammaln, also lgamma), inf at the poles 0, -1, -2, …; its "
      "derivative digamma ψ(x)")


def digamma_shape(s, n=0):
    """The shape kept; n, the order of the derivative, checked."""
    if not 0 <= n <= MAX_POLYGAMMA:
        raise Mismatch(f"digamma() takes n from 0 to {MAX_POLYGAMMA} (the order of its derivative), not n = {n}")
    return tuple(s)


MAX_POLYGAMMA = 170  # ψ⁽ⁿ⁾ near 1 is about n!, beyond float64 from n = 171 on


register(Op("digamma", forward_code="digamma({x}, {n})", shape=digamma_shape, text="ψ({0})",
            partials=("ψ⁽ⁿ⁺¹⁾({0})",), vjp_text=("ḡ ⊙ ψ⁽ⁿ⁺¹⁾({0})",), params=(("n", 0),), func="digamma",
            aliases=("psi",), deriv_code=("digamma({x}, {n} + 1)",), flops=per_element(60), deriv_flops=local_partial(60),
            show=lambda labels, params: f"digamma({labels[0]}" + (f", n={params['n']}" if params.get("n") else "") + ")",
            doc="digamma ψ(x) = d/dx log Γ(x) (also psi); digamma(x, n=k) is its k-th derivative, scipy's "
                "polygamma(k, x); ±inf at ±0 (the limit from that side), and at the poles -1, -2, … inf where ψ⁽ⁿ⁾ "
                "keeps one sign (odd n), NaN where it does not",
            signature="digamma(x, n=0)", batch=batching.elementwise))
binary("xlogy", forward="xlogy({x}, {y})", derivs=("np.log({y})", "chain({x}, reciprocal({y}))"), text="{0}·log {1}",
       partials=("log {1}", "{0}/{1}"), vjp_text=("ḡ ⊙ log {1}", "ḡ ⊙ {0}/{1}"), cost=(2, 4),
       kink_code="({x} == 0) & ({y} <= 0)",
       convention="xlogy at x = 0: ∂/∂y taken as 0 (its value is 0 for every y, as scipy's), ∂/∂x as log y",
       doc="x·log y, and 0 where x = 0 whatever y is (scipy's xlogy: 0·log 0 = 0); at x = 0, ∂/∂y = 0 and "
           "∂/∂x = log y")
binary("xlog1py", forward="xlog1py({x}, {y})", derivs=("np.log1p({y})", "chain({x}, reciprocal(1.0 + {y}))"),
       text="{0}·log1p({1})", partials=("log(1 + {1})", "{0}/(1 + {1})"),
       vjp_text=("ḡ ⊙ log(1 + {1})", "ḡ ⊙ {0}/(1 + {1})"), cost=(2, 4), kink_code="({x} == 0) & ({y} <= -1)",
       convention="xlog1py at x = 0: ∂/∂y taken as 0 (its value is 0 for every y, as scipy's), ∂/∂x as log(1 + y)",
       doc="x·log(1 + y), and 0 where x = 0 whatever y is (scipy's xlog1py); at x = 0, ∂/∂y = 0 and "
           "∂/∂x = log(1 + y)")
unary("sinc", forward="np.sinc({x})", deriv="sinc_slope({x})", text="sinc({0})", partial="(cos π{0} - sinc {0})/{0}",
      array_functions=(np.sinc,), cost=(4, 8),
      doc="numpy's normalized sinc sin(πx)/(πx), 1 at 0; its derivatives at 0 from its Taylor series")

# ---- piecewise constant: derivative 0 -------------------------------------------------------------
for _name, _np, _kink, _where in (("sign", "sign", "{x} == 0", "at 0"),
                                  ("floor", "floor", "{x} == np.floor({x})", "at a whole number"),
                                  ("ceil", "ceil", "{x} == np.floor({x})", "at a whole number"),
                                  ("round", "round", "np.abs({x} - np.floor({x})) == 0.5", "halfway between")):
    unary(_name, forward=f"np.{_np}({{x}})", deriv="zeros_like({x})", text=f"{_name}({{0}})", partial="0", vjp_text="0",
          kink_code=_kink, convention=f"{_name} jumps {_where}: its derivative taken as 0",
          ufunc=getattr(np, "rint" if _name == "round" else _np), cost=(1, 0),
          array_functions=(np.round,) if _name == "round" else (),
          doc=f"{_name} (derivative 0: it is constant between its jumps)"
          + (", halves to even as numpy" if _name == "round" else ""))

# ---- elementwise functions of two or three operands -----------------------------------------------
binary("maximum", forward="np.maximum({x}, {y})", derivs=("tie_weight({x}, {y})", "tie_weight({y}, {x})"),
       text="max({0}, {1})", partials=("[{0} > {1}] + ½[{0} = {1}]", "[{1} > {0}] + ½[{0} = {1}]"),
       vjp_text=("ḡ ⊙ ([{0} > {1}] + ½[{0} = {1}])", "ḡ ⊙ ([{1} > {0}] + ½[{0} = {1}])"),
       func="max", aliases=("maximum",), kink_code="{x} == {y}", convention="a tie in max splits the gradient evenly",
       ufunc=np.maximum, doc="elementwise maximum (the lecture's max(0, W@x + b); also maximum(a, b), numpy's name); "
       "a tie splits the gradient evenly", signature="max(a, b)", curved=False)
binary("minimum", forward="np.minimum({x}, {y})", derivs=("tie_weight({y}, {x})", "tie_weight({x}, {y})"),
       text="min({0}, {1})", partials=("[{0} < {1}] + ½[{0} = {1}]", "[{1} < {0}] + ½[{0} = {1}]"),
       vjp_text=("ḡ ⊙ ([{0} < {1}] + ½[{0} = {1}])", "ḡ ⊙ ([{1} < {0}] + ½[{0} = {1}])"),
       func="min", aliases=("minimum",), kink_code="{x} == {y}", convention="a tie in min splits the gradient evenly",
       ufunc=np.minimum, doc="elementwise minimum (also minimum(a, b), numpy's name); a tie splits the gradient evenly",
       signature="min(a, b)", curved=False)
binary("atan2", forward="np.arctan2({y}, {x})", derivs=("atan2_slope({x}, {x}, {y})", "atan2_slope(-{y}, {x}, {y})"),
       text="atan2({0}, {1})", partials=("{1}/({0}² + {1}²)", "-{0}/({0}² + {1}²)"),
       vjp_text=("ḡ ⊙ {1}/({0}² + {1}²)", "-ḡ ⊙ {0}/({0}² + {1}²)"), args=("y", "x"), ufunc=np.arctan2,
       kink_code="({y} == 0) & ({x} <= 0)",
       convention="atan2 at the origin (∂ taken as 0) or on its cut y = 0 > x (a jump)",
       doc="the angle of the point (x, y), as numpy's arctan2(y, x); its derivative at the origin taken as 0",
       signature="atan2(y, x)")
binary("hypot", forward="np.hypot({x}, {y})", derivs=("{x} / {ans}", "{y} / {ans}"), text="hypot({0}, {1})",
       partials=("{0}/hypot({0}, {1})", "{1}/hypot({0}, {1})"),
       vjp_text=("ḡ ⊙ {0}/hypot({0}, {1})", "ḡ ⊙ {1}/hypot({0}, {1})"), ufunc=np.hypot,
       doc="√(x² + y²) without overflow")
binary("logaddexp", forward="np.logaddexp({x}, {y})",
       derivs=("logaddexp_weight({x}, {y})", "logaddexp_weight({y}, {x})"), text="logaddexp({0}, {1})",
       partials=("e^({0} - logaddexp({0}, {1}))", "e^({1} - logaddexp({0}, {1}))"),
       vjp_text=("ḡ ⊙ e^({0} - logaddexp({0}, {1}))", "ḡ ⊙ e^({1} - logaddexp({0}, {1}))"), ufunc=np.logaddexp,
       doc="log(eˣ + eʸ), stable")
register(Op("clip", forward_code="np.clip({x}, {lo}, {hi})", shape=broadcast_shape("clip"), text="clip({0}, {1}, {2})",
            partials=("[{1} ≤ {0} ≤ {2}]", "[{0} < {1} ≤ {2}]", "[max({0}, {1}) > {2}]"),
            vjp_text=("ḡ ⊙ [{1} ≤ {0} ≤ {2}]", "ḡ ⊙ [{0} < {1} ≤ {2}]", "ḡ ⊙ [max({0}, {1}) > {2}]"),
            args=("x", "lo", "hi"), array_functions=(np.clip,),
            func="clip",
            # numpy's clip is min(max(x, lo), hi): with lo > hi the result is hi, and so is the gradient's
            deriv_code=("clip_inside({x}, {lo}, {hi})", "np.where(({x} < {lo}) & ({lo} <= {hi}), 1.0, 0.0)",
                        "np.where(np.maximum({x}, {lo}) > {hi}, 1.0, 0.0)"),
            kink_code="({x} == {lo}) & ({lo} <= {hi}) | (np.maximum({x}, {lo}) == {hi})",
            convention="clip at a bound: the gradient goes to x",
            ufunc=None, deriv_flops=local_partial(3),
            doc="x limited to [lo, hi]; at a bound the gradient goes to x, as PyTorch's clamp",
            batch=batching.elementwise, curved=False))
