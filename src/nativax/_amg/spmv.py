"""CSR matrices as pytrees and their mat-vec: the native parallel kernel on CPU, a pure-JAX segment sum on
other backends (chosen at lowering time with `jax.lax.platform_dependent`)."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Inexact, Int

from .._core import native  # noqa: F401  (registers the FFI targets)
from .._core.packing import promote

_NATIVE_DTYPES = (jnp.float32, jnp.float64, jnp.complex128)


class Csr(eqx.Module):
    """A CSR matrix whose structure arrays are pytree leaves (so they are passed to `jit`, never baked in)."""

    indptr: Int[Array, " m1"]
    indices: Int[Array, " nnz"]
    rows: Int[Array, " nnz"]
    data: Inexact[Array, " nnz"]
    n_cols: int = eqx.field(static=True)

    @property
    def n_rows(self) -> int:
        return self.indptr.shape[0] - 1

    def with_data(self, data: Inexact[Array, " nnz"]) -> "Csr":
        return Csr(self.indptr, self.indices, self.rows, data, self.n_cols)


def _jax_matvec(a: Csr, x: Array) -> Array:
    contrib = a.data * x[a.indices]
    return jax.ops.segment_sum(contrib, a.rows, num_segments=a.n_rows, indices_are_sorted=True)


def _native_matvec(a: Csr, x: Array) -> Array:
    out = jax.ShapeDtypeStruct((a.n_rows,), x.dtype)
    call = jax.ffi.ffi_call("nativax_amg_csr_matvec", out, vmap_method="expand_dims")
    return call(a.indptr, a.indices, a.data, x)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _dispatch(n_cols: int, indptr, indices, rows, data, x):
    a = Csr(indptr, indices, rows, data, n_cols)
    return jax.lax.platform_dependent(a, x, cpu=_native_matvec, default=_jax_matvec)


@_dispatch.defjvp
def _dispatch_jvp(n_cols, primals, tangents):
    """d(A x) = dA x + A dx, as segment sums (linear, transposable JAX), so the numeric resetup and anything
    else built on these mat-vecs differentiates in forward and reverse mode."""
    indptr, indices, rows, data, x = primals
    ddata, dx = tangents[3], tangents[4]
    a = Csr(indptr, indices, rows, data, n_cols)
    return _dispatch(n_cols, *primals), _jax_matvec(a.with_data(ddata), x) + _jax_matvec(a, dx)


def matvec(a: Csr, x: Inexact[Array, " n"]) -> Inexact[Array, " m"]:
    """y = A x (differentiable in A's values and x)."""
    dtype = promote(a.data.dtype, x.dtype)
    a = a.with_data(a.data.astype(dtype))
    x = x.astype(dtype)
    if dtype not in _NATIVE_DTYPES or a.indices.shape[0] == 0:
        return _jax_matvec(a, x)
    return _dispatch(a.n_cols, a.indptr, a.indices, a.rows, a.data, x)
