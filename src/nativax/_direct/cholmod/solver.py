"""`nativax.CHOLMOD`: SuiteSparse CHOLMOD as an immutable lineax solver."""

from typing import ClassVar

from ..base import AbstractDirectSolver
from ..engine import CHOLMOD as _ENGINE
from ..engine import Engine


class CHOLMOD(AbstractDirectSolver):
    """Sparse Cholesky (SuiteSparse CHOLMOD; supernodal with BLAS where it pays, else simplicial) for symmetric
    (Hermitian) positive definite operators stored with both triangles; float64 and complex128. The engine for
    2-D/3-D mesh problems (Poisson, elasticity, diffusion).

    Same semantics as `nativax.KLU`: content-addressed caches, handles (`analyze`, `factor`), batched `vmap`,
    `grad` through `custom_linear_solve` on one factorization (A is self-adjoint, so the adjoint solve is the
    same solve). A matrix that is not positive definite, or not symmetric, gives `RESULTS.singular` (an error
    from `lx.linear_solve` by default) with a message saying which; never a silent answer. See also
    `nativax.logdet`. Only in builds with CHOLMOD (`nativax.has_cholmod`).
    """

    engine: ClassVar[Engine] = _ENGINE
