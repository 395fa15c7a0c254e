"""`LocalRows`: the static structure of one process's block of rows of a row-partitioned sparse matrix."""

from __future__ import annotations

from typing import Any

import numpy as np


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


class LocalRows:
    """This process's rows `[row_start, row_start + m)` of an `n_global x n_global` matrix, as CSR with
    *global* column indices (`row_ptr` int32 `(m + 1,)`, `cols` int32 `(nnz,)`, sorted within each row, no
    duplicates). Memory O(m + local nnz). Hashable (by content) so it can be static pytree data."""

    __slots__ = ("row_ptr", "cols", "n_global", "row_start", "_hash", "__weakref__")

    def __init__(self, row_ptr: Any, cols: Any, n_global: int, row_start: int):
        rp = np.asarray(row_ptr)
        c = np.asarray(cols)
        for name, a in (("row_ptr", rp), ("cols", c)):
            if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer)):
                raise TypeError(f"LocalRows: `{name}` must be a 1-D integer array, got {a.dtype} with shape {a.shape}")
        if not isinstance(n_global, (int, np.integer)) or isinstance(n_global, bool) or n_global < 1:
            raise ValueError(f"LocalRows: `n_global` must be a positive int, got {n_global!r}")
        if n_global >= 2**31:
            raise ValueError("LocalRows: `n_global` must fit in int32 (this PETSc build has 32-bit indices)")
        m = rp.size - 1
        if not isinstance(row_start, (int, np.integer)) or isinstance(row_start, bool) or not 0 <= row_start <= n_global - max(m, 0):
            raise ValueError(f"LocalRows: `row_start` must be an int in [0, n_global - m], got {row_start!r}")
        if m < 0 or rp[0] != 0 or np.any(np.diff(rp) < 0) or rp[-1] != c.size:
            raise ValueError("LocalRows: `row_ptr` must start at 0, be nondecreasing and end at len(cols)")
        if c.size and (c.min() < 0 or c.max() >= n_global):
            raise ValueError(f"LocalRows: `cols` must be global column indices in [0, {n_global})")
        rows = np.repeat(np.arange(m), np.diff(rp))
        if c.size > 1:
            same_row = rows[1:] == rows[:-1]
            if np.any(same_row & (c[1:] <= c[:-1])):
                raise ValueError("LocalRows: `cols` must be strictly increasing within each row (sorted, no duplicates)")
        self.row_ptr = _readonly(rp.astype(np.int32))
        self.cols = _readonly(c.astype(np.int32))
        self.n_global = int(n_global)
        self.row_start = int(row_start)
        self._hash = hash((self.row_ptr.tobytes(), self.cols.tobytes(), self.n_global, self.row_start))

    @property
    def m(self) -> int:
        """Number of local rows."""
        return self.row_ptr.size - 1

    @property
    def nnz(self) -> int:
        """Number of local entries."""
        return self.cols.size

    @property
    def local_row_ids(self) -> np.ndarray:
        """The local row (0..m-1) of each entry."""
        return np.repeat(np.arange(self.m, dtype=np.int32), np.diff(self.row_ptr))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LocalRows)
            and self._hash == other._hash
            and self.n_global == other.n_global
            and self.row_start == other.row_start
            and np.array_equal(self.row_ptr, other.row_ptr)
            and np.array_equal(self.cols, other.cols)
        )

    def __repr__(self) -> str:
        return f"LocalRows(rows [{self.row_start}, {self.row_start + self.m}) of {self.n_global}, nnz={self.nnz})"
