"""Low-level functional UMFPACK API: `solve`, and the eager handle API (`analyze`, `factor`, `refactor`,
`solve_with_symbolic`, `solve_with_numeric`, `free_symbolic`, `free_numeric`), as `nativax.klu` has for KLU.

The solves work under `jax.jit`, `jax.vmap` (one native batched call) and forward/reverse autodiff wrt
`values` and `b`, on the same content-addressed caches as `nativax.UMFPACK`. Only in builds with UMFPACK
(`nativax.has_umfpack`); otherwise every function raises a clear error.
"""

from ._direct.bound import BoundFunctions
from ._direct.engine import UMFPACK as _ENGINE

_api = BoundFunctions(_ENGINE, "umfpack")

solve = _api.solve
analyze = _api.analyze
factor = _api.factor
refactor = _api.refactor
solve_with_symbolic = _api.solve_with_symbolic
solve_with_numeric = _api.solve_with_numeric
free_symbolic = _api.free_symbolic
free_numeric = _api.free_numeric

__all__ = [
    "solve",
    "analyze",
    "factor",
    "refactor",
    "solve_with_symbolic",
    "solve_with_numeric",
    "free_symbolic",
    "free_numeric",
]
