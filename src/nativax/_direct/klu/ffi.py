"""Raw XLA FFI calls into the native KLU handlers: the generic engine calls (`_direct/ffi.py`) bound to KLU,
plus KLU's COO mat-vec. Shapes are canonical: values (Lv, nnz), right-hand sides (Lb, n, k)."""

import jax
import numpy as np
from jaxtyping import Array, Inexact, Int

from ..._core import native as _native  # noqa: F401  (registers the FFI targets)
from ..._core.status import MODE_A, MODE_H, MODE_T
from .. import ffi as _ffi
from ..engine import KLU

__all__ = ["MODE_A", "MODE_T", "MODE_H", "solve", "solve_symbolic", "solve_numeric", "dot", "handle_words"]

handle_words = _ffi.handle_words


def solve(
    rows: Int[Array, " nnz"], cols: Int[Array, " nnz"], values: Inexact[Array, "lv nnz"], b: Inexact[Array, "lb n k"],
    mode: int,
) -> tuple[Inexact[Array, "l n k"], Int[Array, " l"]]:
    """Solve op(A) x = b with a cache-managed KLU factorization; returns (x, status)."""
    x, status, _ = _ffi.solve(KLU, rows, cols, values, b, mode)
    return x, status


def solve_symbolic(handle_id: int, values: Array, b: Array, mode: int) -> tuple[Array, Array]:
    """As `solve`, with the pattern and ordering taken from a symbolic handle."""
    x, status, _ = _ffi.solve_symbolic(KLU, handle_words(handle_id), values, b, mode)
    return x, status


def solve_numeric(handle_id: int, b: Array, mode: int) -> tuple[Array, Array]:
    """Solve with a held numeric factorization (no values involved)."""
    x, status, _ = _ffi.solve_numeric(KLU, handle_words(handle_id), b, mode)
    return x, status


def dot(rows: Array, cols: Array, values: Array, x: Array, n_rows: int) -> Array:
    """y = A x for COO A; values (Lv, nnz), x (Lx, n_cols, k)."""
    batch = max(values.shape[0], x.shape[0])
    out = jax.ShapeDtypeStruct((batch, n_rows, x.shape[-1]), x.dtype)
    call = jax.ffi.ffi_call("nativax_klu_dot", out, vmap_method="expand_dims")
    return call(rows, cols, values, x, n_rows=np.int64(n_rows))
