"""The functional sparse-direct API bound to one engine: what `nativax.cholmod` and `nativax.umfpack` export.

`nativax.klu` predates it and keeps its own module (it also has `dot`); the functions here are the same
engine-agnostic ones of `nativax._direct.functional`, with the engine fixed and error messages naming the
public function (`nativax.cholmod.solve`, ...).
"""

from jaxtyping import Array, ArrayLike, Inexact, Integer

from . import functional as _f
from . import options as _opts
from .engine import Engine
from .handles import NumericHandle, SymbolicHandle


class BoundFunctions:
    """`solve`, `analyze`, `factor`, `refactor`, `solve_with_symbolic`, `solve_with_numeric`, `free_symbolic`,
    `free_numeric` of one `Engine`. Every solve works under `jax.jit`, `jax.vmap` and forward/reverse autodiff
    wrt `values` and `b`; the handle functions are eager."""

    def __init__(self, engine: Engine, module: str):
        self._engine = engine
        self._module = module

    def _fn(self, name: str) -> str:
        return f"{self._module}.{name}"

    def solve(
        self,
        rows: Integer[ArrayLike, " nnz"],
        cols: Integer[ArrayLike, " nnz"],
        values: Inexact[ArrayLike, "*n_lhs nnz"],
        b: Inexact[ArrayLike, "..."],
        *,
        transpose: bool = False,
    ) -> Inexact[Array, "..."]:
        """Solve `A x = b` (or `A^T x = b`) for the n x n COO matrix `A[rows[i], cols[i]] += values[..., i]`.

        Shapes: `values` `(nnz,)` or `(n_lhs, nnz)`; `b` `(n,)`, `(n, n_rhs)`, `(n_lhs, n)` or
        `(n_lhs, n, n_rhs)`; n is taken from `b`. Duplicate entries are summed. Raises (also under jit) on a
        singular (for CHOLMOD: not positive definite) matrix or NaN/Inf in `values` or `b`.
        """
        return _f.solve(self._engine, rows, cols, values, b, transpose=transpose, fn=self._fn("solve"))

    def analyze(
        self, rows: Integer[ArrayLike, " nnz"], cols: Integer[ArrayLike, " nnz"], n: int | None = None, *,
        ordering: _opts.Ordering = "default", pivot_tol: float | None = None, scale: str | None = None,
    ) -> SymbolicHandle:
        """Symbolic analysis (fill-reducing ordering) of an n x n pattern; n defaults to max index + 1.
        `ordering`, `pivot_tol`, `scale`: as the solver fields of the same names (docs/numerics.md); kept with
        the analysis and used by every factorization made from it."""
        options = _opts.checked_native(self._fn("analyze"), self._engine.name, ordering, pivot_tol, scale, n)
        return _f.analyze(self._engine, rows, cols, n, fn=self._fn("analyze"), options=options)

    def factor(self, symbolic: SymbolicHandle, values: Inexact[ArrayLike, " nnz"]) -> NumericHandle:
        """Numeric factorization of the matrix with `symbolic`'s pattern and these `values` (eager); raises
        `nativax.SingularMatrixError` on a singular or (CHOLMOD) not positive definite matrix."""
        return _f.factor(self._engine, symbolic, values, fn=self._fn("factor"))

    def refactor(self, numeric: NumericHandle, values: Inexact[ArrayLike, " nnz"]) -> NumericHandle:
        """New values on the same pattern and analysis. Consumes `numeric`: the old handle is freed."""
        return _f.refactor(self._engine, numeric, values, fn=self._fn("refactor"))

    def solve_with_symbolic(
        self,
        symbolic: SymbolicHandle,
        values: Inexact[ArrayLike, "*n_lhs nnz"],
        b: Inexact[ArrayLike, "..."],
        *,
        transpose: bool = False,
    ) -> Inexact[Array, "..."]:
        """As `solve`, reusing a held symbolic analysis (values may be traced: jit/vmap/grad-safe)."""
        return _f.solve_with_symbolic(
            self._engine, symbolic, values, b, transpose=transpose, fn=self._fn("solve_with_symbolic")
        )

    def solve_with_numeric(
        self, numeric: NumericHandle, b: Inexact[ArrayLike, "..."], *, transpose: bool = False
    ) -> Inexact[Array, "..."]:
        """Solve with a held factorization (factor once, solve many). Differentiable wrt `b`."""
        return _f.solve_with_numeric(self._engine, numeric, b, transpose=transpose, fn=self._fn("solve_with_numeric"))

    def free_symbolic(self, symbolic: SymbolicHandle) -> None:
        """Free a symbolic handle now (idempotent; also happens on garbage collection)."""
        if not isinstance(symbolic, SymbolicHandle):
            raise TypeError(f"nativax.{self._fn('free_symbolic')}: expected a SymbolicHandle")
        symbolic.close()

    def free_numeric(self, numeric: NumericHandle) -> None:
        """Free a numeric handle now (idempotent; also happens on garbage collection)."""
        if not isinstance(numeric, NumericHandle):
            raise TypeError(f"nativax.{self._fn('free_numeric')}: expected a NumericHandle")
        numeric.close()
