"""Factor once, solve many: implicit Euler for the 2-D heat equation with a held KLU factorization.

u_t = laplace(u) on the unit square, u = 0 on the boundary, 5-point finite differences on an N x N interior grid.
Implicit Euler takes steps (I - dt L) u_{k+1} = u_k with the same matrix every step, so the LU factorization
can be computed once and reused. Three ways are timed on the same problem:

1. `nativax.KLU.factor(op)`: a solver holding the factorization (eager), used by `lx.linear_solve` inside a
   jitted `jax.lax.scan` over the time steps;
2. the default `nativax.KLU()` in the same scan: every step looks the factorization up in the content-addressed
   native cache (a hash of the matrix values), factoring only on the first step;
3. `scipy.sparse.linalg.splu` with a Python loop of `lu.solve`.

The initial condition is a sum of eigenvectors of the discrete Laplacian, so the exact solution of the discrete
scheme is known: each mode is multiplied by 1 / (1 + dt lambda) per step. All three are compared against it.

Run:  python examples/implicit_euler.py [--small]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

import nativax  # noqa: E402

MODES = [((1, 1), 1.0), ((3, 2), 0.5), ((2, 7), 0.25)]  # (p, q), amplitude


def heat_problem(n_grid: int, dt: float):
    """Matrix I - dt L (scipy CSC), initial condition and the exact discrete solution after k steps."""
    h = 1.0 / (n_grid + 1)
    t1 = sp.diags([np.ones(n_grid - 1), -2 * np.ones(n_grid), np.ones(n_grid - 1)], [-1, 0, 1]) / h**2
    eye = sp.identity(n_grid)
    lap = sp.kron(eye, t1) + sp.kron(t1, eye)
    a = (sp.identity(n_grid * n_grid) - dt * lap).tocsc()
    x = np.arange(1, n_grid + 1) * h
    modes = []
    for (p, q), amp in MODES:
        phi = np.outer(np.sin(p * np.pi * x), np.sin(q * np.pi * x)).ravel()
        lam = (4 / h**2) * (np.sin(p * np.pi * h / 2) ** 2 + np.sin(q * np.pi * h / 2) ** 2)  # eigenvalue of -L
        modes.append((amp * phi, 1.0 / (1.0 + dt * lam)))
    u0 = sum(phi for phi, _ in modes)
    exact = lambda k: sum(phi * g**k for phi, g in modes)  # noqa: E731
    return a, u0, exact


def timed(fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def main(small: bool = False) -> dict:
    n_grid, steps = (30, 20) if small else (200, 100)
    dt = 1e-3
    a, u0_np, exact = heat_problem(n_grid, dt)
    n = a.shape[0]
    print(f"2-D heat equation, implicit Euler: n = {n} unknowns, nnz = {a.nnz}, {steps} steps of dt = {dt}")
    op = nativax.SparseOperator.from_scipy(a, lx.symmetric_tag)
    u0 = jnp.asarray(u0_np)
    u_exact = exact(steps)

    def integrate(solver):
        @jax.jit
        def run(op, u0):
            def step(u, _):
                u = lx.linear_solve(op, u, solver=solver).value
                return u, jnp.linalg.norm(u)

            return jax.lax.scan(step, u0, None, length=steps)

        return run

    results = {}

    # 1. Held factorization: factor once, eagerly, then many solves inside jit/scan.
    held, t_factor = timed(nativax.KLU.factor, op)
    run_held = integrate(held)
    _, t_compile = timed(run_held, op, u0)
    (u_held, norms), t_run = timed(run_held, op, u0)
    results["klu_held"] = (u_held, t_factor, t_run)
    print(f"  KLU.factor(op) held   : factor {1e3 * t_factor:8.2f} ms, {steps} steps {1e3 * t_run:8.2f} ms "
          f"({1e3 * t_run / steps:.3f} ms/step; first call incl. compile {1e3 * t_compile:.0f} ms)")

    # 2. Default KLU(): cached by content; the first step of the first call factors, the rest hit the cache.
    nativax.clear_caches()
    run_cached = integrate(nativax.KLU())
    _, t_first = timed(run_cached, op, u0)
    (u_cached, _), t_run = timed(run_cached, op, u0)
    results["klu_cached"] = (u_cached, None, t_run)
    print(f"  KLU() content cache   : {steps} steps {1e3 * t_run:8.2f} ms ({1e3 * t_run / steps:.3f} ms/step; "
          f"first call incl. compile + factor {1e3 * t_first:.0f} ms)")
    numeric = nativax.cache_info()["klu"]["numeric"]
    print(f"    cache after both calls: {numeric['misses']} miss(es), {numeric['hits']} hits")

    # 3. scipy splu + Python loop.
    lu, t_factor = timed(spla.splu, a)
    t0 = time.perf_counter()
    u = u0_np
    for _ in range(steps):
        u = lu.solve(u)
    t_run = time.perf_counter() - t0
    results["scipy_splu"] = (u, t_factor, t_run)
    print(f"  scipy splu + loop     : factor {1e3 * t_factor:8.2f} ms, {steps} steps {1e3 * t_run:8.2f} ms "
          f"({1e3 * t_run / steps:.3f} ms/step)")

    errors = {name: float(np.max(np.abs(np.asarray(u) - u_exact))) for name, (u, _, _) in results.items()}
    for name, err in errors.items():
        print(f"  max |u - u_exact| after {steps} steps, {name:10s}: {err:.2e}")
    held_vs_scipy = float(np.max(np.abs(np.asarray(u_held) - results["scipy_splu"][0])))
    print(f"  max |u_held - u_scipy| = {held_vs_scipy:.2e};  |u| decayed {float(norms[0]):.4f} -> {float(norms[-1]):.4f}")
    held.numeric.close()  # free the held factorization now (garbage collection would do it too)
    return {
        "errors": errors,
        "held_vs_scipy": held_vs_scipy,
        "norms": np.asarray(norms),
        "ms_per_step": {name: 1e3 * t / steps for name, (_, _, t) in results.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="30 x 30 grid, 20 steps (used by the tests)")
    main(small=parser.parse_args().small)
