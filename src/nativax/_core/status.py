"""Native per-solve status codes and how they surface in Python (errors or `lx.RESULTS`).

The codes and solve modes are defined once, in the native module (`native/common/status.h`), and read here.
"""

import equinox as eqx
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Int

from .native import lib

OK: int = lib.STATUS_OK
SINGULAR: int = lib.STATUS_SINGULAR
NONFINITE_MATRIX: int = lib.STATUS_NONFINITE_MATRIX
NONFINITE_RHS: int = lib.STATUS_NONFINITE_RHS
FAILED: int = lib.STATUS_FAILED
NOT_POSITIVE_DEFINITE: int = lib.STATUS_NOT_POSITIVE_DEFINITE
NOT_SYMMETRIC: int = lib.STATUS_NOT_SYMMETRIC
MODE_A: int = lib.MODE_A
MODE_T: int = lib.MODE_T
MODE_H: int = lib.MODE_H

_MESSAGES = {
    OK: "",
    SINGULAR: "nativax: the matrix is singular (a zero pivot, or the matrix is structurally singular).",
    NONFINITE_MATRIX: "nativax: `values` (the matrix entries) contain NaN or Inf.",
    NONFINITE_RHS: "nativax: `b` (the right-hand side) contains NaN or Inf.",
    FAILED: "nativax: the sparse direct library reported an internal failure (out of memory or integer overflow).",
    NOT_POSITIVE_DEFINITE: "nativax: the matrix is not positive definite (Cholesky met a non-positive pivot); "
    "use nativax.UMFPACK or nativax.KLU for indefinite matrices.",
    NOT_SYMMETRIC: "nativax: the matrix is not symmetric (Hermitian) but the engine is a Cholesky factorization; "
    "use nativax.UMFPACK or nativax.KLU.",
}
_WORST = max(_MESSAGES)
MESSAGES = tuple(_MESSAGES[k] for k in range(_WORST + 1))


def raise_if_failed(x, status: Int[Array, "..."]):
    """Raise (under jit too) a clear error for any nonzero native status; otherwise return `x` unchanged."""
    worst = jnp.clip(jnp.max(status), OK, _WORST)
    return eqx.branched_error_if(x, worst != OK, worst, MESSAGES)


def to_result(status: Int[Array, "..."]) -> lx.RESULTS:
    """Map native status codes (any batch shape; the worst wins) to a single `lx.RESULTS`: non-finite input to
    `nonfinite_input`, every other failure (singular, not positive definite/symmetric, failed) to `singular`."""
    worst = jnp.max(status)
    return lx.RESULTS.where(
        worst == OK,
        lx.RESULTS.successful,
        lx.RESULTS.where(
            (worst == NONFINITE_MATRIX) | (worst == NONFINITE_RHS),
            lx.RESULTS.nonfinite_input,
            lx.RESULTS.singular,
        ),
    )
