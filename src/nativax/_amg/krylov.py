"""Preconditioned Krylov loops (CG, BiCGStab, restarted GMRES) and stationary iteration, as `lax.while_loop`s.

Each returns `(x, steps, converged)`; convergence means ||b - A x|| <= atol + rtol ||b|| (2-norm) with a finite
residual norm: with Inf/NaN in `b` the tolerance is itself Inf, and `inf <= inf` must not count as converged."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Inexact, Int

KRYLOVS = ("cg", "gmres", "bicgstab", None)
GMRES_RESTART = 30

Fn = Callable[[Array], Array]
Out = tuple[Inexact[Array, " n"], Int[Array, ""], Bool[Array, ""]]


def _norm(v: Array) -> Array:
    return jnp.sqrt(jnp.real(jnp.vdot(v, v)))


def _tol(b: Array, rtol: float, atol: float) -> Array:
    return atol + rtol * _norm(b)


def _converged(r: Array, tol: Array) -> Array:
    rn = _norm(r)
    return jnp.isfinite(rn) & (rn <= tol)


def _going(r: Array, tol: Array, k: Array, max_steps: int) -> Array:
    """Keep iterating: not converged, under the cap, and the residual still finite (else stop at once)."""
    rn = _norm(r)
    return (rn > tol) & (k < max_steps) & jnp.isfinite(rn)


def stationary(matvec: Fn, precond: Fn, b: Array, rtol: float, atol: float, max_steps: int) -> Out:
    """x <- x + M (b - A x)."""
    tol = _tol(b, rtol, atol)

    def cond(c):
        _, r, k = c
        return _going(r, tol, k, max_steps)

    def body(c):
        x, r, k = c
        x = x + precond(r)
        return x, b - matvec(x), k + 1

    x, r, k = jax.lax.while_loop(cond, body, (jnp.zeros_like(b), b, jnp.array(0)))
    return x, k, _converged(r, tol)


def cg(matvec: Fn, precond: Fn, b: Array, rtol: float, atol: float, max_steps: int) -> Out:
    """Preconditioned conjugate gradients (A and M Hermitian positive definite).

    The preconditioner is applied at the top of the loop body only (the first search direction is z_0 itself,
    beta_0 = 0), so the compiled program holds one copy of the multigrid cycle, not two."""
    tol = _tol(b, rtol, atol)
    init = (jnp.zeros_like(b), b, jnp.zeros_like(b), jnp.ones((), b.dtype), jnp.array(0))

    def cond(c):
        _, r, _, rz, k = c
        return _going(r, tol, k, max_steps) & jnp.isfinite(jnp.real(rz))

    def body(c):
        x, r, p, rz, k = c
        z = precond(r)
        rz_new = jnp.vdot(r, z)
        p = z + jnp.where(k == 0, 0, rz_new / rz).astype(b.dtype) * p
        ap = matvec(p)
        alpha = rz_new / jnp.vdot(p, ap)
        x = x + alpha * p
        r = r - alpha * ap
        return x, r, p, rz_new, k + 1

    x, r, _, _, k = jax.lax.while_loop(cond, body, init)
    return x, k, _converged(r, tol)


def bicgstab(matvec: Fn, precond: Fn, b: Array, rtol: float, atol: float, max_steps: int) -> Out:
    """Right-preconditioned BiCGStab."""
    tol = _tol(b, rtol, atol)
    one = jnp.ones((), b.dtype)
    init = (jnp.zeros_like(b), b, b, jnp.zeros_like(b), jnp.zeros_like(b), one, one, one, jnp.array(0))

    def cond(c):
        r, k = c[1], c[-1]
        return _going(r, tol, k, max_steps)

    def body(c):
        x, r, rhat, p, v, rho, alpha, omega, k = c
        rho_new = jnp.vdot(rhat, r)
        beta = (rho_new / rho) * (alpha / omega)
        p = r + beta * (p - omega * v)
        phat = precond(p)
        v = matvec(phat)
        alpha = rho_new / jnp.vdot(rhat, v)
        s = r - alpha * v
        shat = precond(s)
        t = matvec(shat)
        tt = jnp.vdot(t, t)
        omega = jnp.where(tt != 0, jnp.vdot(t, s) / jnp.where(tt != 0, tt, 1), 0)
        x = x + alpha * phat + omega * shat
        r = s - omega * t
        return x, r, rhat, p, v, rho_new, alpha, omega, k + 1

    out = jax.lax.while_loop(cond, body, init)
    x, r, k = out[0], out[1], out[-1]
    return x, k, _converged(r, tol)


def gmres(matvec: Fn, precond: Fn, b: Array, rtol: float, atol: float, max_steps: int) -> Out:
    """Right-preconditioned restarted GMRES(GMRES_RESTART); `steps` counts Arnoldi steps."""
    tol = _tol(b, rtol, atol)
    m = GMRES_RESTART
    n = b.shape[0]

    def cycle(x, r):
        beta = _norm(r)
        v = jnp.zeros((m + 1, n), b.dtype).at[0].set(r / jnp.where(beta > 0, beta, 1).astype(b.dtype))
        hess = jnp.zeros((m + 1, m), b.dtype)

        def arnoldi(j, c):
            v, hess = c
            w = matvec(precond(v[j]))
            for _ in range(2):  # classical Gram-Schmidt, twice
                mask = (jnp.arange(m + 1, dtype=jnp.result_type(j)) <= j).astype(b.dtype)
                h = (v.conj() @ w) * mask
                w = w - h @ v
                hess = hess.at[:, j].add(h)
            hn = _norm(w)
            v = v.at[j + 1].set(w / jnp.where(hn > 0, hn, 1).astype(w.dtype))
            return v, hess.at[j + 1, j].set(hn.astype(b.dtype))

        v, hess = jax.lax.fori_loop(0, m, arnoldi, (v, hess))
        e1 = jnp.zeros(m + 1, b.dtype).at[0].set(beta.astype(b.dtype))
        y = jnp.linalg.lstsq(hess, e1)[0]
        return x + precond(y @ v[:m])

    def cond(c):
        _, r, k = c
        return _going(r, tol, k, max_steps)

    def body(c):
        x, r, k = c
        x = cycle(x, r)
        return x, b - matvec(x), k + m

    x, r, k = jax.lax.while_loop(cond, body, (jnp.zeros_like(b), b, jnp.array(0)))
    return x, k, _converged(r, tol)


def run(krylov: str | None, matvec: Fn, precond: Fn, b: Array, rtol: float, atol: float, max_steps: int) -> Out:
    fn = {None: stationary, "cg": cg, "gmres": gmres, "bicgstab": bicgstab}[krylov]
    return fn(matvec, precond, b, rtol, atol, max_steps)
