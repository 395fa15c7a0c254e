"""Raw XLA FFI calls into the native KLU handlers. No autodiff here; shapes are already canonical:
values (Lv, nnz), right-hand sides (Lb, n, k) with Lv, Lb in {1, L}. Batching under `jax.vmap` uses
`expand_dims`, which the native side broadcasts, so a vmapped solve is one native call."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact, Int

from ..._core import native  # noqa: F401  (registers the FFI targets)

MODE_A, MODE_T, MODE_H = 0, 1, 2


def _out(values_batch: int, b: jax.Array) -> tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct]:
    batch = max(values_batch, b.shape[0])
    return (
        jax.ShapeDtypeStruct((batch, *b.shape[1:]), b.dtype),
        jax.ShapeDtypeStruct((batch,), jnp.int32),
    )


def solve(
    rows: Int[Array, " nnz"],
    cols: Int[Array, " nnz"],
    values: Inexact[Array, "lv nnz"],
    b: Inexact[Array, "lb n k"],
    mode: int,
) -> tuple[Inexact[Array, "l n k"], Int[Array, " l"]]:
    """Solve op(A) x = b with a cache-managed factorization; returns (x, status)."""
    call = jax.ffi.ffi_call("nativax_klu_solve", _out(values.shape[0], b), vmap_method="expand_dims")
    x, status = call(rows, cols, values, b, mode=np.int64(mode))
    return x, status


def handle_words(handle_id: int) -> np.ndarray:
    """A handle id as the native side reads it: a runtime (2,) uint32 operand (low word, high word).

    An operand rather than an FFI attribute, so the compiled solve does not depend on which handle it uses:
    one executable serves every handle (a new handle after each `refactor` costs no XLA compile, and JAX's
    executable caches do not grow with the number of handles ever used)."""
    u = int(handle_id) & 0xFFFFFFFFFFFFFFFF
    return np.array([u & 0xFFFFFFFF, u >> 32], dtype=np.uint32)


def solve_symbolic(handle_id: int, values: Array, b: Array, mode: int) -> tuple[Array, Array]:
    """As `solve`, with the pattern and ordering taken from a symbolic handle."""
    call = jax.ffi.ffi_call("nativax_klu_solve_symbolic", _out(values.shape[0], b), vmap_method="expand_dims")
    x, status = call(handle_words(handle_id), values, b, mode=np.int64(mode))
    return x, status


def solve_numeric(handle_id: int, b: Array, mode: int) -> tuple[Array, Array]:
    """Solve with a held numeric factorization (no values involved)."""
    return solve_numeric_words(handle_words(handle_id), b, mode)


def solve_numeric_words(words: Array | np.ndarray, b: Array, mode: int) -> tuple[Array, Array]:
    """As `solve_numeric`, with the handle already in its (2,) uint32 operand form (may be traced)."""
    call = jax.ffi.ffi_call("nativax_klu_solve_numeric", _out(1, b), vmap_method="expand_dims")
    x, status = call(words, b, mode=np.int64(mode))
    return x, status


def dot(rows: Array, cols: Array, values: Array, x: Array, n_rows: int) -> Array:
    """y = A x for COO A; values (Lv, nnz), x (Lx, n_cols, k)."""
    batch = max(values.shape[0], x.shape[0])
    out = jax.ShapeDtypeStruct((batch, n_rows, x.shape[-1]), x.dtype)
    call = jax.ffi.ffi_call("nativax_klu_dot", out, vmap_method="expand_dims")
    return call(rows, cols, values, x, n_rows=np.int64(n_rows))
