"""Python side of native handle lifetime: symbolic analyses and numeric factorizations held by the user.

A handle wraps a registry id (slot + generation). It is freed by `with`, `.close()`, or garbage collection
(`weakref.finalize`) as a backstop. Double free is a no-op; using a freed handle raises a clear error (the
native side checks the id's generation and never touches freed memory). With `NATIVAX_IGNORE_MANUAL_FREE=1`
manual frees become no-ops (garbage collection still frees), for debugging lifetime problems.

Handles are pytrees whose leaves are arrays: the id as a (2,) uint32 operand and, for a numeric handle, its
values; the pattern is static structure. So a solver holding handles passes through `jax.jit` /
`eqx.filter_jit` (e.g. `lx.linear_solve`) as runtime data: no compiled program or JAX cache key refers to
the handle object (it is collected as soon as the user drops it), and every handle of one pattern shares one
executable (no recompilation per `KLU.factor`). Unflattened inside a trace, a handle is a *view* (traced id,
no finalizer); the owner object outside keeps the native memory alive.

Pickling: a registry id means nothing in another process, so it is never pickled. A handle pickles as its
stored pattern (and values): unpickling re-runs the analysis/factorization in the new process (same cost as
the original `analyze`/`factor`). Pickling a freed handle raises `FreedHandleError`. The reducers live with
the code that builds handles (`_direct/functional.py`, registered through `copyreg`), so this module knows
nothing of the engines.
"""

import os
import weakref
from typing import Any

import jax
import numpy as np

from .._core.native import lib


class FreedHandleError(RuntimeError):
    """Raised when a handle is used after it was closed, consumed by `refactor`, or finalized."""


class SingularMatrixError(np.linalg.LinAlgError):
    """Raised by eager factorizations when the matrix is singular (or, for CHOLMOD, not positive definite
    or not symmetric)."""



_OWNERS: "weakref.WeakValueDictionary[int, _Handle]" = weakref.WeakValueDictionary()


def handle_words(handle_id: int) -> np.ndarray:
    """A handle id as the native side reads it: a read-only runtime (2,) uint32 operand (low word, high word).

    An operand rather than an FFI attribute, so the compiled solve does not depend on which handle it uses:
    one executable serves every handle (a new handle after each `refactor` costs no XLA compile, and JAX's
    executable caches do not grow with the number of handles ever used)."""
    u = int(handle_id) & 0xFFFFFFFFFFFFFFFF
    w = np.array([u & 0xFFFFFFFF, u >> 32], dtype=np.uint32)
    w.setflags(write=False)
    return w


def _concrete_id(words: Any) -> int | None:
    """The id encoded by a concrete (2,) uint32 leaf, or None (traced, or not such a leaf)."""
    if words is None:
        return None
    try:
        w = np.asarray(words)
    except Exception:
        return None
    if w.shape != (2,) or w.dtype != np.uint32:
        return None
    return int((int(w[1]) << 32) | int(w[0]))


class _Handle:
    """Base class: owns one native registry id (or, unflattened from a pytree, views one)."""

    __slots__ = ("_id", "_words", "_finalizer", "__weakref__")
    _kind = "handle"

    def __init__(self, handle_id: int):
        self._id: int | None = int(handle_id)
        self._words = handle_words(int(handle_id))
        self._finalizer: weakref.finalize | None = weakref.finalize(self, lib.free_handle, int(handle_id))
        _OWNERS[int(handle_id)] = self

    def _init_view(self, words: Any) -> None:
        self._id = _concrete_id(words)
        self._words = words
        self._finalizer = None

    @property
    def words(self) -> Any:
        """The id as the native handlers read it: a (2,) uint32 operand (traced inside `jit`)."""
        return self._words

    @property
    def id(self) -> int:
        """The native registry id; raises `FreedHandleError` if the handle was freed."""
        self.check_alive()
        assert self._id is not None
        return self._id

    @property
    def closed(self) -> bool:
        """Whether the native object has been freed."""
        if self._id is None:
            raise TypeError(f"this {self._kind} handle is traced (inside jit); ask outside jit")
        return not lib.handle_alive(self._id)

    def check_alive(self) -> None:
        """Raise `FreedHandleError` if the handle was freed."""
        if self._id is None:
            raise TypeError(f"this {self._kind} handle is traced (inside jit); its id is only known at run time")
        if not lib.handle_alive(self._id):
            raise FreedHandleError(
                f"this {self._kind} handle has been freed (closed, consumed by `refactor`, or released by "
                "`nativax.finalize()`); create a new one"
            )

    def close(self) -> None:
        """Free the native object now. Idempotent."""
        if os.environ.get("NATIVAX_IGNORE_MANUAL_FREE", "") == "1":
            return
        if self._finalizer is not None:
            self._finalizer()
        else:  # a view: free through its owner, if that is still alive
            owner = _OWNERS.get(self._id) if self._id is not None else None
            if owner is not None:
                owner.close()

    def _consumed(self) -> None:
        # The native side already released the id (e.g. refactor moved the factorization elsewhere).
        if self._finalizer is not None:
            self._finalizer.detach()

    def _pickle_check(self) -> None:
        if self._id is None:
            raise TypeError(f"cannot pickle a traced {self._kind} handle")
        if not lib.handle_alive(self._id):
            raise FreedHandleError(f"cannot pickle a freed {self._kind} handle (closed or consumed by `refactor`)")

    def __copy__(self):
        return self  # immutable: a copy would be the same native object

    def __deepcopy__(self, memo: dict) -> "_Handle":
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __hash__(self) -> int:
        return hash((type(self), self._id))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._id is not None and other._id == self._id  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        if self._id is None:
            return f"{type(self).__name__}(traced)"
        state = "freed" if self.closed else "live"
        return f"{type(self).__name__}(id={self._id}, {state})"


class _Structure:
    """Hashable (engine, n, rows, cols) of an analysed pattern: the static part of a symbolic handle's pytree."""

    __slots__ = ("engine", "n", "rows", "cols", "_hash")

    def __init__(self, engine: str, n: int, rows: np.ndarray, cols: np.ndarray):
        self.engine, self.n, self.rows, self.cols = engine, n, rows, cols
        self._hash = hash((engine, n, rows.tobytes(), cols.tobytes()))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, _Structure) and self._hash == other._hash and self.n == other.n
            and self.engine == other.engine
            and np.array_equal(self.rows, other.rows) and np.array_equal(self.cols, other.cols)
        )


class SymbolicHandle(_Handle):
    """A symbolic analysis (ordering) of one sparsity pattern by one engine (`engine`: "klu", "cholmod",
    "umfpack")."""

    __slots__ = ("_structure", "options")

    def __init__(self, handle_id: int, n: int, rows: np.ndarray, cols: np.ndarray, engine: str = "klu",
                 options: Any = None):
        super().__init__(handle_id)
        self._structure = _Structure(engine, int(n), rows, cols)
        self.options = options  # the ordering/pivoting options it was analysed with (None: the defaults)

    @property
    def _kind(self) -> str:  # type: ignore[override]
        return f"{self.engine.upper()} symbolic"

    @property
    def engine(self) -> str:
        """The engine that made the analysis ("klu", "cholmod", "umfpack")."""
        return self._structure.engine

    @property
    def n(self) -> int:
        """Matrix size."""
        return self._structure.n

    @property
    def rows(self) -> np.ndarray:
        """Row indices of the analysed COO pattern."""
        return self._structure.rows

    @property
    def cols(self) -> np.ndarray:
        """Column indices of the analysed COO pattern."""
        return self._structure.cols

    @property
    def nnz(self) -> int:
        """Number of COO entries of the analysed pattern."""
        return int(self.rows.shape[0])



class NumericHandle(_Handle):
    """A numeric factorization of one matrix (pattern + values) by the engine of its symbolic analysis."""

    __slots__ = ("symbolic", "values", "info")

    @property
    def _kind(self) -> str:  # type: ignore[override]
        return f"{self.engine.upper()} numeric"

    @property
    def engine(self) -> str:
        """The engine that made the factorization ("klu", "cholmod", "umfpack")."""
        return self.symbolic.engine

    def __init__(self, handle_id: int, symbolic: SymbolicHandle, values: np.ndarray):
        super().__init__(handle_id)
        self.symbolic = symbolic
        self.values = values  # read-only copy, used for mat-vecs in autodiff
        d = _handle_info(self.engine, int(handle_id))
        self.info = np.array([d["rcond"], d["factor_nnz"]], np.float64)
        """(rcond, nonzeros of L + U) at factorization time: a leaf, so solvers report it under `jit`."""

    @property
    def n(self) -> int:
        """Matrix size."""
        return self.symbolic.n

    @property
    def dtype(self) -> np.dtype:
        """float64 or complex128: the precision of the factorization."""
        return np.dtype(self.values.dtype)

    @property
    def rcond(self) -> float:
        """The engine's cheap reciprocal condition estimate (KLU, UMFPACK: min|U_ii| / max|U_ii|; CHOLMOD:
        (min L_ii / max L_ii)^2)."""
        return float(_handle_info(self.engine, self.id)["rcond"])



def _handle_info(engine: str, handle_id: int) -> dict:
    return getattr(lib, f"{engine}_handle_info")(handle_id)


# ---- pytree registration: ids and values are leaves, the pattern is static --------------------------------
def _flatten_symbolic(h: SymbolicHandle):
    return (h._words,), h._structure


def _unflatten_symbolic(structure: _Structure, leaves: tuple) -> SymbolicHandle:
    (words,) = leaves
    owner = _OWNERS.get(_concrete_id(words))  # type: ignore[arg-type]
    if isinstance(owner, SymbolicHandle) and owner._words is words:
        return owner
    view = SymbolicHandle.__new__(SymbolicHandle)
    view._init_view(words)
    view._structure = structure
    return view


def _flatten_numeric(h: NumericHandle):
    return (h._words, h.symbolic, h.values, h.info), None


def _unflatten_numeric(_: None, leaves: tuple) -> NumericHandle:
    words, symbolic, values, info = leaves
    owner = _OWNERS.get(_concrete_id(words))  # type: ignore[arg-type]
    if (isinstance(owner, NumericHandle) and owner._words is words and owner.symbolic is symbolic
            and owner.values is values and owner.info is info):
        return owner
    view = NumericHandle.__new__(NumericHandle)
    view._init_view(words)
    view.symbolic = symbolic
    view.values = values
    view.info = info
    return view


jax.tree_util.register_pytree_node(SymbolicHandle, _flatten_symbolic, _unflatten_symbolic)
jax.tree_util.register_pytree_node(NumericHandle, _flatten_numeric, _unflatten_numeric)
