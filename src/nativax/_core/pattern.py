"""`SparsityPattern`: the static, hashable structure of a sparse matrix (shape + unique COO entries in CSC
order). It is what the native caches key on and what `SparseOperator` keeps out of the pytree."""

from functools import cached_property
from typing import Any

import numpy as np

_INT32_MAX = 2**31 - 1


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int32)
    a.setflags(write=False)
    return a


def _checked(rows: Any, cols: Any, shape: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Concrete 1-D integer rows/cols of equal length, in range for `shape` (never wrapped to int32)."""
    try:
        r = np.asarray(rows)
        c = np.asarray(cols)
    except Exception:
        raise TypeError(
            "SparsityPattern: `rows`/`cols` must be concrete (not traced) integer arrays; the pattern is "
            "static structure, only values may be traced"
        ) from None
    try:
        m, n = (int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"SparsityPattern: `shape` must be (m, n) with m, n >= 0, got {shape!r}") from None
    if min(m, n) < 0:
        raise ValueError(f"SparsityPattern: `shape` must be (m, n) with m, n >= 0, got {shape}")
    if max(m, n) > _INT32_MAX:  # indices are stored as int32: larger ones would wrap around silently
        raise ValueError(f"SparsityPattern: `shape` {shape} exceeds the 32-bit index range (at most {_INT32_MAX})")
    for name, idx, lim in (("rows", r, m), ("cols", c, n)):
        if idx.ndim != 1:
            raise ValueError(f"SparsityPattern: `{name}` must be 1-D, got shape {idx.shape}")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"SparsityPattern: `{name}` must hold integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= lim):
            bad = int(np.flatnonzero((idx < 0) | (idx >= lim))[0])
            raise ValueError(
                f"SparsityPattern: `{name}[{bad}]` = {idx[bad]} is out of range for shape {shape} "
                f"(expected 0 <= {name[:-1]} < {lim})"
            )
    if r.shape != c.shape:
        raise ValueError(f"SparsityPattern: `rows` and `cols` differ in length ({r.size} vs {c.size})")
    return r, c, (m, n)


def _is_canonical(r: np.ndarray, c: np.ndarray) -> bool:
    """Whether the entries are unique and sorted by column, then row (no int64 keys needed)."""
    if r.size < 2:
        return True
    c_next, c_prev = c[1:], c[:-1]
    if bool(np.any(c_next < c_prev)):  # comparisons, not differences: safe for unsigned input
        return False
    return not bool(np.any((c_next == c_prev) & (r[1:] <= r[:-1])))


class SparsityPattern:
    """Immutable sparsity pattern of an `m x n` matrix.

    Entries are unique and sorted in column-major (CSC) order: by column, then by row. Build one with
    [`nativax.SparsityPattern.from_coo`][] (which also returns where each input entry went).
    """

    __slots__ = ("shape", "rows", "cols", "_hash", "__dict__")

    shape: tuple[int, int]
    """`(m, n)`: the matrix shape."""
    rows: np.ndarray
    """Row index of each stored entry (int32, read-only, CSC order)."""
    cols: np.ndarray
    """Column index of each stored entry (int32, read-only, nondecreasing)."""

    def __init__(self, rows: Any, cols: Any, shape: tuple[int, int]):
        """Wrap rows/cols that are already canonical (unique, CSC-sorted); checked, with a clear error naming
        the argument otherwise. Use `from_coo` for arbitrary COO input (duplicates, any order)."""
        r, c, (m, n) = _checked(rows, cols, shape)
        self.shape = (m, n)
        self.rows = _readonly(r)
        self.cols = _readonly(c)
        if self.nnz:
            key = self.cols.astype(np.int64) * max(m, 1) + self.rows
            step = np.diff(key)
            if step.size and step.min() <= 0:
                k = int(np.argmin(step)) + 1
                what = "a duplicate of the entry before it" if step[k - 1] == 0 else "out of CSC order"
                raise ValueError(
                    f"SparsityPattern: entry {k} (row {self.rows[k]}, col {self.cols[k]}) is {what}; the "
                    "constructor takes unique entries sorted by column then row. Use "
                    "`SparsityPattern.from_coo(rows, cols, shape)` for arbitrary COO input"
                )
        self._hash = hash((self.shape, self.rows.tobytes(), self.cols.tobytes()))

    def _set(self, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> None:
        """Fill the fields from checked, canonical rows/cols."""
        self.shape = shape
        self.rows = _readonly(rows)
        self.cols = _readonly(cols)
        self._hash = hash((self.shape, self.rows.tobytes(), self.cols.tobytes()))

    @classmethod
    def from_coo(
        cls, rows: Any, cols: Any, shape: tuple[int, int]
    ) -> "tuple[SparsityPattern, np.ndarray]":
        """Canonicalise COO indices. Returns the pattern and `where`: input entry k lands in slot `where[k]`
        (duplicates share a slot, so values are summed with `zeros(nnz).at[where].add(values)`).

        When the entries had to be reordered or merged, the pattern remembers `where`, so that
        `SparseOperator(host_values, pattern)` does not silently misplace values given in the caller's COO
        order: it raises when their length gives them away (duplicates were merged) and warns otherwise (use
        `SparseOperator.from_coo`, or reorder with `where`)."""
        pattern, where = cls._from_coo(rows, cols, shape)
        if where.size != pattern.nnz or not np.array_equal(where, np.arange(where.size)):
            pattern.__dict__["_coo_where"] = where
        return pattern, where

    @classmethod
    def _from_coo(cls, rows: Any, cols: Any, shape: tuple[int, int]) -> "tuple[SparsityPattern, np.ndarray]":
        """`from_coo` for nativax's own callers, which always reorder their values with `where`."""
        r, c, (m, n) = _checked(rows, cols, shape)
        if _is_canonical(r, c):
            # Already canonical (e.g. a CSC matrix's entries): a linear check instead of a sort,
            # and no second validation pass.
            pattern = cls.__new__(cls)
            pattern._set(r, c, (m, n))
            return pattern, np.arange(r.size, dtype=np.int32)
        key = c.astype(np.int64) * max(m, 1) + r.astype(np.int64)
        uniq, where = np.unique(key, return_inverse=True)
        pattern = cls((uniq % max(m, 1)).astype(np.int32), (uniq // max(m, 1)).astype(np.int32), (m, n))
        return pattern, where.astype(np.int32).reshape(-1)

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.rows.shape[0])

    def require_square(self, who: str) -> None:
        """Raise a `ValueError` (prefixed by `who`) unless this is a non-empty n x n pattern, as solvers need."""
        m, n = self.shape
        if m != n:
            raise ValueError(f"{who}: the operator must be square, got shape {self.shape}")
        if n == 0:
            raise ValueError(f"{who}: empty (0 x 0) operator")

    @cached_property
    def transpose_perm(self) -> np.ndarray:
        """Permutation p such that the transposed pattern's slot i holds this pattern's entry p[i]."""
        return _readonly(np.lexsort((self.cols, self.rows)))

    @cached_property
    def T(self) -> "SparsityPattern":
        """The transposed pattern (entries reordered to CSC order; see `transpose_perm`)."""
        p = self.transpose_perm
        return SparsityPattern(self.cols[p], self.rows[p], (self.shape[1], self.shape[0]))

    @cached_property
    def diagonal_slots(self) -> tuple[np.ndarray, np.ndarray]:
        """(diagonal index, slot) of the stored diagonal entries."""
        d = np.flatnonzero(self.rows == self.cols)
        return _readonly(self.rows[d]), _readonly(d)

    def band(self) -> tuple[int, int]:
        """(lower, upper) bandwidth of the stored entries."""
        if self.nnz == 0:
            return 0, 0
        off = self.rows.astype(np.int64) - self.cols
        return int(max(off.max(), 0)), int(max(-off.min(), 0))

    @cached_property
    def is_structurally_symmetric(self) -> bool:
        """Whether the pattern equals its transpose (square matrices only)."""
        return self.shape[0] == self.shape[1] and self == self.T

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return (
            isinstance(other, SparsityPattern)
            and self._hash == other._hash
            and self.shape == other.shape
            and np.array_equal(self.rows, other.rows)
            and np.array_equal(self.cols, other.cols)
        )

    def __repr__(self) -> str:
        return f"SparsityPattern(shape={self.shape}, nnz={self.nnz})"
