"""KLU functional API (public face: `nativax.klu`): `solve`, `dot`, and the eager handle API (`analyze`, `factor`, `refactor`).

Every function works under `jax.jit`, `jax.vmap` (folded into one native batched call) and forward/reverse
autodiff wrt `values` and `b`. Factorizations are cached by content, so the adjoint solve of `jax.grad` reuses
the forward factorization. float32/complex64 inputs are computed in double precision and returned in their own
dtype; complex input is never cast to real. These are the engine-agnostic functions of
`nativax._direct.functional` bound to KLU.
"""

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Inexact, Integer

from ..._core.packing import promote
from .. import functional as _f
from .. import options as _opts
from .. import shapes as shapes
from ..engine import KLU as _KLU
from ..handles import NumericHandle, SymbolicHandle
from . import ffi as ffi


def solve(
    rows: Integer[ArrayLike, " nnz"],
    cols: Integer[ArrayLike, " nnz"],
    values: Inexact[ArrayLike, "*n_lhs nnz"],
    b: Inexact[ArrayLike, "..."],
    *,
    transpose: bool = False,
) -> Inexact[Array, "..."]:
    """Solve `A x = b` (or `A^T x = b`) for the n x n COO matrix `A[rows[i], cols[i]] += values[..., i]`.

    Shapes: `values` `(nnz,)` or `(n_lhs, nnz)`; `b` `(n,)`, `(n, n_rhs)`, `(n_lhs, n)` or `(n_lhs, n, n_rhs)`;
    n is taken from `b`. Duplicate entries are summed. Raises (also under jit) on a singular matrix or
    NaN/Inf in `values` or `b`.
    """
    return _f.solve(_KLU, rows, cols, values, b, transpose=transpose, fn="klu.solve")


@partial(jax.custom_jvp, nondiff_argnums=(4,))
def _dot(rows, cols, v2, x3, n_rows):
    return ffi.dot(rows, cols, v2, x3, n_rows)


@_dot.defjvp
def _dot_jvp(n_rows, primals, tangents):
    rows, cols, v2, x3 = primals
    _, _, dv, dx = tangents
    y = _dot(rows, cols, v2, x3, n_rows)
    return y, _f.dot_ref(rows, cols, dv, x3, n_rows) + _f.dot_ref(rows, cols, v2, dx, n_rows)


def dot(
    rows: Integer[ArrayLike, " nnz"],
    cols: Integer[ArrayLike, " nnz"],
    values: Inexact[ArrayLike, "*n_lhs nnz"],
    x: Inexact[ArrayLike, "..."],
    *,
    n_rows: int | None = None,
) -> Inexact[Array, "..."]:
    """Sparse mat-vec `A @ x` with the native COO kernel (shapes as in `solve`; `n_rows` defaults to n)."""
    r_idx, c_idx, _ = shapes.indices(rows, cols, None, "klu.dot")
    values = shapes.float_array(values, "values", "klu.dot")
    x = shapes.float_array(x, "x", "klu.dot")
    dt: Any = promote(values.dtype, x.dtype)
    if dt in (jnp.float16, jnp.bfloat16):
        dt = jnp.float32
    v2, x3, _ = shapes.canonical(values.astype(dt), x.astype(dt), r_idx.shape[0], "klu.dot")
    n_cols = x3.shape[1]
    m = n_cols if n_rows is None else int(n_rows)
    if shapes.is_concrete(r_idx) and shapes.is_concrete(c_idx):
        for name, idx, lim in (("rows", r_idx, m), ("cols", c_idx, n_cols)):
            if idx.size and (idx.max() >= lim):
                raise ValueError(f"nativax.klu.dot: `{name}` index {idx.max()} is out of range (< {lim})")
    y = _dot(r_idx, c_idx, v2, x3, m)
    out_shape = list(jnp.broadcast_shapes(
        (v2.shape[0],) if values.ndim == 2 else (), (x3.shape[0],) if x.ndim == 3 or (values.ndim == 2 and x.ndim == 2) else ()
    )) + [m] + ([x.shape[-1]] if (x.ndim == 2 and values.ndim == 1) or x.ndim == 3 else [])
    return y.reshape(out_shape).astype(promote(values.dtype, x.dtype))


# ----------------------------------------------------------------------------------------------------------
# Handle API (eager): analyze -> factor -> solve_with_numeric, refactor for new values on the same pattern.
# ----------------------------------------------------------------------------------------------------------


def analyze(rows: Integer[ArrayLike, " nnz"], cols: Integer[ArrayLike, " nnz"], n: int | None = None, *,
            ordering: _opts.Ordering = "default", pivot_tol: float | None = None,
            scale: str | None = None) -> SymbolicHandle:
    """Symbolic analysis (BTF + AMD ordering by default) of an n x n pattern; n defaults to max index + 1.
    `ordering`, `pivot_tol`, `scale`: as `nativax.KLU`'s fields (docs/numerics.md), kept with the analysis."""
    options = _opts.checked_native("klu.analyze", "klu", ordering, pivot_tol, scale, n)
    return _f.analyze(_KLU, rows, cols, n, fn="klu.analyze", options=options)


def factor(symbolic: SymbolicHandle, values: Inexact[ArrayLike, " nnz"]) -> NumericHandle:
    """Numeric LU factorization of the matrix with `symbolic`'s pattern and these `values` (eager)."""
    return _f.factor(_KLU, symbolic, values, fn="klu.factor")


def refactor(numeric: NumericHandle, values: Inexact[ArrayLike, " nnz"]) -> NumericHandle:
    """Refactor with new values on the same pattern (`klu_refactor`, reusing the pivot order; falls back to a
    full factorization when the pivots degrade). Consumes `numeric`: the old handle is freed."""
    return _f.refactor(_KLU, numeric, values, fn="klu.refactor")


def solve_with_symbolic(
    symbolic: SymbolicHandle,
    values: Inexact[ArrayLike, "*n_lhs nnz"],
    b: Inexact[ArrayLike, "..."],
    *,
    transpose: bool = False,
) -> Inexact[Array, "..."]:
    """As `solve`, reusing a held symbolic analysis (values may be traced: jit/vmap/grad-safe)."""
    return _f.solve_with_symbolic(_KLU, symbolic, values, b, transpose=transpose, fn="klu.solve_with_symbolic")


def solve_with_numeric(
    numeric: NumericHandle, b: Inexact[ArrayLike, "..."], *, transpose: bool = False
) -> Inexact[Array, "..."]:
    """Solve with a held factorization (factor once, solve many). Differentiable wrt `b`."""
    return _f.solve_with_numeric(_KLU, numeric, b, transpose=transpose, fn="klu.solve_with_numeric")


def free_symbolic(symbolic: SymbolicHandle) -> None:
    """Free a symbolic handle now (idempotent; also happens on garbage collection)."""
    if not isinstance(symbolic, SymbolicHandle):
        raise TypeError("nativax.klu.free_symbolic: expected a SymbolicHandle")
    symbolic.close()


def free_numeric(numeric: NumericHandle) -> None:
    """Free a numeric handle now (idempotent; also happens on garbage collection)."""
    if not isinstance(numeric, NumericHandle):
        raise TypeError("nativax.klu.free_numeric: expected a NumericHandle")
    numeric.close()
