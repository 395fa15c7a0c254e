"""Sparse Jacobians for functions written with index updates, inside diffrax and optimistix.

Real right-hand sides and residuals are rarely pure stencils: a sink at a few nodes
(`du.at[corner].add(...)`), Dirichlet rows (`r.at[bidx].set(u[bidx] - g)`), sources at
fixed nodes. Two recipes:

1. **diffrax** `Kvaerno5` (or any `Kvaerno*`/`KenCarp*` with `VeryChord`): pass
   `nativax.KLU()`. The stage operator is linearised under `jit` in the same trace as
   the solver sees it, and detection recovers the constant indices: the detected pattern
   is exact. Warnings are turned into errors below to show that nothing conservative
   happened.
2. **optimistix** `Newton`/`Chord`/`Dogleg`: the operator reaches the solver through
   lineax's own `jit`, where the index values are out of reach, so detection would be
   conservative (it warns and names the remedy). Pass the pattern of your function
   instead: `nativax.KLU(pattern=nativax.sparsity.jacobian_sparsity(f, y0))`. The
   pattern is checked with one random product, so a wrong one fails loudly.

    python examples/index_updates_recipes.py           # n = 2 * 60^2 and 80^2
    python examples/index_updates_recipes.py --small   # a few seconds (used by the tests)
"""

import argparse
import os
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import optimistix as optx  # noqa: E402

import nativax  # noqa: E402
from nativax.sparsity import ConservativePatternWarning, SparsityFallbackWarning, jacobian_sparsity  # noqa: E402


def brusselator_with_sink(grid: int):
    """Periodic 2D Brusselator with a sink on the 3 x 3 corner nodes of `u`."""
    h = 1.0 / grid
    corner = (np.repeat(np.arange(3), 3), np.tile(np.arange(3), 3))

    def lap(w):
        return (jnp.roll(w, 1, 0) + jnp.roll(w, -1, 0) + jnp.roll(w, 1, 1) + jnp.roll(w, -1, 1) - 4 * w) / h**2

    def rhs(t, y, args):
        u, v = y.reshape(2, grid, grid)
        du = 1.0 + u * u * v - 4.0 * u + 0.002 * lap(u)
        dv = 3.0 * u - u * u * v + 0.002 * lap(v)
        du = du.at[corner].add(-0.5 * u[corner])
        return jnp.concatenate([du.ravel(), dv.ravel()])

    y0 = jnp.asarray(np.random.default_rng(0).random(2 * grid * grid)) + 1.0
    return rhs, y0


def diffrax_recipe(grid: int, t1: float) -> dict:
    rhs, y0 = brusselator_with_sink(grid)

    def solve(linear_solver):
        root_finder = diffrax.with_stepsize_controller_tols(diffrax.VeryChord)(linear_solver=linear_solver)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), diffrax.Kvaerno5(root_finder=root_finder), 0.0, t1, 1e-3, y0,
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8), max_steps=10_000,
        )
        return sol.ys[-1], sol.stats["num_steps"]

    exact = jacobian_sparsity(lambda y: rhs(0.0, y, None), y0)
    results = {}
    for name, solver in [("detected", nativax.KLU()), ("pattern=", nativax.KLU(pattern=exact))]:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConservativePatternWarning)  # nothing conservative
            warnings.simplefilter("error", SparsityFallbackWarning)
            y, steps = jax.block_until_ready(jax.jit(lambda s=solver: solve(s))())
        results[name] = (np.asarray(y), int(steps), time.perf_counter() - start)
        print(f"diffrax Kvaerno5, n = {y0.size}, KLU {name:9s}: {int(steps)} steps, "
              f"{results[name][2]:.2f} s (compile + run)")
    diff = float(np.abs(results["detected"][0] - results["pattern="][0]).max())
    return {"n": int(y0.size), "nnz": exact.nnz, "steps": results["detected"][1],
            "steps_pattern": results["pattern="][1], "max_diff": diff}


def bratu_with_dirichlet_rows(m: int):
    n = m * m
    h = 1.0 / (m + 1)
    bidx = np.nonzero((np.arange(n) % m == 0) | (np.arange(n) < m))[0]  # left and top edges

    def residual(u, lam):
        w = u.reshape(m, m)
        p = jnp.pad(w, 1)
        r = (-(p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * w) / h**2 - lam * jnp.exp(w)).ravel()
        return r.at[bidx].set(u[bidx] - 0.1)

    return residual, jnp.zeros(n)


def optimistix_recipe(m: int) -> dict:
    residual, y0 = bratu_with_dirichlet_rows(m)
    pattern = jacobian_sparsity(lambda u: residual(u, 1.0), y0)
    out = {}
    for name, solver in [("KLU(pattern=)", nativax.KLU(pattern=pattern)), ("dense LU", lx.LU())]:
        newton = optx.Newton(rtol=1e-10, atol=1e-10, linear_solver=solver)
        start = time.perf_counter()
        u = jax.jit(lambda lam, nw=newton: optx.root_find(residual, nw, y0, lam).value)(1.0)
        out[name] = (np.asarray(u), time.perf_counter() - start)
        print(f"optimistix Newton, n = {y0.size}, {name:13s}: {out[name][1]:.2f} s (compile + run)")
    u = out["KLU(pattern=)"][0]
    return {"n": int(y0.size), "nnz": pattern.nnz, "residual": float(np.abs(residual(jnp.asarray(u), 1.0)).max()),
            "max_diff": float(np.abs(u - out["dense LU"][0]).max())}


def main(small: bool) -> dict:
    grid, m = (6, 12) if small else (60, 80)
    d = diffrax_recipe(grid, 0.2 if small else 1.0)
    o = optimistix_recipe(m)
    return {"diffrax": d, "optimistix": o}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes (CI)")
    args = parser.parse_args()
    main(args.small or os.environ.get("NATIVAX_EXAMPLES_SMALL") == "1")
