"""Per-solve numerics of the sparse direct solvers: the singular-to-working-precision threshold on the rcond
estimate, iterative refinement with normwise backward errors, and errors that name nativax, the cause and the
failing batch members. Used by `AbstractDirectSolver.compute` (and the threshold by the functional API)."""

import sys
import types
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Inexact, Int

from .._core.status import CAUSES, INFO_CONDEST, INFO_RCOND, NUMERICALLY_SINGULAR, OK

DEFAULT_RCOND_MIN: float = float(np.finfo(np.float64).eps)
"""A factorization whose reciprocal condition number estimate is below this (LAPACK's rule for "singular to
working precision", the factorization being in double) is reported NUMERICALLY_SINGULAR (`RESULTS.singular`)
instead of returning a solution dominated by rounding. The estimate is 1 / `stats["condest"]` (a 1-norm
estimate, computed once per factorization whenever the cheap pivot ratio `stats["rcond"]` is below 1e-10),
else the pivot ratio itself. Overridable per solver (`rcond_min=`; 0 turns the check off)."""


def reciprocal_condition(info: Float[Array, "*b f"]) -> Float[Array, "*b"]:
    """The best reciprocal condition estimate in native diagnostics: 1/condest when computed, else rcond."""
    condest = info[..., INFO_CONDEST]
    return jnp.where(jnp.isnan(condest), info[..., INFO_RCOND], 1.0 / condest)


def threshold(status: Int[Array, "*b"], info: Float[Array, "*b f"], rcond_min: float) -> Int[Array, "*b"]:
    """`status` with successful solves whose reciprocal condition estimate is below `rcond_min` marked
    NUMERICALLY_SINGULAR."""
    if rcond_min <= 0:
        return status
    low = ~(reciprocal_condition(info) >= rcond_min)
    return jnp.where((status == OK) & low, jnp.int32(NUMERICALLY_SINGULAR), status)


def inf_norm(values: Inexact[Array, " nnz"], rows: np.ndarray, n: int) -> Float[Array, ""]:
    """||A||_inf (the largest absolute row sum) of the COO matrix `A[rows[k], .] += values[k]`."""
    return jnp.max(jax.ops.segment_sum(jnp.abs(values), jnp.asarray(rows), num_segments=n), initial=0.0)


def backward_error(
    matvec: Callable[[Array], Array], norm_a: Array, x: Inexact[Array, " n"], b: Inexact[Array, " n"]
) -> tuple[Float[Array, ""], Inexact[Array, " n"]]:
    """Normwise backward error ||b - A x||_inf / (||A||_inf ||x||_inf + ||b||_inf) and the residual."""
    r = b - matvec(x)
    den = norm_a * jnp.max(jnp.abs(x), initial=0.0) + jnp.max(jnp.abs(b), initial=0.0)
    num = jnp.max(jnp.abs(r), initial=0.0)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), num), r


def refine(
    solve: Callable[[Array], Array],
    matvec: Callable[[Array], Array],
    norm_a: Array,
    b: Inexact[Array, " n"],
    x: Inexact[Array, " n"],
    steps: int,
    tol: float,
) -> tuple[Inexact[Array, " n"], Int[Array, ""], Float[Array, ""]]:
    """Fixed-precision iterative refinement x <- x + A^{-1}(b - A x): at most `steps` corrections, stopping
    once the backward error is at most `tol` or a correction does not lower it (so the answer is never worse
    than the unrefined one). Per batch member under `jax.vmap`. Returns (x, corrections accepted, backward
    error of the returned x)."""
    berr, r = backward_error(matvec, norm_a, x, b)

    def cond(c):
        i, _, err, _, done = c
        return (i < steps) & ~done

    def body(c):
        i, x, err, r, _ = c
        xn = x + solve(r).astype(x.dtype)
        errn, rn = backward_error(matvec, norm_a, xn, b)
        better = errn < err
        x = jnp.where(better, xn, x)
        r = jnp.where(better, rn, r)
        err = jnp.where(better, errn, err)
        return i + 1, x, err, r, ~better | (err <= tol), jnp.int32(better)

    def body_counted(c):
        i, x, err, r, done, k = c
        i, x, err, r, done, acc = body((i, x, err, r, done))
        return i, x, err, r, done, k + acc

    init = (jnp.int32(0), x, berr, r, ~(berr > tol), jnp.int32(0))
    _, x, berr, _, _, accepted = jax.lax.while_loop(lambda c: cond(c[:5]), body_counted, init)
    return x, accepted, berr


def lineax_throw() -> bool:
    """Whether the enclosing `lx.linear_solve` was called with `throw=True`. lineax does not pass `throw` to
    `compute`, so the solver reads it from lineax's `_linear_solve_impl` frame (trace time only); when that
    frame is not found (a future lineax), False: lineax's own error still fires, only our details are lost."""
    frame: types.FrameType | None = sys._getframe(1)
    for _ in range(16):
        if frame is None:
            return False
        if frame.f_code.co_name == "_linear_solve_impl" and "lineax" in frame.f_code.co_filename:
            return frame.f_locals.get("throw") is True
        frame = frame.f_back
    return False


def _failure_message(label: str, status: np.ndarray, rcond: np.ndarray, rcond_min: float) -> str:
    bad = np.argwhere(status != OK)
    parts = []
    for idx in bad[:8]:
        code = int(status[tuple(idx)])
        cause = CAUSES.get(code, f"status {code}")
        if code == NUMERICALLY_SINGULAR and np.isfinite(rcond[tuple(idx)]):
            cause += f"; reciprocal condition estimate {rcond[tuple(idx)]:.2e} < rcond_min {rcond_min:.1e}"
        member = int(idx[0]) if len(idx) == 1 else tuple(int(i) for i in idx)
        where = f"batch member {member}: " if status.ndim else ""
        parts.append(where + cause)
    more = f" (and {len(bad) - 8} more)" if len(bad) > 8 else ""
    head = f"nativax {label}: the sparse direct solve failed"
    if status.ndim:
        head += f" for {len(bad)} of {status.size} batch members"
    return (head + ": " + "; ".join(parts) + more + ". Pass `throw=False` to lineax.linear_solve to get the "
            "per-member status in `solution.stats['status']` (codes: docs/numerics.md).")


def raise_failures(x: Array, status: Array, rcond: Array, label: str, rcond_min: float) -> Array:
    """`x`, tied to a host check that raises a message naming nativax, the cause and the failing batch members
    when any status is not OK (under `jax.vmap` the check sees the whole batch). The host call sits in the
    failure branch of a `lax.cond`, so a successful unbatched solve makes no host round trip (under `vmap` the
    cond becomes a select and the check runs once per batch)."""

    def check(st, rc):
        st, rc = np.asarray(st), np.asarray(rc)
        if np.any(st != OK):
            raise RuntimeError(_failure_message(label, st, rc, rcond_min))
        return np.zeros(st.shape, np.int32)

    def host_check(st, rc):
        return jax.pure_callback(check, jax.ShapeDtypeStruct(st.shape, jnp.int32), st, rc,
                                 vmap_method="expand_dims")

    token = jax.lax.cond(jnp.any(status != OK), host_check, lambda st, rc: jnp.zeros(st.shape, jnp.int32),
                         status, rcond)
    return x + token.astype(x.dtype)
