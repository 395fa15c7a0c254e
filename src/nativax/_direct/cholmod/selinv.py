"""Selected inversion: the entries of A^{-1} on A's sparsity pattern, and its diagonal (marginal variances of a
Gaussian with precision A), from a CHOLMOD factorization.

The native side runs the block Takahashi recurrences over the supernodes of P A P^T = L L^H in reverse, with
dense BLAS blocks (`native/cholmod/selinv.cc`); it forms Z = A^{-1} only on the factor's pattern, never the dense
inverse. For a cache-managed factorization (an operator, also under `jit`/`vmap`) the factorization is the one a
CHOLMOD solve or `nativax.logdet` of the same matrix uses.

Not differentiable wrt the operator's values: d(A^{-1}) = -A^{-1} dA A^{-1} restricted to the pattern needs
entries of A^{-1} outside it (no closed rule on the pattern); the efficient rule would be the adjoint of the
recurrences themselves, which is not implemented. Differentiating raises.
"""

import weakref
from functools import partial

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Float, Inexact

from ..._core.operator import SparseOperator
from ..._core.pattern import SparsityPattern
from ..._core.status import raise_if_failed
from ..engine import CHOLMOD
from ..ffi import handle_words
from ..handles import NumericHandle, SymbolicHandle
from .solver import CHOLMOD as _Solver

COO, COO_T, DIAG = 0, 1, 2


def _native(rows, cols, v2, n: int, what: int):
    size = n if what == DIAG else v2.shape[-1]
    out = (
        jax.ShapeDtypeStruct(v2.shape[:-1] + (size,), v2.dtype),
        jax.ShapeDtypeStruct(v2.shape[:-1], jnp.int32),
    )
    call = jax.ffi.ffi_call(CHOLMOD.target("selinv"), out, vmap_method="expand_dims")
    z, status = call(rows, cols, v2, n=np.int64(n), what=np.int64(what))
    return raise_if_failed(z, status)


@partial(jax.custom_jvp, nondiff_argnums=(0, 1, 3, 4))
def _selinv(rows, cols, v2, n, what):
    return _native(rows, cols, v2, n, what)


@_selinv.defjvp
def _selinv_jvp(rows, cols, n, what, primals, tangents):
    raise NotImplementedError(
        "nativax.gaussian: the selected inverse (and marginal variances) is not differentiable wrt the operator's "
        "values: d(A^-1) = -A^-1 dA A^-1 on A's pattern needs entries of A^-1 outside that pattern, and the adjoint "
        "of the selected-inversion recurrences is not implemented. Differentiate nativax.logdet (its gradient is the selected inverse) or solves "
        "instead, or wrap the values in jax.lax.stop_gradient."
    )


def check_numeric(numeric: NumericHandle, fn: str) -> None:
    """A live CHOLMOD numeric handle, or a clear error naming `fn`."""
    if not isinstance(numeric, NumericHandle):
        raise TypeError(f"nativax.gaussian.{fn}: expected a SparseOperator or a CHOLMOD NumericHandle")
    if numeric.engine != "cholmod":
        raise TypeError(f"nativax.gaussian.{fn}: `numeric` is a {numeric.engine.upper()} handle, expected CHOLMOD")
    numeric.check_alive()


def operator_values(operator: lx.AbstractLinearOperator, fn: str) -> tuple[SparseOperator, Array]:
    """The `SparseOperator` of `operator` and its values in double precision (complex stays complex)."""
    CHOLMOD.require()
    op = _Solver._operator(operator)
    values = jnp.asarray(op.values)
    if jnp.issubdtype(values.dtype, jnp.integer) or values.dtype == jnp.bool_:
        raise TypeError(f"nativax.gaussian.{fn}: the operator's values must be floating or complex, got {values.dtype}")
    if values.ndim != 1:
        raise ValueError(f"nativax.gaussian.{fn}: the operator's values must have shape (nnz,), got {values.shape}; "
                         "use jax.vmap over a batch of operators")
    dt = jnp.complex128 if jnp.iscomplexobj(values) else jnp.float64
    return op, values.astype(dt)


_PATTERNS: "weakref.WeakKeyDictionary[SymbolicHandle, tuple[SparsityPattern, np.ndarray]]" = (
    weakref.WeakKeyDictionary()
)


def _pattern_of(sym: SymbolicHandle) -> tuple[SparsityPattern, np.ndarray]:
    """The canonical pattern of a symbolic handle's COO indices and where each entry lands (cached)."""
    hit = _PATTERNS.get(sym)
    if hit is None:
        hit = SparsityPattern.from_coo(sym.rows, sym.cols, (sym.n, sym.n))
        _PATTERNS[sym] = hit
    return hit


def _held(numeric: NumericHandle, what: int, size: int) -> Array:
    dt = np.complex128 if np.iscomplexobj(numeric.values) else np.float64
    out = (jax.ShapeDtypeStruct((size,), dt), jax.ShapeDtypeStruct((), jnp.int32))
    call = jax.ffi.ffi_call(CHOLMOD.target("selinv_numeric"), out)
    z, status = call(handle_words(numeric.id), what=np.int64(what))
    return raise_if_failed(z, status)


def selected_inverse(operator: lx.AbstractLinearOperator | NumericHandle) -> SparseOperator:
    """The entries of `A^{-1}` on `A`'s sparsity pattern, as a `SparseOperator` with that pattern.

    `A` is a symmetric (Hermitian) positive definite operator (a `SparseOperator` or anything
    `nativax.as_sparse_operator` accepts; float64 or complex128), or a held CHOLMOD `NumericHandle` from
    `nativax.cholmod.factor`. Works under `jit` and `vmap` (cache-managed factorization). Supernodal selected
    inversion: a small multiple of the factorization's cost, never the dense inverse. Not differentiable wrt
    the values (raises when differentiated)."""
    if isinstance(operator, NumericHandle):
        check_numeric(operator, "selected_inverse")
        sym = operator.symbolic
        z = _held(operator, COO, sym.nnz)
        pattern, where = _pattern_of(sym)
        return SparseOperator(jnp.zeros(pattern.nnz, z.dtype).at[where].set(z), pattern)
    op, values = operator_values(operator, "selected_inverse")
    p = op.pattern
    return SparseOperator(_selinv(p.rows, p.cols, values[None], p.shape[0], COO)[0], p)


def marginal_variances(operator: lx.AbstractLinearOperator | NumericHandle) -> Float[Array, " n"]:
    """`diag(A^{-1})`: the marginal variances of a Gaussian with precision `A` (real, also for Hermitian `A`).

    Same inputs and rules as `selected_inverse`; cheaper to return (n numbers)."""
    if isinstance(operator, NumericHandle):
        check_numeric(operator, "marginal_variances")
        return jnp.real(_held(operator, DIAG, operator.n))
    op, values = operator_values(operator, "marginal_variances")
    d: Inexact[Array, " n"] = _selinv(op.pattern.rows, op.pattern.cols, values[None], op.pattern.shape[0], DIAG)[0]
    return jnp.real(d)
