"""Argument checking and canonicalisation shared by the functional sparse-direct API (every engine).

`fn` is the qualified function name used in messages, e.g. "klu.solve" or "cholmod.factor".

Convention (as in klujax): values `(n_lhs?, nnz)`, right-hand sides `(n_lhs?, n, n_rhs?)`. Internally
every call is canonical: values `(Lv, nnz)`, rhs `(L, n, k)`.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._core.packing import promote

_TRACER_ERRORS = (
    jax.errors.TracerArrayConversionError,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerIntegerConversionError,
)


def is_concrete(x: Any) -> bool:
    try:
        np.asarray(x)
    except _TRACER_ERRORS:
        return False
    return True


def concrete(x: Any, name: str, fn: str) -> np.ndarray:
    """`np.asarray(x)`, or a clear TypeError when `x` is traced (inside jit/grad/vmap)."""
    try:
        return np.asarray(x)
    except _TRACER_ERRORS:
        raise TypeError(
            f"nativax.{fn}: `{name}` is a traced value (you are inside jax.jit/grad/vmap). `{fn}` creates "
            "a native handle eagerly and cannot run under tracing. Inside traced code use a cache-managed "
            "solve (e.g. `nativax.klu.solve` or a solver without held handles: factorizations are cached by "
            "content, so it is jit/grad/vmap-safe) or `solve_with_symbolic`; or create the handle outside the "
            "traced function."
        ) from None


def indices(rows: Any, cols: Any, n: int | None, fn: str) -> tuple[Any, Any, int | None]:
    """Validate COO index arrays; returns int32 arrays (numpy when concrete) and the checked n."""
    out = []
    for name, idx in (("rows", rows), ("cols", cols)):
        dtype = np.asarray(idx).dtype if is_concrete(idx) else jnp.asarray(idx).dtype
        if not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(f"nativax.{fn}: `{name}` must be an integer array, got dtype {dtype}")
        if jnp.ndim(idx) != 1:
            raise ValueError(f"nativax.{fn}: `{name}` must be 1-D, got shape {jnp.shape(idx)}")
        out.append(idx)
    rows, cols = out
    if jnp.shape(rows) != jnp.shape(cols):
        raise ValueError(
            f"nativax.{fn}: `rows` and `cols` must have the same length, got {jnp.shape(rows)[0]} and "
            f"{jnp.shape(cols)[0]}"
        )
    if is_concrete(rows) and is_concrete(cols):
        r = np.asarray(rows)
        c = np.asarray(cols)
        for name, idx in (("rows", r), ("cols", c)):
            if idx.size and idx.min() < 0:
                k = int(np.argmin(idx))
                raise ValueError(f"nativax.{fn}: `{name}` has a negative index {idx[k]} at position {k}")
            if n is not None and idx.size and idx.max() >= n:
                k = int(np.argmax(idx))
                raise ValueError(
                    f"nativax.{fn}: `{name}` index {idx[k]} at position {k} is out of range for a "
                    f"{n} x {n} matrix"
                )
            if idx.size and idx.max() > _INT32_MAX:
                k = int(np.argmax(idx))
                raise ValueError(
                    f"nativax.{fn}: `{name}` index {idx[k]} at position {k} exceeds the 32-bit index range "
                    f"(at most {_INT32_MAX}); it would wrap around"
                )
        return r.astype(np.int32), c.astype(np.int32), n
    return _traced_int32(rows, "rows", fn), _traced_int32(cols, "cols", fn), n


_INT32_MAX = 2**31 - 1


def _traced_int32(idx: Any, name: str, fn: str) -> Array:
    """int32 indices from traced ones; wider integer dtypes get a runtime range check (never a silent wrap)."""
    idx = jnp.asarray(idx)
    if idx.dtype.itemsize < 4 or (idx.dtype.itemsize == 4 and jnp.issubdtype(idx.dtype, jnp.signedinteger)):
        return idx.astype(jnp.int32)
    big = jnp.any(idx > _INT32_MAX) if idx.size else jnp.array(False)
    return eqx.error_if(
        idx.astype(jnp.int32), big,
        f"nativax.{fn}: `{name}` has an index above the 32-bit index range (at most {_INT32_MAX}); it would "
        "wrap around",
    )


def check_size_from_b(rows: Any, cols: Any, n: int, fn: str) -> None:
    """The matrix size is taken from `b`: a `b` longer than the indices reach would make a matrix with empty
    last rows/columns, which reads as "singular" though the real mistake is the length of `b`."""
    if not (is_concrete(rows) and is_concrete(cols)):
        return
    r, c = np.asarray(rows), np.asarray(cols)
    reach = int(max(r.max(initial=-1), c.max(initial=-1))) + 1
    if reach < n:
        raise ValueError(
            f"nativax.{fn}: `b` has {n} rows but `rows`/`cols` index only a {reach} x {reach} matrix (the size "
            f"is taken from `b`, so rows/columns {reach}..{n - 1} would be empty: structurally singular); pass a "
            f"`b` of length {reach}"
        )


def float_array(x: Any, name: str, fn: str) -> Array:
    x = jnp.asarray(x)
    if x.dtype == jnp.bool_ or not (
        jnp.issubdtype(x.dtype, jnp.number)
    ):
        raise TypeError(f"nativax.{fn}: `{name}` must be a floating or complex array, got dtype {x.dtype}")
    if jnp.issubdtype(x.dtype, jnp.integer):
        x = x.astype(jnp.result_type(float))
    return x


def canonical(
    values: Array, b: Array, nnz: int, fn: str, n: int | None = None
) -> tuple[Array, Array, Callable[[Array], Array]]:
    """Reshape to values (Lv, nnz) and b (L, n, k); return them and the map back to the output shape."""
    if values.ndim not in (1, 2) or values.shape[-1] != nnz:
        raise ValueError(
            f"nativax.{fn}: `values` must have shape (nnz,) or (n_lhs, nnz) with nnz = {nnz} (the length "
            f"of `rows`/`cols`), got {values.shape}"
        )
    batched_values = values.ndim == 2
    lead: tuple[int, ...]
    k: int | None
    if not batched_values:
        if b.ndim == 1:
            lead, bn, k = (), b.shape[0], None
        elif b.ndim == 2:
            lead, bn, k = (), b.shape[0], b.shape[1]
        elif b.ndim == 3:
            lead, bn, k = (b.shape[0],), b.shape[1], b.shape[2]
        else:
            raise ValueError(f"nativax.{fn}: `b` must have shape (n,), (n, n_rhs) or (n_lhs, n, n_rhs), "
                             f"got {b.shape}")
    else:
        L = values.shape[0]
        if b.ndim == 1:
            lead, bn, k = (), b.shape[0], None
        elif b.ndim == 2:
            lead, bn, k = (b.shape[0],), b.shape[1], None
        elif b.ndim == 3:
            lead, bn, k = (b.shape[0],), b.shape[1], b.shape[2]
        else:
            raise ValueError(f"nativax.{fn}: with batched `values` (n_lhs, nnz), `b` must have shape (n,), "
                             f"(n_lhs, n) or (n_lhs, n, n_rhs), got {b.shape}")
        if lead and lead[0] not in (1, L):
            raise ValueError(
                f"nativax.{fn}: `values` has n_lhs = {L} but `b` has leading dimension {lead[0]}"
            )
    if n is not None and bn != n:
        raise ValueError(f"nativax.{fn}: `b` has {bn} rows but the matrix is {n} x {n}")
    # n = 0 (an empty system) and empty batches are valid: the callers return the empty solution (lineax's
    # convention) without calling the engine.
    v2 = values if batched_values else values[None]
    b3 = b.reshape((lead[0] if lead else 1), bn, 1 if k is None else k)
    L = 0 if 0 in (v2.shape[0], b3.shape[0]) else max(v2.shape[0], b3.shape[0])
    out_lead = (L,) if (lead or batched_values) else ()
    out_shape = out_lead + (bn,) + (() if k is None else (k,))
    return v2, b3, lambda x: x.reshape(out_shape)


def compute_dtypes(values: Array, b: Array) -> tuple[Any, Any, bool]:
    """(values dtype, rhs dtype, split) for the native call. Complex is never cast to real: real values with a
    complex rhs are solved on the real and imaginary parts (`split`). Half precision is computed in float32."""
    dt: Any = promote(values.dtype, b.dtype)
    if dt in (jnp.float16, jnp.bfloat16):
        dt = jnp.float32
    if jnp.issubdtype(values.dtype, jnp.complexfloating) or not jnp.issubdtype(dt, jnp.complexfloating):
        return dt, dt, False
    real = jnp.finfo(dt).dtype
    return real, dt, True
