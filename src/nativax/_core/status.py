"""Native per-solve status codes and how they surface in Python (errors or `lx.RESULTS`).

The codes, the per-solve diagnostics layout and the solve modes are defined once, in the native module
(`native/common/status.h`), and read here. The table (also in docs/numerics.md):

| code | name                  | meaning                                                                   | `lx.RESULTS`      |
|------|-----------------------|---------------------------------------------------------------------------|-------------------|
| 0    | OK                    | solved                                                                    | `successful`      |
| 1    | SINGULAR              | structurally singular, or an exactly zero pivot                           | `singular`        |
| 2    | NONFINITE_MATRIX      | NaN or Inf among the matrix values                                        | `nonfinite_input` |
| 3    | NONFINITE_RHS         | NaN or Inf in the right-hand side                                         | `nonfinite_input` |
| 4    | FAILED                | the library failed (out of memory, integer overflow)                      | `singular`        |
| 5    | NOT_POSITIVE_DEFINITE | Cholesky met a non-positive pivot                                         | `singular`        |
| 6    | NOT_SYMMETRIC         | a Cholesky engine got a matrix that is not Hermitian within its tolerance | `singular`        |
| 7    | NUMERICALLY_SINGULAR  | singular to working precision: rcond below the solver's `rcond_min`, or a | `singular`        |
|      |                       | finite matrix and right-hand side gave a non-finite solution              |                   |
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
NUMERICALLY_SINGULAR: int = lib.STATUS_NUMERICALLY_SINGULAR
INFO_FIELDS: int = lib.INFO_FIELDS
INFO_RCOND, INFO_CONDEST, INFO_RGROWTH, INFO_FACTOR_NNZ, INFO_CACHE_HIT = range(5)
"""Columns of the per-solve diagnostics every native solve returns (`native/common/status.h`, `Info`)."""
MODE_A: int = lib.MODE_A
MODE_T: int = lib.MODE_T
MODE_H: int = lib.MODE_H

_MESSAGES = {
    OK: "",
    SINGULAR: "nativax: the matrix is singular (structurally singular, or an exactly zero pivot).",
    NONFINITE_MATRIX: "nativax: `values` (the matrix entries) contain NaN or Inf.",
    NONFINITE_RHS: "nativax: `b` (the right-hand side) contains NaN or Inf.",
    FAILED: "nativax: the sparse direct library reported an internal failure (out of memory or integer overflow).",
    NOT_POSITIVE_DEFINITE: "nativax: the matrix is not positive definite (Cholesky met a non-positive pivot); "
    "use nativax.UMFPACK or nativax.KLU for indefinite matrices.",
    NOT_SYMMETRIC: "nativax: the matrix is not symmetric (Hermitian) but the engine is a Cholesky factorization; "
    "use nativax.UMFPACK or nativax.KLU.",
    NUMERICALLY_SINGULAR: "nativax: the matrix is numerically singular (singular to working precision: its "
    "reciprocal condition estimate is below the solver's `rcond_min`, or the solution overflowed).",
}
CAUSES = {
    SINGULAR: "singular: structurally singular or an exactly zero pivot",
    NONFINITE_MATRIX: "non-finite input: `values` (the matrix entries) contain NaN or Inf",
    NONFINITE_RHS: "non-finite input: `b` (the right-hand side) contains NaN or Inf",
    FAILED: "the library failed (out of memory or integer overflow)",
    NOT_POSITIVE_DEFINITE: "the matrix is not positive definite (use nativax.UMFPACK or nativax.KLU for "
    "indefinite matrices)",
    NOT_SYMMETRIC: "the matrix is not symmetric (Hermitian) within the Cholesky tolerance",
    NUMERICALLY_SINGULAR: "numerically singular (singular to working precision)",
}
"""Short causes by status code, for messages that list batch members."""
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
