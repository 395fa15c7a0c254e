"""CSR matrices as pytrees and their mat-vec: the native parallel kernel on CPU, a pure-JAX segment sum on
other backends (chosen at lowering time with `jax.lax.platform_dependent`)."""

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


def matvec(a: Csr, x: Inexact[Array, " n"]) -> Inexact[Array, " m"]:
    """y = A x."""
    dtype = promote(a.data.dtype, x.dtype)
    a = a.with_data(a.data.astype(dtype))
    x = x.astype(dtype)
    if dtype not in _NATIVE_DTYPES or a.indices.shape[0] == 0:
        return _jax_matvec(a, x)
    return jax.lax.platform_dependent(a, x, cpu=_native_matvec, default=_jax_matvec)
