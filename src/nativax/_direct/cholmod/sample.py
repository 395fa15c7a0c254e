"""Samples from a Gaussian with sparse precision (or covariance) A through its CHOLMOD factorization.

With P A P^T = L D L^H and z ~ N(0, I): x = P^T L^{-H} D^{-1/2} z has covariance A^{-1} (precision form);
A x then has covariance A A^{-1} A = A (covariance form, one sparse mat-vec more). Complex Hermitian A gives
circular complex samples (z with E[z z^H] = I).

Differentiable wrt the mean. Not wrt A's values: a reparameterised sample depends on the choice of square root
L, and dL needs L^{-1} dA L^{-H}, which is dense; differentiating raises.
"""

from functools import partial

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Inexact, PRNGKeyArray

from ..ffi import handle_words
from ..handles import NumericHandle
from . import pieces
from .held import UpdatedNumericHandle
from .selinv import check_numeric, operator_values


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _draw(rows, cols, v2, z3):
    return pieces.on_values(rows, cols, v2, z3, pieces.SAMPLE)


@_draw.defjvp
def _draw_jvp(rows, cols, primals, tangents):
    raise NotImplementedError(
        "nativax.gaussian.sample is not differentiable wrt the operator's values (a reparameterised sample depends "
        "on the Cholesky square root, whose derivative is dense); it is differentiable wrt `mean`. Wrap the values "
        "in jax.lax.stop_gradient to sample at fixed A."
    )


def _matvec(rows, cols, values, x):
    """A @ x for COO (rows, cols, values) and x (n, m)."""
    return jax.ops.segment_sum(values[:, None] * x[cols], rows, num_segments=x.shape[0])


def sample(
    operator: lx.AbstractLinearOperator | NumericHandle,
    key: PRNGKeyArray,
    shape: tuple[int, ...] = (),
    *,
    mean: Inexact[ArrayLike, "*batch n"] | None = None,
    covariance: bool = False,
) -> Inexact[Array, "*shape n"]:
    """Draws `x ~ N(mean, A^{-1})` (A is the precision; default) or `x ~ N(mean, A)` (`covariance=True`), of
    shape `shape + (n,)`, reproducible from the JAX `key`.

    `A`: a symmetric (Hermitian) positive definite operator (jit/vmap-safe, cache-managed factorization) or a
    held CHOLMOD `NumericHandle`. All `prod(shape)` draws share one factorization and one multi-column
    triangular solve; `jax.vmap` over keys also works. Differentiable wrt `mean`; raises when differentiated
    wrt A's values."""
    if not isinstance(shape, tuple) or not all(isinstance(s, (int, np.integer)) and s >= 0 for s in shape):
        raise TypeError(f"nativax.gaussian.sample: `shape` must be a tuple of non-negative ints, got {shape!r}")
    m = int(np.prod(shape)) if shape else 1
    if isinstance(operator, NumericHandle):
        check_numeric(operator, "sample")
        n = operator.n
        dt = jnp.complex128 if np.iscomplexobj(operator.values) else jnp.float64
        z = jax.random.normal(key, (n, m), dt)
        x = pieces.on_handle(handle_words(operator.id), z[None], pieces.SAMPLE)[0]
        if covariance:
            if isinstance(operator, UpdatedNumericHandle):
                raise ValueError("nativax.gaussian.sample: covariance=True needs the matrix's values, which an "
                                 "updated factorization does not store; sample from an operator instead")
            sym = operator.symbolic
            x = _matvec(sym.rows, sym.cols, jnp.asarray(operator.values), x)
    else:
        op, values = operator_values(operator, "sample")
        p = op.pattern
        n = p.shape[0]
        z = jax.random.normal(key, (n, m), values.dtype)
        x = _draw(p.rows, p.cols, values[None], z[None])[0]
        if covariance:
            x = _matvec(p.rows, p.cols, values, x)
    x = x.T.reshape(shape + (n,))
    if mean is not None:
        mu = jnp.asarray(mean)
        if mu.shape[-1:] != (n,):
            raise ValueError(f"nativax.gaussian.sample: `mean` must have shape (..., n) with n = {n}, got {mu.shape}")
        x = x + mu
    return x
