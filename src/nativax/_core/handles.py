"""Python side of native handle lifetime: symbolic analyses and numeric factorizations held by the user.

A handle wraps a registry id (slot + generation). It is freed by `with`, `.close()`, or garbage collection
(`weakref.finalize`) as a backstop. Double free is a no-op; using a freed handle raises a clear error (the
native side checks the id's generation and never touches freed memory). With `NATIVAX_IGNORE_MANUAL_FREE=1`
manual frees become no-ops (garbage collection still frees), for debugging lifetime problems.
"""

import os
import weakref
from typing import Any

import numpy as np

from .native import lib


class FreedHandleError(RuntimeError):
    """Raised when a handle is used after it was closed, consumed by `refactor`, or finalized."""


class SingularMatrixError(np.linalg.LinAlgError):
    """Raised by eager KLU factorizations when the matrix is singular."""


class _Handle:
    """Base class: owns one native registry id."""

    __slots__ = ("_id", "_finalizer", "__weakref__")
    _kind = "handle"

    def __init__(self, handle_id: int):
        self._id = int(handle_id)
        self._finalizer = weakref.finalize(self, lib.free_handle, self._id)

    @property
    def id(self) -> int:
        """The native registry id; raises `FreedHandleError` if the handle was freed."""
        self.check_alive()
        return self._id

    @property
    def closed(self) -> bool:
        """Whether the native object has been freed."""
        return not lib.handle_alive(self._id)

    def check_alive(self) -> None:
        """Raise `FreedHandleError` if the handle was freed."""
        if not lib.handle_alive(self._id):
            raise FreedHandleError(
                f"this {self._kind} handle has been freed (closed, consumed by `refactor`, or released by "
                "`nativax.finalize()`); create a new one"
            )

    def close(self) -> None:
        """Free the native object now. Idempotent."""
        if os.environ.get("NATIVAX_IGNORE_MANUAL_FREE", "") == "1":
            return
        self._finalizer()

    def _consumed(self) -> None:
        # The native side already released the id (e.g. refactor moved the factorization elsewhere).
        self._finalizer.detach()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __hash__(self) -> int:
        return hash((type(self), self._id))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._id == self._id  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        state = "freed" if self.closed else "live"
        return f"{type(self).__name__}(id={self._id}, {state})"


class SymbolicHandle(_Handle):
    """A KLU symbolic analysis (ordering) of one sparsity pattern."""

    __slots__ = ("n", "rows", "cols")
    _kind = "KLU symbolic"

    def __init__(self, handle_id: int, n: int, rows: np.ndarray, cols: np.ndarray):
        super().__init__(handle_id)
        self.n = n
        self.rows = rows
        self.cols = cols

    @property
    def nnz(self) -> int:
        """Number of COO entries of the analysed pattern."""
        return int(self.rows.shape[0])


class NumericHandle(_Handle):
    """A KLU numeric LU factorization of one matrix (pattern + values)."""

    __slots__ = ("symbolic", "values")
    _kind = "KLU numeric"

    def __init__(self, handle_id: int, symbolic: SymbolicHandle, values: np.ndarray):
        super().__init__(handle_id)
        self.symbolic = symbolic
        self.values = values  # read-only copy, used for mat-vecs in autodiff

    @property
    def n(self) -> int:
        """Matrix size."""
        return self.symbolic.n

    @property
    def dtype(self) -> np.dtype:
        """float64 or complex128: the precision of the factorization."""
        return self.values.dtype

    @property
    def rcond(self) -> float:
        """KLU's cheap reciprocal condition estimate min|U_ii| / max|U_ii|."""
        return float(lib.handle_info(self.id)["rcond"])
