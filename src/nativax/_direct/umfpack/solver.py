"""`nativax.UMFPACK`: SuiteSparse UMFPACK as an immutable lineax solver."""

from typing import ClassVar

from ..base import AbstractDirectSolver
from ..engine import UMFPACK as _ENGINE
from ..engine import Engine


class UMFPACK(AbstractDirectSolver):
    """Sparse multifrontal LU (SuiteSparse UMFPACK, BLAS-3 frontal matrices) for general square operators;
    float64 and complex128. The engine for nonsymmetric PDE and mesh-like matrices, where fill is large.

    Same semantics as `nativax.KLU`: content-addressed caches, handles (`analyze`, `factor`; `refactor` is a
    new numeric factorization on the held analysis), batched `vmap`, `grad` through `custom_linear_solve`
    with the transposed solve (`A^T`, or `A^H`) on the same factorization. Only in builds with UMFPACK
    (`nativax.has_umfpack`).

    Ordering: AMD/COLAMD, then METIS when their fill is high. A pattern with a full diagonal and at least half
    of its off-diagonal entries mirrored gets UMFPACK's symmetric strategy (ordering of A + A^T, diagonal
    pivots preferred, off-diagonal ones when a diagonal is too small), which halves the factor of a 3-D mesh
    matrix against UMFPACK's own automatic choice.
    """

    engine: ClassVar[Engine] = _ENGINE
