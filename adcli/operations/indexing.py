"""Indexing: numpy's basic indexing (x[0], x[1:], A[:, None]), updates of a part as values
(x[i] = v), gathers with integer arrays (E[idx], Z[arange(4), y]), and dimension sizes read as
numbers."""

from __future__ import annotations

from adcli.operations import batching, patterns
from adcli.operations.core import Mismatch, Op, broadcast_shapes, fmt_shape, no_flops, operand_elements, register


class IndexMismatch(Mismatch):
    """An index that does not fit, naming which item of the subscript (for the caret)."""

    def __init__(self, message: str, item: int):
        super().__init__(message)
        self.item = item


def index_text(index) -> str:
    """An index tuple as Python writes it in brackets: 1:, None, ::-1."""
    parts = []
    for item in index:
        if isinstance(item, slice):
            start, stop, step = ("" if v is None else str(v) for v in (item.start, item.stop, item.step))
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        elif isinstance(item, tuple):
            parts.append(f"{{{item[1]}}}")
        elif item is Ellipsis:
            parts.append("...")
        else:
            parts.append(str(item))
    return ", ".join(parts)


def spelled(index, ndim):
    """(item number as written, item) for an index with its `...` spelled out as full slices."""
    named = sum(1 for item in index if item is not None and item is not Ellipsis)
    for k, item in enumerate(index):
        if item is Ellipsis:
            yield from ((k, slice(None)) for _ in range(max(ndim - named, 0)))
        else:
            yield k, item


def basic_index_shape(s, index=()):
    """The shape x[index] has, refusing indices out of range (numpy would wrap or raise)."""
    out, axis = [], 0
    for k, item in spelled(index, len(s)):
        if item is None:
            out.append(1)
            continue
        if axis >= len(s):
            raise IndexMismatch(f"too many indices: the array has shape {fmt_shape(s)} ({len(s)} "
                                f"ax{'is' if len(s) == 1 else 'es'})", k)
        n = s[axis]
        if isinstance(item, slice):
            if item.step == 0:
                raise IndexMismatch("a slice step cannot be 0", k)
            out.append(len(range(*item.indices(n))))
        elif not -n <= item < n:
            raise IndexMismatch(f"index {item} is out of range for axis {axis} of size {n}"
                                + (f" (valid: {-n} to {n - 1})" if n else ""), k)
        axis += 1
    return tuple(out) + tuple(s[axis:])


register(Op("getitem", forward_code="{x}[{index}]", shape=basic_index_shape, text="{0}[…]",
            partials=("1 at the indexed elements",), vjp_text=("ḡ placed at the indexed elements",),
            params=(("index", ()),), vjp_code=("index_vjp({g}, {x.shape}, {index})",), jvp_code="{dx}[{index}]",
            dtype="same", linear=True,
            show=lambda labels, params: f"{labels[0]}[{index_text(params.get('index', ()))}]", flops=no_flops,
            deriv_flops=operand_elements(1),
            doc="basic indexing and slicing, as numpy: x[0], x[-1], x[1:], x[::-1], A[:, 1], x[:, None], X[..., 0]",
            signature="x[i, j:k:s, None, ...]", batch=batching.getitem, pattern=patterns.moves))


def setitem_shape(x, v, index=()):
    """x's shape, once v is known to fit x[index] (it broadcasts to that part's shape)."""
    part = basic_index_shape(x, index)
    try:
        fits = broadcast_shapes(part, v) == tuple(part)
    except (Mismatch, ValueError):
        fits = False
    if not fits:
        raise Mismatch(f"a value of shape {fmt_shape(v)} cannot be placed into {fmt_shape(part)}, the shape of "
                       f"the part [{index_text(index)}] of an array of shape {fmt_shape(x)}")
    return tuple(x)


register(Op("setitem", forward_code="set_at({x}, {v}, {index})", shape=setitem_shape, text="{0}[…] ← {1}",
            args=("x", "v"), params=(("index", ()),),
            partials=("1 outside the updated part, 0 in it", "1 at the updated part"),
            vjp_text=("ḡ with 0 at the updated part", "ḡ at the updated part (summed over the axes v was broadcast along)"),
            vjp_code=("zero_at({g}, {index})", "unbroadcast({g}[{index}], {v.shape})"),
            jvp_code="set_at({dx}, {dv}, {index})", dtype="same", linear=True,
            show=lambda labels, params: f"{labels[0]}[{index_text(params.get('index', ()))}] ← {labels[1]}",
            flops=no_flops, deriv_flops=operand_elements(1),
            doc="an update as a value: x[i] = v and x[a:b] += v give a new x with that part replaced, as JAX's "
                "x.at[i].set(v); the overwritten elements get no gradient",
            signature="x[i, j:k] = v, x.at[i].set(v)", batch=batching.setitem, pattern=patterns.moves))


def gather_shape(*shapes, layout=()):
    """The shape of numpy's advanced indexing: the index arrays broadcast together, placed where
    they stand when they are adjacent, first otherwise."""
    x, arrays = shapes[0], shapes[1:]
    try:
        middle = tuple(broadcast_shapes(*(arrays[item[1] - 1] for item in layout if isinstance(item, tuple)),
                                           *(() for item in layout if isinstance(item, int))))
    except Mismatch:
        raise
    except ValueError:
        raise Mismatch("the index arrays do not broadcast together: "
                       + ", ".join(fmt_shape(a) for a in arrays)) from None
    before, after, positions, axis = [], [], [], 0
    for j, (k, item) in enumerate(spelled(layout, len(x))):
        if item is None:
            (after if positions else before).append(1)
            continue
        if axis >= len(x):
            raise IndexMismatch(f"too many indices: the array has shape {fmt_shape(x)}", k)
        n = x[axis]
        if isinstance(item, slice):
            if item.step == 0:
                raise IndexMismatch("a slice step cannot be 0", k)
            (after if positions else before).append(len(range(*item.indices(n))))
        else:
            if isinstance(item, int) and not -n <= item < n:
                raise IndexMismatch(f"index {item} is out of range for axis {axis} of size {n}", k)
            positions.append(j)  # adjacency counts the axes `...` stands for
        axis += 1
    rest = list(x[axis:])
    adjacent = positions == list(range(positions[0], positions[-1] + 1))
    if adjacent:
        return tuple(before) + middle + tuple(after) + tuple(rest)
    return middle + tuple(before) + tuple(after) + tuple(rest)


register(Op("gather", forward_code="gather({xs}, {layout})", shape=gather_shape, text="{0}[…]",
            partials=("1 at each gathered element",),
            vjp_text=("ḡ added at each gathered element (repeats summed)", "0"), args=("*xs",),
            params=(("layout", ()),), vjp_code=("gather_vjp({g}, {xs}, {layout})", "np.zeros(np.shape({xs}[{k}]))"),
            jvp_code="gather([{dxs}[0]] + list({xs}[1:]), {layout})", dtype="same",
            show=lambda labels, params: f"{labels[0]}[{index_text(params.get('layout', ())).format(*labels)}]",
            flops=no_flops, deriv_flops=operand_elements(1),
            doc="indexing with integer arrays (labels, permutations): E[idx], Z[arange(4), y]; repeats add up",
            signature="x[idx, ...] with int arrays", batch=batching.gather, pattern=patterns.moves, curved=False))


def size_shape(s, axis=None):
    if axis is not None and not -len(s) <= axis < len(s):
        raise Mismatch(f"size() axis {axis} is out of range for shape {fmt_shape(s)}")
    return ()


register(Op("size", forward_code="size_of({x.shape}, {axis})", shape=size_shape, text="size({0})", partials=("0",),
            vjp_text=("0",), params=(("axis", None),), func="size", vjp_code=("np.zeros({x.shape})",), jvp_code="None",
            dtype="int", flops=no_flops,
            show=lambda labels, params: f"size({labels[0]}"
            + ("" if params.get("axis") is None else f", {params['axis']}") + ")",
            deriv_flops=no_flops,
            doc="the length of an axis (or the number of elements) as a number; a declared dimension's name reads "
                "the same",
            signature="size(x, axis)", batch=batching.constant))


def filled_shape(*shapes, kind="zeros", shape=()):
    """The shape of zeros/ones/eye/arange whose sizes come from the operands' dimensions."""
    sizes = tuple(shapes[d[1]][d[2]] if isinstance(d, tuple) else d for d in shape)
    return (sizes[0], sizes[0]) if kind == "eye" else sizes


register(Op("filled", forward_code="filled({xs}, {kind}, {shape})", shape=filled_shape, text="filled(…)",
            partials=("0",), vjp_text=("0",), args=("*xs",), params=(("kind", "zeros"), ("shape", ())),
            vjp_code=("np.zeros(np.shape({xs}[{k}]))",), jvp_code="None", dtype="constant", flops=no_flops,
            deriv_flops=no_flops,
            show=lambda labels, params: f"{params.get('kind', 'zeros')}({dims_text(labels, params)})",
            doc="zeros, ones, eye or arange sized by a declared dimension (zeros([n, 3]), eye(n)): a constant",
            signature="zeros([n, 3]), eye(n), arange(n)", batch=batching.constant))


def dims_text(labels, params) -> str:
    """The sizes of a filled array as written: [n, 3] (n the size of an operand's axis)."""
    sizes = [(d[3] or f"size({labels[d[1]]}, {d[2]})") if isinstance(d, tuple) else str(d)
             for d in params.get("shape", ())]
    kind = params.get("kind", "zeros")
    return sizes[0] if kind in ("eye", "arange") else "[" + ", ".join(sizes) + "]"
