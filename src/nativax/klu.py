"""Low-level functional KLU API: `solve`, `dot`, and the eager handle API (`analyze`, `factor`, `refactor`).

Every function works under `jax.jit`, `jax.vmap` (folded into one native batched call) and forward/reverse
autodiff wrt `values` and `b`. Factorizations are cached by content, so the adjoint solve of `jax.grad` reuses
the forward factorization. float32/complex64 inputs are computed in double precision and returned in their own
dtype; complex input is never cast to real.
"""

from ._direct.klu.functional import (
    analyze,
    dot,
    factor,
    free_numeric,
    free_symbolic,
    refactor,
    solve,
    solve_with_numeric,
    solve_with_symbolic,
)

__all__ = [
    "solve",
    "dot",
    "analyze",
    "factor",
    "refactor",
    "solve_with_symbolic",
    "solve_with_numeric",
    "free_symbolic",
    "free_numeric",
]
