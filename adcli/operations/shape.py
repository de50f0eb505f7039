"""Structure: transposes, stacking and joining, reshaping, diagonals and triangles, and the products
outer, dot and einsum. All are linear (or bilinear) in their operands."""

from __future__ import annotations

import math
import re

import numpy as np

from adcli.operations import batching, kernels, patterns
from adcli.operations.core import (
    Mismatch,
    Op,
    broadcast_shapes,
    check_axis,
    fmt_shape,
    no_flops,
    operand_elements,
    per_element,
    register,
    within_rank,
)

# ---- transpose and stacking -----------------------------------------------------------------------


def transpose_shape(s, axes=None):
    if axes is None:
        return tuple(reversed(s))
    if sorted(a % len(s) if len(s) else a for a in axes) != list(range(len(s))) or \
            any(not -len(s) <= a < len(s) for a in axes):
        raise Mismatch(f"transpose() axes {list(axes)} are not a permutation of the {len(s)} axes of shape "
                       f"{fmt_shape(s)}")
    return tuple(s[a] for a in axes)


register(Op("transpose", forward_code="np.transpose({x}, {axes})", shape=transpose_shape, text="{0}ᵀ", partials=("1",),
            vjp_text=("ḡᵀ",), params=(("axes", None),), func="transpose", vjp_code=("transpose_back({g}, {axes})",),
            jvp_code="np.transpose({dx}, {axes})", linear=True, flops=no_flops, deriv_flops=no_flops,
            doc="reverses the axes (as x.T), or permutes them as `axes` says", batch=batching.transpose, pattern=patterns.moves))


def stack_shape(*shapes, axis=0):
    for s in shapes[1:]:
        if tuple(s) != tuple(shapes[0]):
            raise Mismatch(f"the items of [...] must have one shape, but found {fmt_shape(shapes[0])} and "
                           f"{fmt_shape(s)}")
    out = tuple(shapes[0]) if shapes else ()
    k = check_axis("stack", out + (len(shapes),), axis)
    return out[:k] + (len(shapes),) + out[k:]


register(Op("stack", forward_code="np.stack({xs}, axis={axis})", shape=stack_shape, text="[…]", partials=("1",),
            vjp_text=("ḡ[k]",), args=("*xs",), params=(("axis", 0),), func="stack",
            vjp_code=("stack_part({g}, {k}, {axis})",), jvp_code="np.stack({dxs}, axis={axis})", linear=True,
            flops=no_flops, deriv_flops=no_flops,
            doc="arrays of one shape stacked along a new axis; [a, b] in a file stacks along axis 0",
            signature="stack([a, b, ...], axis=0)", batch=batching.joined, pattern=patterns.moves))


def concat_shape(*shapes, axis=0):
    if not shapes:
        raise Mismatch("concat() needs at least one array")
    if len(shapes[0]) == 0:
        raise Mismatch("concat() joins arrays along an axis, but the first item is a scalar")
    k = check_axis("concat", shapes[0], axis)
    for s in shapes[1:]:
        if len(s) != len(shapes[0]) or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != k):
            raise Mismatch(f"concat() along axis {axis} needs the other dimensions to agree, but found "
                           f"{fmt_shape(shapes[0])} and {fmt_shape(s)}")
    return tuple(shapes[0][:k]) + (sum(s[k] for s in shapes),) + tuple(shapes[0][k + 1:])


register(Op("concat", forward_code="np.concatenate({xs}, axis={axis})", shape=concat_shape, text="concat(…)",
            partials=("1",), vjp_text=("ḡ's block k",), args=("*xs",), params=(("axis", 0),), func="concat",
            aliases=("concatenate",), vjp_code=("concat_part({g}, {k}, [np.shape(x)[{axis}] for x in {xs}], {axis})",),
            jvp_code="np.concatenate({dxs}, axis={axis})", linear=True, flops=no_flops, deriv_flops=no_flops,
            doc="arrays joined along an existing axis (also called concatenate)",
            signature="concat([a, b, ...], axis=0)", batch=batching.joined, pattern=patterns.moves))

# ---- reshaping ------------------------------------------------------------------------------------


def reshape_shape(s, shape=()):
    shape = tuple(shape)
    total = math.prod(s)
    if shape.count(-1) > 1:
        raise Mismatch("reshape() allows one -1 in the new shape")
    if any(n < -1 for n in shape):
        raise Mismatch(f"reshape() cannot use the size {min(shape)} in a shape")
    if -1 in shape:
        rest = math.prod(n for n in shape if n != -1)
        if rest == 0 or total % rest:
            raise Mismatch(f"reshape() cannot fit {total} elements of {fmt_shape(s)} into {fmt_shape(shape)}")
        shape = tuple(total // rest if n == -1 else n for n in shape)
    if math.prod(shape) != total:
        raise Mismatch(f"reshape() cannot turn shape {fmt_shape(s)} ({total} elements) into {fmt_shape(shape)} "
                       f"({math.prod(shape)} elements)")
    return shape


register(Op("reshape", forward_code="np.reshape({x}, {shape})", shape=reshape_shape, text="reshape({0})",
            partials=("1",), vjp_text=("ḡ in the shape of {0}",), params=(("shape", ()),), func="reshape",
            vjp_code=("np.reshape({g}, {x.shape})",), jvp_code="np.reshape({dx}, {shape})", linear=True, flops=no_flops,
            deriv_flops=no_flops, doc="the same elements in a new shape (C order; one -1 stands for the rest)",
            signature="reshape(x, [d1, d2, ...])", batch=batching.reshape, pattern=patterns.moves))


def expand_dims_shape(s, axis=0):
    k = check_axis("expand_dims", tuple(s) + (1,), axis)
    return tuple(s[:k]) + (1,) + tuple(s[k:])


register(Op("expand_dims", forward_code="np.expand_dims({x}, {axis})", shape=expand_dims_shape, text="expand_dims({0})",
            partials=("1",), vjp_text=("ḡ without the new axis",), params=(("axis", 0),), func="expand_dims",
            vjp_code=("np.reshape({g}, {x.shape})",), jvp_code="np.expand_dims({dx}, {axis})", linear=True,
            flops=no_flops, deriv_flops=no_flops, doc="a new axis of length 1 at `axis`", batch=batching.expand_dims, pattern=patterns.moves))


def squeeze_shape(s, axis=None):
    if axis is None:
        return tuple(n for n in s if n != 1)
    k = check_axis("squeeze", s, axis)
    if s[k] != 1:
        raise Mismatch(f"squeeze() can only remove an axis of length 1, but axis {axis} of {fmt_shape(s)} has "
                       f"length {s[k]}")
    return tuple(s[:k]) + tuple(s[k + 1:])


register(Op("squeeze", forward_code="np.squeeze({x}, {axis})", shape=squeeze_shape, text="squeeze({0})",
            partials=("1",), vjp_text=("ḡ in the shape of {0}",), params=(("axis", None),), func="squeeze",
            vjp_code=("np.reshape({g}, {x.shape})",), jvp_code="np.squeeze({dx}, {axis})", linear=True, flops=no_flops,
            deriv_flops=no_flops, doc="removes axes of length 1 (all of them, or `axis`)", batch=batching.squeeze, pattern=patterns.moves))


def flip_shape(s, axis=None):
    if axis is not None:
        for a in (axis,) if isinstance(axis, int) else axis:
            check_axis("flip", s, a)
    return tuple(s)


register(Op("flip", forward_code="np.flip({x}, {axis})", shape=flip_shape, text="flip({0})", partials=("1",),
            vjp_text=("ḡ flipped back",), params=(("axis", None),), func="flip", vjp_code=("np.flip({g}, {axis})",),
            jvp_code="np.flip({dx}, {axis})", linear=True, flops=no_flops, deriv_flops=no_flops,
            doc="the elements in reverse order along `axis` (all axes)", batch=batching.flip, pattern=patterns.moves))


# ---- rolling ---------------------------------------------------------------------------------------

def roll_shape(s, shift=0, axis=None):
    """The shape kept; one axis, checked (none: the flattened array)."""
    if isinstance(axis, tuple):  # numpy rolls each by the same shift; PyTorch refuses: one at a time is clearer
        raise Mismatch(f"roll() takes one axis, not {len(axis)}: roll along each in turn")
    if axis is not None:
        check_axis("roll", s, axis)
    return tuple(s)


def roll_batched(b, node, xs):
    """roll on a batch: the axes shifted past the batch axis; without an axis, each point's elements
    roll as one flat row (numpy's roll of the flattened array), then take the point's shape back."""
    (x,) = xs
    params = dict(node.params or {})
    if params.get("axis") is None:
        flat = b.op("reshape", [x.node], {"shape": (b.size, -1)})
        rolled = b.op("roll", [flat], {**params, "axis": 1})
        return b.op("reshape", [rolled], {"shape": (b.size,) + tuple(x.shape)})
    return b.op("roll", [x.node], {**params, "axis": batching.shift(params["axis"], len(x.shape))})


register(Op("roll", forward_code="np.roll({x}, {shift}, {axis})", shape=roll_shape, text="roll({0})", partials=("1",),
            vjp_text=("ḡ rolled back",), params=(("shift", 0), ("axis", None)), func="roll",
            vjp_code=("np.roll({g}, -{shift}, {axis})",),
            jvp_code="np.roll({dx}, {shift}, {axis})", linear=True, array_functions=(np.roll,), flops=no_flops,
            deriv_flops=no_flops, doc="the elements moved `shift` places along `axis` (of the flattened array "
            "without one), those pushed off one end coming back at the other, as numpy's roll",
            show=lambda labels, params: f"roll({labels[0]}, {params.get('shift', 0)}"
            + ("" if params.get("axis") is None else f", axis={params['axis']}") + ")",
            signature="roll(x, shift, axis=None)", batch=roll_batched, pattern=patterns.moves))


def broadcast_to_shape(s, shape=()):
    shape = tuple(shape)
    try:
        if tuple(broadcast_shapes(s, shape)) == shape:
            return shape
    except Mismatch:
        raise
    except ValueError:
        pass
    raise Mismatch(f"broadcast_to() cannot broadcast shape {fmt_shape(s)} to {fmt_shape(shape)}")


register(Op("broadcast_to", forward_code="np.broadcast_to({x}, {shape})", shape=broadcast_to_shape,
            text="broadcast_to({0})", partials=("1",), vjp_text=("ḡ summed back to the shape of {0}",),
            params=(("shape", ()),), func="broadcast_to", vjp_code=("unbroadcast({g}, {x.shape})",),
            jvp_code="np.broadcast_to({dx}, {shape})", linear=True, flops=no_flops, deriv_flops=operand_elements(1),
            doc="x repeated to a larger shape, as numpy broadcasts", signature="broadcast_to(x, [d1, d2, ...])",
            batch=batching.broadcast_to, pattern=patterns.moves))

# ---- diagonals, triangles, traces -----------------------------------------------------------------


def diag_shape(s, k=0):
    if len(s) == 1:
        n = s[0] + abs(k)
        return (n, n)
    if len(s) == 2:
        rows, cols = s
        n = max(0, min(rows, cols - k) if k >= 0 else min(rows + k, cols))
        return (n,)
    raise Mismatch(f"diag() takes a vector (to make a diagonal matrix) or a matrix (to take its diagonal), "
                   f"not shape {fmt_shape(s)}")


register(Op("diag", forward_code="np.diag({x}, {k})", shape=diag_shape, text="diag({0})", partials=("1",),
            vjp_text=("ḡ's diagonal",), params=(("k", 0),), func="diag", vjp_code=("diag_vjp({g}, {x.shape}, {k})",),
            jvp_code="np.diag({dx}, {k})", linear=True, flops=no_flops, deriv_flops=no_flops,
            doc="a vector's diagonal matrix, or a matrix's diagonal (as numpy; k picks an off-diagonal)",
            batch=batching.diag, pattern=patterns.moves))


def square_shape(name, keep=True):
    def rule(s, k=0):
        if len(s) < 2:
            raise Mismatch(f"{name}() needs a matrix, not shape {fmt_shape(s)}")
        return tuple(s) if keep else ()
    return rule


def trace_shape(s):
    if len(s) != 2:
        raise Mismatch(f"trace() needs a matrix, not shape {fmt_shape(s)}")
    return ()


register(Op("trace", forward_code="np.trace({x})", shape=trace_shape, text="tr({0})", partials=("I",),
            vjp_text=("ḡ I",), func="trace", vjp_code=("trace_vjp({g}, {x.shape})",), jvp_code="np.trace({dx})",
            linear=True, flops=lambda out, args, params: min(args[0]), deriv_flops=operand_elements(1),
            doc="the sum of a matrix's diagonal", batch=batching.trace, pattern=patterns.trace))
for _name, _which in (("tril", "lower"), ("triu", "upper")):
    register(Op(_name, forward_code=f"np.{_name}({{x}}, {{k}})", shape=square_shape(_name), text=f"{_name}({{0}})",
                partials=("1",), vjp_text=(f"{_name}(ḡ)",), params=(("k", 0),), func=_name,
                vjp_code=(f"np.{_name}({{g}}, {{k}})",), jvp_code=f"np.{_name}({{dx}}, {{k}})", linear=True,
                flops=no_flops, deriv_flops=operand_elements(1),
                doc=f"the {_which} triangle of a matrix (k shifts the diagonal), zeros elsewhere",
                batch=batching.stacked, pattern=patterns.moves))

# ---- products -------------------------------------------------------------------------------------


def outer_shape(a, b):
    return (math.prod(a), math.prod(b))


register(Op("outer", forward_code="outer({x}, {y})", shape=outer_shape, text="outer({0}, {1})", partials=("{1}", "{0}"),
            vjp_text=("ḡ {1}", "ḡᵀ {0}"), args=("x", "y"), func="outer", array_functions=(np.outer,),
            vjp_code=("outer_vjp_left({g}, {y}, {x.shape})", "outer_vjp_right({g}, {x}, {y.shape})"),
            jvp_code="outer({dx}, {y}) + outer({x}, {dy})", bilinear=True, flops=per_element(1),
            deriv_flops=lambda k, out, args, params: 2 * math.prod(out),
            doc="the outer product of two vectors (flattened first, as numpy)", batch=batching.outer, pattern=patterns.products))


def kron_shape(a, b):
    """numpy's kron: the lower rank padded with leading axes of length 1, each axis the product."""
    within_rank(a, b)
    return kernels.kron_shapes(a, b)[2]


def kron_batched(b, node, xs):
    """kron at every point: each point's operands spread over interleaved axes, multiplied, merged."""
    x, y = xs
    left, right, out = kernels.kron_shapes(x.shape, y.shape)
    spread = [b.op("reshape", [o.node], {"shape": ((b.size,) if o.batched else ()) + shape})
              for o, shape in ((x, left), (y, right))]
    return b.op("reshape", [b.op("mul", spread, None)], {"shape": (b.size,) + out})


register(Op("kron", forward_code="kron({x}, {y})", shape=kron_shape, text="{0} ⊗ {1}", partials=("{1}", "{0}"),
            vjp_text=("ḡ's blocks ⊙ {1}, summed", "ḡ's blocks ⊙ {0}, summed"), args=("x", "y"), func="kron",
            array_functions=(np.kron,),
            vjp_code=("kron_vjp_left({g}, {y}, {x.shape})", "kron_vjp_right({g}, {x}, {y.shape})"),
            jvp_code="kron({dx}, {y}) + kron({x}, {dy})", bilinear=True, flops=per_element(1),
            deriv_flops=lambda k, out, args, params: 2 * math.prod(out),
            doc="the Kronecker product, as numpy's kron: a block aᵢⱼ·b for each element of a (vectors, matrices; "
                "a lower rank taken with leading axes of length 1)", batch=kron_batched, pattern=patterns.products))


def dot_shape(a, b):
    if len(a) > 2 or len(b) > 2:
        raise Mismatch(f"dot() takes scalars, vectors and matrices, not shapes {fmt_shape(a)} and {fmt_shape(b)}; "
                       "use @ or einsum for stacks of matrices")
    from adcli.operations.arithmetic import matmul_shape
    try:
        return matmul_shape(a, b)
    except Mismatch:
        raise Mismatch(f"dot() cannot multiply shapes {fmt_shape(a)} and {fmt_shape(b)}") from None


register(Op("dot", forward_code="dot({x}, {y})", shape=dot_shape, text="{0}·{1}", partials=("{1}", "{0}"),
            vjp_text=("ḡ {1}ᵀ", "{0}ᵀ ḡ"), args=("x", "y"), func="dot", array_functions=(np.dot,),
            vjp_code=("dot_vjp_left({g}, {y}, {x.shape})", "dot_vjp_right({g}, {x}, {y.shape})"),
            jvp_code="dot({dx}, {y}) + dot({x}, {dy})", bilinear=True,
            flops=lambda out, args, params: 2 * (args[0][-1] if args[0] and args[1] else 1) * max(math.prod(out), 1),
            deriv_flops=lambda k, out, args, params: 2 * (args[0][-1] if args[0] and args[1] else 1)
            * max(math.prod(out), 1),
            doc="numpy's dot: the inner product of vectors, a matrix product, or a scalar multiple",
            batch=batching.matmul, pattern=patterns.dot))

EINSUM_SPEC = re.compile(r"^([a-zA-Z]*(?:,[a-zA-Z]*)*)->([a-zA-Z]*)$")


def einsum_shape(*shapes, spec=""):
    match = EINSUM_SPEC.match(spec.replace(" ", ""))
    if not match:
        raise Mismatch(f"einsum() needs a spec such as \"ij,jk->ik\" (letters, commas and one '->'), not "
                       f"\"{spec}\"")
    subs = match[1].split(",")
    if len(subs) != len(shapes):
        raise Mismatch(f"einsum() spec \"{spec}\" names {len(subs)} operand(s) but {len(shapes)} were given")
    sizes: dict[str, int] = {}
    for sub, shape in zip(subs, shapes):
        if len(sub) != len(shape):
            raise Mismatch(f"einsum() subscripts '{sub}' have {len(sub)} letters but the operand has shape "
                           f"{fmt_shape(shape)}")
        if len(set(sub)) != len(sub):
            raise Mismatch(f"einsum() subscripts '{sub}' repeat a letter (a diagonal); use diag() or trace()")
        for c, n in zip(sub, shape):
            if sizes.setdefault(c, n) != n:
                raise Mismatch(f"einsum() index '{c}' has size {sizes[c]} in one operand and {n} in another")
    out = match[2]
    missing = [c for c in out if c not in sizes]
    if missing:
        raise Mismatch(f"einsum() output '{out}' names '{missing[0]}', which no operand's subscripts have")
    if len(set(out)) != len(out):
        raise Mismatch(f"einsum() output '{out}' repeats a letter")
    return tuple(sizes[c] for c in out)


def einsum_flops(out, args, params):
    sizes: dict[str, int] = {}
    subs = params.get("spec", "").replace(" ", "").split("->")[0].split(",")
    for sub, shape in zip(subs, args):
        sizes.update(zip(sub, shape))
    return 2 * math.prod(sizes.values())


register(Op("einsum", forward_code="np.einsum({spec}, *{xs}, optimize=True)", shape=einsum_shape, text="einsum(…)",
            partials=("∂einsum",), vjp_text=("einsum of ḡ with the other operands",), args=("*xs",),
            params=(("spec", ""),), func="einsum", vjp_code=("einsum_vjp({g}, {k}, {spec}, *{xs})",),
            jvp_code="sum(np.einsum({spec}, *[d if j == i else x for j, x in enumerate({xs})], optimize=True) "
                     "for i, d in enumerate({dxs}))",
            flops=einsum_flops, deriv_flops=lambda k, out, args, params: einsum_flops(out, args, params),
            doc="Einstein summation over named indices, e.g. einsum(\"ij,jk->ik\", A, B) (contraction order optimised)",
            show=lambda labels, params: f'einsum("{params.get("spec", "")}", {", ".join(labels)})',
            signature="einsum(\"ij,jk->ik\", A, B, ...)", batch=batching.einsum, pattern=patterns.einsum))

# ---- integer labels to floats ---------------------------------------------------------------------


def one_hot_shape(s, k=1):
    if k < 1:
        raise Mismatch(f"one_hot() needs at least one class, not k = {k}")
    return tuple(s) + (k,)


register(Op("one_hot", forward_code="one_hot({y}, {k})", shape=one_hot_shape, text="one_hot({0})", partials=("0",),
            vjp_text=("0",), args=("y",), params=(("k", 1),), func="one_hot", vjp_code=("np.zeros({y.shape})",),
            jvp_code="None", dtype="float", kinds=("int",), flops=per_element(1), deriv_flops=no_flops,
            doc="integer labels y to rows of k floats, 1.0 at each label (the labels are data: no derivative)",
            signature="one_hot(y, k)", batch=batching.elementwise, pattern=patterns.constant))
