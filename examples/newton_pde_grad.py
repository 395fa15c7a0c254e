"""Newton's method with KLU on the Bratu problem, differentiated through the solution.

The Bratu problem `-Δu = λ exp(u)` on the unit square with `u = 0` on the boundary is
discretised with the 5-point stencil on an `m x m` interior grid. `optimistix.Newton`
hands its linear solver the matrix-free linearisation of the residual (an
`lx.FunctionLinearOperator`); `nativax.KLU()` detects its sparsity pattern, colors the
columns, materialises the sparse Jacobian with 5 JVPs and factorizes it. The
derivative `d mean(u) / dλ` goes through `optx.ImplicitAdjoint`, whose linear solve
(the transposed Jacobian at the solution) is KLU again, and is checked against
central finite differences.

    python examples/newton_pde_grad.py           # m = 200: n = 40,000 unknowns
    python examples/newton_pde_grad.py --small   # m = 16 (used by the tests)
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import optimistix as optx

import nativax


def bratu(m: int):
    """Residual `F(u, λ) = h^2 (-Δ_h u - λ exp(u))` on the `m x m` interior grid, `u`
    flattened (scaled by `h^2` so its entries are O(1) and absolute tolerances mean
    the same at every `m`)."""
    h2 = 1.0 / (m + 1) ** 2

    def residual(u, lam):
        w = u.reshape(m, m)
        p = jnp.pad(w, 1)  # zero Dirichlet boundary
        lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * w
        return (-lap - h2 * lam * jnp.exp(w)).ravel()

    return residual


def make_solve(m: int, rtol: float = 1e-10, atol: float = 1e-12):
    residual = bratu(m)
    solver = optx.Newton(rtol=rtol, atol=atol, linear_solver=nativax.KLU())
    adjoint = optx.ImplicitAdjoint(linear_solver=nativax.KLU())

    def solve(lam):
        sol = optx.root_find(residual, solver, jnp.zeros(m * m), lam, adjoint=adjoint, max_steps=50)
        return sol.value, sol.stats["num_steps"]

    def mean_u(lam):
        return jnp.mean(solve(lam)[0])

    return residual, jax.jit(solve), jax.jit(mean_u), jax.jit(jax.value_and_grad(mean_u))


def main(small: bool) -> dict:
    m = 16 if small else 200
    lam, eps = 3.0, 1e-4
    residual, solve, mean_u, value_and_grad = make_solve(m)

    start = time.perf_counter()
    u, steps = jax.block_until_ready(solve(lam))
    first = time.perf_counter() - start
    nativax.clear_caches()  # time real factorizations, not hits of the native cache
    start = time.perf_counter()
    u, steps = jax.block_until_ready(solve(lam))
    run = time.perf_counter() - start
    res = float(jnp.max(jnp.abs(residual(u, lam))))
    print(f"n = {m * m}: Newton + KLU converged in {int(steps)} steps, max |F(u)| = {res:.1e}, "
          f"{run:.3f} s run ({first:.2f} s compile+run), max u = {float(u.max()):.4f}")

    nativax.clear_caches()
    start = time.perf_counter()
    value, grad = jax.block_until_ready(value_and_grad(lam))
    grad_time = time.perf_counter() - start
    fd = (float(mean_u(lam + eps)) - float(mean_u(lam - eps))) / (2 * eps)
    rel = abs(float(grad) - fd) / abs(fd)
    print(f"d mean(u)/dλ at λ = {lam}: ImplicitAdjoint + KLU {float(grad):.10f}, "
          f"central differences {fd:.10f}, relative difference {rel:.1e} "
          f"({grad_time:.2f} s compile+run)")
    return {
        "n": m * m, "steps": int(steps), "residual": res, "u_max": float(u.max()),
        "mean_u": float(value), "grad": float(grad), "fd": fd, "grad_rel_err": rel,
        "run": run, "first": first,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes (CI)")
    args = parser.parse_args()
    main(args.small or os.environ.get("NATIVAX_EXAMPLES_SMALL") == "1")
