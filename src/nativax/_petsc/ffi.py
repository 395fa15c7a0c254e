"""The raw FFI calls of the PETSc engine. Both are marked side-effecting: XLA must neither drop, duplicate nor
reorder them, since every rank has to make the same collective calls in the same order. Batching under
`jax.vmap` uses `expand_dims`, which the native side loops over, so a vmapped solve is one native call."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from . import ext


def solve(
    row_ptr: np.ndarray,
    cols: np.ndarray,
    values: Float[Array, " nnz"],
    b: Float[Array, " m"],
    options: str,
    n_global: int,
    transposed: bool,
) -> tuple[Float[Array, " m"], Int[Array, "3"]]:
    """x = op(A)^{-1} b for this rank's rows; returns (x, info) with info = (status, KSP reason, iterations)."""
    ext.require()
    m = row_ptr.size - 1
    call = jax.ffi.ffi_call(
        "nativax_petsc_solve",
        (jax.ShapeDtypeStruct((m,), jnp.float64), jax.ShapeDtypeStruct((3,), jnp.int32)),
        vmap_method="expand_dims",
        has_side_effect=True,
    )
    x, info = call(jnp.asarray(row_ptr), jnp.asarray(cols), values, b, options=options,
                   n_global=np.int64(n_global), transposed=np.int64(transposed))
    return x, info


def gather(cols: np.ndarray, x: Float[Array, " m"], n_global: int) -> Float[Array, " nnz"]:
    """`x_global[cols]` from this rank's block `x` of a row-partitioned vector (the halo of a mat-vec)."""
    ext.require()
    call = jax.ffi.ffi_call(
        "nativax_petsc_gather",
        jax.ShapeDtypeStruct((cols.size,), jnp.float64),
        vmap_method="expand_dims",
        has_side_effect=True,
    )
    return call(jnp.asarray(cols), x, n_global=np.int64(n_global))
