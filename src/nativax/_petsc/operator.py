"""`RowPartitionedOperator`: a square sparse matrix of which each process holds only its own rows.

Process p (MPI rank p, started by `mpiexec`) holds rows `[row_start_p, row_start_p + m_p)` as CSR with global
column indices (`LocalRows`, static) and the matching values (the only array leaf: what `jax.grad`/`jax.vmap`
see). Vectors are row-partitioned the same way: each process passes and gets back its own `m_p` entries, as a
plain local JAX array. Blocks follow rank order (rank 0 holds the first rows, and so on), which is how PETSc
distributes an MPIAIJ matrix. Nothing ever holds the global pattern: memory is O(m_p + local nnz).

`mv` is this process's block of `A @ x`: a halo gather of the x entries its columns touch (a PETSc VecScatter,
collective) followed by a local segment sum, so it is linear and differentiable in `values`, which is all
lineax needs for derivatives of `linear_solve` with respect to the matrix.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from . import ffi
from .rows import LocalRows


def _frozenset(tags: Any) -> frozenset:
    if isinstance(tags, (set, frozenset, list, tuple)):
        return frozenset(tags)
    return frozenset([tags])


def block_rows(n_global: int, rank: int, size: int) -> tuple[int, int]:
    """The even contiguous split PETSc's `PETSC_DECIDE` makes: rows `[start, stop)` of process `rank` of `size`."""
    for name, v in (("n_global", n_global), ("rank", rank), ("size", size)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"block_rows: `{name}` must be an int, got {v!r}")
    if size < 1 or not 0 <= rank < size or n_global < size:
        raise ValueError(f"block_rows: need 0 <= rank < size <= n_global, got rank={rank}, size={size}, n_global={n_global}")
    base, extra = divmod(int(n_global), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class RowPartitionedOperator(lx.AbstractLinearOperator):
    """This process's rows of a square `n_global x n_global` sparse matrix (see the module docstring).

    Build it from local data with `from_local_csr`, or (for tests and small problems, where one process may
    hold a global matrix) cut this rank's rows out of a scipy matrix with `from_scipy_rows`. Solve with
    `lx.linear_solve(op, b_local, nativax.PETSc(...))`, where `b_local` has this process's `m` entries.
    """

    values: Float[Array, " nnz"]
    """The local entries, aligned with `rows.cols` (CSR order)."""
    rows: LocalRows = eqx.field(static=True)
    """The static local structure (CSR with global column indices)."""
    tags: frozenset = eqx.field(static=True)
    """lineax tags of the global matrix (unchecked promises, e.g. `lx.symmetric_tag`)."""

    def __init__(self, values: Float[ArrayLike, " nnz"], rows: LocalRows, tags: Any = ()):
        if not isinstance(rows, LocalRows):
            raise TypeError(f"RowPartitionedOperator: `rows` must be a LocalRows, got {type(rows).__name__}")
        values = jnp.asarray(values)
        if values.shape != (rows.nnz,):
            raise ValueError(f"RowPartitionedOperator: `values` must have shape ({rows.nnz},), got {values.shape}")
        if not jnp.issubdtype(values.dtype, jnp.floating):
            raise TypeError(
                f"RowPartitionedOperator: `values` must be real floating point (this PETSc build is real), got {values.dtype}"
            )
        self.values = values
        self.rows = rows
        self.tags = _frozenset(tags)

    @classmethod
    def from_local_csr(cls, row_ptr: ArrayLike, cols: ArrayLike, values: ArrayLike, n_global: int, row_start: int,
                       tags: Any = ()) -> "RowPartitionedOperator":
        """From this process's CSR rows (global column indices, sorted within rows) starting at `row_start`."""
        return cls(values, LocalRows(np.asarray(row_ptr), np.asarray(cols), n_global, row_start), tags)

    @classmethod
    def from_scipy_rows(cls, matrix: Any, row_start: int, row_stop: int, tags: Any = ()) -> "RowPartitionedOperator":
        """Rows `[row_start, row_stop)` of a square scipy sparse matrix (explicit zeros kept; sorted columns)."""
        import scipy.sparse as sp

        if not sp.issparse(matrix) or matrix.shape[0] != matrix.shape[1]:
            raise TypeError("RowPartitionedOperator.from_scipy_rows: `matrix` must be a square scipy.sparse matrix")
        block = sp.csr_matrix(matrix[row_start:row_stop])
        block.sum_duplicates()
        block.sort_indices()
        return cls.from_local_csr(block.indptr, block.indices, block.data, matrix.shape[0], row_start, tags)

    @property
    def local_shape(self) -> tuple[int, int]:
        """`(m, n_global)`: this process's block of rows."""
        return (self.rows.m, self.rows.n_global)

    def mv(self, vector: Float[ArrayLike, " m"]) -> Float[Array, " m"]:
        """This process's block of `A @ x`, given this process's block of `x` (collective: every rank calls it)."""
        vector = jnp.asarray(vector)
        if vector.shape != (self.rows.m,):
            raise ValueError(f"RowPartitionedOperator.mv: `vector` must be this rank's ({self.rows.m},) block, got {vector.shape}")
        halo = ffi.gather(self.rows.cols, vector.astype(jnp.float64), self.rows.n_global)
        dtype = jnp.result_type(self.values.dtype, vector.dtype)
        contrib = self.values.astype(dtype) * halo.astype(dtype)
        return jax.ops.segment_sum(contrib, jnp.asarray(self.rows.local_row_ids), num_segments=self.rows.m)

    def as_matrix(self) -> Array:
        raise NotImplementedError(
            "RowPartitionedOperator.as_matrix: no process holds the whole matrix; use mv, or nativax.PETSc to solve"
        )

    def transpose(self) -> "_TransposedRows":
        if lx.symmetric_tag in self.tags:
            return self  # type: ignore[return-value]
        return _TransposedRows(self)

    def in_structure(self) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct((self.rows.m,), self.values.dtype)

    def out_structure(self) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct((self.rows.m,), self.values.dtype)


class _TransposedRows(lx.AbstractLinearOperator):
    """The transpose of a `RowPartitionedOperator`, as lineax's adjoint solve names it (the PETSc solver solves
    with it through `KSPSolveTranspose`; its mat-vec is not needed by first derivatives and is not provided)."""

    operator: RowPartitionedOperator

    def mv(self, vector):
        raise NotImplementedError("nativax: the mat-vec of a transposed RowPartitionedOperator is not implemented")

    def as_matrix(self):
        return self.operator.as_matrix()

    def transpose(self):
        return self.operator

    def in_structure(self):
        return self.operator.out_structure()

    def out_structure(self):
        return self.operator.in_structure()


# ---- lineax dispatch registrations -------------------------------------------------------------------


@lx.linearise.register(RowPartitionedOperator)
@lx.materialise.register(RowPartitionedOperator)
@lx.linearise.register(_TransposedRows)
@lx.materialise.register(_TransposedRows)
def _(operator):
    return operator


def _no(name):
    def f(operator):
        raise NotImplementedError(f"nativax: lx.{name} of a row-partitioned operator is not available")

    return f


for _fn in (lx.diagonal, lx.tridiagonal):
    _fn.register(RowPartitionedOperator)(_no(_fn.__name__))
    _fn.register(_TransposedRows)(_no(_fn.__name__))


def _tag(tag):
    return lambda operator: tag in operator.tags


def _ttag(tag):
    return lambda operator: tag in lx.transpose_tags(operator.operator.tags)


for _fn, _t in (
    (lx.is_symmetric, lx.symmetric_tag),
    (lx.is_diagonal, lx.diagonal_tag),
    (lx.is_tridiagonal, lx.tridiagonal_tag),
    (lx.has_unit_diagonal, lx.unit_diagonal_tag),
    (lx.is_lower_triangular, lx.lower_triangular_tag),
    (lx.is_upper_triangular, lx.upper_triangular_tag),
    (lx.is_positive_semidefinite, lx.positive_semidefinite_tag),
    (lx.is_negative_semidefinite, lx.negative_semidefinite_tag),
):
    _fn.register(RowPartitionedOperator)(_tag(_t))
    _fn.register(_TransposedRows)(_ttag(_t))


@lx.conj.register(RowPartitionedOperator)
@lx.conj.register(_TransposedRows)
def _(operator):
    return operator  # real values only
