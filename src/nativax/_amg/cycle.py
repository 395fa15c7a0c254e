"""Multigrid cycles (V, W, F) and smoothers (damped Jacobi, Jacobi-preconditioned Chebyshev) on a
`Hierarchy`. Pre- and post-smoothing mirror each other and R = P^H for symmetric problems, so the cycle is a
symmetric preconditioner there (usable inside CG)."""

import jax.scipy.linalg as jsl
from jaxtyping import Array, Inexact

from .._core.packing import promote
from .hierarchy import Hierarchy, Level
from .spmv import matvec

CYCLES = ("V", "W", "F")
SMOOTHERS = ("jacobi", "chebyshev")

JACOBI_OMEGA = 4.0 / 3.0  # damping times 1/rho(D^-1 A)
CHEBYSHEV_DEGREE = 2
CHEBYSHEV_RANGE = (0.1, 1.1)  # smoothed part of the spectrum, as fractions of rho(D^-1 A)


def jacobi_omega(rho: Array) -> Array:
    """The damping used by the Jacobi smoother on a level with rho(D^-1 A) = `rho`."""
    return JACOBI_OMEGA / rho


def _jacobi(lv: Level, b: Array, x: Array | None, sweeps: int) -> Array:
    w = (jacobi_omega(lv.rho).astype(lv.dinv.dtype) * lv.dinv).astype(b.dtype)
    for _ in range(sweeps):
        x = w * b if x is None else x + w * (b - matvec(lv.a, x))
    assert x is not None
    return x


def _chebyshev(lv: Level, b: Array, x: Array | None, sweeps: int) -> Array:
    rho = lv.rho.astype(b.dtype)  # real-valued; in b's dtype so the recurrence mixes no dtypes
    lo, hi = CHEBYSHEV_RANGE[0] * rho, CHEBYSHEV_RANGE[1] * rho
    theta, delta = (hi + lo) / 2, (hi - lo) / 2
    dinv = lv.dinv.astype(b.dtype)
    for _ in range(sweeps):
        r = dinv * (b if x is None else b - matvec(lv.a, x))
        sigma = theta / delta
        rho_k = 1 / sigma
        d = r / theta
        x = d if x is None else x + d
        for _ in range(CHEBYSHEV_DEGREE - 1):
            r = r - dinv * matvec(lv.a, d)
            rho_next = 1 / (2 * sigma - rho_k)
            d = rho_next * rho_k * d + (2 * rho_next / delta) * r
            rho_k = rho_next
            x = x + d
    assert x is not None
    return x


def _smooth(kind: str, lv: Level, b: Array, x: Array | None, sweeps: int) -> Array:
    return _jacobi(lv, b, x, sweeps) if kind == "jacobi" else _chebyshev(lv, b, x, sweeps)


def _coarse(h: Hierarchy, b: Array) -> Array:
    dtype = promote(h.lu.dtype, b.dtype)
    return jsl.lu_solve((h.lu.astype(dtype), h.piv), b.astype(dtype), trans=1 if h.transposed else 0)


def _cycle(h: Hierarchy, k: int, b: Array, x: Array | None, cycle: str, smoother: str, sweeps: int) -> Array:
    if k == len(h.levels) - 1:
        return _coarse(h, b)
    lv = h.levels[k]
    assert lv.p is not None and lv.r is not None
    x = _smooth(smoother, lv, b, x, sweeps)
    rc = matvec(lv.r, b - matvec(lv.a, x))
    if cycle == "V" or k + 2 == len(h.levels):
        ec = _cycle(h, k + 1, rc, None, "V", smoother, sweeps)
    elif cycle == "W":
        ec = _cycle(h, k + 1, rc, None, "W", smoother, sweeps)
        ec = _cycle(h, k + 1, rc, ec, "W", smoother, sweeps)
    else:  # F: an F-cycle followed by a V-cycle on the coarse problem
        ec = _cycle(h, k + 1, rc, None, "F", smoother, sweeps)
        ec = _cycle(h, k + 1, rc, ec, "V", smoother, sweeps)
    x = x + matvec(lv.p, ec)
    return _smooth(smoother, lv, b, x, sweeps)


def apply(h: Hierarchy, b: Inexact[Array, " n"], cycle: str = "V", smoother: str = "jacobi",
          sweeps: int = 1) -> Inexact[Array, " n"]:
    """One multigrid cycle from a zero initial guess: an approximation of A^{-1} b (linear in b)."""
    return _cycle(h, 0, b, None, cycle, smoother, sweeps)
