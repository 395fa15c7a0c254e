"""Seed matrices and gather indices for compressed differentiation (one row per color).

Both are host constants of the compiled function. XLA constant-folds every JVP step
it can on a literal seed matrix, and analyses a literal gather index: cheap for small
problems, where the folded program also runs a little faster, but seconds of compile
time at n = 10^6 (about 4 s for a 5-point stencil, against 0.3 s, for 25 ms less per
run). Above `FOLD_LIMIT` entries they enter the graph behind an
`optimization_barrier`, which XLA does not fold through.
"""

import jax.numpy as jnp
import numpy as np
from jax import lax

# Seed/index entries up to which XLA may fold the constants.
FOLD_LIMIT = 1 << 18


def seed_matrix(colors: np.ndarray, dtype) -> jnp.ndarray:
    """`(ncolors, n)` 0/1 matrix whose row `c` selects the columns of color `c`."""
    colors = np.asarray(colors)
    ncolors = int(colors.max(initial=-1)) + 1
    if ncolors * colors.size <= FOLD_LIMIT:
        return jnp.asarray(colors[None, :] == np.arange(ncolors, dtype=colors.dtype)[:, None]).astype(dtype)
    itype = np.int32 if ncolors < 2**31 else np.int64
    c = lax.optimization_barrier(jnp.asarray(colors.astype(itype, copy=False)))
    return (c[None, :] == jnp.arange(ncolors, dtype=itype)[:, None]).astype(dtype)


def gather_index(flat: np.ndarray, size: int) -> jnp.ndarray:
    """`flat` (host indices into a flattened compressed matrix of `size` entries) as an
    in-graph index array."""
    itype = np.int32 if size < 2**31 else np.int64
    index = jnp.asarray(np.asarray(flat).astype(itype, copy=False))
    return index if index.size <= FOLD_LIMIT else lax.optimization_barrier(index)
