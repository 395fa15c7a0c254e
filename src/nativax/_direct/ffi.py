"""Raw XLA FFI calls into any engine's solve handlers. No autodiff here; shapes are already canonical:
values (Lv, nnz), right-hand sides (Lb, n, k) with Lv, Lb in {1, L}. Batching under `jax.vmap` uses
`expand_dims`, which the native side broadcasts, so a vmapped solve is one native call.

Every call returns `(x, status, info)`: `status` int32 per batch element (`_core.status`), `info` float64 (float32
without x64) `(L, INFO_FIELDS)` per batch element: rcond, condest (only with `condest=True`), reciprocal pivot growth,
factor entries, cache hit (`native/common/status.h`, `_core.status.INFO_*`)."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Inexact, Int

from .._core.status import INFO_FIELDS
from .engine import Engine
from .handles import handle_words as handle_words
from .options import DEFAULT, NativeOptions


def _out(values_batch: int, b: jax.Array) -> tuple[jax.ShapeDtypeStruct, ...]:
    batch = max(values_batch, b.shape[0])
    return (
        jax.ShapeDtypeStruct((batch, *b.shape[1:]), b.dtype),
        jax.ShapeDtypeStruct((batch,), jnp.int32),
        jax.ShapeDtypeStruct((batch, INFO_FIELDS), jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32),
    )


def solve(
    engine: Engine,
    rows: Int[Array, " nnz"],
    cols: Int[Array, " nnz"],
    values: Inexact[Array, "lv nnz"],
    b: Inexact[Array, "lb n k"],
    mode: int,
    condest: bool = False,
    options: NativeOptions = DEFAULT,
) -> tuple[Inexact[Array, "l n k"], Int[Array, " l"], Float[Array, "l f"]]:
    """Solve op(A) x = b with a cache-managed factorization; returns (x, status, info). `options` (ordering,
    pivot tolerance, scaling) are part of the native cache key."""
    call = jax.ffi.ffi_call(engine.target("solve"), _out(values.shape[0], b), vmap_method="expand_dims")
    x, status, info = call(rows, cols, values, b, mode=np.int64(mode), condest=np.int64(condest),
                           ordering=np.int64(options.ordering), pivot_tol=np.float64(options.pivot_tol),
                           scale=np.int64(options.scale), perm=options.perm)
    return x, status, info


def solve_symbolic(
    engine: Engine, words: Array | np.ndarray, values: Array, b: Array, mode: int, condest: bool = False
) -> tuple[Array, Array, Array]:
    """As `solve`, with the pattern and ordering taken from a symbolic handle; `words` is the handle's (2,)
    uint32 operand (may be traced)."""
    call = jax.ffi.ffi_call(engine.target("solve_symbolic"), _out(values.shape[0], b), vmap_method="expand_dims")
    x, status, info = call(words, values, b, mode=np.int64(mode), condest=np.int64(condest))
    return x, status, info


def solve_numeric(
    engine: Engine, words: Array | np.ndarray, b: Array, mode: int, condest: bool = False
) -> tuple[Array, Array, Array]:
    """Solve with a held numeric factorization; `words` is the handle's (2,) uint32 operand (may be traced)."""
    call = jax.ffi.ffi_call(engine.target("solve_numeric"), _out(1, b), vmap_method="expand_dims")
    x, status, info = call(words, b, mode=np.int64(mode), condest=np.int64(condest))
    return x, status, info
