"""The engine-agnostic functional sparse-direct API: `solve`, the eager handle API (`analyze`, `factor`,
`refactor`) and solves with held handles, each taking the `Engine` first. `nativax.klu` and the lineax
solvers are thin layers over these.

Every solve works under `jax.jit`, `jax.vmap` (folded into one native batched call) and forward/reverse
autodiff wrt `values` and `b`: `lax.custom_linear_solve` with native solves forward and in the adjoint (the
transposed solve on the same cached factorization) and a pure-JAX COO mat-vec for derivatives wrt the matrix.
"""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Inexact, Integer

from .._core.packing import promote
from .._core.status import MODE_A, MODE_T, raise_if_failed
from . import ffi, numerics, shapes
from .engine import Engine
from .handles import NumericHandle, SingularMatrixError, SymbolicHandle
from .options import DEFAULT, GIVEN, NativeOptions


def dot_ref(rows, cols, v2: Array, x3: Array, n_rows: int) -> Array:
    """Pure-JAX COO mat-vec (differentiable and transposable); used for autodiff rules."""
    dtype = promote(v2.dtype, x3.dtype)
    contrib = v2.astype(dtype)[:, :, None] * x3.astype(dtype)[:, cols, :]
    batch = max(v2.shape[0], x3.shape[0])
    return jnp.zeros((batch, n_rows, x3.shape[-1]), dtype).at[:, rows, :].add(contrib)


def run_native(
    native: Callable[[Array, int], tuple[Array, Array, Array]], mode: int, rhs: Array, split: bool
) -> Array:
    """One native solve of `rhs`; raises (also under jit) on a failed status, including a matrix that is
    singular to working precision (reciprocal condition estimate below `numerics.DEFAULT_RCOND_MIN`)."""
    if split:  # real matrix, complex rhs: one native call on [Re | Im]
        k = rhs.shape[-1]
        x, status, info = native(jnp.concatenate([rhs.real, rhs.imag], axis=-1), mode)
        status = numerics.threshold(status, info, numerics.DEFAULT_RCOND_MIN)
        return raise_if_failed(jax.lax.complex(x[..., :k], x[..., k:]), status).astype(rhs.dtype)
    x, status, info = native(rhs, mode)
    status = numerics.threshold(status, info, numerics.DEFAULT_RCOND_MIN)
    return raise_if_failed(x, status)


def linear_solve(
    matvec: Callable[[Array], Array],
    native: Callable[[Array, int], tuple[Array, Array, Array]],
    b3: Array,
    transpose: bool,
    split: bool,
) -> Array:
    """x = op(A)^{-1} b3 via `lax.custom_linear_solve`: native solves forward and in the adjoint (on the same,
    cached, factorization); `matvec` (pure JAX) supplies derivatives wrt the matrix values."""
    fwd, bwd = (MODE_T, MODE_A) if transpose else (MODE_A, MODE_T)
    return jax.lax.custom_linear_solve(
        matvec, b3, lambda _, r: run_native(native, fwd, r, split), lambda _, r: run_native(native, bwd, r, split)
    )


@partial(jax.jit, static_argnums=(0, 3, 4))
def _held_solve(engine: Engine, words: Array, b3: Array, mode: int, split: bool) -> Array:
    """Eager fast path of `solve_with_numeric` when nothing is differentiated: one compiled native call (the
    handle is a runtime operand, so every handle shares the executable)."""
    return run_native(lambda rhs, m: ffi.solve_numeric(engine, words, rhs, m), mode, b3, split)


def prepare(values: ArrayLike, b: ArrayLike, nnz: int, fn: str, n: int | None = None):
    """Checked, canonical (values (Lv, nnz), b (L, n, k)) in compute dtypes, the split flag and the map back."""
    values = shapes.float_array(values, "values", fn)
    b = shapes.float_array(b, "b", fn)
    vdt, bdt, split = shapes.compute_dtypes(values, b)
    out_dtype = promote(values.dtype, b.dtype)
    v2, b3, unflatten = shapes.canonical(values.astype(vdt), b.astype(bdt), nnz, fn, n)
    batch = max(v2.shape[0], b3.shape[0])
    b3 = jnp.broadcast_to(b3, (batch, *b3.shape[1:]))
    return v2, b3, split, lambda x: unflatten(x).astype(out_dtype)


def solve(
    engine: Engine,
    rows: Integer[ArrayLike, " nnz"],
    cols: Integer[ArrayLike, " nnz"],
    values: Inexact[ArrayLike, "*n_lhs nnz"],
    b: Inexact[ArrayLike, "..."],
    *,
    transpose: bool = False,
    fn: str = "solve",
) -> Inexact[Array, "..."]:
    """Solve `A x = b` (or `A^T x = b`) with `engine` for the n x n COO matrix `A[rows[i], cols[i]] +=
    values[..., i]` (shapes as in `nativax.klu.solve`)."""
    engine.require()
    r_idx, c_idx, _ = shapes.indices(rows, cols, None, fn)
    v2, b3, split, unflatten = prepare(values, b, r_idx.shape[0], fn)
    n = b3.shape[1]
    if b3.size == 0 or v2.shape[0] == 0:  # an empty system or batch: the empty solution (lineax's convention)
        return unflatten(jnp.zeros((b3.shape[0] if v2.shape[0] else 0, *b3.shape[1:]), b3.dtype))
    shapes.indices(r_idx, c_idx, n, fn)  # range check once n is known
    shapes.check_size_from_b(r_idx, c_idx, n, fn)
    r_mv, c_mv = (c_idx, r_idx) if transpose else (r_idx, c_idx)
    native = lambda rhs, mode: ffi.solve(engine, r_idx, c_idx, v2, rhs, mode)  # noqa: E731
    return unflatten(linear_solve(lambda x: dot_ref(r_mv, c_mv, v2, x, n), native, b3, transpose, split))


# ----------------------------------------------------------------------------------------------------------
# Handle API (eager): analyze -> factor -> solve_with_numeric, refactor for new values on the same pattern.
# ----------------------------------------------------------------------------------------------------------


def analyze(engine: Engine, rows: ArrayLike, cols: ArrayLike, n: int | None = None, fn: str = "analyze",
            options: NativeOptions = DEFAULT) -> SymbolicHandle:
    """Symbolic analysis (fill-reducing ordering) of an n x n pattern; n defaults to max index + 1. `options`
    (`_direct/options.py`) are kept with the analysis and used by every factorization made from it."""
    r = shapes.concrete(rows, "rows", fn)
    c = shapes.concrete(cols, "cols", fn)
    if n is None:
        n = int(max(r.max(initial=-1), c.max(initial=-1))) + 1
    if not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"nativax.{fn}: `n` must be a positive int, got {n!r}")
    r, c, _ = shapes.indices(r, c, int(n), fn)
    r = np.ascontiguousarray(r)
    c = np.ascontiguousarray(c)
    r.setflags(write=False)
    c.setflags(write=False)
    perm = [int(i) for i in options.perm] if options.ordering == GIVEN else []
    hid = engine.native("analyze")(r, c, int(n), options.ordering, options.pivot_tol, options.scale, perm)
    return SymbolicHandle(hid, int(n), r, c, engine.name, options)


def host_values(values: ArrayLike, nnz: int, fn: str, complex_: bool | None = None) -> np.ndarray:
    """Concrete, read-only float64/complex128 COO values of length nnz (complex is never cast to real)."""
    v = shapes.concrete(values, "values", fn)
    if v.dtype == np.bool_ or not jnp.issubdtype(v.dtype, jnp.number):  # jnp: knows bfloat16 (computed in double)
        raise TypeError(f"nativax.{fn}: `values` must be a floating or complex array, got dtype {v.dtype}")
    if v.shape != (nnz,):
        raise ValueError(f"nativax.{fn}: `values` must have shape ({nnz},), got {v.shape}")
    is_complex = np.iscomplexobj(v) if complex_ is None else complex_
    if complex_ is False and np.iscomplexobj(v):
        raise TypeError(f"nativax.{fn}: complex `values` for a real factorization; complex is never cast "
                        "to real - factor the complex matrix instead")
    v = np.ascontiguousarray(v, dtype=np.complex128 if is_complex else np.float64)
    v.setflags(write=False)
    return v


_NUMERIC_FAILURES = {
    1: "the matrix is singular",
    5: "the matrix is not positive definite",
    6: "the matrix is not symmetric (Hermitian)",
}


def _check_status(engine: Engine, result: int, fn: str) -> int:
    if result < 0:
        what = _NUMERIC_FAILURES.get(-result, "the factorization failed")
        raise SingularMatrixError(f"nativax.{fn}: {what} ({engine.label} status {-result})")
    return result


def _check_handle(engine: Engine, handle, cls, fn: str, arg: str, origin: str) -> None:
    if not isinstance(handle, cls):
        raise TypeError(f"nativax.{fn}: `{arg}` must be a {cls.__name__} from `{origin}`, got {type(handle).__name__}")
    if handle.engine != engine.name:
        raise TypeError(f"nativax.{fn}: `{arg}` is a {handle.engine.upper()} handle, expected a {engine.label} one")


def factor(engine: Engine, symbolic: SymbolicHandle, values: ArrayLike, fn: str = "factor") -> NumericHandle:
    """Numeric factorization of the matrix with `symbolic`'s pattern and these `values` (eager)."""
    _check_handle(engine, symbolic, SymbolicHandle, fn, "symbolic", "analyze")
    v = host_values(values, symbolic.nnz, fn)
    hid = _check_status(engine, engine.native("factor")(symbolic.id, v), fn)
    return NumericHandle(hid, symbolic, v)


def refactor(engine: Engine, numeric: NumericHandle, values: ArrayLike, fn: str = "refactor") -> NumericHandle:
    """New values on the same pattern and analysis. Consumes `numeric`: the old handle is freed."""
    _check_handle(engine, numeric, NumericHandle, fn, "numeric", "factor")
    v = host_values(values, numeric.symbolic.nnz, fn, np.iscomplexobj(numeric.values))
    result = engine.native("refactor")(numeric.id, v)
    numeric._consumed()
    hid = _check_status(engine, result, fn)
    return NumericHandle(hid, numeric.symbolic, v)


def solve_with_symbolic(
    engine: Engine, symbolic: SymbolicHandle, values: ArrayLike, b: ArrayLike, *, transpose: bool = False,
    fn: str = "solve_with_symbolic",
) -> Array:
    """As `solve`, reusing a held symbolic analysis (values may be traced: jit/vmap/grad-safe)."""
    _check_handle(engine, symbolic, SymbolicHandle, fn, "symbolic", "analyze")
    hid = symbolic.id
    v2, b3, split, unflatten = prepare(values, b, symbolic.nnz, fn, symbolic.n)
    rows, cols = (symbolic.cols, symbolic.rows) if transpose else (symbolic.rows, symbolic.cols)
    native = lambda rhs, mode: ffi.solve_symbolic(engine, ffi.handle_words(hid), v2, rhs, mode)  # noqa: E731
    return unflatten(linear_solve(lambda x: dot_ref(rows, cols, v2, x, symbolic.n), native, b3, transpose, split))


def solve_with_numeric(
    engine: Engine, numeric: NumericHandle, b: ArrayLike, *, transpose: bool = False, fn: str = "solve_with_numeric"
) -> Array:
    """Solve with a held factorization (factor once, solve many). Differentiable wrt `b`."""
    _check_handle(engine, numeric, NumericHandle, fn, "numeric", "factor")
    hid = numeric.id
    sym = numeric.symbolic
    b = shapes.float_array(b, "b", fn)
    host_vals = numeric.values
    # A zero-stride stand-in with the values' shape and dtype: the shape/dtype logic needs no real values.
    vspec = np.broadcast_to(np.zeros((), np.complex128 if np.iscomplexobj(host_vals) else np.float64), host_vals.shape)
    vdt, bdt, split = shapes.compute_dtypes(vspec, b)  # type: ignore[arg-type]
    out_dtype = promote(vspec.dtype, b.dtype)
    _, b3, unflatten = shapes.canonical(vspec, b.astype(bdt), sym.nnz, fn, sym.n)  # type: ignore[arg-type]
    if shapes.is_concrete(b):  # eager and not differentiated: skip the matvec set-up and the values transfer
        mode = MODE_T if transpose else MODE_A
        return unflatten(_held_solve(engine, ffi.handle_words(hid), b3, mode, split)).astype(out_dtype)
    v2 = jnp.asarray(host_vals.astype(vdt)).reshape(1, -1)
    rows, cols = (sym.cols, sym.rows) if transpose else (sym.rows, sym.cols)
    words = ffi.handle_words(hid)
    native = lambda rhs, mode: ffi.solve_numeric(engine, words, rhs, mode)  # noqa: E731
    x = linear_solve(lambda x: dot_ref(rows, cols, v2, x, sym.n), native, b3, transpose, split)
    return unflatten(x).astype(out_dtype)
