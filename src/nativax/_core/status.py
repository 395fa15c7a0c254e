"""Native per-solve status codes and how they surface in Python (errors or `lx.RESULTS`)."""

import equinox as eqx
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Int

OK = 0
SINGULAR = 1
NONFINITE_MATRIX = 2
NONFINITE_RHS = 3
FAILED = 4

MESSAGES = (
    "",
    "nativax.klu: the matrix is singular (KLU found a zero pivot or the matrix is structurally singular).",
    "nativax.klu: `values` (the matrix entries) contain NaN or Inf.",
    "nativax.klu: `b` (the right-hand side) contains NaN or Inf.",
    "nativax.klu: KLU reported an internal failure (out of memory or integer overflow).",
)


def raise_if_failed(x, status: Int[Array, "..."]):
    """Raise (under jit too) a clear error for any nonzero native status; otherwise return `x` unchanged."""
    worst = jnp.clip(jnp.max(status), OK, FAILED)
    return eqx.branched_error_if(x, worst != OK, worst, MESSAGES)


def to_result(status: Int[Array, "..."]) -> lx.RESULTS:
    """Map native status codes (any batch shape; the worst wins) to a single `lx.RESULTS`."""
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
