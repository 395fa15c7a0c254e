"""The PETSc engine's per-solve status codes (defined once, in `native/petsc/status.h`, mirrored here) and their mapping to
`lx.RESULTS`. The codes agree on every rank (the native side reduces them with a max)."""

from __future__ import annotations

import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Int

# Mirrors native/petsc/status.h (tests/test_petsc.py checks them against the extension's STATUS_* constants).
OK = 0
SINGULAR = 1
NONFINITE_MATRIX = 2
NONFINITE_RHS = 3
FAILED = 4
NOT_POSITIVE_DEFINITE = 5
NOT_CONVERGED = 7
DIVERGED = 8
RANK_MISMATCH = 9

MESSAGES: dict[int, str] = {
    OK: "",
    SINGULAR: "the matrix is singular (a zero pivot in the factorization)",
    NONFINITE_MATRIX: "the matrix values contain NaN or Inf (on some rank)",
    NONFINITE_RHS: "the right-hand side contains NaN or Inf (on some rank)",
    FAILED: "PETSc reported an error (e.g. the factorization ran out of memory)",
    NOT_POSITIVE_DEFINITE: "CG met an indefinite matrix or preconditioner",
    NOT_CONVERGED: "the Krylov method reached max_steps",
    DIVERGED: "the Krylov method diverged or broke down",
    RANK_MISMATCH: "the MPI ranks made different solve calls at the same time",
}
"""What each `stats["petsc_status"]` means."""


def to_result(code: Int[Array, ""]) -> lx.RESULTS:
    """`lx.RESULTS` of one status code: NaN/Inf input -> nonfinite_input, iteration cap -> max_steps_reached,
    divergence/indefinite -> breakdown, singular/failed/mismatch -> singular."""
    code = jnp.asarray(code)
    return lx.RESULTS.where(
        code == OK,
        lx.RESULTS.successful,
        lx.RESULTS.where(
            (code == NONFINITE_MATRIX) | (code == NONFINITE_RHS),
            lx.RESULTS.nonfinite_input,
            lx.RESULTS.where(
                code == NOT_CONVERGED,
                lx.RESULTS.max_steps_reached,
                lx.RESULTS.where((code == DIVERGED) | (code == NOT_POSITIVE_DEFINITE), lx.RESULTS.breakdown,
                                 lx.RESULTS.singular),
            ),
        ),
    )
