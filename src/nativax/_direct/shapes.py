"""Argument checking and canonicalisation shared by the functional KLU API.

Convention (as in klujax): values `(n_lhs?, nnz)`, right-hand sides `(n_lhs?, n, n_rhs?)`. Internally
every call is canonical: values `(Lv, nnz)`, rhs `(L, n, k)`.
"""

from collections.abc import Callable
from typing import Any

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
            f"nativax.klu.{fn}: `{name}` is a traced value (you are inside jax.jit/grad/vmap). `{fn}` creates "
            "a native handle eagerly and cannot run under tracing. Inside traced code use "
            "`nativax.klu.solve` (factorizations are cached by content, so it is jit/grad/vmap-safe) or "
            "`nativax.klu.solve_with_symbolic`; or create the handle outside the traced function."
        ) from None


def indices(rows: Any, cols: Any, n: int | None, fn: str) -> tuple[Any, Any, int | None]:
    """Validate COO index arrays; returns int32 arrays (numpy when concrete) and the checked n."""
    out = []
    for name, idx in (("rows", rows), ("cols", cols)):
        dtype = np.asarray(idx).dtype if is_concrete(idx) else jnp.asarray(idx).dtype
        if not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(f"nativax.klu.{fn}: `{name}` must be an integer array, got dtype {dtype}")
        if jnp.ndim(idx) != 1:
            raise ValueError(f"nativax.klu.{fn}: `{name}` must be 1-D, got shape {jnp.shape(idx)}")
        out.append(idx)
    rows, cols = out
    if jnp.shape(rows) != jnp.shape(cols):
        raise ValueError(
            f"nativax.klu.{fn}: `rows` and `cols` must have the same length, got {jnp.shape(rows)[0]} and "
            f"{jnp.shape(cols)[0]}"
        )
    if is_concrete(rows) and is_concrete(cols):
        r = np.asarray(rows)
        c = np.asarray(cols)
        for name, idx in (("rows", r), ("cols", c)):
            if idx.size and idx.min() < 0:
                k = int(np.argmin(idx))
                raise ValueError(f"nativax.klu.{fn}: `{name}` has a negative index {idx[k]} at position {k}")
            if n is not None and idx.size and idx.max() >= n:
                k = int(np.argmax(idx))
                raise ValueError(
                    f"nativax.klu.{fn}: `{name}` index {idx[k]} at position {k} is out of range for a "
                    f"{n} x {n} matrix"
                )
            if idx.size and idx.max() >= 2**31 - 1:
                raise ValueError(f"nativax.klu.{fn}: `{name}` indices exceed the 32-bit range")
        return r.astype(np.int32), c.astype(np.int32), n
    return jnp.asarray(rows, jnp.int32), jnp.asarray(cols, jnp.int32), n


def float_array(x: Any, name: str, fn: str) -> Array:
    x = jnp.asarray(x)
    if x.dtype == jnp.bool_ or not (
        jnp.issubdtype(x.dtype, jnp.number)
    ):
        raise TypeError(f"nativax.klu.{fn}: `{name}` must be a floating or complex array, got dtype {x.dtype}")
    if jnp.issubdtype(x.dtype, jnp.integer):
        x = x.astype(jnp.result_type(float))
    return x


def canonical(
    values: Array, b: Array, nnz: int, fn: str, n: int | None = None
) -> tuple[Array, Array, Callable[[Array], Array]]:
    """Reshape to values (Lv, nnz) and b (L, n, k); return them and the map back to the output shape."""
    if values.ndim not in (1, 2) or values.shape[-1] != nnz:
        raise ValueError(
            f"nativax.klu.{fn}: `values` must have shape (nnz,) or (n_lhs, nnz) with nnz = {nnz} (the length "
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
            raise ValueError(f"nativax.klu.{fn}: `b` must have shape (n,), (n, n_rhs) or (n_lhs, n, n_rhs), "
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
            raise ValueError(f"nativax.klu.{fn}: with batched `values` (n_lhs, nnz), `b` must have shape (n,), "
                             f"(n_lhs, n) or (n_lhs, n, n_rhs), got {b.shape}")
        if lead and lead[0] not in (1, L):
            raise ValueError(
                f"nativax.klu.{fn}: `values` has n_lhs = {L} but `b` has leading dimension {lead[0]}"
            )
    if n is not None and bn != n:
        raise ValueError(f"nativax.klu.{fn}: `b` has {bn} rows but the matrix is {n} x {n}")
    if bn == 0:
        raise ValueError(f"nativax.klu.{fn}: empty system (n = 0)")
    v2 = values if batched_values else values[None]
    b3 = b.reshape((lead[0] if lead else 1), bn, 1 if k is None else k)
    L = max(v2.shape[0], b3.shape[0])
    out_lead = (L,) if (lead or batched_values) else ()
    out_shape = out_lead + (bn,) + (() if k is None else (k,))
    return v2, b3, lambda x: x.reshape(out_shape)


def compute_dtypes(values: Array, b: Array) -> tuple[Any, Any, bool]:
    """(values dtype, rhs dtype, split) for the native call. Complex is never cast to real: real values with a
    complex rhs are solved on the real and imaginary parts (`split`). Half precision is computed in float32."""
    dt = promote(values.dtype, b.dtype)
    if dt in (jnp.float16, jnp.bfloat16):
        dt = jnp.float32
    if jnp.issubdtype(values.dtype, jnp.complexfloating) or not jnp.issubdtype(dt, jnp.complexfloating):
        return dt, dt, False
    real = jnp.finfo(dt).dtype
    return real, dt, True
