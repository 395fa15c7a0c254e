"""Variable-coefficient 2-D Poisson solved by algebraic multigrid, with new coefficients every solve.

-div(k grad u) = 1 on the unit square, u = 0 on the boundary, 5-point finite differences on an N x N grid
(N = 700: n = 490,000 unknowns). The AMG hierarchy is set up once on the host (`AMG.setup`, nativax's own
smoothed aggregation); each new diffusivity k (built in JAX) is then set up numerically inside `jit` (Galerkin coarse operators, smoother
parameters, coarse LU) and solved with AMG-preconditioned CG: no host round-trip, no new host setup. The last
solve is checked against nativax's sparse direct solver (KLU) and `jax.grad` of the mean of u wrt the
coefficient field's log-amplitude is taken through the solve.

Run:  python examples/poisson_amg.py [--small]      (--small or NATIVAX_EXAMPLE_SMALL=1: N = 40)
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402

import nativax  # noqa: E402
from nativax.amg import AMG, setup_info  # noqa: E402

SPD = (lx.symmetric_tag, lx.positive_semidefinite_tag)


def grid_pattern(n_side: int):
    """Rows/cols of the 5-point stencil and, per entry, the two cell faces it couples (for assembly)."""
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    rows, cols = [idx.ravel()], [idx.ravel()]
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        src = idx[max(-di, 0): n_side - max(di, 0), max(-dj, 0): n_side - max(dj, 0)]
        dst = idx[max(di, 0): n_side - max(-di, 0) or None, max(dj, 0): n_side - max(-dj, 0) or None]
        rows.append(src.ravel())
        cols.append(dst.ravel())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    pattern, where = nativax.SparsityPattern.from_coo(rows, cols, (n_side**2, n_side**2))
    return pattern, where, rows, cols


def assemble(log_k, pattern, where, rows, cols, n_side):
    """Matrix values of -div(k grad .) with face diffusivity = mean of the two cells' k (k = exp(log_k))."""
    h = 1.0 / (n_side + 1)
    k = jnp.exp(log_k).ravel()
    off = rows != cols
    face = 0.5 * (k[rows] + k[cols])
    off_vals = jnp.where(off, -face, 0.0) / h**2
    diag = jnp.zeros(n_side**2).at[rows].add(jnp.where(off, face, 0.0)) / h**2
    diag = diag + (4 - jnp.zeros(n_side**2).at[rows].add(off.astype(float))) * k / h**2  # boundary faces
    vals = jnp.where(off, off_vals, diag[rows])
    return jnp.zeros(pattern.nnz).at[where].add(vals)


def main(small: bool) -> None:
    n_side = 40 if small else 700
    pattern, where, rows, cols = grid_pattern(n_side)
    x, y = np.meshgrid(np.linspace(0, 1, n_side), np.linspace(0, 1, n_side), indexing="ij")
    bump = jnp.asarray(np.sin(np.pi * x) * np.sin(2 * np.pi * y))
    f = jnp.ones(n_side**2)

    def operator(amplitude):
        return nativax.SparseOperator(assemble(amplitude * bump, pattern, where, rows, cols, n_side), pattern, SPD)

    t0 = time.perf_counter()
    solver = AMG(rtol=1e-8).setup(operator(0.0), resetup=True)  # coarse levels follow new coefficients
    print(f"n = {n_side**2:,}: host setup {time.perf_counter() - t0:.2f} s, "
          f"{len(solver.structure.levels)} levels, setups so far {setup_info()['setups']}")

    @jax.jit
    def solve(solver, amplitude):
        sol = lx.linear_solve(operator(amplitude), f, solver)
        return sol.value, sol.stats["num_steps"]

    setups = setup_info()["setups"]
    for amplitude in (0.0, 0.5, 1.0, 2.0):
        t0 = time.perf_counter()
        u, steps = jax.block_until_ready(solve(solver, amplitude))
        print(f"amplitude {amplitude:3.1f}: {int(steps):3d} PCG steps, {time.perf_counter() - t0:6.3f} s "
              f"(resetup + solve{', incl. compile' if amplitude == 0.0 else ''}), max u = {float(u.max()):.5f}")
    assert setup_info()["setups"] == setups, "a new coefficient field must not trigger a host setup"

    u_klu = lx.linear_solve(operator(2.0), f, nativax.KLU()).value
    err = float(jnp.abs(u - u_klu).max() / jnp.abs(u_klu).max())
    print(f"max relative difference to KLU: {err:.1e}")
    assert err < 1e-6

    mean_u = jax.jit(jax.value_and_grad(lambda s, a: solve(s, a)[0].mean(), argnums=1))
    val, grad = mean_u(solver, 1.0)
    eps = 1e-4
    fd = (solve(solver, 1.0 + eps)[0].mean() - solve(solver, 1.0 - eps)[0].mean()) / (2 * eps)
    print(f"d mean(u) / d amplitude = {float(grad):.6e} (central difference {float(fd):.6e})")
    assert abs(float(grad) - float(fd)) < 1e-4 * abs(float(fd)) + 1e-10
    print("converged: all solves agree with KLU and finite differences")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="40 x 40 grid (used by the tests)")
    args = parser.parse_args()
    main(args.small or os.environ.get("NATIVAX_EXAMPLE_SMALL") == "1")
