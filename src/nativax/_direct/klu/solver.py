"""`nativax.KLU`: SuiteSparse KLU as an immutable lineax solver (on the sparse-direct engine layer)."""

from typing import ClassVar

from .. import engine as _engine
from ..base import AbstractDirectSolver


class KLU(AbstractDirectSolver):
    """Sparse direct LU (SuiteSparse KLU: BTF + AMD, no supernodes) for square sparse operators; the best
    engine for circuit-like matrices (many small diagonal blocks, little fill).

    By default factorizations are found or built in a content-addressed native cache at solve time, so this
    solver works under `jit`/`vmap`/`grad` and the adjoint solve reuses the forward factorization (KLU tsolve).
    Any lineax operator is accepted: `SparseOperator` directly; sums/scalings/tags of sparse, identity,
    diagonal and tridiagonal operators keep their sparsity; `MatrixLinearOperator` is sparsified (a
    convenience); matrix-free operators go through Jacobian sparsity detection and coloring.

    Handles (eager, outside `jit`): `KLU().analyze(pattern)` holds a symbolic analysis;
    `KLU.factor(operator)` holds a numeric factorization for factor-once/solve-many. A held factorization is
    only used for the exact matrix it was built from (checked, also under `jit`), unless `frozen=True`
    (chord / frozen-Jacobian mode), which deliberately applies it to any matrix with the same pattern.
    """

    engine: ClassVar[_engine.Engine] = _engine.KLU
