"""Linear algebra: solve, inv, det, logdet, cholesky, eigvalsh, solve_triangular.

Derivatives come from the standard matrix identities (d log|det A| = tr(A⁻¹ dA), dA⁻¹ = -A⁻¹ dA A⁻¹,
...), not from differentiating numpy's algorithms. A singular matrix gives NaN (with the usual
warning naming the line, and --strict stopping there), never an exception. cholesky and eigvalsh
take A as symmetric: they read its symmetric part (A + Aᵀ)/2, so value and gradient agree (and
equal numpy's for a symmetric A); the gradient is symmetric, as PyTorch's and JAX's.
"""

from __future__ import annotations

import numpy as np

from adcli.operations import batching, patterns
from adcli.operations.core import Mismatch, Op, cubic, fmt_shape, register


def square(name):
    def check(a):
        if len(a) < 2 or a[-1] != a[-2]:
            raise Mismatch(f"{name}() needs a square matrix (or a stack of them), not shape {fmt_shape(a)}")
        return tuple(a)
    return check


def solve_shape(name):
    def rule(a, b, **_):
        square(name)(a)
        n = a[-1]
        vector = len(b) == len(a) - 1
        if len(b) == 1 and len(a) > 2:  # numpy 2 would broadcast b over the stack; numpy 1 refuses: neither
            raise Mismatch(f"{name}() cannot solve with a stack of matrices A of shape {fmt_shape(a)} and one "
                           f"vector b of shape {fmt_shape(b)}: b needs A's leading dimensions, a stack of vectors "
                           f"{fmt_shape(tuple(a[:-1]))} (broadcast_to(b, {list(a[:-1])}) repeats it) or of "
                           f"matrices {fmt_shape(tuple(a[:-1]) + ('k',))}")
        if len(b) not in (len(a) - 1, len(a)) or b[-1 if vector else -2] != n:
            raise Mismatch(f"{name}() cannot solve with A of shape {fmt_shape(a)} and b of shape {fmt_shape(b)}: "
                           f"b needs {n} rows (a vector of {n}, or a matrix with {n} rows)")
        if tuple(b[:-1 if vector else -2]) != tuple(a[:-2]):
            raise Mismatch(f"{name}() needs A and b to share their batch dimensions, not {fmt_shape(a)} and "
                           f"{fmt_shape(b)}")
        return tuple(b)
    return rule


def reduce_matrix(name):
    def rule(a):
        return square(name)(a)[:-2]
    return rule


def eig_shape(a):
    return square("eigvalsh")(a)[:-1]


register(Op("solve", forward_code="solve({A}, {b})", shape=solve_shape("solve"), text="solve({0}, {1})",
            partials=("-A⁻ᵀḡ xᵀ", "A⁻ᵀ"), vjp_text=("-(A⁻ᵀḡ) xᵀ", "A⁻ᵀ ḡ"), args=("A", "b"), func="solve",
            array_functions=(np.linalg.solve,), common_code="solve_vjp_common({g}, {A})",
            vjp_code=("solve_vjp_a({c}, {ans}, {A.shape})", "{c}"),
            jvp_code="solve({A}, {db} - matmul_any({dA}, {ans}, {b.shape}))", flops=cubic(2 / 3),
            deriv_flops=cubic(2 / 3), doc="x with A x = b (b a vector or a matrix); A singular gives NaN",
            signature="solve(A, b)", batch=batching.stacked, pattern=patterns.stacked(None, 2, None)))
register(Op("inv", forward_code="inv({A})", shape=square("inv"), text="{0}⁻¹", partials=("-A⁻¹ · A⁻¹",),
            vjp_text=("-A⁻ᵀ ḡ A⁻ᵀ",), args=("A",), func="inv", array_functions=(np.linalg.inv,),
            vjp_code=("inv_vjp({g}, {ans})",), jvp_code="-np.matmul(np.matmul({ans}, {dA}), {ans})", flops=cubic(2),
            deriv_flops=cubic(4), doc="the inverse matrix; singular gives NaN", batch=batching.stacked, pattern=patterns.stacked(2, 2)))
register(Op("det", forward_code="det({A})", shape=reduce_matrix("det"), text="det({0})", partials=("adj(A)ᵀ",),
            vjp_text=("ḡ adj(A)ᵀ",), args=("A",), func="det", array_functions=(np.linalg.det,),
            vjp_code=("det_vjp({g}, {A})",), jvp_code="np.sum(cofactors({A}) * {dA}, axis=(-2, -1))",
            flops=cubic(2 / 3), deriv_flops=cubic(2), doc="the determinant", batch=batching.stacked, pattern=patterns.stacked(0, 2)))
register(Op("logdet", forward_code="logdet({A})", shape=reduce_matrix("logdet"), text="log|det {0}|", partials=("A⁻ᵀ",),
            vjp_text=("ḡ A⁻ᵀ",), args=("A",), func="logdet", vjp_code=("logdet_vjp({g}, {A})",),
            jvp_code="np.trace(solve({A}, {dA}), axis1=-2, axis2=-1)", flops=cubic(2 / 3), deriv_flops=cubic(2),
            doc="log |det A| (numpy's slogdet: no overflow); -inf for a singular A", batch=batching.stacked, pattern=patterns.stacked(0, 2)))
register(Op("cholesky", forward_code="cholesky({A})", shape=square("cholesky"), text="chol({0})", partials=("∂chol",),
            vjp_text=("½ sym(L⁻ᵀ Φ(Lᵀ ḡ) L⁻¹)",), args=("A",), func="cholesky", array_functions=(np.linalg.cholesky,),
            vjp_code=("cholesky_vjp({g}, {ans})",), jvp_code="cholesky_jvp({dA}, {ans})", flops=cubic(1 / 3),
            deriv_flops=cubic(2),
            doc="the lower Cholesky factor L (A = L Lᵀ) of the symmetric part of A; NaN if not positive definite",
            batch=batching.stacked, pattern=patterns.stacked(2, 2)))
register(Op("eigvalsh", forward_code="eigvalsh({A})", shape=eig_shape, text="eigvalsh({0})", partials=("vᵢvᵢᵀ",),
            vjp_text=("V diag(ḡ) Vᵀ",), args=("A",), func="eigvalsh", array_functions=(np.linalg.eigvalsh,),
            vjp_code=("eigvalsh_vjp({g}, {A})",), jvp_code="eigvalsh_jvp({dA}, {A})",
            kink_code="eigvalsh_ties({ans}) > 0",
            convention="a repeated eigenvalue: numpy's eigenvectors are used "
                       "(exact when ḡ is equal across the repeated eigenvalues)",
            second_order=False, flops=cubic(4), deriv_flops=cubic(6),
            doc="the eigenvalues of a symmetric matrix, ascending", batch=batching.stacked, pattern=patterns.stacked(1, 2)))
register(Op("solve_triangular", forward_code="solve_triangular({A}, {b}, {lower})",
            shape=solve_shape("solve_triangular"), text="solve_triangular({0}, {1})", partials=("-tri(A⁻ᵀḡ xᵀ)", "A⁻ᵀ"),
            vjp_text=("-tri((A⁻ᵀḡ) xᵀ)", "A⁻ᵀ ḡ"), args=("A", "b"), params=(("lower", True),), func="solve_triangular",
            common_code="solve_triangular_vjp_common({g}, {A}, {lower})",
            vjp_code=("solve_triangular_vjp_a({c}, {ans}, {A.shape}, {lower})", "{c}"),
            jvp_code="solve_triangular({A}, {db} - matmul_any(tri({dA}, {lower}), {ans}, {b.shape}), {lower})",
            flops=cubic(1 / 3), deriv_flops=cubic(1 / 3),
            doc="x with A x = b for a triangular A (only its lower, or with lower=False upper, triangle is read)",
            signature="solve_triangular(A, b, lower=True)", batch=batching.stacked, pattern=patterns.stacked(None, 2, None)))
