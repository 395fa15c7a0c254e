"""`nativax.logdet`: log det A of a symmetric (Hermitian) positive definite sparse operator with CHOLMOD, and
its derivative by selected inversion.

d log det A = tr(A^{-1} dA) = sum_k (A^{-1})[col_k, row_k] dvalues_k, and only the entries of A^{-1} on the
pattern of A are needed. The native side forms them by supernodal selected inversion (block Takahashi
recurrences with BLAS over the cached factorization's supernodes, `native/cholmod/selinv.cc`), never the dense
inverse. For complex Hermitian A the
result is real (as `jnp.linalg.slogdet`'s `logabsdet`) and its tangent is Re tr(A^{-1} dA).
"""

from functools import partial

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Float

from ..._core.status import raise_if_failed
from ..engine import CHOLMOD
from ..handles import NumericHandle
from .held import handle_logdet
from .solver import CHOLMOD as _Solver


def _native(rows, cols, v2, n: int, want_grad: bool):
    batch = v2.shape[:-1]
    out = (
        jax.ShapeDtypeStruct(batch, jnp.finfo(v2.dtype).dtype),
        jax.ShapeDtypeStruct(v2.shape if want_grad else (0,), v2.dtype),
        jax.ShapeDtypeStruct(batch, jnp.int32),
    )
    call = jax.ffi.ffi_call(CHOLMOD.target("logdet"), out, vmap_method="expand_dims")
    ld, g, status = call(rows, cols, v2, n=np.int64(n), want_grad=want_grad)
    return raise_if_failed(ld, status), g


@partial(jax.custom_jvp, nondiff_argnums=(0, 1, 3))
def _logdet(rows, cols, v2, n):
    return _native(rows, cols, v2, n, False)[0]


@_logdet.defjvp
def _logdet_jvp(rows, cols, n, primals, tangents):
    (v2,), (dv,) = primals, tangents
    ld, g = _native(rows, cols, v2, n, True)
    t = jnp.sum(g * dv, axis=-1)
    return ld, (jnp.real(t) if jnp.iscomplexobj(t) else t).astype(ld.dtype)


def logdet(operator: lx.AbstractLinearOperator | NumericHandle) -> Float[Array, ""]:
    """`log det A` of a symmetric (Hermitian) positive definite operator (a `SparseOperator`, or anything
    `nativax.as_sparse_operator` accepts), via CHOLMOD; differentiable wrt the operator's values (forward and
    reverse) by selected inversion, and `vmap`-able. The factorization is the cached one a CHOLMOD solve of the
    same matrix uses. Raises (also under jit) when A is not positive definite or not symmetric.

    A held CHOLMOD `NumericHandle` (from `nativax.cholmod.factor` or `nativax.gaussian.update`) gives its
    log det eagerly from the factor, without refactorizing (not differentiable: the handle is data)."""
    if isinstance(operator, NumericHandle):
        return handle_logdet(operator)
    op = _Solver._operator(operator)
    values = jnp.asarray(op.values)
    if jnp.issubdtype(values.dtype, jnp.integer) or values.dtype == jnp.bool_:
        raise TypeError(f"nativax.logdet: the operator's values must be floating or complex, got {values.dtype}")
    dt = values.dtype if values.dtype not in (jnp.float16, jnp.bfloat16) else jnp.float32  # computed in double
    p = op.pattern
    # rows/cols stay numpy (static constants): traced arrays cannot be non-differentiable custom_jvp arguments.
    return _logdet(p.rows, p.cols, values.astype(dt)[None], p.shape[0])[0]
