"""KLU functional API: differentiable solves and dots, and the eager handle API (public face: `nativax.klu`)."""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Inexact, Integer

from ..._core.handles import NumericHandle, SingularMatrixError, SymbolicHandle
from ..._core.native import lib
from ..._core.packing import promote
from ..._core.status import raise_if_failed
from .. import shapes as shapes
from . import ffi as ffi

__all__ = [
    "solve",
    "dot",
    "analyze",
    "factor",
    "refactor",
    "solve_with_symbolic",
    "solve_with_numeric",
    "free_symbolic",
    "free_numeric",
]


def _dot_ref(rows, cols, v2: Array, x3: Array, n_rows: int) -> Array:
    """Pure-JAX COO mat-vec (differentiable and transposable); used for autodiff rules."""
    dtype = promote(v2.dtype, x3.dtype)
    contrib = v2.astype(dtype)[:, :, None] * x3.astype(dtype)[:, cols, :]
    batch = max(v2.shape[0], x3.shape[0])
    return jnp.zeros((batch, n_rows, x3.shape[-1]), dtype).at[:, rows, :].add(contrib)


def _linear_solve(
    matvec: Callable[[Array], Array],
    native: Callable[[Array, int], tuple[Array, Array]],
    b3: Array,
    transpose: bool,
    split: bool,
) -> Array:
    """x = op(A)^{-1} b3 via `lax.custom_linear_solve`: native solves forward and in the adjoint (KLU tsolve on
    the same, cached, factorization); `matvec` (pure JAX) supplies derivatives wrt the matrix values."""
    fwd, bwd = (ffi.MODE_T, ffi.MODE_A) if transpose else (ffi.MODE_A, ffi.MODE_T)
    return jax.lax.custom_linear_solve(
        matvec, b3, lambda _, r: _run_native(native, fwd, r, split), lambda _, r: _run_native(native, bwd, r, split)
    )


def _run_native(native: Callable[[Array, int], tuple[Array, Array]], mode: int, rhs: Array, split: bool) -> Array:
    """One native solve of `rhs`; raises (also under jit) on a failed status."""
    if split:  # real matrix, complex rhs: one native call on [Re | Im]
        k = rhs.shape[-1]
        x, status = native(jnp.concatenate([rhs.real, rhs.imag], axis=-1), mode)
        return raise_if_failed(jax.lax.complex(x[..., :k], x[..., k:]), status).astype(rhs.dtype)
    x, status = native(rhs, mode)
    return raise_if_failed(x, status)


@partial(jax.jit, static_argnums=(2, 3))
def _held_solve(words: Array, b3: Array, mode: int, split: bool) -> Array:
    """Eager fast path of `solve_with_numeric` when nothing is differentiated: one compiled native call (the
    handle is a runtime operand, so every handle shares the executable)."""
    return _run_native(lambda rhs, m: ffi.solve_numeric_words(words, rhs, m), mode, b3, split)


def _prepare(values: ArrayLike, b: ArrayLike, nnz: int, fn: str, n: int | None = None):
    values = shapes.float_array(values, "values", fn)
    b = shapes.float_array(b, "b", fn)
    vdt, bdt, split = shapes.compute_dtypes(values, b)
    out_dtype = promote(values.dtype, b.dtype)
    v2, b3, unflatten = shapes.canonical(values.astype(vdt), b.astype(bdt), nnz, fn, n)
    batch = max(v2.shape[0], b3.shape[0])
    b3 = jnp.broadcast_to(b3, (batch, *b3.shape[1:]))
    return v2, b3, split, lambda x: unflatten(x).astype(out_dtype)


def solve(
    rows: Integer[ArrayLike, " nnz"],
    cols: Integer[ArrayLike, " nnz"],
    values: Inexact[ArrayLike, "*n_lhs nnz"],
    b: Inexact[ArrayLike, "..."],
    *,
    transpose: bool = False,
) -> Inexact[Array, "..."]:
    """Solve `A x = b` (or `A^T x = b`) for the n x n COO matrix `A[rows[i], cols[i]] += values[..., i]`.

    Shapes: `values` `(nnz,)` or `(n_lhs, nnz)`; `b` `(n,)`, `(n, n_rhs)`, `(n_lhs, n)` or `(n_lhs, n, n_rhs)`;
    n is taken from `b`. Duplicate entries are summed. Raises (also under jit) on a singular matrix or
    NaN/Inf in `values` or `b`.
    """
    r_idx, c_idx, _ = shapes.indices(rows, cols, None, "solve")
    v2, b3, split, unflatten = _prepare(values, b, r_idx.shape[0], "solve")
    n = b3.shape[1]
    shapes.indices(r_idx, c_idx, n, "solve")  # range check once n is known
    r_mv, c_mv = (c_idx, r_idx) if transpose else (r_idx, c_idx)
    native = lambda rhs, mode: ffi.solve(r_idx, c_idx, v2, rhs, mode)  # noqa: E731
    return unflatten(_linear_solve(lambda x: _dot_ref(r_mv, c_mv, v2, x, n), native, b3, transpose, split))


@partial(jax.custom_jvp, nondiff_argnums=(4,))
def _dot(rows, cols, v2, x3, n_rows):
    return ffi.dot(rows, cols, v2, x3, n_rows)


@_dot.defjvp
def _dot_jvp(n_rows, primals, tangents):
    rows, cols, v2, x3 = primals
    _, _, dv, dx = tangents
    y = _dot(rows, cols, v2, x3, n_rows)
    return y, _dot_ref(rows, cols, dv, x3, n_rows) + _dot_ref(rows, cols, v2, dx, n_rows)


def dot(
    rows: Integer[ArrayLike, " nnz"],
    cols: Integer[ArrayLike, " nnz"],
    values: Inexact[ArrayLike, "*n_lhs nnz"],
    x: Inexact[ArrayLike, "..."],
    *,
    n_rows: int | None = None,
) -> Inexact[Array, "..."]:
    """Sparse mat-vec `A @ x` with the native COO kernel (shapes as in `solve`; `n_rows` defaults to n)."""
    r_idx, c_idx, _ = shapes.indices(rows, cols, None, "dot")
    values = shapes.float_array(values, "values", "dot")
    x = shapes.float_array(x, "x", "dot")
    dt = promote(values.dtype, x.dtype)
    if dt in (jnp.float16, jnp.bfloat16):
        dt = jnp.float32
    v2, x3, _ = shapes.canonical(values.astype(dt), x.astype(dt), r_idx.shape[0], "dot")
    n_cols = x3.shape[1]
    m = n_cols if n_rows is None else int(n_rows)
    if shapes.is_concrete(r_idx) and shapes.is_concrete(c_idx):
        for name, idx, lim in (("rows", r_idx, m), ("cols", c_idx, n_cols)):
            if idx.size and (idx.max() >= lim):
                raise ValueError(f"nativax.klu.dot: `{name}` index {idx.max()} is out of range (< {lim})")
    y = _dot(r_idx, c_idx, v2, x3, m)
    out_shape = list(jnp.broadcast_shapes(
        (v2.shape[0],) if values.ndim == 2 else (), (x3.shape[0],) if x.ndim == 3 or (values.ndim == 2 and x.ndim == 2) else ()
    )) + [m] + ([x.shape[-1]] if (x.ndim == 2 and values.ndim == 1) or x.ndim == 3 else [])
    return y.reshape(out_shape).astype(promote(values.dtype, x.dtype))


# ----------------------------------------------------------------------------------------------------------
# Handle API (eager): analyze -> factor -> solve_with_numeric, refactor for new values on the same pattern.
# ----------------------------------------------------------------------------------------------------------


def analyze(rows: Integer[ArrayLike, " nnz"], cols: Integer[ArrayLike, " nnz"], n: int | None = None) -> SymbolicHandle:
    """Symbolic analysis (BTF + AMD ordering) of an n x n pattern; n defaults to max index + 1."""
    r = shapes.concrete(rows, "rows", "analyze")
    c = shapes.concrete(cols, "cols", "analyze")
    if n is None:
        n = int(max(r.max(initial=-1), c.max(initial=-1))) + 1
    if not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"nativax.klu.analyze: `n` must be a positive int, got {n!r}")
    r, c, _ = shapes.indices(r, c, int(n), "analyze")
    r = np.ascontiguousarray(r)
    c = np.ascontiguousarray(c)
    r.setflags(write=False)
    c.setflags(write=False)
    return SymbolicHandle(lib.klu_analyze(r, c, int(n)), int(n), r, c)


def _host_values(values: ArrayLike, nnz: int, fn: str, complex_: bool | None = None) -> np.ndarray:
    v = shapes.concrete(values, "values", fn)
    if v.dtype == np.bool_ or not np.issubdtype(v.dtype, np.number):
        raise TypeError(f"nativax.klu.{fn}: `values` must be a floating or complex array, got dtype {v.dtype}")
    if v.shape != (nnz,):
        raise ValueError(f"nativax.klu.{fn}: `values` must have shape ({nnz},), got {v.shape}")
    is_complex = np.iscomplexobj(v) if complex_ is None else complex_
    if complex_ is False and np.iscomplexobj(v):
        raise TypeError(f"nativax.klu.{fn}: complex `values` for a real factorization; complex is never cast "
                        "to real - factor the complex matrix instead")
    v = np.ascontiguousarray(v, dtype=np.complex128 if is_complex else np.float64)
    v.setflags(write=False)
    return v


def _check_status(result: int, fn: str) -> int:
    if result < 0:
        raise SingularMatrixError(f"nativax.klu.{fn}: the matrix is singular (KLU status {-result})")
    return result


def factor(symbolic: SymbolicHandle, values: Inexact[ArrayLike, " nnz"]) -> NumericHandle:
    """Numeric LU factorization of the matrix with `symbolic`'s pattern and these `values` (eager)."""
    if not isinstance(symbolic, SymbolicHandle):
        raise TypeError(f"nativax.klu.factor: `symbolic` must be a SymbolicHandle from `analyze`, got {type(symbolic).__name__}")
    v = _host_values(values, symbolic.nnz, "factor")
    hid = _check_status(lib.klu_factor(symbolic.id, v), "factor")
    return NumericHandle(hid, symbolic, v)


def refactor(numeric: NumericHandle, values: Inexact[ArrayLike, " nnz"]) -> NumericHandle:
    """Refactor with new values on the same pattern (`klu_refactor`, reusing the pivot order; falls back to a
    full factorization when the pivots degrade). Consumes `numeric`: the old handle is freed."""
    if not isinstance(numeric, NumericHandle):
        raise TypeError(f"nativax.klu.refactor: `numeric` must be a NumericHandle from `factor`, got {type(numeric).__name__}")
    v = _host_values(values, numeric.symbolic.nnz, "refactor", np.iscomplexobj(numeric.values))
    old_id = numeric.id
    result = lib.klu_refactor(old_id, v)
    numeric._consumed()
    hid = _check_status(result, "refactor")
    return NumericHandle(hid, numeric.symbolic, v)


def solve_with_symbolic(
    symbolic: SymbolicHandle,
    values: Inexact[ArrayLike, "*n_lhs nnz"],
    b: Inexact[ArrayLike, "..."],
    *,
    transpose: bool = False,
) -> Inexact[Array, "..."]:
    """As `solve`, reusing a held symbolic analysis (values may be traced: jit/vmap/grad-safe)."""
    if not isinstance(symbolic, SymbolicHandle):
        raise TypeError("nativax.klu.solve_with_symbolic: `symbolic` must be a SymbolicHandle from `analyze`")
    hid = symbolic.id
    v2, b3, split, unflatten = _prepare(values, b, symbolic.nnz, "solve_with_symbolic", symbolic.n)
    rows, cols = (symbolic.cols, symbolic.rows) if transpose else (symbolic.rows, symbolic.cols)
    native = lambda rhs, mode: ffi.solve_symbolic(hid, v2, rhs, mode)  # noqa: E731
    return unflatten(_linear_solve(lambda x: _dot_ref(rows, cols, v2, x, symbolic.n), native, b3, transpose, split))


def solve_with_numeric(
    numeric: NumericHandle, b: Inexact[ArrayLike, "..."], *, transpose: bool = False
) -> Inexact[Array, "..."]:
    """Solve with a held factorization (factor once, solve many). Differentiable wrt `b`."""
    if not isinstance(numeric, NumericHandle):
        raise TypeError("nativax.klu.solve_with_numeric: `numeric` must be a NumericHandle from `factor`")
    hid = numeric.id
    sym = numeric.symbolic
    b = shapes.float_array(b, "b", "solve_with_numeric")
    host_vals = numeric.values
    # A zero-stride stand-in with the values' shape and dtype: the shape/dtype logic needs no real values.
    vspec = np.broadcast_to(np.zeros((), np.complex128 if np.iscomplexobj(host_vals) else np.float64), host_vals.shape)
    vdt, bdt, split = shapes.compute_dtypes(vspec, b)  # type: ignore[arg-type]
    out_dtype = promote(vspec.dtype, b.dtype)
    _, b3, unflatten = shapes.canonical(vspec, b.astype(bdt), sym.nnz, "solve_with_numeric", sym.n)  # type: ignore[arg-type]
    if shapes.is_concrete(b):  # eager and not differentiated: skip the matvec set-up and the values transfer
        mode = ffi.MODE_T if transpose else ffi.MODE_A
        return unflatten(_held_solve(ffi.handle_words(hid), b3, mode, split)).astype(out_dtype)
    v2 = jnp.asarray(host_vals.astype(vdt)).reshape(1, -1)
    rows, cols = (sym.cols, sym.rows) if transpose else (sym.rows, sym.cols)
    native = lambda rhs, mode: ffi.solve_numeric(hid, rhs, mode)  # noqa: E731
    x = _linear_solve(lambda x: _dot_ref(rows, cols, v2, x, sym.n), native, b3, transpose, split)
    return unflatten(x).astype(out_dtype)


def free_symbolic(symbolic: SymbolicHandle) -> None:
    """Free a symbolic handle now (idempotent; also happens on garbage collection)."""
    if not isinstance(symbolic, SymbolicHandle):
        raise TypeError("nativax.klu.free_symbolic: expected a SymbolicHandle")
    symbolic.close()


def free_numeric(numeric: NumericHandle) -> None:
    """Free a numeric handle now (idempotent; also happens on garbage collection)."""
    if not isinstance(numeric, NumericHandle):
        raise TypeError("nativax.klu.free_numeric: expected a NumericHandle")
    numeric.close()
