"""`SparseOperator`: a lineax linear operator backed by a static `SparsityPattern` and a differentiable
`values` array, with all lineax dispatch functions registered."""

import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Inexact

from .packing import promote
from .pattern import SparsityPattern

_SYMMETRIC_TAGS = (lx.symmetric_tag, lx.diagonal_tag, lx.positive_semidefinite_tag, lx.negative_semidefinite_tag)


class PrecisionLossWarning(UserWarning):
    """Double-precision input was rounded to single precision because `jax_enable_x64` is off."""


def _user_stacklevel() -> int:
    """The `stacklevel` of the first frame outside nativax and the libraries (the caller's line)."""
    import sys

    from .._sparsity.fallback import _is_library

    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None and _is_library(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level if frame is not None else 2


def _values_array(values: Any, who: str) -> jax.Array:
    """`jnp.asarray(values)`, warning when float64/complex128 host data is silently truncated
    to 32 bits (JAX's default with `jax_enable_x64` off): an ill-conditioned matrix can become
    singular, and every answer loses about half its digits."""
    if not isinstance(values, jax.Array) and not isinstance(values, jax.core.Tracer):
        dtype = getattr(values, "dtype", None)
        if dtype is None:
            dtype = np.asarray(values).dtype
        if np.dtype(dtype) in (np.float64, np.complex128) and not jax.config.read("jax_enable_x64"):
            import warnings

            warnings.warn(
                f"{who}: {np.dtype(dtype)} values are truncated to "
                f"{'float32' if np.dtype(dtype) == np.float64 else 'complex64'} because JAX runs with "
                "`jax_enable_x64` off; enable it with jax.config.update('jax_enable_x64', True) at startup "
                "to keep double precision (or pass float32 data to make the choice explicit)",
                PrecisionLossWarning,
                stacklevel=_user_stacklevel(),
            )
    return jnp.asarray(values)


def _frozenset(tags: Any) -> frozenset:
    if isinstance(tags, (set, frozenset, list, tuple)):
        return frozenset(tags)
    return frozenset([tags])


class ValuesOrderWarning(UserWarning):
    """Host values met a pattern that `SparsityPattern.from_coo` had to reorder: they must follow the pattern's
    CSC order (`pattern.rows`/`pattern.cols`), not the COO order the pattern was built from."""


_FIX = ("Build the operator with SparseOperator.from_coo(rows, cols, values, shape), or reorder with the `where` "
        "that from_coo returns: jnp.zeros(pattern.nnz).at[where].add(values)")


def _check_coo_order(values: Any, pattern: SparsityPattern) -> None:
    """The values-order trap of `SparseOperator(values, SparsityPattern.from_coo(...)[0])`: values in the
    caller's COO order would silently misplace every entry. Raise when their length proves it (duplicates were
    merged, so COO order is longer than nnz), warn once per pattern when it is merely possible."""
    where = pattern.__dict__.get("_coo_where")
    if where is None:
        return
    size = np.size(values)
    if size == where.size and size != pattern.nnz:
        raise ValueError(
            f"SparseOperator: `values` has {size} entries, one per COO entry given to SparsityPattern.from_coo, "
            f"but the pattern merged duplicates into {pattern.nnz} entries in CSC order (your COO order would "
            f"misplace values). " + _FIX
        )
    if not pattern.__dict__.get("_warned_coo_order"):
        pattern.__dict__["_warned_coo_order"] = True
        warnings.warn(
            "SparseOperator: `pattern` came from SparsityPattern.from_coo, which had to reorder your entries; "
            "`values` must follow the pattern's CSC order (pattern.rows / pattern.cols), not your COO order. "
            "If they do, ignore this warning (it is given once per pattern); if not: " + _FIX,
            ValuesOrderWarning, stacklevel=3,
        )


class SparseOperator(lx.AbstractLinearOperator):
    """A sparse `m x n` matrix as a lineax operator.

    `values` (shape `(nnz,)`, aligned with `pattern.rows`/`pattern.cols`) is the only array leaf, so it is what
    `jax.grad`/`jax.vmap` see; the pattern is static. Tags (e.g. `lx.symmetric_tag`) are unchecked promises,
    as in lineax.
    """

    values: Inexact[Array, " nnz"]
    """The stored entries, aligned with `pattern.rows`/`pattern.cols`: the only (differentiable) leaf."""
    pattern: SparsityPattern = eqx.field(static=True)
    """Static, hashable structure."""
    tags: frozenset = eqx.field(static=True)
    """lineax tags (unchecked promises such as `lx.symmetric_tag`)."""

    def __init__(self, values: Inexact[ArrayLike, " nnz"], pattern: SparsityPattern, tags: Any = ()):
        if not isinstance(pattern, SparsityPattern):
            raise TypeError(f"SparseOperator: `pattern` must be a SparsityPattern, got {type(pattern).__name__}")
        if isinstance(values, (np.ndarray, list, tuple)):
            _check_coo_order(values, pattern)
        values = _values_array(values, "SparseOperator")
        if values.shape != (pattern.nnz,):
            raise ValueError(
                f"SparseOperator: `values` must have shape ({pattern.nnz},) to match the pattern, got {values.shape}"
            )
        if not jnp.issubdtype(values.dtype, jnp.inexact):
            values = values.astype(jnp.result_type(float))
        self.values = values
        self.pattern = pattern
        self.tags = _frozenset(tags)

    # ---- constructors ----------------------------------------------------------------------------------
    @classmethod
    def from_coo(cls, rows: ArrayLike, cols: ArrayLike, values: ArrayLike, shape: tuple[int, int], tags: Any = ()):
        """From COO triplets; duplicates are summed. `rows`/`cols` must be concrete; `values` may be traced."""
        pattern, where = SparsityPattern._from_coo(rows, cols, shape)
        values = _values_array(values, "SparseOperator.from_coo")
        if values.shape != where.shape:
            raise ValueError(
                f"SparseOperator.from_coo: `values` must have shape {where.shape} like `rows`, got {values.shape}"
            )
        if not jnp.issubdtype(values.dtype, jnp.inexact):
            values = values.astype(jnp.result_type(float))
        summed = jnp.zeros(pattern.nnz, values.dtype).at[where].add(values)
        return cls(summed, pattern, tags)

    @classmethod
    def from_scipy(cls, matrix: Any, tags: Any = ()):
        """From any `scipy.sparse` matrix/array (explicit zeros are kept as structural entries)."""
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"SparseOperator.from_scipy: `matrix` must be a scipy.sparse matrix, got {type(matrix).__name__}")
        coo = matrix.tocoo()
        return cls.from_coo(coo.row, coo.col, coo.data, coo.shape, tags)

    @classmethod
    def from_bcoo(cls, matrix: Any, tags: Any = ()):
        """From a `jax.experimental.sparse.BCOO` (2-D, no batch dims); its data may be traced."""
        if getattr(matrix, "ndim", None) != 2 or not hasattr(matrix, "indices"):
            raise TypeError("SparseOperator.from_bcoo: `matrix` must be a 2-D jax.experimental.sparse.BCOO")
        idx = np.asarray(matrix.indices)
        if idx.ndim != 2 or idx.shape[-1] != 2 or np.ndim(matrix.data) != 1:
            raise TypeError("SparseOperator.from_bcoo: `matrix` must be a 2-D BCOO with no batch or dense dims")
        # BCOO pads with out-of-bound indices (jax.experimental.sparse uses index = shape); they are not
        # entries (BCOO.todense drops them), so neither are they here.
        keep = np.flatnonzero((idx[:, 0] < matrix.shape[0]) & (idx[:, 1] < matrix.shape[1]))
        data = matrix.data if keep.size == idx.shape[0] else jnp.asarray(matrix.data)[keep]
        return cls.from_coo(idx[keep, 0], idx[keep, 1], data, matrix.shape, tags)

    @classmethod
    def from_dense(cls, matrix: ArrayLike, tags: Any = (), *, pattern: SparsityPattern | None = None):
        """From a dense matrix. Concrete input keeps its nonzeros; traced input (inside jit) needs `pattern`,
        else the full dense pattern is used (correct, but not sparse)."""
        matrix = _values_array(matrix, "SparseOperator.from_dense")
        if matrix.ndim != 2:
            raise ValueError(f"SparseOperator.from_dense: `matrix` must be 2-D, got shape {matrix.shape}")
        if pattern is None:
            try:
                nz = np.nonzero(np.asarray(matrix))
            except Exception:  # traced: the structure is unknown, so keep everything
                m, n = matrix.shape
                nz = np.nonzero(np.ones((m, n), bool))
            pattern, _ = SparsityPattern._from_coo(nz[0], nz[1], (int(matrix.shape[0]), int(matrix.shape[1])))
        elif pattern.shape != matrix.shape:
            raise ValueError(f"SparseOperator.from_dense: `pattern` shape {pattern.shape} != matrix shape {matrix.shape}")
        return cls(matrix[pattern.rows, pattern.cols], pattern, tags)

    def to_scipy(self):
        """As a `scipy.sparse.csc_matrix` (requires concrete values)."""
        import scipy.sparse as sp

        return sp.csc_matrix((np.asarray(self.values), (self.pattern.rows, self.pattern.cols)), shape=self.pattern.shape)

    def to_bcoo(self):
        """As a `jax.experimental.sparse.BCOO` (values stay traced/differentiable)."""
        from jax.experimental import sparse as jsparse

        idx = jnp.stack([jnp.asarray(self.pattern.rows), jnp.asarray(self.pattern.cols)], axis=1)
        return jsparse.BCOO((self.values, idx), shape=self.pattern.shape, indices_sorted=False, unique_indices=True)

    # ---- lineax operator interface ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """`(m, n)`, from the pattern."""
        return self.pattern.shape

    def mv(self, vector: Inexact[ArrayLike, " n"]) -> Inexact[Array, " m"]:
        """`A @ vector` (pure JAX: differentiable wrt `values` and `vector`, any backend)."""
        vector = jnp.asarray(vector)
        if vector.shape != (self.shape[1],):
            raise ValueError(f"SparseOperator.mv: `vector` must have shape ({self.shape[1]},), got {vector.shape}")
        dtype = promote(self.values.dtype, vector.dtype)
        contrib = self.values.astype(dtype) * vector.astype(dtype)[self.pattern.cols]
        return jax.ops.segment_sum(contrib, jnp.asarray(self.pattern.rows), num_segments=self.shape[0])

    def as_matrix(self) -> Inexact[Array, "m n"]:
        """The dense `(m, n)` matrix (for checks and small problems; memory O(m n))."""
        return jnp.zeros(self.shape, self.values.dtype).at[self.pattern.rows, self.pattern.cols].set(self.values)

    def transpose(self) -> "SparseOperator":
        """`A^T` as a `SparseOperator` (values permuted to the transposed pattern's CSC order; tags transposed).
        An operator tagged symmetric is returned as is."""
        if lx.is_symmetric(self):
            return self
        p = self.pattern
        return SparseOperator(self.values[p.transpose_perm], p.T, lx.transpose_tags(self.tags))

    def in_structure(self) -> jax.ShapeDtypeStruct:
        """The input vector's shape and dtype: `(n,)`, the values' dtype."""
        return jax.ShapeDtypeStruct((self.shape[1],), self.values.dtype)

    def out_structure(self) -> jax.ShapeDtypeStruct:
        """The output vector's shape and dtype: `(m,)`, the values' dtype."""
        return jax.ShapeDtypeStruct((self.shape[0],), self.values.dtype)


# ---- lineax dispatch registrations (13 functions) -------------------------------------------------------


@lx.linearise.register(SparseOperator)
@lx.materialise.register(SparseOperator)
def _(operator):
    return operator


@lx.diagonal.register(SparseOperator)
def _(operator):
    idx, slots = operator.pattern.diagonal_slots
    size = min(operator.shape)
    return jnp.zeros(size, operator.values.dtype).at[idx].set(operator.values[slots])


@lx.tridiagonal.register(SparseOperator)
def _(operator):
    p = operator.pattern
    n = operator.shape[0]
    off = p.rows.astype(np.int64) - p.cols
    out = []
    for k, size in ((0, n), (1, n - 1), (-1, n - 1)):  # diagonal, lower, upper
        s = np.flatnonzero(off == k)
        out.append(jnp.zeros(size, operator.values.dtype).at[np.minimum(p.rows[s], p.cols[s])].set(operator.values[s]))
    return tuple(out)


def _real(operator) -> bool:
    return not jnp.issubdtype(operator.values.dtype, jnp.complexfloating)


@lx.is_symmetric.register(SparseOperator)
def _(operator):
    if lx.symmetric_tag in operator.tags or _is_diag_pattern(operator):
        return True
    return _real(operator) and any(
        t in operator.tags for t in (lx.positive_semidefinite_tag, lx.negative_semidefinite_tag)
    )


def _is_diag_pattern(operator) -> bool:
    p = operator.pattern
    return p.shape[0] == p.shape[1] and bool(np.all(p.rows == p.cols))


@lx.is_diagonal.register(SparseOperator)
def _(operator):
    return lx.diagonal_tag in operator.tags or _is_diag_pattern(operator)


@lx.is_tridiagonal.register(SparseOperator)
def _(operator):
    lo, up = operator.pattern.band()
    return lx.tridiagonal_tag in operator.tags or (
        operator.shape[0] == operator.shape[1] and lo <= 1 and up <= 1
    )


@lx.has_unit_diagonal.register(SparseOperator)
def _(operator):
    return lx.unit_diagonal_tag in operator.tags


@lx.is_lower_triangular.register(SparseOperator)
def _(operator):
    return lx.lower_triangular_tag in operator.tags or (
        operator.shape[0] == operator.shape[1] and operator.pattern.band()[1] == 0
    )


@lx.is_upper_triangular.register(SparseOperator)
def _(operator):
    return lx.upper_triangular_tag in operator.tags or (
        operator.shape[0] == operator.shape[1] and operator.pattern.band()[0] == 0
    )


@lx.is_positive_semidefinite.register(SparseOperator)
def _(operator):
    return lx.positive_semidefinite_tag in operator.tags


@lx.is_negative_semidefinite.register(SparseOperator)
def _(operator):
    return lx.negative_semidefinite_tag in operator.tags


@lx.conj.register(SparseOperator)
def _(operator):
    return SparseOperator(operator.values.conj(), operator.pattern, operator.tags)
